//! The Tauri commands the web view calls (`window.__TAURI__.core.invoke`):
//! the same operations as `plinth serve`'s HTTP API, each a thin translation
//! to one `Host` call. Blocking calls (the database) run on the blocking
//! pool and plugin calls are awaited, so the window's thread never waits.
//! Errors reach the page as `{code, message, plugin, fields}`.

use plinth_host::{
    CallError, EntityQuery, FieldConfig, FieldContext, FieldSetting, Host, HostError, Method, RouteRequest,
};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use tauri::State;

/// The host: opened off the window's thread after the window shows (the
/// first start compiles every plugin), closed when the app exits. Commands
/// wait for it to open; after `close`, new ones are refused.
pub struct HostSlot(
    tokio::sync::watch::Sender<Option<Result<Arc<Host>, String>>>,
    std::sync::Mutex<Option<plinth_host::Background>>,
);

impl HostSlot {
    /// A slot the host is not in yet.
    pub fn opening() -> HostSlot {
        HostSlot(tokio::sync::watch::Sender::new(None), std::sync::Mutex::new(None))
    }

    /// Puts the opened host (or why it could not open) in the slot, and
    /// starts its background loops: hooks left in the outbox (a plugin's own
    /// delete, a crash) are delivered while the app runs.
    pub fn fill(&self, host: Result<Arc<Host>, String>) {
        if let Ok(host) = &host {
            *self.1.lock().unwrap_or_else(|p| p.into_inner()) = Some(Host::start_background(host));
        }
        self.0.send_replace(Some(host));
    }

    /// The host, once open.
    pub async fn get(&self) -> Result<Arc<Host>, Failure> {
        let mut ready = self.0.subscribe();
        let opened =
            ready.wait_for(Option::is_some).await.map_err(|e| Failure::new("closed", e.to_string()))?;
        match opened.as_ref() {
            Some(Ok(host)) => Ok(host.clone()),
            Some(Err(message)) => Err(Failure::new("not_started", message.clone())),
            None => Err(Failure::new("not_started", "the host did not open".into())),
        }
    }

    /// Stops the background loops and takes the host out, for the app to
    /// drop it on exit.
    pub fn close(&self) -> Option<Arc<Host>> {
        if let Some(loops) = self.1.lock().unwrap_or_else(|p| p.into_inner()).take() {
            loops.stop();
        }
        let closed = Some(Err("the app is closing".to_string()));
        self.0.send_replace(closed).and_then(Result::ok)
    }
}

type Slot<'a> = State<'a, HostSlot>;

/// An error as the page gets it.
#[derive(Debug, Serialize)]
pub struct Failure {
    code: &'static str,
    message: String,
    plugin: Option<String>,
    /// The problems by field, for a refused entity write.
    fields: Option<Value>,
}

impl Failure {
    fn new(code: &'static str, message: String) -> Failure {
        Failure { code, message, plugin: None, fields: None }
    }
}

impl From<HostError> for Failure {
    fn from(error: HostError) -> Failure {
        let fields = match &error {
            HostError::ValidationFailed { fields, .. } => Some(json!(fields)),
            _ => None,
        };
        Failure { fields, ..Failure::new(error.code(), error.to_string()) }
    }
}

impl From<CallError> for Failure {
    fn from(error: CallError) -> Failure {
        let plugin = error.plugin().map(str::to_string);
        Failure { plugin, ..Failure::new(error.code(), error.to_string()) }
    }
}

/// Runs blocking host work (the database) off the async threads.
async fn blocking<T: Send + 'static>(
    slot: Slot<'_>,
    work: impl FnOnce(&Host) -> Result<T, HostError> + Send + 'static,
) -> Result<T, Failure> {
    let host = slot.get().await?;
    tauri::async_runtime::spawn_blocking(move || work(&host))
        .await
        .map_err(|e| Failure::new("internal", e.to_string()))?
        .map_err(Failure::from)
}

/// The demo's own template for `character`, set on first start: the name,
/// and a biography edited with the word-count widget when it is loaded.
pub fn ensure_demo_layout(host: &Host) -> Result<(), HostError> {
    if host.field_config("character")?.fields.is_empty() {
        let mut config = FieldConfig { order: vec!["name".into(), "bio".into()], ..FieldConfig::default() };
        let name = FieldSetting { label: Some("Name".into()), required: true, ..text() };
        config.fields.insert("name".into(), name);
        let widget = host.widgets().into_iter().find(|w| w.id == "plugin:word-count-widget:word-count");
        let bio = FieldSetting { label: Some("Biography".into()), widget: widget.map(|w| w.id), ..text() };
        config.fields.insert("bio".into(), bio);
        host.set_field_config("character", &config)?;
    }
    Ok(())
}

fn text() -> FieldSetting {
    FieldSetting { kind: "text".into(), ..FieldSetting::default() }
}

/// What the app runs with, shown in its header.
#[derive(Debug, Clone, Serialize)]
pub struct AppInfo {
    /// `native` or `pulley`.
    pub engine: &'static str,
    /// The user's data directory: the database and the compile cache.
    pub data_dir: std::path::PathBuf,
    /// Where the shipped plugins were loaded from.
    pub plugins_dir: std::path::PathBuf,
    /// Started with `--measure` (`desktop/bench.sh`): the page times its
    /// first widget and a run of renders, then `finish_measure` exits.
    pub measure: bool,
}

