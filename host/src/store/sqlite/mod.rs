//! The embedded SQLite backend: one file under the data directory, one
//! writing connection behind a mutex (SQLite serialises writers anyway, and
//! a call holds the lock for one statement or one commit, never while a
//! plugin runs), and a few read-only connections beside it for the reads of
//! plugins and the API, which WAL lets run while a write commits, and a
//! thread that checkpoints the log off the commit path (`checkpoint.rs`).
//! Plugin storage commits that wait for the writer are committed together
//! (`grouped.rs`). The schema
//! is versioned with `PRAGMA user_version`; opening a database runs the
//! migrations it has not seen, in one transaction.

mod checkpoint;
mod entities;
mod field_configs;
mod grouped;
mod held;
mod hooks;
mod jobs;
mod kv;
mod nodes;
mod outbox;
mod packages;
mod settings;
mod switches;

use super::StoreError;
use crate::sync::locked;
use held::{BUSY_TIMEOUT, Held};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Read-only connections beside the writer: enough for both cores' calls and
/// the API at once without queueing on one another.
const READERS: usize = 4;

/// Schema changes, in order; the database's `user_version` counts those applied.
/// Never edit a released step: add one.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema (`IF NOT EXISTS`: databases made before versioning have it).
    "CREATE TABLE IF NOT EXISTS entities (
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
    ) WITHOUT ROWID;",
    // 2: versioned storage for serializable commits; hook outcomes kept in the database.
    "ALTER TABLE plugin_storage ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE plugin_usage ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE hook_records (
        seq         INTEGER PRIMARY KEY,
        plugin_id   TEXT NOT NULL,
        event       TEXT NOT NULL,
        entity_id   TEXT NOT NULL,
        at          INTEGER NOT NULL,
        duration_us INTEGER NOT NULL,
        error       TEXT
    );",
    // 3: per-entity-type field configurations (which widget edits which field).
    "CREATE TABLE field_configs (
        entity_type TEXT PRIMARY KEY,
        config      TEXT NOT NULL CHECK (json_valid(config))
    ) WITHOUT ROWID;",
    // 4: the hook outbox (see `outbox.rs`).
    "CREATE TABLE hook_deliveries (
        id          INTEGER PRIMARY KEY,
        plugin_id   TEXT NOT NULL,
        event       TEXT NOT NULL,
        entity      TEXT NOT NULL CHECK (json_valid(entity)),
        lease_owner TEXT NOT NULL,
        lease_until INTEGER NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        done        INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX hook_deliveries_due ON hook_deliveries (lease_until);",
    // 5: installed packages, pending and approved (see `packages.rs`).
    "CREATE TABLE plugin_packages (
        plugin_id TEXT NOT NULL,
        slot      TEXT NOT NULL,
        sha256    TEXT NOT NULL,
        record    TEXT NOT NULL,
        package   BLOB NOT NULL,
        PRIMARY KEY (plugin_id, slot)
    ) WITHOUT ROWID;",
    // 6: what each node last reported of itself (see `nodes.rs`); data
    // directories whose older installs joined the list (see `packages.rs`).
    "CREATE TABLE node_reports (
        node        TEXT PRIMARY KEY,
        reported_at INTEGER NOT NULL,
        report      TEXT NOT NULL CHECK (json_valid(report))
    ) WITHOUT ROWID;
    CREATE TABLE adopted_data_dirs (id TEXT PRIMARY KEY) WITHOUT ROWID;",
    // 7: plugins an operator switched off (see `switches.rs`).
    "CREATE TABLE disabled_plugins (plugin_id TEXT PRIMARY KEY) WITHOUT ROWID;",
    // 8: the plugin writes that led to each hook delivery (`WriteChain`).
    "ALTER TABLE hook_deliveries ADD COLUMN chain TEXT NOT NULL DEFAULT '{}';",
    // 9: scheduled jobs, when each is next due and how it last ran (`jobs.rs`).
    "CREATE TABLE plugin_jobs (
        plugin_id        TEXT NOT NULL,
        job_id           TEXT NOT NULL,
        schedule         TEXT NOT NULL,
        next_due         INTEGER,
        lease_owner      TEXT NOT NULL DEFAULT '',
        lease_until      INTEGER NOT NULL DEFAULT 0,
        runs             INTEGER NOT NULL DEFAULT 0,
        last_at          INTEGER,
        last_duration_us INTEGER,
        last_error       TEXT,
        PRIMARY KEY (plugin_id, job_id)
    ) WITHOUT ROWID;",
    // 10: outbox rows may carry plugins' messages (`event` `message`, the
    // message in `entity`). A Plinth before it cannot read them, so it
    // refuses the database from here on (nothing else changes).
    "-- outbox rows may carry messages",
];

