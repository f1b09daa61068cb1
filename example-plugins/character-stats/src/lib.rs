//! `character-stats`: the plugin from the StudioBrain migration guide, on Plinth.
//!
//! On every new entity it counts the `character` entities and stores
//! `analysis/{entity_id}` = `{"related_count": N}`. It serves
//! `GET /stats/{entity_type}` and `POST /analyze`.

use plinth_sdk::{Entity, EntityQuery, Error, Level, Plugin, Request, Response, Router, export, host};
use serde::Deserialize;
use serde_json::json;

struct CharacterStats;

impl Plugin for CharacterStats {
    fn on_entity_created(entity: Entity) -> Result<(), Error> {
        analyze(&entity)
    }

    fn router() -> Router {
        Router::new().get("/stats/{entity_type}", handle_stats).post("/analyze", handle_analyze)
    }
}

/// Stores how many characters existed when `entity` was analysed.
fn analyze(entity: &Entity) -> Result<(), Error> {
    let characters = host::entity_count("entity_type=character")?;
    host::storage_set_json(&format!("analysis/{}", entity.id()), &json!({ "related_count": characters }))
}

fn analysis_depth() -> u64 {
    host::setting("analysis_depth").ok().flatten().unwrap_or(3)
}

fn handle_stats(request: Request) -> Result<Response, Error> {
    let entity_type = request.param("entity_type");
    // The typed query: a route parameter is text from the client, not query syntax.
    let count = host::entity_count(EntityQuery::of_type(entity_type))?;
    Ok(Response::json(
        200,
        &json!({
            "entity_type": entity_type,
            "count": count,
            "analysis_depth": analysis_depth(),
        }),
    ))
}

#[derive(Deserialize)]
struct AnalyzeRequest {
    entity_type: String,
}

fn handle_analyze(request: Request) -> Result<Response, Error> {
    let body: AnalyzeRequest = request.json()?;
    let entities = host::entity_list(EntityQuery::of_type(&body.entity_type))?;
    for entity in &entities {
        analyze(entity)?;
    }
    let _ = host::log(Level::Info, &format!("analyzed {} {}", entities.len(), body.entity_type));
    Ok(Response::json(200, &json!({ "analyzed": entities.len() })))
}

export!(CharacterStats: events, routes);
