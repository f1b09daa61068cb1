//! The job queue: a fixed set of worker threads and a hard cap on pending jobs
//! (running plus waiting). A job over the cap is refused at once, never queued
//! without bound.

use super::LegacyError;
use crate::sync::locked;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel, sync_channel};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

pub(crate) struct JobQueue {
    sender: Mutex<Sender<Job>>,
    pending: Arc<AtomicUsize>,
    max_pending: usize,
}

/// Frees a pending slot when the job ends, however it ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl JobQueue {
    pub(crate) fn new(workers: usize, max_pending: usize) -> std::io::Result<JobQueue> {
        let (sender, receiver) = channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..workers.max(1) {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("plinth-legacy-{index}"))
                .spawn(move || work(&receiver))?;
        }
        Ok(JobQueue { sender: Mutex::new(sender), pending: Arc::default(), max_pending })
    }

    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// Queues `work`, or refuses it with [`LegacyError::Busy`] when the cap is
    /// reached. The receiver gets the result once the job's slot is free again.
    pub(crate) fn submit<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Receiver<T>, LegacyError> {
        let before = self.pending.fetch_add(1, Ordering::SeqCst);
        let slot = Slot(self.pending.clone());
        if before >= self.max_pending {
            return Err(LegacyError::Busy { pending: before, max: self.max_pending });
        }
        let (reply, receiver) = sync_channel(1);
        let job: Job = Box::new(move || {
            let result = work();
            drop(slot);
            let _ = reply.send(result);
        });
        let sender = locked(&self.sender);
        sender.send(job).map_err(|_| LegacyError::Io {
            operation: "queueing a job".into(),
            source: std::io::Error::other("the legacy workers have stopped"),
        })?;
        Ok(receiver)
    }
}

fn work(receiver: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let receiver = locked(receiver);
            receiver.recv()
        };
        match job {
            // A panic in host code ends this job only; the worker carries on.
            Ok(job) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
            Err(_) => return,
        }
    }
}
