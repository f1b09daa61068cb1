//! `/api/legacy/…`: the legacy adapter over HTTP: call an installed module,
//! list, upload and remove modules.

use super::AppStateExtractor;
use super::api::{ApiError, blocking, read_body};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use plinth_host::LegacyError;
use serde::Deserialize;
use serde_json::{Value, json};

impl From<LegacyError> for ApiError {
    fn from(error: LegacyError) -> Self {
        let module = error.module().map(str::to_string);
        let api = ApiError::new(super::status::of_legacy(&error), error.code(), error.to_string());
        match module {
            Some(module) => api.for_plugin(&module),
            None => api,
        }
    }
}

/// Answers with the module's own JSON line, `{"ok":…}`, as it wrote it.
pub async fn call(
    State(state): AppStateExtractor,
    Path(name): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let limit = state.host.legacy()?.config().max_input_bytes;
    let request = read_body(body, limit).await.map_err(|error| error.for_plugin(&name))?;
    let reply = blocking(&state.host, move |host| host.legacy()?.call(&name, &request)).await??;
    Ok(([(header::CONTENT_TYPE, "application/json")], reply.line).into_response())
}

pub async fn list(State(state): AppStateExtractor) -> Result<Json<Value>, ApiError> {
    let modules = blocking(&state.host, |host| host.legacy()?.modules()).await??;
    Ok(Json(json!({ "modules": modules })))
}

#[derive(Deserialize)]
pub struct Upload {
    /// The file name to install under (`math.wasm`).
    name: String,
}

/// The body is the module's bytes; `?name=` names it.
pub async fn upload(
    State(state): AppStateExtractor,
    Query(upload): Query<Upload>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let limit = usize::try_from(state.host.legacy()?.config().max_module_bytes).unwrap_or(usize::MAX);
    let bytes = read_body(body, limit).await?;
    let info =
        blocking(&state.host, move |host| host.legacy()?.add_module_bytes(&upload.name, &bytes)).await??;
    Ok((StatusCode::CREATED, Json(json!(info))))
}

pub async fn remove(
    State(state): AppStateExtractor,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let removed = name.clone();
    blocking(&state.host, move |host| host.legacy()?.remove_module(&name)).await??;
    Ok(Json(json!({ "removed": removed })))
}