/// The SQLite backend; implements every backend trait.
pub(crate) struct Sqlite {
    connection: Mutex<Connection>,
    /// Read-only connections (none in memory, where reads use the writer).
    readers: Vec<Mutex<Connection>>,
    /// Where the next read starts looking for a free reader.
    next_reader: AtomicUsize,
    /// Plugin storage commits waiting for the writer (`grouped.rs`).
    commits: grouped::CommitQueue,
    /// Wakes this process's delivery loop when a delivery is retried.
    wake_ups: std::sync::Arc<tokio::sync::Notify>,
    /// Wakes this process's install sync when a package is stored or removed
    /// (other processes sharing the file find it when they poll).
    package_changes: std::sync::Arc<tokio::sync::Notify>,
    /// Checkpoints the log off the commit path (none in memory); stopped
    /// when the backend is dropped.
    _checkpointer: Option<checkpoint::Checkpointer>,
}

impl Sqlite {
    /// Opens (or creates) the database at `path` in WAL mode (a crash never
    /// leaves a half-written file) and brings its schema up to date.
    pub(crate) fn open(path: &Path) -> Result<Sqlite, StoreError> {
        let fail = |e: rusqlite::Error| error("opening the database", e);
        let mut connection = Connection::open(path).map_err(fail)?;
        connection.pragma_update(None, "journal_mode", "WAL").map_err(fail)?;
        connection.pragma_update(None, "synchronous", "NORMAL").map_err(fail)?;
        // The log file shrinks back to this once a checkpoint let it restart.
        connection.pragma_update(None, "journal_size_limit", 8 << 20).map_err(fail)?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(fail)?;
        migrate(&mut connection).map_err(|e| error("migrating the database", e))?;
        let reader = || -> rusqlite::Result<Mutex<Connection>> {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let reader = Connection::open_with_flags(path, flags)?;
            reader.busy_timeout(BUSY_TIMEOUT)?;
            Ok(Mutex::new(reader))
        };
        let readers = (0..READERS).map(|_| reader()).collect::<rusqlite::Result<_>>().map_err(fail)?;
        let checkpointer = checkpoint::Checkpointer::start(path, &mut connection).map_err(fail)?;
        Ok(Sqlite {
            connection: Mutex::new(connection),
            readers,
            next_reader: AtomicUsize::new(0),
            commits: Default::default(),
            wake_ups: Default::default(),
            package_changes: Default::default(),
            _checkpointer: Some(checkpointer),
        })
    }

    /// An in-memory database, for unit tests.
    #[cfg(test)]
    pub(crate) fn in_memory() -> Sqlite {
        let mut connection = Connection::open_in_memory().expect("in-memory database");
        migrate(&mut connection).expect("migrations");
        Sqlite {
            connection: Mutex::new(connection),
            readers: Vec::new(),
            next_reader: AtomicUsize::new(0),
            commits: Default::default(),
            wake_ups: Default::default(),
            package_changes: Default::default(),
            _checkpointer: None,
        }
    }

    /// The connection, for one statement or transaction. A poisoned lock only
    /// means another call panicked mid-way; SQLite itself stays consistent.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        locked(&self.connection)
    }

    /// A connection for one read outside any transaction: a free reader if
    /// one is, else the next in turn (the writer where there are none). Each
    /// read sees every commit made before it began. During a quick read
    /// (`store::quick`) it never waits: the read is given up instead.
    fn read(&self) -> Result<Held<'_>, StoreError> {
        let count = self.readers.len();
        if count == 0 {
            return Held::waiting(&self.connection);
        }
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let free = (0..count).find_map(|offset| Held::free(&self.readers[(start + offset) % count]));
        free.map_or_else(|| Held::waiting(&self.readers[start % count]), Ok)
    }
}

