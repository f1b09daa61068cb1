//! [`TestHostBuilder`]: strict mode, expectations, where compiled components
//! are cached, and any other [`HostConfig`] setting a test needs.

use crate::TestHost;
use crate::strict::Recorder;
use plinth_host::capabilities::ObserveHostCall;
use plinth_host::manifest::HostFunction;
use plinth_host::{Host, HostCallObserver, HostConfig};
use std::path::PathBuf;
use std::sync::Arc;

/// Where compiled components are kept.
#[derive(Debug, Clone, Default)]
enum CompileCache {
    /// The user's cache folder, as the `plinth` tool does.
    #[default]
    UserCache,
    /// This folder.
    Dir(PathBuf),
    /// Nowhere: every load compiles.
    Off,
}

/// A change to the host's configuration, applied before it opens.
type Configure = dyn FnOnce(&mut HostConfig);

/// Builds a [`TestHost`]: `TestHost::builder().strict().build()`.
#[derive(Default)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct TestHostBuilder {
    strict: bool,
    expected: Vec<(String, Vec<HostFunction>)>,
    compile_cache: CompileCache,
    configure: Vec<Box<Configure>>,
}

impl TestHostBuilder {
    /// Strict mode from the start: every host call a plugin makes must have
    /// been declared with [`expect_host_calls`](Self::expect_host_calls) (here
    /// or on the [`TestHost`]), or the test fails.
    pub fn strict(mut self) -> Self {
        self.strict = true;
        self
    }

    /// Declares host functions `plugin` may call, and turns strict mode on.
    /// Declarations add up; pass `HostFunction::ALL` to let one plugin call
    /// anything while others stay strict.
    pub fn expect_host_calls(mut self, plugin: &str, functions: &[HostFunction]) -> Self {
        self.strict = true;
        self.expected.push((plugin.to_string(), functions.to_vec()));
        self
    }

    /// Keeps compiled components in `dir` instead of the user's cache folder
    /// (a CI job's cache, a workspace's `target/`). Only point it at a folder
    /// no one else can write: the host loads native code from it.
    pub fn compile_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.compile_cache = CompileCache::Dir(dir.into());
        self
    }

    /// Compiles every component on every load (slow: seconds for a large
    /// component), leaving no file behind.
    pub fn no_compile_cache(mut self) -> Self {
        self.compile_cache = CompileCache::Off;
        self
    }

    /// Changes any other setting of the host (limits, ceilings, the circuit
    /// breaker, the instance pool) before it opens. The data directory stays
    /// the harness's temporary one, and a `host_call_observer` set here is
    /// called after the harness's own.
    pub fn configure(mut self, change: impl FnOnce(&mut HostConfig) + 'static) -> Self {
        self.configure.push(Box::new(change));
        self
    }

    /// Opens the host on a new temporary data directory, removed when the
    /// [`TestHost`] is dropped. Panics when it cannot (no temporary folder,
    /// an engine that cannot start): nothing in the test could go on.
    #[track_caller]
    pub fn build(self) -> TestHost {
        let data = match tempfile::Builder::new().prefix("plinth-test-").tempdir() {
            Ok(data) => data,
            Err(e) => panic!("plinth-test: cannot create a temporary data directory: {e}"),
        };
        let mut config = HostConfig::new(data.path());
        // Many tests run in parallel, each with its own host: instances on
        // demand keep each one from reserving a pool's address space. Limits
        // (memory, time, fuel) and grants are enforced the same either way.
        config.pooling = None;
        match self.compile_cache {
            // A home folder that cannot hold a cache (read-only in some CI
            // sandboxes) only makes loads slower, never fails the test.
            // The folder the `plinth` tool uses: artifacts are named by the
            // component's bytes and the engine's configuration, so each kind
            // of host finds only its own.
            CompileCache::UserCache => match HostConfig::user_compile_cache_dir() {
                Some(dir) if std::fs::create_dir_all(&dir).is_ok() => config.compile_cache_dir = Some(dir),
                _ => config.compile_cache = false,
            },
            CompileCache::Dir(dir) => config.compile_cache_dir = Some(dir),
            CompileCache::Off => config.compile_cache = false,
        }
        for change in self.configure {
            change(&mut config);
        }
        config.data_dir = data.path().to_path_buf();
        let recorder = Arc::new(Recorder::new(self.strict, &self.expected));
        let theirs = config.host_call_observer.take();
        let ours = recorder.clone();
        let observer: Arc<ObserveHostCall> = Arc::new(move |plugin: &str, function: HostFunction| {
            ours.observe(plugin, function);
            if let Some(theirs) = &theirs {
                (theirs.0)(plugin, function);
            }
        });
        config.host_call_observer = Some(HostCallObserver(observer));
        let host = match Host::with_config(config) {
            Ok(host) => host,
            Err(e) => panic!("plinth-test: cannot open a host on {}: {e}", data.path().display()),
        };
        TestHost::assemble(host, recorder, data)
    }
}
