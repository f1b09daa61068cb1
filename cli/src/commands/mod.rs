//! The `plinth` subcommands other than `serve`.

pub mod build;
pub mod call;
pub mod check;
pub mod database_mark;
pub mod demo;
pub mod dev;
pub mod engine;
pub mod inspect;
pub mod install;
pub mod legacy;
pub mod migrate;
pub mod new;
pub mod precompile;
pub mod test_cases;

/// A host on `data_dir` whose compiled components are kept between runs in
/// the user's own cache folder (`$XDG_CACHE_HOME/plinth-compile-cache`, or
/// `~/.cache/…`), so `check`, `call` and `test` of an unchanged component do
/// not compile it again. Compiled code is loaded as native code, so the cache
/// never lives where another user could write (not in a shared temp folder);
/// without a home, nothing is cached.
pub fn host_with_compile_cache(data_dir: &std::path::Path) -> anyhow::Result<plinth_host::Host> {
    host_from(plinth_host::HostConfig::new(data_dir))
}

/// [`host_with_compile_cache`] from `config` (a test case's: its data
/// directory and the application functions it mocks).
pub fn host_from(mut config: plinth_host::HostConfig) -> anyhow::Result<plinth_host::Host> {
    database_mark::refuse_without_database(&config.data_dir)?;
    engine::apply(&mut config);
    match plinth_host::HostConfig::user_compile_cache_dir() {
        Some(dir) => config.compile_cache_dir = Some(dir),
        None => config.compile_cache = false,
    }
    Ok(plinth_host::Host::with_config(config)?)
}
