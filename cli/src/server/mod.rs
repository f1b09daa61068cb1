//! `plinth serve`: the host over HTTP (tokio + axum). It only uses
//! `plinth_host`'s public API: every handler is a thin translation between
//! HTTP and one `Host` call. Plugin calls and entity writes are awaited in a
//! task of their own (`api::detached`), so a client that hangs up cannot cut
//! a write short; database-only calls run on the blocking pool.

mod api;
mod console;
mod csp;
mod entities;
mod field_configs;
mod installs;
mod jobs;
mod legacy;
mod plugin_ui;
mod plugins;
mod reload;
mod route_answer;
pub mod security;
pub mod status;
mod widgets;

use anyhow::Context;
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, delete, get, post};
use plinth_host::{Host, HostConfig, LegacyConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use api::ApiError;

/// `plinth serve`'s arguments.
#[derive(clap::Args, Clone)]
pub struct ServeArgs {
    /// A folder whose sub-folders hold plugins (each with a plugin.json);
    /// by default `example-plugins` when there is one here. Installed
    /// plugins (DATA_DIR/installed) are served too.
    #[arg(long)]
    pub plugins: Option<PathBuf>,
    /// Where the database lives (created if missing).
    #[arg(long, default_value = "plinth-data")]
    pub data_dir: PathBuf,
    /// A PostgreSQL database (`postgres://user@host:5432/db`) instead of the
    /// embedded SQLite file in --data-dir: what several nodes share
    /// (docs/scaling.md). Add `?sslmode=require` for verified TLS, trusting
    /// the CA file in PGSSLROOTCERT or else the Mozilla roots.
    #[arg(long, env = "PLINTH_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
    /// Address to listen on; port 0 picks a free one (printed on start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Reload a plugin when its manifest or component changes on disk.
    #[arg(long)]
    pub reload: bool,
    /// Largest request body accepted (413 beyond).
    #[arg(long, default_value_t = 1 << 20)]
    pub max_request_bytes: usize,
    /// Largest plugin response body passed on (500 beyond).
    #[arg(long, default_value_t = 8 << 20)]
    pub max_response_bytes: usize,
    /// Time one plugin call may run before it is stopped (504).
    #[arg(long, default_value_t = 5000)]
    pub call_timeout_ms: u64,
    /// Seconds one legacy job may run.
    #[arg(long, default_value_t = 10.0)]
    pub legacy_timeout: f64,
    /// Legacy jobs running or waiting at once; one more is refused (503 busy).
    #[arg(long, default_value_t = 64)]
    pub legacy_max_pending: usize,
    /// Legacy jobs running in parallel (default: the number of cores).
    #[arg(long)]
    pub legacy_workers: Option<usize>,
    /// Keep each legacy job's folder under DATA_DIR/_sandbox after it ends.
    #[arg(long)]
    pub keep_sandboxes: bool,
    /// Instances the pooling allocator keeps ready (calls running at once,
    /// all plugins together; one plugin may use at most half).
    #[arg(long, default_value_t = 128)]
    pub pool_instances: u32,
    /// The token the API requires (`Authorization: Bearer TOKEN`); needed to
    /// listen on anything but loopback.
    #[arg(long, env = security::TOKEN_VARIABLE, hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Where installs come from and which signatures count.
    #[command(flatten)]
    pub trust: crate::commands::install::Trust,
}

impl ServeArgs {
    /// The host configuration these arguments describe.
    fn host_config(&self) -> anyhow::Result<HostConfig> {
        let mut config = HostConfig::new(&self.data_dir);
        crate::commands::engine::apply(&mut config);
        config.pooling = Some(self.pool_instances);
        let call_timeout = Duration::from_millis(self.call_timeout_ms);
        config.limits.route_timeout = call_timeout;
        config.limits.hook_timeout = call_timeout;
        config.limits.widget_timeout = call_timeout;
        config.limits.init_timeout = call_timeout;
        config.limits.request_bytes = self.max_request_bytes;
        config.limits.response_bytes = self.max_response_bytes;
        // The server runs the legacy adapter and owns `_sandbox/`: it wipes it on start.
        let mut legacy = LegacyConfig {
            timeout: Duration::try_from_secs_f64(self.legacy_timeout)
                .map_err(|_| anyhow::anyhow!("--legacy-timeout must be a positive number of seconds"))?,
            max_pending: self.legacy_max_pending,
            keep_sandboxes: self.keep_sandboxes,
            wipe_sandboxes_on_start: true,
            ..LegacyConfig::default()
        };
        if let Some(workers) = self.legacy_workers {
            legacy.workers = workers;
        }
        config.legacy = Some(legacy);
        config.install = self.trust.config()?;
        config.backend = crate::commands::database_mark::backend(&self.data_dir, self.database.as_deref())?;
        Ok(config)
    }
}

/// What every handler shares.
pub struct AppState {
    pub host: Arc<Host>,
    /// The `--plugins` folder, if any.
    pub plugins_dir: Option<PathBuf>,
    pub max_request_bytes: usize,
    /// True until the plugins folder has been loaded once.
    pub loading: AtomicBool,
    /// The token `/api/*` requires, if any.
    pub admin_token: Option<String>,
    /// The registry index and trusted keys for installs.
    pub trust: crate::commands::install::Trust,
    /// Largest package accepted.
    pub install_limit: u64,
}

pub type SharedState = Arc<AppState>;

/// Opens the host, loads the plugins, and serves until SIGINT or SIGTERM.
pub fn run(options: ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(options))
}

