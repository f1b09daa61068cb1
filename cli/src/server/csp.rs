//! Content-Security-Policies: what each kind of page this server sends may
//! run and load in a browser. Plugin content (route answers, widget and panel
//! pages) always gets `sandbox`, an opaque origin with no cookies, storage or
//! same-origin API access, and may load only its own plugin's files: an image
//! or frame pointing at another plugin's route never leaves the browser.
//!
//! Paths are written as CSP host-sources (`127.0.0.1:8080/plugin-ui/{id}/`),
//! made from the request's `Host`. A `Host` that cannot be written as one (an
//! IPv6 literal) falls back to `'self'`: the whole server, not one plugin.
//!
//! A second listener for plugin content (another origin than the console's)
//! would add isolation for browsers without CSP sandbox; it needs a
//! `--content-origin` for deployments behind a proxy, and the frame
//! navigation check would then accept the console's `same-site` loads.

use axum::http::{HeaderMap, HeaderValue, header};

/// What a plugin's own files are, for one request: its UI files and routes.
pub struct Sources {
    /// `127.0.0.1:8080`, or none when the `Host` is no CSP host-source.
    host: Option<String>,
}

impl Sources {
    /// The sources of the server as the request named it.
    pub fn of(headers: &HeaderMap) -> Sources {
        let host = headers.get(header::HOST).and_then(|value| value.to_str().ok()).filter(|host| {
            let (name, port) = host.split_once(':').unwrap_or((host, "80"));
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                && !port.is_empty()
                && port.chars().all(|c| c.is_ascii_digit())
        });
        Sources { host: host.map(str::to_string) }
    }

    /// `path` on this server (a folder when it ends in `/`), as a source.
    fn at(&self, path: &str) -> String {
        match &self.host {
            Some(host) => format!("{host}{path}"),
            None => "'self'".to_string(),
        }
    }

    /// The console: its own scripts only; frames only for plugin pages (so a
    /// frame cannot navigate itself to a route); inline styles for `srcdoc`
    /// renders, which inherit this policy, so a render's scripts never run.
    pub fn console(&self) -> String {
        format!(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
             frame-src {frames}; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
             frame-ancestors 'none'",
            frames = self.at("/plugin-ui/"),
        )
    }

    /// A widget or panel page of `plugin` (`plinth_host::pages::policy`):
    /// its own UI folder and the widget client, framed by the console only.
    pub fn plugin_ui(&self, plugin: &str) -> String {
        let own = self.at(&format!("/plugin-ui/{plugin}/"));
        plinth_host::pages::policy(&own, &self.at("/plinth-widget.js"), "'self'")
    }

    /// A route answer of `plugin`. A plain answer runs no script and loads
    /// nothing but inline styles and `data:` images. A route the manifest
    /// lists in `route_pages` may run inline scripts and load its own files,
    /// and fetch its own routes; nothing else.
    pub fn route_answer(&self, plugin: &str, page: bool) -> String {
        if !page {
            return "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; \
                    base-uri 'none'; frame-ancestors 'none'"
                .to_string();
        }
        let routes = self.at(&format!("/api/plugins/{plugin}/"));
        let files = self.at(&format!("/plugin-ui/{plugin}/"));
        format!(
            "sandbox allow-scripts; default-src 'none'; script-src {routes} {files} 'unsafe-inline'; \
             style-src {routes} {files} 'unsafe-inline'; img-src {routes} {files} data:; \
             font-src {routes} {files} data:; connect-src {routes}; form-action 'none'; base-uri 'none'; \
             frame-ancestors 'none'"
        )
    }
}

/// Sets `policy` as the response's only Content-Security-Policy.
pub fn set(headers: &mut HeaderMap, policy: &str) {
    headers.remove(header::CONTENT_SECURITY_POLICY);
    append(headers, policy);
}

/// Adds `policy` beside any the response has: a browser enforces them all.
pub fn append(headers: &mut HeaderMap, policy: &str) {
    // Built from checked parts only, so it is always a valid header value.
    if let Ok(value) = HeaderValue::from_str(policy) {
        headers.append(header::CONTENT_SECURITY_POLICY, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(host: &str) -> Sources {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).expect("host"));
        Sources::of(&headers)
    }

    #[test]
    fn plugin_files_are_limited_to_the_plugin() {
        let policy = sources("127.0.0.1:8080").plugin_ui("probe");
        assert!(policy.contains("img-src 127.0.0.1:8080/plugin-ui/probe/ data:;"), "{policy}");
        assert!(policy.contains("frame-src 'none';"), "{policy}");
        assert!(!policy.contains("src 'self'"), "{policy}");
    }

    #[test]
    fn odd_hosts_fall_back_to_self() {
        for host in ["[::1]:8080", "a;b", "evil.test; script-src *", "x:"] {
            let policy = sources(host).plugin_ui("probe");
            assert!(policy.contains("img-src 'self' data:"), "{host}: {policy}");
            assert!(!policy.contains(host), "{host}: {policy}");
        }
    }

    #[test]
    fn plain_route_answers_run_nothing() {
        let policy = sources("localhost").route_answer("probe", false);
        assert!(policy.starts_with("sandbox; default-src 'none'"), "{policy}");
        let page = sources("localhost").route_answer("probe", true);
        assert!(page.contains("connect-src localhost/api/plugins/probe/;"), "{page}");
    }
}
