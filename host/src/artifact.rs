//! Precompiled artifacts: a plugin's component, or a legacy module, compiled
//! ahead of time for one target, so that a host without a compiler (the shape
//! an iOS app links) or one that should not compile at start loads it ready.
//!
//! An artifact lives beside what it was made from, in a `precompiled` folder
//! of the plugin's folder (or of the legacy module's folder):
//! `precompiled/<wasm file stem>.<target>.cwasm`, with a record
//! `precompiled/<stem>.<target>.json` that binds it to the SHA-256 of the
//! wasm it was made from, its own SHA-256, the wasmtime version, the target
//! and fuel metering. A host uses the artifact for its own target when there
//! is one and refuses it, naming the command that makes a good one, when it
//! is stale (the wasm changed), changed (its bytes differ from the record) or
//! made for another wasmtime, target or setting. wasmtime checks the rest
//! (every tunable, CPU features) as it deserializes.
//!
//! Deserializing is trusting: an artifact is machine code or Pulley bytecode
//! whose bounds checks are part of the code, so a forged one escapes the
//! sandbox. The record's checks catch mistakes, not forgers (whoever can write
//! the artifact can write its record). So the host deserializes only:
//! - its own compile cache (`plugin::cache`), which only it writes;
//! - installed packages, whose checksum (and signature, where required) was
//!   verified when they were installed;
//! - folders the embedder declares as trusted as its own code
//!   ([`crate::HostConfig::trust_precompiled`], `plinth --trust-precompiled`),
//!   such as plugins shipped inside a signed application bundle.
//!
//! An artifact anywhere else is never loaded: a host with a compiler compiles
//! the wasm beside it instead, a host without one refuses the plugin.

use crate::engine::{EngineProfile, Target};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The folder of artifacts beside a plugin's manifest or a legacy module.
pub const PRECOMPILED_DIR: &str = "precompiled";

/// What a wasm file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WasmKind {
    /// A component: a plugin.
    Component,
    /// A core module: a legacy stdin/stdout module.
    Module,
}

/// The record beside an artifact (`<stem>.<target>.json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactRecord {
    /// Component or module.
    pub kind: WasmKind,
    /// SHA-256 (hex) of the wasm the artifact was made from.
    pub wasm_sha256: String,
    /// SHA-256 (hex) of the artifact file.
    pub artifact_sha256: String,
    /// The engine it was made for.
    #[serde(flatten)]
    pub profile: EngineProfile,
}

/// Why an artifact could not be made or used. The host adds the plugin's
/// name and the command that makes a good artifact.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The record beside the artifact is missing or malformed.
    #[error("the precompiled artifact's record {path} is unusable: {problem}")]
    BadRecord {
        /// The record.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// Made for another engine.
    #[error("the precompiled artifact {path} does not fit this host: {problem}")]
    Mismatch {
        /// The artifact.
        path: PathBuf,
        /// What differs.
        problem: String,
    },
    /// Made from other wasm than the one beside it.
    #[error("the precompiled artifact {path} is stale: it was made from another build of {wasm}")]
    Stale {
        /// The artifact.
        path: PathBuf,
        /// The wasm file.
        wasm: PathBuf,
    },
    /// Its bytes are not the ones its record names.
    #[error(
        "the precompiled artifact {path} has been changed since it was made (its SHA-256 differs from its record)"
    )]
    Changed {
        /// The artifact.
        path: PathBuf,
    },
    /// wasmtime refused it.
    #[error("wasmtime refused the precompiled artifact {path}: {message}")]
    Refused {
        /// The artifact.
        path: PathBuf,
        /// wasmtime's reason.
        message: String,
    },
    /// Found where this host does not trust artifacts.
    #[error(
        "the precompiled artifact {path} is in a folder this host does not trust with code (only its compile cache, installed packages and folders marked trusted are)"
    )]
    Untrusted {
        /// The artifact.
        path: PathBuf,
    },
    /// A host without a compiler found no artifact for its target.
    #[error("this host has no compiler (a runtime-only build) and {path} does not exist")]
    Missing {
        /// Where the artifact was looked for.
        path: PathBuf,
    },
    /// Compiling failed.
    #[error("compiling {path} for {target} failed: {message}")]
    Compile {
        /// The wasm file.
        path: PathBuf,
        /// The target.
        target: Target,
        /// wasmtime's reason.
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ArtifactError + '_ {
    move |source| ArtifactError::Io { path: path.to_path_buf(), source }
}

