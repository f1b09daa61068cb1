//! Test guest: a plugin that calls `acme:desktop/notify@1.0.0`, an
//! interface no Plinth provides but an embedding application may register
//! (`docs/embedding.md`), and `acme:desktop/clipboard@1.0.0`, a second one.
//! `POST /notify` shows the request body as a notification and answers the
//! embedder's notification id, or its refusal; `POST /copy` copies it;
//! `POST /trap` traps (the plugin's own failure, for its circuit breaker).

#![allow(missing_docs, unsafe_code, reason = "generated bindings")]

use plinth_sdk::{Error, Plugin, Request, Response, Router, export};
use serde_json::json;

wit_bindgen::generate!({
    inline: "
        package acme:desktop@1.0.0;
        interface notify {
            /// Shows a notification: its id, or why the application refused.
            show: func(title: string, body: string) -> result<u32, string>;
        }
        interface clipboard {
            /// Puts text on the clipboard.
            copy: func(text: string);
        }
        world notifier { import notify; import clipboard; }
    ",
});

struct Notifier;

impl Plugin for Notifier {
    fn router() -> Router {
        Router::new().post("/notify", notify).post("/copy", copy).post("/trap", trap)
    }
}

fn notify(request: Request) -> Result<Response, Error> {
    let body = String::from_utf8_lossy(request.body()).into_owned();
    Ok(match acme::desktop::notify::show("From a plugin", &body) {
        Ok(id) => Response::json(200, &json!({ "shown": id })),
        Err(refusal) => Response::json(200, &json!({ "refused": refusal })),
    })
}

fn copy(request: Request) -> Result<Response, Error> {
    acme::desktop::clipboard::copy(&String::from_utf8_lossy(request.body()));
    Ok(Response::json(200, &json!({ "copied": true })))
}

fn trap(_request: Request) -> Result<Response, Error> {
    panic!("the plugin's own failure")
}

export!(Notifier: routes);
