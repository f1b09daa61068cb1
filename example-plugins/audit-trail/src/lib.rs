//! `audit-trail`: records every entity write in its storage under
//! `event/{sequence}` and serves the records, oldest first, at `GET /log`
//! (`?entity_id=` narrows it to one entity). `DELETE /log` clears it.

use plinth_sdk::{Entity, Error, Plugin, Request, Response, Router, export, host};
use serde_json::{Value, json};

struct AuditTrail;

impl Plugin for AuditTrail {
    fn on_entity_created(entity: Entity) -> Result<(), Error> {
        record("created", entity.entity_type(), entity.id())
    }

    fn on_entity_updated(entity: Entity) -> Result<(), Error> {
        record("updated", entity.entity_type(), entity.id())
    }

    fn on_entity_deleted(entity_type: String, entity_id: String) -> Result<(), Error> {
        record("deleted", &entity_type, &entity_id)
    }

    fn router() -> Router {
        Router::new().get("/log", read_log).delete("/log", clear_log)
    }
}

/// Keys sort in event order because the sequence number is zero-padded. The
/// sequence is the WIT's own counter (`storage.increment`), not a value the
/// guest reads, adds to and writes back.
fn record(event: &str, entity_type: &str, entity_id: &str) -> Result<(), Error> {
    let sequence = host::storage_increment("next", 1)? - 1;
    host::storage_set_json(
        &format!("event/{sequence:012}"),
        &json!({ "event": event, "entity_type": entity_type, "entity_id": entity_id }),
    )
}

fn read_log(request: Request) -> Result<Response, Error> {
    let only = request.query("entity_id");
    let mut events = Vec::new();
    for key in host::storage_list("event/")? {
        let Some(event) = host::storage_get_json::<Value>(&key)? else {
            continue;
        };
        if only.is_none_or(|id| event["entity_id"] == id) {
            events.push(event);
        }
    }
    Ok(Response::json(200, &json!({ "events": events })))
}

fn clear_log(_request: Request) -> Result<Response, Error> {
    let keys = host::storage_list("event/")?;
    for key in &keys {
        host::storage_delete(key)?;
    }
    host::storage_delete("next")?;
    Ok(Response::json(200, &json!({ "cleared": keys.len() })))
}

export!(AuditTrail: events, routes);
