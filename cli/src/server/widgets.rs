//! `/api/widgets`: list, render and validate field widgets by their
//! `plugin:{plugin-id}:{widget-id}` ids.

use super::AppStateExtractor;
use super::api::{ApiError, blocking, detached, parse_json, read_body};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use plinth_host::FieldContext;
use serde::Deserialize;
use serde_json::{Value, json};

pub async fn list(State(state): AppStateExtractor) -> Json<Value> {
    Json(json!({ "widgets": state.host.widgets() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenderRequest {
    field_name: String,
    #[serde(default)]
    value: Value,
    #[serde(default)]
    settings: Value,
    /// The entity being edited, if it exists.
    #[serde(default)]
    entity_id: Option<String>,
}

pub async fn render(
    State(state): AppStateExtractor,
    Path(widget_id): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let request: RenderRequest = parse_json(&read_body(body, state.max_request_bytes).await?)?;
    let entity =
        match request.entity_id {
            Some(id) => {
                let lookup = id.clone();
                let found = blocking(&state.host, move |host| host.entity(&lookup)).await??;
                Some(found.ok_or_else(|| {
                    ApiError::new(404, "entity_not_found", format!("no entity with id `{id}`"))
                })?)
            }
            None => None,
        };
    let context = FieldContext {
        entity,
        field_name: request.field_name,
        value: request.value,
        settings: request.settings,
    };
    // Plugin calls run on the server's runtime: a waiting guest holds no thread.
    let host = state.host.clone();
    let html = detached(async move { host.render_widget_async(&widget_id, &context).await }).await??;
    Ok(Json(json!({ "html": html })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidateRequest {
    #[serde(default)]
    value: Value,
}

pub async fn validate(
    State(state): AppStateExtractor,
    Path(widget_id): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let request: ValidateRequest = parse_json(&read_body(body, state.max_request_bytes).await?)?;
    let host = state.host.clone();
    let problems =
        detached(async move { host.validate_widget_async(&widget_id, &request.value).await }).await??;
    Ok(Json(json!({ "valid": problems.is_empty(), "problems": problems })))
}
