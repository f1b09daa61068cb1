//! `plinth demo`: the example plugins at work on a fresh database.

use anyhow::{Context, bail};
use plinth_host::{FieldContext, Host, Method, RouteRequest};
use serde_json::json;
use std::path::{Path, PathBuf};

pub fn run(plugins: &Path, data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let temporary;
    let data_dir = match data_dir {
        Some(dir) => dir,
        None => {
            temporary = std::env::temp_dir().join(format!("plinth-demo-{}", std::process::id()));
            temporary
        }
    };
    super::database_mark::refuse_without_database(&data_dir)?;
    let host = Host::open(&data_dir)?;
    println!("data directory: {}", data_dir.display());

    println!("\n== loading plugins from {}", plugins.display());
    let loaded = host
        .load_plugins_in(plugins)
        .with_context(|| format!("reading the plugin folder {}", plugins.display()))?;
    for (dir, result) in &loaded {
        match result {
            Ok(info) => println!(
                "loaded {} {} — exports {:?}, routes {:?}, widgets {:?}, grants {:?}",
                info.id,
                info.version,
                info.exports,
                info.routes.iter().map(|r| format!("{} {}", r.method, r.path)).collect::<Vec<_>>(),
                info.widgets.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
                info.host_functions,
            ),
            Err(error) => println!("skipped {}: {error}", dir.display()),
        }
    }
    if host.plugins().is_empty() {
        bail!(
            "no plugin loaded; build the examples first: cargo build --release --target wasm32-wasip2 -p character-stats -p word-count-widget -p audit-trail"
        );
    }

    println!("\n== writing entities (each write fires the plugins' hooks)");
    let mut ids = Vec::new();
    for (entity_type, data) in [
        ("character", json!({"name": "Ada", "bio": "A mathematician who wrote the first program"})),
        ("character", json!({"name": "Bo", "bio": "A sailor"})),
        ("location", json!({"name": "Harbor"})),
        ("character", json!({"name": "Cy", "bio": "Cartographer"})),
    ] {
        let write = host.create_entity(entity_type, data)?;
        report(&format!("created {} {}", entity_type, write.entity.id), &write.hooks);
        ids.push(write.entity.id);
    }
    let write = host.update_entity(&ids[1], json!({"name": "Bo", "bio": "A retired sailor"}))?;
    report(&format!("updated {}", ids[1]), &write.hooks);
    let write = host.delete_entity(&ids[2])?;
    report(&format!("deleted {}", ids[2]), &write.hooks);

    println!("\n== calling routes");
    for (plugin, method, path, body) in [
        ("character-stats", Method::Get, "/stats/character", None),
        ("character-stats", Method::Post, "/analyze", Some(json!({"entity_type": "character"}))),
        ("audit-trail", Method::Get, "/log", None),
    ] {
        if host.plugin(plugin).is_none() {
            continue;
        }
        let mut request = RouteRequest::new(method, path);
        if let Some(body) = &body {
            request = request.with_json(body);
        }
        match host.call_route(plugin, request) {
            Ok(response) => println!(
                "{} /api/plugins/{plugin}{path} → {} {}",
                method.as_str(),
                response.status,
                String::from_utf8_lossy(&response.body)
            ),
            Err(error) => {
                println!(
                    "{} /api/plugins/{plugin}{path} → {} {error}",
                    method.as_str(),
                    crate::server::status::of_call(&error)
                )
            }
        }
    }

    println!("\n== field widgets");
    for widget in host.widgets() {
        let entity = host.entity(&ids[0])?;
        let value = entity.as_ref().map(|e| e.data["bio"].clone()).unwrap_or_default();
        let context =
            FieldContext { entity, field_name: "bio".into(), value: value.clone(), settings: json!({}) };
        println!("{} renders: {}", widget.id, host.render_widget(&widget.id, &context)?);
        println!("{} validates {value}: {:?}", widget.id, host.validate_widget(&widget.id, &value)?);
    }

    println!("\n== what each plugin stored");
    for plugin in host.plugins() {
        for key in host.storage_keys(&plugin.id, "")? {
            let value = host.storage_get(&plugin.id, &key)?.unwrap_or_default();
            println!("{}: {key} = {}", plugin.id, String::from_utf8_lossy(&value));
        }
    }
    Ok(())
}

fn report(what: &str, hooks: &[plinth_host::HookOutcome]) {
    let outcomes: Vec<String> = hooks
        .iter()
        .map(|h| match &h.error {
            None => format!("{} ok in {} µs", h.plugin_id, h.duration_us),
            Some(error) => format!("{} FAILED: {error}", h.plugin_id),
        })
        .collect();
    println!("{what}: hooks [{}]", outcomes.join(", "));
}
