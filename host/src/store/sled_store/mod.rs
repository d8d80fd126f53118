//! The embedded `Store`: one sled database in the data directory, a tree per
//! record kind and per index, and multi-tree transactions wherever a record
//! and its indexes change together (sled makes those atomic across crashes).
//! Ingests and finished attempts, the hot path, go through `writer`, which
//! applies all of them queued at once in one transaction. The dispatchers
//! read the queue from a copy in memory (`queue`), not from sled; the
//! pending deliveries are counted at open and listed from that copy too.
//!
//! Trees and keys (ids are 16-byte ULIDs, so keys sort by time):
//! - `events`     event id → `Event`, the deliveries made at ingest, and the
//!   body exactly as received (`record`)
//! - `webhooks`   source 0 webhook-id → event id + received ms (dedupe, lookup)
//! - `deliveries` delivery id → `Delivery`, its latest attempt and its
//!   transformed request (`record`)
//! - `by_event`   event id + endpoint → delivery id, for deliveries added
//!   after ingest and those of events stored before `record`'s layout (one
//!   per pair, by construction)
//! - `by_status`  status tag + delivery id → endpoint, for deliveries that
//!   are no longer pending (the pending ones are the `queue`)
//! - `queue`      endpoint 0 due ms + delivery id → () for pending deliveries
//! - `attempts`   delivery id + attempt number → `Attempt` (JSON), all but
//!   the latest, which the delivery's record holds (records from before
//!   `record`'s layout: all)
//! - `endpoints`  endpoint → `EndpointState` (JSON)
//! - `payloads`, `requests`: what records from before `record`'s layout keep
//!   apart. Read, and removed from by replays and retention; never written.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree, abort};
use sled::{Transactional, Tree};

mod durable;
mod fresh;
#[cfg(test)]
mod pause;
mod queue;
mod record;
mod transfer;
mod writer;

use super::commit::{Committer, Failure};
use super::counters::Counters;
use super::*;
use crate::model::OutboundRequest;
use crate::runtime::cache::create_private_dir;
use fresh::Fresh;
use queue::{QueueIndex, due_at};

pub struct SledStore {
    db: sled::Db,
    /// The record and index trees (shared with the writer thread).
    trees: writer::Trees,
    /// The `queue` tree in memory, for the dispatchers.
    queue: Arc<QueueIndex>,
    /// First attempts' work, kept from ingest.
    fresh: Arc<Fresh>,
    endpoints: Tree,
    /// The catalog's records: kind 0 key → value.
    records: Tree,
    /// Audit entries by id (time-ordered).
    audit: Tree,
    /// Deliveries claimed by a dispatcher and not yet finished or released:
    /// the lease of an in-process queue.
    leases: std::sync::Mutex<std::collections::HashSet<DeliveryId>>,
    signals: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Notify>>>,
    // Before `committer`: the jobs already queued are written before the
    // store closes.
    writer: writer::Writer,
    committer: Committer,
    counters: Arc<Counters>,
    failure: Failure,
    /// Held by `purge` from listing an event's deliveries to removing
    /// them, and by `add_delivery`: a transaction cannot list `by_event`,
    /// so without it a delivery added in between would outlive its event.
    purging: std::sync::Mutex<()>,
    /// In `purge`, after it lists an event's deliveries.
    #[cfg(test)]
    after_purge_listing: pause::Pause,
}

type TxResult<T> = std::result::Result<T, ConflictableTransactionError<StoreError>>;

