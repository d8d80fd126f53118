//! Durable storage of events, deliveries, attempts and the delivery queue,
//! behind a small interface (`Store`) with two backends: `SledStore`, the
//! embedded default (one data directory, no server), and `PgStore`, a
//! PostgreSQL database that several hookwasm nodes share as one queue.

mod commit;
#[cfg(test)]
pub(crate) mod conformance;
mod counters;
pub mod pg_store;
mod sled_store;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

pub use crate::model::*;
pub use pg_store::{PgStore, postgres_url};
pub use sled_store::SledStore;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Storage(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0} not found")]
    NotFound(String),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Storage(e.to_string())
    }
}

/// What ingest did with an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ingested {
    pub event_id: EventId,
    pub deliveries: usize,
    /// The (source, webhook-id) was already stored within the dedupe window;
    /// nothing new was created.
    pub duplicate: bool,
}

/// A request a plugin just made, with the `name@version` that made it.
#[derive(Clone, Copy, Debug)]
pub struct NewRequest<'a> {
    pub request: &'a OutboundRequest,
    pub transformed_by: &'a str,
    /// The delivery's `updated_at` when the transform started: if the
    /// delivery changed since (an operator's replay or retry mid-attempt),
    /// the request is not stored, so a replay still re-runs the plugin.
    pub made_for: Millis,
}

/// A pending delivery and what its next attempt needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Work {
    pub delivery: Delivery,
    pub input: WorkInput,
    /// When a backend that applies the endpoint's rate limit for the whole
    /// cluster lets this one be sent; `None`: the claimer paces it itself.
    pub send_at: Option<Millis>,
}

/// An endpoint's limits, as a claim applies them. A backend shared by
/// several nodes holds them for the cluster (no more leases live at once
/// than `concurrency`, and `send_at` times `1/rate` apart); an in-process
/// one is the only claimer, so the lane's own semaphore and rate limiter
/// already hold them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub concurrency: u32,
    pub rate_per_sec: Option<f64>,
}

impl Limits {
    pub const NONE: Limits = Limits {
        concurrency: u32::MAX,
        rate_per_sec: None,
    };
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkInput {
    /// The request an earlier attempt sent: a retry resends it.
    Request(OutboundRequest),
    /// No request yet: the event and its payload, to transform.
    Event(Arc<Event>, Bytes),
    /// No request yet, and the event is no longer stored.
    EventGone,
}

/// The head of an endpoint's queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    Now(DeliveryId),
    At(Millis),
}

/// An endpoint's state that outlives restarts: disabled after a `410 Gone`
/// or by an operator.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EndpointState {
    pub disabled: bool,
    pub reason: Option<String>,
    pub since: Millis,
}

/// What a retention pass removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Purged {
    pub events: u64,
    pub deliveries: u64,
}

/// How long finished work is kept.
#[derive(Clone, Copy, Debug)]
pub struct RetentionPolicy {
    /// Events whose deliveries are all delivered or skipped.
    pub done: Duration,
    /// Events with a dead letter (kept for replay).
    pub dead: Duration,
}

/// What a dispatcher took from an endpoint's queue.
#[derive(Debug, Default)]
pub struct Claim {
    /// Due work, leased to the caller until it finishes or releases each.
    pub work: Vec<Work>,
    /// When nothing more is due now: when the next delivery will be.
    pub next_at: Option<Millis>,
}

/// The store, as every stage sees it: the event log, the delivery queue
/// with claims, and the catalog's records. One backend implements all
/// three (`SledStore` today; PostgreSQL next), and `conformance` checks
/// that each behaves the same.
pub trait Store: EventLog + Queue + Records + Transfer + Send + Sync + 'static {}

impl<T: EventLog + Queue + Records + Transfer + Send + Sync + 'static> Store for T {}

/// One event with everything that hangs off it, as `hookwasm store copy`
/// moves it from one backend to another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventDump {
    pub event: Event,
    pub payload: Vec<u8>,
    pub deliveries: Vec<DeliveryDump>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryDump {
    pub delivery: Delivery,
    pub request: Option<OutboundRequest>,
    pub attempts: Vec<Attempt>,
}

