//! Group work: jobs sent to a batcher while its batches run wait and go
//! together into the next one, so a busy node pays one round trip (and
//! one commit) for many of them. Ingests and finished attempts use it.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};

/// Starts a batcher: `run` gets up to `max` jobs at a time, with at most
/// `in_flight` batches running at once (while one waits on PostgreSQL, the
/// next fills). Jobs are sent to the returned queue.
pub fn start<J, F, Fut>(max: usize, in_flight: usize, run: F) -> mpsc::UnboundedSender<J>
where
    J: Send + 'static,
    F: Fn(Vec<J>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<J>();
    tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(in_flight));
        while let Some(first) = rx.recv().await {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < max {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let running = run(batch);
            tokio::spawn(async move {
                running.await;
                drop(slot);
            });
        }
    });
    tx
}
