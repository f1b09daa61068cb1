//! The compiled-component cache: `DATA_DIR/_compiled/<sha256 of the component>-<engine
//! configuration hash>.cwasm`. Compiling a component is the expensive part of
//! a cold start (a Python component takes seconds); loading the artifact back
//! takes well under a millisecond. Only files this cache wrote are ever
//! deserialized: the name is derived from the source bytes and the engine, a
//! file is written under a temporary name and renamed into place, and an
//! artifact that fails to load is deleted and compiled again. The data
//! directory is trusted like the database beside it.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The cache folder under the data directory.
pub const COMPILED_DIR: &str = "_compiled";

#[derive(Clone)]
pub(crate) struct CompileCache {
    dir: Option<PathBuf>,
    engine_key: String,
}

impl CompileCache {
    /// A cache in `dir`, or none (every load compiles) when `enabled` is false.
    pub(crate) fn new(engine: &Engine, dir: &Path, enabled: bool) -> std::io::Result<CompileCache> {
        let dir = if enabled {
            std::fs::create_dir_all(dir)?;
            Some(dir.to_path_buf())
        } else {
            None
        };
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(CompileCache { dir, engine_key: format!("{:016x}", hasher.finish()) })
    }

    /// The compiled component for `bytes`, from the cache when it is there.
    pub(crate) fn component(&self, engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
        let Some(dir) = &self.dir else { return Component::from_binary(engine, bytes) };
        let key = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>();
        let path = dir.join(format!("{key}-{}.cwasm", self.engine_key));
        if path.is_file() {
            // SAFETY: the file was written by `store` below from a component
            // this engine compiled; its name binds it to those bytes and this
            // engine's configuration.
            #[expect(unsafe_code, reason = "deserializing an artifact this cache produced")]
            let cached = unsafe { Component::deserialize_file(engine, &path) };
            match cached {
                Ok(component) => return Ok(component),
                Err(error) => {
                    tracing::warn!(path = %path.display(), "dropping an unreadable compiled artifact: {error:#}");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let component = Component::from_binary(engine, bytes)?;
        if let Err(error) = store(&component, &path) {
            tracing::warn!(path = %path.display(), "could not cache the compiled component: {error:#}");
        }
        Ok(component)
    }
}

fn store(component: &Component, path: &Path) -> wasmtime::Result<()> {
    let serialized = component.serialize()?;
    // A name of its own, so two loads of the same component never share a half-written file.
    let partial = path.with_extension(format!("partial-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&partial, serialized)?;
    std::fs::rename(&partial, path)?;
    Ok(())
}
