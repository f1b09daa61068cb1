//! Calls into the host. Each needs a grant in `plugin.json`
//! (`capabilities.host_functions`); without it the call returns
//! [`Error::Denied`] and the host logs the attempt.

use crate::bindings::plinth::plugin::{entities, logging, settings, storage};
use crate::{Entity, Error, IntoQuery, Level, Result};
use serde::{Serialize, de::DeserializeOwned};

/// One entity by id. Grant: `entity_read`.
pub fn entity_read(id: &str) -> Result<Entity> {
    entities::read(id)
}

/// The entities matching a query: a string such as
/// `"entity_type=character&name=Ada&limit=10"` or an [`EntityQuery`](crate::EntityQuery).
/// Grant: `entity_list`.
pub fn entity_list(query: impl IntoQuery) -> Result<Vec<Entity>> {
    entities::find(&query.into_query()?)
}

/// How many entities match a query (limit and offset ignored). Grant: `entity_list`.
pub fn entity_count(query: impl IntoQuery) -> Result<u64> {
    entities::count(&query.into_query()?)
}

/// Creates an entity of `entity_type` whose data is `data` serialized (a
/// JSON object), with a generated id: the entity as stored. Every plugin's
/// `on_entity_created` hook runs for it afterwards, through the host's
/// outbox. Grant: `entity_create`. Since plinth:plugin
/// 0.3.0.
pub fn entity_create(entity_type: &str, data: &impl Serialize) -> Result<Entity> {
    let data = serde_json::to_string(data).map_err(|e| Error::InvalidInput(format!("entity data: {e}")))?;
    entities::create(entity_type, &data)
}

/// Replaces the data of entity `id` with `data` serialized (a JSON object):
/// the entity as stored. Every plugin's `on_entity_updated` hook runs for it
/// afterwards, through the host's outbox. Grant: `entity_update`. Since
/// plinth:plugin 0.3.0.
pub fn entity_update(id: &str, data: &impl Serialize) -> Result<Entity> {
    let data = serde_json::to_string(data).map_err(|e| Error::InvalidInput(format!("entity data: {e}")))?;
    entities::update(id, &data)
}

/// Deletes one entity by id: true if it existed. Every plugin's
/// `on_entity_deleted` hook runs for it afterwards, through the host's outbox.
/// Grant: `entity_delete`. Since plinth:plugin 0.3.0.
pub fn entity_delete(id: &str) -> Result<bool> {
    entities::delete(id)
}

/// The bytes stored under `key`, if any. Grant: `storage_get`.
pub fn storage_get(key: &str) -> Result<Option<Vec<u8>>> {
    storage::get(key)
}

/// The value under `key` as UTF-8 text. Grant: `storage_get`.
pub fn storage_get_str(key: &str) -> Result<Option<String>> {
    storage_get(key)?
        .map(|bytes| {
            String::from_utf8(bytes)
                .map_err(|_| Error::InvalidInput(format!("storage key {key} is not UTF-8")))
        })
        .transpose()
}

/// The value under `key` parsed from JSON. Grant: `storage_get`.
pub fn storage_get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>> {
    storage_get(key)?
        .map(|bytes| {
            serde_json::from_slice(&bytes).map_err(|e| Error::InvalidInput(format!("storage key {key}: {e}")))
        })
        .transpose()
}

/// Stores bytes or text under `key`. Grant: `storage_set`.
pub fn storage_set(key: &str, value: impl AsRef<[u8]>) -> Result<()> {
    storage::set(key, value.as_ref())
}

/// Stores a value as JSON under `key`. Grant: `storage_set`.
pub fn storage_set_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec(value).map_err(|e| Error::InvalidInput(e.to_string()))?;
    storage_set(key, bytes)
}

/// Removes `key`; true when it existed. Grant: `storage_delete`.
pub fn storage_delete(key: &str) -> Result<bool> {
    storage::delete(key)
}

/// The keys starting with `prefix`, sorted. Grant: `storage_list`.
pub fn storage_list(prefix: &str) -> Result<Vec<String>> {
    storage::list_keys(prefix)
}

/// Adds `delta` to the counter under `key` (a missing key counts as 0) and
/// returns the new value; stored as decimal text, so [`storage_get_str`]
/// reads it. Atomic across concurrent calls. Grant: `storage_increment`
/// (plinth:plugin 0.2.0).
pub fn storage_increment(key: &str, delta: i64) -> Result<i64> {
    storage::increment(key, delta)
}

/// A setting as JSON text (`3`, `"dark"`): the value set by the application or
/// the manifest's default. [`Error::NotFound`] when it has neither.
/// Grant: `setting_get`.
pub fn setting_get(name: &str) -> Result<String> {
    settings::get(name)?.ok_or_else(|| Error::NotFound(format!("setting {name} has no value")))
}

/// A setting parsed from JSON; `None` when it has no value or default.
/// Grant: `setting_get`.
pub fn setting<T: DeserializeOwned>(name: &str) -> Result<Option<T>> {
    settings::get(name)?
        .map(|text| {
            serde_json::from_str(&text).map_err(|e| Error::InvalidInput(format!("setting {name}: {e}")))
        })
        .transpose()
}

/// Every setting that has a value or default, as (name, JSON text). Grant: `setting_get`.
pub fn settings_all() -> Result<Vec<(String, String)>> {
    settings::get_all()
}

/// Writes to the host log under this plugin's id. Grant: `log`.
pub fn log(level: Level, message: &str) -> Result<()> {
    logging::log(level, message)
}

/// Publishes `payload` serialized (JSON) on `topic`, one of the topics
/// `plugin.json` lists in `capabilities.publishes`. Every plugin that
/// subscribes to the topic gets it in `on_message` after this call, through
/// the host's outbox, unless this call fails. Grant: `message_publish`.
/// Since plinth:plugin 0.3.0.
pub fn publish(topic: &str, payload: &impl Serialize) -> Result<()> {
    let payload =
        serde_json::to_string(payload).map_err(|e| Error::InvalidInput(format!("message payload: {e}")))?;
    crate::bindings::plinth::plugin::messages::publish(topic, &payload)
}
