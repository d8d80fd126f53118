//! `Transfer` on PostgreSQL: events read in id order, and written back
//! exactly as exported — a batch per transaction, an event already stored
//! left as it is.

use super::rows::{self, ms};
use super::{PgStore, WORK_CHANNEL, pg_error};
use crate::store::*;

#[async_trait::async_trait]
impl Transfer for PgStore {
    async fn event_count(&self) -> Result<u64> {
        let client = self.lazy().await?;
        let row = client
            .query_one("SELECT count(*) FROM events", &[])
            .await
            .map_err(pg_error);
        let n: i64 = self.track(row)?.try_get(0).map_err(pg_error)?;
        Ok(n.max(0) as u64)
    }

    async fn export_events(&self, after: Option<EventId>, limit: usize) -> Result<Vec<EventDump>> {
        let start = after.map(|a| a.bytes()).unwrap_or([0; 16]);
        let client = self.lazy().await?;
        let found = client
            .query(
                "SELECT id FROM events WHERE id > $1 ORDER BY id LIMIT $2",
                &[&&start[..], &(limit.max(1) as i64)],
            )
            .await
            .map_err(pg_error);
        let ids = self
            .track(found)?
            .iter()
            .map(|r| rows::event_id(r.try_get(0).map_err(pg_error)?))
            .collect::<Result<Vec<_>>>()?;
        drop(client);
        super::super::export_with(self, ids).await
    }

    async fn import_events(&self, events: &[EventDump]) -> Result<usize> {
        let mut client = self.durable().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let mut new = 0;
        let mut lanes: Vec<String> = Vec::new();
        for dump in events {
            let e = &dump.event;
            let inserted = tx
                .execute(
                    "INSERT INTO events (id, source, webhook_id, event_type, received_at, headers, payload)
                     VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7) ON CONFLICT (id) DO NOTHING",
                    &[
                        &&e.id.bytes()[..],
                        &e.source,
                        &e.webhook_id,
                        &e.event_type,
                        &ms(e.received_at),
                        &rows::json(&e.headers)?,
                        &dump.payload,
                    ],
                )
                .await
                .map_err(pg_error)?;
            if inserted == 0 {
                continue;
            }
            new += 1;
            tx.execute(
                "INSERT INTO webhooks (source, webhook_id, event_id, received_at, dedupe_until)
                 VALUES ($1, $2, $3, $4, $4) ON CONFLICT DO NOTHING",
                &[
                    &e.source,
                    &e.webhook_id,
                    &&e.id.bytes()[..],
                    &ms(e.received_at),
                ],
            )
            .await
            .map_err(pg_error)?;
            for d in &dump.deliveries {
                let v = &d.delivery;
                let request = d.request.as_ref().map(rows::json).transpose()?;
                tx.execute(
                    "INSERT INTO deliveries (id, event_id, endpoint, status, attempts, schedule_from,
                        created_at, updated_at, next_attempt_at, reason, last_status, transformed_by,
                        request, ordering_key)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::text::jsonb, $14)
                     ON CONFLICT DO NOTHING",
                    &[
                        &&v.id.bytes()[..],
                        &&v.event_id.bytes()[..],
                        &v.endpoint,
                        &v.status.as_str(),
                        &(v.attempts as i32),
                        &(v.schedule_from as i32),
                        &ms(v.created_at),
                        &ms(v.updated_at),
                        &v.next_attempt_at.map(ms),
                        &v.reason,
                        &v.last_status.map(i32::from),
                        &v.transformed_by,
                        &request,
                        &v.ordering_key,
                    ],
                )
                .await
                .map_err(pg_error)?;
                for a in &d.attempts {
                    tx.execute(
                        "INSERT INTO attempts (delivery_id, n, attempt) VALUES ($1, $2, $3::text::jsonb)
                         ON CONFLICT DO NOTHING",
                        &[&&v.id.bytes()[..], &(a.n as i32), &rows::json(a)?],
                    )
                    .await
                    .map_err(pg_error)?;
                }
                if v.status == DeliveryStatus::Pending && !lanes.contains(&v.endpoint) {
                    lanes.push(v.endpoint.clone());
                }
            }
        }
        tx.execute(
            "SELECT pg_notify($1, n) FROM unnest($2::text[]) AS x(n)",
            &[&WORK_CHANNEL, &lanes],
        )
        .await
        .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)?;
        for lane in &lanes {
            self.shared.signal(lane);
        }
        Ok(new)
    }

    async fn export_records(&self) -> Result<Vec<(String, String, Vec<u8>)>> {
        let client = self.lazy().await?;
        let found = client
            .query(
                "SELECT kind, key, value FROM records ORDER BY kind, key",
                &[],
            )
            .await
            .map_err(pg_error);
        self.track(found)?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(pg_error)?,
                    r.try_get(1).map_err(pg_error)?,
                    r.try_get(2).map_err(pg_error)?,
                ))
            })
            .collect()
    }

    async fn endpoint_states(&self) -> Result<Vec<(String, EndpointState)>> {
        let client = self.lazy().await?;
        let found = client
            .query(
                "SELECT endpoint, state::text FROM endpoint_states ORDER BY endpoint",
                &[],
            )
            .await
            .map_err(pg_error);
        self.track(found)?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(pg_error)?,
                    rows::from_json(r.try_get(1).map_err(pg_error)?, "endpoint state")?,
                ))
            })
            .collect()
    }
}
