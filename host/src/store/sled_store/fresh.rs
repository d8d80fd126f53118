//! Work for deliveries this process ingested and has not attempted yet,
//! kept in memory so that a first attempt reads nothing back from sled.
//!
//! Why: sled's reads take its global lock, which the writer thread holds
//! for most of the time under load, so the four reads an attempt made
//! (delivery, request, event, payload) stalled a tokio worker — one that
//! also serves ingest — behind each write batch. An entry is exactly what
//! those reads would return: it is added when the ingest commits and
//! dropped when taken or when anything else changes the delivery (both
//! under the queue's commit order). Bounded in bytes; past the bound, work
//! is read from sled as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use crate::store::{Delivery, DeliveryId, Event, Work, WorkInput};

/// About what the entries may hold, payloads included.
const CAPACITY_BYTES: usize = 1 << 20;

/// What an entry is counted as besides its payload.
const ENTRY_BYTES: usize = 1024;

#[derive(Default)]
pub(super) struct Fresh {
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    map: HashMap<DeliveryId, (Delivery, Arc<Event>, Bytes)>,
    bytes: usize,
}

impl Fresh {
    fn entries(&self) -> MutexGuard<'_, Entries> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The new deliveries of a committed ingest, as long as there is room.
    pub fn add(&self, deliveries: Vec<Delivery>, event: Arc<Event>, payload: Bytes) {
        let mut entries = self.entries();
        for delivery in deliveries {
            let cost = payload.len() + ENTRY_BYTES;
            if entries.bytes + cost > CAPACITY_BYTES {
                return;
            }
            entries.bytes += cost;
            entries
                .map
                .insert(delivery.id, (delivery, event.clone(), payload.clone()));
        }
    }

    /// The work of a delivery not attempted yet, if it is here.
    pub fn take(&self, id: DeliveryId) -> Option<Work> {
        let mut entries = self.entries();
        let (delivery, event, payload) = entries.map.remove(&id)?;
        entries.bytes -= payload.len() + ENTRY_BYTES;
        Some(Work {
            delivery,
            input: WorkInput::Event(event, payload),
        })
    }

    /// The delivery changed: its entry no longer says what sled holds.
    pub fn forget(&self, id: DeliveryId) {
        let mut entries = self.entries();
        if let Some((_, _, payload)) = entries.map.remove(&id) {
            entries.bytes -= payload.len() + ENTRY_BYTES;
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries().map.len()
    }
}
