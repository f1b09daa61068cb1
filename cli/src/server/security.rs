//! Who may ask this server what. The API takes an admin token when one is
//! set (required off loopback) and refuses state-changing requests from other
//! origins; a frame's `invoke` reaches only plugin routes; a frame is
//! navigated only by the console. What plugin content may do once in a
//! browser is `csp`'s part, and clean plugin answers `route_answer`'s.

use super::AppStateExtractor;
use super::api::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

/// The environment variable `--admin-token` may come from instead.
pub const TOKEN_VARIABLE: &str = "PLINTH_ADMIN_TOKEN";

/// Refuses to serve off loopback without a token.
pub fn check_listen_address(addr: SocketAddr, token: Option<&str>) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() && token.is_none() {
        anyhow::bail!(
            "refusing to listen on {addr} without an admin token: anyone who can reach it could change \
             plugins and data. Pass --admin-token or set {TOKEN_VARIABLE}, or listen on 127.0.0.1"
        );
    }
    if token.is_some_and(|token| token.len() < 16) {
        anyhow::bail!("the admin token must be at least 16 characters");
    }
    Ok(())
}

/// The header the console puts on a frame's `invoke` requests. Only a
/// plugin's own routes (`/api/plugins/{id}/…`) answer them: [`guard`]
/// refuses the mark everywhere else, and the host's own endpoints under a
/// plugin's path (`settings`, `reload`, `enable`, `disable`) refuse it themselves.
pub const INVOKE_HEADER: &str = "plinth-invoke";

/// Whether `path` is under a plugin's own routes, as the router matches
/// them (`/api/plugins/{id}/{*path}`).
fn is_plugin_route(path: &str) -> bool {
    path.strip_prefix("/api/plugins/")
        .is_some_and(|rest| rest.split_once('/').is_some_and(|(id, _)| !id.is_empty()))
}

/// Refuses a frame's `invoke` on one of the host's own endpoints.
pub fn refuse_invoke(headers: &HeaderMap) -> Result<(), ApiError> {
    if headers.contains_key(INVOKE_HEADER) {
        return Err(ApiError::new(403, "not_a_plugin_route", "invoke reaches only the plugin's own routes"));
    }
    Ok(())
}

/// Middleware: loopback names only without a token (DNS rebinding), the
/// token on `/api/*` (when one is set), and the same-origin rule on every
/// state-changing request.
pub async fn guard(State(state): AppStateExtractor, request: Request, next: Next) -> Response {
    if let Err(error) = check(state.admin_token.as_deref(), &request) {
        return error.into_response();
    }
    next.run(request).await
}

fn check(token: Option<&str>, request: &Request) -> Result<(), ApiError> {
    let headers = request.headers();
    // A frame's invoke reaches its plugin's routes and nothing else of the host.
    if headers.contains_key(INVOKE_HEADER) && !is_plugin_route(request.uri().path()) {
        refuse_invoke(headers)?;
    }
    // A frame is navigated by the console alone: a plugin's frame that
    // navigates itself (to another plugin's page, or a meta refresh in a
    // render) was started by an opaque origin, so it is `cross-site`.
    if frame_navigation_from_elsewhere(headers) {
        return Err(ApiError::new(
            403,
            "frame_navigation",
            "a frame of the console shows only the page the console opened in it; a plugin's frame may not navigate itself",
        ));
    }
    // Without a token, a page on another site that points its own name at
    // 127.0.0.1 (DNS rebinding) would be "same-origin": answer only the
    // loopback names. With a token, the token is what protects the API.
    if token.is_none() && !loopback_host(headers) {
        return Err(ApiError::new(
            421,
            "misdirected",
            "without an admin token this server answers only requests to localhost, 127.0.0.1 or [::1]; \
             set --admin-token to serve other names (for example behind a proxy)",
        ));
    }
    let changes_state = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes_state && !same_origin(headers) {
        return Err(ApiError::new(
            403,
            "cross_origin",
            "state-changing requests are accepted only from the console's own origin",
        ));
    }
    let Some(token) = token else { return Ok(()) };
    if !request.uri().path().starts_with("/api/") {
        return Ok(());
    }
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    if constant_time_eq::constant_time_eq(given.as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(
            401,
            "unauthorized",
            "this server needs its admin token: send `Authorization: Bearer TOKEN`",
        ))
    }
}

