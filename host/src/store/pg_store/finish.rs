//! Batched finishes: every attempt's outcome queued while a batch runs goes
//! into the next one — one call of the schema's `finish` function, which
//! records the attempts and moves the deliveries on, on the lazy pool
//! (`synchronous_commit` off) — so a busy node pays one
//! round trip and one commit for many deliveries instead of one each.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};

use super::rows;
use super::{Shared, WORK_CHANNEL, pg_error, pool_error};
use crate::store::*;

/// Jobs per statement at most.
const BATCH: usize = 256;
/// Batches running at once: while one runs, the next fills.
const IN_FLIGHT: usize = 2;

/// One delivery's finish, as the statement's columns take it.
pub struct FinishJob {
    pub id: DeliveryId,
    pub n: i32,
    pub attempt: Option<String>,
    pub last_status: Option<i32>,
    pub request: Option<String>,
    pub made_for: i64,
    pub transformed_by: Option<String>,
    pub status: &'static str,
    pub next_at: Option<i64>,
    pub reason: Option<String>,
    pub now: i64,
    pub reply: oneshot::Sender<Result<Delivery>>,
}

/// Starts the batcher; finishes are sent to the returned queue.
pub fn start(pool: Pool, shared: Arc<Shared>) -> mpsc::UnboundedSender<FinishJob> {
    super::batch::start(BATCH, IN_FLIGHT, move |batch| {
        let (pool, shared) = (pool.clone(), shared.clone());
        async move { run(&pool, &shared, batch).await }
    })
}

/// Finishes `batch` in one statement, or — should PostgreSQL refuse it
/// (a deadlock with another node taking over a lease, say) — each job on
/// its own, so that one bad row fails only itself.
async fn run(pool: &Pool, shared: &Shared, mut batch: Vec<FinishJob>) {
    // Rows locked in id order; a delivery twice in one batch (it cannot
    // be, while its lease is held) would be updated once: the second goes
    // alone.
    batch.sort_by_key(|j| j.id);
    let mut seen = HashSet::new();
    let (mut once, mut again): (Vec<FinishJob>, Vec<FinishJob>) =
        batch.into_iter().partition(|j| seen.insert(j.id));
    let outcome = statement(pool, &shared.node, &once).await;
    shared.note(outcome.as_ref().err());
    match outcome {
        Ok(found) => answer(shared, pool, once, found).await,
        Err(e)
            if once.len() > 1
                && !matches!(&e, StoreError::Storage(why) if super::is_unreachable(why)) =>
        {
            tracing::warn!(
                "finishing {} deliveries at once failed ({e}); one at a time",
                once.len()
            );
            again.append(&mut once);
        }
        Err(e) => {
            for job in once {
                let _ = job.reply.send(Err(e.clone()));
            }
        }
    }
    for job in again {
        let outcome = statement(pool, &shared.node, std::slice::from_ref(&job)).await;
        shared.note(outcome.as_ref().err());
        match outcome {
            Ok(found) => answer(shared, pool, vec![job], found).await,
            Err(e) => {
                let _ = job.reply.send(Err(e));
            }
        }
    }
}

/// The deliveries as updated, by id.
async fn statement(
    pool: &Pool,
    node: &str,
    jobs: &[FinishJob],
) -> Result<HashMap<DeliveryId, Delivery>> {
    let ids: Vec<[u8; 16]> = jobs.iter().map(|j| j.id.bytes()).collect();
    let ids: Vec<&[u8]> = ids.iter().map(|b| &b[..]).collect();
    let n: Vec<i32> = jobs.iter().map(|j| j.n).collect();
    let attempt: Vec<Option<&str>> = jobs.iter().map(|j| j.attempt.as_deref()).collect();
    let now: Vec<i64> = jobs.iter().map(|j| j.now).collect();
    let request: Vec<Option<&str>> = jobs.iter().map(|j| j.request.as_deref()).collect();
    let made_for: Vec<i64> = jobs.iter().map(|j| j.made_for).collect();
    let transformed_by: Vec<Option<&str>> =
        jobs.iter().map(|j| j.transformed_by.as_deref()).collect();
    let last_status: Vec<Option<i32>> = jobs.iter().map(|j| j.last_status).collect();
    let status: Vec<&str> = jobs.iter().map(|j| j.status).collect();
    let next_at: Vec<Option<i64>> = jobs.iter().map(|j| j.next_at).collect();
    let reason: Vec<Option<&str>> = jobs.iter().map(|j| j.reason.as_deref()).collect();
    let client = pool.get().await.map_err(pool_error)?;
    // The schema's `finish` function: see the migration for why a function.
    let sql = format!(
        "SELECT {} FROM finish($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        rows::DELIVERY
    );
    let prepared = client.prepare_cached(&sql).await.map_err(pg_error)?;
    let found = client
        .query(
            &prepared,
            &[
                &ids,
                &n,
                &attempt,
                &now,
                &request,
                &made_for,
                &transformed_by,
                &last_status,
                &status,
                &next_at,
                &reason,
                &node,
            ],
        )
        .await
        .map_err(pg_error)?;
    let mut out = HashMap::with_capacity(found.len());
    for row in &found {
        let delivery = rows::delivery(row, 0)?;
        out.insert(delivery.id, delivery);
    }
    Ok(out)
}

/// Answers each job, wakes this node's lanes whose retry may now be the
/// earliest, and tells every node of FIFO keys whose head just left.
async fn answer(
    shared: &Shared,
    pool: &Pool,
    jobs: Vec<FinishJob>,
    mut found: HashMap<DeliveryId, Delivery>,
) {
    let mut released: Vec<String> = Vec::new();
    {
        let mut held = shared.held.lock().unwrap_or_else(|p| p.into_inner());
        for job in &jobs {
            held.remove(&job.id);
        }
    }
    for job in jobs {
        let Some(delivery) = found.remove(&job.id) else {
            let _ = job
                .reply
                .send(Err(StoreError::NotFound(job.id.to_string())));
            continue;
        };
        if delivery.status == DeliveryStatus::Pending {
            shared.signal(&delivery.endpoint);
        } else if delivery.ordering_key.is_some() {
            shared.signal(&delivery.endpoint);
            released.push(delivery.endpoint.clone());
        }
        let _ = job.reply.send(Ok(delivery));
    }
    if released.is_empty() {
        return;
    }
    released.sort_unstable();
    released.dedup();
    // Best effort: another node's lane that missed it looks again at its
    // backstop poll.
    let notified = async {
        let client = pool.get().await.map_err(pool_error)?;
        let statement = client
            .prepare_cached("SELECT pg_notify($1, n) FROM unnest($2::text[]) AS x(n)")
            .await
            .map_err(pg_error)?;
        client
            .execute(&statement, &[&WORK_CHANNEL, &released])
            .await
            .map_err(pg_error)
    };
    if let Err(e) = notified.await {
        tracing::warn!("telling other nodes of released FIFO keys failed: {e}");
    }
}
