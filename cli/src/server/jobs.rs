//! `/api/jobs`: every plugin's scheduled jobs (or one plugin's, with
//! `?plugin=`), each with its schedule, next due time and last run, as every
//! node sharing the database sees them.

use super::AppStateExtractor;
use super::api::{ApiError, blocking};
use axum::Json;
use axum::extract::{RawQuery, State};
use serde_json::{Value, json};

pub async fn list(State(state): AppStateExtractor, RawQuery(raw): RawQuery) -> Result<Json<Value>, ApiError> {
    let plugin = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "plugin")
        .map(|(_, value)| value.into_owned());
    let jobs = blocking(&state.host, move |host| host.jobs(plugin.as_deref())).await??;
    Ok(Json(json!({ "jobs": jobs })))
}
