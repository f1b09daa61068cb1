//! The `plinth` subcommands other than `serve`.

pub mod build;
pub mod call;
pub mod check;
pub mod demo;
pub mod dev;
pub mod inspect;
pub mod legacy;
pub mod new;
pub mod test_cases;

/// A host on `data_dir` whose compiled components are kept between runs (in
/// the system's temporary folder), so `check`, `call` and `test` of an
/// unchanged component do not compile it again.
pub fn host_with_compile_cache(data_dir: &std::path::Path) -> anyhow::Result<plinth_host::Host> {
    let mut config = plinth_host::HostConfig::new(data_dir);
    config.compile_cache_dir = Some(std::env::temp_dir().join("plinth-compile-cache"));
    Ok(plinth_host::Host::with_config(config)?)
}
