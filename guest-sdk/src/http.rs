//! Requests and responses of plugin routes.

use crate::bindings::route_plugin::exports::plinth::plugin::routes;
use crate::{Error, Result};
use serde::{Serialize, de::DeserializeOwned};

pub use routes::Method;

/// A request the host routed to this plugin.
pub struct Request {
    pub(crate) inner: routes::Request,
}

impl Request {
    /// The HTTP method.
    pub fn method(&self) -> Method {
        self.inner.method
    }

    /// The path relative to the plugin's prefix (`/stats/character`).
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// The value of a `{parameter}` of the matched route; empty when the route
    /// has no such parameter.
    pub fn param(&self, name: &str) -> &str {
        find(&self.inner.params, name).unwrap_or("")
    }

    /// The first query-string value for `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        find(&self.inner.query, name)
    }

    /// A header's value (names are case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        find(&self.inner.headers, &name)
    }

    /// The raw body.
    pub fn body(&self) -> &[u8] {
        &self.inner.body
    }

    /// The body parsed as JSON; [`Error::InvalidInput`] (HTTP 400) when it is not.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.inner.body)
            .map_err(|e| Error::InvalidInput(format!("request body is not the JSON expected: {e}")))
    }
}

fn find<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
}

/// A route's answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub(crate) inner: routes::Response,
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Self {
        Response { inner: routes::Response { status, headers: Vec::new(), body: Vec::new() } }
    }

    /// `value` as a JSON body with `content-type: application/json`.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::new(status).header("content-type", "application/json").body(body),
            Err(e) => Self::text(500, &format!("could not encode the response as JSON: {e}")),
        }
    }

    /// A plain-text body.
    pub fn text(status: u16, text: &str) -> Self {
        Self::new(status).header("content-type", "text/plain; charset=utf-8").body(text)
    }

    /// An HTML body.
    pub fn html(status: u16, html: &str) -> Self {
        Self::new(status).header("content-type", "text/html; charset=utf-8").body(html)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.inner.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Replaces the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.inner.body = body.into();
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.inner.status
    }
}