/// The lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the artifact of `wasm` for `target` and its record live, in the
/// `precompiled` folder of `owner` (the plugin's folder, or the module's).
pub fn artifact_paths(owner: &Path, wasm: &Path, target: &Target) -> (PathBuf, PathBuf) {
    let stem = wasm.file_stem().map_or_else(|| "plugin".into(), |s| s.to_string_lossy().into_owned());
    let dir = owner.join(PRECOMPILED_DIR);
    (dir.join(format!("{stem}.{target}.cwasm")), dir.join(format!("{stem}.{target}.json")))
}

/// Compiles `bytes` (a component or a core module) for `target`, with fuel
/// metering or not: the artifact and its record.
#[cfg(feature = "compiler")]
pub fn make(bytes: &[u8], target: &Target, fuel: bool) -> Result<(Vec<u8>, ArtifactRecord), String> {
    let kind = kind_of(bytes).ok_or("it is not WebAssembly")?;
    let config = crate::engine::config(target, fuel, crate::host::DEFAULT_MAX_WASM_STACK)
        .map_err(|e| format!("{e:#}"))?;
    let engine = wasmtime::Engine::new(&config).map_err(|e| format!("{e:#}"))?;
    let artifact = match kind {
        WasmKind::Component => engine.precompile_component(bytes),
        WasmKind::Module => engine.precompile_module(bytes),
    }
    .map_err(|e| format!("{e:#}"))?;
    let record = ArtifactRecord {
        kind,
        wasm_sha256: sha256_hex(bytes),
        artifact_sha256: sha256_hex(&artifact),
        profile: EngineProfile::new(target.clone(), fuel),
    };
    Ok((artifact, record))
}

/// Compiles the wasm file `wasm` for `target` (see [`make`]) and writes the
/// artifact and its record into `owner`'s `precompiled` folder; returns the
/// artifact's path.
#[cfg(feature = "compiler")]
pub fn precompile(owner: &Path, wasm: &Path, target: &Target, fuel: bool) -> Result<PathBuf, ArtifactError> {
    let bytes = std::fs::read(wasm).map_err(io(wasm))?;
    let (artifact, record) = make(&bytes, target, fuel).map_err(|message| ArtifactError::Compile {
        path: wasm.to_path_buf(),
        target: target.clone(),
        message,
    })?;
    let (artifact_path, record_path) = artifact_paths(owner, wasm, target);
    let dir = owner.join(PRECOMPILED_DIR);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    write_whole(&artifact_path, &artifact)?;
    write_whole(&record_path, &record.to_json())?;
    Ok(artifact_path)
}

impl ArtifactRecord {
    /// The record as its file holds it.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a record serializes")
    }
}

/// Writes under a temporary name, then renames, so no reader sees half a file.
#[cfg(feature = "compiler")]
fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
    let partial = path.with_extension(format!("partial-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&partial, bytes).map_err(io(&partial))?;
    std::fs::rename(&partial, path).map_err(io(path))
}

#[cfg(feature = "compiler")]
/// What `bytes` hold, if they are WebAssembly.
pub(crate) fn kind_of(bytes: &[u8]) -> Option<WasmKind> {
    if wasmparser::Parser::is_component(bytes) {
        Some(WasmKind::Component)
    } else if wasmparser::Parser::is_core_wasm(bytes) {
        Some(WasmKind::Module)
    } else {
        None
    }
}

/// Where a host may look for an artifact of one wasm file.
pub(crate) struct Lookup<'a> {
    /// The plugin's folder, or the legacy module's.
    pub owner: &'a Path,
    /// The wasm file.
    pub wasm: &'a Path,
    /// Its bytes, already read.
    pub bytes: &'a [u8],
    /// Whether artifacts in `owner` may be deserialized.
    pub trusted: bool,
}

