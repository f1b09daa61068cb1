//! The embedded database: one SQLite file under the data directory holding
//! entities, plugin storage and settings. Each capability module owns its
//! table's SQL; this module owns the connection and the schema.

use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "plinth.sqlite3";

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS entities (
    id          TEXT PRIMARY KEY,
    entity_type TEXT NOT NULL,
    data        TEXT NOT NULL CHECK (json_valid(data)),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entities_by_type ON entities (entity_type, created_at);
CREATE TABLE IF NOT EXISTS plugin_storage (
    plugin_id TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     BLOB NOT NULL,
    PRIMARY KEY (plugin_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS plugin_usage (
    plugin_id TEXT PRIMARY KEY,
    bytes     INTEGER NOT NULL,
    keys      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS plugin_settings (
    plugin_id TEXT NOT NULL,
    name      TEXT NOT NULL,
    value     TEXT NOT NULL CHECK (json_valid(value)),
    PRIMARY KEY (plugin_id, name)
) WITHOUT ROWID;
";

/// A shared handle on the database. Calls lock it briefly; nothing holds the
/// lock while a plugin runs.
#[derive(Clone)]
pub(crate) struct Database {
    connection: Arc<Mutex<Connection>>,
}

impl Database {
    /// Opens (or creates) the database in `data_dir`, in WAL mode so readers
    /// never block the writer and a crash never leaves a half-written file.
    pub(crate) fn open(data_dir: &Path) -> rusqlite::Result<Database> {
        let connection = Connection::open(data_dir.join(DATABASE_FILE))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.execute_batch(SCHEMA)?;
        Ok(Database { connection: Arc::new(Mutex::new(connection)) })
    }

    /// The connection, for one statement or transaction. A poisoned lock only
    /// means another call panicked mid-way; SQLite itself stays consistent.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
