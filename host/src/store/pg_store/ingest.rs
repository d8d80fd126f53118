//! Group commit of ingests: every ingest queued while a batch commits goes
//! into the next one — one transaction of multi-row inserts (`unnest`), so
//! a busy server pays one WAL flush for many events. `synchronous_commit`
//! stays on: an ingest is answered only after its batch's `COMMIT`.

use std::collections::HashMap;
use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, oneshot};

use super::rows::{self, ms};
use super::{Shared, WORK_CHANNEL, pg_error};
use crate::store::*;

/// Jobs per transaction at most.
const BATCH: usize = 512;
/// Batches committing at once: while one waits for its flush, the next
/// fills.
const IN_FLIGHT: usize = 4;

pub struct IngestJob {
    pub event: Event,
    pub payload: Vec<u8>,
    pub endpoints: Vec<Route>,
    pub window_ms: u64,
    pub reply: oneshot::Sender<Result<Ingested>>,
}

/// Starts the batcher; ingests are sent to the returned queue.
pub fn start(pool: Pool, shared: Arc<Shared>) -> mpsc::UnboundedSender<IngestJob> {
    super::batch::start(BATCH, IN_FLIGHT, move |batch: Vec<IngestJob>| {
        let (pool, shared) = (pool.clone(), shared.clone());
        async move {
            let answers = commit(&pool, &batch).await;
            shared.note(answers.as_ref().err());
            match answers {
                Ok(answers) => {
                    for (job, answer) in batch.into_iter().zip(answers) {
                        if !answer.duplicate {
                            for route in &job.endpoints {
                                shared.signal(&route.endpoint);
                            }
                        }
                        let _ = job.reply.send(Ok(answer));
                    }
                }
                Err(e) => {
                    for job in batch {
                        let _ = job.reply.send(Err(e.clone()));
                    }
                }
            }
        }
    })
}

