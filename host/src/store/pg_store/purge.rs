//! Retention on PostgreSQL: batch deletes of events whose deliveries are
//! all finished and old enough (their deliveries and attempts go with them,
//! `ON DELETE CASCADE`), a budget of events at a time; a pass by one node
//! at a time (`take_turn`).

use deadpool_postgres::Object;

use super::pg_error;
use super::rows::{self, ms};
use crate::store::*;

#[derive(Clone, Copy)]
pub struct Cutoffs {
    /// Events at or below this id are past the `done` retention.
    done_bound: [u8; 16],
    dead_cutoff: Millis,
    /// Nothing at or above this id can go.
    newest: [u8; 16],
}

impl Cutoffs {
    pub fn new(now: Millis, policy: RetentionPolicy) -> Cutoffs {
        let done = now.saturating_sub(policy.done.as_millis() as u64);
        let dead = now.saturating_sub(policy.dead.as_millis() as u64);
        Cutoffs {
            done_bound: EventId::bound(done, true).bytes(),
            dead_cutoff: dead,
            newest: EventId::bound(done.max(dead), true).bytes(),
        }
    }
}

/// How long a node's retention pass keeps others from starting one.
const TURN: std::time::Duration = std::time::Duration::from_secs(300);

/// Whether `node` may start a retention pass now: no other node started
/// one within `TURN`.
pub async fn take_turn(client: &Object, node: &str, now: Millis) -> Result<bool> {
    let won = client
        .query_opt(
            "INSERT INTO turns AS t (job, node, until) VALUES ('retention', $1, $2)
             ON CONFLICT (job) DO UPDATE SET node = EXCLUDED.node, until = EXCLUDED.until
                WHERE t.until <= $3 OR t.node = EXCLUDED.node
             RETURNING node",
            &[
                &node,
                &ms(now.saturating_add(TURN.as_millis() as u64)),
                &ms(now),
            ],
        )
        .await
        .map_err(pg_error)?;
    Ok(won.is_some())
}

pub async fn run(
    client: &mut Object,
    cut: Cutoffs,
    after: Option<EventId>,
    budget: usize,
) -> Result<(Purged, Option<EventId>)> {
    let budget = budget.max(1);
    let start = after.map(|a| a.bytes()).unwrap_or([0; 16]);
    let tx = client.transaction().await.map_err(pg_error)?;
    let candidates = tx
        .query(
            "SELECT id FROM events WHERE id > $1 AND id < $2 ORDER BY id LIMIT $3",
            &[&&start[..], &&cut.newest[..], &(budget as i64)],
        )
        .await
        .map_err(pg_error)?;
    let ids: Vec<Vec<u8>> = candidates
        .iter()
        .map(|r| r.try_get(0).map_err(pg_error))
        .collect::<Result<_>>()?;
    let resume = if ids.len() >= budget {
        ids.last().map(|id| rows::event_id(id)).transpose()?
    } else {
        None
    };
    if ids.is_empty() {
        tx.commit().await.map_err(pg_error)?;
        return Ok((Purged::default(), resume));
    }
    // Locked first: a replay waits until this commits, and then finds its
    // delivery gone, rather than reviving a delivery that is deleted.
    tx.execute(
        "SELECT 1 FROM deliveries WHERE event_id = ANY($1) FOR UPDATE",
        &[&ids],
    )
    .await
    .map_err(pg_error)?;
    let gone = tx
        .query(
            "DELETE FROM events e
             WHERE e.id = ANY($1) AND NOT EXISTS (
                SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND NOT (
                    (d.status = 'dead' AND d.updated_at <= $2)
                    OR (d.status IN ('delivered', 'skipped', 'cancelled') AND e.id <= $3)))
             RETURNING e.id, e.source, e.webhook_id,
                (SELECT count(*) FROM deliveries d WHERE d.event_id = e.id)",
            &[&ids, &ms(cut.dead_cutoff), &&cut.done_bound[..]],
        )
        .await
        .map_err(pg_error)?;
    let mut purged = Purged::default();
    let (mut g_ids, mut g_sources, mut g_webhooks) = (Vec::new(), Vec::new(), Vec::new());
    for row in &gone {
        let id: Vec<u8> = row.try_get(0).map_err(pg_error)?;
        g_sources.push(row.try_get::<_, String>(1).map_err(pg_error)?);
        g_webhooks.push(row.try_get::<_, String>(2).map_err(pg_error)?);
        let n: i64 = row.try_get(3).map_err(pg_error)?;
        g_ids.push(id);
        purged.events += 1;
        purged.deliveries += n.max(0) as u64;
    }
    // The dedupe entries that still point at a removed event.
    tx.execute(
        "DELETE FROM webhooks w USING unnest($1::text[], $2::text[], $3::bytea[]) AS x(s, k, i)
         WHERE w.source = x.s AND w.webhook_id = x.k AND w.event_id = x.i",
        &[&g_sources, &g_webhooks, &g_ids],
    )
    .await
    .map_err(pg_error)?;
    tx.commit().await.map_err(pg_error)?;
    Ok((purged, resume))
}