impl SledStore {
    /// Opens (or creates) the database under `dir`, created owner-only.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<SledStore> {
        create_private_dir(dir)
            .map_err(|e| StoreError::Storage(format!("creating {}: {e}", dir.display())))?;
        let db = sled::Config::new()
            .path(dir.join("db"))
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::HighThroughput)
            // Acknowledged writes are flushed by group commit; this bounds
            // how much of the delivery bookkeeping a crash can roll back.
            .flush_every_ms(Some(500))
            .open()
            .map_err(|e| {
                StoreError::Storage(format!("opening the database in {}: {e}", dir.display()))
            })?;
        let tree = |name: &str| db.open_tree(name);
        let trees = writer::Trees {
            events: tree("events")?,
            payloads: tree("payloads")?,
            webhooks: tree("webhooks")?,
            deliveries: tree("deliveries")?,
            by_event: tree("by_event")?,
            by_status: tree("by_status")?,
            queue: tree("queue")?,
            requests: tree("requests")?,
            attempts: tree("attempts")?,
        };
        let counters = Arc::new(Counters::default());
        let failure = Failure::default();
        let (queue, lane_sizes) = QueueIndex::load(&trees.queue)?;
        let queue = Arc::new(queue);
        let fresh = Arc::new(Fresh::default());
        let mut disk = durable::DiskSync::open(dir).map_err(|e| {
            StoreError::Storage(format!("syncing the database in {}: {e}", dir.display()))
        })?;
        let flushed = db.clone();
        let make_durable = move || {
            let listed = disk
                .before_flush()
                .map_err(|e| format!("listing the database's files failed: {e}"))?;
            flushed.flush().map_err(|e| format!("flush failed: {e}"))?;
            disk.after_flush(listed)
                .map_err(|e| format!("fsync failed: {e}"))
        };
        let committer = Committer::start(make_durable, failure.clone())
            .map_err(|e| StoreError::Storage(format!("starting the commit thread: {e}")))?;
        let commits = committer
            .queue()
            .ok_or_else(|| StoreError::Storage("the commit thread has stopped".into()))?;
        let store = SledStore {
            endpoints: tree("endpoints")?,
            records: tree("records")?,
            audit: tree("audit")?,
            leases: Default::default(),
            signals: Default::default(),
            writer: writer::Writer::start(writer::Context {
                trees: trees.clone(),
                index: queue.clone(),
                fresh: fresh.clone(),
                counters: counters.clone(),
                commits,
                failure: failure.clone(),
            })
            .map_err(|e| StoreError::Storage(format!("starting the writer thread: {e}")))?,
            committer,
            counters,
            trees,
            queue,
            fresh,
            failure,
            db,
            purging: std::sync::Mutex::new(()),
            #[cfg(test)]
            after_purge_listing: Default::default(),
        };
        // Earlier versions listed pending deliveries here too: the queue
        // does, and one fewer write per ingest and per attempt showed as
        // several percent of the server's CPU.
        let pending_tag = [DeliveryStatus::Pending.tag()];
        for key in store.trees.by_status.scan_prefix(pending_tag).keys() {
            store.trees.by_status.remove(key?)?;
        }
        for item in store.trees.by_status.iter() {
            let (key, endpoint) = item?;
            if let Some(status) = key.first().and_then(|t| status_from_tag(*t)) {
                store
                    .counters
                    .add(&String::from_utf8_lossy(&endpoint), status, 1);
            }
        }
        for (endpoint, pending) in lane_sizes {
            store
                .counters
                .add(&endpoint, DeliveryStatus::Pending, pending as i64);
        }
        // sled's recovery reads the whole log and frees what it read; glibc
        // keeps those pages (70 MB of the 210 MB RSS after reopening a
        // million-event store, measured with the backlog bench).
        crate::heap::release_free_memory();
        Ok(store)
    }

    /// A failed transaction's error. sled may have applied part of it to
    /// some trees in memory before a storage error, so that fails the store
    /// (as in the writer): nothing more is written until it is reopened.
    fn tx_failed(&self, e: TransactionError<StoreError>) -> StoreError {
        match tx_error(e) {
            StoreError::Storage(why) => self.failure.set(why),
            other => other,
        }
    }

    fn load<T: DeserializeOwned>(tree: &Tree, key: &[u8], what: &str) -> Result<Option<T>> {
        match tree.get(key)? {
            Some(bytes) => decode(&bytes, what).map(Some),
            None => Ok(None),
        }
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(format!("encoding: {e}")))
}

fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn webhook_key(source: &str, webhook_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(source.len() + 1 + webhook_id.len());
    key.extend_from_slice(source.as_bytes());
    key.push(0);
    key.extend_from_slice(webhook_id.as_bytes());
    key
}

fn webhook_value(id: EventId, received: Millis) -> Vec<u8> {
    let mut value = id.bytes().to_vec();
    value.extend_from_slice(&received.to_be_bytes());
    value
}

fn decode_webhook_value(value: &[u8]) -> Option<(EventId, Millis)> {
    let id = EventId::from_bytes(value)?;
    let at = u64::from_be_bytes(value.get(16..24)?.try_into().ok()?);
    Some((id, at))
}

fn record_key(kind: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(kind.len() + 1 + key.len());
    k.extend_from_slice(kind.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

fn queue_prefix(endpoint: &str) -> Vec<u8> {
    let mut key = endpoint.as_bytes().to_vec();
    key.push(0);
    key
}

fn queue_key(endpoint: &str, due: Millis, id: DeliveryId) -> Vec<u8> {
    let mut key = queue_prefix(endpoint);
    key.extend_from_slice(&due.to_be_bytes());
    key.extend_from_slice(&id.bytes());
    key
}

/// A delivery's key in `queue`. A FIFO delivery's ends with a 1 byte and
/// its ordering key, so that the queue index rebuilds which deliveries wait
/// for which from the tree alone, without reading their records.
fn delivery_queue_key(d: &Delivery, due: Millis) -> Vec<u8> {
    let mut key = queue_key(&d.endpoint, due, d.id);
    if let Some(ordering) = &d.ordering_key {
        key.push(1);
        key.extend_from_slice(ordering.as_bytes());
    }
    key
}

/// The ordering key at the end of a queue key's tail (the endpoint prefix
/// removed), if the delivery is a FIFO one.
fn ordering_key_in_tail(tail: &[u8]) -> Option<String> {
    match tail.get(24) {
        Some(1) => Some(String::from_utf8_lossy(&tail[25..]).into_owned()),
        _ => None,
    }
}

/// (due, delivery) from a queue key with the endpoint prefix removed.
fn decode_queue_tail(tail: &[u8]) -> Option<(Millis, DeliveryId)> {
    let due = u64::from_be_bytes(tail.get(..8)?.try_into().ok()?);
    Some((due, DeliveryId::from_bytes(tail.get(8..)?)?))
}

fn status_key(status: DeliveryStatus, id: DeliveryId) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[0] = status.tag();
    key[1..].copy_from_slice(&id.bytes());
    key
}

fn status_from_tag(tag: u8) -> Option<DeliveryStatus> {
    DeliveryStatus::ALL.into_iter().find(|s| s.tag() == tag)
}

fn by_event_key(event: EventId, endpoint: &str) -> Vec<u8> {
    let mut key = event.bytes().to_vec();
    key.extend_from_slice(endpoint.as_bytes());
    key
}

fn attempt_key(id: DeliveryId, n: u32) -> [u8; 20] {
    let mut key = [0u8; 20];
    key[..16].copy_from_slice(&id.bytes());
    key[16..].copy_from_slice(&n.to_be_bytes());
    key
}

fn tx_error(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    }
}

