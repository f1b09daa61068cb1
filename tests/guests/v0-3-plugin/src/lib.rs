//! Test guest for `plinth:plugin@0.3.0`, the newest version: it
//! writes entities.
//! - `DELETE /entity/{id}` deletes one and answers whether it existed;
//!   `POST /entity/{type}` creates one with the request body as its data
//!   (and with `?then=fail` fails afterwards, so nothing is written);
//!   `PUT /entity/{id}` replaces one's data with the request body;
//!   `POST /twice/{type}` creates one, updates it and deletes it twice in
//!   one call, answering what each write answered;
//!   `POST /stale/{id}` reads one, waits 300 ms, and writes back what it
//!   read (`n`) as `seen` (a read-then-write that must not lose an update);
//!   `POST /many/{n}` creates `n` entities of type `bulk`, stopping at the
//!   first refusal, and answers how many it made and why it stopped.
//! - Its `on_entity_created` hook deletes every entity created with
//!   `"expired": true`, tags a `note` (an update: `"tagged": true`), and for
//!   a `chain` entity creates the next one (a chain with no end of its own),
//!   and for a `fan` entity creates four more (a tree with no end of its own).
//! - Its `on_entity_updated` hook writes a `pingpong` entity again each
//!   time it changes (a cycle with no end of its own).
//! - Its `on_entity_deleted` hook counts the deletes it hears of under
//!   `deleted/{id}`, which `GET /deleted` lists.
//! - `POST /counted/{type}` reads the counter `counted`, waits 200 ms,
//!   creates an entity and sets the counter one higher (concurrent calls
//!   conflict); `POST /swap/{a}/{b}` reads `a` and `b`, waits 100 ms and
//!   updates `a` then `b` with the body.
//! - Its widget `writer` tries to create an entity when rendered, and shows
//!   whether the host let it.
//! - Its scheduled jobs (`run_job`): any job counts its runs under
//!   `runs/{job}` (`GET /runs/{job}` answers the count); `trap` panics
//!   instead; `note` also creates a `note` entity.
//! - Messages: `POST /publish/{topic}` publishes the request body
//!   `?times=n` times (default once), stopping at the first refusal, and
//!   answers how many it published and why it stopped (with `?then=fail`
//!   it fails afterwards, so nothing is published). Its `on_message` counts
//!   each topic's messages under `got/{topic}` and keeps the last one
//!   (`GET /got/{topic}` answers both); on `ping` it publishes `pong`, on
//!   `pong` `ping` (a cycle with no end of its own); on `fail` it fails.

use plinth_sdk::{
    Entity, Error, FieldContext, Message, Plugin, Request, Response, Router, Widget, export, host,
};
use serde_json::{Value, json};

struct Janitor;

