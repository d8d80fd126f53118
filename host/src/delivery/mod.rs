//! Delivery: a supervisor keeps one lane per catalog endpoint — added,
//! changed and removed as the catalog changes, with no restart — and each
//! lane's dispatcher claims due work from the store's queue (`lane`), within
//! the endpoint's concurrency cap and rate limit and only while it is
//! enabled, and runs one attempt per delivery (`attempt`): transform if no
//! request is stored yet, send, record the outcome and what happens next.
//!
//! The queue lives in the store, so whatever was in flight when the process
//! died is simply due again after a restart (at-least-once; the delivery
//! keys make a repeat harmless downstream).

mod attempt;
pub mod client;
mod lane;
mod oauth2;
pub mod retry;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::catalog::{Catalog, Snapshot};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::model::{Attempt, DeliveryId, DeliveryQuery, DeliveryStatus, Millis, Next, now_ms};
use crate::runtime::registry::PluginRegistry;
use crate::store::{Store, StoreError};
use lane::{Lane, LaneConfig};

/// The latest outcomes of an endpoint, for operators.
#[derive(Clone, Debug, Default)]
pub struct Activity {
    pub last_success: Option<Millis>,
    /// When, and why.
    pub last_failure: Option<(Millis, String)>,
}

pub struct Deliverer {
    store: Arc<dyn Store>,
    registry: Arc<PluginRegistry>,
    catalog: Arc<Catalog>,
    metrics: Arc<Metrics>,
    tls: client::Tls,
    max_request_body: usize,
    lanes: Mutex<HashMap<String, Arc<Lane>>>,
    stop: watch::Sender<bool>,
    in_flight: AtomicUsize,
    idle: Notify,
    /// Attempts sending now: (attempt number, when it started), so that
    /// one cut off by shutdown is recorded as interrupted.
    sending: Mutex<HashMap<DeliveryId, (u32, Millis)>>,
}

/// How an endpoint's lane looks to operators.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LaneStatus {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub in_flight: usize,
}

impl Deliverer {
    pub fn new(
        config: &Config,
        store: Arc<dyn Store>,
        registry: Arc<PluginRegistry>,
        catalog: Arc<Catalog>,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Deliverer>, String> {
        let tls = client::Tls::new(config.delivery.ca_file.as_deref())?;
        Ok(Arc::new(Deliverer {
            store,
            registry,
            catalog,
            metrics,
            tls,
            max_request_body: config.runtime.max_request_body_bytes,
            lanes: Mutex::new(HashMap::new()),
            stop: watch::channel(false).0,
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            sending: Mutex::new(HashMap::new()),
        }))
    }

    /// Starts a lane per endpoint, and keeps the lanes in line with the
    /// catalog from then on.
    pub async fn start(self: &Arc<Self>) {
        self.reconcile(&self.catalog.snapshot()).await;
        let deliverer = self.clone();
        let mut changes = self.catalog.subscribe();
        let mut stop = self.stop.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() { return },
                    _ = stop.changed() => return,
                }
                deliverer.reconcile(&deliverer.catalog.snapshot()).await;
            }
        });
    }

    /// Adds lanes for new endpoints, swaps the settings of changed ones and
    /// stops those of removed ones (their attempts in flight finish).
    async fn reconcile(self: &Arc<Self>, snapshot: &Snapshot) {
        let mut added = Vec::new();
        {
            let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
            lanes.retain(|id, lane| {
                let keep = snapshot.endpoints.contains_key(id);
                if !keep {
                    lane.stop();
                }
                keep
            });
            for (id, entry) in &snapshot.endpoints {
                match lanes.get(id) {
                    Some(lane) if lane.differs(entry) => {
                        lane.swap(LaneConfig::new(entry, &self.tls, self.max_request_body))
                    }
                    Some(_) => {}
                    None => added.push(entry.clone()),
                }
            }
        }
        for entry in added {
            let activity = last_activity(self.store.as_ref(), &entry.endpoint.id)
                .await
                .unwrap_or_default();
            self.registry.ensure(&entry.endpoint.plugin);
            let lane = Arc::new(Lane::new(
                LaneConfig::new(&entry, &self.tls, self.max_request_body),
                activity,
                self.store.work_signal(&entry.endpoint.id),
            ));
            self.lanes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(entry.endpoint.id.clone(), lane.clone());
            tokio::spawn(self.clone().dispatch(lane));
        }
    }

    fn lane(&self, endpoint: &str) -> Option<Arc<Lane>> {
        self.lanes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(endpoint)
            .cloned()
    }

    pub fn status(&self, endpoint: &str) -> Option<LaneStatus> {
        let lane = self.lane(endpoint)?;
        let config = lane.config();
        let slots = config.endpoint.concurrency as usize;
        Some(LaneStatus {
            enabled: config.paused.is_none(),
            disabled_reason: config.paused.clone(),
            in_flight: slots.saturating_sub(config.slots.available_permits()),
        })
    }

    pub fn activity(&self, endpoint: &str) -> Activity {
        self.lane(endpoint)
            .map(|l| l.activity.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .unwrap_or_default()
    }

    /// Attempts running now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Stops taking new work and waits up to `grace` for attempts in flight.
    /// Attempts still sending when it is over are recorded as interrupted
    /// (the destination may have got them) and stay queued: they are
    /// retried after a restart.
    pub async fn shutdown(&self, grace: Duration) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + grace;
        while self.in_flight.load(Ordering::SeqCst) > 0 {
            let idle = self.idle.notified();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                let cut: Vec<(DeliveryId, (u32, Millis))> = self
                    .sending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .drain()
                    .collect();
                tracing::warn!(
                    in_flight = self.in_flight.load(Ordering::SeqCst),
                    interrupted = cut.len(),
                    "shutdown grace period over; attempts cut off are recorded as interrupted and retried after restart"
                );
                for (id, (n, at)) in cut {
                    let now = now_ms();
                    let attempt = Attempt {
                        n,
                        at,
                        duration_ms: now.saturating_sub(at),
                        status: None,
                        response: None,
                        error: Some("interrupted: the server shut down during the attempt (the destination may have received it)".into()),
                        response_headers: Vec::new(),
                    };
                    let next = Next::Retry {
                        at: now,
                        reason: "interrupted by a shutdown; retried after the restart".into(),
                    };
                    if let Err(e) = self.store.finish(id, None, Some(attempt), next, now).await {
                        tracing::error!(delivery = %id, "could not record an interrupted attempt: {e}");
                    }
                }
                break;
            }
        }
    }
}

/// The newest delivered and dead deliveries of an endpoint, so the endpoint
/// list shows them after a restart too.
async fn last_activity(store: &dyn Store, endpoint: &str) -> Result<Activity, StoreError> {
    let newest = async |status| {
        store
            .deliveries(&DeliveryQuery {
                endpoint: Some(endpoint.to_string()),
                status: Some(status),
                limit: 1,
                ..DeliveryQuery::default()
            })
            .await
    };
    let delivered = newest(DeliveryStatus::Delivered)
        .await?
        .items
        .into_iter()
        .next();
    let dead = newest(DeliveryStatus::Dead).await?.items.into_iter().next();
    Ok(Activity {
        last_success: delivered.map(|d| d.updated_at),
        last_failure: dead.map(|d| (d.updated_at, d.reason.unwrap_or_default())),
    })
}
