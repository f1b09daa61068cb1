//! Test guest for `plinth:plugin@0.3.0`, the version in development: it
//! deletes entities. `DELETE /entity/{id}` deletes one and answers whether it
//! existed; its `on_entity_created` hook deletes every entity created with
//! `"expired": true`; its `on_entity_deleted` hook counts the deletes it
//! hears of under `deleted/{id}`, which `GET /deleted` lists.

use plinth_sdk::{Entity, Error, Plugin, Request, Response, Router, export, host};
use serde_json::json;

struct Janitor;

impl Plugin for Janitor {
    fn on_entity_created(entity: Entity) -> Result<(), Error> {
        if entity.field("expired") == Some(json!(true)) {
            host::entity_delete(entity.id())?;
        }
        Ok(())
    }

    fn on_entity_deleted(_entity_type: String, entity_id: String) -> Result<(), Error> {
        host::storage_increment(&format!("deleted/{entity_id}"), 1).map(drop)
    }

    fn router() -> Router {
        Router::new().delete("/entity/{id}", delete).get("/deleted", deleted)
    }
}

fn delete(request: Request) -> Result<Response, Error> {
    let existed = host::entity_delete(request.param("id"))?;
    Ok(Response::json(200, &json!({ "deleted": existed })))
}

fn deleted(_request: Request) -> Result<Response, Error> {
    let ids: Vec<String> = host::storage_list("deleted/")?
        .into_iter()
        .filter_map(|key| key.strip_prefix("deleted/").map(str::to_string))
        .collect();
    Ok(Response::json(200, &json!({ "deleted": ids })))
}

export!(Janitor: events, routes);
