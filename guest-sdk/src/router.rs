//! Binds routes to handler functions. The host matches requests against the
//! routes the router declares and names the matched one in the request; the
//! router then calls that route's function.

use crate::bindings::route_plugin::exports::plinth::plugin::routes::{self, Route};
use crate::{Error, Method, Request, Response, Result};

type Handler = Box<dyn Fn(Request) -> Result<Response>>;

/// A plugin's routes, relative to `/api/plugins/{plugin-id}`.
///
/// ```no_run
/// # use plinth_sdk::{Router, Request, Response, Error};
/// fn stats(request: Request) -> Response {
///     Response::json(200, &serde_json::json!({ "type": request.param("entity_type") }))
/// }
/// let router = Router::new().get("/stats/{entity_type}", stats);
/// ```
#[derive(Default)]
pub struct Router {
    routes: Vec<(Route, Handler)>,
}

impl Router {
    /// No routes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Binds `method` and `path` (parameters in braces) to `handler`. A handler
    /// returns a [`Response`] or a `Result<Response, Error>`.
    pub fn route<R: IntoResult + 'static>(
        mut self,
        method: Method,
        path: &str,
        handler: fn(Request) -> R,
    ) -> Self {
        let name = format!("{} {path}", method_name(method));
        let route = Route { method, path: path.to_string(), handler: name };
        self.routes.push((route, Box::new(move |request| handler(request).into_result())));
        self
    }

    /// Binds a GET route.
    pub fn get<R: IntoResult + 'static>(self, path: &str, handler: fn(Request) -> R) -> Self {
        self.route(Method::Get, path, handler)
    }

    /// Binds a POST route.
    pub fn post<R: IntoResult + 'static>(self, path: &str, handler: fn(Request) -> R) -> Self {
        self.route(Method::Post, path, handler)
    }

    /// Binds a PUT route.
    pub fn put<R: IntoResult + 'static>(self, path: &str, handler: fn(Request) -> R) -> Self {
        self.route(Method::Put, path, handler)
    }

    /// Binds a PATCH route.
    pub fn patch<R: IntoResult + 'static>(self, path: &str, handler: fn(Request) -> R) -> Self {
        self.route(Method::Patch, path, handler)
    }

    /// Binds a DELETE route.
    pub fn delete<R: IntoResult + 'static>(self, path: &str, handler: fn(Request) -> R) -> Self {
        self.route(Method::Delete, path, handler)
    }

    pub(crate) fn declared(&self) -> Vec<Route> {
        self.routes.iter().map(|(route, _)| route.clone()).collect()
    }

    pub(crate) fn dispatch(&self, request: routes::Request) -> Result<routes::Response> {
        let (_, handler) = self
            .routes
            .iter()
            .find(|(route, _)| route.handler == request.handler)
            .ok_or_else(|| Error::NotFound(format!("no handler named `{}`", request.handler)))?;
        handler(Request { inner: request }).map(|response| response.inner)
    }
}

/// The upper-case HTTP name (one list with the host's).
fn method_name(method: Method) -> &'static str {
    plinth_contract::METHOD_NAMES[method as usize]
}

/// What a route handler may return.
pub trait IntoResult {
    /// The handler's outcome.
    fn into_result(self) -> Result<Response>;
}

impl IntoResult for Response {
    fn into_result(self) -> Result<Response> {
        Ok(self)
    }
}

impl IntoResult for Result<Response> {
    fn into_result(self) -> Result<Response> {
        self
    }
}
