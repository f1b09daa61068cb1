//! Test guest: a plugin that sends the HTTP requests its callers describe,
//! to whatever hosts they name, so the tests see what the host lets out.
//! `POST /fetch` takes `{"method", "url", "headers", "body" (or
//! "body_bytes", that many `x`), "follow", "repeat"}`: it sends the request `repeat` times (1 by default), follows
//! up to `follow` redirects itself, and answers each outcome as JSON:
//! `{"status", "body", "hops"}` or `{"error"}` (the host's error code).

use plinth_sdk::outbound::{self, OutboundError};
use plinth_sdk::{Error, Plugin, Request, Response, Router, export};
use serde_json::{Value, json};

struct Fetcher;

impl Plugin for Fetcher {
    fn router() -> Router {
        Router::new().post("/fetch", fetch)
    }
}

fn fetch(request: Request) -> Result<Response, Error> {
    let asked: Value = request.json()?;
    let text = |key: &str, default: &str| asked[key].as_str().unwrap_or(default).to_string();
    let (method, url) = (text("method", "GET"), text("url", ""));
    let body = match asked["body_bytes"].as_u64() {
        Some(bytes) => "x".repeat(bytes as usize),
        None => text("body", ""),
    };
    let headers: Vec<(String, String)> = asked["headers"]
        .as_object()
        .map(|headers| {
            headers.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect()
        })
        .unwrap_or_default();
    let follow = asked["follow"].as_u64().unwrap_or(0);
    let outcomes: Vec<Value> = (0..asked["repeat"].as_u64().unwrap_or(1))
        .map(|_| outcome(&method, &url, &headers, body.as_bytes(), follow))
        .collect();
    Ok(Response::json(200, &json!({ "outcomes": outcomes })))
}

/// One request, with up to `follow` redirects followed.
fn outcome(method: &str, url: &str, headers: &[(String, String)], body: &[u8], follow: u64) -> Value {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut url = url.to_string();
    let mut hops = 0;
    loop {
        match outbound::send(method, &url, &headers, body) {
            Ok(answer) => match answer.header("location") {
                Some(location) if (300..400).contains(&answer.status) && hops < follow => {
                    url = location.to_string();
                    hops += 1;
                }
                _ => {
                    let body = String::from_utf8_lossy(&answer.body).into_owned();
                    return json!({ "status": answer.status, "body": body, "bytes": answer.body.len(), "hops": hops });
                }
            },
            Err(OutboundError::Failed(code)) => {
                let code = format!("{code:?}");
                return json!({ "error": code.trim_start_matches("ErrorCode::"), "hops": hops });
            }
            Err(error) => return json!({ "error": error.to_string(), "hops": hops }),
        }
    }
}

export!(Fetcher: routes);
