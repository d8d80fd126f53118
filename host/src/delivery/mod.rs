//! Delivery: one dispatcher per endpoint takes due work from the store's
//! queue — within the endpoint's concurrency cap and rate limit, and only
//! while it is enabled — runs the transform if the request is not stored
//! yet, sends it, and records the attempt and what happens next.
//!
//! The queue lives in the store, so whatever was in flight when the process
//! died is simply due again after a restart (at-least-once; the delivery
//! keys make a repeat harmless downstream).

pub mod client;
pub mod retry;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http::header::{HeaderName, HeaderValue};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};

use crate::config::{Config, Endpoint};
use crate::metrics::{EndpointLabel, Metrics, PluginLabel, PluginResult};
use crate::runtime::registry::PluginRegistry;
use crate::runtime::{OutputPolicy, TransformInput, Transformed, ValidRequest};
use crate::store::{
    Attempt, Delivery, DeliveryFilter, DeliveryId, DeliveryStatus, Due, EndpointState, Event,
    Millis, NewRequest, Next, Store, StoreError, Work, WorkInput, now_ms,
};
use client::HttpClient;
use retry::Verdict;

/// One endpoint's delivery machinery.
struct Lane {
    endpoint: Endpoint,
    client: HttpClient,
    auth: Vec<(HeaderName, HeaderValue)>,
    policy: OutputPolicy,
    limiter: Option<DefaultDirectRateLimiter>,
    slots: Arc<Semaphore>,
    wake: Notify,
    busy: Mutex<HashSet<DeliveryId>>,
    /// Why the endpoint is not being delivered to right now, if it isn't.
    paused: Mutex<Option<String>>,
    activity: Mutex<Activity>,
}

/// The latest outcomes of an endpoint, for operators.
#[derive(Clone, Debug, Default)]
pub struct Activity {
    pub last_success: Option<Millis>,
    /// When, and why.
    pub last_failure: Option<(Millis, String)>,
}

impl Lane {
    fn is_busy(&self, id: DeliveryId) -> bool {
        self.busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&id)
    }

    fn set_busy(&self, id: DeliveryId, busy: bool) {
        let mut set = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        if busy {
            set.insert(id);
        } else {
            set.remove(&id);
        }
    }

    fn paused(&self) -> Option<String> {
        self.paused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn record(&self, next: &Next, at: Millis) {
        let mut activity = self.activity.lock().unwrap_or_else(|p| p.into_inner());
        match next {
            Next::Delivered => activity.last_success = Some(at),
            Next::Retry { reason, .. } | Next::Dead { reason } => {
                activity.last_failure = Some((at, reason.clone()));
            }
            Next::Skipped { .. } => {}
        }
    }

    fn set_paused(&self, why: Option<String>) {
        *self.paused.lock().unwrap_or_else(|p| p.into_inner()) = why;
        self.wake.notify_one();
    }
}

pub struct Deliverer {
    store: Arc<dyn Store>,
    registry: Arc<PluginRegistry>,
    metrics: Arc<Metrics>,
    lanes: HashMap<String, Arc<Lane>>,
    stop: watch::Sender<bool>,
    in_flight: AtomicUsize,
    idle: Notify,
}

