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
//!
//! Only a window of each lane is kept: its earliest-due [`WINDOW`] entries
//! (up to twice that before it is trimmed back), and the point up to which
//! memory holds every entry of the tree (`horizon`). An endpoint down for a
//! day gathers millions of pending deliveries; memory holds a few thousand
//! of them, and the next ones are read from the tree as the window drains.
//! Entries that arrive past the horizon go to the tree only.

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

/// How many of a lane's earliest-due entries memory keeps.
pub(super) const WINDOW: usize = 4096;

/// How far past the window `due_count` reads the tree before it stops
/// counting (a bound on the work of one metrics scrape).
const DUE_COUNT_CAP: u64 = 100_000;

/// One endpoint's pending deliveries (or the earliest of them).
#[derive(Default)]
struct Lane {
    by_due: BTreeSet<(Millis, DeliveryId)>,
    /// The same entries by id.
    by_id: BTreeMap<DeliveryId, Millis>,
    /// `None`: every entry of the lane is here. `Some(h)`: every entry up to
    /// `h` in due order is here, and those past it are in the tree only.
    horizon: Option<(Millis, DeliveryId)>,
}

impl Lane {
    /// Adds an entry the tree holds, if it falls within the window.
    fn insert(&mut self, due: Millis, id: DeliveryId) {
        if self.horizon.is_some_and(|h| (due, id) > h) {
            return;
        }
        self.by_due.insert((due, id));
        self.by_id.insert(id, due);
        if self.by_due.len() > 2 * WINDOW {
            self.trim();
        }
    }

    /// Keeps the earliest [`WINDOW`] entries; the rest are in the tree.
    fn trim(&mut self) {
        while self.by_due.len() > WINDOW {
            let Some((due, id)) = self.by_due.pop_last() else {
                break;
            };
            if self.by_id.get(&id) == Some(&due) {
                self.by_id.remove(&id);
            }
        }
        self.horizon = self.by_due.last().copied();
    }

    fn remove(&mut self, due: Millis, id: DeliveryId) {
        self.by_due.remove(&(due, id));
        // Only that entry: should the copy ever hold a second one for the
        // same delivery (what `resync` mends), the other stays listed.
        if self.by_id.get(&id) == Some(&due) {
            self.by_id.remove(&id);
        }
    }

    fn complete(&self) -> bool {
        self.horizon.is_none()
    }
}

#[derive(Default)]
pub(super) struct QueueIndex {
    order: Mutex<()>,
    lanes: Mutex<HashMap<String, Lane>>,
    fifo: Mutex<Fifo>,
    /// At the start of `moved`: between a writer's commit and its update
    /// of the copy.
    #[cfg(test)]
    pub before_next_move: super::pause::Pause,
}

/// The first key past `endpoint`'s: its name is followed by a 0 byte.
fn lane_end(endpoint: &str) -> Vec<u8> {
    let mut end = endpoint.as_bytes().to_vec();
    end.push(1);
    end
}

/// The first key after `(due, id)` in `endpoint`'s lane (past a FIFO
/// delivery's ordering-key suffix too, which starts with a 1 byte).
fn after(endpoint: &str, due: Millis, id: DeliveryId) -> Vec<u8> {
    let mut key = super::queue_key(endpoint, due, id);
    key.push(0xff);
    key
}

/// FIFO endpoints' pending deliveries by (endpoint, ordering key), in id
/// order: only the first of each key may be claimed. All of them, not a
/// window: they are few (only FIFO endpoints have them), and a blocked one
/// must be known wherever it is in its lane.
#[derive(Default)]
struct Fifo {
    sequences: HashMap<(String, String), BTreeSet<DeliveryId>>,
    key_of: HashMap<DeliveryId, (String, String)>,
}

impl Fifo {
    fn insert(&mut self, endpoint: &str, key: &str, id: DeliveryId) {
        let k = (endpoint.to_string(), key.to_string());
        self.sequences.entry(k.clone()).or_default().insert(id);
        self.key_of.insert(id, k);
    }

