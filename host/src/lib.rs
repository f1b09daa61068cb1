//! # plinth-host: run WebAssembly component plugins, sandboxed
//!
//! Plinth loads plugins (a folder with `plugin.json` and a component built
//! against `wit/`, package `plinth:plugin` in any supported version), grants
//! each exactly the host functions its manifest lists, and runs every call in
//! a fresh instance with memory and time limits. Entities, plugin storage and
//! settings live in a database behind [`store::Backend`]: SQLite under the
//! data directory by default, or PostgreSQL shared by several hosts.
//!
//! ```no_run
//! use plinth_host::{Host, Method, RouteRequest};
//! use serde_json::json;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let host = Host::open("./plinth-data")?;
//! host.load_plugin("example-plugins/character-stats")?;
//!
//! // Writes fire every loaded plugin's hooks; a failed hook never undoes the write.
//! let write = host.create_entity("character", json!({ "name": "Ada" }))?;
//! assert!(write.hooks_succeeded());
//!
//! // Routes are called as the server would, relative to /api/plugins/{id}.
//! let response = host.call_route("character-stats", RouteRequest::new(Method::Get, "/stats/character"))?;
//! println!("{} {}", response.status, String::from_utf8_lossy(&response.body));
//!
//! // What the plugin stored, under its own scope.
//! let stored = host.storage_get("character-stats", &format!("analysis/{}", write.entity.id))?;
//! # let _ = stored;
//! # Ok(())
//! # }
//! ```
//!
//! Layout: [`manifest`] parses `plugin.json`; `plugin` vets and loads a
//! component (`plugin/vet.rs`) and runs every call into it (`plugin/invoke.rs`,
//! one `Phase` per kind of call); `sandbox` builds the fresh store of each
//! call; [`capabilities`] holds one module per host interface (entities,
//! storage, settings, logging) and the one table of host functions;
//! [`entity_writes`] owns entities: writes, their hooks' delivery through the
//! outbox, and the field configurations writes are checked against;
//! `embedder` links the embedding application's own interfaces; `calls`
//! runs routes and widgets; [`pages`] serves plugin pages. `Host` (`host/`)
//! is the facade over these parts.

/// How to embed the host in an application (`docs/embedding.md`, whose
/// example runs as a test).
#[doc = include_str!("../../docs/embedding.md")]
pub mod embedding {}

pub mod artifact;
mod background;
mod bindings;
mod calls;
pub mod capabilities;
mod embedder;
pub mod engine;
pub mod entity_writes;
mod error;
pub mod field_config;
mod host;
#[cfg(feature = "install")]
pub mod install;
pub mod jobs;
#[cfg(feature = "legacy")]
pub mod legacy;
pub mod limits;
pub mod manifest;
mod nodes;
pub mod outbound;
pub mod pages;
mod plugin;
mod plugin_log;
mod registry;
mod reload;
mod sandbox;
pub mod store;
mod sync;
pub mod types;

pub use artifact::ArtifactError;
pub use background::Background;
pub use bindings::{GuestError, Method};
pub use calls::{FieldContext, RouteRequest, RouteResponse};
pub use capabilities::HostCallObserver;
pub use embedder::{EmbedderInterface, PluginCall};
pub use engine::{EngineKind, EngineProfile, Target};
pub use entity_writes::{EntityEvent, EntityWrite, HookOutcome};
pub use error::{CallError, CallErrorKind, HostError, LoadError};
pub use field_config::{FieldConfig, FieldSetting};
pub use host::{DEFAULT_MAX_WASM_STACK, Host, HostConfig, PluginInfo};
#[cfg(feature = "legacy")]
pub use legacy::{LegacyConfig, LegacyError, LegacyReply, LegacyRunner, ModuleInfo};
pub use limits::{LimitRequest, Limits};
pub use nodes::{NodeStatus, STALE_AFTER};
pub use plugin::WidgetInfo;
pub use plugin::health::{BreakerConfig, Clock, HealthState, PluginHealth};
pub use plugin::routes::RouteInfo;
pub use plugin_log::{LogLevel, LogRecord, LogSource};
pub use reload::FailedLoad;
pub use store::DATABASE_FILE;
pub use types::{Entity, EntityQuery, HookEvent, Message};

/// A `Host` is shared between threads (a server holds it in an `Arc`).
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Host>();
};
