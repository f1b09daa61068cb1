//! `character-stats`' `GET /stats/{entity_type}` as an Extism plugin: the peer
//! benchmark's twin of `example-plugins/character-stats`.
//!
//! The same work in Extism's terms: the entity type comes in as the call's
//! input, two host functions give the count and the `analysis_depth` setting,
//! and the same JSON goes out. `noop` measures Extism's bare call overhead.

use extism_pdk::{FnResult, host_fn, plugin_fn};
use serde_json::json;

#[host_fn]
extern "ExtismHost" {
    fn entity_count(entity_type: String) -> u64;
    fn setting_u64(key: String) -> Option<u64>;
}

/// The route's work: count the entities of a type, read a setting, answer JSON.
#[plugin_fn]
pub fn stats(entity_type: String) -> FnResult<Vec<u8>> {
    // SAFETY: host functions registered by the benchmark with these signatures.
    let count = unsafe { entity_count(entity_type.clone())? };
    let analysis_depth = unsafe { setting_u64("analysis_depth".into())? }.unwrap_or(3);
    let body = json!({ "entity_type": entity_type, "count": count, "analysis_depth": analysis_depth });
    Ok(serde_json::to_vec(&body)?)
}

/// Does nothing: what one call costs on its own.
#[plugin_fn]
pub fn noop() -> FnResult<()> {
    Ok(())
}