impl Plugin for Janitor {
    fn on_entity_created(entity: Entity) -> Result<(), Error> {
        if entity.field("expired") == Some(json!(true)) {
            return host::entity_delete(entity.id()).map(drop);
        }
        match entity.entity_type() {
            "note" if entity.field("tagged").is_none() => {
                let mut data = entity.json::<Value>()?;
                data["tagged"] = json!(true);
                host::entity_update(entity.id(), &data)?;
            }
            "chain" => {
                host::entity_create("chain", &json!({ "after": entity.id() }))?;
            }
            "fan" => {
                for branch in 0..4 {
                    host::entity_create("fan", &json!({ "after": entity.id(), "branch": branch }))?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn on_entity_updated(entity: Entity) -> Result<(), Error> {
        if entity.entity_type() == "pingpong" {
            let mut data = entity.json::<Value>()?;
            data["round"] = json!(data["round"].as_u64().unwrap_or(0) + 1);
            host::entity_update(entity.id(), &data)?;
        }
        Ok(())
    }

    fn on_entity_deleted(_entity_type: String, entity_id: String) -> Result<(), Error> {
        host::storage_increment(&format!("deleted/{entity_id}"), 1).map(drop)
    }

    fn router() -> Router {
        Router::new()
            .delete("/entity/{id}", delete)
            .post("/entity/{type}", create)
            .put("/entity/{id}", update)
            .post("/twice/{type}", twice)
            .post("/stale/{id}", stale)
            .post("/many/{n}", many)
            .get("/deleted", deleted)
            .get("/runs/{job}", runs)
            .post("/counted/{type}", counted)
            .post("/swap/{a}/{b}", swap)
            .post("/publish/{topic}", publish)
            .get("/got/{topic}", got)
    }

    fn widgets() -> Vec<Widget> {
        vec![Widget { id: "writer".into(), label: "Writer".into(), field_types: vec!["text".into()] }]
    }

    /// A widget call that tries to write: the host denies it.
    fn render_widget(_widget_id: &str, _context: FieldContext) -> Result<String, Error> {
        match host::entity_create("note", &json!({ "by": "widget" })) {
            Ok(entity) => Ok(format!("wrote {}", entity.id())),
            Err(error) => Ok(format!("refused: {error:?}")),
        }
    }

    fn run_job(job_id: &str) -> Result<(), Error> {
        if job_id == "trap" {
            panic!("the job's own failure");
        }
        host::storage_increment(&format!("runs/{job_id}"), 1)?;
        if job_id == "note" {
            host::entity_create("note", &json!({ "by": "job" }))?;
        }
        Ok(())
    }

    fn on_message(message: Message) -> Result<(), Error> {
        let payload: Value = serde_json::from_str(&message.payload)
            .map_err(|e| Error::InvalidInput(format!("payload: {e}")))?;
        host::storage_increment(&format!("got/{}", message.topic), 1)?;
        let last = json!({ "payload": payload, "publisher": message.publisher, "id": message.id });
        host::storage_set_json(&format!("last/{}", message.topic), &last)?;
        match message.topic.as_str() {
            "ping" => host::publish("pong", &payload),
            "pong" => host::publish("ping", &payload),
            "fail" => Err(Error::Internal("the subscriber's own failure".into())),
            _ => Ok(()),
        }
    }
}

fn publish(request: Request) -> Result<Response, Error> {
    let payload: Value = request.json()?;
    let times: u64 =
        request.query("times").map_or(Ok(1), str::parse).map_err(|_| Error::InvalidInput("times".into()))?;
    let mut published = 0;
    for _ in 0..times {
        if let Err(error) = host::publish(request.param("topic"), &payload) {
            return Ok(Response::json(
                200,
                &json!({ "published": published, "stopped": format!("{error:?}") }),
            ));
        }
        published += 1;
    }
    if request.query("then") == Some("fail") {
        return Err(Error::Internal(format!("failing after publishing {published}")));
    }
    Ok(Response::json(200, &json!({ "published": published })))
}

fn got(request: Request) -> Result<Response, Error> {
    let topic = request.param("topic");
    let count: i64 =
        host::storage_get_str(&format!("got/{topic}"))?.and_then(|n| n.parse().ok()).unwrap_or(0);
    let last: Option<Value> = host::storage_get_json(&format!("last/{topic}"))?;
    Ok(Response::json(200, &json!({ "count": count, "last": last })))
}

fn runs(request: Request) -> Result<Response, Error> {
    let count = host::storage_get(&format!("runs/{}", request.param("job")))?;
    let count: i64 = count.and_then(|bytes| String::from_utf8(bytes).ok()?.parse().ok()).unwrap_or(0);
    Ok(Response::json(200, &json!({ "runs": count })))
}

fn delete(request: Request) -> Result<Response, Error> {
    let existed = host::entity_delete(request.param("id"))?;
    Ok(Response::json(200, &json!({ "deleted": existed })))
}

fn create(request: Request) -> Result<Response, Error> {
    let data: Value = request.json()?;
    let entity = host::entity_create(request.param("type"), &data)?;
    if request.query("then") == Some("fail") {
        return Err(Error::Internal(format!("failing after creating {}", entity.id())));
    }
    Ok(Response::json(201, &json!({ "id": entity.id(), "data": entity.json::<Value>()? })))
}

fn update(request: Request) -> Result<Response, Error> {
    let data: Value = request.json()?;
    let entity = host::entity_update(request.param("id"), &data)?;
    Ok(Response::json(200, &json!({ "id": entity.id(), "data": entity.json::<Value>()? })))
}

fn twice(request: Request) -> Result<Response, Error> {
    let created = host::entity_create(request.param("type"), &json!({ "step": 1 }))?;
    let updated = host::entity_update(created.id(), &json!({ "step": 2 }))?;
    let deleted = [host::entity_delete(created.id())?, host::entity_delete(created.id())?];
    Ok(Response::json(200, &json!({ "updated": updated.json::<Value>()?, "deleted": deleted })))
}

fn stale(request: Request) -> Result<Response, Error> {
    let read = host::entity_read(request.param("id"))?.json::<Value>()?;
    std::thread::sleep(std::time::Duration::from_millis(300));
    let written = json!({ "n": read["n"], "seen": read["n"], "by": "plugin" });
    host::entity_update(request.param("id"), &written)?;
    Ok(Response::json(200, &written))
}

/// Reads the counter `counted`, waits, creates an entity of `type`, and
/// sets the counter one higher: two calls at once conflict on the counter,
/// and the one that runs again must not leave its first run's entity.
fn counted(request: Request) -> Result<Response, Error> {
    let seen: i64 = host::storage_get_str("counted")?.and_then(|n| n.parse().ok()).unwrap_or(0);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let entity = host::entity_create(request.param("type"), &json!({ "seen": seen }))?;
    host::storage_set("counted", (seen + 1).to_string().as_bytes())?;
    Ok(Response::json(200, &json!({ "id": entity.id(), "seen": seen })))
}

/// Reads entities `a` and `b`, waits 100 ms (so calls at once overlap),
/// then updates `a` and `b` in that order (their data set to the request
/// body): two calls swapping the same pair in opposite orders take the
/// entities' locks in opposite orders.
fn swap(request: Request) -> Result<Response, Error> {
    let data: Value = request.json()?;
    let pair = [request.param("a"), request.param("b")];
    for id in pair {
        host::entity_read(id)?;
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    for id in pair {
        host::entity_update(id, &data)?;
    }
    Ok(Response::json(200, &json!({ "swapped": data })))
}

fn many(request: Request) -> Result<Response, Error> {
    let wanted: u64 = request.param("n").parse().map_err(|_| Error::InvalidInput("n".into()))?;
    let mut created = 0;
    for index in 0..wanted {
        if let Err(error) = host::entity_create("bulk", &json!({ "index": index })) {
            return Ok(Response::json(200, &json!({ "created": created, "stopped": format!("{error:?}") })));
        }
        created += 1;
    }
    Ok(Response::json(200, &json!({ "created": created })))
}

fn deleted(_request: Request) -> Result<Response, Error> {
    let ids: Vec<String> = host::storage_list("deleted/")?
        .into_iter()
        .filter_map(|key| key.strip_prefix("deleted/").map(str::to_string))
        .collect();
    Ok(Response::json(200, &json!({ "deleted": ids })))
}

export!(Janitor: events, routes, jobs, widgets, subscriber);
