//! Group commit: many concurrent writers wait for one fsync. Waiters are
//! queued; a dedicated thread makes the database durable once for every
//! waiter queued so far (for sled: its flush, then the fsyncs that make the
//! flush durable, see `sled_store::durable`), so the cost of durability is
//! shared under load. The
//! writer thread queues one waiter for all the ingests of a batch,
//! right after it wrote them, so an acknowledgement waits for no async
//! task in between, and a batch is never split across two flushes.
//!
//! A flush that fails (disk full, I/O error) or does not finish within
//! [`COMMIT_TIMEOUT`] marks the store failed: sled cannot continue after an
//! I/O error (its flush then waits forever), so every later commit fails at
//! once and the server answers 503 until it reopens the database (see
//! `server::storage_watchdog`).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::StoreError;

/// Called once the flush that covers it is done (or failed).
pub type Waiter = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// How long an acknowledgement may wait for the disk.
pub const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the store can no longer write durably, once it cannot: shared by the
/// commit thread and the writer thread, set by whichever sees it first.
#[derive(Clone, Default)]
pub struct Failure(Arc<Mutex<Option<String>>>);

impl Failure {
    pub fn get(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Marks the store failed (the first reason is kept) and returns the
    /// error to report.
    pub fn set(&self, why: String) -> StoreError {
        let mut failure = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if failure.is_none() {
            tracing::error!("the store can no longer write durably: {why}");
            *failure = Some(why.clone());
        }
        StoreError::Storage(why)
    }
}

/// Where waiters are queued for the next flush.
#[derive(Clone)]
pub struct CommitQueue {
    waiters: mpsc::Sender<Waiter>,
    failure: Failure,
}

impl CommitQueue {
    /// Calls `waiter` once everything written before this call is on disk,
    /// or at once with the error if the store can no longer get there.
    pub fn after_flush(&self, waiter: Waiter) {
        if let Some(why) = self.failure.get() {
            return waiter(Err(StoreError::Storage(why)));
        }
        if let Err(mpsc::SendError(waiter)) = self.waiters.send(waiter) {
            waiter(Err(StoreError::Storage(
                "the commit thread has stopped".into(),
            )));
        }
    }
}

pub struct Committer {
    queue: Option<CommitQueue>,
    thread: Option<std::thread::JoinHandle<()>>,
    failure: Failure,
}

impl Committer {
    /// Starts the commit thread; `make_durable` writes out and syncs
    /// everything written so far, or says why it could not.
    pub fn start(
        mut make_durable: impl FnMut() -> Result<(), String> + Send + 'static,
        failure: Failure,
    ) -> std::io::Result<Committer> {
        let (queue, waiting) = mpsc::channel::<Waiter>();
        let failed = failure.clone();
        let thread = std::thread::Builder::new()
            .name("hookwasm-commit".into())
            .spawn(move || {
                crate::sched::latency_sensitive("hookwasm-commit");
                while let Ok(first) = waiting.recv() {
                    let mut batch = vec![first];
                    batch.extend(waiting.try_iter());
                    let result = make_durable().map_err(|why| failed.set(why));
                    for waiter in batch {
                        waiter(result.clone());
                    }
                }
            })?;
        Ok(Committer {
            queue: Some(CommitQueue {
                waiters: queue,
                failure: failure.clone(),
            }),
            thread: Some(thread),
            failure,
        })
    }

    /// Why the store can no longer make writes durable, if it cannot.
    pub fn failure(&self) -> Option<String> {
        self.failure.get()
    }

    /// For the writer thread, which queues one waiter per batch itself.
    pub fn queue(&self) -> Option<CommitQueue> {
        self.queue.clone()
    }

    /// Resolves once everything written before the call is on disk.
    pub async fn commit(&self) -> Result<(), StoreError> {
        // (A failed store is refused at once by `after_flush`.)
        let (tx, rx) = oneshot::channel();
        self.queue
            .as_ref()
            .ok_or_else(|| StoreError::Storage("the store is closed".into()))?
            .after_flush(Box::new(move |flushed| {
                let _ = tx.send(flushed);
            }));
        wait_for_disk(&self.failure, rx, COMMIT_TIMEOUT).await?
    }
}

/// Waits for an answer from the writer or commit thread; one that does not
/// come within `limit` (a disk that stopped answering) fails the store.
pub async fn wait_for_disk<T>(
    failure: &Failure,
    rx: oneshot::Receiver<T>,
    limit: Duration,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, rx).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(_)) => Err(failure.set("the store's commit or writer thread has stopped".into())),
        Err(_) => Err(failure.set(format!(
            "the disk did not confirm a write within {} s",
            limit.as_secs()
        ))),
    }
}

impl Drop for Committer {
    /// Stops the thread and waits for it, so the database (and its lock)
    /// is released when the store is dropped. A thread stuck in a failed
    /// flush is left behind rather than hanging shutdown.
    fn drop(&mut self) {
        self.queue.take();
        if let Some(thread) = self.thread.take()
            && self.failure().is_none()
        {
            let _ = thread.join();
        }
    }
}
