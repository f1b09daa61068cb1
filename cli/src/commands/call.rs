//! `plinth call PLUGIN_DIR ...`: one call into a plugin without a server, on a
//! throw-away database unless `--data-dir` names one:
//!
//! - a route: `plinth call DIR GET /stats/character [--body JSON] [--header N:V]`;
//! - a hook: `plinth call DIR hook created|updated|deleted ENTITY_TYPE [--body DATA]`
//!   (for `updated` and `deleted` the entity is first stored, without hooks,
//!   with the same data: an `updated` hook sees the data as it is after the
//!   write; seed the entity and call the route or write that changes it to
//!   test what changed);
//! - a widget: `plinth call DIR widget render|validate WIDGET_ID [--body VALUE] [--settings JSON]`.
//!
//! What the plugin logged during the call goes to stderr, so a traceback or a
//! panic message reaches its author.

use anyhow::{Context, bail};
use plinth_host::{FieldContext, Host, LogLevel, Method, RouteRequest};
use serde_json::Value;
use std::path::{Path, PathBuf};

pub struct CallOptions<'a> {
    pub plugin_dir: &'a Path,
    /// An HTTP method, `hook` or `widget`.
    pub kind: &'a str,
    /// The route path, the hook's event or the widget operation.
    pub name: &'a str,
    /// The hook's entity type or the widget's id.
    pub target: Option<&'a str>,
    pub body: Option<&'a str>,
    pub headers: &'a [String],
    pub settings: Option<&'a str>,
    pub data_dir: Option<PathBuf>,
}

/// Returns whether the call succeeded: a 2xx route answer, a hook that ran
/// without error, a render, or a validation that found no problem.
pub fn run(options: CallOptions<'_>) -> anyhow::Result<bool> {
    let scratch;
    let data_dir = match &options.data_dir {
        Some(dir) => dir.clone(),
        None => {
            scratch = tempfile::tempdir()?;
            scratch.path().to_path_buf()
        }
    };
    let host = super::host_with_compile_cache(&data_dir)?;
    let id = host.load_plugin(options.plugin_dir)?.id;
    let body = options
        .body
        .map(|text| serde_json::from_str::<Value>(text).context("--body must be JSON"))
        .transpose()?;
    let target = || {
        options.target.with_context(|| {
            format!("`plinth call DIR {} {}` needs one more argument", options.kind, options.name)
        })
    };
    let kind = options.kind.to_ascii_lowercase();
    let route_call = kind != "hook" && kind != "widget";
    if !route_call && !options.headers.is_empty() {
        bail!("--header applies to route calls only");
    }
    if kind != "widget" && options.settings.is_some() {
        bail!("--settings applies to widget calls only (the widget configuration a render gets)");
    }
    let succeeded = match kind.as_str() {
        "hook" => hook(&host, &id, options.name, target()?, body)?,
        "widget" => widget(&host, &id, options.name, target()?, body, options.settings)?,
        _ => {
            let method = Method::parse(options.kind).with_context(|| {
                format!("`{}` is neither an HTTP method plugins serve nor `hook` or `widget`", options.kind)
            })?;
            if let Some(extra) = options.target {
                bail!("a route call takes a method and a path; `{extra}` is one argument too many");
            }
            route(&host, &id, method, options.name, body, options.headers)?
        }
    };
    // What the plugin itself said (a traceback, a panic message, its own log) is for its author.
    for record in host.plugin_log(&id) {
        if record.level >= LogLevel::Info || !succeeded {
            eprintln!("{id}: {:?} {:?} {}", record.level, record.source, record.message);
        }
    }
    Ok(succeeded)
}

fn route(
    host: &Host,
    id: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    headers: &[String],
) -> anyhow::Result<bool> {
    let path = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
    let mut request = RouteRequest::new(method, &path);
    if let Some(json) = &body {
        request = request.with_json(json);
    }
    for header in headers {
        let (name, value) =
            header.split_once(':').with_context(|| format!("--header `{header}` needs NAME:VALUE"))?;
        request = request.with_header(name.trim(), value.trim());
    }
    match host.call_route(id, request) {
        Ok(response) => {
            println!("{}", response.status);
            for (name, value) in &response.headers {
                println!("{name}: {value}");
            }
            println!();
            println!("{}", String::from_utf8_lossy(&response.body));
            Ok((200..300).contains(&response.status))
        }
        Err(error) => {
            let body = serde_json::json!({ "error": { "code": error.code(), "message": error.to_string(), "plugin": error.plugin() } });
            println!("{}\n\n{body}", crate::server::status::of_call(&error));
            Ok(false)
        }
    }
}

/// Fires one hook of the plugin on an entity of `entity_type` whose data is
/// `body` (an empty object when omitted), and prints its outcome.
fn hook(host: &Host, id: &str, event: &str, entity_type: &str, body: Option<Value>) -> anyhow::Result<bool> {
    let data = body.unwrap_or_else(|| serde_json::json!({}));
    let write = match event {
        "created" => host.create_entity(entity_type, data)?,
        "updated" => {
            let stored = host.import_entity(None, entity_type, data.clone())?;
            host.update_entity(&stored.id, data)?
        }
        "deleted" => {
            let stored = host.import_entity(None, entity_type, data)?;
            host.delete_entity(&stored.id)?
        }
        other => bail!("`{other}` is not a hook: use created, updated or deleted"),
    };
    let Some(outcome) = write.hooks.iter().find(|outcome| outcome.plugin_id == id) else {
        bail!("plugin `{id}` does not export plinth:plugin/events, so no hook ran");
    };
    let took = format!("{:.1} ms", outcome.duration_us as f64 / 1000.0);
    match &outcome.error {
        None => {
            println!("{}: ok ({took}) for {entity_type} `{}`", outcome.event.hook_name(), write.entity.id)
        }
        Some(error) => println!("{}: failed ({took}): {error}", outcome.event.hook_name()),
    }
    Ok(outcome.error.is_none())
}

/// Renders a widget (printing its HTML) or validates a value with it
/// (printing the problems as a JSON list).
fn widget(
    host: &Host,
    id: &str,
    operation: &str,
    widget: &str,
    body: Option<Value>,
    settings: Option<&str>,
) -> anyhow::Result<bool> {
    let widget_id =
        if widget.starts_with("plugin:") { widget.to_string() } else { format!("plugin:{id}:{widget}") };
    let value = body.unwrap_or(Value::Null);
    let outcome = match operation {
        "render" => {
            let settings = match settings {
                Some(text) => serde_json::from_str(text).context("--settings must be JSON")?,
                None => serde_json::json!({}),
            };
            let context = FieldContext { entity: None, field_name: "value".into(), value, settings };
            host.render_widget(&widget_id, &context).map(|html| {
                println!("{html}");
                true
            })
        }
        "validate" => host.validate_widget(&widget_id, &value).map(|problems| {
            println!("{}", Value::from(problems.clone()));
            problems.is_empty()
        }),
        other => bail!("`{other}` is not a widget operation: use render or validate"),
    };
    match outcome {
        Ok(succeeded) => Ok(succeeded),
        Err(error) => {
            println!("{}: {error}", error.code());
            Ok(false)
        }
    }
}
