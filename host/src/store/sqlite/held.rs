//! Connections held for one read or transaction, and how SQLite keeps a
//! quick read short (`store::quick`): during one, a connection is taken only
//! if it is free, a lock it would wait for gives the read up, and so does the
//! progress handler after [`BUDGET_STEPS`] virtual-machine steps or past the
//! wall-clock ceiling (it looks every 200 steps; time spent within one step,
//! such as a page read from disk, is not cut short). Outside one, connections
//! are taken and used as always.

use crate::store::{StoreError, quick};
use crate::sync::{locked, try_locked};
use rusqlite::Connection;
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a statement waits for another process's lock on the file.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Virtual-machine steps between two calls of the progress handler during a
/// quick read: a few µs of work.
const QUICK_STEPS: i32 = 200;
/// The same when only a caller's deadline is watched.
const STEPS: i32 = 1000;
/// The steps a quick read may run: about 50 µs of work on the
/// machines measured (`SELECT COUNT(*)` of 1,000 rows by index, some 4,000
/// steps, takes 20 to 30 µs).
const BUDGET_STEPS: u32 = 8_000;

/// A connection held for one read or transaction.
pub(super) struct Held<'a> {
    connection: MutexGuard<'a, Connection>,
    /// Taken for a quick read: its handlers are put back when it is released.
    quick: bool,
}

impl<'a> Held<'a> {
    /// `mutex`'s connection if it is free now (a poisoned lock only means
    /// another call panicked mid-way; SQLite itself stays consistent).
    pub(super) fn free(mutex: &'a Mutex<Connection>) -> Option<Held<'a>> {
        try_locked(mutex).map(Held::new)
    }

    /// `mutex`'s connection, waiting for it; during a quick read, which must
    /// not wait, the read is given up instead.
    pub(super) fn waiting(mutex: &'a Mutex<Connection>) -> Result<Held<'a>, StoreError> {
        if let Some(held) = Held::free(mutex) {
            return Ok(held);
        }
        if quick::started().is_some() {
            quick::give_up();
            return Err(StoreError::Unavailable {
                operation: "a quick read",
                message: "every connection is busy".into(),
            });
        }
        Ok(Held::new(locked(mutex)))
    }

    fn new(mut connection: MutexGuard<'a, Connection>) -> Held<'a> {
        let quick = quick::started().is_some();
        if quick {
            // Both only fail on a closed connection, which the read then reports.
            let _ = connection.busy_handler(Some(give_up_when_busy));
            stop_at(&mut connection, None);
        }
        Held { connection, quick }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if self.quick {
            let _ = self.connection.busy_timeout(BUSY_TIMEOUT);
            let _ = self.connection.progress_handler(0, None::<fn() -> bool>);
        }
    }
}

impl Deref for Held<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.connection
    }
}

impl DerefMut for Held<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.connection
    }
}

/// Has SQLite stop what runs on `db` (`SQLITE_INTERRUPT`) at `deadline`,
/// and, during a quick read on this thread, once it used the read's budget
/// (which gives the read up).
pub(super) fn stop_at(db: &mut Connection, deadline: Option<Instant>) {
    let quick =
        quick::started().map(|started| (started + quick::CEILING, BUDGET_STEPS / QUICK_STEPS.unsigned_abs()));
    let handler = (deadline.is_some() || quick.is_some()).then_some({
        let mut looks = 0;
        move || {
            let now = Instant::now();
            if let Some((ceiling, budget)) = quick {
                looks += 1;
                if looks > budget || now >= ceiling {
                    quick::give_up();
                    return true;
                }
            }
            deadline.is_some_and(|deadline| now >= deadline)
        }
    });
    let steps = if quick.is_some() { QUICK_STEPS } else { STEPS };
    // Only fails on a closed connection, which the statement then reports.
    let _ = db.progress_handler(steps, handler);
}

/// SQLite's busy handler during a quick read: another connection or process
/// holds a lock this read would wait for, so it is given up.
fn give_up_when_busy(_attempts: i32) -> bool {
    quick::give_up();
    false
}

/// Runs `query` stopped at `deadline` (and at a quick read's budget), so a
/// slow query never holds the connection past its caller's time.
pub(super) fn stopped_at_deadline<R>(
    db: &mut Connection,
    deadline: Option<Instant>,
    query: impl FnOnce(&Connection) -> rusqlite::Result<R>,
) -> rusqlite::Result<R> {
    stop_at(db, deadline);
    let result = query(db);
    stop_at(db, None);
    result
}

#[cfg(test)]
mod tests {
    use super::super::{READERS, Sqlite};
    use crate::store::{EntityStore, quick};
    use crate::sync::locked;

    /// A quick read leaves its connection as it found it: the busy timeout
    /// back, and no progress handler to cut a later, longer query short.
    #[test]
    fn a_quick_read_leaves_its_connection_as_it_was() {
        let data = tempfile::tempdir().expect("temp dir");
        let sqlite = Sqlite::open(&data.path().join("db")).expect("database");
        for _ in 0..READERS {
            let answer = quick::run(|| sqlite.get("e1")).expect("not given up");
            assert!(answer.expect("read").is_none());
        }
        for reader in &sqlite.readers {
            let reader = locked(reader);
            let timeout: i64 =
                reader.pragma_query_value(None, "busy_timeout", |row| row.get(0)).expect("pragma");
            assert_eq!(u128::from(timeout.unsigned_abs()), super::BUSY_TIMEOUT.as_millis());
            let long: i64 = reader
                .query_row(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
                     SELECT count(*) FROM n",
                    [],
                    |row| row.get(0),
                )
                .expect("a long query outside quick reads runs to its end");
            assert_eq!(long, 100_000);
        }
    }
}