async fn serve(options: ServeArgs) -> anyhow::Result<()> {
    security::check_listen_address(options.addr, options.admin_token.as_deref())?;
    // Opened on a blocking thread: connecting to a database blocks.
    let config = {
        let options = options.clone();
        tokio::task::spawn_blocking(move || options.host_config()).await??
    };
    let install_limit = config.install.max_package_bytes;
    let host = tokio::task::spawn_blocking(move || Host::with_config(config)).await??;
    let plugins_dir = match &options.plugins {
        Some(dir) => {
            std::fs::read_dir(dir).with_context(|| format!("reading plugins from {}", dir.display()))?;
            Some(dir.clone())
        }
        None => Some(PathBuf::from("example-plugins")).filter(|dir| dir.is_dir()),
    };
    let state = Arc::new(AppState {
        host: Arc::new(host),
        plugins_dir,
        max_request_bytes: options.max_request_bytes,
        loading: AtomicBool::new(true),
        admin_token: options.admin_token.clone(),
        trust: options.trust.clone(),
        install_limit,
    });

    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .with_context(|| format!("binding {}", options.addr))?;
    let addr = listener.local_addr()?;
    // Tests and scripts read this line to learn the port.
    println!("plinth listening on http://{addr}");
    tracing::info!(%addr, "listening; loading plugins");
    // Plugins load while the server already answers: `/healthz` says 503
    // "loading" until every folder has loaded or failed.
    let loader = state.clone();
    let reload = options.reload;
    tokio::spawn(async move {
        if let Err(error) = plugins::load_all(&loader).await {
            tracing::error!("loading plugins: {error}");
        }
        loader.loading.store(false, Ordering::SeqCst);
        tracing::info!(plugins = loader.host.plugins().len(), "plugins loaded");
        // Deliveries left behind (by a stopped node, or by plugins' own
        // writes), installs made on other nodes (or by `plinth install`), and
        // this node's plugins' health for `/api/nodes` on every node. They
        // end with the host.
        drop(Host::start_background(&loader.host));
        if reload {
            reload::watch(loader).await;
        }
    });

    axum::serve(listener, router(state.clone())).with_graceful_shutdown(shutdown_signal()).await?;
    tracing::info!("shutting down: in-flight requests finished, closing the database");
    let host = state.host.clone();
    if let Ok(Err(error)) = tokio::task::spawn_blocking(move || host.withdraw_node()).await {
        tracing::warn!("removing this node from the list of nodes failed: {error}");
    }
    drop(state);
    println!("plinth stopped");
    Ok(())
}

fn router(state: SharedState) -> Router {
    Router::new()
        .route("/", get(console::index))
        .route("/console/{file}", get(console::file))
        .route("/plinth-widget.js", get(console::widget_client))
        .route("/plinth-worker.js", get(console::worker_client))
        .route("/plugin-ui/{id}/{*path}", get(plugin_ui::file))
        .route("/healthz", get(plugins::healthz))
        .route("/api/plugins", get(plugins::list))
        .route("/api/plugins/{id}", get(plugins::one))
        .route(
            "/api/plugins/{id}/settings",
            get(plugins::get_settings).put(plugins::put_settings).fallback(plugins::route),
        )
        .route("/api/plugins/{id}/reload", post(plugins::reload).fallback(plugins::route))
        .route("/api/plugins/{id}/enable", post(plugins::enable).fallback(plugins::route))
        .route("/api/plugins/{id}/disable", post(plugins::disable).fallback(plugins::route))
        .route("/api/plugins/{id}/", any(plugins::route))
        .route("/api/plugins/{id}/{*path}", any(plugins::route))
        .route("/api/entities", get(entities::list).post(entities::create))
        .route("/api/entities/{id}", get(entities::one).put(entities::update).delete(entities::delete))
        .route("/api/events", get(entities::events))
        .route("/api/events/stream", get(entities::stream))
        .route("/api/outbox", get(entities::outbox))
        .route("/api/jobs", get(jobs::list))
        .route("/api/nodes", get(plugins::nodes))
        .route("/api/field-configs", get(field_configs::list))
        .route("/api/field-configs/{entity_type}", get(field_configs::one).put(field_configs::put))
        .route("/api/widgets", get(widgets::list))
        .route("/api/widgets/{widget_id}/render", post(widgets::render))
        .route("/api/widgets/{widget_id}/validate", post(widgets::validate))
        .route("/api/installs", get(installs::list).post(installs::create))
        .route("/api/installs/{id}", delete(installs::uninstall))
        .route("/api/installs/{id}/approve", post(installs::approve))
        .route("/api/installs/{id}/reject", post(installs::reject))
        .route("/api/registry", get(installs::registry))
        .route("/api/legacy/modules", get(legacy::list).post(legacy::upload))
        .route("/api/legacy/modules/{name}", delete(legacy::remove))
        .route("/api/legacy/{name}/call", post(legacy::call))
        .fallback(|| async {
            ApiError::not_found("no such endpoint; see /api/plugins, /api/entities, /api/widgets")
        })
        .layer(middleware::from_fn_with_state(state.clone(), security::guard))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// One structured log line per request: method, path, status, duration.
async fn log_request(request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        %method,
        path,
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}

/// `State` extractor shorthand.
pub type AppStateExtractor = State<SharedState>;
