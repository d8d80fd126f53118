//! Batched writes: one thread applies every ingest and every finished
//! attempt queued so far in a single sled transaction.
//!
//! Why: sled 0.34 seals its log buffer before and after every multi-tree
//! transaction, and its I/O threads write out each sealed buffer (a `pwrite`
//! and a `sync_file_range` that waits for the device), so one transaction
//! per event meant four device writes per delivered event, and about a
//! third of the server's CPU went to them. Batched, that
//! cost is paid once per batch; each event still commits atomically (the
//! batch is one transaction), and an ingest is still acknowledged only after
//! the group commit's flush (see `commit.rs`), which now covers whole
//! batches: the writer hands the batch's answers to the commit thread
//! itself, together. What is kept in memory (the counters, the copy of the
//! queue, the work of first attempts) is updated here too, right after each
//! batch, so it follows the order of the writes whatever becomes of the
//! callers.
//!
//! sled holds its global transaction lock for the whole batch, and reads on
//! other threads wait for it: batches are capped in jobs and in bytes.

use std::sync::{Arc, mpsc};

use bytes::Bytes;

use sled::transaction::TransactionalTree;
use sled::{Transactional, Tree};
use tokio::sync::oneshot;

use super::fresh::Fresh;
use super::queue::QueueIndex;
use super::{
    TxResult, attempt_key, decode_webhook_value, read_delivery, tx_error, webhook_value,
    write_delivery,
};
use crate::store::commit::{COMMIT_TIMEOUT, CommitQueue, Failure, Waiter, wait_for_disk};
use crate::store::counters::Counters;
use crate::store::{
    Attempt, Delivery, DeliveryStatus, Event, EventId, Millis, Next, Result, StoreError,
};

/// At most this many jobs per transaction…
const MAX_BATCH: usize = 128;
/// …and about this many bytes of payloads and requests.
const MAX_BATCH_BYTES: usize = 8 << 20;

/// The record and index trees. A batch writes to all but `payloads`,
/// `by_event` and `requests`: the first and last hold only what records
/// from before `record`'s layout keep apart, and `by_event` is written
/// only for deliveries added after ingest.
#[derive(Clone)]
pub(super) struct Trees {
    pub webhooks: Tree,
    pub events: Tree,
    pub payloads: Tree,
    pub deliveries: Tree,
    pub by_event: Tree,
    pub by_status: Tree,
    pub queue: Tree,
    pub attempts: Tree,
    pub requests: Tree,
}

/// A new event with its deliveries, unless `webhook_key` was seen within
/// the dedupe window.
pub(super) struct IngestJob {
    pub webhook_key: Vec<u8>,
    pub event_id: EventId,
    pub now: Millis,
    pub window_ms: u64,
    /// The event, its payload and its deliveries' ids (`record`).
    pub record: Bytes,
    /// Kept for the first attempts (`Fresh`); `payload` is a slice of
    /// `record`.
    pub event: Arc<Event>,
    pub payload: Bytes,
    pub deliveries: Vec<Delivery>,
}

/// The outcome of an attempt (or a transform that ended the delivery).
pub(super) struct FinishJob {
    pub id: crate::store::DeliveryId,
    /// (encoded request, `plugin@version`, the delivery's `updated_at` the
    /// transform started from)
    pub request: Option<(Vec<u8>, String, Millis)>,
    /// (the attempt's encoding, the attempt)
    pub attempt: Option<(Vec<u8>, Attempt)>,
    pub next: Next,
    pub now: Millis,
}

enum Job {
    Ingest(IngestJob, oneshot::Sender<Result<Option<EventId>>>),
    Finish(FinishJob, oneshot::Sender<Result<(Delivery, Delivery)>>),
}

impl Job {
    /// What the job adds to a batch. A retry's finish rewrites the request
    /// and attempt its delivery's record already holds, which are read only
    /// inside the transaction and not counted here: retries are few beside
    /// first attempts, and the batch is capped in jobs as well.
    fn bytes(&self) -> usize {
        match self {
            Job::Ingest(job, _) => job.record.len(),
            Job::Finish(job, _) => {
                job.request.as_ref().map_or(0, |r| r.0.len())
                    + job.attempt.as_ref().map_or(0, |a| a.0.len())
            }
        }
    }
}

enum Applied {
    Ingest(Option<EventId>),
    Finish(Box<Result<(Delivery, Delivery)>>),
}

pub(super) struct Writer {
    queue: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
    failure: Failure,
}

/// Marks the store failed if the writer thread ends by panicking.
struct PanicGuard(Failure);

impl Drop for PanicGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0
                .set("the store's writer thread stopped unexpectedly".into());
        }
    }
}

