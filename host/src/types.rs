//! The public data types of the host API, independent of any backend:
//! entities and the queries that find them, plugins' messages, and what
//! the outbox delivered.

use serde::{Deserialize, Serialize};

/// A stored entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    /// Unique id.
    pub id: String,
    /// Its type (`character`).
    pub entity_type: String,
    /// Its fields: always a JSON object.
    pub data: serde_json::Value,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    /// Milliseconds since the Unix epoch.
    pub updated_at: u64,
}

/// A new entity's or message's id: a UUID whose first bits are the time
/// (version 7), so that ids made one after another sort together. Every
/// index keyed by them (the entities' own, a plugin's per-entity storage
/// keys such as `seen/{id}`) then grows at its end instead of at a random
/// page, which a write with hooks pays for in pages written.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl Entity {
    pub(crate) fn to_wit(&self) -> crate::bindings::plinth::plugin::types::Entity {
        crate::bindings::plinth::plugin::types::Entity {
            id: self.id.clone(),
            entity_type: self.entity_type.clone(),
            data: self.data.to_string(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// Which entities to list, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EntityQuery {
    /// Only this type; `None` for all.
    pub entity_type: Option<String>,
    /// (field, value) pairs that must all match; see `wit/entities.wit`.
    pub filters: Vec<(String, String)>,
    /// At most this many.
    pub limit: Option<u32>,
    /// Skip this many first.
    pub offset: u32,
}

impl EntityQuery {
    /// Entities of one type.
    pub fn of_type(entity_type: &str) -> Self {
        EntityQuery { entity_type: Some(entity_type.to_string()), ..Self::default() }
    }

    /// Adds a field filter.
    pub fn where_field(mut self, field: &str, value: &str) -> Self {
        self.filters.push((field.to_string(), value.to_string()));
        self
    }

    /// Checks every filter's field name, so a backend only ever sees paths it
    /// can quote safely: the problem, for the caller to fix.
    pub fn check(&self) -> Result<(), String> {
        self.filters.iter().try_for_each(|(field, _)| field_path(field).map(drop))
    }
}

/// The segments of a filter's field name: `stats.level` → `["stats", "level"]`.
/// Empty segments, quotes and backslashes are refused.
pub fn field_path(field: &str) -> Result<Vec<&str>, String> {
    if field.is_empty() || field.split('.').any(|s| s.is_empty() || s.contains('"') || s.contains('\\')) {
        return Err(format!(
            "`{field}` is not a field name: use a name or a dotted path without quotes or backslashes"
        ));
    }
    Ok(field.split('.').collect())
}

/// Which write happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityEvent {
    /// `on-entity-created`
    Created,
    /// `on-entity-updated`
    Updated,
    /// `on-entity-deleted`
    Deleted,
}

impl EntityEvent {
    /// The hook's WIT name.
    pub fn hook_name(self) -> &'static str {
        match self {
            EntityEvent::Created => "on-entity-created",
            EntityEvent::Updated => "on-entity-updated",
            EntityEvent::Deleted => "on-entity-deleted",
        }
    }

    /// The write as a past-tense word (`created`), as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityEvent::Created => "created",
            EntityEvent::Updated => "updated",
            EntityEvent::Deleted => "deleted",
        }
    }
}

/// What the outbox delivered to a plugin: an entity event (its hook) or a
/// message (its `on-message`), as hook records and write chains name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HookEvent {
    /// `on-entity-created`
    Created,
    /// `on-entity-updated`
    Updated,
    /// `on-entity-deleted`
    Deleted,
    /// `on-message` (a plugin's message, WIT 0.3.0)
    Message,
}

impl HookEvent {
    /// The export's WIT name.
    pub fn hook_name(self) -> &'static str {
        match self {
            HookEvent::Message => "on-message",
            HookEvent::Created => EntityEvent::Created.hook_name(),
            HookEvent::Updated => EntityEvent::Updated.hook_name(),
            HookEvent::Deleted => EntityEvent::Deleted.hook_name(),
        }
    }

    /// As in JSON: `created`, `updated`, `deleted`, `message`.
    pub fn as_str(self) -> &'static str {
        match self {
            HookEvent::Message => "message",
            HookEvent::Created => "created",
            HookEvent::Updated => "updated",
            HookEvent::Deleted => "deleted",
        }
    }

    /// The event a stored name stands for (an unknown name is a delete, as
    /// backends have always read it).
    pub(crate) fn of(name: &str) -> HookEvent {
        match name {
            "created" => HookEvent::Created,
            "updated" => HookEvent::Updated,
            "message" => HookEvent::Message,
            _ => HookEvent::Deleted,
        }
    }
}

impl From<EntityEvent> for HookEvent {
    fn from(event: EntityEvent) -> HookEvent {
        match event {
            EntityEvent::Created => HookEvent::Created,
            EntityEvent::Updated => HookEvent::Updated,
            EntityEvent::Deleted => HookEvent::Deleted,
        }
    }
}

impl PartialEq<EntityEvent> for HookEvent {
    fn eq(&self, other: &EntityEvent) -> bool {
        *self == HookEvent::from(*other)
    }
}

/// A message a plugin published (`messages.publish`, WIT 0.3.0), as each
/// subscriber gets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Unique id, the same for every subscriber.
    pub id: String,
    /// Its topic.
    pub topic: String,
    /// The plugin that published it.
    pub publisher: String,
    /// JSON, as text (the host checked it parses).
    pub payload: String,
    /// Milliseconds since the Unix epoch.
    pub published_at: u64,
}

impl Message {
    pub(crate) fn to_wit(&self) -> crate::bindings::plinth::plugin::types::Message {
        crate::bindings::plinth::plugin::types::Message {
            id: self.id.clone(),
            topic: self.topic.clone(),
            publisher: self.publisher.clone(),
            payload: self.payload.clone(),
            published_at: self.published_at,
        }
    }
}

/// How one plugin's hook (or `on-message`) went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookOutcome {
    /// The plugin whose hook ran.
    pub plugin_id: String,
    /// The event, or `message`.
    pub event: HookEvent,
    /// The entity concerned; for a message, its topic.
    pub entity_id: String,
    /// When it ran, in milliseconds since the Unix epoch.
    pub at: u64,
    /// How long it took, in microseconds.
    pub duration_us: u64,
    /// `None` when it succeeded; otherwise why it failed.
    pub error: Option<String>,
}

/// Whether `value` holds a NUL character in any string or object key.
/// Stored JSON and text refuse it: PostgreSQL cannot store it, so no
/// backend takes it, and a write gets the same answer on every backend.
pub(crate) fn contains_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(contains_nul),
        serde_json::Value::Object(fields) => {
            fields.iter().any(|(key, value)| key.contains('\0') || contains_nul(value))
        }
        _ => false,
    }
}
