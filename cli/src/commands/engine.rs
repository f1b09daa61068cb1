//! The engine every host this process opens runs on (`--engine`, a global
//! option), and whether plugin folders' precompiled artifacts are trusted
//! (`--trust-precompiled`).

use plinth_host::{EngineKind, HostConfig};
use std::sync::OnceLock;

/// What the command line chose.
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineChoice {
    /// Native code or the Pulley interpreter.
    pub engine: EngineKind,
    /// Artifacts in plugin folders load as the application's own code.
    pub trust_precompiled: bool,
}

static CHOICE: OnceLock<EngineChoice> = OnceLock::new();

/// Records the command line's choice (once, at start).
pub fn choose(choice: EngineChoice) {
    let _ = CHOICE.set(choice);
}

/// Applies the choice to a host configuration.
pub fn apply(config: &mut HostConfig) {
    let choice = CHOICE.get().copied().unwrap_or_default();
    config.engine = choice.engine;
    config.trust_precompiled = choice.trust_precompiled;
}
