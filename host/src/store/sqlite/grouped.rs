//! Plugin storage commits, grouped. A small commit's cost is mostly
//! SQLite's log write, not its statements, so calls that commit while
//! another holds the writer wait in a queue, and whichever takes the writer
//! next commits every waiting call in one transaction, each in a savepoint
//! of its own: one call's conflict or full quota undoes only its own part,
//! and each call is still all or nothing. The hooks of one write, run side
//! by side, then cost one or two log writes instead of one each.

use super::kv::apply;
use super::{Sqlite, error};
use crate::store::{CommitError, KvChanges, PluginCommit, Usage};
use crate::sync::{locked, try_locked};
use rusqlite::{Connection, TransactionBehavior};
use std::sync::{Arc, Mutex, OnceLock};

/// A commit waiting for the writer, owned by the queue (its caller waits
/// for the writer too, and finds the outcome here when it gets it).
struct Waiting {
    plugin: String,
    changes: KvChanges,
    quota: Usage,
    outcome: OnceLock<Result<(), CommitError>>,
}

impl Waiting {
    fn commit(&self) -> PluginCommit<'_> {
        PluginCommit { plugin: &self.plugin, changes: &self.changes, quota: self.quota }
    }
}

/// The commits waiting for the writer, in arrival order.
#[derive(Default)]
pub(super) struct CommitQueue(Mutex<Vec<Arc<Waiting>>>);

impl CommitQueue {
    fn take_all(&self) -> Vec<Arc<Waiting>> {
        std::mem::take(&mut *locked(&self.0))
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        locked(&self.0).len()
    }
}

impl Sqlite {
    /// Commits `commit` with whatever else waits for the writer: at once if
    /// the writer is free, else once it is (unless the call that takes it
    /// first commits this one with its own).
    pub(super) fn commit_grouped(&self, commit: PluginCommit<'_>) -> Result<(), CommitError> {
        if let Some(mut db) = try_locked(&self.connection) {
            let waiting = self.commits.take_all();
            let mut group = vec![commit];
            group.extend(waiting.iter().map(|waiting| waiting.commit()));
            let mut outcomes = commit_all(&mut db, &group);
            settle(&waiting, outcomes.split_off(1));
            return outcomes.remove(0);
        }
        let queued = Arc::new(Waiting {
            plugin: commit.plugin.to_string(),
            changes: commit.changes.clone(),
            quota: commit.quota,
            outcome: OnceLock::new(),
        });
        locked(&self.commits.0).push(queued.clone());
        let mut db = self.lock();
        if let Some(outcome) = queued.outcome.get() {
            return outcome.clone();
        }
        // Not committed yet: it is among those waiting.
        let waiting = self.commits.take_all();
        if !waiting.is_empty() {
            let group: Vec<PluginCommit<'_>> = waiting.iter().map(|waiting| waiting.commit()).collect();
            settle(&waiting, commit_all(&mut db, &group));
        }
        drop(db);
        queued.outcome.get().cloned().unwrap_or_else(|| Err(CommitError::Store(lost())))
    }

