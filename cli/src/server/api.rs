//! The server's JSON error shape, `{"error": {"code", "message", "plugin"}}`,
//! and small helpers every handler shares.

use super::status;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use plinth_host::{CallError, Host, HostError, LoadError};
use serde_json::json;
use std::sync::Arc;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    plugin: Option<String>,
    /// More, for errors a front end shows field by field.
    details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            message: message.into(),
            plugin: None,
            details: None,
        }
    }

    pub fn for_plugin(mut self, plugin: &str) -> Self {
        self.plugin = Some(plugin.to_string());
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "invalid_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(404, "not_found", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message, "plugin": self.plugin });
        if let (Some(details), Some(object)) = (self.details, error.as_object_mut()) {
            object.insert("details".into(), details);
        }
        let body = json!({ "error": error });
        (self.status, Json(body)).into_response()
    }
}

impl From<CallError> for ApiError {
    fn from(error: CallError) -> Self {
        let plugin = error.plugin().map(str::to_string);
        ApiError { plugin, ..ApiError::new(status::of_call(&error), error.code(), error.to_string()) }
    }
}

impl From<HostError> for ApiError {
    fn from(error: HostError) -> Self {
        let plugin = match &error {
            HostError::UnknownPlugin(plugin) | HostError::InvalidSetting { plugin, .. } => {
                Some(plugin.clone())
            }
            _ => None,
        };
        let details = match &error {
            HostError::ValidationFailed { fields, .. } => Some(json!({ "fields": fields })),
            HostError::InvalidSetting { name, .. } => Some(json!({ "setting": name })),
            HostError::FieldConfigConflict { current, .. } => Some(json!({ "current": current })),
            _ => None,
        };
        ApiError {
            plugin,
            details,
            ..ApiError::new(status::of_host(&error), error.code(), error.to_string())
        }
    }
}

impl From<LoadError> for ApiError {
    fn from(error: LoadError) -> Self {
        let plugin = error.plugin().map(str::to_string);
        ApiError { plugin, ..ApiError::new(422, "load_failed", error.to_string()) }
    }
}

/// Runs host work (compilation, wasm, SQLite: all blocking) off the async
/// threads, so a slow plugin call never stalls other requests.
pub async fn blocking<T: Send + 'static>(
    host: &Arc<Host>,
    work: impl FnOnce(&Host) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let host = host.clone();
    tokio::task::spawn_blocking(move || work(&host))
        .await
        .map_err(|e| ApiError::new(500, "internal", format!("the host task failed: {e}")))
}

/// Runs a plugin call as a task of its own, so a client that goes away does
/// not cut it short: an entity write's hooks all run and are recorded, and the
/// call counts for the plugin's health. It still ends at its deadline.
pub async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::spawn(work).await.map_err(|e| ApiError::new(500, "internal", format!("the host task failed: {e}")))
}

/// Reads a request body, refusing more than `limit` bytes with 413 (and a
/// body that breaks off or is malformed with 400).
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let over_limit = std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if over_limit {
            ApiError::new(
                413,
                "payload_too_large",
                format!("the request body is over the {limit}-byte limit"),
            )
        } else {
            ApiError::bad_request(format!("the request body could not be read: {error}"))
        }
    })
}

/// Parses a JSON request body.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not the JSON expected: {e}")))
}
