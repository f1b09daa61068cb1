//! The module store, `_external_modules/` under the data directory: add
//! (checked, then copied), list, remove, and the compiled-module cache that
//! `call` uses.

use super::{Inner, LegacyError, LegacyRunner, ModuleSource};
use crate::artifact;
use crate::sync::locked;
use serde::Serialize;
use std::io::Read;
use std::path::Path;
use std::time::SystemTime;
use wasmtime::Module;

/// An installed module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleInfo {
    /// Its file name, used to call it (`math.wasm`).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Size and modification time: a changed file is compiled again.
pub(crate) type Stamp = (u64, Option<SystemTime>);

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let metadata = std::fs::metadata(path)?;
    Ok((metadata.len(), metadata.modified().ok()))
}

/// A module's name as installed: `math` and `math.wasm` name the same module
/// (Bubbledesk's `modules.add("math")` and `call("math.wasm", …)` meet).
pub(crate) fn module_name(name: &str) -> String {
    if name.ends_with(".wasm") { name.to_string() } else { format!("{name}.wasm") }
}

fn check_name(name: &str) -> Result<(), LegacyError> {
    let valid = name.len() <= 128
        && name.ends_with(".wasm")
        && name.len() > ".wasm".len()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && !name.starts_with('.');
    if valid { Ok(()) } else { Err(LegacyError::InvalidName(name.to_string())) }
}

/// Reads a file, refusing one over `max` bytes before reading it.
pub(crate) fn read_limited(path: &Path, name: &str, max: u64) -> Result<Vec<u8>, LegacyError> {
    let file = std::fs::File::open(path).map_err(LegacyError::io(format!("opening {}", path.display())))?;
    let size = file.metadata().map_err(LegacyError::io(format!("reading {}", path.display())))?.len();
    if size > max {
        return Err(LegacyError::InvalidModule {
            module: name.to_string(),
            problem: format!("it is {size} bytes, over the {max}-byte limit"),
        });
    }
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(LegacyError::io(format!("reading {}", path.display())))?;
    Ok(bytes)
}

impl LegacyRunner {
    /// Installs the module file at `path` under its file name.
    pub fn add_module(&self, path: &Path) -> Result<ModuleInfo, LegacyError> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        check_name(&name)?;
        let bytes = read_limited(path, &name, self.inner.config.max_module_bytes)?;
        let owner = path.parent().unwrap_or(Path::new("."));
        self.install(
            &name,
            &bytes,
            Some(ModuleSource { owner, path, trusted: self.inner.code.trust_folders }),
        )
    }

    /// Installs `bytes` as module `name`, after checking they are a runnable
    /// wasip1 command module. Replaces a module of the same name.
    pub fn add_module_bytes(&self, name: &str, bytes: &[u8]) -> Result<ModuleInfo, LegacyError> {
        self.install(&module_name(name), bytes, None)
    }

    /// Installs module `name` from `bytes`, with the trusted precompiled
    /// artifact beside its `source` file when there is one.
    fn install(
        &self,
        name: &str,
        bytes: &[u8],
        source: Option<ModuleSource<'_>>,
    ) -> Result<ModuleInfo, LegacyError> {
        check_name(name)?;
        let max = self.inner.config.max_module_bytes;
        if bytes.len() as u64 > max {
            return Err(LegacyError::InvalidModule {
                module: name.to_string(),
                problem: format!("it is {} bytes, over the {max}-byte limit", bytes.len()),
            });
        }
        let module = self.inner.compile(name, bytes, source)?;
        let target = self.inner.modules_dir.join(name);
        if let Some(source) = source.filter(|s| s.trusted) {
            self.inner.copy_artifact(source, &target)?;
        }
        let partial =
            self.inner.modules_dir.join(format!(".{name}.{}.partial", uuid::Uuid::new_v4().simple()));
        std::fs::write(&partial, bytes).map_err(LegacyError::io(format!("writing {name}")))?;
        std::fs::rename(&partial, &target).map_err(LegacyError::io(format!("installing {name}")))?;
        let stamp = stamp(&target).map_err(LegacyError::io(format!("reading {name}")))?;
        self.inner.cache().insert(name.to_string(), (stamp, module));
        Ok(ModuleInfo { name: name.to_string(), size: bytes.len() as u64 })
    }

    /// The installed modules, by name.
    pub fn modules(&self) -> Result<Vec<ModuleInfo>, LegacyError> {
        let entries = std::fs::read_dir(&self.inner.modules_dir)
            .map_err(LegacyError::io("listing _external_modules"))?;
        let mut modules: Vec<ModuleInfo> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let size = entry.metadata().ok()?.len();
                check_name(&name).ok().map(|()| ModuleInfo { name, size })
            })
            .collect();
        modules.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(modules)
    }

    /// Removes an installed module (`math` or `math.wasm`).
    pub fn remove_module(&self, name: &str) -> Result<(), LegacyError> {
        let name = &module_name(name);
        check_name(name)?;
        self.inner.cache().remove(name);
        match std::fs::remove_file(self.inner.modules_dir.join(name)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(LegacyError::UnknownModule(name.to_string()))
            }
            Err(e) => Err(LegacyError::io(format!("removing {name}"))(e)),
        }
    }
}

impl Inner {
    /// Copies the artifact (and its record) of `source` for this host's
    /// target beside the installed module `installed`, if there is one.
    fn copy_artifact(&self, source: ModuleSource<'_>, installed: &Path) -> Result<(), LegacyError> {
        let target = &self.code.profile.target;
        let (artifact, record) = artifact::artifact_paths(source.owner, source.path, target);
        if !artifact.is_file() {
            return Ok(());
        }
        let (to_artifact, to_record) = artifact::artifact_paths(&self.modules_dir, installed, target);
        let folder = self.modules_dir.join(artifact::PRECOMPILED_DIR);
        std::fs::create_dir_all(&folder)
            .map_err(LegacyError::io("creating _external_modules/precompiled"))?;
        for (from, to) in [(record, to_record), (artifact, to_artifact)] {
            std::fs::copy(&from, &to).map_err(LegacyError::io(format!("copying {}", from.display())))?;
        }
        Ok(())
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, (Stamp, Module)>> {
        locked(&self.compiled)
    }

    /// The compiled installed module `name`, compiled again if its file changed.
    pub(crate) fn installed(&self, name: &str) -> Result<Module, LegacyError> {
        check_name(name)?;
        let path = self.modules_dir.join(name);
        let current = match stamp(&path) {
            Ok(current) => current,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(LegacyError::UnknownModule(name.to_string()));
            }
            Err(e) => return Err(LegacyError::io(format!("reading {name}"))(e)),
        };
        if let Some((cached, module)) = self.cache().get(name)
            && *cached == current
        {
            return Ok(module.clone());
        }
        let bytes = read_limited(&path, name, self.config.max_module_bytes)?;
        // The data directory is trusted like the database in it.
        let source = ModuleSource { owner: &self.modules_dir, path: &path, trusted: true };
        let module = self.compile(name, &bytes, Some(source))?;
        self.cache().insert(name.to_string(), (current, module.clone()));
        Ok(module)
    }
}
