//! The legacy adapter: runs plain `wasm32-wasip1` command modules that speak
//! one line of JSON (`{"fn":"add","args":[3,5]}` → `{"ok":true,"value":8}`),
//! unchanged, under the worker's rules. Each job gets a fresh store on the
//! host's engine, its own folder `_sandbox/<jobId>` mapped as `/`, the request
//! as stdin, capped stdout and stderr, no environment, no arguments beyond the
//! program name, no network, and a wall-clock limit.

mod error;
mod folders;
pub mod protocol;
mod queue;
mod store;

pub use error::LegacyError;
pub use protocol::LegacyReply;
pub use store::ModuleInfo;

use crate::artifact::{self, ArtifactError, Lookup};
use folders::JobFolders;
use queue::JobSlots;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use wasmtime::{Engine, Linker, Module, Store, StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

/// Folder of the per-job sandboxes, under the data directory.
pub const SANDBOX_DIR: &str = "_sandbox";
/// Folder of the installed modules, under the data directory.
pub const MODULES_DIR: &str = "_external_modules";

/// Limits and sizes of the legacy adapter.
#[derive(Debug, Clone)]
pub struct LegacyConfig {
    /// Wall-clock time one job may run.
    pub timeout: Duration,
    /// Jobs running or waiting at once; one more is refused as busy.
    pub max_pending: usize,
    /// Jobs running in parallel.
    pub workers: usize,
    /// Largest request.
    pub max_input_bytes: usize,
    /// Largest stdout kept; more is a protocol error.
    pub max_output_bytes: usize,
    /// Stderr kept for the log and for error messages.
    pub max_stderr_bytes: usize,
    /// Linear memory one job may grow to.
    pub memory_bytes: usize,
    /// Largest module accepted.
    pub max_module_bytes: u64,
    /// Keep each job's folder after it ends (for debugging).
    pub keep_sandboxes: bool,
    /// Wipe `_sandbox/` when the adapter starts. The server does; one-off CLI
    /// commands do not, so they never disturb a server on the same data directory.
    pub wipe_sandboxes_on_start: bool,
}

impl Default for LegacyConfig {
    fn default() -> Self {
        LegacyConfig {
            timeout: Duration::from_secs(10),
            max_pending: 64,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_input_bytes: 1 << 20,
            max_output_bytes: 1 << 20,
            max_stderr_bytes: 64 << 10,
            memory_bytes: 256 << 20,
            max_module_bytes: 64 << 20,
            keep_sandboxes: false,
            wipe_sandboxes_on_start: true,
        }
    }
}

struct JobState {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
}

/// What a module's precompiled artifact must match, and whether artifacts
/// beside module files outside the data directory are trusted
/// ([`crate::HostConfig::trust_precompiled`]).
#[derive(Debug, Clone)]
pub(crate) struct ModuleCode {
    pub profile: crate::engine::EngineProfile,
    pub trust_folders: bool,
}

/// A module file, its folder, and whether artifacts there are trusted.
#[derive(Clone, Copy)]
pub(crate) struct ModuleSource<'a> {
    pub owner: &'a Path,
    pub path: &'a Path,
    pub trusted: bool,
}

/// Runs legacy jobs and keeps the installed modules. Reach it through
/// [`Host::legacy`](crate::Host::legacy).
pub struct LegacyRunner {
    inner: Inner,
    slots: JobSlots,
}

struct Inner {
    engine: Engine,
    linker: Linker<JobState>,
    config: LegacyConfig,
    /// Each job's own folder under `_sandbox/`.
    folders: JobFolders,
    modules_dir: PathBuf,
    compiled: Mutex<HashMap<String, (store::Stamp, Module)>>,
    /// What precompiled artifacts must match, and whether module files'
    /// folders are trusted with them (installed modules' always are).
    code: ModuleCode,
    next_job: AtomicU64,
    /// The host's runtime: a job is a future under a timer, so it ends at its
    /// limit even while the module sleeps.
    runtime: tokio::runtime::Handle,
}

