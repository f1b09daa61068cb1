//! A plugin's route answer turned into clean HTTP. The plugin chooses its
//! status, headers and body; the server owns the connection: it frames the
//! body itself, drops hop-by-hop headers, keeps one `Content-Type`, sends no
//! body where HTTP forbids one, and refuses a status that is no final answer.
//! Then it hardens the answer for the console's origin (`csp`).

use super::api::ApiError;
use super::csp::{self, Sources};
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use plinth_host::RouteResponse;

/// Headers about the connection, not the answer (RFC 9110 §7.6.1), and the
/// framing the server does itself. `proxy-authenticate` would ask the
/// browser for proxy credentials on the plugin's behalf.
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// Headers a plugin may not set on the console's origin: cookies, clearing
/// the site's data, and sniffing (set below). A plugin's own
/// Content-Security-Policy is kept: the server's is added, and both apply.
const SERVER_OWNED: [&str; 3] = ["set-cookie", "clear-site-data", "x-content-type-options"];

/// The plugin's answer as an HTTP response, or an error naming the plugin.
/// `is_page` says whether the route may serve a page that runs scripts.
pub fn to_http(
    plugin: &str,
    answer: RouteResponse,
    sources: &Sources,
    is_page: impl FnOnce() -> bool,
) -> Result<Response, ApiError> {
    let status = StatusCode::from_u16(answer.status)
        .ok()
        .filter(|status| !status.is_informational())
        .ok_or_else(|| {
            // The host refuses these already; the server never sends one.
            ApiError::new(
                500,
                "invalid_response",
                format!(
                    "the plugin answered with status {}, which is not a final HTTP answer; answer with 200 to 599",
                    answer.status
                ),
            )
            .for_plugin(plugin)
        })?;
    // 204, 205 and 304 have no body, whatever the plugin put in it.
    let bodiless = matches!(status.as_u16(), 204 | 205 | 304);
    let mut response = Response::new(if bodiless { Body::empty() } else { Body::from(answer.body) });
    *response.status_mut() = status;
    let headers = response.headers_mut();
    // Names a plugin lists in `Connection` are hop-by-hop too.
    let connection_named: Vec<String> = answer
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, value)| value.split(',').map(|name| name.trim().to_ascii_lowercase()))
        .collect();
    for (name, value) in answer.headers {
        let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) else {
            continue;
        };
        let dropped = HOP_BY_HOP.contains(&name.as_str())
            || SERVER_OWNED.contains(&name.as_str())
            || connection_named.iter().any(|named| named == name.as_str());
        if dropped || (name == header::CONTENT_TYPE && (bodiless || headers.contains_key(&name))) {
            continue;
        }
        headers.append(name, value);
    }
    if !bodiless && !headers.contains_key(header::CONTENT_TYPE) {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|kind| kind.trim_start().to_ascii_lowercase().starts_with("text/html"));
    csp::append(headers, &sources.route_answer(plugin, html && is_page()));
    Ok(response)
}

/// Request headers a plugin never sees: the user's credentials.
const CREDENTIAL_HEADERS: [header::HeaderName; 3] =
    [header::COOKIE, header::AUTHORIZATION, header::PROXY_AUTHORIZATION];

/// The request headers passed on to a plugin.
pub fn forwarded(headers: &HeaderMap) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
    headers.iter().filter(|(name, _)| !CREDENTIAL_HEADERS.contains(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> RouteResponse {
        RouteResponse {
            status,
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn sources() -> Sources {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        Sources::of(&headers)
    }

    #[test]
    fn hop_by_hop_headers_and_a_second_content_type_are_dropped() {
        let dirty = answer(
            200,
            &[
                ("content-type", "text/plain"),
                ("content-type", "text/html"),
                ("connection", "x-private, close"),
                ("x-private", "1"),
                ("upgrade", "websocket"),
                ("keep-alive", "timeout=5"),
                ("te", "trailers"),
                ("trailer", "x"),
                ("proxy-authenticate", "Basic"),
                ("set-cookie", "a=b"),
                ("x-kept", "yes"),
            ],
            "hello",
        );
        let response = to_http("probe", dirty, &sources(), || true).expect("an answer");
        let headers = response.headers();
        let kept: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(headers.get_all(header::CONTENT_TYPE).iter().count(), 1, "{kept:?}");
        assert_eq!(headers[header::CONTENT_TYPE], "text/plain");
        for gone in [
            "connection",
            "x-private",
            "upgrade",
            "keep-alive",
            "te",
            "trailer",
            "proxy-authenticate",
            "set-cookie",
        ] {
            assert!(!headers.contains_key(gone), "{gone} in {kept:?}");
        }
        assert_eq!(headers["x-kept"], "yes");
        assert!(headers[header::CONTENT_SECURITY_POLICY].to_str().expect("text").starts_with("sandbox;"));
    }

    #[test]
    fn informational_statuses_are_refused_and_bodiless_ones_have_no_body() {
        let error = to_http("probe", answer(101, &[], "x"), &sources(), || false).expect_err("101");
        assert!(format!("{error:?}").contains("101"), "{error:?}");
        for status in [204, 304] {
            let response = to_http(
                "probe",
                answer(status, &[("content-type", "text/plain")], "null"),
                &sources(),
                || false,
            )
            .expect("an answer");
            assert!(!response.headers().contains_key(header::CONTENT_TYPE), "{status}");
            assert_eq!(axum::body::HttpBody::size_hint(response.body()).exact(), Some(0), "{status}");
        }
    }
}
