//! `plinth call PLUGIN_DIR METHOD PATH`: one route call without a server.

use anyhow::Context;
use plinth_host::{Method, RouteRequest};
use std::path::{Path, PathBuf};

pub struct CallOptions<'a> {
    pub plugin_dir: &'a Path,
    pub method: &'a str,
    pub path: &'a str,
    pub body: Option<&'a str>,
    pub headers: &'a [String],
    pub data_dir: Option<PathBuf>,
}

/// Returns whether the route answered with a 2xx status.
pub fn run(options: CallOptions<'_>) -> anyhow::Result<bool> {
    let method = Method::parse(options.method)
        .with_context(|| format!("`{}` is not an HTTP method plugins serve", options.method))?;
    let scratch;
    let data_dir = match options.data_dir {
        Some(dir) => dir,
        None => {
            scratch = tempfile::tempdir()?;
            scratch.path().to_path_buf()
        }
    };
    let host = super::host_with_compile_cache(&data_dir)?;
    let info = host.load_plugin(options.plugin_dir)?;
    let path =
        if options.path.starts_with('/') { options.path.to_string() } else { format!("/{}", options.path) };
    let mut request = RouteRequest::new(method, &path);
    if let Some(body) = options.body {
        let json: serde_json::Value = serde_json::from_str(body).context("--body must be JSON")?;
        request = request.with_json(&json);
    }
    for header in options.headers {
        let (name, value) =
            header.split_once(':').with_context(|| format!("--header `{header}` needs NAME:VALUE"))?;
        request = request.with_header(name.trim(), value.trim());
    }
    match host.call_route(&info.id, request) {
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
            // What the plugin itself said (a traceback, a panic message) is for its author.
            for record in host.plugin_log(&info.id).iter().filter(|r| r.level >= plinth_host::LogLevel::Warn)
            {
                eprintln!("{}: {:?} {}", info.id, record.level, record.message);
            }
            Ok(false)
        }
    }
}
