//! The storage view without a guest, over a real SQLite backend: what a call
//! sees of its own buffered writes, when it must run again because another
//! call committed under it, the quota checked before the commit, and
//! `increment`'s refusals.

use super::storage::{StorageConflict, StorageCtx, StorageView};
use super::test_support::{backend, context, run};
use super::{Caller, HostFunction};
use crate::GuestError;
use crate::bindings::plinth::plugin::storage::Host as _;
use crate::limits::Limits;
use crate::store::{Backend, KvChanges, Usage};
use std::time::{Duration, Instant};

const ALL: &[HostFunction] = HostFunction::ALL;

/// Commits `writes` for plugin `p` as another call would.
fn commit_elsewhere(backend: &Backend, writes: &[(&str, Option<&str>)]) {
    let writes = writes.iter().map(|(k, v)| (k.to_string(), v.map(|v| v.as_bytes().to_vec()))).collect();
    let changes = KvChanges { writes, ..KvChanges::default() };
    let quota = Usage { bytes: u64::MAX, keys: u64::MAX };
    backend.kv.commit("p", &changes, quota).expect("commit");
}

/// One call of plugin `p` with every grant and `limits`.
struct Call {
    caller: Caller,
    ctx: StorageCtx,
}

impl Call {
    fn new(limits: Limits) -> Call {
        let caller = Caller::new(context("p", ALL, limits, None), Instant::now() + Duration::from_secs(5));
        Call { caller, ctx: StorageCtx::default() }
    }

    fn view<'a>(&'a mut self, backend: &'a Backend) -> StorageView<'a> {
        StorageView { caller: &mut self.caller, kv: &*backend.kv, ctx: &mut self.ctx }
    }
}

fn conflicted<T: std::fmt::Debug>(outcome: wasmtime::Result<T>) -> bool {
    outcome.expect_err("a conflict stops the call").downcast_ref::<StorageConflict>().is_some()
}

#[test]
fn a_key_read_twice_across_another_commit_is_a_conflict() {
    let (_data, backend) = backend();
    let mut call = Call::new(Limits::default());
    assert_eq!(run(call.view(&backend).get("k".into())).expect("get").expect("ok"), None);
    commit_elsewhere(&backend, &[("k", Some("theirs"))]);
    assert!(conflicted(run(call.view(&backend).get("k".into()))), "the second read sees another version");
    // A key the call wrote itself reads back its own write, never the store.
    let mut call = Call::new(Limits::default());
    run(call.view(&backend).set("mine".into(), b"1".to_vec())).expect("set").expect("ok");
    commit_elsewhere(&backend, &[("mine", Some("theirs"))]);
    let mine = run(call.view(&backend).get("mine".into())).expect("get").expect("ok");
    assert_eq!(mine.as_deref(), Some(&b"1"[..]));
}

#[test]
fn a_listing_shows_the_calls_own_writes_and_conflicts_when_the_store_changes() {
    let (_data, backend) = backend();
    commit_elsewhere(&backend, &[("a/1", Some("x")), ("a/2", Some("x")), ("b/1", Some("x"))]);
    let mut call = Call::new(Limits::default());
    let mut view = call.view(&backend);
    run(view.set("a/3".into(), b"y".to_vec())).expect("set").expect("ok");
    assert!(run(view.delete("a/1".into())).expect("delete").expect("ok"), "a/1 existed");
    let keys = run(view.list_keys("a/".into())).expect("list").expect("ok");
    assert_eq!(keys, ["a/2", "a/3"], "the store's keys with the call's writes applied");
    commit_elsewhere(&backend, &[("a/4", Some("x"))]);
    assert!(conflicted(run(call.view(&backend).list_keys("a/".into()))), "the prefix changed under the call");
}

