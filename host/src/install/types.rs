//! What an install is: the operator's rules, a package to install, what a
//! plugin asks for (its consent request), and the records of installs.

use super::index::{Signature, TrustedKey};
use crate::limits::Limits;
use crate::manifest::{PanelDeclaration, SettingSchema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The operator's rules for installs.
#[derive(Debug, Clone)]
pub struct InstallConfig {
    /// Largest package accepted, in bytes.
    pub max_package_bytes: u64,
    /// Most bytes a package may unpack to.
    pub max_unpacked_bytes: u64,
    /// Most files and folders in a package.
    pub max_files: usize,
    /// Publisher keys whose signatures count.
    pub trusted_keys: Vec<TrustedKey>,
    /// Refuse packages not signed by a trusted key.
    pub require_signatures: bool,
}

impl Default for InstallConfig {
    fn default() -> Self {
        InstallConfig {
            max_package_bytes: 64 << 20,
            max_unpacked_bytes: 256 << 20,
            max_files: 10_000,
            trusted_keys: Vec::new(),
            require_signatures: false,
        }
    }
}

/// A package to install, and what it must match.
#[derive(Debug, Clone)]
pub struct Package<'a> {
    /// The archive's bytes.
    pub bytes: &'a [u8],
    /// Where it came from, for messages and the record (`file x.tgz`, `index …`).
    pub origin: String,
    /// The plugin id it must hold (installing by id).
    pub expected_id: Option<String>,
    /// The SHA-256 (hex) it must have (from an index).
    pub expected_sha256: Option<String>,
    /// The size it must have (from an index).
    pub expected_size: Option<u64>,
    /// Its publisher's signature, if any.
    pub signature: Option<Signature>,
}

impl<'a> Package<'a> {
    /// A package with nothing to match (a local file or folder).
    pub fn local(bytes: &'a [u8], origin: impl Into<String>) -> Package<'a> {
        Package {
            bytes,
            origin: origin.into(),
            expected_id: None,
            expected_sha256: None,
            expected_size: None,
            signature: None,
        }
    }
}

/// What a plugin asks for: what an operator approves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginRequest {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its description.
    pub description: Option<String>,
    /// The WIT version its component was built against.
    pub wit_version: String,
    /// The roles it exports: `events` (sees every entity write), `routes`
    /// (serves `/api/plugins/{id}/…`), `field-widget`.
    pub exports: Vec<String>,
    /// The host functions it asks to call.
    pub host_functions: Vec<String>,
    /// The limits its calls would run under on this host.
    pub limits: Limits,
    /// Its field widgets, by id.
    pub widgets: Vec<String>,
    /// Its front-end panels.
    pub panels: Vec<PanelDeclaration>,
    /// The settings it declares.
    pub settings: BTreeMap<String, SettingSchema>,
}

/// Whether an install runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallState {
    /// Waiting for approval; not loaded.
    Pending,
    /// Approved, installed and loaded.
    Approved,
}

/// An install: the record kept beside the plugin (`install.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Install {
    /// The plugin's id.
    pub id: String,
    /// The package's version.
    pub version: String,
    /// Pending or approved.
    pub state: InstallState,
    /// Why it waits for approval (empty once approved).
    pub reasons: Vec<String>,
    /// What it asks for.
    pub request: PluginRequest,
    /// The package's SHA-256.
    pub sha256: String,
    /// Where it came from.
    pub origin: String,
    /// The trusted key that signed it, if any.
    pub signed_by: Option<String>,
    /// The approved version it would replace, if any.
    pub replaces: Option<String>,
}

/// What an uninstall did.
#[derive(Debug, Clone, Serialize)]
pub struct Uninstalled {
    /// The plugin's id.
    pub id: String,
    /// The version removed, if one was installed.
    pub version: Option<String>,
    /// Whether a pending install was dropped too.
    pub dropped_pending: bool,
    /// `kept` (its storage and settings stay, for a later install) or `removed`.
    pub data: &'static str,
}

/// Why `asked` needs approval again after `approved`: new grants, higher
/// limits, new exports. Empty: it asks for no more.
pub(super) fn consent_reasons(approved: &PluginRequest, asked: &PluginRequest) -> Vec<String> {
    let mut reasons = Vec::new();
    for grant in asked.host_functions.iter().filter(|g| !approved.host_functions.contains(g)) {
        reasons.push(format!("asks for `{grant}`, which version {} was not granted", approved.version));
    }
    let (old, new) = (serde_json::to_value(approved.limits), serde_json::to_value(asked.limits));
    if let (Ok(serde_json::Value::Object(old)), Ok(serde_json::Value::Object(new))) = (old, new) {
        for (name, value) in &new {
            if let (Some(asked), Some(had)) = (value.as_u64(), old.get(name).and_then(|v| v.as_u64()))
                && asked > had
            {
                reasons.push(format!(
                    "asks for a higher `{name}`: {asked}, where version {} had {had}",
                    approved.version
                ));
            }
        }
    }
    for export in asked.exports.iter().filter(|e| !approved.exports.contains(e)) {
        reasons.push(format!("exports `{export}`, which version {} did not", approved.version));
    }
    reasons
}
