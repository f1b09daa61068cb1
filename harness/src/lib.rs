//! # plinth-test: ordinary `#[test]`s against a plugin's built component
//!
//! A [`TestHost`] is a real Plinth host ([`plinth_host::Host`]) on a
//! temporary data directory, made for one test and thrown away with it. Load
//! the plugin's folder (its `plugin.json` and the component it names), seed
//! the entities and settings the test needs, act (fire hooks, call routes and
//! widgets), then read back what the plugin stored and logged and assert on
//! it. Plugins load through the host's own loader and run in its own sandbox,
//! so grants, limits and errors are exactly what a server gives them: a call
//! the manifest does not grant is `denied` to the plugin and logged, as in
//! production.
//!
//! Build the component first (`plinth build .` or
//! `cargo build --release --target wasm32-wasip2`): the harness tests what
//! ships, not the plugin's Rust compiled for the test machine. That is also
//! why it works the same for a plugin written in any language.
//!
//! ```no_run
//! use plinth_test::{HostFunction, TestHost};
//! use serde_json::json;
//!
//! # /*
//! #[test]
//! # */
//! fn a_new_character_is_analysed() {
//!     let t = TestHost::new();
//!     // The plugin's folder: here, the crate being tested.
//!     t.load(env!("CARGO_MANIFEST_DIR")).expect("load the plugin");
//!
//!     // The world before the action; seeding fires no hook.
//!     t.seed_entity("character", json!({ "name": "Ada" }));
//!     t.set_settings("character-stats", json!({ "analysis_depth": 5 }));
//!
//!     // The action: a write fires the plugin's hook.
//!     let write = t.create_entity("character", json!({ "name": "Bo" })).expect("create");
//!     t.assert_hooks_succeeded(&write);
//!
//!     // What the hook stored, and what a route answers now.
//!     let key = format!("analysis/{}", write.entity.id);
//!     assert_eq!(t.storage_json("character-stats", &key), Some(json!({ "related_count": 2 })));
//!     let stats = t.get("character-stats", "/stats/character").expect("route");
//!     assert_eq!(stats.status, 200);
//!     assert_eq!(stats.json().expect("a JSON body")["analysis_depth"], 5);
//! }
//!
//! # /*
//! #[test]
//! # */
//! fn the_hook_makes_only_the_calls_it_should() {
//!     // Strict mode: any other host call fails the test, at the line that caused it.
//!     let t = TestHost::strict();
//!     t.expect_host_calls("character-stats", &[HostFunction::EntityList, HostFunction::StorageSet]);
//!     t.load(env!("CARGO_MANIFEST_DIR")).expect("load the plugin");
//!     let write = t.create_entity("character", json!({ "name": "Ada" })).expect("create");
//!     t.assert_hooks_succeeded(&write);
//!     assert_eq!(t.host_calls("character-stats"), [HostFunction::EntityList, HostFunction::StorageSet]);
//! }
//! # fn main() {
//! #     a_new_character_is_analysed();
//! #     the_hook_makes_only_the_calls_it_should();
//! # }
//! ```
//!
//! ## Results or panics
//!
//! As in `std`'s own test style, the harness panics where a test would only
//! ever `unwrap`, and returns the host's `Result` where the error may be the
//! very thing under test:
//!
//! - **Setup and reads panic** with a message naming what failed: opening the
//!   host, [`seed_entity`](TestHost::seed_entity),
//!   [`set_settings`](TestHost::set_settings) (a value the manifest's schema
//!   refuses), [`storage`](TestHost::storage), [`logs`](TestHost::logs),
//!   [`plugin`](TestHost::plugin). A read goes straight into `assert_eq!`.
//! - **Loading and plugin calls return the host's `Result`**:
//!   [`load`](TestHost::load) (`LoadError`: test that a bad manifest is
//!   refused), entity writes (`HostError`; a failing hook is *not* an error
//!   but an outcome in [`EntityWrite::hooks`], since the write stands),
//!   routes and widgets (`CallError`, whose `code()` is the server's:
//!   `plugin_invalid_input`, `route_not_found`, `timeout`, …).
//! - **`assert_*` helpers panic** with everything needed to see why:
//!   [`assert_hooks_succeeded`](TestHost::assert_hooks_succeeded) shows each
//!   hook's error and the end of its plugin's log;
//!   [`assert_log_contains`](TestHost::assert_log_contains) shows the log.
//! - **Strict-mode violations panic**, since a test must not pass with one:
//!   the harness method during which the call happened panics (every method
//!   checks before and after its work), and so does dropping the
//!   [`TestHost`] when calls made through [`TestHost::host`] went unreported
//!   (never while the test is already panicking).
//!   [`take_violations`](TestHost::take_violations) collects them instead.
//!
//! ## Strict mode
//!
//! [`TestHost::strict`] (or [`TestHostBuilder::strict`]) turns it on for the
//! whole host; so does declaring any expectation with
//! [`TestHost::expect_host_calls`], from that moment. Each host call is judged
//! when it is made, against the functions declared for its plugin by then
//! (in any order, any number of times). Expectations never grant anything:
//! the manifest alone does, so an expected call the manifest lacks is still
//! denied. [`host_calls`](TestHost::host_calls) lists every call in order,
//! strict or not, denied ones included (the host reports a call before it
//! checks the grant).
//!
//! ## Costs
//!
//! Compiling a component is the slow part of loading (seconds for a large
//! one). Compiled components are kept in the user's cache folder
//! (`$XDG_CACHE_HOME/plinth-compile-cache` or `~/.cache/plinth-compile-cache`,
//! the folder the `plinth` tool uses), so each component compiles once, not
//! once per test; [`TestHostBuilder::compile_cache_dir`] points elsewhere.
//! Each host allocates instances on demand rather than reserving a pool, so
//! many tests can run in parallel.

mod actions;
mod builder;
pub mod cases;
mod reads;
mod strict;
mod test_host;

pub use builder::TestHostBuilder;
pub use strict::Violation;
pub use test_host::TestHost;

/// The host library, for anything the harness does not re-export.
pub use plinth_host;
pub use plinth_host::manifest::HostFunction;
pub use plinth_host::{
    CallError, CallErrorKind, Entity, EntityEvent, EntityWrite, FieldContext, HookOutcome, HostConfig,
    HostError, LoadError, LogLevel, LogRecord, LogSource, Method, PluginInfo, RouteRequest, RouteResponse,
};
