//! Where a plugin's reads run. A read its store keeps short (`store::quick`)
//! runs on the runtime worker that runs the call, saving the hand-off of the
//! worker's other tasks to another thread. One the store gave up is handed
//! off like any blocking work (`in_place`), and so are that plugin's next few
//! reads of the same kind, so a plugin whose queries are long does not pay
//! the budget on every call; then one is tried in place again.

use super::{Caller, HostFunction, in_place};
use crate::store::quick;
use std::sync::atomic::{AtomicU8, Ordering};

/// Reads handed off straight away after one was given up.
const HANDED_OFF_AFTER_SLOW: u8 = 15;

/// Per host function, how many of a plugin's reads are still to be handed off
/// straight away.
pub(crate) struct SlowReads([AtomicU8; HostFunction::ALL.len()]);

impl Default for SlowReads {
    fn default() -> SlowReads {
        SlowReads([const { AtomicU8::new(0) }; HostFunction::ALL.len()])
    }
}

/// Runs `read` for `caller`'s call of `function`: in place when its store
/// `keeps_reads_short` and no recent one was slow, else (or when the store
/// gave it up) handed off.
pub(crate) fn read_in_place<R>(
    caller: &Caller,
    function: HostFunction,
    keeps_reads_short: bool,
    read: impl Fn() -> R,
) -> R {
    if !keeps_reads_short || !on_runtime_worker() {
        return in_place(read);
    }
    let to_hand_off = &caller.plugin.slow_reads.0[function as usize];
    // Races between calls only shift when the next try in place comes.
    match to_hand_off.load(Ordering::Relaxed) {
        0 => match quick::run(&read) {
            Some(answer) => answer,
            None => {
                to_hand_off.store(HANDED_OFF_AFTER_SLOW, Ordering::Relaxed);
                in_place(read)
            }
        },
        left => {
            to_hand_off.store(left - 1, Ordering::Relaxed);
            in_place(read)
        }
    }
}

/// Whether this thread runs a task of a multi-threaded runtime (a worker's,
/// or a blocking one's, where a read in place costs nothing either): a
/// worker is the only place where a hand-off costs anything, and where a
/// read in place holds up other tasks.
fn on_runtime_worker() -> bool {
    tokio::task::try_id().is_some()
        && tokio::runtime::Handle::try_current()
            .is_ok_and(|runtime| runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

#[cfg(test)]
mod tests {
    use super::super::entities::EntitiesView;
    use super::super::test_support::{backend, context};
    use super::*;
    use crate::bindings::plinth::plugin::entities::{EntityQuery, FieldFilter, Host as _};
    use crate::capabilities::PluginContext;
    use crate::entity_writes::EntitiesHandle;
    use crate::limits::Limits;
    use crate::store::{Backend, DATABASE_FILE};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// Counts the `entity_type` entities whose `n` is `n`, as `plugin` would,
    /// in a task on a runtime with one worker, beside a task spawned just
    /// before the read: its count, how often it was handed off, when it
    /// finished and when the other task ran.
    fn count_beside_a_task(
        backend: &Backend,
        plugin: &Arc<PluginContext>,
        entity_type: &str,
        n: &str,
    ) -> (u64, u32, Instant, Instant) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().expect("runtime");
        let (backend, plugin) = (backend.clone(), plugin.clone());
        let query = EntityQuery {
            entity_type: Some(entity_type.into()),
            filters: vec![FieldFilter { field: "n".into(), value: n.into() }],
            limit: None,
            offset: 0,
        };
        runtime.block_on(async move {
            let call = tokio::spawn(async move {
                let mut caller = Caller::new(plugin, Instant::now() + Duration::from_secs(60));
                let entities = EntitiesHandle::default();
                let mut view =
                    EntitiesView { caller: &mut caller, store: &backend.entities, entities: &entities };
                let other_task = tokio::spawn(async { Instant::now() });
                super::super::HANDED_OFF.set(0);
                let counted = view.count(query).await.expect("no trap").expect("counted");
                let finished = Instant::now();
                let handed_off = super::super::HANDED_OFF.get();
                (counted, handed_off, finished, other_task.await.expect("other task"))
            });
            call.await.expect("the call's task")
        })
    }

    /// A backend holding `rows` entities of type `row` and 10 of type `few`.
    fn backend_with_rows(rows: u32) -> (tempfile::TempDir, Backend) {
        let (data, backend) = backend();
        let db = rusqlite::Connection::open(data.path().join(DATABASE_FILE)).expect("database");
        for (entity_type, rows) in [("row", rows), ("few", 10)] {
            db.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
                 INSERT INTO entities (id, entity_type, data, created_at, updated_at)
                 SELECT ?1 || i, ?1, json_object('n', i), i, i FROM n",
                rusqlite::params![entity_type, rows],
            )
            .expect("rows");
        }
        (data, backend)
    }

    fn plugin() -> Arc<PluginContext> {
        context("p", HostFunction::ALL, Limits::default(), None)
    }

    /// A short read runs on the worker itself, not handed off: the task
    /// spawned before it can only run once the read is done. (Tried up to
    /// five times: a read preempted past the wall-clock ceiling, as it may
    /// be on a busy machine, is rightly handed off.)
    #[test]
    fn a_short_read_runs_in_place() {
        let (_data, backend) = backend_with_rows(100);
        let in_place = (0..5).any(|_| {
            let (counted, handed_off, finished, other_ran) =
                count_beside_a_task(&backend, &plugin(), "row", "3");
            assert_eq!(counted, 1);
            handed_off == 0 && other_ran > finished
        });
        assert!(in_place, "a short read was handed off five times out of five");
    }

    /// A slow read is given up in place and handed off, so the worker's other
    /// tasks run on another thread while it goes on: the task spawned before
    /// it runs before it ends.
    #[test]
    fn a_slow_read_never_holds_up_its_worker() {
        let (_data, backend) = backend_with_rows(200_000);
        let (counted, handed_off, finished, other_ran) =
            count_beside_a_task(&backend, &plugin(), "row", "-1");
        assert_eq!(counted, 0);
        assert_eq!(handed_off, 1, "given up once, then handed off");
        assert!(other_ran < finished, "the other task waited for the whole slow read");
    }

    /// After a slow read, the plugin's next reads of that kind are handed off
    /// straight away (not tried in place first), however short, and then one
    /// is tried in place again.
    #[test]
    fn reads_after_a_slow_one_are_handed_off_for_a_while() {
        let (_data, backend) = backend_with_rows(200_000);
        let plugin = plugin();
        let (_, handed_off, _, _) = count_beside_a_task(&backend, &plugin, "row", "-1");
        assert_eq!(handed_off, 1);
        for _ in 0..HANDED_OFF_AFTER_SLOW {
            let (counted, handed_off, _, _) = count_beside_a_task(&backend, &plugin, "few", "3");
            assert_eq!((counted, handed_off), (1, 1), "a read right after a slow one ran in place");
        }
        let (counted, handed_off, _, _) = count_beside_a_task(&backend, &plugin, "few", "3");
        assert_eq!(
            (counted, handed_off),
            (1, 0),
            "reads were still handed off after {HANDED_OFF_AFTER_SLOW}"
        );
        let other = super::super::test_support::context("q", HostFunction::ALL, Limits::default(), None);
        let (_, handed_off, _, _) = count_beside_a_task(&backend, &other, "few", "3");
        assert_eq!(handed_off, 0, "another plugin's reads paid for this one's slow read");
    }
}
