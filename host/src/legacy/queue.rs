//! Admission of legacy jobs: a hard cap on pending jobs (running plus
//! waiting), beyond which a job is refused at once, never queued without
//! bound, and at most `workers` jobs running at once, started in the order
//! they came. A job runs on its caller's thread: handing it to a worker
//! thread and its answer back cost two thread wake-ups per job, about a
//! sixth of a small job's time.

use super::LegacyError;
use crate::sync::locked;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

pub(crate) struct JobSlots {
    pending: AtomicUsize,
    max_pending: usize,
    turns: Mutex<Turns>,
    freed: Condvar,
    workers: usize,
}

/// First come, first started: each waiting job holds a ticket.
#[derive(Default)]
struct Turns {
    running: usize,
    /// Callers waiting for their turn (no wake-up when there are none).
    waiting: usize,
    next_ticket: u64,
    next_to_start: u64,
}

/// Gives back what a job took when it ends, however it ends.
struct Taken<'a>(&'a JobSlots, bool);

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        let Taken(slots, running) = self;
        if *running {
            let mut turns = locked(&slots.turns);
            turns.running -= 1;
            if turns.waiting > 0 {
                slots.freed.notify_all();
            }
        }
        slots.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

impl JobSlots {
    pub(crate) fn new(workers: usize, max_pending: usize) -> JobSlots {
        JobSlots {
            pending: AtomicUsize::new(0),
            max_pending,
            turns: Mutex::default(),
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
        let mut turns = locked(&self.turns);
        let ticket = turns.next_ticket;
        turns.next_ticket += 1;
        while turns.next_to_start != ticket || turns.running >= self.workers {
            turns.waiting += 1;
            turns = self.freed.wait(turns).unwrap_or_else(std::sync::PoisonError::into_inner);
            turns.waiting -= 1;
        }
        turns.next_to_start += 1;
        turns.running += 1;
        taken.1 = true;
        // The next ticket may start too, if a worker is free.
        if turns.waiting > 0 {
            self.freed.notify_all();
        }
        drop(turns);
        Ok(catch_unwind(AssertUnwindSafe(work)).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn waiting_jobs_start_in_the_order_they_came_and_the_cap_refuses_at_once() {
        let slots = JobSlots::new(1, 4);
        let (release, hold) = channel::<()>();
        let (started, order) = channel();
        std::thread::scope(|scope| {
            let slots = &slots;
            scope.spawn(move || slots.run(|| hold.recv().expect("released")));
            while slots.pending() < 1 {
                std::thread::yield_now();
            }
            for n in 0..3 {
                let started = started.clone();
                scope.spawn(move || slots.run(|| started.send(n).expect("send")));
                // Each arrives only once the one before it waits.
                while slots.pending() < n + 2 {
                    std::thread::yield_now();
                }
            }
            assert!(matches!(slots.run(|| ()), Err(LegacyError::Busy { pending: 4, max: 4 })));
            release.send(()).expect("release");
        });
        drop(started);
        assert_eq!(order.iter().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(slots.pending(), 0);
        assert_eq!(slots.run(|| panic!("host code")).expect("admitted"), None, "a panic ends its job only");
        assert_eq!(slots.run(|| 7).expect("admitted"), Some(7), "and frees its slot");
    }
}
