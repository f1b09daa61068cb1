//! Test guest built from the frozen `wit/0.2.0/` with plain `wit-bindgen`
//! (the SDK targets the newest version): it must keep loading and working in
//! a host that also links newer versions. `POST /increment/{key}?by=N` adds
//! to a counter with `storage.increment`, what 0.2.0 added, and
//! `GET /storage/{key}` reads a key, and `GET /count/{type}` counts the
//! entities of a type and logs that it did; each answers `{"ok": …}`, or
//! `{"error": …}` with the host's error.

#![allow(missing_docs, unsafe_code, reason = "generated bindings")]

wit_bindgen::generate!({
    path: "../../../wit/0.2.0",
    world: "route-plugin",
});

use exports::plinth::plugin::routes;
use plinth::plugin::types::Error;
use plinth::plugin::{entities, logging, storage};

struct V02Plugin;

fn param(request: &routes::Request, name: &str) -> String {
    request.params.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone()).unwrap_or_default()
}

fn json_text(text: &str) -> String {
    let escaped: String = text
        .chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '"'],
            '\\' => vec!['\\', '\\'],
            c if c.is_control() => format!("\\u{:04x}", u32::from(c)).chars().collect(),
            c => vec![c],
        })
        .collect();
    format!("\"{escaped}\"")
}

impl routes::Guest for V02Plugin {
    fn register_routes() -> Vec<routes::Route> {
        vec![
            routes::Route {
                method: routes::Method::Post,
                path: "/increment/{key}".into(),
                handler: "increment".into(),
            },
            routes::Route {
                method: routes::Method::Get,
                path: "/storage/{key}".into(),
                handler: "read".into(),
            },
            routes::Route {
                method: routes::Method::Get,
                path: "/count/{type}".into(),
                handler: "count".into(),
            },
        ]
    }

    fn handle(request: routes::Request) -> Result<routes::Response, Error> {
        let key = param(&request, "key");
        let answer = match request.handler.as_str() {
            "increment" => {
                let by =
                    request.query.iter().find(|(name, _)| name == "by").and_then(|(_, v)| v.parse().ok());
                storage::increment(&key, by.unwrap_or(1)).map(|total| total.to_string())
            }
            "count" => {
                let query = entities::EntityQuery {
                    entity_type: Some(param(&request, "type")),
                    filters: Vec::new(),
                    limit: None,
                    offset: 0,
                };
                entities::count(&query).and_then(|count| {
                    logging::log(logging::Level::Info, "counted by the 0.2.0 plugin")
                        .map(|()| count.to_string())
                })
            }
            _ => storage::get(&key).map(|value| match value {
                Some(bytes) => json_text(&String::from_utf8_lossy(&bytes)),
                None => "null".into(),
            }),
        };
        let body = match answer {
            Ok(value) => format!("{{\"ok\":{value}}}"),
            Err(error) => format!("{{\"error\":{}}}", json_text(&format!("{error:?}"))),
        };
        Ok(routes::Response {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into_bytes(),
        })
    }
}

export!(V02Plugin);