impl Writer {
    pub fn start(context: Context) -> std::io::Result<Writer> {
        let (queue, jobs) = mpsc::channel::<Job>();
        let failure = context.failure.clone();
        let guard = PanicGuard(failure.clone());
        let thread = std::thread::Builder::new()
            .name("hookwasm-writer".into())
            .spawn(move || {
                crate::sched::latency_sensitive("hookwasm-writer");
                let _guard = guard;
                while let Ok(first) = jobs.recv() {
                    let mut bytes = first.bytes();
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                        let Ok(job) = jobs.try_recv() else { break };
                        bytes += job.bytes();
                        batch.push(job);
                    }
                    context.apply(batch);
                }
            })?;
        Ok(Writer {
            queue: Some(queue),
            thread: Some(thread),
            failure,
        })
    }

    /// Stores the event (or finds the earlier copy: `Some(its id)`) and
    /// answers once that is on disk.
    pub async fn ingest(&self, job: IngestJob) -> Result<Option<EventId>> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Ingest(job, tx))?;
        // Two stages, the writer's batch and then the flush, each with the
        // commit timeout.
        wait_for_disk(&self.failure, rx, COMMIT_TIMEOUT * 2).await?
    }

    /// Records an attempt and moves the delivery on; returns it before and
    /// after.
    pub async fn finish(&self, job: FinishJob) -> Result<(Delivery, Delivery)> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Finish(job, tx))?;
        wait_for_disk(&self.failure, rx, COMMIT_TIMEOUT).await?
    }

    fn send(&self, job: Job) -> Result<()> {
        // After a failure nothing more is written: the store must reopen.
        if let Some(why) = self.failure.get() {
            return Err(StoreError::Storage(why));
        }
        self.queue
            .as_ref()
            .ok_or_else(|| self.stopped())?
            .send(job)
            .map_err(|_| self.stopped())
    }

    fn stopped(&self) -> StoreError {
        self.failure
            .set("the store's writer thread has stopped".into())
    }
}

impl Drop for Writer {
    /// Lets the thread finish the jobs already queued, then waits for it,
    /// unless the store failed (the thread may be stuck in sled for good).
    fn drop(&mut self) {
        self.queue.take();
        if let Some(thread) = self.thread.take()
            && self.failure.get().is_none()
        {
            let _ = thread.join();
        }
    }
}

/// What the writer thread works with.
pub(super) struct Context {
    pub trees: Trees,
    pub index: Arc<QueueIndex>,
    pub fresh: Arc<Fresh>,
    pub counters: Arc<Counters>,
    pub commits: CommitQueue,
    pub failure: Failure,
}

impl Context {
    /// Applies a batch in one transaction, updates what is kept in memory
    /// (the queue, first attempts' work, counters), and answers every job.
    fn apply(&self, batch: Vec<Job>) {
        let Context {
            trees,
            index,
            fresh,
            counters,
            commits,
            failure,
        } = self;
        let _order = index.order();
        let result = (
            &trees.webhooks,
            &trees.events,
            &trees.deliveries,
            &trees.by_status,
            &trees.queue,
            &trees.attempts,
        )
            .transaction(
                |(webhooks, events, deliveries, by_status, queue, attempts)| {
                    let mut applied = Vec::with_capacity(batch.len());
                    for job in &batch {
                        applied.push(match job {
                            Job::Ingest(job, _) => Applied::Ingest(ingest(
                                webhooks, events, deliveries, by_status, queue, job,
                            )?),
                            Job::Finish(job, _) => Applied::Finish(Box::new(finish(
                                deliveries, by_status, queue, attempts, job,
                            )?)),
                        });
                    }
                    Ok(applied)
                },
            );
        match result {
            Ok(applied) => {
                // The batch's ingests wait for one flush together: handed
                // over one by one, the commit thread woke at the first and
                // flushed without the rest, which then waited for a second
                // flush (the server spent 3-6 % more CPU).
                let mut acks: Vec<Waiter> = Vec::new();
                for (job, applied) in batch.into_iter().zip(applied) {
                    match (job, applied) {
                        (Job::Ingest(job, reply), Applied::Ingest(outcome)) => {
                            if outcome.is_none() {
                                let new = job.deliveries;
                                // Kept before the queue lists them, so that a
                                // dispatcher finds them there.
                                fresh.add(&new, &job.event, &job.payload);
                                for d in &new {
                                    index.moved(None, d);
                                    counters.add(&d.endpoint, DeliveryStatus::Pending, 1);
                                }
                            }
                            // Whether new or a repeat, answered only once on
                            // disk: a repeat may race the first copy's flush.
                            acks.push(Box::new(move |flushed| {
                                let _ = reply.send(flushed.map(|()| outcome));
                            }));
                        }
                        (Job::Finish(_, reply), Applied::Finish(outcome)) => {
                            if let Ok((old, new)) = outcome.as_ref() {
                                fresh.forget(new.id);
                                index.moved(Some(old), new);
                                counters.moved(&new.endpoint, old.status, new.status);
                            }
                            let _ = reply.send(*outcome);
                        }
                        // `applied` is built from `batch` in order.
                        (Job::Ingest(_, reply), _) => {
                            let _ = reply.send(Err(StoreError::Storage("batch mismatch".into())));
                        }
                        (Job::Finish(_, reply), _) => {
                            let _ = reply.send(Err(StoreError::Storage("batch mismatch".into())));
                        }
                    }
                }
                if !acks.is_empty() {
                    commits.after_flush(Box::new(move |flushed| {
                        for ack in acks {
                            ack(flushed.clone());
                        }
                    }));
                }
            }
            Err(e) => {
                // sled cannot write durably after a storage error, and the batch
                // may be half applied in memory: fail the store before anything
                // else is written, so that it is reopened.
                let e = match tx_error(e) {
                    StoreError::Storage(why) => failure.set(why),
                    other => other,
                };
                for job in batch {
                    match job {
                        Job::Ingest(_, reply) => {
                            let _ = reply.send(Err(e.clone()));
                        }
                        Job::Finish(_, reply) => {
                            let _ = reply.send(Err(e.clone()));
                        }
                    }
                }
            }
        }
    }
}

