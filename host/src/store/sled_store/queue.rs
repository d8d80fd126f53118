//! The delivery queue in memory: each endpoint's pending deliveries in the
//! order they are due, a copy of the `queue` tree.
//!
//! Why a copy: every dispatcher asks for the head of its queue before each
//! attempt. Read from sled, each step of that scan took sled's global read
//! lock, which waits whenever the writer thread holds the lock to commit a
//! batch — most of the time under load — so the tokio workers that also
//! serve ingest stalled behind it (a profile of the workers' context
//! switches put `next_due` first). The tree stays the durable truth: this
//! copy is loaded from it at open and changed right after every commit that
//! changes it. Commits that change it hold `order` from the transaction to
//! that update, so the copy sees them in commit order.
//!
//! It is also the list of pending deliveries (the `by_status` index leaves
//! them out): each lane keeps its ids in id order too, so a page of them,
//! newest first, is read without going through the whole backlog.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use sled::Tree;

use crate::store::{Delivery, DeliveryId, DeliveryStatus, Due, Millis, Result, StoreError};

/// When a delivery is in the queue: pending with a due time.
pub(super) fn due_at(d: &Delivery) -> Option<Millis> {
    match (d.status, d.next_attempt_at) {
        (DeliveryStatus::Pending, Some(due)) => Some(due),
        _ => None,
    }
}

/// One endpoint's pending deliveries.
#[derive(Default)]
struct Lane {
    by_due: BTreeSet<(Millis, DeliveryId)>,
    /// The same entries by id.
    by_id: BTreeMap<DeliveryId, Millis>,
}

impl Lane {
    fn insert(&mut self, due: Millis, id: DeliveryId) {
        self.by_due.insert((due, id));
        self.by_id.insert(id, due);
    }

    fn remove(&mut self, due: Millis, id: DeliveryId) {
        self.by_due.remove(&(due, id));
        // Only that entry: should the copy ever hold a second one for the
        // same delivery (what `resync` mends), the other stays listed.
        if self.by_id.get(&id) == Some(&due) {
            self.by_id.remove(&id);
        }
    }
}

#[derive(Default)]
pub(super) struct QueueIndex {
    order: Mutex<()>,
    lanes: Mutex<HashMap<String, Lane>>,
    /// At the start of `moved`: between a writer's commit and its update
    /// of the copy.
    #[cfg(test)]
    pub before_next_move: super::pause::Pause,
}

impl QueueIndex {
    /// Reads the queue tree (keys: endpoint 0 due-ms delivery-id).
    pub fn load(tree: &Tree) -> Result<QueueIndex> {
        let index = QueueIndex::default();
        {
            let mut lanes = index.lanes();
            for item in tree.iter() {
                let (key, _) = item?;
                let entry = key.iter().position(|b| *b == 0).and_then(|at| {
                    let (due, id) = super::decode_queue_tail(&key[at + 1..])?;
                    Some((String::from_utf8_lossy(&key[..at]).into_owned(), due, id))
                });
                let Some((endpoint, due, id)) = entry else {
                    return Err(StoreError::Corrupt(format!("queue key {key:?}")));
                };
                lanes.entry(endpoint).or_default().insert(due, id);
            }
        }
        Ok(index)
    }

    /// Held from a transaction that changes the queue tree until its changes
    /// are applied here.
    pub fn order(&self) -> MutexGuard<'_, ()> {
        self.order.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lanes(&self) -> MutexGuard<'_, HashMap<String, Lane>> {
        self.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A committed move of a delivery from `old` (None: new) to `new`; the
    /// same change `write_delivery` made to the tree.
    pub fn moved(&self, old: Option<&Delivery>, new: &Delivery) {
        #[cfg(test)]
        self.before_next_move.here();
        let mut lanes = self.lanes();
        if let Some(old) = old
            && let Some(due) = due_at(old)
            && let Some(lane) = lanes.get_mut(&old.endpoint)
        {
            lane.remove(due, old.id);
        }
        if let Some(due) = due_at(new) {
            match lanes.get_mut(&new.endpoint) {
                Some(lane) => lane.insert(due, new.id),
                None => {
                    let mut lane = Lane::default();
                    lane.insert(due, new.id);
                    lanes.insert(new.endpoint.clone(), lane);
                }
            }
        }
    }