/// Moving a whole store to another backend (`hookwasm store copy`): the
/// events with their deliveries, attempts and requests exactly as they are
/// (ids, statuses, due times), and the records and states around them.
#[async_trait::async_trait]
pub trait Transfer: Send + Sync {
    /// How many events are stored (for a progress bar).
    async fn event_count(&self) -> Result<u64>;
    /// Up to `limit` events after `after`, in id order.
    async fn export_events(&self, after: Option<EventId>, limit: usize) -> Result<Vec<EventDump>>;
    /// Stores `events` as exported; an event already stored is left as it
    /// is, so a copy that stopped is resumed by running it again. Returns
    /// how many were new.
    async fn import_events(&self, events: &[EventDump]) -> Result<usize>;
    /// Every catalog record: (kind, key, value).
    async fn export_records(&self) -> Result<Vec<(String, String, Vec<u8>)>>;
    async fn endpoint_states(&self) -> Result<Vec<(String, EndpointState)>>;
}

/// `export_events` for a backend, from the `EventLog` and `Queue` it has.
async fn export_with<S: EventLog + Queue + ?Sized>(
    store: &S,
    ids: Vec<EventId>,
) -> Result<Vec<EventDump>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let (Some(event), Some(payload)) = (store.event(id).await?, store.payload(id).await?)
        else {
            continue;
        };
        let mut deliveries = Vec::new();
        for delivery in store.deliveries_of(id).await? {
            deliveries.push(DeliveryDump {
                request: store.request(delivery.id).await?,
                attempts: store.attempts(delivery.id).await?,
                delivery,
            });
        }
        out.push(EventDump {
            event,
            payload,
            deliveries,
        });
    }
    Ok(out)
}

/// Events as received: durable before they are acknowledged.
#[async_trait::async_trait]
pub trait EventLog: Send + Sync {
    /// Stores `event`, its payload and one pending delivery per route,
    /// atomically, and returns once they are durable — unless the same
    /// (source, webhook-id) was stored within `dedupe_window`.
    async fn ingest(
        &self,
        event: Event,
        payload: &[u8],
        endpoints: &[Route],
        dedupe_window: Duration,
    ) -> Result<Ingested>;

    /// Waits until everything written so far is durable.
    async fn flush(&self) -> Result<()>;

    async fn event(&self, id: EventId) -> Result<Option<Event>>;
    async fn event_by_webhook_id(&self, source: &str, webhook_id: &str) -> Result<Option<EventId>>;
    async fn payload(&self, id: EventId) -> Result<Option<Vec<u8>>>;
    async fn events(&self, query: &EventQuery) -> Result<Page<Event>>;

    /// Removes events (and everything hanging off them) past retention,
    /// examining at most `budget` events after `after`; returns where to
    /// continue, or `None` when the whole range was examined.
    async fn purge(
        &self,
        now: Millis,
        policy: RetentionPolicy,
        after: Option<EventId>,
        budget: usize,
    ) -> Result<(Purged, Option<EventId>)>;

    async fn size_on_disk(&self) -> Result<u64>;

    /// Why the store can no longer make writes durable (a failed or hung
    /// flush), if so; it stays failed until reopened.
    fn failure(&self) -> Option<String>;

    /// Why a shared backend cannot be reached right now, if so: unlike a
    /// `failure`, it recovers by itself when the database is back.
    fn unavailable(&self) -> Option<String> {
        None
    }
}

/// Deliveries and their attempts, and the queue of pending ones.
#[async_trait::async_trait]
pub trait Queue: Send + Sync {
    async fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>>;
    async fn deliveries_of(&self, event: EventId) -> Result<Vec<Delivery>>;
    async fn deliveries(&self, query: &DeliveryQuery) -> Result<Page<Delivery>>;
    async fn request(&self, id: DeliveryId) -> Result<Option<OutboundRequest>>;
    async fn attempts(&self, id: DeliveryId) -> Result<Vec<Attempt>>;

