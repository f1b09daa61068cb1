//! `/api/plugins…`: listing, settings, reload, and the plugins' own routes.

use super::api::{ApiError, blocking, detached, parse_json, read_body};
use super::{AppStateExtractor, SharedState};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use plinth_host::{FailedLoad, LogLevel, Method, PluginInfo, RouteRequest};
use serde_json::{Map, Value, json};
use std::time::Instant;

/// A plugin folder that did not load, as the API lists it.
fn failed_json(failed: &FailedLoad) -> Value {
    json!({ "id": failed.id, "dir": failed.dir, "status": "failed", "error": failed.error })
}

/// Loads every plugin folder; failures are logged and listed, never fatal.
pub async fn load_all(state: &SharedState) -> std::io::Result<()> {
    let dir = state.plugins_dir.clone();
    let results = blocking(&state.host, move |host| {
        // The folder's plugins, then the installed ones (DATA_DIR/installed).
        let mut results = match &dir {
            Some(dir) => host.load_plugins_in(dir)?,
            None => Vec::new(),
        };
        results.extend(host.load_installed());
        Ok::<_, std::io::Error>(results)
    })
    .await
    .map_err(|e| std::io::Error::other(format!("{e:?}")))??;
    for (dir, result) in results {
        match result {
            Ok(info) => tracing::info!(plugin = %info.id, dir = %dir.display(), "loaded"),
            Err(error) => tracing::error!(dir = %dir.display(), "plugin skipped: {error}"),
        }
    }
    Ok(())
}

fn describe(state: &SharedState, info: PluginInfo) -> Value {
    let last_errors: Vec<Value> = state
        .host
        .plugin_log(&info.id)
        .into_iter()
        .filter(|record| record.level >= LogLevel::Warn)
        .rev()
        .take(10)
        .map(|record| json!(record))
        .collect();
    let reload_error = state
        .host
        .failed_loads()
        .into_iter()
        .find(|failed| failed.dir == info.dir)
        .map(|failed| failed.error);
    let mut value = json!(info);
    if let Some(object) = value.as_object_mut() {
        object.insert("status".into(), json!("loaded"));
        object.insert("last_errors".into(), json!(last_errors));
        object.insert("reload_error".into(), json!(reload_error));
    }
    value
}

/// 200 `ok` once the plugins have loaded; 503 `loading` before (load
/// balancers and scripts wait for it).
pub async fn healthz(State(state): AppStateExtractor) -> (StatusCode, Json<Value>) {
    let plugins = state.host.plugins().len();
    if state.loading.load(std::sync::atomic::Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "loading", "plugins": plugins })));
    }
    (StatusCode::OK, Json(json!({ "status": "ok", "plugins": plugins })))
}

/// `/api/nodes`: every node sharing the database, with its plugins' health
/// (breakers and counters are per node) as it last reported it.
pub async fn nodes(State(state): AppStateExtractor) -> Result<Json<Value>, ApiError> {
    let nodes = blocking(&state.host, |host| host.nodes()).await??;
    Ok(Json(json!({ "node": state.host.node_id(), "nodes": nodes })))
}

pub async fn list(State(state): AppStateExtractor) -> Json<Value> {
    let loaded = state.host.plugins();
    let failed = state.host.failed_loads();
    // A folder whose reload failed still runs its previous version: it shows
    // once, as loaded, with its `reload_error`.
    let not_running: Vec<Value> = failed
        .into_iter()
        .filter(|f| !loaded.iter().any(|info| info.dir == f.dir))
        .map(|f| failed_json(&f))
        .collect();
    let mut plugins: Vec<Value> = loaded.into_iter().map(|info| describe(&state, info)).collect();
    plugins.extend(not_running);
    Json(json!({ "plugins": plugins }))
}

pub async fn one(State(state): AppStateExtractor, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    if let Some(info) = state.host.plugin(&id) {
        return Ok(Json(describe(&state, info)));
    }
    match state.host.failed_loads().iter().find(|f| f.id.as_deref() == Some(id.as_str())) {
        Some(f) => Ok(Json(failed_json(f))),
        None => {
            Err(ApiError::new(404, "unknown_plugin", format!("no plugin `{id}` is loaded")).for_plugin(&id))
        }
    }
}

