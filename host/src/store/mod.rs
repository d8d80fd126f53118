//! Durable storage of events, deliveries, attempts and the delivery queue,
//! behind a small interface (`Store`) so that a shared PostgreSQL backend can
//! later let several hookwasm nodes work one queue. `SledStore` is the
//! embedded implementation: one data directory, no server.

mod commit;
mod counters;
pub mod model;
mod sled_store;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

pub use model::*;
pub use sled_store::SledStore;

use crate::runtime::ValidRequest;

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
    pub request: &'a ValidRequest,
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
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkInput {
    /// The request an earlier attempt sent: a retry resends it.
    Request(ValidRequest),
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

#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores `event`, its payload and one pending delivery per endpoint,
    /// atomically, and returns once they are durable — unless the same
    /// (source, webhook-id) was stored within `dedupe_window`.
    async fn ingest(
        &self,
        event: Event,
        payload: &[u8],
        endpoints: &[String],
        dedupe_window: Duration,
    ) -> Result<Ingested>;

    /// Waits until everything written so far is durable.
    async fn flush(&self) -> Result<()>;

    fn event(&self, id: EventId) -> Result<Option<Event>>;
    fn event_by_webhook_id(&self, source: &str, webhook_id: &str) -> Result<Option<EventId>>;
    fn payload(&self, id: EventId) -> Result<Option<Vec<u8>>>;
    fn events(&self, filter: &EventFilter) -> Result<Page<Event>>;

    fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>>;
    fn deliveries_of(&self, event: EventId) -> Result<Vec<Delivery>>;
    fn deliveries(&self, filter: &DeliveryFilter) -> Result<Page<Delivery>>;
    fn request(&self, id: DeliveryId) -> Result<Option<ValidRequest>>;
    /// A pending delivery and what its next attempt needs; `None` if it is
    /// gone or no longer pending.
    fn work(&self, id: DeliveryId) -> Result<Option<Work>>;
    fn attempts(&self, id: DeliveryId) -> Result<Vec<Attempt>>;

    /// Counts by status, kept in memory.
    fn counts(&self, endpoint: &str) -> Counts;
    /// Pending deliveries of `endpoint` whose time has come.
    fn due_count(&self, endpoint: &str, now: Millis) -> Result<u64>;

    /// The earliest pending delivery of `endpoint` that `busy` does not
    /// claim: due now, or the time the next one is due.
    fn next_due(
        &self,
        endpoint: &str,
        now: Millis,
        busy: &dyn Fn(DeliveryId) -> bool,
    ) -> Result<Option<Due>>;
    /// Records an attempt (if one was made) and moves the delivery on, in one
    /// atomic write. `request` is what the transform just produced for this
    /// attempt: it is kept so that retries send the same bytes. (Stored with
    /// the attempt's outcome rather than before it: one write per delivery
    /// instead of two. A crash mid-attempt transforms again on restart,
    /// which a deterministic plugin turns into the same request.)
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
    fn requeue(&self, id: DeliveryId, replay: bool, now: Millis) -> Result<Delivery>;
    /// Creates a delivery of `event` to `endpoint` unless one exists.
    fn add_delivery(
        &self,
        event: EventId,
        endpoint: &str,
        now: Millis,
    ) -> Result<Option<DeliveryId>>;

    fn endpoint_state(&self, endpoint: &str) -> Result<Option<EndpointState>>;
    fn set_endpoint_state(&self, endpoint: &str, state: &EndpointState) -> Result<()>;

    /// Removes events (and everything hanging off them) past retention,
    /// examining at most `budget` events after `after`; returns where to
    /// continue, or `None` when the whole range was examined.
    fn purge(
        &self,
        now: Millis,
        policy: RetentionPolicy,
        after: Option<EventId>,
        budget: usize,
    ) -> Result<(Purged, Option<EventId>)>;
    fn size_on_disk(&self) -> Result<u64>;
    /// Why the store can no longer make writes durable (a failed or hung
    /// flush), if so; it stays failed until reopened.
    fn failure(&self) -> Option<String>;
}
