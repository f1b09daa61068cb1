//! Admission of legacy jobs: a hard cap on pending jobs (running plus
//! waiting), beyond which a job is refused at once, never queued without
//! bound, and at most `workers` jobs running at once. A job runs on its
//! caller's thread: handing it to a worker thread and its answer back cost
//! two thread wake-ups per job, about a sixth of a small job's time.

use super::LegacyError;
use crate::sync::locked;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

pub(crate) struct JobSlots {
    pending: AtomicUsize,
    max_pending: usize,
    running: Mutex<usize>,
    freed: Condvar,
    workers: usize,
}

/// Gives back what a job took when it ends, however it ends.
struct Taken<'a>(&'a JobSlots, bool);

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        let Taken(slots, running) = self;
        if *running {
            *locked(&slots.running) -= 1;
            slots.freed.notify_one();
        }
        slots.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

impl JobSlots {
    pub(crate) fn new(workers: usize, max_pending: usize) -> JobSlots {
        JobSlots {
            pending: AtomicUsize::new(0),
            max_pending,
            running: Mutex::new(0),
            freed: Condvar::new(),
            workers: workers.max(1),
        }
    }

    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// Runs `work` here once a worker slot is free, or refuses it with
    /// [`LegacyError::Busy`] when the cap is reached. A panic in host code
    /// ends this job only (`None`).
    pub(crate) fn run<T>(&self, work: impl FnOnce() -> T) -> Result<Option<T>, LegacyError> {
        let before = self.pending.fetch_add(1, Ordering::SeqCst);
        let mut taken = Taken(self, false);
        if before >= self.max_pending {
            return Err(LegacyError::Busy { pending: before, max: self.max_pending });
        }
        let mut running = locked(&self.running);
        while *running >= self.workers {
            running = self.freed.wait(running).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *running += 1;
        taken.1 = true;
        drop(running);
        Ok(catch_unwind(AssertUnwindSafe(work)).ok())
    }
}