fn tx_encode<T: Serialize>(value: &T) -> TxResult<Vec<u8>> {
    encode(value).or_else(abort)
}

/// Writes a delivery's record (with what it holds: see `record`) and
/// indexes for a move from `old` (None: new) to `new`, inside a transaction.
fn write_delivery(
    deliveries: &TransactionalTree,
    by_status: &TransactionalTree,
    queue: &TransactionalTree,
    old: Option<&Delivery>,
    new: &Delivery,
    held: record::Held<'_>,
) -> TxResult<()> {
    // (Pending deliveries are listed by the queue alone.)
    if let Some(old) = old {
        if old.status != new.status && old.status != DeliveryStatus::Pending {
            by_status.remove(&status_key(old.status, old.id)[..])?;
        }
        if let Some(due) = due_at(old) {
            queue.remove(delivery_queue_key(old, due))?;
        }
    }
    if old.is_none_or(|o| o.status != new.status) && new.status != DeliveryStatus::Pending {
        by_status.insert(&status_key(new.status, new.id)[..], new.endpoint.as_bytes())?;
    }
    if let Some(due) = due_at(new) {
        queue.insert(delivery_queue_key(new, due), &[][..])?;
    }
    let record = record::encode_delivery(&tx_encode(new)?, held).or_else(abort)?;
    deliveries.insert(&new.id.bytes()[..], record)?;
    Ok(())
}

/// A stored delivery and what its record holds besides (see `record`).
fn read_delivery(bytes: &[u8]) -> Result<(Delivery, record::Held<'_>)> {
    let record = record::decode_delivery(bytes)?;
    Ok((decode(record.delivery_json, "delivery")?, record.held))
}

fn tx_read_delivery(bytes: &[u8]) -> TxResult<(Delivery, record::Held<'_>)> {
    read_delivery(bytes).or_else(abort)
}