/// When `main` started, for start-up figures.
pub static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Where the app keeps its data, the engine, the folders that did not load,
/// and where plugin pages are served.
#[tauri::command]
pub async fn status(slot: Slot<'_>, info: State<'_, AppInfo>) -> Result<Value, Failure> {
    let host = slot.get().await?;
    let failed: Vec<Value> =
        host.failed_loads().iter().map(|f| json!({ "dir": f.dir, "error": f.error })).collect();
    let pages = crate::pages::ORIGIN;
    Ok(json!({ "app": *info, "plugins": host.plugins().len(), "failed": failed, "pages": pages }))
}

/// Every loaded plugin with its health.
#[tauri::command]
pub async fn plugins(slot: Slot<'_>) -> Result<Value, Failure> {
    Ok(json!(slot.get().await?.plugins()))
}

/// Entities of one type (all types when none), newest last.
#[tauri::command]
pub async fn entities(slot: Slot<'_>, entity_type: Option<String>) -> Result<Value, Failure> {
    blocking(slot, move |host| {
        let query = EntityQuery { entity_type, ..EntityQuery::default() };
        Ok(json!(host.entities(&query)?))
    })
    .await
}

/// Creates an entity: the write and every hook's outcome.
#[tauri::command]
pub async fn create_entity(slot: Slot<'_>, entity_type: String, data: Value) -> Result<Value, Failure> {
    let host = slot.get().await?;
    Ok(json!(host.create_entity_async(None, &entity_type, data).await?))
}

/// Replaces an entity's data: the write and every hook's outcome.
#[tauri::command]
pub async fn update_entity(slot: Slot<'_>, id: String, data: Value) -> Result<Value, Failure> {
    let host = slot.get().await?;
    Ok(json!(host.update_entity_async(&id, data).await?))
}

/// Deletes an entity: the write and every hook's outcome.
#[tauri::command]
pub async fn delete_entity(slot: Slot<'_>, id: String) -> Result<Value, Failure> {
    let host = slot.get().await?;
    Ok(json!(host.delete_entity_async(&id).await?))
}

/// Calls one of a plugin's routes: `{status, headers, body}` (body as text).
#[tauri::command]
pub async fn call_route(
    slot: Slot<'_>,
    plugin: String,
    method: String,
    path: String,
    body: Option<String>,
) -> Result<Value, Failure> {
    let host = slot.get().await?;
    let method = Method::parse(&method.to_ascii_uppercase())
        .ok_or_else(|| Failure::new("method_not_allowed", format!("plugins cannot serve {method}")))?;
    let (path, query) = path.split_once('?').unwrap_or((&path, ""));
    let mut request = RouteRequest::new(method, path).with_query_string(query);
    // As the console's invoke sends it: a body is JSON.
    if let Some(body) = body {
        request = request.with_header("content-type", "application/json").with_body(body);
    }
    let response = host.call_route_async(&plugin, request).await?;
    let text = String::from_utf8_lossy(&response.body).into_owned();
    Ok(json!({ "status": response.status, "headers": response.headers, "body": text }))
}

/// The template of an entity type, and the widgets it may use.
#[tauri::command]
pub async fn field_config(slot: Slot<'_>, entity_type: String) -> Result<Value, Failure> {
    blocking(slot, move |host| {
        Ok(json!({ "config": host.field_config(&entity_type)?, "widgets": host.widgets() }))
    })
    .await
}

/// A widget's HTML, from its WASM `render` export.
#[tauri::command]
pub async fn render_widget(
    slot: Slot<'_>,
    widget: String,
    field_name: String,
    value: Value,
    config: Option<Value>,
) -> Result<String, Failure> {
    let host = slot.get().await?;
    let context = FieldContext { entity: None, field_name, value, settings: config.unwrap_or(Value::Null) };
    Ok(host.render_widget_async(&widget, &context).await?)
}

/// A widget's problems with `value`, from its WASM `validate` export.
#[tauri::command]
pub async fn validate_widget(slot: Slot<'_>, widget: String, value: Value) -> Result<Vec<String>, Failure> {
    let host = slot.get().await?;
    Ok(host.validate_widget_async(&widget, &value).await?)
}

/// A plugin's settings in force.
#[tauri::command]
pub async fn settings(slot: Slot<'_>, plugin: String) -> Result<Map<String, Value>, Failure> {
    blocking(slot, move |host| host.settings(&plugin)).await
}

/// Changes some of a plugin's settings (`null` resets one); the settings in force.
#[tauri::command]
pub async fn set_settings(
    slot: Slot<'_>,
    plugin: String,
    values: Map<String, Value>,
) -> Result<Map<String, Value>, Failure> {
    blocking(slot, move |host| host.set_settings(&plugin, values)).await
}

/// The time since `main` started and the wall clock, in milliseconds: for
/// start-up figures measured from outside the process.
#[tauri::command]
pub async fn clock() -> Value {
    let since_start = STARTED.get().map_or(0.0, |started| started.elapsed().as_secs_f64() * 1000.0);
    let epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    json!({ "sinceStartMs": since_start, "epochMs": epoch.as_secs_f64() * 1000.0 })
}

/// Prints what the page measured as one JSON line and closes the app
/// (`--measure` only).
#[tauri::command]
pub fn finish_measure(app: tauri::AppHandle, info: State<'_, AppInfo>, report: Value) {
    if info.measure {
        println!("{report}");
        app.exit(0);
    }
}

/// Closes the app as closing its window does.
#[tauri::command]
pub fn quit(app: tauri::AppHandle) {
    app.exit(0);
}