    /// Commits `group` in one transaction, each in a savepoint of its own,
    /// as soon as the writer is free (see `PluginKv::commit_together`).
    pub(super) fn commit_all_now(&self, group: &[PluginCommit<'_>]) -> Vec<Result<(), CommitError>> {
        commit_all(&mut self.lock(), group)
    }
}

/// Hands each waiting commit its outcome (before the writer is released,
/// so a caller that gets the writer next finds it).
fn settle(waiting: &[Arc<Waiting>], outcomes: Vec<Result<(), CommitError>>) {
    for (waiting, outcome) in waiting.iter().zip(outcomes) {
        let _ = waiting.outcome.set(outcome);
    }
}

/// What a caller gets if its queued commit vanished (it cannot: whoever takes
/// the queue commits all of it under the writer). Never a panic.
fn lost() -> crate::store::StoreError {
    crate::store::StoreError::Failed {
        operation: "committing plugin storage",
        message: "the commit left the queue without an outcome".into(),
    }
}

#[cfg(test)]
thread_local! {
    /// Transactions `commit_all` began on this thread.
    pub(super) static TRANSACTIONS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Commits `group` in one transaction, each in a savepoint when there are
/// several; each one's outcome, in order. If the transaction itself fails,
/// so does every commit in it.
fn commit_all(db: &mut Connection, group: &[PluginCommit<'_>]) -> Vec<Result<(), CommitError>> {
    let sql = |e| CommitError::Store(error("committing plugin storage", e));
    // Immediate: the write lock from the start, so another process on the
    // same file makes this wait (busy timeout) instead of failing mid-way.
    let mut transaction = match db.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(transaction) => transaction,
        Err(e) => return failed_all(group, sql(e)),
    };
    #[cfg(test)]
    TRANSACTIONS.set(TRANSACTIONS.get() + 1);
    if let [alone] = group {
        // Dropped on an error: rolled back.
        return vec![apply(&transaction, alone).and_then(|()| transaction.commit().map_err(sql))];
    }
    let mut outcomes = Vec::with_capacity(group.len());
    for commit in group {
        let mut savepoint = match transaction.savepoint() {
            Ok(savepoint) => savepoint,
            Err(e) => return failed_all(group, sql(e)),
        };
        let outcome = apply(&savepoint, commit);
        let closed = match outcome {
            Ok(()) => savepoint.commit(),
            Err(_) => savepoint.rollback().and_then(|()| savepoint.commit()),
        };
        // A savepoint not closed cleanly leaves the transaction in doubt:
        // none of it is committed (dropped: rolled back).
        if let Err(e) = closed {
            return failed_all(group, sql(e));
        }
        outcomes.push(outcome);
    }
    if let Err(e) = transaction.commit() {
        return failed_all(group, sql(e));
    }
    outcomes
}

/// The same failure for every commit of `group`.
fn failed_all(group: &[PluginCommit<'_>], failed: CommitError) -> Vec<Result<(), CommitError>> {
    group.iter().map(|_| Err(failed.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PluginKv;

    fn writing(key: &str, value: &[u8]) -> KvChanges {
        let mut changes = KvChanges::default();
        changes.writes.insert(key.to_string(), Some(value.to_vec()));
        changes
    }

    /// Commits that wait for the writer together are committed in one
    /// transaction, each all or nothing: a conflict and a full quota undo
    /// only their own commit, and the others' writes all land.
    #[test]
    fn waiting_commits_share_one_transaction_and_fail_alone() {
        let db = Arc::new(Sqlite::in_memory());
        let roomy = Usage { bytes: 1 << 20, keys: 100 };
        // Read `k` as absent, then write `j`: the group's first commit writes `k` first.
        let mut stale = writing("j", b"2");
        stale.reads.insert("k".into(), None);
        let commits = [
            ("a", writing("k", b"1"), roomy),
            ("a", stale, roomy),
            ("c", writing("big", &[0; 64]), Usage { bytes: 8, keys: 1 }),
            ("d", writing("x", b"3"), roomy),
        ];
        let writer = db.lock();
        let mut threads = Vec::new();
        for (queued, (plugin, changes, quota)) in commits.into_iter().enumerate() {
            let shared = db.clone();
            threads.push(std::thread::spawn(move || {
                let outcome = shared.commit(plugin, &changes, quota);
                (outcome, TRANSACTIONS.get())
            }));
            // One at a time, so the group's order is known (bounded wait).
            for _ in 0..1000 {
                if db.commits.len() > queued {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            assert_eq!(db.commits.len(), queued + 1, "commit {queued} waits for the writer");
        }
        drop(writer);
        let ended: Vec<_> = threads.into_iter().map(|thread| thread.join().expect("committer")).collect();
        let transactions: u32 = ended.iter().map(|(_, transactions)| transactions).sum();
        assert_eq!(transactions, 1, "one transaction for the four");
        let outcomes: Vec<_> = ended.into_iter().map(|(outcome, _)| outcome).collect();
        assert!(outcomes[0].is_ok(), "{:?}", outcomes[0]);
        assert!(
            matches!(&outcomes[1], Err(CommitError::Conflict { key }) if key == "k"),
            "{:?}",
            outcomes[1]
        );
        assert!(matches!(outcomes[2], Err(CommitError::QuotaExceeded { .. })), "{:?}", outcomes[2]);
        assert!(outcomes[3].is_ok(), "{:?}", outcomes[3]);
        let value = |plugin: &str, key: &str| db.get(plugin, key).expect("get").map(|stored| stored.value);
        assert_eq!(value("a", "k"), Some(b"1".to_vec()));
        assert_eq!(value("a", "j"), None, "the conflicting commit wrote nothing");
        assert_eq!(value("c", "big"), None, "the commit over its quota wrote nothing");
        assert_eq!(db.usage("c").expect("usage").keys, 0);
        assert_eq!(value("d", "x"), Some(b"3".to_vec()));
    }

    /// What a write's hooks commit together is one transaction, each commit
    /// with its own outcome: a conflict undoes only its own part.
    #[test]
    fn commits_made_together_share_one_transaction_and_fail_alone() {
        let db = Sqlite::in_memory();
        let roomy = Usage { bytes: 1 << 20, keys: 100 };
        let first = writing("k", b"1");
        let mut stale = writing("j", b"2");
        stale.reads.insert("k".into(), None);
        let other = writing("x", b"3");
        let before = TRANSACTIONS.get();
        let outcomes = db.commit_together(&[
            PluginCommit { plugin: "a", changes: &first, quota: roomy },
            PluginCommit { plugin: "a", changes: &stale, quota: roomy },
            PluginCommit { plugin: "d", changes: &other, quota: roomy },
        ]);
        assert_eq!(TRANSACTIONS.get() - before, 1, "one transaction for the three");
        assert!(outcomes[0].is_ok() && outcomes[2].is_ok(), "{outcomes:?}");
        assert!(matches!(&outcomes[1], Err(CommitError::Conflict { key }) if key == "k"), "{outcomes:?}");
        let value = |plugin: &str, key: &str| db.get(plugin, key).expect("get").map(|stored| stored.value);
        assert_eq!(
            (value("a", "k"), value("a", "j"), value("d", "x")),
            (Some(b"1".to_vec()), None, Some(b"3".to_vec()))
        );
    }
}
