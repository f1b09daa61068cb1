//! Two HTTP routes doing the same work on one axum server, for
//! `host/benches/http.sh`: `GET /plugin/stats/character` calls the
//! `character-stats` plugin (a fresh instance per request, awaited on the
//! runtime), and `GET /native/stats/character` does its logic in Rust (count
//! the entities of a type, read the `analysis_depth` setting, answer the same
//! JSON) on tokio's blocking pool; `plinth serve` runs each the same way.
//!
//! Run: `cargo run --release --example http_twins -- 127.0.0.1:18081 [FOLDER]`
//! after building the example plugins; it seeds 1,000 entities in a temporary
//! folder. FOLDER is another copy of `character-stats` (with other limits, say).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use plinth_host::{Host, Method, RouteRequest};
use plinth_tests::seed_entities;
use std::sync::Arc;

const PLUGIN: &str = "character-stats";

fn main() -> anyhow::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18081".into());
    let plugin = std::env::args()
        .nth(2)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../example-plugins/character-stats").into());
    let data = tempfile::tempdir()?;
    // Set-up uses the host's blocking API, so it runs before the server's runtime starts.
    let host = Host::open(data.path())?;
    seed_entities(&host, 1_000);
    host.load_plugin(plugin)?;
    tokio::runtime::Runtime::new()?.block_on(serve(addr, host))
}

async fn serve(addr: String, host: Host) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/plugin/stats/{entity_type}", get(plugin_route))
        .route("/native/stats/{entity_type}", get(native_route))
        .with_state(Arc::new(host));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("http_twins listening on http://{addr}");
    axum::serve(listener, app).await?;
    Ok(())
}

/// The plugin call is awaited on the server's runtime, as `plinth serve` does.
async fn plugin_route(State(host): State<Arc<Host>>, Path(entity_type): Path<String>) -> Response {
    let request = RouteRequest::new(Method::Get, &format!("/stats/{entity_type}"));
    match host.call_route_async(PLUGIN, request).await {
        Ok(response) => {
            let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, [("content-type", "application/json")], response.body).into_response()
        }
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

async fn native_route(State(host): State<Arc<Host>>, Path(entity_type): Path<String>) -> Response {
    json_from_blocking(move || {
        Ok((StatusCode::OK, serde_json::to_vec(&plinth_tests::native_stats(&host, &entity_type)?)?))
    })
    .await
}

/// Runs `work` on the blocking pool and answers its JSON body, or a 500 with the error.
async fn json_from_blocking(
    work: impl FnOnce() -> anyhow::Result<(StatusCode, Vec<u8>)> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok((status, body))) => (status, [("content-type", "application/json")], body).into_response(),
        Ok(Err(error)) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
        Err(join) => (StatusCode::INTERNAL_SERVER_ERROR, join.to_string()).into_response(),
    }
}
