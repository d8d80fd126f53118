//! `Transfer` on sled: events read in id order from the `events` tree, and
//! written back exactly as exported, each event with its deliveries and
//! attempts in one transaction (the queue and counters follow the commit).

use sled::Transactional;
use sled::transaction::abort;

use super::*;

impl SledStore {
    fn event_ids_after(&self, after: Option<EventId>, limit: usize) -> Result<Vec<EventId>> {
        let start = after.map(|a| a.bytes()).unwrap_or([0; 16]);
        let mut ids = Vec::new();
        for key in self.trees.events.range(start..).keys() {
            let Some(id) = EventId::from_bytes(&key?) else {
                continue;
            };
            if Some(id) == after {
                continue;
            }
            ids.push(id);
            if ids.len() >= limit.max(1) {
                break;
            }
        }
        Ok(ids)
    }

    fn import_one(&self, dump: &EventDump) -> Result<bool> {
        let event_json = encode(&dump.event)?;
        // The deliveries are listed in `by_event`, not the record.
        let record = record::encode_event(&event_json, &[], &dump.payload)?;
        let mut encoded = Vec::new();
        for d in &dump.deliveries {
            let request = d.request.as_ref().map(encode).transpose()?;
            let attempts: Vec<(u32, Vec<u8>)> = d
                .attempts
                .iter()
                .map(|a| Ok((a.n, encode(a)?)))
                .collect::<Result<_>>()?;
            encoded.push((&d.delivery, request, attempts));
        }
        let _purging = self.purging.lock().unwrap_or_else(|p| p.into_inner());
        let _order = self.queue.order();
        let id = dump.event.id;
        let new = (
            &self.trees.events,
            &self.trees.webhooks,
            &self.trees.deliveries,
            &self.trees.by_event,
            &self.trees.by_status,
            &self.trees.queue,
            &self.trees.attempts,
        )
            .transaction(
                |(events, webhooks, deliveries, by_event, by_status, queue, attempts)| {
                    if events.get(id.bytes())?.is_some() {
                        return Ok(false);
                    }
                    events.insert(&id.bytes()[..], record.as_slice())?;
                    let wkey = webhook_key(&dump.event.source, &dump.event.webhook_id);
                    if webhooks.get(&wkey)?.is_none() {
                        webhooks.insert(wkey, webhook_value(id, dump.event.received_at))?;
                    }
                    for (d, request, tries) in &encoded {
                        if deliveries.get(d.id.bytes())?.is_some() {
                            return abort(StoreError::Corrupt(format!(
                                "{} is already stored for another event",
                                d.id
                            )));
                        }
                        by_event.insert(by_event_key(id, &d.endpoint), &d.id.bytes()[..])?;
                        let latest = tries.iter().max_by_key(|(n, _)| *n);
                        for (n, json) in tries {
                            if Some(*n) != latest.map(|(l, _)| *l) {
                                attempts.insert(&attempt_key(d.id, *n)[..], json.as_slice())?;
                            }
                        }
                        let held = record::Held {
                            attempt: latest.map(|(n, json)| (*n, json.as_slice())),
                            request: request.as_deref(),
                        };
                        write_delivery(deliveries, by_status, queue, None, d, held)?;
                    }
                    Ok(true)
                },
            )
            .map_err(|e| self.tx_failed(e))?;
        if new {
            for d in &dump.deliveries {
                self.queue.moved(None, &d.delivery);
                self.counters
                    .add(&d.delivery.endpoint, d.delivery.status, 1);
            }
        }
        Ok(new)
    }
}

#[async_trait::async_trait]
impl Transfer for SledStore {
    async fn event_count(&self) -> Result<u64> {
        Ok(self.trees.events.len() as u64)
    }

    async fn export_events(&self, after: Option<EventId>, limit: usize) -> Result<Vec<EventDump>> {
        let ids = self.event_ids_after(after, limit)?;
        super::super::export_with(self, ids).await
    }

    async fn import_events(&self, events: &[EventDump]) -> Result<usize> {
        let mut new = 0;
        for dump in events {
            new += usize::from(self.import_one(dump)?);
        }
        self.committer.commit().await?;
        Ok(new)
    }

    async fn export_records(&self) -> Result<Vec<(String, String, Vec<u8>)>> {
        let mut out = Vec::new();
        for item in self.records.iter() {
            let (key, value) = item?;
            let Some(at) = key.iter().position(|b| *b == 0) else {
                continue;
            };
            out.push((
                String::from_utf8_lossy(&key[..at]).into_owned(),
                String::from_utf8_lossy(&key[at + 1..]).into_owned(),
                value.to_vec(),
            ));
        }
        Ok(out)
    }

    async fn endpoint_states(&self) -> Result<Vec<(String, EndpointState)>> {
        let mut out = Vec::new();
        for item in self.endpoints.iter() {
            let (key, value) = item?;
            out.push((
                String::from_utf8_lossy(&key).into_owned(),
                decode(&value, "endpoint state")?,
            ));
        }
        Ok(out)
    }
}
