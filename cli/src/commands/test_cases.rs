//! `plinth test DIR`: the plugin's declarative test cases (`plinth_test::cases`),
//! each in a throw-away host of this command line's engine, after a warning
//! when the component is older than its sources.

use std::path::Path;

/// Runs every case of the plugin in `dir`; false if any failed.
pub fn run(dir: &Path) -> anyhow::Result<bool> {
    warn_if_stale(dir);
    plinth_test::cases::run(dir, &super::host_from)
}

/// Says so when a watched source is newer than the component: the cases
/// would test an old build.
fn warn_if_stale(dir: &Path) {
    let Ok(Some(build)) = super::build::plugin_build(dir) else { return };
    let Ok(built) = std::fs::metadata(&build.module).and_then(|m| m.modified()) else {
        eprintln!(
            "plinth: {} is missing; run `plinth build {}` first",
            build.module.display(),
            dir.display()
        );
        return;
    };
    if let Some((source, ..)) =
        build.fingerprint().into_iter().find(|(_, _, at)| at.is_some_and(|at| at > built))
    {
        eprintln!(
            "plinth: {} is newer than the component; run `plinth build {}` to test your latest code",
            source.display(),
            dir.display()
        );
    }
}
