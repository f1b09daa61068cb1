//! Quick reads: a guest's read runs on the runtime worker that runs its call,
//! instead of first handing the worker's other tasks to another thread
//! (`block_in_place`), which costs thread wake-ups and scheduler work on
//! every host call: under load, a plugin request's largest avoidable share.
//! A backend that can keep a read short takes part: it never waits for a
//! connection or a lock, and gives the read up once it has done about 50 µs
//! of work (tokio's rule of thumb is 10 to 100 µs between awaits), counted
//! in its own units (SQLite: virtual-machine steps) so that a read preempted
//! under load is not given up for time it did not use, or once it finds
//! [`CEILING`] passed. The host then runs it again handed off, so a slow
//! query holds a worker for about the budget, not for its whole length.

// A build without SQLite has no backend that takes part.
#![cfg_attr(not(feature = "sqlite"), allow(dead_code))]

use std::cell::Cell;
use std::time::{Duration, Instant};

/// The wall-clock time after which a quick read is given up all the same,
/// for waits no count of work sees (a page read from disk, say).
pub(crate) const CEILING: Duration = Duration::from_millis(1);

thread_local! {
    /// When the quick read running on this thread started.
    static STARTED: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Whether the backend gave that read up.
    static GAVE_UP: Cell<bool> = const { Cell::new(false) };
}

/// Runs `read` on this thread as a quick read; `None` if the backend gave it
/// up (its answer is then an error to discard).
pub(crate) fn run<R>(read: impl FnOnce() -> R) -> Option<R> {
    /// Ends the quick read however `read` ends, unwinding included.
    struct Ended;
    impl Drop for Ended {
        fn drop(&mut self) {
            STARTED.set(None);
        }
    }
    GAVE_UP.set(false);
    STARTED.set(Some(Instant::now()));
    let ended = Ended;
    let answer = read();
    drop(ended);
    (!GAVE_UP.replace(false)).then_some(answer)
}

/// When the quick read running on this thread started, if one runs: a backend
/// taking part then never waits, and keeps to the budget.
pub(crate) fn started() -> Option<Instant> {
    STARTED.get()
}

/// The backend gives the running quick read up: it would have to wait, or
/// used its budget.
pub(crate) fn give_up() {
    GAVE_UP.set(true);
}