fn new_delivery(event: EventId, endpoint: &str, now: Millis) -> Delivery {
    Delivery {
        id: DeliveryId::new(),
        event_id: event,
        endpoint: endpoint.to_string(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        schedule_from: 0,
        created_at: now,
        updated_at: now,
        next_attempt_at: Some(now),
        reason: None,
        last_status: None,
        transformed_by: None,
        ordering_key: None,
    }
}

impl SledStore {
    /// An event's deliveries: those made at ingest, from its record, and
    /// those added later (or by a version before `record`'s layout), from
    /// `by_event`.
    fn delivery_ids_of(&self, event: EventId) -> Result<Vec<DeliveryId>> {
        let mut ids = Vec::new();
        if let Some(bytes) = self.trees.events.get(event.bytes())? {
            ids.extend(
                record::decode_event(&bytes)?
                    .deliveries
                    .iter()
                    .map(|(id, _)| *id),
            );
        }
        for item in self.trees.by_event.scan_prefix(event.bytes()) {
            let (_, id) = item?;
            ids.extend(DeliveryId::from_bytes(&id));
        }
        Ok(ids)
    }

    /// An event and its payload, from one read of its record.
    fn event_and_payload(&self, id: EventId) -> Result<Option<(Event, Vec<u8>)>> {
        let Some(bytes) = self.trees.events.get(id.bytes())? else {
            return Ok(None);
        };
        let record = record::decode_event(&bytes)?;
        let Some(payload) = self.payload_in(id, &record)? else {
            return Ok(None);
        };
        Ok(Some((decode(record.event_json, "event")?, payload)))
    }

    /// The payload event `id`'s record holds, or (a record from before
    /// `record`'s layout) the one in `payloads`.
    fn payload_in(&self, id: EventId, record: &record::EventRecord<'_>) -> Result<Option<Vec<u8>>> {
        match record.payload {
            Some(payload) => Ok(Some(payload.to_vec())),
            None => Ok(self.trees.payloads.get(id.bytes())?.map(|v| v.to_vec())),
        }
    }

    /// Delivery `id`'s request: the one its record holds, else (a record
    /// from before `record`'s layout) the one in `requests`.
    fn stored_request(
        &self,
        id: DeliveryId,
        in_record: Option<&[u8]>,
    ) -> Result<Option<OutboundRequest>> {
        match in_record {
            Some(request) => decode(request, "request").map(Some),
            None => Self::load(&self.trees.requests, &id.bytes(), "request"),
        }
    }
}

/// The store's work, synchronous where sled is (reads from memory or a
/// tree), async where it waits for the disk. The `Store` traits delegate here.
impl SledStore {
    pub async fn ingest(
        &self,
        event: Event,
        payload: &[u8],
        endpoints: &[Route],
        dedupe_window: Duration,
    ) -> Result<Ingested> {
        // A failed store refuses the job at once (503; `Writer::send`), and a
        // storage error in the batch marks it failed (`writer::apply`).
        let now = event.received_at;
        let event_id = event.id;
        let deliveries: Vec<Delivery> = endpoints
            .iter()
            .map(|r| Delivery {
                ordering_key: r.ordering_key.clone(),
                ..new_delivery(event_id, &r.endpoint, now)
            })
            .collect();
        // The record is a copy of the payload, not the request's `Bytes`:
        // those may share hyper's read buffer, which `Fresh` would then
        // keep alive.
        let ids: Vec<(DeliveryId, &str)> = deliveries
            .iter()
            .map(|d| (d.id, d.endpoint.as_str()))
            .collect();
        let record = Bytes::from(record::encode_event(&encode(&event)?, &ids, payload)?);
        let job = writer::IngestJob {
            webhook_key: webhook_key(&event.source, &event.webhook_id),
            event_id,
            now,
            window_ms: dedupe_window.as_millis() as u64,
            payload: record.slice(record.len() - payload.len()..),
            record,
            event: Arc::new(event),
            deliveries,
        };
        // Answered once on disk (group commit).
        let outcome = self.writer.ingest(job).await?;
        match outcome {
            Some(existing) => Ok(Ingested {
                event_id: existing,
                deliveries: self.delivery_ids_of(existing)?.len(),
                duplicate: true,
            }),
            // (The writer counted the new deliveries.)
            None => {
                for route in endpoints {
                    self.signal(&route.endpoint);
                }
                Ok(Ingested {
                    event_id,
                    deliveries: endpoints.len(),
                    duplicate: false,
                })
            }
        }
    }

    pub async fn flush(&self) -> Result<()> {
        self.committer.commit().await
    }

    pub fn event(&self, id: EventId) -> Result<Option<Event>> {
        match self.trees.events.get(id.bytes())? {
            Some(bytes) => decode(record::decode_event(&bytes)?.event_json, "event").map(Some),
            None => Ok(None),
        }
    }

    pub fn payload(&self, id: EventId) -> Result<Option<Vec<u8>>> {
        match self.trees.events.get(id.bytes())? {
            Some(bytes) => self.payload_in(id, &record::decode_event(&bytes)?),
            None => Ok(None),
        }
    }

    pub fn event_by_webhook_id(&self, source: &str, webhook_id: &str) -> Result<Option<EventId>> {
        Ok(self
            .trees
            .webhooks
            .get(webhook_key(source, webhook_id))?
            .and_then(|v| decode_webhook_value(&v))
            .map(|(id, _)| id))
    }

    pub fn events(&self, filter: &EventQuery) -> Result<Page<Event>> {
        let lo = EventId::bound(filter.since.unwrap_or(0), false).bytes();
        let mut hi = EventId::bound(filter.until.unwrap_or(u64::MAX >> 16), true).bytes();
        if let Some(cursor) = filter.cursor {
            hi = hi.min(cursor.bytes());
        }
        let limit = filter.limit.max(1);
        let mut items = Vec::new();
        let mut next_cursor = None;
        for item in self.trees.events.range(lo..hi).rev() {
            let (_, value) = item?;
            let event: Event = decode(record::decode_event(&value)?.event_json, "event")?;
            if filter.source.as_ref().is_some_and(|s| *s != event.source)
                || filter
                    .event_type
                    .as_ref()
                    .is_some_and(|t| *t != event.event_type)
            {
                continue;
            }
            if items.len() == limit {
                next_cursor = items.last().map(|e: &Event| e.id.to_string());
                break;
            }
            items.push(event);
        }
        Ok(Page { items, next_cursor })
    }

    pub fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>> {
        match self.trees.deliveries.get(id.bytes())? {
            Some(bytes) => read_delivery(&bytes).map(|(d, _)| Some(d)),
            None => Ok(None),
        }
    }

    pub fn deliveries_of(&self, event: EventId) -> Result<Vec<Delivery>> {
        let mut out = Vec::new();
        for id in self.delivery_ids_of(event)? {
            if let Some(d) = self.delivery(id)? {
                out.push(d);
            }
        }
        out.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        Ok(out)
    }

    pub fn deliveries(&self, filter: &DeliveryQuery) -> Result<Page<Delivery>> {
        let lo = DeliveryId::bound(filter.since.unwrap_or(0), false).bytes();
        let mut hi = DeliveryId::bound(filter.until.unwrap_or(u64::MAX >> 16), true).bytes();
        if let Some(cursor) = filter.cursor {
            hi = hi.min(cursor.bytes());
        }
        let limit = filter.limit.max(1);
        let wanted_endpoint = |endpoint: &[u8]| {
            filter
                .endpoint
                .as_ref()
                .is_none_or(|e| e.as_bytes() == endpoint)
        };
        let mut items: Vec<Delivery> = Vec::new();
        let mut next_cursor = None;
        let mut push = |d: Delivery| -> bool {
            if items.len() == limit {
                next_cursor = items.last().map(|d| d.id.to_string());
                return false;
            }
            items.push(d);
            true
        };
        // The queue's copy lists pending deliveries, unless a lane asked
        // for holds only its window: then the records are read.
        let (from, upper) = (DeliveryId::from_bytes(&lo), DeliveryId::from_bytes(&hi));
        let listed_in_memory = match (filter.status, from, upper) {
            (Some(DeliveryStatus::Pending), Some(from), Some(upper)) => self
                .queue
                .newest(filter.endpoint.as_deref(), from, upper, 1)
                .is_some(),
            _ => false,
        };
        match filter.status {
            Some(DeliveryStatus::Pending) if listed_in_memory => {
                // From the queue, a page at a time (one more than `limit`
                // tells whether there is a next page); a delivery that moved
                // on since it was listed there is passed over.
                let mut below = upper;
                'pages: while let (Some(from), Some(upper)) = (from, below) {
                    let Some(page) =
                        self.queue
                            .newest(filter.endpoint.as_deref(), from, upper, limit + 1)
                    else {
                        break;
                    };
                    for &id in &page {
                        let Some(d) = self.delivery(id)? else {
                            continue;
                        };
                        if d.status == DeliveryStatus::Pending && !push(d) {
                            break 'pages;
                        }
                    }
                    if page.len() <= limit {
                        break;
                    }
                    below = page.last().copied();
                }
            }
            Some(status) if status != DeliveryStatus::Pending => {
                let key = |id: [u8; 16]| {
                    let mut k = vec![status.tag()];
                    k.extend_from_slice(&id);
                    k
                };
                for item in self.trees.by_status.range(key(lo)..key(hi)).rev() {
                    let (key, endpoint) = item?;
                    if !wanted_endpoint(&endpoint) {
                        continue;
                    }
                    let Some(id) = DeliveryId::from_bytes(&key[1..]) else {
                        continue;
                    };
                    let Some(d) = self.delivery(id)? else {
                        continue;
                    };
                    if !push(d) {
                        break;
                    }
                }
            }
            // Every delivery, or the pending ones of a backlog larger than
            // the queue's window: newest first from the records.
            _ => {
                for item in self.trees.deliveries.range(lo..hi).rev() {
                    let (_, value) = item?;
                    let (d, _) = read_delivery(&value)?;
                    if !wanted_endpoint(d.endpoint.as_bytes())
                        || filter.status.is_some_and(|s| s != d.status)
                    {
                        continue;
                    }
                    if !push(d) {
                        break;
                    }
                }
            }
        }
        Ok(Page { items, next_cursor })
    }

    pub fn request(&self, id: DeliveryId) -> Result<Option<OutboundRequest>> {
        match self.trees.deliveries.get(id.bytes())? {
            Some(bytes) => self.stored_request(id, record::decode_delivery(&bytes)?.held.request),
            None => Ok(None),
        }
    }

    pub fn work(&self, id: DeliveryId) -> Result<Option<Work>> {
        if let Some(work) = self.fresh.take(id) {
            return Ok(Some(work));
        }
        let bytes = self.trees.deliveries.get(id.bytes())?;
        let read = bytes.as_deref().map(read_delivery).transpose()?;
        let Some((delivery, held)) = read.filter(|(d, _)| d.status == DeliveryStatus::Pending)
        else {
            // The dispatchers only ask for what the in-memory queue lists:
            // if sled no longer has it queued, drop it there too rather
            // than be handed it again and again.
            self.queue.resync(id, &self.trees.queue)?;
            return Ok(None);
        };
        let input = match self.stored_request(id, held.request)? {
            Some(request) => WorkInput::Request(request),
            None => match self.event_and_payload(delivery.event_id)? {
                Some((event, payload)) => WorkInput::Event(Arc::new(event), Bytes::from(payload)),
                None => WorkInput::EventGone,
            },
        };
        Ok(Some(Work {
            delivery,
            input,
            send_at: None,
        }))
    }

    pub fn attempts(&self, id: DeliveryId) -> Result<Vec<Attempt>> {
        // The record first: should a finish move the attempt it holds to
        // `attempts` meanwhile, that one is read twice rather than missed.
        let latest: Option<Attempt> = match self.trees.deliveries.get(id.bytes())? {
            Some(bytes) => match record::decode_delivery(&bytes)?.held.attempt {
                Some((_, attempt)) => Some(decode(attempt, "attempt")?),
                None => None,
            },
            None => None,
        };
        let mut all: Vec<Attempt> = self
            .trees
            .attempts
            .scan_prefix(id.bytes())
            .map(|item| decode(&item?.1, "attempt"))
            .collect::<Result<_>>()?;
        if let Some(latest) = latest {
            all.retain(|a| a.n != latest.n);
            all.push(latest);
            all.sort_by_key(|a| a.n);
        }
        Ok(all)
    }

    pub fn counts(&self, endpoint: &str) -> Counts {
        self.counters.get(endpoint)
    }

    pub fn due_count(&self, endpoint: &str, now: Millis) -> Result<u64> {
        self.queue.due_count(endpoint, now, &self.trees.queue)
    }

    pub fn next_due(
        &self,
        endpoint: &str,
        now: Millis,
        busy: &dyn Fn(DeliveryId) -> bool,
    ) -> Result<Option<Due>> {
        self.queue.next_due(endpoint, now, busy, &self.trees.queue)
    }

    pub async fn finish(
        &self,
        id: DeliveryId,
        request: Option<NewRequest<'_>>,
        attempt: Option<Attempt>,
        next: Next,
        now: Millis,
    ) -> Result<Delivery> {
        let request = match request {
            Some(r) => Some((encode(r.request)?, r.transformed_by.to_string(), r.made_for)),
            None => None,
        };
        let attempt = match attempt {
            Some(a) => Some((encode(&a)?, a)),
            None => None,
        };
        let job = writer::FinishJob {
            id,
            request,
            attempt,
            next,
            now,
        };
        // (The writer updates the counters.)
        let finished = self.writer.finish(job).await;
        self.release_lease(id);
        let (_, new) = finished?;
        if new.ordering_key.is_some() && new.status != DeliveryStatus::Pending {
            // The next delivery of its key may go now.
            self.signal(&new.endpoint);
        }
        Ok(new)
    }

    pub fn requeue(&self, id: DeliveryId, replay: bool, now: Millis) -> Result<Delivery> {
        let _order = self.queue.order();
        let (old, new) = (
            &self.trees.deliveries,
            &self.trees.by_status,
            &self.trees.queue,
            &self.trees.requests,
        )
            .transaction(|(deliveries, by_status, queue, requests)| {
                let Some(bytes) = deliveries.get(id.bytes())? else {
                    return abort(StoreError::NotFound(id.to_string()));
                };
                let (old, mut held) = tx_read_delivery(&bytes)?;
                let mut new = old.clone();
                new.status = DeliveryStatus::Pending;
                new.next_attempt_at = Some(now);
                new.updated_at = now;
                new.schedule_from = new.attempts;
                if replay {
                    // (A record from before `record`'s layout keeps it apart.)
                    requests.remove(&id.bytes()[..])?;
                    held.request = None;
                    new.transformed_by = None;
                }
                write_delivery(deliveries, by_status, queue, Some(&old), &new, held)?;
                Ok((old, new))
            })
            .map_err(|e| self.tx_failed(e))?;
        self.fresh.forget(id);
        self.queue.moved(Some(&old), &new);
        self.counters.moved(&new.endpoint, old.status, new.status);
        self.signal(&new.endpoint);
        Ok(new)
    }

    pub fn add_delivery(
        &self,
        event: EventId,
        route: &Route,
        now: Millis,
    ) -> Result<Option<DeliveryId>> {
        let endpoint = route.endpoint.as_str();
        let d = Delivery {
            ordering_key: route.ordering_key.clone(),
            ..new_delivery(event, endpoint, now)
        };
        let _purging = self.purging.lock().unwrap_or_else(|p| p.into_inner());
        let _order = self.queue.order();
        let created = (
            &self.trees.events,
            &self.trees.by_event,
            &self.trees.deliveries,
            &self.trees.by_status,
            &self.trees.queue,
        )
            .transaction(|(events, by_event, deliveries, by_status, queue)| {
                let Some(record) = events.get(event.bytes())? else {
                    return abort(StoreError::NotFound(event.to_string()));
                };
                let made_at_ingest = record::decode_event(&record)
                    .or_else(abort)?
                    .deliveries
                    .iter()
                    .any(|(_, e)| *e == endpoint);
                let key = by_event_key(event, endpoint);
                if made_at_ingest || by_event.get(&key)?.is_some() {
                    return Ok(false);
                }
                by_event.insert(key, &d.id.bytes()[..])?;
                write_delivery(deliveries, by_status, queue, None, &d, Default::default())?;
                Ok(true)
            })
            .map_err(|e| self.tx_failed(e))?;
        if created {
            self.queue.moved(None, &d);
            self.counters.add(endpoint, DeliveryStatus::Pending, 1);
            self.signal(endpoint);
            Ok(Some(d.id))
        } else {
            Ok(None)
        }
    }

    pub fn endpoint_state(&self, endpoint: &str) -> Result<Option<EndpointState>> {
        Self::load(&self.endpoints, endpoint.as_bytes(), "endpoint state")
    }

    pub fn set_endpoint_state(&self, endpoint: &str, state: &EndpointState) -> Result<()> {
        self.endpoints.insert(endpoint.as_bytes(), encode(state)?)?;
        Ok(())
    }

    pub fn purge(
        &self,
        now: Millis,
        policy: RetentionPolicy,
        after: Option<EventId>,
        budget: usize,
    ) -> Result<(Purged, Option<EventId>)> {
        let done_cutoff = now.saturating_sub(policy.done.as_millis() as u64);
        let dead_cutoff = now.saturating_sub(policy.dead.as_millis() as u64);
        // Nothing newer than the shorter retention can go.
        let newest = EventId::bound(done_cutoff.max(dead_cutoff), true).bytes();
        let start = after.map(|a| a.bytes()).unwrap_or([0; 16]);
        let mut purged = Purged::default();
        let mut candidates = Vec::new();
        for item in self.trees.events.range(start..newest) {
            let (key, _) = item?;
            let Some(id) = EventId::from_bytes(&key) else {
                continue;
            };
            if Some(id) == after {
                continue;
            }
            candidates.push(id);
            if candidates.len() >= budget.max(1) {
                break;
            }
        }
        let resume = (candidates.len() >= budget.max(1))
            .then(|| candidates.last().copied())
            .flatten();
        for id in candidates {
            let _purging = self.purging.lock().unwrap_or_else(|p| p.into_inner());
            let deliveries = self.deliveries_of(id)?;
            #[cfg(test)]
            self.after_purge_listing.here();
            let age_ok = |d: &Delivery| match d.status {
                DeliveryStatus::Pending => false,
                DeliveryStatus::Dead => d.updated_at <= dead_cutoff,
                _ => id.ms() <= done_cutoff,
            };
            if !deliveries.iter().all(age_ok) {
                continue;
            }
            let event: Option<Event> = self.event(id)?;
            let removed = (
                &self.trees.events,
                &self.trees.payloads,
                &self.trees.webhooks,
                &self.trees.deliveries,
                &self.trees.by_event,
                &self.trees.by_status,
                &self.trees.requests,
                &self.trees.attempts,
            )
                .transaction(
                    |(
                        events,
                        payloads,
                        webhooks,
                        dtree,
                        by_event,
                        by_status,
                        requests,
                        attempts,
                    )| {
                        for d in &deliveries {
                            // A replay may have revived it since we looked.
                            let Some(bytes) = dtree.get(d.id.bytes())? else {
                                continue;
                            };
                            let (current, _) = tx_read_delivery(&bytes)?;
                            if current.status == DeliveryStatus::Pending {
                                return Ok(false);
                            }
                            dtree.remove(&d.id.bytes()[..])?;
                            by_status.remove(&status_key(current.status, d.id)[..])?;
                            by_event.remove(by_event_key(id, &d.endpoint))?;
                            requests.remove(&d.id.bytes()[..])?;
                            // By number, inside the transaction: an attempt
                            // moved out of the record since we looked is
                            // removed too. (Numbers run from 1 to the count.)
                            for n in 1..=current.attempts {
                                attempts.remove(&attempt_key(d.id, n)[..])?;
                            }
                        }
                        if let Some(e) = &event {
                            let wkey = webhook_key(&e.source, &e.webhook_id);
                            let points_here = webhooks
                                .get(&wkey)?
                                .and_then(|v| decode_webhook_value(&v))
                                .is_some_and(|(eid, _)| eid == id);
                            if points_here {
                                webhooks.remove(wkey)?;
                            }
                        }
                        events.remove(&id.bytes()[..])?;
                        payloads.remove(&id.bytes()[..])?;
                        Ok(true)
                    },
                )
                .map_err(|e| self.tx_failed(e))?;
            if removed {
                purged.events += 1;
                purged.deliveries += deliveries.len() as u64;
                for d in &deliveries {
                    self.counters.add(&d.endpoint, d.status, -1);
                }
            }
        }
        Ok((purged, resume))
    }

    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.db.size_on_disk()?)
    }

    pub fn failure(&self) -> Option<String> {
        self.committer.failure()
    }

    /// Up to `max` due deliveries of `endpoint` that no one holds, leased
    /// to the caller until it finishes or releases them.
    pub fn claim(&self, endpoint: &str, now: Millis, max: usize) -> Result<Claim> {
        let mut claim = Claim::default();
        while claim.work.len() < max {
            let due = {
                let leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
                // A FIFO delivery waits while an earlier one of its key is
                // pending (in flight, or retrying later).
                self.queue.next_due(
                    endpoint,
                    now,
                    &|d| leases.contains(&d) || self.queue.waits(d),
                    &self.trees.queue,
                )?
            };
            match due {
                Some(Due::Now(id)) => {
                    self.leases
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(id);
                    match self.work(id) {
                        Ok(Some(work)) => claim.work.push(work),
                        Ok(None) => self.release_lease(id),
                        Err(e) => {
                            self.release_lease(id);
                            return Err(e);
                        }
                    }
                }
                Some(Due::At(at)) => {
                    claim.next_at = Some(at);
                    break;
                }
                None => break,
            }
        }
        Ok(claim)
    }

    pub fn release_lease(&self, id: DeliveryId) {
        self.leases
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    pub fn work_signal(&self, endpoint: &str) -> Arc<tokio::sync::Notify> {
        self.signals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(endpoint.to_string())
            .or_default()
            .clone()
    }

    fn signal(&self, endpoint: &str) {
        if let Some(signal) = self
            .signals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(endpoint)
        {
            signal.notify_one();
        }
    }

    /// Ends every pending delivery of `endpoint` as cancelled.
    pub async fn cancel_pending(&self, endpoint: &str, reason: &str, now: Millis) -> Result<u64> {
        let mut cancelled = 0;
        loop {
            // The queue tree is the truth for pending deliveries; a page at
            // a time, as each finish removes its entry.
            let page: Vec<DeliveryId> = self
                .trees
                .queue
                .scan_prefix(queue_prefix(endpoint))
                .keys()
                .take(256)
                .filter_map(|k| {
                    let k = k.ok()?;
                    decode_queue_tail(&k[endpoint.len() + 1..]).map(|(_, id)| id)
                })
                .collect();
            if page.is_empty() {
                return Ok(cancelled);
            }
            for id in page {
                let next = Next::Cancelled {
                    reason: reason.to_string(),
                };
                match self.finish(id, None, None, next, now).await {
                    Ok(_) => cancelled += 1,
                    Err(StoreError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }

    pub fn records(&self, kind: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let start = record_key(kind, prefix);
        let skip = kind.len() + 1;
        self.records
            .scan_prefix(start)
            .map(|item| {
                let (key, value) = item?;
                Ok((
                    String::from_utf8_lossy(&key[skip..]).into_owned(),
                    value.to_vec(),
                ))
            })
            .collect()
    }

    pub async fn put_record(&self, kind: &str, key: &str, value: &[u8]) -> Result<()> {
        self.records.insert(record_key(kind, key), value)?;
        self.committer.commit().await
    }

    pub async fn delete_record(&self, kind: &str, key: &str) -> Result<()> {
        self.records.remove(record_key(kind, key))?;
        self.committer.commit().await
    }

    pub async fn set_endpoint_state_durably(
        &self,
        endpoint: &str,
        state: Option<&EndpointState>,
    ) -> Result<()> {
        match state {
            Some(state) => self.set_endpoint_state(endpoint, state)?,
            None => {
                self.endpoints.remove(endpoint.as_bytes())?;
            }
        }
        self.committer.commit().await
    }

    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<()> {
        let key = ulid::Ulid::from_parts(entry.at, fastrand::u128(..)).to_bytes();
        self.audit.insert(key, encode(entry)?)?;
        self.committer.commit().await
    }

    pub fn audit_page(&self, before: Option<&str>, limit: usize) -> Result<Page<AuditEntry>> {
        let hi = match before {
            Some(cursor) => ulid::Ulid::from_string(cursor)
                .map_err(|_| StoreError::NotFound(format!("audit cursor {cursor:?}")))?
                .to_bytes(),
            None => [0xff; 16],
        };
        let limit = limit.max(1);
        let mut items = Vec::new();
        let mut next_cursor = None;
        for item in self.audit.range(..hi).rev() {
            let (key, value) = item?;
            if items.len() == limit {
                break;
            }
            items.push(decode::<AuditEntry>(&value, "audit entry")?);
            if items.len() == limit {
                next_cursor = key
                    .as_ref()
                    .try_into()
                    .ok()
                    .map(|k: [u8; 16]| ulid::Ulid::from_bytes(k).to_string());
            }
        }
        if items.len() < limit {
            next_cursor = None;
        }
        Ok(Page { items, next_cursor })
    }
}

#[async_trait::async_trait]
impl EventLog for SledStore {
    async fn ingest(
        &self,
        event: Event,
        payload: &[u8],
        endpoints: &[Route],
        dedupe_window: Duration,
    ) -> Result<Ingested> {
        SledStore::ingest(self, event, payload, endpoints, dedupe_window).await
    }

    async fn flush(&self) -> Result<()> {
        SledStore::flush(self).await
    }

    async fn event(&self, id: EventId) -> Result<Option<Event>> {
        SledStore::event(self, id)
    }

    async fn event_by_webhook_id(&self, source: &str, webhook_id: &str) -> Result<Option<EventId>> {
        SledStore::event_by_webhook_id(self, source, webhook_id)
    }

    async fn payload(&self, id: EventId) -> Result<Option<Vec<u8>>> {
        SledStore::payload(self, id)
    }

    async fn events(&self, query: &EventQuery) -> Result<Page<Event>> {
        SledStore::events(self, query)
    }

    async fn purge(
        &self,
        now: Millis,
        policy: RetentionPolicy,
        after: Option<EventId>,
        budget: usize,
    ) -> Result<(Purged, Option<EventId>)> {
        // Scans and many small transactions: let the runtime move other
        // tasks off this thread meanwhile.
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi_thread {
            tokio::task::block_in_place(|| SledStore::purge(self, now, policy, after, budget))
        } else {
            SledStore::purge(self, now, policy, after, budget)
        }
    }

    async fn size_on_disk(&self) -> Result<u64> {
        SledStore::size_on_disk(self)
    }

    fn failure(&self) -> Option<String> {
        SledStore::failure(self)
    }
}

#[async_trait::async_trait]
impl Queue for SledStore {
    async fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>> {
        SledStore::delivery(self, id)
    }

    async fn deliveries_of(&self, event: EventId) -> Result<Vec<Delivery>> {
        SledStore::deliveries_of(self, event)
    }

    async fn deliveries(&self, query: &DeliveryQuery) -> Result<Page<Delivery>> {
        SledStore::deliveries(self, query)
    }

    async fn request(&self, id: DeliveryId) -> Result<Option<OutboundRequest>> {
        SledStore::request(self, id)
    }

    async fn attempts(&self, id: DeliveryId) -> Result<Vec<Attempt>> {
        SledStore::attempts(self, id)
    }

    async fn counts(&self, endpoint: &str) -> Result<Counts> {
        Ok(SledStore::counts(self, endpoint))
    }

    async fn due_count(&self, endpoint: &str, now: Millis) -> Result<u64> {
        SledStore::due_count(self, endpoint, now)
    }

    async fn claim(
        &self,
        endpoint: &str,
        now: Millis,
        max: usize,
        _lease: Duration,
        // The only claimer: the lane's own limits are the endpoint's.
        _limits: Limits,
    ) -> Result<Claim> {
        SledStore::claim(self, endpoint, now, max)
    }

    async fn renew(&self, _ids: &[DeliveryId], _lease: Duration) -> Result<()> {
        // In-process leases last until finished or released.
        Ok(())
    }

    async fn release(&self, id: DeliveryId) -> Result<()> {
        self.release_lease(id);
        Ok(())
    }

    fn work_signal(&self, endpoint: &str) -> Arc<tokio::sync::Notify> {
        SledStore::work_signal(self, endpoint)
    }

    async fn finish(
        &self,
        id: DeliveryId,
        request: Option<NewRequest<'_>>,
        attempt: Option<Attempt>,
        next: Next,
        now: Millis,
    ) -> Result<Delivery> {
        SledStore::finish(self, id, request, attempt, next, now).await
    }

    async fn requeue(&self, id: DeliveryId, replay: bool, now: Millis) -> Result<Delivery> {
        SledStore::requeue(self, id, replay, now)
    }

    async fn add_delivery(
        &self,
        event: EventId,
        route: &Route,
        now: Millis,
    ) -> Result<Option<DeliveryId>> {
        SledStore::add_delivery(self, event, route, now)
    }

    async fn cancel_pending(&self, endpoint: &str, reason: &str, now: Millis) -> Result<u64> {
        SledStore::cancel_pending(self, endpoint, reason, now).await
    }
}

#[async_trait::async_trait]
impl Records for SledStore {
    async fn records(&self, kind: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        SledStore::records(self, kind, prefix)
    }

    async fn put_record(&self, kind: &str, key: &str, value: &[u8]) -> Result<()> {
        SledStore::put_record(self, kind, key, value).await
    }

    async fn delete_record(&self, kind: &str, key: &str) -> Result<()> {
        SledStore::delete_record(self, kind, key).await
    }

    async fn endpoint_state(&self, endpoint: &str) -> Result<Option<EndpointState>> {
        SledStore::endpoint_state(self, endpoint)
    }

    async fn set_endpoint_state(
        &self,
        endpoint: &str,
        state: Option<&EndpointState>,
    ) -> Result<()> {
        SledStore::set_endpoint_state_durably(self, endpoint, state).await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<()> {
        SledStore::append_audit(self, entry).await
    }

    async fn audit(&self, before: Option<&str>, limit: usize) -> Result<Page<AuditEntry>> {
        SledStore::audit_page(self, before, limit)
    }
}

#[cfg(test)]
mod tests;
