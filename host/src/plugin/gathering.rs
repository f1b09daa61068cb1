//! The commits of one write's quick hooks, made together. Each hook's call
//! ends in a storage commit, and on SQLite a commit costs its log write
//! more than its statements: ten quick hooks were ten log writes, about
//! half of the write's time. While a write runs its hooks in turn, each
//! hook's commit waits here (the call parks at its commit), the write goes
//! on to the next hook, and once it has run them all it commits what waits
//! in one transaction, each commit in a savepoint of its own
//! ([`PluginKv::commit_together`]): all or nothing per hook, and a hook
//! whose commit conflicts runs again as it would have alone. A commit that
//! comes once the gathering is closed (a slow hook's, which the write left
//! running on its own) commits at once, as outside a gathering.
//!
//! Only a backend that gains from it gathers ([`PluginKv::commits_together`]):
//! elsewhere the hooks' commits would only be made later, one by one. A
//! parked call keeps its call slot and its plugin's serial lock until the
//! write commits, so a write gathers for a few milliseconds at most, and a
//! hook parks only while its plugin has a call slot to spare (its widget
//! may be needed by a later hook of the same write, its routes by anyone).
//! A write dropped before it commits (its caller gone) leaves each parked
//! hook's delivery in the outbox, run again later, as for any hook cut
//! short; one dropped after it commits keeps the writes and settlements,
//! and only the calls' announcements (logs, feeds, the outbox's wake-up)
//! are lost, as for a call dropped at its end.

use crate::capabilities::in_place;
use crate::store::{CommitError, KvChanges, PluginCommit, PluginKv, Usage};
use crate::sync::locked;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, oneshot};
use tokio::task::futures::TaskLocalFuture;

tokio::task_local! {
    /// The gathering the hook running on this task belongs to.
    static GATHERING: Arc<Gathering>;
}

/// One write's gathering of its hooks' commits.
pub(crate) struct Gathering {
    state: Mutex<State>,
    /// Woken each time a commit starts to wait.
    parked: Notify,
}

#[derive(Default)]
struct State {
    closed: bool,
    /// Commits that started to wait here, ever.
    parks: usize,
    waiting: Vec<Waiting>,
}

/// A commit waiting for the write to commit it; its call waits for `reply`.
struct Waiting {
    plugin: String,
    changes: KvChanges,
    quota: Usage,
    reply: oneshot::Sender<Answered>,
}

impl Gathering {
    /// A gathering, open or closed from the start (where the backend does
    /// not gain from commits made together).
    pub(crate) fn new(open: bool) -> Gathering {
        Gathering { state: Mutex::new(State { closed: !open, ..State::default() }), parked: Notify::new() }
    }

    /// `hook` with its commit gathered here while the gathering is open.
    pub(crate) fn around<F: Future>(self: &Arc<Self>, hook: F) -> TaskLocalFuture<Arc<Gathering>, F> {
        GATHERING.scope(self.clone(), hook)
    }

    /// How many commits started to wait here so far.
    pub(crate) fn parks(&self) -> usize {
        locked(&self.state).parks
    }

    /// Ends once more than `parks` commits started to wait here.
    pub(crate) async fn parked_beyond(&self, parks: usize) {
        loop {
            // Made before the check, so a park between the two still wakes it.
            let parked = self.parked.notified();
            if self.parks() > parks {
                return;
            }
            parked.await;
        }
    }

    /// Parks a commit here while the gathering is open (the answer comes
    /// on the receiver); hands the changes back once it is closed.
    fn park(&self, plugin: &str, changes: KvChanges, quota: Usage) -> Result<Answer, Box<KvChanges>> {
        let (reply, answer) = oneshot::channel();
        {
            let mut state = locked(&self.state);
            if state.closed {
                return Err(Box::new(changes));
            }
            state.waiting.push(Waiting { plugin: plugin.to_string(), changes, quota, reply });
            state.parks += 1;
        }
        self.parked.notify_waiters();
        Ok(answer)
    }

    /// Closes the gathering and commits what waits in it, together. If the
    /// group fails as a whole (its transaction could not begin or end),
    /// each commit is tried again alone, so one bad moment fails no hook
    /// that could commit.
    pub(crate) fn close_and_commit(&self, kv: &dyn PluginKv) {
        let waiting = {
            let mut state = locked(&self.state);
            state.closed = true;
            std::mem::take(&mut state.waiting)
        };
        if waiting.is_empty() {
            return;
        }
        let commits: Vec<PluginCommit<'_>> = waiting
            .iter()
            .map(|waiting| PluginCommit {
                plugin: &waiting.plugin,
                changes: &waiting.changes,
                quota: waiting.quota,
            })
            .collect();
        let mut outcomes = in_place(|| kv.commit_together(&commits));
        if commits.len() > 1 && outcomes.iter().all(|outcome| matches!(outcome, Err(CommitError::Store(_)))) {
            outcomes = commits.iter().map(|commit| commit_now(kv, commit)).collect();
        }
        for (waiting, outcome) in waiting.into_iter().zip(outcomes) {
            // Its call is gone only if the write was dropped meanwhile (then
            // its delivery stays in the outbox, as for any hook cut short).
            let _ = waiting.reply.send((waiting.changes, outcome));
        }
    }
}

/// Commits `changes` for `plugin`, a hook's own commit when `hook`: with the
/// other hooks of its write when the call runs in an open gathering, else at
/// once (so do the calls a hook makes inside it, widgets' `validate`, which
/// must not stop the hook halfway). Hands the changes back with the outcome.
pub(crate) async fn commit(
    kv: &dyn PluginKv,
    hook: bool,
    plugin: &str,
    changes: KvChanges,
    quota: Usage,
) -> Answered {
    let gathering = GATHERING.try_with(Arc::clone).ok().filter(|_| hook);
    let changes = match gathering {
        Some(gathering) => match gathering.park(plugin, changes, quota) {
            Ok(answer) => return answer.await.unwrap_or_else(|_| (KvChanges::default(), Err(lost()))),
            Err(changes) => *changes,
        },
        None => changes,
    };
    let outcome = commit_now(kv, &PluginCommit { plugin, changes: &changes, quota });
    (changes, outcome)
}

/// What a parked commit is answered: its changes, handed back, and its outcome.
type Answered = (KvChanges, Result<(), CommitError>);
type Answer = oneshot::Receiver<Answered>;

/// `commit`, made at once.
fn commit_now(kv: &dyn PluginKv, commit: &PluginCommit<'_>) -> Result<(), CommitError> {
    in_place(|| kv.commit(commit.plugin, commit.changes, commit.quota))
}

/// What a parked call gets if its gathering vanished unanswered (it cannot:
/// the write that gathered it answers every commit it closes on).
fn lost() -> CommitError {
    CommitError::Store(crate::store::StoreError::Failed {
        operation: "committing plugin storage",
        message: "the write that gathered the commit ended before committing it".into(),
    })
}