    fn remove(&mut self, id: DeliveryId) {
        if let Some(k) = self.key_of.remove(&id)
            && let Some(sequence) = self.sequences.get_mut(&k)
        {
            sequence.remove(&id);
            if sequence.is_empty() {
                self.sequences.remove(&k);
            }
        }
    }

    /// Whether an earlier delivery of the same key is still pending.
    fn waits(&self, id: DeliveryId) -> bool {
        self.key_of
            .get(&id)
            .and_then(|k| self.sequences.get(k))
            .and_then(|s| s.first())
            .is_some_and(|first| *first != id)
    }
}

impl QueueIndex {
    /// Reads the queue tree (keys: endpoint 0 due-ms delivery-id): each
    /// lane's window, and how many entries each lane has in all.
    pub fn load(tree: &Tree) -> Result<(QueueIndex, Vec<(String, usize)>)> {
        let index = QueueIndex::default();
        let mut sizes: HashMap<String, usize> = HashMap::new();
        {
            let mut lanes = index.lanes();
            let mut fifo = index.fifo.lock().unwrap_or_else(|p| p.into_inner());
            for item in tree.iter() {
                let (key, _) = item?;
                let entry = key.iter().position(|b| *b == 0).and_then(|at| {
                    let tail = &key[at + 1..];
                    let (due, id) = super::decode_queue_tail(tail)?;
                    let ordering = super::ordering_key_in_tail(tail);
                    Some((
                        String::from_utf8_lossy(&key[..at]).into_owned(),
                        due,
                        id,
                        ordering,
                    ))
                });
                let Some((endpoint, due, id, ordering)) = entry else {
                    return Err(StoreError::Corrupt(format!("queue key {key:?}")));
                };
                if let Some(ordering) = ordering {
                    fifo.insert(&endpoint, &ordering, id);
                }
                // Keys come in due order within a lane: the first WINDOW
                // are its window, the rest are only counted.
                let count = sizes.entry(endpoint.clone()).or_default();
                *count += 1;
                let lane = lanes.entry(endpoint).or_default();
                if *count <= WINDOW {
                    lane.by_due.insert((due, id));
                    lane.by_id.insert(id, due);
                } else if lane.horizon.is_none() {
                    lane.horizon = lane.by_due.last().copied();
                }
            }
        }
        Ok((index, sizes.into_iter().collect()))
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
        drop(lanes);
        if old.is_some_and(|o| o.ordering_key.is_some()) || new.ordering_key.is_some() {
            let mut fifo = self.fifo.lock().unwrap_or_else(|p| p.into_inner());
            fifo.remove(new.id);
            if let (Some(key), Some(_)) = (&new.ordering_key, due_at(new)) {
                fifo.insert(&new.endpoint, key, new.id);
            }
        }
    }

    /// Whether delivery `id` waits for an earlier one of its FIFO key.
    pub fn waits(&self, id: DeliveryId) -> bool {
        self.fifo
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .waits(id)
    }