/// The checked artifact bytes of `lookup` for `engine`: `None` when there is
/// no artifact for this target, an error when there is one the host must not
/// (or cannot) use.
pub(crate) fn verified(
    lookup: &Lookup<'_>,
    kind: WasmKind,
    engine: &EngineProfile,
) -> Result<Option<(PathBuf, Vec<u8>)>, ArtifactError> {
    let (artifact_path, record_path) = artifact_paths(lookup.owner, lookup.wasm, &engine.target);
    if !artifact_path.is_file() {
        return Ok(None);
    }
    if !lookup.trusted {
        // A host that can compile never needs it: the wasm beside it is enough.
        if crate::engine::HAS_COMPILER {
            tracing::info!(path = %artifact_path.display(), "not loading a precompiled artifact from a folder not marked trusted; compiling instead");
            return Ok(None);
        }
        return Err(ArtifactError::Untrusted { path: artifact_path });
    }
    let bad_record = |problem: String| ArtifactError::BadRecord { path: record_path.clone(), problem };
    let text = std::fs::read_to_string(&record_path).map_err(|e| bad_record(e.to_string()))?;
    let record: ArtifactRecord = serde_json::from_str(&text).map_err(|e| bad_record(e.to_string()))?;
    if let Some(problem) = record.profile.mismatch(engine) {
        return Err(ArtifactError::Mismatch { path: artifact_path, problem });
    }
    if record.kind != kind {
        return Err(bad_record(format!("it describes a {:?}, but the wasm is a {kind:?}", record.kind)));
    }
    if record.wasm_sha256 != sha256_hex(lookup.bytes) {
        return Err(ArtifactError::Stale { path: artifact_path, wasm: lookup.wasm.to_path_buf() });
    }
    let artifact = std::fs::read(&artifact_path).map_err(io(&artifact_path))?;
    if record.artifact_sha256 != sha256_hex(&artifact) {
        return Err(ArtifactError::Changed { path: artifact_path });
    }
    Ok(Some((artifact_path, artifact)))
}

/// The component of `lookup` from its verified artifact, if it has one.
pub(crate) fn component(
    engine: &wasmtime::Engine,
    profile: &EngineProfile,
    lookup: &Lookup<'_>,
) -> Result<Option<wasmtime::component::Component>, ArtifactError> {
    let Some((path, artifact)) = verified(lookup, WasmKind::Component, profile)? else { return Ok(None) };
    // SAFETY: the artifact comes from a trusted folder (see the module docs),
    // matches its record and was made from this very component.
    #[expect(unsafe_code, reason = "deserializing a verified artifact from a trusted origin")]
    let component = unsafe { wasmtime::component::Component::deserialize(engine, &artifact) };
    component.map(Some).map_err(|e| ArtifactError::Refused { path, message: format!("{e:#}") })
}

/// The module of `lookup` from its verified artifact, if it has one.
#[cfg_attr(not(feature = "legacy"), allow(dead_code))]
pub(crate) fn module(
    engine: &wasmtime::Engine,
    profile: &EngineProfile,
    lookup: &Lookup<'_>,
) -> Result<Option<wasmtime::Module>, ArtifactError> {
    let Some((path, artifact)) = verified(lookup, WasmKind::Module, profile)? else { return Ok(None) };
    // SAFETY: as for `component` above.
    #[expect(unsafe_code, reason = "deserializing a verified artifact from a trusted origin")]
    let module = unsafe { wasmtime::Module::deserialize(engine, &artifact) };
    module.map(Some).map_err(|e| ArtifactError::Refused { path, message: format!("{e:#}") })
}

impl ArtifactError {
    /// What to do about it, for the wasm of `what` (a plugin folder, a
    /// package or a module file) on a host of `profile`.
    pub fn remedy(&self, what: &Path, profile: &EngineProfile) -> String {
        let precompile = format!(
            "plinth precompile {} --target {}{}",
            what.display(),
            profile.target,
            if profile.fuel { " --fuel" } else { "" }
        );
        match self {
            ArtifactError::Untrusted { .. } => format!(
                "install the plugin from a package (plinth pack --precompile {} DIR, then plinth install), or, if this folder is as trusted as the application itself, start the host with trust_precompiled (plinth --trust-precompiled)",
                profile.target
            ),
            ArtifactError::Compile { .. } => {
                "fix the wasm file (plinth check shows why it does not compile)".into()
            }
            _ => format!("run `{precompile}` to make one that fits"),
        }
    }
}