/// Whether this is a frame's navigation that the console did not start, as
/// the browser tells (`Sec-Fetch-*`; a browser without them is held by the
/// console's `frame-src` and its own check that a frame loads once).
fn frame_navigation_from_elsewhere(headers: &HeaderMap) -> bool {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    matches!(value("sec-fetch-dest"), "iframe" | "frame")
        && value("sec-fetch-mode") == "navigate"
        && !matches!(value("sec-fetch-site"), "" | "same-origin")
}

/// Whether the `Host` header names the loopback interface (any port).
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1" || name == "::1"
}

/// A request without `Origin` (curl, scripts) is allowed; one with an
/// `Origin` must name the host it was sent to (a sandboxed frame's `null`
/// does not). The scheme is not compared, so a TLS proxy in front works.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).map(|o| o.to_str().unwrap_or_default()) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    let authority = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
    authority.is_some_and(|authority| authority.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::HeaderValue;

    fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().method(method).uri(path).header("host", "127.0.0.1:8080");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).expect("request")
    }

    #[test]
    fn state_changes_need_the_same_origin() {
        let own = [("origin", "http://127.0.0.1:8080")];
        assert!(check(None, &request("POST", "/api/entities", &own)).is_ok());
        assert!(check(None, &request("POST", "/api/entities", &[])).is_ok());
        assert!(check(None, &request("POST", "/api/entities", &[("origin", "null")])).is_err());
        assert!(
            check(None, &request("DELETE", "/api/entities/1", &[("origin", "http://evil.test")])).is_err()
        );
        assert!(check(None, &request("GET", "/api/entities", &[("origin", "http://evil.test")])).is_ok());
    }

    #[test]
    fn frames_are_navigated_by_the_console_only() {
        fn frame(site: &str) -> [(&str, &str); 3] {
            [("sec-fetch-dest", "iframe"), ("sec-fetch-mode", "navigate"), ("sec-fetch-site", site)]
        }
        let page = "/plugin-ui/probe/ui/page.html";
        assert!(check(None, &request("GET", page, &frame("same-origin"))).is_ok());
        assert!(check(None, &request("GET", page, &frame("cross-site"))).is_err());
        assert!(check(None, &request("GET", "/api/plugins/probe/page", &frame("same-site"))).is_err());
        assert!(check(None, &request("GET", page, &[("sec-fetch-dest", "document")])).is_ok());
    }

    #[test]
    fn the_token_guards_the_api_only() {
        let token = Some("0123456789abcdef");
        assert!(check(token, &request("GET", "/api/plugins", &[])).is_err());
        assert!(check(token, &request("GET", "/api/plugins", &[("authorization", "Bearer nope")])).is_err());
        assert!(
            check(token, &request("GET", "/api/plugins", &[("authorization", "Bearer 0123456789abcdef")]))
                .is_ok()
        );
        assert!(check(token, &request("GET", "/", &[])).is_ok());
        assert!(check(token, &request("GET", "/healthz", &[])).is_ok());
    }

    #[test]
    fn without_a_token_only_loopback_names_are_answered() {
        let with_host = |host: &str| {
            Request::builder().uri("/api/entities").header("host", host).body(Body::empty()).expect("request")
        };
        for host in ["127.0.0.1:8080", "localhost:1", "LOCALHOST", "[::1]:8080"] {
            assert!(check(None, &with_host(host)).is_ok(), "{host}");
        }
        for host in ["evil.test:8080", "127.0.0.1.evil.test", "[::2]:80", ""] {
            assert!(check(None, &with_host(host)).is_err(), "{host}");
        }
        let token = Some("0123456789abcdef");
        let mut request = with_host("plinth.example.com");
        request.headers_mut().insert("authorization", HeaderValue::from_static("Bearer 0123456789abcdef"));
        assert!(check(token, &request).is_ok());
    }

    #[test]
    fn public_addresses_need_a_token() {
        let public: SocketAddr = "0.0.0.0:8080".parse().expect("address");
        assert!(check_listen_address(public, None).is_err());
        assert!(check_listen_address(public, Some("short")).is_err());
        assert!(check_listen_address(public, Some("0123456789abcdef")).is_ok());
        assert!(check_listen_address("127.0.0.1:0".parse().expect("address"), None).is_ok());
    }
}
