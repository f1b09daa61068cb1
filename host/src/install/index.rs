//! Registry indexes and publisher signatures.
//!
//! An index is a JSON file listing packages:
//! `{"plugins": [{id, version, wit, url, sha256, size, grants, signature?}]}`.
//! The host picks the newest version whose `wit` range (a semver requirement
//! such as `>=0.1.0, <0.3.0`) admits a WIT version it supports, and checks
//! the downloaded package's size and SHA-256 against the entry before
//! unpacking it. A `signature` is an ed25519 signature of the package's
//! 32-byte SHA-256 digest by a publisher key the operator trusts.

use super::error::InstallError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

/// A registry index.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Index {
    /// Every listed package version.
    pub plugins: Vec<IndexEntry>,
}

/// One package version in an index.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct IndexEntry {
    /// The plugin's id.
    pub id: String,
    /// Its version (semver).
    pub version: String,
    /// A line about it.
    #[serde(default)]
    pub description: Option<String>,
    /// The WIT versions it works with, as a semver requirement (`^0.2`).
    pub wit: String,
    /// Where the package is: an absolute URL, or a path relative to the index.
    pub url: String,
    /// The package's SHA-256, lowercase hex.
    pub sha256: String,
    /// The package's size in bytes.
    pub size: u64,
    /// The grants its manifest asks for (shown before download; the
    /// manifest inside is what counts, and what is approved).
    #[serde(default)]
    pub grants: Vec<String>,
    /// The publisher's signature, if any.
    #[serde(default)]
    pub signature: Option<Signature>,
}

/// An ed25519 signature of a package's SHA-256 digest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Signature {
    /// The name of the key, as the operator's trusted keys list it.
    pub key: String,
    /// The 64-byte signature, base64.
    pub ed25519: String,
}

/// A publisher key the operator trusts.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// Its name, as signatures cite it.
    pub name: String,
    key: ed25519_dalek::VerifyingKey,
}

impl TrustedKey {
    /// A key from its name and its 32-byte public key in base64.
    pub fn new(name: &str, public_base64: &str) -> Result<TrustedKey, String> {
        let bytes =
            BASE64.decode(public_base64.trim()).map_err(|e| format!("key `{name}`: not base64: {e}"))?;
        let bytes: [u8; 32] =
            bytes.try_into().map_err(|_| format!("key `{name}`: an ed25519 public key is 32 bytes"))?;
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|e| format!("key `{name}`: {e}"))?;
        Ok(TrustedKey { name: name.to_string(), key })
    }

    /// Keys from a file's text: one `NAME BASE64-PUBLIC-KEY` per line; blank
    /// lines and `#` comments are skipped.
    pub fn parse_list(text: &str) -> Result<Vec<TrustedKey>, String> {
        text.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| {
                let (name, key) =
                    line.split_once(char::is_whitespace).ok_or(format!("`{line}`: expected NAME KEY"))?;
                TrustedKey::new(name, key)
            })
            .collect()
    }
}

/// Signs a package with a 32-byte ed25519 secret key (base64): for
/// publishers (`plinth pack --sign`).
pub fn sign(package: &[u8], key_name: &str, secret_base64: &str) -> Result<Signature, String> {
    use ed25519_dalek::Signer as _;
    let bytes =
        BASE64.decode(secret_base64.trim()).map_err(|e| format!("the secret key is not base64: {e}"))?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| "an ed25519 secret key is 32 bytes".to_string())?;
    let key = ed25519_dalek::SigningKey::from_bytes(&bytes);
    let digest = super::package::sha256(package);
    Ok(Signature { key: key_name.to_string(), ed25519: BASE64.encode(key.sign(&digest).to_bytes()) })
}

/// The public key (base64) of a 32-byte secret key given as `seed`, and the
/// secret in base64: a new publisher key pair from 32 random bytes.
pub fn key_pair(seed: [u8; 32]) -> (String, String) {
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    (BASE64.encode(key.verifying_key().to_bytes()), BASE64.encode(seed))
}

/// Checks the signature of a package whose SHA-256 is `digest`. `Ok(Some(key))`: signed by that trusted
/// key; `Ok(None)`: unsigned, or signed by a key the operator does not
/// trust (which proves nothing); a signature by a trusted key that does not
/// verify is refused.
pub(crate) fn verify(
    digest: &[u8; 32],
    signature: Option<&Signature>,
    trusted: &[TrustedKey],
    origin: &str,
) -> Result<Option<String>, InstallError> {
    let Some(signature) = signature else { return Ok(None) };
    let Some(trusted) = trusted.iter().find(|k| k.name == signature.key) else { return Ok(None) };
    let bad = || InstallError::BadSignature { origin: origin.to_string(), key: signature.key.clone() };
    let bytes = BASE64.decode(&signature.ed25519).map_err(|_| bad())?;
    let signature_bytes = ed25519_dalek::Signature::from_slice(&bytes).map_err(|_| bad())?;
    trusted.key.verify_strict(digest, &signature_bytes).map_err(|_| bad())?;
    Ok(Some(trusted.name.clone()))
}

impl Index {
    /// Parses an index.
    pub fn parse(text: &str) -> Result<Index, InstallError> {
        serde_json::from_str(text).map_err(|e| InstallError::Index(format!("not a valid index: {e}")))
    }

    /// The entries whose id or description contains `text` (case-insensitive),
    /// newest compatible version of each id.
    pub fn search(&self, text: &str) -> Vec<&IndexEntry> {
        let text = text.to_lowercase();
        let mut ids: Vec<&str> = self.plugins.iter().map(|e| e.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        ids.into_iter()
            .filter_map(|id| self.newest(id).ok())
            .filter(|e| {
                e.id.to_lowercase().contains(&text)
                    || e.description.as_deref().is_some_and(|d| d.to_lowercase().contains(&text))
            })
            .collect()
    }

    /// The newest version of `id` that this host can run.
    pub fn newest(&self, id: &str) -> Result<&IndexEntry, InstallError> {
        let versions: Vec<&IndexEntry> = self.plugins.iter().filter(|e| e.id == id).collect();
        if versions.is_empty() {
            return Err(InstallError::Index(format!("no plugin `{id}` in the index")));
        }
        versions
            .iter()
            .filter(|e| runs_here(e))
            .filter_map(|e| Some((semver::Version::parse(&e.version).ok()?, *e)))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, entry)| entry)
            .ok_or_else(|| {
                let listed: Vec<String> =
                    versions.iter().map(|e| format!("{} (wit {})", e.version, e.wit)).collect();
                InstallError::Index(format!(
                    "no version of `{id}` runs on this host (WIT {}): the index lists {}",
                    crate::capabilities::WIT_VERSIONS.join(", "),
                    listed.join(", ")
                ))
            })
    }
}

/// Whether an entry's `wit` range admits a WIT version this host links.
fn runs_here(entry: &IndexEntry) -> bool {
    let Ok(range) = semver::VersionReq::parse(&entry.wit) else { return false };
    crate::capabilities::WIT_VERSIONS
        .iter()
        .filter_map(|v| semver::Version::parse(v).ok())
        .any(|version| range.matches(&version))
}