impl LegacyRunner {
    /// Sets up the adapter in `data_dir`; wipes what earlier runs left in
    /// `_sandbox/` (unless configured not to).
    pub(crate) fn new(
        engine: Engine,
        data_dir: &Path,
        config: LegacyConfig,
        code: ModuleCode,
        runtime: tokio::runtime::Handle,
    ) -> Result<LegacyRunner, LegacyError> {
        let sandbox_root = data_dir.join(SANDBOX_DIR);
        if config.wipe_sandboxes_on_start && sandbox_root.exists() {
            std::fs::remove_dir_all(&sandbox_root).map_err(LegacyError::io("wiping _sandbox"))?;
        }
        std::fs::create_dir_all(&sandbox_root).map_err(LegacyError::io("creating _sandbox"))?;
        let modules_dir = data_dir.join(MODULES_DIR);
        std::fs::create_dir_all(&modules_dir).map_err(LegacyError::io("creating _external_modules"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state: &mut JobState| &mut state.wasi).map_err(
            |e| LegacyError::Io {
                operation: "linking WASI preview 1".into(),
                source: std::io::Error::other(format!("{e:#}")),
            },
        )?;
        let slots = JobSlots::new(config.workers, config.max_pending);
        let folders = JobFolders::new(sandbox_root, config.workers, config.keep_sandboxes);
        let inner = Inner {
            engine,
            linker,
            config,
            folders,
            modules_dir,
            compiled: Mutex::default(),
            code,
            next_job: AtomicU64::new(1),
            runtime,
        };
        Ok(LegacyRunner { inner, slots })
    }

    /// The adapter's configuration.
    pub fn config(&self) -> &LegacyConfig {
        &self.inner.config
    }

    /// Jobs running or waiting now.
    pub fn pending(&self) -> usize {
        self.slots.pending()
    }

    /// Runs the module file at `path` (not installed) on `request`.
    pub fn run_file(&self, path: &Path, request: &[u8]) -> Result<LegacyReply, LegacyError> {
        let name =
            path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let bytes = store::read_limited(path, &name, self.inner.config.max_module_bytes)?;
        let owner = path.parent().unwrap_or(Path::new("."));
        let source = ModuleSource { owner, path, trusted: self.inner.code.trust_folders };
        let module = self.inner.compile(&name, &bytes, Some(source))?;
        self.run(&name, module, request)
    }

    /// Runs the installed module `name` (`math.wasm`, or `math`) on `request`,
    /// on the calling thread (waiting while `workers` jobs run). Like the
    /// host's other blocking methods, call it from async code inside
    /// `spawn_blocking`.
    pub fn call(&self, name: &str, request: &[u8]) -> Result<LegacyReply, LegacyError> {
        let name = &store::module_name(name);
        let module = self.inner.installed(name)?;
        self.run(name, module, request)
    }

    fn run(&self, name: &str, module: Module, request: &[u8]) -> Result<LegacyReply, LegacyError> {
        let config = &self.inner.config;
        if request.len() > config.max_input_bytes {
            return Err(LegacyError::InputTooLarge {
                module: name.to_string(),
                size: request.len(),
                max: config.max_input_bytes,
            });
        }
        protocol::check_request(request)
            .map_err(|problem| LegacyError::InvalidRequest { module: name.to_string(), problem })?;
        let ran = self.slots.run(|| self.inner.execute(name, &module, request.to_vec()))?;
        ran.unwrap_or_else(|| {
            Err(LegacyError::Trap {
                module: name.to_string(),
                message: "the host failed while running the job".into(),
            })
        })
    }
}

impl Inner {
    /// Checks and compiles module bytes: `\0asm`, a core module (not a
    /// component), WASI preview 1 imports only, and a `_start` to run. The
    /// code comes from the precompiled artifact beside the file in `source`
    /// when there is one, else from the compiler.
    fn compile(
        &self,
        name: &str,
        bytes: &[u8],
        source: Option<ModuleSource<'_>>,
    ) -> Result<Module, LegacyError> {
        let invalid = |problem: String| LegacyError::InvalidModule { module: name.to_string(), problem };
        if !bytes.starts_with(b"\0asm") {
            return Err(invalid("it is not WebAssembly (it does not start with \\0asm)".into()));
        }
        if wasmparser::Parser::is_component(bytes) {
            return Err(invalid(
                "it is a component, not a core module; legacy modules are plain wasm32-wasip1 programs (load components as plugins instead)".into(),
            ));
        }
        let module = self.code(name, bytes, source)?;
        if let Some(import) = module.imports().find(|i| i.module() != "wasi_snapshot_preview1") {
            return Err(invalid(format!(
                "it imports `{}::{}`; legacy modules may import only wasi_snapshot_preview1",
                import.module(),
                import.name()
            )));
        }
        if !matches!(module.get_export("_start"), Some(wasmtime::ExternType::Func(_))) {
            return Err(invalid(
                "it has no `_start`; build it as a command (a program with `fn main()`) for wasm32-wasip1"
                    .into(),
            ));
        }
        Ok(module)
    }

