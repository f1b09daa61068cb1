//! `/api/installs` and `/api/registry`: installing plugins over HTTP, with
//! consent. `POST /api/installs` takes a package (the console's "Install
//! Local" upload) or `{"id": …}` from the server's registry index, and
//! answers with what the plugin asks for; a pending install runs only after
//! `POST /api/installs/{id}/approve`.

use super::AppStateExtractor;
use super::api::{ApiError, blocking, read_body};
use crate::commands::install::from_index;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use plinth_host::install::Package;
use plinth_host::install::error::InstallError;
use serde::Deserialize;
use serde_json::{Value, json};

impl From<InstallError> for ApiError {
    fn from(error: InstallError) -> Self {
        let status = match error {
            InstallError::Host(host) => return host.into(),
            InstallError::TooLarge { .. } => 413,
            InstallError::NotFound { .. } => 404,
            InstallError::NotManaged { .. } | InstallError::Changed { .. } => 409,
            InstallError::Io { .. } => 500,
            _ => 422,
        };
        ApiError::new(status, error.code(), error.to_string())
    }
}

pub async fn list(State(state): AppStateExtractor) -> Result<Json<Value>, ApiError> {
    let installs = blocking(&state.host, |host| host.installs()).await??;
    Ok(Json(json!({ "installs": installs })))
}

#[derive(Deserialize)]
struct ById {
    /// A plugin id in the server's registry index.
    id: String,
}

/// A package in the body (`application/gzip` or `application/octet-stream`),
/// or `{"id": "…"}` (JSON) to install from the server's index.
pub async fn create(
    State(state): AppStateExtractor,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let limit = usize::try_from(state.install_limit).unwrap_or(usize::MAX);
    let bytes = read_body(body, limit).await?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let trust = state.trust.clone();
    let install = blocking(&state.host, move |host| {
        if is_json {
            let ById { id } = serde_json::from_slice(&bytes).map_err(|e| {
                ApiError::bad_request(format!("expected {{\"id\": \"plugin-id\"}} or a package: {e}"))
            })?;
            if trust.index.is_none() {
                return Err(ApiError::new(
                    409,
                    "no_index",
                    "this server has no registry index (start it with --index)",
                ));
            }
            // Only from the index: an id is never a path on the server's disk.
            let (package_bytes, package) = from_index(&id, &trust, trust.max_package_bytes())
                .map_err(|e| ApiError::new(502, "registry_unavailable", format!("{e:#}")))?;
            Ok(host.install(Package { bytes: &package_bytes, ..package })?)
        } else {
            Ok(host.install(Package::local(&bytes, "an uploaded package"))?)
        }
    })
    .await??;
    Ok((StatusCode::CREATED, Json(json!(install))))
}

#[derive(Deserialize)]
pub struct ApproveQuery {
    /// The SHA-256 of the package the operator was shown: the approval is
    /// refused (409) if the pending install has changed since.
    sha256: Option<String>,
}

pub async fn approve(
    State(state): AppStateExtractor,
    Path(id): Path<String>,
    Query(query): Query<ApproveQuery>,
) -> Result<Json<Value>, ApiError> {
    let install =
        blocking(&state.host, move |host| host.approve_install_as_shown(&id, query.sha256.as_deref()))
            .await??;
    Ok(Json(json!(install)))
}

pub async fn reject(State(state): AppStateExtractor, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    blocking(&state.host, move |host| host.reject_install(&id)).await??;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct UninstallQuery {
    /// Also delete the plugin's storage and settings.
    #[serde(default)]
    remove_data: bool,
}

pub async fn uninstall(
    State(state): AppStateExtractor,
    Path(id): Path<String>,
    Query(query): Query<UninstallQuery>,
) -> Result<Json<Value>, ApiError> {
    let done = blocking(&state.host, move |host| host.uninstall(&id, query.remove_data)).await??;
    Ok(Json(json!(done)))
}

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// The registry index's plugins that run on this host.
pub async fn registry(
    State(state): AppStateExtractor,
    Query(query): Query<SearchQuery>,
) -> Result<Json<Value>, ApiError> {
    let trust = state.trust.clone();
    let found = tokio::task::spawn_blocking(move || -> Result<Value, ApiError> {
        let (index, _) =
            trust.read_index().map_err(|e| ApiError::new(502, "registry_unavailable", format!("{e:#}")))?;
        Ok(json!(index.search(&query.q)))
    })
    .await
    .map_err(|e| ApiError::new(500, "internal", e.to_string()))??;
    Ok(Json(json!({ "plugins": found })))
}