    /// Counts by status.
    async fn counts(&self, endpoint: &str) -> Result<Counts>;
    /// Pending deliveries of `endpoint` whose time has come.
    async fn due_count(&self, endpoint: &str, now: Millis) -> Result<u64>;

    /// Up to `max` of `endpoint`'s deliveries that are due at `now` and not
    /// claimed, earliest first, each leased to the caller for `lease` (a
    /// backend shared by several nodes renews and expires leases; an
    /// in-process one holds them until finished or released), within
    /// `limits`.
    async fn claim(
        &self,
        endpoint: &str,
        now: Millis,
        max: usize,
        lease: Duration,
        limits: Limits,
    ) -> Result<Claim>;
    /// Extends the leases of deliveries whose attempts are still running.
    async fn renew(&self, ids: &[DeliveryId], lease: Duration) -> Result<()>;
    /// Gives back a claimed delivery that was not attempted (shutdown).
    async fn release(&self, id: DeliveryId) -> Result<()>;
    /// Resolves when `endpoint` may have new due work (an ingest, a
    /// requeue); dispatchers also wake at the `next_at` of their claims.
    fn work_signal(&self, endpoint: &str) -> std::sync::Arc<tokio::sync::Notify>;

    /// Records an attempt (if one was made) and moves the delivery on, in one
    /// atomic write, releasing its lease. `request` is what the transform
    /// just produced for this attempt: it is kept so that retries send the
    /// same bytes. (Stored with the attempt's outcome rather than before it:
    /// one write per delivery instead of two. A crash mid-attempt transforms
    /// again on restart, which a deterministic plugin turns into the same
    /// request.)
    async fn finish(
        &self,
        id: DeliveryId,
        request: Option<NewRequest<'_>>,
        attempt: Option<Attempt>,
        next: Next,
        now: Millis,
    ) -> Result<Delivery>;
    /// Puts a delivery back in the queue, due now. `replay` drops the stored
    /// request so the transform runs again with the current plugin.
    async fn requeue(&self, id: DeliveryId, replay: bool, now: Millis) -> Result<Delivery>;
    /// Creates a delivery of `event` along `route` (its endpoint, and its
    /// FIFO key if the endpoint is ordered) unless one exists.
    async fn add_delivery(
        &self,
        event: EventId,
        route: &Route,
        now: Millis,
    ) -> Result<Option<DeliveryId>>;
    /// Ends every pending delivery of `endpoint` as `cancelled` with
    /// `reason` (the endpoint was deleted); returns how many.
    async fn cancel_pending(&self, endpoint: &str, reason: &str, now: Millis) -> Result<u64>;
}

/// The catalog's records (API-created sources, endpoints, transformation
/// versions, sealed by the catalog), endpoint states and the audit log.
#[async_trait::async_trait]
pub trait Records: Send + Sync {
    /// (key, value) of every `kind` record whose key starts with `prefix`,
    /// in key order.
    async fn records(&self, kind: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>>;
    /// Durable before it returns.
    async fn put_record(&self, kind: &str, key: &str, value: &[u8]) -> Result<()>;
    async fn delete_record(&self, kind: &str, key: &str) -> Result<()>;

    async fn endpoint_state(&self, endpoint: &str) -> Result<Option<EndpointState>>;
    /// `None` forgets it (a deleted endpoint).
    async fn set_endpoint_state(&self, endpoint: &str, state: Option<&EndpointState>)
    -> Result<()>;

    async fn append_audit(&self, entry: &AuditEntry) -> Result<()>;
    /// Newest first; `before`: the cursor of the previous page.
    async fn audit(&self, before: Option<&str>, limit: usize) -> Result<Page<AuditEntry>>;

    /// For a backend shared by several nodes: bumped when another node
    /// changed the records or an endpoint's state, so this node's catalog
    /// reloads them. `None` when no one else writes.
    fn remote_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}