    /// The module's code: a verified artifact, else compiled here (a build
    /// without a compiler has only the artifact).
    fn code(
        &self,
        name: &str,
        bytes: &[u8],
        source: Option<ModuleSource<'_>>,
    ) -> Result<Module, LegacyError> {
        let profile = &self.code.profile;
        let unusable = |error: ArtifactError, what: &Path| LegacyError::InvalidModule {
            module: name.to_string(),
            problem: format!("{error}; {}", error.remedy(what, profile)),
        };
        if let Some(source) = &source {
            let lookup = Lookup { owner: source.owner, wasm: source.path, bytes, trusted: source.trusted };
            match artifact::module(&self.engine, profile, &lookup) {
                Ok(Some(module)) => return Ok(module),
                Ok(None) => {}
                Err(error) => return Err(unusable(error, source.path)),
            }
        }
        #[cfg(feature = "compiler")]
        {
            Module::from_binary(&self.engine, bytes).map_err(|e| LegacyError::InvalidModule {
                module: name.to_string(),
                problem: format!("it does not compile: {e:#}"),
            })
        }
        #[cfg(not(feature = "compiler"))]
        {
            let path = source.map_or_else(|| PathBuf::from(name), |s| s.path.to_path_buf());
            let owner = path.parent().unwrap_or(Path::new(".")).to_path_buf();
            let missing =
                ArtifactError::Missing { path: artifact::artifact_paths(&owner, &path, &profile.target).0 };
            Err(unusable(missing, &path))
        }
    }

    fn execute(&self, name: &str, module: &Module, input: Vec<u8>) -> Result<LegacyReply, LegacyError> {
        let job_id =
            format!("{:06}-{}", self.next_job.fetch_add(1, Ordering::Relaxed), uuid::Uuid::new_v4().simple());
        let mut folder = self
            .folders
            .make(&job_id)
            .map_err(LegacyError::io(format!("creating the job folder {job_id}")))?;
        let result = self.run_in(name, module, input, folder.path());
        // A job stopped at its limit may still have a file operation running
        // on the runtime's blocking pool: its folder is never reused.
        folder.clean = result.is_ok();
        result
    }

    fn run_in(
        &self,
        name: &str,
        module: &Module,
        input: Vec<u8>,
        job_dir: &Path,
    ) -> Result<LegacyReply, LegacyError> {
        let config = &self.config;
        // One byte over the limit tells "exactly full" from "overflowed".
        let stdout = MemoryOutputPipe::new(config.max_output_bytes + 1);
        let stderr = MemoryOutputPipe::new(config.max_stderr_bytes);
        let mut builder = WasiCtxBuilder::new();
        builder.stdin(MemoryInputPipe::new(input)).stdout(stdout.clone()).stderr(stderr.clone()).arg(name);
        builder.preopened_dir(job_dir, "/", FsPerms::ReadWrite).map_err(|e| LegacyError::Io {
            operation: "opening the job folder".into(),
            source: std::io::Error::other(format!("{e:#}")),
        })?;
        let state = JobState {
            wasi: builder.build_p1(),
            limits: StoreLimitsBuilder::new()
                .memory_size(config.memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        // The timer below stops the job; unmetered within it.
        crate::sandbox::stoppable(&mut store, self.code.profile.fuel, None).map_err(|e| {
            LegacyError::Trap { module: name.to_string(), message: format!("setting fuel: {e:#}") }
        })?;

        let job = async {
            let instance = self.linker.instantiate_async(&mut store, module).await?;
            instance.get_typed_func::<(), ()>(&mut store, "_start")?.call_async(&mut store, ()).await
        };
        // The timer is made inside the runtime (its constructor needs one).
        let outcome = match self.runtime.block_on(async { tokio::time::timeout(config.timeout, job).await }) {
            Ok(outcome) => outcome,
            Err(_elapsed) => {
                return Err(LegacyError::Timeout {
                    module: name.to_string(),
                    limit_ms: config.timeout.as_millis(),
                });
            }
        };
        let errors = String::from_utf8_lossy(&stderr.contents()).into_owned();
        for line in errors.lines().filter(|l| !l.is_empty()) {
            tracing::info!(module = name, stream = "stderr", "{}", crate::plugin_log::escaped(line));
        }
        let written = stdout.contents();
        if written.len() > config.max_output_bytes {
            return Err(LegacyError::Protocol {
                module: name.to_string(),
                source: protocol::ProtocolError::TooLarge(config.max_output_bytes),
            });
        }
        if let Err(error) = outcome {
            match error.downcast_ref::<I32Exit>() {
                Some(I32Exit(0)) => {}
                Some(I32Exit(code)) => {
                    return Err(LegacyError::Exit {
                        module: name.to_string(),
                        code: *code,
                        stderr_tail: tail(&errors),
                    });
                }
                None if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) => {
                    return Err(LegacyError::Timeout {
                        module: name.to_string(),
                        limit_ms: config.timeout.as_millis(),
                    });
                }
                None => {
                    return Err(LegacyError::Trap {
                        module: name.to_string(),
                        message: format!("{error:#}"),
                    });
                }
            }
        }
        protocol::parse_reply(&written)
            .map_err(|source| LegacyError::Protocol { module: name.to_string(), source })
    }
}

/// The last few hundred bytes of stderr, for error messages.
fn tail(text: &str) -> String {
    const KEEP: usize = 512;
    let trimmed = text.trim_end();
    let tail = &trimmed[trimmed.ceil_char_boundary(trimmed.len().saturating_sub(KEEP))..];
    if tail.is_empty() { "(nothing)".to_string() } else { tail.to_string() }
}
