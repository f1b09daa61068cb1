//! Test guest built from the frozen `wit/0.1.0/` with plain `wit-bindgen`
//! (the SDK targets the newest version): it must keep loading and working in
//! a host that also links newer versions. Its hook counts created entities in
//! storage; its routes read that count, query entities with a filter and log,
//! so every 0.1.0 host interface and both exports are exercised.

#![allow(missing_docs, unsafe_code, reason = "generated bindings")]

wit_bindgen::generate!({
    path: "../../../wit/0.1.0",
    world: "hooks-and-routes",
});

use exports::plinth::plugin::{events, routes};
use plinth::plugin::types::{Entity, Error};
use plinth::plugin::{entities, logging, storage};

struct OldPlugin;

fn count() -> Result<u64, Error> {
    Ok(storage::get("created")?.and_then(|bytes| String::from_utf8(bytes).ok()?.parse().ok()).unwrap_or(0))
}

impl events::Guest for OldPlugin {
    fn on_entity_created(entity: Entity) -> Result<(), Error> {
        let next = count()? + 1;
        storage::set("created", next.to_string().as_bytes())?;
        logging::log(logging::Level::Info, &format!("0.1.0 plugin saw {}", entity.id))
    }

    fn on_entity_updated(_entity: Entity) -> Result<(), Error> {
        Ok(())
    }

    fn on_entity_deleted(_entity_type: String, _entity_id: String) -> Result<(), Error> {
        Ok(())
    }
}

impl routes::Guest for OldPlugin {
    fn register_routes() -> Vec<routes::Route> {
        vec![routes::Route {
            method: routes::Method::Get,
            path: "/summary/{type}".into(),
            handler: "summary".into(),
        }]
    }

    fn handle(request: routes::Request) -> Result<routes::Response, Error> {
        let entity_type = request.params.iter().find(|(name, _)| name == "type").map(|(_, v)| v.clone());
        let query = entities::EntityQuery {
            entity_type,
            filters: vec![entities::FieldFilter { field: "team".into(), value: "red".into() }],
            limit: None,
            offset: 0,
        };
        let red = entities::count(&query)?;
        logging::log(logging::Level::Warn, "summary asked")?;
        let body = format!("{{\"created\":{},\"red\":{red},\"version\":\"0.1.0\"}}", count()?);
        Ok(routes::Response {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into_bytes(),
        })
    }
}

export!(OldPlugin);
