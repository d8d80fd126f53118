//! Work for deliveries this process ingested and has not attempted yet,
//! kept in memory so that a first attempt reads nothing back from sled.
//!
//! Why: sled's reads take its global lock, which the writer thread holds
//! for most of the time under load, so the four reads an attempt made
//! (delivery, request, event, payload) stalled a tokio worker — one that
//! also serves ingest — behind each write batch. An entry is exactly what
//! those reads would return: it is added when the ingest commits and
//! dropped when taken or when anything else changes the delivery (both
//! under the queue's commit order). Bounded in bytes: when full, the oldest
//! entries make way (an endpoint disabled after ingest must not keep the
//! space for ever); work not here is read from sled as before.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use crate::store::{Delivery, DeliveryId, Event, Work, WorkInput};

/// About what the entries may hold, payloads included.
const CAPACITY_BYTES: usize = 1 << 20;

/// What an entry is counted as besides its payload: the delivery, the
/// event, and the rest of the stored record, which the payload's buffer
/// (a slice of it) keeps alive.
const ENTRY_BYTES: usize = 1024;

/// What an entry with this payload is counted as.
fn cost(payload: &Bytes) -> usize {
    payload.len() + ENTRY_BYTES
}

#[derive(Default)]
pub(super) struct Fresh {
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    /// By id, so oldest first (ids are ULIDs).
    map: BTreeMap<DeliveryId, (Delivery, Arc<Event>, Bytes)>,
    bytes: usize,
}

impl Fresh {
    fn entries(&self) -> MutexGuard<'_, Entries> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The new deliveries of a committed ingest, in place of the oldest
    /// entries if there is no room.
    pub fn add(&self, deliveries: &[Delivery], event: &Arc<Event>, payload: &Bytes) {
        let added = cost(payload);
        if added > CAPACITY_BYTES {
            return;
        }
        let mut entries = self.entries();
        for delivery in deliveries {
            while entries.bytes + added > CAPACITY_BYTES {
                let Some((_, (_, _, evicted))) = entries.map.pop_first() else {
                    break;
                };
                entries.bytes -= cost(&evicted);
            }
            entries.bytes += added;
            let entry = (delivery.clone(), event.clone(), payload.clone());
            if let Some((_, _, replaced)) = entries.map.insert(delivery.id, entry) {
                entries.bytes -= cost(&replaced);
            }
        }
    }

    /// The work of a delivery not attempted yet, if it is here.
    pub fn take(&self, id: DeliveryId) -> Option<Work> {
        let mut entries = self.entries();
        let (delivery, event, payload) = entries.map.remove(&id)?;
        entries.bytes -= cost(&payload);
        Some(Work {
            delivery,
            input: WorkInput::Event(event, payload),
            send_at: None,
        })
    }

    /// The delivery changed: its entry no longer says what sled holds.
    pub fn forget(&self, id: DeliveryId) {
        let mut entries = self.entries();
        if let Some((_, _, payload)) = entries.map.remove(&id) {
            entries.bytes -= cost(&payload);
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DeliveryStatus, EventId};

    /// The `n`th delivery made (ids in time order).
    fn delivery(n: u64) -> Delivery {
        Delivery {
            id: DeliveryId(ulid::Ulid::from_parts(1_000 + n, 0)),
            event_id: EventId::new(),
            endpoint: "a".into(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            schedule_from: 0,
            created_at: 1,
            updated_at: 1,
            next_attempt_at: Some(1),
            reason: None,
            last_status: None,
            transformed_by: None,
            ordering_key: None,
        }
    }

    #[test]
    fn when_full_the_oldest_make_way_and_the_count_of_bytes_returns_to_zero() {
        let fresh = Fresh::default();
        let event = Arc::new(Event {
            id: EventId::new(),
            source: "s".into(),
            webhook_id: "m".into(),
            event_type: "t".into(),
            received_at: 1,
            headers: vec![],
        });
        let payload = Bytes::from(vec![b'x'; 100 * 1024]);
        let fit = CAPACITY_BYTES / cost(&payload);
        let all: Vec<Delivery> = (0..fit as u64 + 3).map(delivery).collect();
        for d in &all {
            fresh.add(std::slice::from_ref(d), &event, &payload);
        }
        assert_eq!(fresh.len(), fit);
        assert!(fresh.take(all[2].id).is_none(), "the oldest were evicted");
        assert!(fresh.take(all[fit + 2].id).is_some(), "the newest kept");
        for d in &all {
            fresh.forget(d.id);
        }
        assert_eq!(fresh.len(), 0);
        assert_eq!(fresh.entries().bytes, 0);

        let too_big = Bytes::from(vec![b'x'; CAPACITY_BYTES]);
        fresh.add(&all[..1], &event, &too_big);
        assert_eq!(fresh.len(), 0);
    }
}