    /// Drops the entries of delivery `id` that the tree does not hold (a
    /// safeguard: commits keep the two equal). A scan of every lane, for a
    /// path that should never be taken.
    pub fn resync(&self, id: DeliveryId, tree: &Tree) -> Result<()> {
        let _order = self.order();
        let mut lanes = self.lanes();
        for (endpoint, lane) in lanes.iter_mut() {
            let stale: Vec<(Millis, DeliveryId)> = lane
                .by_due
                .iter()
                .filter(|(_, entry)| *entry == id)
                .copied()
                .collect();
            for (due, entry) in stale {
                if !tree.contains_key(super::queue_key(endpoint, due, entry))? {
                    tracing::warn!(delivery = %id, endpoint, "dropped a queue entry sled does not hold");
                    lane.remove(due, entry);
                }
            }
        }
        Ok(())
    }

    /// The earliest entry of `endpoint` that `busy` does not claim.
    pub fn next_due(
        &self,
        endpoint: &str,
        now: Millis,
        busy: &dyn Fn(DeliveryId) -> bool,
    ) -> Option<Due> {
        let lanes = self.lanes();
        let (due, id) = lanes
            .get(endpoint)?
            .by_due
            .iter()
            .find(|(_, id)| !busy(*id))?;
        Some(if *due <= now {
            Due::Now(*id)
        } else {
            Due::At(*due)
        })
    }

    pub fn due_count(&self, endpoint: &str, now: Millis) -> u64 {
        self.lanes().get(endpoint).map_or(0, |lane| {
            lane.by_due
                .iter()
                .take_while(|(due, _)| *due <= now)
                .count() as u64
        })
    }

    /// How many deliveries each endpoint has queued.
    pub fn lane_sizes(&self) -> Vec<(String, usize)> {
        let lanes = self.lanes();
        lanes
            .iter()
            .map(|(e, lane)| (e.clone(), lane.by_id.len()))
            .collect()
    }

    /// Up to `limit` queued deliveries in `from..below`, newest first, of
    /// one endpoint or of all: a page's worth from each lane, not the
    /// whole backlog, under the lock the dispatchers and commits share.
    pub fn newest(
        &self,
        endpoint: Option<&str>,
        from: DeliveryId,
        below: DeliveryId,
        limit: usize,
    ) -> Vec<DeliveryId> {
        if from >= below {
            return Vec::new();
        }
        let lanes = self.lanes();
        let mut ids: Vec<DeliveryId> = lanes
            .iter()
            .filter(|(e, _)| endpoint.is_none_or(|want| want == e.as_str()))
            .flat_map(|(_, lane)| lane.by_id.range(from..below).rev().take(limit))
            .map(|(id, _)| *id)
            .collect();
        drop(lanes);
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.truncate(limit);
        ids
    }

    /// Every entry, endpoint by endpoint (for tests).
    #[cfg(test)]
    /// Checks too that each lane's two orders hold the same entries.
    pub fn entries(&self) -> Vec<(String, Millis, DeliveryId)> {
        let lanes = self.lanes();
        for (endpoint, lane) in lanes.iter() {
            let by_id: BTreeSet<(Millis, DeliveryId)> =
                lane.by_id.iter().map(|(id, due)| (*due, *id)).collect();
            assert_eq!(lane.by_due, by_id, "lane {endpoint}: the id order differs");
        }
        let mut all: Vec<_> = lanes
            .iter()
            .flat_map(|(e, lane)| {
                lane.by_due
                    .iter()
                    .map(move |(due, id)| (e.clone(), *due, *id))
            })
            .collect();
        all.sort();
        all
    }
}