#[test]
fn the_quota_is_checked_as_the_call_writes() {
    let (_data, backend) = backend();
    commit_elsewhere(&backend, &[("old", Some("x"))]);
    let limits = Limits { storage_keys: 2, ..Limits::default() };
    let mut call = Call::new(limits);
    let mut view = call.view(&backend);
    run(view.set("new".into(), b"1".to_vec())).expect("set").expect("the second key fits");
    let refused = run(view.set("third".into(), b"1".to_vec())).expect("no trap");
    assert!(matches!(refused, Err(GuestError::QuotaExceeded(_))), "{refused:?}");
    // Rewriting a key the call holds, or deleting, never passes the quota.
    run(view.set("new".into(), b"2".to_vec())).expect("set").expect("a rewrite fits");
    assert!(run(view.delete("old".into())).expect("delete").expect("ok"));
    run(view.set("third".into(), b"1".to_vec())).expect("set").expect("fits after the delete");
    let limits = Limits { storage_value_bytes: 4, ..Limits::default() };
    let mut call = Call::new(limits);
    let large = run(call.view(&backend).set("big".into(), b"12345".to_vec())).expect("no trap");
    assert!(matches!(large, Err(GuestError::QuotaExceeded(_))), "{large:?}");
}

/// A set first counts itself as a new key, without reading the store; near
/// the quota it looks up what it and the earlier sets replaced, so the check
/// stays exact.
#[test]
fn sets_near_the_quota_count_what_they_replace() {
    let (_data, backend) = backend();
    commit_elsewhere(&backend, &[("a", Some("x")), ("b", Some("x"))]);
    let limits = Limits { storage_keys: 3, ..Limits::default() };
    let mut call = Call::new(limits);
    let mut view = call.view(&backend);
    run(view.set("a".into(), b"y".to_vec())).expect("set").expect("counted as a third key, it fits");
    run(view.set("b".into(), b"y".to_vec())).expect("set").expect("a and b replace stored keys: 2 keys");
    run(view.set("c".into(), b"y".to_vec())).expect("set").expect("a new third key fits");
    let refused = run(view.set("d".into(), b"y".to_vec())).expect("no trap");
    assert!(matches!(refused, Err(GuestError::QuotaExceeded(_))), "a fourth does not: {refused:?}");
    run(view.set("c".into(), b"z".to_vec())).expect("set").expect("a rewrite of c still fits");
    let quota = Usage { bytes: u64::MAX, keys: 3 };
    backend.kv.commit("p", &call.ctx.into_changes(), quota).expect("the commit agrees");
    assert_eq!(backend.kv.usage("p").expect("usage").keys, 3, "the commit agrees: a, b and c");
}

#[test]
fn increment_counts_from_nothing_and_refuses_text_and_overflow() {
    let (_data, backend) = backend();
    commit_elsewhere(&backend, &[("text", Some("seven")), ("near", Some(&i64::MAX.to_string()))]);
    let mut call = Call::new(Limits::default());
    let mut view = call.view(&backend);
    assert_eq!(run(view.increment("n".into(), 1)).expect("increment").expect("ok"), 1);
    assert_eq!(
        run(view.increment("n".into(), 5)).expect("increment").expect("ok"),
        6,
        "on the call's own write"
    );
    assert_eq!(run(view.increment("n".into(), -10)).expect("increment").expect("ok"), -4);
    let text = run(view.increment("text".into(), 1)).expect("no trap");
    assert!(matches!(&text, Err(GuestError::InvalidInput(m)) if m.contains("decimal integer")), "{text:?}");
    let overflow = run(view.increment("near".into(), 1)).expect("no trap");
    assert!(matches!(&overflow, Err(GuestError::InvalidInput(m)) if m.contains("64-bit")), "{overflow:?}");
    // Only the counter was written; the increment's read is recorded for the commit.
    let changes = call.ctx.into_changes();
    assert_eq!(changes.writes.keys().collect::<Vec<_>>(), ["n"]);
    assert_eq!(changes.reads.get("n"), Some(&None), "read as absent, so a concurrent count conflicts");
}
