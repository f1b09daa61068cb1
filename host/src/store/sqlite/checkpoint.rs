//! WAL checkpoints off the commit path. SQLite's automatic checkpoint runs
//! inside whichever commit takes the log past 1,000 pages, copying the log
//! back into the database file there: a tenth of a busy hook's time. Here
//! the writer's commit hook only asks a thread with its own connection to
//! checkpoint (passively: it never waits for a writer or a reader). Should
//! that thread fall far behind, the commit checkpoints itself as before, so
//! the log stays bounded.

use rusqlite::Connection;
use rusqlite::hooks::Wal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// Log pages past which the thread is asked to checkpoint (SQLite's own
/// default threshold).
const ASK_AT: i32 = 1000;
/// Log pages past which the commit checkpoints itself (32 MiB at 4 KiB).
const SELF_AT: i32 = 8 * ASK_AT;

/// The running checkpointer; stopped (and joined) when dropped.
pub(super) struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    /// A checkpoint is wanted (set by commits, cleared by the thread).
    wanted: AtomicBool,
    /// Checkpoints the thread completed.
    done: AtomicU64,
    stop: AtomicBool,
    lock: Mutex<()>,
    woken: Condvar,
}

impl Shared {
    fn ask(&self) {
        // One wake-up per request, not per commit while it waits.
        if !self.wanted.swap(true, Ordering::SeqCst) {
            let _held = self.lock.lock();
            self.woken.notify_one();
        }
    }
}

impl Checkpointer {
    /// Starts the thread on the database at `path` and hooks `writer`'s commits to it.
    pub(super) fn start(path: &Path, writer: &mut Connection) -> rusqlite::Result<Checkpointer> {
        let connection = Connection::open(path)?;
        let shared = Arc::new(Shared::default());
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("plinth-checkpoint".into())
                .spawn(move || run(&connection, &shared))
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?
        };
        let hooked = shared.clone();
        writer.wal_hook(Some(move |wal: &mut Wal, pages: i32| {
            if pages >= SELF_AT {
                // As SQLite's own hook does, a checkpoint that cannot run now
                // (the thread is at it) fails nothing: the commit stands.
                let _ = wal.checkpoint();
            } else if pages >= ASK_AT {
                hooked.ask();
            }
            Ok(())
        }))?;
        Ok(Checkpointer { shared, thread: Some(thread) })
    }
}

impl Checkpointer {
    /// Checkpoints the thread completed so far.
    #[cfg(test)]
    pub(super) fn done(&self) -> u64 {
        self.shared.done.load(Ordering::SeqCst)
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let _held = self.shared.lock.lock();
            self.shared.woken.notify_all();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(connection: &Connection, shared: &Shared) {
    loop {
        {
            let mut held = shared.lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            while !shared.wanted.load(Ordering::SeqCst) && !shared.stop.load(Ordering::SeqCst) {
                held = shared.woken.wait(held).unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        }
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        shared.wanted.store(false, Ordering::SeqCst);
        // Busy or failing: the next request, or the commit itself past
        // SELF_AT, does it.
        match connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            Ok(()) => {
                shared.done.fetch_add(1, Ordering::SeqCst);
            }
            Err(error) => tracing::debug!("background checkpoint failed: {error}"),
        }
    }
}