fn ingest(
    webhooks: &TransactionalTree,
    events: &TransactionalTree,
    deliveries: &TransactionalTree,
    by_status: &TransactionalTree,
    queue: &TransactionalTree,
    job: &IngestJob,
) -> TxResult<Option<EventId>> {
    // A transaction reads its own writes, so a repeat within the same batch
    // is found too.
    if let Some(previous) = webhooks.get(&job.webhook_key)?
        && let Some((id, at)) = decode_webhook_value(&previous)
        && job.now.saturating_sub(at) < job.window_ms
    {
        return Ok(Some(id));
    }
    let id = job.event_id.bytes();
    webhooks.insert(
        job.webhook_key.as_slice(),
        webhook_value(job.event_id, job.now),
    )?;
    events.insert(&id[..], job.record.as_ref())?;
    for d in &job.deliveries {
        write_delivery(deliveries, by_status, queue, None, d, Default::default())?;
    }
    Ok(None)
}

/// The outer result fails the whole batch (storage, or an encoding error,
/// which serde_json cannot produce for a `Delivery`); the inner one is this
/// job's own (the delivery is gone or unreadable).
fn finish(
    deliveries: &TransactionalTree,
    by_status: &TransactionalTree,
    queue: &TransactionalTree,
    attempts: &TransactionalTree,
    job: &FinishJob,
) -> TxResult<Result<(Delivery, Delivery)>> {
    let id = job.id;
    let Some(bytes) = deliveries.get(id.bytes())? else {
        return Ok(Err(StoreError::NotFound(id.to_string())));
    };
    let (old, mut held) = match read_delivery(&bytes) {
        Ok(read) => read,
        Err(e) => return Ok(Err(e)),
    };
    let mut new = old.clone();
    new.updated_at = job.now;
    // A request made before a replay (which moved `updated_at`) is stale.
    if let Some((bytes, transformed_by, made_for)) = &job.request
        && old.updated_at == *made_for
    {
        new.transformed_by = Some(transformed_by.clone());
        held.request = Some(bytes.as_slice());
    }
    if let Some((bytes, a)) = &job.attempt {
        new.attempts = new.attempts.max(a.n);
        new.last_status = a.status;
        // The record holds the latest attempt: the one it held moves out
        // (unless this one replaces it: the same number).
        if let Some((n, previous)) = held.attempt
            && n != a.n
        {
            attempts.insert(&attempt_key(id, n)[..], previous)?;
        }
        held.attempt = Some((a.n, bytes.as_slice()));
    }
    let (status, next_at, reason) = match &job.next {
        Next::Delivered => (DeliveryStatus::Delivered, None, None),
        Next::Retry { at, reason } => (DeliveryStatus::Pending, Some(*at), Some(reason.clone())),
        Next::Dead { reason } => (DeliveryStatus::Dead, None, Some(reason.clone())),
        Next::Skipped { reason } => (DeliveryStatus::Skipped, None, Some(reason.clone())),
        Next::Cancelled { reason } => (DeliveryStatus::Cancelled, None, Some(reason.clone())),
    };
    new.status = status;
    new.next_attempt_at = next_at;
    new.reason = reason;
    write_delivery(deliveries, by_status, queue, Some(&old), &new, held)?;
    Ok(Ok((old, new)))
}