/// Applies the migrations the database has not seen. The write lock taken
/// first makes a second process opening the same file wait, then see them done.
fn migrate(connection: &mut Connection) -> rusqlite::Result<()> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let applied: usize = transaction.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if applied > MIGRATIONS.len() {
        // A newer Plinth wrote this database; this one must not touch it.
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(format!(
                "the database has schema version {applied}, newer than this Plinth's {}; use a newer Plinth",
                MIGRATIONS.len()
            )),
        ));
    }
    for step in MIGRATIONS.iter().skip(applied) {
        transaction.execute_batch(step)?;
    }
    transaction.pragma_update(None, "user_version", MIGRATIONS.len())?;
    transaction.commit()
}

/// SQLite's error as a [`StoreError`]: a busy or locked database is
/// unavailable for now; anything else failed.
fn error(operation: &'static str, error: rusqlite::Error) -> StoreError {
    let message = error.to_string();
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable { operation, message }
        }
        _ => StoreError::Failed { operation, message },
    }
}

/// `error` for `operation`, for `map_err`.
fn fail(operation: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| error(operation, e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PluginKv;

    /// A database written before the schema was versioned (the first
    /// migration's tables, `user_version` 0) opens, gains the new columns,
    /// and keeps its rows.
    #[test]
    fn an_unversioned_database_is_migrated() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(crate::store::DATABASE_FILE);
        {
            let old = Connection::open(&path).expect("old database");
            old.execute_batch(MIGRATIONS[0]).expect("old schema");
            old.execute("INSERT INTO plugin_storage (plugin_id, key, value) VALUES ('p', 'k', x'01')", [])
                .expect("old row");
        }
        let db = Sqlite::open(&path).expect("migrated");
        let stored = db.get("p", "k").expect("get").expect("kept");
        assert_eq!((stored.value, stored.version), (vec![1], 0));
        let version: usize =
            db.lock().pragma_query_value(None, "user_version", |row| row.get(0)).expect("user_version");
        assert_eq!(version, MIGRATIONS.len());
        drop(db);
        Sqlite::open(&path).expect("opening again runs nothing twice");
    }

    /// Reads go to the read-only connections: they neither wait for a held
    /// writer nor miss what it committed before they began.
    #[test]
    fn reads_run_beside_a_held_writer_and_see_its_commits() {
        use crate::store::{EntityStore, NewDeliveries};
        use crate::types::{Entity, EntityQuery};
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Sqlite::open(&dir.path().join(crate::store::DATABASE_FILE)).expect("open");
        let entity = Entity {
            id: "e1".into(),
            entity_type: "character".into(),
            data: serde_json::json!({"name": "Ada"}),
            created_at: 1,
            updated_at: 1,
        };
        db.insert(&entity, &NewDeliveries::default()).expect("insert");
        let writer = db.lock();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let read = (
                    EntityStore::get(&db, "e1").map(|e| e.map(|e| e.id)),
                    db.count(&EntityQuery::of_type("character"), None),
                );
                let _ = sender.send(read);
            });
            // A reader that waited for the writer would never answer while it is held.
            let answer = receiver.recv_timeout(std::time::Duration::from_secs(60));
            drop(writer);
            let (read, count) = answer.expect("a read waited for the writer");
            assert_eq!((read.expect("get"), count.expect("count")), (Some("e1".to_string()), 1));
        });
    }

    /// The checkpoint thread copies the log back into the database file
    /// (the writer's commits no longer do below their bound), and what it
    /// copied reads back after the database is opened again.
    #[test]
    fn the_log_is_checkpointed_off_the_commit_path() {
        use crate::store::{KvChanges, PluginKv, Usage};
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(crate::store::DATABASE_FILE);
        let db = Sqlite::open(&path).expect("open");
        let file_size = || std::fs::metadata(&path).expect("database file").len();
        let before = file_size();
        // About 1,500 log pages: past the thread's threshold, far below the commit's own.
        for n in 0..1500 {
            let mut changes = KvChanges::default();
            changes.writes.insert(format!("k{n}"), Some(vec![7; 3000]));
            db.commit("p", &changes, Usage { bytes: u64::MAX, keys: u64::MAX }).expect("commit");
        }
        let checkpointer = db._checkpointer.as_ref().expect("a file database has one");
        let copied = (0..600).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            checkpointer.done() > 0 && file_size() > before + (1 << 20)
        });
        assert!(copied, "the thread checkpointed nothing into the database file");
        drop(db);
        let db = Sqlite::open(&path).expect("open again");
        assert_eq!(db.get("p", "k1499").expect("get").map(|v| v.value.len()), Some(3000));
    }
}
