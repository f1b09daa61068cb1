//! Test guest for the integration tests. Each route makes one host call and
//! answers with its outcome as JSON, so a test can see exactly what the guest
//! saw, including typed errors: `{"ok": …}` or `{"error": {"kind", "message"}}`.

use plinth_sdk::{Entity, Error, Level, Plugin, Request, Response, Router, Widget, export, host};
use serde_json::{Value, json};

struct Probe;

impl Plugin for Probe {
    /// Stores `seen/{id}`; fails when the entity's data has `"fail": true`.
    fn on_entity_created(entity: Entity) -> Result<(), Error> {
        if entity.field("fail") == Some(Value::Bool(true)) {
            return Err(Error::InvalidInput(format!("refusing entity {}", entity.id())));
        }
        host::storage_set(&format!("seen/{}", entity.id()), entity.entity_type())
    }

    fn on_entity_deleted(_entity_type: String, entity_id: String) -> Result<(), Error> {
        host::storage_set(&format!("deleted/{entity_id}"), "yes")
    }

    fn router() -> Router {
        Router::new()
            .get("/storage/{key}", storage_get)
            .put("/storage/{key}", storage_set)
            .delete("/storage/{key}", storage_delete)
            .get("/keys", storage_keys)
            .get("/entity/{id}", entity_read)
            .get("/entities", entity_list)
            .get("/setting/{name}", setting_get)
            .post("/log", log)
            .post("/echo/{name}", echo)
            .get("/trap", trap)
            .get("/loop", spin)
            .get("/print", print)
    }

    fn widgets() -> Vec<Widget> {
        vec![Widget { id: "shout".into(), label: "Shout".into(), field_types: vec!["text".into()] }]
    }

    fn render_widget(_widget_id: &str, context: plinth_sdk::FieldContext) -> Result<String, Error> {
        Ok(format!("<b>{}={}</b>", context.field_name, context.value.to_uppercase()))
    }
}

fn outcome<T: serde::Serialize>(result: Result<T, Error>) -> Response {
    match result {
        Ok(value) => Response::json(200, &json!({ "ok": value })),
        Err(error) => {
            let (kind, message) = match &error {
                Error::NotFound(m) => ("not-found", m),
                Error::Denied(m) => ("denied", m),
                Error::InvalidInput(m) => ("invalid-input", m),
                Error::QuotaExceeded(m) => ("quota-exceeded", m),
                Error::Internal(m) => ("internal", m),
            };
            Response::json(200, &json!({ "error": { "kind": kind, "message": message } }))
        }
    }
}

fn storage_get(request: Request) -> Response {
    outcome(host::storage_get_str(request.param("key")))
}

fn storage_set(request: Request) -> Response {
    outcome(host::storage_set(request.param("key"), request.body()))
}

fn storage_delete(request: Request) -> Response {
    outcome(host::storage_delete(request.param("key")))
}

fn storage_keys(request: Request) -> Response {
    outcome(host::storage_list(request.query("prefix").unwrap_or("")))
}

fn entity_read(request: Request) -> Response {
    outcome(
        host::entity_read(request.param("id"))
            .map(|e| json!({ "id": e.id, "type": e.entity_type, "data": e.data })),
    )
}

/// Passes `?q=` through as the string form of an entity query.
fn entity_list(request: Request) -> Response {
    let query = request.query("q").unwrap_or("");
    outcome(host::entity_list(query).map(|list| list.into_iter().map(|e| e.id).collect::<Vec<_>>()))
}

fn setting_get(request: Request) -> Response {
    outcome(host::setting_get(request.param("name")))
}

fn log(request: Request) -> Response {
    outcome(host::log(Level::Info, &String::from_utf8_lossy(request.body())))
}

/// Answers 201 with everything it received, and a header of its own.
fn echo(request: Request) -> Result<Response, Error> {
    let body: Value = request.json()?;
    Ok(Response::json(
        201,
        &json!({
            "name": request.param("name"),
            "path": request.path(),
            "tag": request.query("tag"),
            "header": request.header("X-Probe"),
            "body": body,
        }),
    )
    .header("x-probe-reply", "yes"))
}

fn trap(_request: Request) -> Response {
    panic!("the probe was asked to trap")
}

fn spin(_request: Request) -> Response {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

fn print(_request: Request) -> Response {
    println!("hello from stdout");
    eprintln!("hello from stderr");
    Response::text(200, "printed")
}

export!(Probe);
