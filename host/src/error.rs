//! Typed errors at the host boundary. Each names the plugin, the phase, and
//! what to do about it: [`LoadError`] for loading, [`CallError`] for calls,
//! [`HostError`] for the rest of the embedding API.

mod call;
mod load;

pub use call::{CallError, CallErrorKind};
pub use load::LoadError;
use std::path::PathBuf;

/// Why an operation of the embedding API failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The data directory cannot be created or opened.
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The legacy adapter could not be set up.
    #[cfg(feature = "legacy")]
    #[error("cannot set up the legacy adapter: {0}")]
    Legacy(#[from] crate::legacy::LegacyError),
    /// A build without the `sqlite` feature was given no backend.
    #[cfg(not(feature = "sqlite"))]
    #[error(
        "this build has no embedded database (feature `sqlite`); set HostConfig::backend to the application's Backend"
    )]
    NoBackend,
    /// The WebAssembly engine could not be set up.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
    /// An interface in [`HostConfig::embedder_interfaces`](crate::HostConfig::embedder_interfaces) cannot be offered to plugins.
    #[error("cannot offer the application's interface to plugins: {0}")]
    EmbedderInterface(String),
    /// No entity has this id.
    #[error("no entity with id `{0}`")]
    EntityNotFound(String),
    /// An entity with this id exists already.
    #[error("an entity with id `{0}` already exists")]
    EntityExists(String),
    /// The entity or query given is malformed.
    #[error("invalid entity request: {0}")]
    InvalidEntity(String),
    /// A message the application publishes is malformed (its topic or payload).
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// No plugin with this id is loaded.
    #[error("no plugin `{0}` is loaded")]
    UnknownPlugin(String),
    /// A setting value does not fit the plugin's schema.
    #[error("plugin `{plugin}`: setting `{name}`: {problem}")]
    InvalidSetting {
        /// The plugin's id.
        plugin: String,
        /// The setting.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// A field configuration is malformed.
    #[error("field configuration of `{entity_type}`: {message}")]
    InvalidFieldConfig {
        /// The entity type it configures.
        entity_type: String,
        /// What is wrong.
        message: String,
    },
    /// A field configuration was saved from an older version than the
    /// stored one: another editor saved first. Nothing was written.
    #[error(
        "field configuration of `{entity_type}`: it was changed by another save (now version {}) since this one was opened; review the current one and save again",
        .current.version.unwrap_or(0)
    )]
    FieldConfigConflict {
        /// The entity type it configures.
        entity_type: String,
        /// The configuration stored now.
        current: Box<crate::field_config::FieldConfig>,
    },
    /// A write was refused by the entity type's field configuration: a
    /// required field is empty or a widget's `validate` found problems.
    #[error("the {entity_type} was not saved: {}", describe_fields(.fields))]
    ValidationFailed {
        /// The entity type written.
        entity_type: String,
        /// The problems, by field name.
        fields: std::collections::BTreeMap<String, Vec<String>>,
    },
}

fn describe_fields(fields: &std::collections::BTreeMap<String, Vec<String>>) -> String {
    let each: Vec<String> =
        fields.iter().map(|(name, problems)| format!("`{name}`: {}", problems.join("; "))).collect();
    each.join(", ")
}

impl HostError {
    /// A stable, machine-readable name for the error.
    pub fn code(&self) -> &'static str {
        match self {
            HostError::DataDir { .. } | HostError::Engine(_) | HostError::EmbedderInterface(_) => "internal",
            #[cfg(feature = "legacy")]
            HostError::Legacy(_) => "internal",
            #[cfg(not(feature = "sqlite"))]
            HostError::NoBackend => "internal",
            HostError::Store(crate::store::StoreError::Unavailable { .. }) => "unavailable",
            HostError::Store(_) => "internal",
            HostError::EntityNotFound(_) => "entity_not_found",
            HostError::EntityExists(_) => "entity_exists",
            HostError::InvalidEntity(_) => "invalid_entity",
            HostError::InvalidMessage(_) => "invalid_message",
            HostError::UnknownPlugin(_) => "unknown_plugin",
            HostError::InvalidSetting { .. } => "invalid_setting",
            HostError::InvalidFieldConfig { .. } => "invalid_field_config",
            HostError::FieldConfigConflict { .. } => "conflict",
            HostError::ValidationFailed { .. } => "validation_failed",
        }
    }
}
