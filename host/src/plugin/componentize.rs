//! Core modules built the migration guide's way (`cargo build --target
//! wasm32-wasip1`, the old `wasm32-wasi`, with wit-bindgen against Plinth's
//! WIT) become components at load: `wit-component` reads the component type
//! wit-bindgen embedded in the module and wraps it with wasmtime's WASI
//! preview 1 adapter (the reactor one: a plugin is a library, not a program).
//! The result is kept in the compile cache folder under the module's SHA-256,
//! so it is made once; compiling it is then cached like any component.

use std::path::Path;
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};

/// What to do when a core module cannot become a component.
pub(crate) const FIX: &str = "build it with wit-bindgen against Plinth's WIT (the plinth-sdk crate does) so it carries Plinth's component type, or build for wasm32-wasip2";

/// The component of the core module `bytes`, from `cache_dir` when it was made
/// before; the error says why it cannot be one.
pub(crate) fn component_of(bytes: &[u8], cache_dir: Option<&Path>) -> Result<Vec<u8>, String> {
    if !has_component_type(bytes) {
        return Err("it carries no component type: it was not built with wit-bindgen bindings".into());
    }
    let cached =
        cache_dir.map(|dir| dir.join(format!("{}-component.wasm", crate::artifact::sha256_hex(bytes))));
    if let Some(component) = cached.as_ref().and_then(|path| std::fs::read(path).ok()) {
        return Ok(component);
    }
    let component = wit_component::ComponentEncoder::default()
        .module(bytes)
        .and_then(|encoder| {
            encoder.adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER)
        })
        .map(|encoder| encoder.validate(true))
        .and_then(|mut encoder| encoder.encode())
        .map_err(|error| format!("{error:#}"))?;
    if let Some(path) = &cached {
        // A name of its own first, so two loads never share a half-written file.
        let partial = path.with_extension(format!("partial-{}", uuid::Uuid::new_v4().simple()));
        if let Err(error) =
            std::fs::write(&partial, &component).and_then(|()| std::fs::rename(&partial, path))
        {
            tracing::warn!(path = %path.display(), "could not keep the componentized module: {error}");
        }
    }
    Ok(component)
}

/// Whether the module carries a `component-type` custom section, which
/// wit-bindgen writes to describe the component the module implements.
fn has_component_type(module: &[u8]) -> bool {
    wasmparser::Parser::new(0).parse_all(module).any(|payload| {
        matches!(payload, Ok(wasmparser::Payload::CustomSection(section)) if section.name().starts_with("component-type"))
    })
}