/// One transaction for the whole batch; an answer per job, in order.
async fn commit(pool: &Pool, batch: &[IngestJob]) -> Result<Vec<Ingested>> {
    // A repeat within the batch is answered as a duplicate of the first.
    let mut first_of: HashMap<(&str, &str), usize> = HashMap::new();
    let mut repeat_of: Vec<Option<usize>> = Vec::with_capacity(batch.len());
    for (i, job) in batch.iter().enumerate() {
        let key = (job.event.source.as_str(), job.event.webhook_id.as_str());
        match first_of.get(&key) {
            Some(&first) => repeat_of.push(Some(first)),
            None => {
                first_of.insert(key, i);
                repeat_of.push(None);
            }
        }
    }
    let mut firsts: Vec<&IngestJob> = batch
        .iter()
        .zip(&repeat_of)
        .filter(|(_, r)| r.is_none())
        .map(|(j, _)| j)
        .collect();
    // Rows locked in key order: two batches never wait on each other in a
    // cycle.
    firsts.sort_by(|a, b| {
        (&a.event.source, &a.event.webhook_id).cmp(&(&b.event.source, &b.event.webhook_id))
    });

    let mut client = pool.get().await.map_err(super::pool_error)?;
    let tx = client.transaction().await.map_err(pg_error)?;
    let sources: Vec<&str> = firsts.iter().map(|j| j.event.source.as_str()).collect();
    let webhook_ids: Vec<&str> = firsts.iter().map(|j| j.event.webhook_id.as_str()).collect();
    let ids: Vec<[u8; 16]> = firsts.iter().map(|j| j.event.id.bytes()).collect();
    let id_refs: Vec<&[u8]> = ids.iter().map(|b| &b[..]).collect();
    let received: Vec<i64> = firsts.iter().map(|j| ms(j.event.received_at)).collect();
    let until: Vec<i64> = firsts
        .iter()
        .map(|j| ms(j.event.received_at.saturating_add(j.window_ms)))
        .collect();
    // The winners: new keys, and keys whose dedupe window has passed.
    let dedupe = tx
        .prepare_cached(
            "INSERT INTO webhooks AS w (source, webhook_id, event_id, received_at, dedupe_until)
             SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::int8[], $5::int8[])
             ON CONFLICT (source, webhook_id) DO UPDATE
                SET event_id = EXCLUDED.event_id, received_at = EXCLUDED.received_at,
                    dedupe_until = EXCLUDED.dedupe_until
                WHERE w.dedupe_until <= EXCLUDED.received_at
             RETURNING event_id",
        )
        .await
        .map_err(pg_error)?;
    // Index lookups only, as in the `claim` and `finish` functions: a plan
    // cached while `webhooks` was nearly empty would otherwise scan it
    // whole for every batch with a repeat in it, long after it grew.
    // Pipelined with the dedupe insert: no round trip of its own.
    let dedupe_params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
        [&sources, &webhook_ids, &id_refs, &received, &until];
    let (_, won) = tokio::try_join!(
        tx.batch_execute(
            "SET LOCAL enable_seqscan = off; SET LOCAL enable_hashjoin = off;
             SET LOCAL enable_mergejoin = off"
        ),
        tx.query(&dedupe, &dedupe_params),
    )
    .map_err(pg_error)?;
    let mut new: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
    for row in &won {
        new.insert(row.try_get::<_, Vec<u8>>(0).map_err(pg_error)?);
    }
    let winners: Vec<&IngestJob> = firsts
        .iter()
        .copied()
        .filter(|j| new.contains(&j.event.id.bytes()[..]))
        .collect();

    // The events and their deliveries.
    let e_ids: Vec<&[u8]> = id_refs
        .iter()
        .copied()
        .filter(|id| new.contains(*id))
        .collect();
    let e_sources: Vec<&str> = winners.iter().map(|j| j.event.source.as_str()).collect();
    let e_webhooks: Vec<&str> = winners
        .iter()
        .map(|j| j.event.webhook_id.as_str())
        .collect();
    let e_types: Vec<&str> = winners
        .iter()
        .map(|j| j.event.event_type.as_str())
        .collect();
    let e_received: Vec<i64> = winners.iter().map(|j| ms(j.event.received_at)).collect();
    let e_headers: Vec<String> = winners
        .iter()
        .map(|j| rows::json(&j.event.headers))
        .collect::<Result<_>>()?;
    let e_payloads: Vec<&[u8]> = winners.iter().map(|j| j.payload.as_slice()).collect();
    let mut d_ids: Vec<[u8; 16]> = Vec::new();
    let mut d_events: Vec<&[u8]> = Vec::new();
    let mut d_endpoints: Vec<&str> = Vec::new();
    let mut d_at: Vec<i64> = Vec::new();
    let mut d_keys: Vec<Option<&str>> = Vec::new();
    for (job, id) in winners.iter().zip(&e_ids) {
        for route in &job.endpoints {
            d_ids.push(DeliveryId::new().bytes());
            d_events.push(id);
            d_endpoints.push(&route.endpoint);
            d_at.push(ms(job.event.received_at));
            d_keys.push(route.ordering_key.as_deref());
        }
    }
    let d_id_refs: Vec<&[u8]> = d_ids.iter().map(|b| &b[..]).collect();
    let mut lanes: Vec<&str> = d_endpoints.clone();
    lanes.sort_unstable();
    lanes.dedup();
    let lost: Vec<&IngestJob> = firsts
        .iter()
        .copied()
        .filter(|j| !new.contains(&j.event.id.bytes()[..]))
        .collect();
    let l_sources: Vec<&str> = lost.iter().map(|j| j.event.source.as_str()).collect();
    let l_webhooks: Vec<&str> = lost.iter().map(|j| j.event.webhook_id.as_str()).collect();
    type P<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);
    let params: [P; 14] = [
        &e_ids,
        &e_sources,
        &e_webhooks,
        &e_types,
        &e_received,
        &e_headers,
        &e_payloads,
        &d_id_refs,
        &d_events,
        &d_endpoints,
        &d_at,
        &l_sources,
        &l_webhooks,
        &d_keys,
    ];
    // One statement: the events, their deliveries (the foreign key is
    // checked at its end), and for the losers which event they repeat and
    // how many deliveries it has.
    let store = tx
        .prepare_cached(
            "WITH e AS (
                INSERT INTO events (id, source, webhook_id, event_type, received_at, headers, payload)
                SELECT i, s, w, t, r, h::jsonb, p
                FROM unnest($1::bytea[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::text[], $7::bytea[])
                     AS x(i, s, w, t, r, h, p)),
             d AS (
                INSERT INTO deliveries (id, event_id, endpoint, status, created_at, updated_at,
                                        next_attempt_at, ordering_key)
                SELECT i, e, n, 'pending', t, t, t, k
                FROM unnest($8::bytea[], $9::bytea[], $10::text[], $11::int8[], $14::text[])
                     AS x(i, e, n, t, k))
             SELECT x.s, x.w, w.event_id,
                    (SELECT count(*) FROM deliveries d WHERE d.event_id = w.event_id)
             FROM unnest($12::text[], $13::text[]) AS x(s, w)
             JOIN webhooks w ON w.source = x.s AND w.webhook_id = x.w",
        )
        .await
        .map_err(pg_error)?;
    let notify = tx
        .prepare_cached("SELECT pg_notify($1, n) FROM unnest($2::text[]) AS x(n)")
        .await
        .map_err(pg_error)?;
    // Other nodes' idle lanes wake on this (sent at commit). Pipelined with
    // the inserts: one round trip for both.
    let notify_params: [P; 2] = [&WORK_CHANNEL, &lanes];
    let (existing, _) = tokio::try_join!(
        tx.query(&store, &params),
        tx.execute(&notify, &notify_params),
    )
    .map_err(pg_error)?;
    tx.commit().await.map_err(pg_error)?;

    let mut known: HashMap<(String, String), (EventId, usize)> = HashMap::new();
    for row in existing {
        let id: Vec<u8> = row.try_get(2).map_err(pg_error)?;
        let count: i64 = row.try_get(3).map_err(pg_error)?;
        known.insert(
            (
                row.try_get(0).map_err(pg_error)?,
                row.try_get(1).map_err(pg_error)?,
            ),
            (rows::event_id(&id)?, count as usize),
        );
    }
    let mut answers: Vec<Ingested> = Vec::with_capacity(batch.len());
    for (i, job) in batch.iter().enumerate() {
        let answer = match repeat_of[i] {
            Some(first) => {
                let first: &Ingested = &answers[first];
                Ingested {
                    event_id: first.event_id,
                    deliveries: first.deliveries,
                    duplicate: true,
                }
            }
            None if new.contains(&job.event.id.bytes()[..]) => Ingested {
                event_id: job.event.id,
                deliveries: job.endpoints.len(),
                duplicate: false,
            },
            None => {
                let key = (job.event.source.clone(), job.event.webhook_id.clone());
                let (event_id, deliveries) = known.get(&key).copied().ok_or_else(|| {
                    StoreError::Storage(format!(
                        "webhook {:?} was neither stored nor found",
                        job.event.webhook_id
                    ))
                })?;
                Ingested {
                    event_id,
                    deliveries,
                    duplicate: true,
                }
            }
        };
        answers.push(answer);
    }
    Ok(answers)
}
