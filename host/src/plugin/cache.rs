//! Where a plugin's compiled code comes from, in this order: a precompiled
//! artifact beside it (trusted and verified, see [`crate::artifact`]), the
//! host's compile cache, or the compiler (absent from a runtime-only build,
//! which then refuses the plugin with the command that makes an artifact).
//!
//! The compile cache is `DATA_DIR/_compiled/<sha256 of the component>-<engine
//! profile>.cwasm`. Compiling is the expensive part of a cold start (a Python
//! component takes seconds); loading the artifact back takes well under a
//! millisecond. Only files this cache wrote are ever deserialized: the name
//! is derived from the source bytes and the engine, a file is written under a
//! temporary name and renamed into place, and one that fails to load is
//! deleted and compiled again. The cache folder is trusted like the database
//! beside it.

use crate::artifact::{self, ArtifactError, Lookup};
use crate::engine::EngineProfile;
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The cache folder under the data directory.
pub const COMPILED_DIR: &str = "_compiled";

#[derive(Clone)]
pub(crate) struct CodeSource {
    /// The compile cache, when on.
    cache_dir: Option<PathBuf>,
    /// The engine's profile: what artifacts and cached files must match.
    pub profile: EngineProfile,
    /// Folders whose artifacts are trusted (installed packages).
    trusted_roots: Vec<PathBuf>,
    /// Every folder's artifacts are trusted (the embedder ships them).
    trust_every_folder: bool,
}

impl CodeSource {
    /// A code source for an engine of `profile`, caching in `cache_dir` unless
    /// `cache` is false, trusting artifacts under `trusted_roots` (or
    /// everywhere, when `trust_every_folder`).
    pub(crate) fn new(
        profile: EngineProfile,
        cache_dir: &Path,
        cache: bool,
        trusted_roots: Vec<PathBuf>,
        trust_every_folder: bool,
    ) -> std::io::Result<CodeSource> {
        let cache_dir = if cache {
            std::fs::create_dir_all(cache_dir)?;
            Some(cache_dir.to_path_buf())
        } else {
            None
        };
        Ok(CodeSource { cache_dir, profile, trusted_roots, trust_every_folder })
    }

    /// The compile cache folder, when caching is on.
    pub(crate) fn cache_dir(&self) -> Option<&Path> {
        self.cache_dir.as_deref()
    }

    /// Whether artifacts in `owner` may be deserialized.
    pub(crate) fn trusts(&self, owner: &Path) -> bool {
        self.trust_every_folder || self.trusted_roots.iter().any(|root| owner.starts_with(root))
    }

    /// The compiled component of `wasm` (whose `bytes` were read), owned by the
    /// plugin folder `owner`.
    pub(crate) fn component(
        &self,
        engine: &Engine,
        owner: &Path,
        wasm: &Path,
        bytes: &[u8],
    ) -> Result<Component, ArtifactError> {
        let lookup = Lookup { owner, wasm, bytes, trusted: self.trusts(owner) };
        if let Some(component) = artifact::component(engine, &self.profile, &lookup)? {
            return Ok(component);
        }
        let cached = self.cache_dir.as_ref().map(|dir| {
            let key = artifact::sha256_hex(bytes);
            dir.join(format!("{key}-{}.cwasm", self.profile.cache_key()))
        });
        if let Some(path) = cached.as_ref().filter(|path| path.is_file()) {
            // SAFETY: the file was written by `store` below from a component
            // an engine of this profile compiled; its name binds it to those
            // bytes and this profile, and wasmtime checks the rest.
            #[expect(unsafe_code, reason = "deserializing an artifact this cache produced")]
            let loaded = unsafe { Component::deserialize_file(engine, path) };
            match loaded {
                Ok(component) => return Ok(component),
                Err(error) => {
                    tracing::warn!(path = %path.display(), "dropping an unreadable compiled artifact: {error:#}");
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        let component = self.compile(engine, owner, wasm, bytes)?;
        if let Some(path) = &cached
            && let Err(error) = store(&component, path)
        {
            tracing::warn!(path = %path.display(), "could not cache the compiled component: {error:#}");
        }
        Ok(component)
    }

    #[cfg(feature = "compiler")]
    fn compile(
        &self,
        engine: &Engine,
        _owner: &Path,
        wasm: &Path,
        bytes: &[u8],
    ) -> Result<Component, ArtifactError> {
        Component::from_binary(engine, bytes).map_err(|e| ArtifactError::Compile {
            path: wasm.to_path_buf(),
            target: self.profile.target.clone(),
            message: format!("{e:#}"),
        })
    }

    #[cfg(not(feature = "compiler"))]
    fn compile(&self, _: &Engine, owner: &Path, wasm: &Path, _: &[u8]) -> Result<Component, ArtifactError> {
        Err(ArtifactError::Missing { path: artifact::artifact_paths(owner, wasm, &self.profile.target).0 })
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
