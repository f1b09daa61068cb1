//! `/api/field-configs`: per-entity-type field configurations, the guide's
//! templates (which field is edited by which widget, in which order),
//! versioned, and enforced by the host on every write.

use super::AppStateExtractor;
use super::api::{ApiError, blocking, parse_json, read_body};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use plinth_host::FieldConfig;
use serde_json::{Value, json};

pub async fn list(State(state): AppStateExtractor) -> Result<Json<Value>, ApiError> {
    let configs = blocking(&state.host, |host| host.field_configs()).await??;
    Ok(Json(json!({ "field_configs": configs })))
}

pub async fn one(
    State(state): AppStateExtractor,
    Path(entity_type): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let config = blocking(&state.host, move |host| host.field_config(&entity_type)).await??;
    Ok(Json(json!(config)))
}

/// Saves the configuration (`{"version", "order", "fields"}`); an empty one
/// removes it. A `version` older than the stored one is a 409 `conflict`
/// whose details hold the current configuration.
pub async fn put(
    State(state): AppStateExtractor,
    Path(entity_type): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let config: FieldConfig = parse_json(&read_body(body, state.max_request_bytes).await?)?;
    let stored = blocking(&state.host, move |host| host.set_field_config(&entity_type, &config)).await??;
    Ok(Json(json!(stored)))
}
