//! Which engine runs plugin code: native machine code compiled by Cranelift
//! (the default on servers and desktops), or wasmtime's Pulley interpreter,
//! for platforms that forbid generating code at run time (iOS). Both share
//! every other setting, so a plugin gives the same answers on either.
//!
//! An engine's [`EngineProfile`] is what a precompiled artifact must share with
//! the host that loads it: the wasmtime version, the target and the settings
//! that change the generated code (fuel metering).

use serde::{Deserialize, Serialize};
use std::fmt;
use wasmtime::Config;

/// How plugin code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// Machine code for this CPU: fastest, needs a platform that allows JIT
    /// (or artifacts precompiled for this target).
    #[default]
    Native,
    /// The Pulley interpreter (`pulley64`, or `pulley32` on 32-bit hosts):
    /// runs where no code may be generated at run time.
    Pulley,
}

impl EngineKind {
    /// The names accepted by [`EngineKind::parse`], for messages.
    pub const NAMES: &'static str = "native, pulley";

    /// `native` or `pulley`.
    pub fn parse(name: &str) -> Result<EngineKind, String> {
        match name {
            "native" => Ok(EngineKind::Native),
            "pulley" | "interpreter" => Ok(EngineKind::Pulley),
            other => Err(format!("unknown engine `{other}`; use one of: {}", EngineKind::NAMES)),
        }
    }

    /// The target this engine runs code for on this machine.
    pub fn target(self) -> Target {
        match self {
            EngineKind::Native => Target::native(),
            EngineKind::Pulley => Target::pulley(),
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EngineKind::Native => "native",
            EngineKind::Pulley => "pulley",
        })
    }
}

/// What code is made for: `pulley64`, `pulley32`, or a target triple such as
/// `x86_64-unknown-linux-gnu` or `aarch64-apple-ios` (native code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Target(String);

impl Target {
    /// This machine's own triple: what [`EngineKind::Native`] runs.
    pub fn native() -> Target {
        Target(target_lexicon::HOST.to_string())
    }

    /// The interpreter of this machine's pointer width.
    pub fn pulley() -> Target {
        Target(if cfg!(target_pointer_width = "64") { "pulley64" } else { "pulley32" }.to_string())
    }

    /// `native`, `pulley` (this machine's width), `pulley64`, `pulley32` or a
    /// target triple.
    pub fn parse(name: &str) -> Result<Target, String> {
        match name {
            "native" => Ok(Target::native()),
            "pulley" => Ok(Target::pulley()),
            "pulley32" | "pulley64" => Ok(Target(name.to_string())),
            triple => match triple.parse::<target_lexicon::Triple>() {
                Ok(parsed) => Ok(Target(parsed.to_string())),
                Err(error) => Err(format!(
                    "unknown target `{triple}` ({error}); use native, pulley64, pulley32 or a target triple"
                )),
            },
        }
    }

    /// Whether this is the Pulley interpreter.
    pub fn is_pulley(&self) -> bool {
        self.0.starts_with("pulley")
    }

    /// The name, as in artifact file names.
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a precompiled artifact must share with the engine that loads it.
/// wasmtime checks more (CPU features, every tunable) when it deserializes;
/// these are the parts a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineProfile {
    /// The wasmtime version that made the code (Pulley bytecode is not stable across versions).
    pub wasmtime: String,
    /// The target the code is for.
    pub target: Target,
    /// Fuel metering, which adds counting to every function.
    pub fuel: bool,
}

impl EngineProfile {
    /// The profile of an engine for `target`, metering fuel or not.
    pub fn new(target: Target, fuel: bool) -> EngineProfile {
        EngineProfile { wasmtime: WASMTIME_VERSION.to_string(), target, fuel }
    }

    /// How `self` (an artifact's) differs from `engine` (the host's), if it does.
    pub fn mismatch(&self, engine: &EngineProfile) -> Option<String> {
        if self.wasmtime != engine.wasmtime {
            Some(format!(
                "it was made by wasmtime {}, this host runs wasmtime {}",
                self.wasmtime, engine.wasmtime
            ))
        } else if self.target != engine.target {
            Some(format!("it was made for {}, this host runs {}", self.target, engine.target))
        } else if self.fuel != engine.fuel {
            let on = |fuel: bool| if fuel { "on" } else { "off" };
            Some(format!(
                "it was made with fuel metering {}, this host has it {}",
                on(self.fuel),
                on(engine.fuel)
            ))
        } else {
            None
        }
    }

    /// A short key for cache file names.
    pub(crate) fn cache_key(&self) -> String {
        format!("{}-{}{}", self.wasmtime, self.target, if self.fuel { "-fuel" } else { "" })
    }
}

/// The wasmtime this crate links (pinned in the workspace).
pub const WASMTIME_VERSION: &str = "48.0.8";

/// Whether this build can compile wasm (feature `compiler`); without it the
/// host loads precompiled artifacts only.
pub const HAS_COMPILER: bool = cfg!(feature = "compiler");

/// The wasmtime configuration every engine of this host shares, for `target`.
pub(crate) fn config(target: &Target, fuel: bool, max_wasm_stack: usize) -> wasmtime::Result<Config> {
    let mut config = Config::new();
    config.epoch_interruption(true).max_wasm_stack(max_wasm_stack).consume_fuel(fuel);
    // Native code for this machine is wasmtime's default (and then uses every
    // CPU feature found); anything else is named.
    if *target != Target::native() {
        config.target(target.name())?;
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_by_name_and_triple() {
        assert_eq!(Target::parse("pulley64").unwrap().name(), "pulley64");
        assert!(Target::parse("pulley32").unwrap().is_pulley());
        assert_eq!(Target::parse("native").unwrap(), Target::native());
        assert_eq!(Target::parse("aarch64-apple-ios").unwrap().name(), "aarch64-apple-ios");
        assert!(Target::parse("not a target").unwrap_err().contains("pulley64"));
    }

    #[test]
    fn a_profile_names_what_differs() {
        let host = EngineProfile::new(Target::pulley(), false);
        let other_version = EngineProfile { wasmtime: "47.0.0".into(), ..host.clone() };
        assert!(other_version.mismatch(&host).unwrap().contains("wasmtime 47.0.0"));
        let native = EngineProfile::new(Target::native(), false);
        assert!(native.mismatch(&host).unwrap().contains("made for"));
        let fuel = EngineProfile::new(Target::pulley(), true);
        assert!(fuel.mismatch(&host).unwrap().contains("fuel metering on"));
        assert_eq!(host.mismatch(&host.clone()), None);
    }

    #[test]
    fn the_version_named_is_the_version_linked() {
        let lock = include_str!("../../Cargo.lock");
        assert!(lock.contains(&format!("name = \"wasmtime\"\nversion = \"{WASMTIME_VERSION}\"")));
    }
}