pub async fn get_settings(
    State(state): AppStateExtractor,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    super::security::refuse_invoke(&headers)?;
    let settings = blocking(&state.host, move |host| host.settings(&id)).await??;
    Ok(Json(Value::Object(settings)))
}

pub async fn put_settings(
    State(state): AppStateExtractor,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    super::security::refuse_invoke(&headers)?;
    let bytes = read_body(body, state.max_request_bytes).await?;
    let values: Map<String, Value> = parse_json(&bytes)?;
    let settings = blocking(&state.host, move |host| host.set_settings(&id, values)).await??;
    Ok(Json(Value::Object(settings)))
}

pub async fn reload(
    State(state): AppStateExtractor,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    super::security::refuse_invoke(&headers)?;
    // A failed reload keeps the running version; the host lists why.
    let info = blocking(&state.host, move |host| host.reload_plugin(&id)).await??;
    Ok(Json(describe(&state, info)))
}

/// `POST /api/plugins/{id}/enable`: switches the plugin back on, on every node.
pub async fn enable(
    state: AppStateExtractor,
    id: Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    switch(state, id, headers, true).await
}

/// `POST /api/plugins/{id}/disable`: switches the plugin off without
/// uninstalling it (`switches.rs` in the library says what that means).
pub async fn disable(
    state: AppStateExtractor,
    id: Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    switch(state, id, headers, false).await
}

async fn switch(
    State(state): AppStateExtractor,
    Path(id): Path<String>,
    headers: HeaderMap,
    enabled: bool,
) -> Result<Json<Value>, ApiError> {
    super::security::refuse_invoke(&headers)?;
    let plugin = id.clone();
    blocking(&state.host, move |host| host.set_plugin_enabled(&plugin, enabled)).await??;
    match state.host.plugin(&id) {
        Some(info) => Ok(Json(describe(&state, info))),
        None => Ok(Json(json!({ "id": id, "enabled": enabled }))),
    }
}

/// Any method on `/api/plugins/{id}/{path}`: the plugin's own routes.
pub async fn route(
    State(state): AppStateExtractor,
    method: axum::http::Method,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // The raw path, still percent-encoded: the host decodes each segment once.
    let rest = uri.path().strip_prefix("/api/plugins/").unwrap_or_default();
    let (id, path) = rest.split_once('/').map_or((rest, ""), |(id, path)| (id, path));
    let id = id.to_string();
    let method = Method::parse(method.as_str()).ok_or_else(|| {
        ApiError::new(405, "method_not_allowed", format!("plugins cannot serve {method}")).for_plugin(&id)
    })?;
    // Read no more than this plugin accepts (an unknown plugin: the host default).
    let limit = state.host.plugin_limits(&id).map_or(state.max_request_bytes, |limits| limits.request_bytes);
    let body = read_body(body, limit).await.map_err(|error| error.for_plugin(&id))?;
    let mut request = RouteRequest::new(method, &format!("/{path}")).with_body(body.to_vec());
    request = request.with_query_string(query.as_deref().unwrap_or(""));
    for (name, value) in super::route_answer::forwarded(&headers) {
        request = request.with_header(name.as_str(), &String::from_utf8_lossy(value.as_bytes()));
    }

    let started = Instant::now();
    // The call runs on the server's runtime: a waiting guest holds no thread.
    let (host, plugin) = (state.host.clone(), id.clone());
    let result = detached(async move { host.call_route_async(&plugin, request).await }).await?;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let route = format!("{} /{path}", method.as_str());
    match &result {
        Ok(response) => {
            tracing::info!(plugin = %id, route, status = response.status, duration_ms, outcome = "ok", "plugin route")
        }
        Err(error) => {
            tracing::warn!(plugin = %id, route, status = super::status::of_call(error), duration_ms, outcome = error.code(), "plugin route: {error}")
        }
    }
    let sources = super::csp::Sources::of(&headers);
    let is_page = || state.host.plugin(&id).is_some_and(|info| info.is_route_page(&format!("/{path}")));
    super::route_answer::to_http(&id, result?, &sources, is_page)
}