/// How an endpoint looks to operators.
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
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Deliverer>, String> {
        let tls = client::tls_config(config.delivery.ca_file.as_deref())?;
        let mut lanes = HashMap::new();
        for endpoint in &config.endpoints {
            let paused = match &endpoint.disabled {
                Some(why) => Some(why.clone()),
                None => store
                    .endpoint_state(&endpoint.id)
                    .map_err(|e| e.to_string())?
                    .filter(|s| s.disabled)
                    .map(|s| s.reason.unwrap_or_else(|| "disabled".into())),
            };
            let limiter = endpoint.rate_limit_per_sec.and_then(|rate| {
                // One request every 1/rate seconds, no bursts: the limit holds
                // over any window, not just on average.
                Quota::with_period(Duration::from_secs_f64(1.0 / rate)).map(RateLimiter::direct)
            });
            let activity =
                last_activity(store.as_ref(), &endpoint.id).map_err(|e| e.to_string())?;
            let lane = Lane {
                activity: Mutex::new(activity),
                client: HttpClient::new(tls.clone(), endpoint.allow_private_destinations),
                auth: endpoint.auth.iter().map(|a| a.header()).collect(),
                policy: OutputPolicy::for_base(
                    endpoint.base_url(),
                    config.runtime.max_request_body_bytes,
                ),
                limiter,
                slots: Arc::new(Semaphore::new(endpoint.concurrency as usize)),
                wake: Notify::new(),
                busy: Mutex::new(HashSet::new()),
                paused: Mutex::new(paused),
                endpoint: endpoint.clone(),
            };
            lanes.insert(endpoint.id.clone(), Arc::new(lane));
        }
        Ok(Arc::new(Deliverer {
            store,
            registry,
            metrics,
            lanes,
            stop: watch::channel(false).0,
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
        }))
    }

    /// Starts one dispatcher per endpoint.
    pub fn start(self: &Arc<Self>) {
        for lane in self.lanes.values() {
            self.registry.ensure(&lane.endpoint.plugin);
            tokio::spawn(self.clone().dispatch(lane.clone()));
        }
    }

    /// Endpoints that take a new event of this type: same source, matching
    /// filter — disabled ones too (by an operator, a 410, the config or an
    /// unset secret): their deliveries wait in the queue and go out, in
    /// order, once the endpoint is enabled again.
    pub fn matching(&self, source: &str, event_type: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .lanes
            .values()
            .filter(|l| l.endpoint.source == source && l.endpoint.events.matches(event_type))
            .map(|l| l.endpoint.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// There is new or rescheduled work for `endpoint`.
    pub fn wake(&self, endpoint: &str) {
        if let Some(lane) = self.lanes.get(endpoint) {
            lane.wake.notify_one();
        }
    }

    pub fn status(&self, endpoint: &str) -> Option<LaneStatus> {
        let lane = self.lanes.get(endpoint)?;
        let paused = lane.paused();
        Some(LaneStatus {
            enabled: paused.is_none(),
            disabled_reason: paused,
            in_flight: lane.busy.lock().map(|b| b.len()).unwrap_or(0),
        })
    }

    pub fn activity(&self, endpoint: &str) -> Activity {
        self.lanes
            .get(endpoint)
            .map(|l| l.activity.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .unwrap_or_default()
    }

    /// Stops delivering to `endpoint` (persisted); its pending deliveries wait.
    pub fn disable(&self, endpoint: &str, reason: &str) -> Result<(), StoreError> {
        let lane = self
            .lanes
            .get(endpoint)
            .ok_or_else(|| StoreError::NotFound(format!("endpoint {endpoint:?}")))?;
        self.store.set_endpoint_state(
            endpoint,
            &EndpointState {
                disabled: true,
                reason: Some(reason.to_string()),
                since: now_ms(),
            },
        )?;
        lane.set_paused(Some(reason.to_string()));
        Ok(())
    }

    /// Resumes an endpoint disabled at runtime. One disabled in the config
    /// file stays disabled until the file says otherwise.
    pub fn enable(&self, endpoint: &str) -> Result<(), EnableError> {
        let lane = self.lanes.get(endpoint).ok_or(EnableError::Unknown)?;
        if let Some(why) = &lane.endpoint.disabled {
            return Err(EnableError::ByConfig(why.clone()));
        }
        self.store
            .set_endpoint_state(
                endpoint,
                &EndpointState {
                    disabled: false,
                    reason: None,
                    since: now_ms(),
                },
            )
            .map_err(EnableError::Store)?;
        lane.set_paused(None);
        Ok(())
    }

    /// Stops taking new work and waits up to `grace` for attempts in flight;
    /// whatever is cut short stays queued and is retried after a restart.
    pub async fn shutdown(&self, grace: Duration) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + grace;
        while self.in_flight.load(Ordering::SeqCst) > 0 {
            let idle = self.idle.notified();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                tracing::warn!(
                    in_flight = self.in_flight.load(Ordering::SeqCst),
                    "shutdown grace period over; unfinished attempts will be retried after restart"
                );
                break;
            }
        }
    }

    async fn dispatch(self: Arc<Self>, lane: Arc<Lane>) {
        let mut stop = self.stop.subscribe();
        let id = lane.endpoint.id.clone();
        loop {
            if *stop.borrow() {
                return;
            }
            if lane.paused().is_some() {
                tokio::select! {
                    _ = lane.wake.notified() => continue,
                    _ = stop.changed() => return,
                }
            }
            // Nothing is taken from the queue until the plugin is compiled
            // (a first start): the deliveries wait rather than fail.
            if self.registry.is_compiling(&lane.endpoint.plugin) {
                tokio::select! {
                    _ = self.registry.ready(&lane.endpoint.plugin) => continue,
                    _ = stop.changed() => return,
                }
            }
            let permit = tokio::select! {
                permit = lane.slots.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => return,
                },
                _ = stop.changed() => return,
            };
            let next = loop {
                if lane.paused().is_some() || *stop.borrow() {
                    break None;
                }
                let woken = lane.wake.notified();
                let due = self.store.next_due(&id, now_ms(), &|d| lane.is_busy(d));
                match due {
                    Ok(Some(Due::Now(delivery))) => break Some(delivery),
                    Ok(Some(Due::At(at))) => {
                        let wait = Duration::from_millis(at.saturating_sub(now_ms()));
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = woken => {}
                            _ = stop.changed() => {}
                        }
                    }
                    Ok(None) => {
                        tokio::select! {
                            _ = woken => {}
                            _ = stop.changed() => {}
                        }
                    }
                    Err(e) => {
                        tracing::error!(endpoint = %id, "reading the delivery queue failed: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            };
            let Some(delivery) = next else { continue };
            if let Some(limiter) = &lane.limiter {
                tokio::select! {
                    _ = limiter.until_ready() => {}
                    _ = stop.changed() => return,
                }
            }
            lane.set_busy(delivery, true);
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(self.clone().attempt(lane.clone(), delivery, permit));
        }
    }

    async fn attempt(
        self: Arc<Self>,
        lane: Arc<Lane>,
        id: DeliveryId,
        _permit: OwnedSemaphorePermit,
    ) {
        if let Err(e) = self.try_attempt(&lane, id).await {
            tracing::error!(endpoint = %lane.endpoint.id, delivery = %id, "delivery bookkeeping failed, will retry: {e}");
            // Stay busy a moment so a failing store is not hammered.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        lane.set_busy(id, false);
        lane.wake.notify_one();
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    async fn try_attempt(&self, lane: &Lane, id: DeliveryId) -> Result<(), StoreError> {
        let Some(Work { delivery, input }) = self.store.work(id)? else {
            return Ok(());
        };
        // A request made now is stored with this attempt's outcome.
        let (request, made_by) = match input {
            WorkInput::Request(request) => (request, None),
            WorkInput::Event(event, payload) => {
                match self.transform(lane, &delivery, &event, &payload).await? {
                    Some((request, made_by)) => (request, Some(made_by)),
                    None => return Ok(()),
                }
            }
            WorkInput::EventGone => {
                let next = Next::Dead {
                    reason: "the event is no longer stored".into(),
                };
                self.finish_early(lane, id, next, "dead").await?;
                return Ok(());
            }
        };

        let endpoint = &lane.endpoint;
        let n = delivery.attempts + 1;
        let at = now_ms();
        let result = lane
            .client
            .send(&request, &lane.auth, endpoint.timeout)
            .await;
        let elapsed = match &result {
            Ok(r) => r.duration,
            Err(_) => Duration::from_millis(now_ms().saturating_sub(at)),
        };
        self.metrics
            .attempt_seconds
            .get_or_create(&EndpointLabel {
                endpoint: endpoint.id.clone(),
            })
            .observe(elapsed.as_secs_f64());
        let verdict = retry::judge(
            &result,
            &endpoint.retry,
            n.saturating_sub(delivery.schedule_from),
            SystemTime::now(),
        );
        let attempt = Attempt {
            n,
            at,
            duration_ms: elapsed.as_millis() as u64,
            status: result.as_ref().ok().map(|r| r.status),
            response: result
                .as_ref()
                .ok()
                .map(|r| r.excerpt.clone())
                .filter(|e| !e.is_empty()),
            error: result.as_ref().err().map(|e| e.to_string()),
        };
        let now = now_ms();
        let (next, outcome) = match verdict {
            Verdict::Delivered => (Next::Delivered, "delivered"),
            Verdict::Retry(delay, reason) => (
                Next::Retry {
                    at: now + delay.as_millis() as u64,
                    reason,
                },
                "retry",
            ),
            Verdict::Dead(reason) => (Next::Dead { reason }, "dead"),
            Verdict::Gone => {
                let why = "the destination answered 410 Gone; re-enable the endpoint to resume";
                tracing::error!(endpoint = %endpoint.id, "endpoint DISABLED: {why}");
                self.disable(&endpoint.id, why)?;
                (
                    Next::Retry {
                        at: now,
                        reason: "HTTP 410 Gone: endpoint disabled".into(),
                    },
                    "gone",
                )
            }
        };
        tracing::info!(
            event = %delivery.event_id,
            delivery = %id,
            endpoint = %endpoint.id,
            attempt = n,
            status = attempt.status,
            duration_ms = attempt.duration_ms,
            outcome,
            error = attempt.error.as_deref(),
            "delivery attempt"
        );
        lane.record(&next, now);
        let made = made_by.as_deref().map(|transformed_by| NewRequest {
            request: &request,
            transformed_by,
            made_for: delivery.updated_at,
        });
        self.store
            .finish(id, made, Some(attempt), next, now)
            .await?;
        self.metrics.delivery(&endpoint.id, outcome);
        Ok(())
    }

    /// Ends a delivery without an attempt (skipped, or dead before sending).
    async fn finish_early(
        &self,
        lane: &Lane,
        id: DeliveryId,
        next: Next,
        outcome: &str,
    ) -> Result<(), StoreError> {
        lane.record(&next, now_ms());
        self.store.finish(id, None, None, next, now_ms()).await?;
        self.metrics.delivery(&lane.endpoint.id, outcome);
        Ok(())
    }

    /// Runs the endpoint's plugin for a delivery that has no stored request.
    /// Returns the request to send and the `plugin@version` that made it,
    /// or `None` when the delivery was finished here (skipped or
    /// dead-lettered).
    async fn transform(
        &self,
        lane: &Lane,
        delivery: &Delivery,
        event: &Event,
        payload: &[u8],
    ) -> Result<Option<(ValidRequest, String)>, StoreError> {
        let endpoint = &lane.endpoint;
        let id = delivery.id;
        let finish = async |next: Next, outcome: &str| -> Result<Option<_>, StoreError> {
            self.finish_early(lane, id, next, outcome).await?;
            Ok(None)
        };
        let plugin = match self
            .registry
            .for_endpoint(&endpoint.plugin, endpoint.script.as_deref())
        {
            Ok(plugin) => plugin,
            Err(reason) => return finish(Next::Dead { reason }, "dead").await,
        };
        let input = TransformInput {
            delivery_key: format!("{}:{}", endpoint.id, event.webhook_id),
            id: event.webhook_id.clone(),
            event_type: event.event_type.clone(),
            payload: String::from_utf8_lossy(payload).into_owned(),
            endpoint_url: endpoint.url.clone(),
            settings: endpoint.settings.clone(),
        };
        let started = Instant::now();
        let (result, stats) = plugin
            .transform(input, endpoint.limits, lane.policy.clone())
            .await;
        let label = PluginLabel {
            plugin: plugin.name().to_string(),
        };
        self.metrics
            .transform_seconds
            .get_or_create(&label)
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .transform_fuel
            .get_or_create(&label)
            .observe(stats.fuel as f64);
        let result_label = match &result {
            Ok(Transformed::Deliver(_)) => "deliver",
            Ok(Transformed::Skip(_)) => "skip",
            Err(e) => e.kind(),
        };
        self.metrics
            .transforms
            .get_or_create(&PluginResult {
                plugin: plugin.name().to_string(),
                result: result_label.to_string(),
            })
            .inc();

        match result {
            Ok(Transformed::Deliver(request)) => Ok(Some((
                request,
                format!("{}@{}", plugin.name(), plugin.version()),
            ))),
            Ok(Transformed::Skip(reason)) => {
                tracing::info!(delivery = %id, endpoint = %endpoint.id, "skipped by the plugin: {reason}");
                finish(Next::Skipped { reason }, "skipped").await
            }
            Err(e) => {
                tracing::warn!(delivery = %id, endpoint = %endpoint.id, "transform failed, dead-lettered: {e}");
                finish(
                    Next::Dead {
                        reason: format!("transform failed: {e}"),
                    },
                    "dead",
                )
                .await
            }
        }
    }
}

/// The newest delivered and dead deliveries of an endpoint, so the endpoint
/// list shows them after a restart too.
fn last_activity(store: &dyn Store, endpoint: &str) -> Result<Activity, StoreError> {
    let newest = |status| {
        store.deliveries(&DeliveryFilter {
            endpoint: Some(endpoint.to_string()),
            status: Some(status),
            limit: 1,
            ..DeliveryFilter::default()
        })
    };
    let delivered = newest(DeliveryStatus::Delivered)?.items.into_iter().next();
    let dead = newest(DeliveryStatus::Dead)?.items.into_iter().next();
    Ok(Activity {
        last_success: delivered.map(|d| d.updated_at),
        last_failure: dead.map(|d| (d.updated_at, d.reason.unwrap_or_default())),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum EnableError {
    #[error("no such endpoint")]
    Unknown,
    #[error("the endpoint is disabled in the config file: {0}")]
    ByConfig(String),
    #[error(transparent)]
    Store(StoreError),
}