    /// Drops the entries of delivery `id` that the tree does not hold (a
    /// safeguard: commits keep the two equal). A scan of every lane's
    /// window, for a path that should never be taken.
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
                // (A FIFO delivery's key has its ordering key after this.)
                if tree
                    .scan_prefix(super::queue_key(endpoint, due, entry))
                    .next()
                    .transpose()?
                    .is_none()
                {
                    tracing::warn!(delivery = %id, endpoint, "dropped a queue entry sled does not hold");
                    lane.remove(due, entry);
                }
            }
        }
        Ok(())
    }

    /// The earliest entry of `endpoint` that `busy` does not claim; when
    /// the window has none and the lane has more in `tree`, the window is
    /// refilled from there first.
    pub fn next_due(
        &self,
        endpoint: &str,
        now: Millis,
        busy: &dyn Fn(DeliveryId) -> bool,
        tree: &Tree,
    ) -> Result<Option<Due>> {
        loop {
            {
                let lanes = self.lanes();
                let Some(lane) = lanes.get(endpoint) else {
                    return Ok(None);
                };
                if let Some((due, id)) = lane.by_due.iter().find(|(_, id)| !busy(*id)) {
                    return Ok(Some(if *due <= now {
                        Due::Now(*id)
                    } else {
                        Due::At(*due)
                    }));
                }
                if lane.complete() {
                    return Ok(None);
                }
            }
            if !self.refill(endpoint, tree)? {
                return Ok(None);
            }
        }
    }

    /// Reads the next window's worth of `endpoint`'s entries from the tree,
    /// past the horizon; returns whether any was added. Holds `order`, so
    /// that no commit moves an entry while the tree is read.
    fn refill(&self, endpoint: &str, tree: &Tree) -> Result<bool> {
        let _order = self.order();
        let mut lanes = self.lanes();
        let Some(lane) = lanes.get_mut(endpoint) else {
            return Ok(false);
        };
        let Some((due, id)) = lane.horizon else {
            return Ok(false);
        };
        let skip = endpoint.len() + 1;
        let mut added = 0;
        let mut last = None;
        for item in tree.range(after(endpoint, due, id)..lane_end(endpoint)) {
            let (key, _) = item?;
            let Some(entry) = super::decode_queue_tail(&key[skip..]) else {
                return Err(StoreError::Corrupt(format!("queue key {key:?}")));
            };
            lane.by_due.insert(entry);
            lane.by_id.insert(entry.1, entry.0);
            last = Some(entry);
            added += 1;
            if added == WINDOW {
                break;
            }
        }
        lane.horizon = if added == WINDOW { last } else { None };
        Ok(added > 0)
    }

    /// How many of `endpoint`'s entries are due at `now`: those past the
    /// window are counted from the tree, up to a cap.
    pub fn due_count(&self, endpoint: &str, now: Millis, tree: &Tree) -> Result<u64> {
        let (in_window, horizon) = {
            let lanes = self.lanes();
            let Some(lane) = lanes.get(endpoint) else {
                return Ok(0);
            };
            let in_window = lane
                .by_due
                .iter()
                .take_while(|(due, _)| *due <= now)
                .count() as u64;
            (in_window, lane.horizon)
        };
        let Some((h_due, h_id)) = horizon.filter(|(due, _)| *due <= now) else {
            return Ok(in_window);
        };
        let end = super::queue_key(endpoint, now.saturating_add(1), DeliveryId::bound(0, false));
        let mut beyond = 0;
        for item in tree.range(after(endpoint, h_due, h_id)..end).keys() {
            item?;
            beyond += 1;
            if beyond >= DUE_COUNT_CAP {
                break;
            }
        }
        Ok(in_window + beyond)
    }

    /// Up to `limit` queued deliveries in `from..below`, newest first, of
    /// one endpoint or of all: a page's worth from each lane, not the
    /// whole backlog, under the lock the dispatchers and commits share.
    /// `None` when a lane asked for holds only a window (the caller reads
    /// the records instead).
    pub fn newest(
        &self,
        endpoint: Option<&str>,
        from: DeliveryId,
        below: DeliveryId,
        limit: usize,
    ) -> Option<Vec<DeliveryId>> {
        if from >= below {
            return Some(Vec::new());
        }
        let lanes = self.lanes();
        let asked = |e: &str| endpoint.is_none_or(|want| want == e);
        if lanes.iter().any(|(e, lane)| asked(e) && !lane.complete()) {
            return None;
        }
        let mut ids: Vec<DeliveryId> = lanes
            .iter()
            .filter(|(e, _)| asked(e))
            .flat_map(|(_, lane)| lane.by_id.range(from..below).rev().take(limit))
            .map(|(id, _)| *id)
            .collect();
        drop(lanes);
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.truncate(limit);
        Some(ids)
    }

    /// Every entry in memory, endpoint by endpoint (for tests).
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

    /// How many entries of `endpoint` memory holds (for tests).
    #[cfg(test)]
    pub fn in_memory(&self, endpoint: &str) -> usize {
        self.lanes()
            .get(endpoint)
            .map_or(0, |lane| lane.by_due.len())
    }
}
