//! Why an install, approval or uninstall did not happen. Every refusal names
//! the plugin (or the package, before its id is known), what was wrong and
//! what to do; the previous version, if any, keeps running.

use std::path::PathBuf;

/// Why an install step failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The package is larger than the host accepts.
    #[error("package {origin} is {size} bytes; this host accepts packages of at most {max} bytes")]
    TooLarge {
        /// Where the package came from.
        origin: String,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The package's size differs from what the index says.
    #[error(
        "package {origin} is {actual} bytes, but the index says {expected}: refusing a package that is not the one listed"
    )]
    SizeMismatch {
        /// Where the package came from.
        origin: String,
        /// What the index says.
        expected: u64,
        /// What arrived.
        actual: u64,
    },
    /// The package's SHA-256 differs from what the index says.
    #[error(
        "package {origin} has SHA-256 {actual}, but the index says {expected}: refusing a package that is not the one listed (tampered with, or the index is stale)"
    )]
    ChecksumMismatch {
        /// Where the package came from.
        origin: String,
        /// What the index says.
        expected: String,
        /// What arrived.
        actual: String,
    },
    /// The package carries no signature and the operator requires one.
    #[error(
        "package {origin} is not signed by a trusted key, and this host installs only signed packages (trust the publisher's key, or turn off require_signatures)"
    )]
    Unsigned {
        /// Where the package came from.
        origin: String,
    },
    /// The signature does not verify.
    #[error("package {origin}: the signature by key `{key}` does not match the package: refusing it")]
    BadSignature {
        /// Where the package came from.
        origin: String,
        /// The key named.
        key: String,
    },
    /// The archive is not a valid package (a path escaping the folder, a
    /// link, a duplicate name, too much unpacked data, not a gzip tar).
    #[error("package {origin} is refused: {problem}")]
    BadArchive {
        /// Where the package came from.
        origin: String,
        /// What is wrong.
        problem: String,
    },
    /// The plugin inside does not load (manifest, component, imports).
    #[error("package {origin}: {source}")]
    Invalid {
        /// Where the package came from.
        origin: String,
        /// Why it would not load.
        #[source]
        source: Box<crate::LoadError>,
    },
    /// The package holds another plugin than the one asked for.
    #[error("package {origin} holds plugin `{found}`, not `{expected}`")]
    WrongPlugin {
        /// Where the package came from.
        origin: String,
        /// The id asked for.
        expected: String,
        /// The id inside.
        found: String,
    },
    /// The plugin id is loaded from a folder the installer does not manage.
    #[error(
        "plugin `{plugin}` is already loaded from {dir}, which is not an installed plugin: remove it there first"
    )]
    NotManaged {
        /// The plugin's id.
        plugin: String,
        /// Where it is loaded from.
        dir: PathBuf,
    },
    /// Nothing is pending or installed under that id.
    #[error("plugin `{plugin}` has no {what}")]
    NotFound {
        /// The plugin's id.
        plugin: String,
        /// `pending install` or `installed version`.
        what: &'static str,
    },
    /// The registry index is unreadable or names no usable version.
    #[error("registry index: {0}")]
    Index(String),
    /// Approving made the host load the new version, and it failed: the
    /// previous version was put back.
    #[error("plugin `{plugin}` (install): the new version did not load, so the previous one stays: {source}")]
    LoadFailed {
        /// The plugin's id.
        plugin: String,
        /// Why.
        #[source]
        source: Box<crate::LoadError>,
    },
    /// Another installer (another node, or a `plinth install`) changed the
    /// plugin's approved version while this step ran: nothing was changed.
    #[error(
        "plugin `{plugin}` (install): another installer changed its approved version at the same time, so nothing was changed; look at the installs again and retry"
    )]
    Changed {
        /// The plugin's id.
        plugin: String,
    },
    /// A file operation in the data directory failed.
    #[error("installing in {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The database failed (the shared list of installs, or removing a plugin's data).
    #[error(transparent)]
    Host(#[from] crate::HostError),
}

impl InstallError {
    /// Whether the same step would fail the same way again (the package or
    /// the operator's rules are at fault), rather than for now (a database
    /// or a disk, or another installer at the same time).
    pub fn recurs(&self) -> bool {
        !matches!(self, InstallError::Changed { .. } | InstallError::Io { .. } | InstallError::Host(_))
    }

    /// A stable, machine-readable name for the error.
    pub fn code(&self) -> &'static str {
        match self {
            InstallError::TooLarge { .. } => "package_too_large",
            InstallError::SizeMismatch { .. } => "size_mismatch",
            InstallError::ChecksumMismatch { .. } => "checksum_mismatch",
            InstallError::Unsigned { .. } => "unsigned_package",
            InstallError::BadSignature { .. } => "bad_signature",
            InstallError::BadArchive { .. } => "bad_archive",
            InstallError::Invalid { .. } => "invalid_plugin",
            InstallError::WrongPlugin { .. } => "wrong_plugin",
            InstallError::NotManaged { .. } => "not_managed",
            InstallError::NotFound { .. } => "not_found",
            InstallError::Index(_) => "bad_index",
            InstallError::LoadFailed { .. } => "load_failed",
            InstallError::Changed { .. } => "install_conflict",
            InstallError::Io { .. } => "internal",
            InstallError::Host(error) => error.code(),
        }
    }
}

/// An [`InstallError::Io`] for `path`.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> InstallError {
    let path = path.into();
    move |source| InstallError::Io { path, source }
}
