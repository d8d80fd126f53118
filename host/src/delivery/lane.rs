//! One endpoint's lane: the dispatcher that claims its due deliveries from
//! the store, within its concurrency cap and rate limit (which a shared
//! store holds for the whole cluster, handing out send times), while it is
//! enabled and its plugin is ready, and hands each to an attempt. The
//! lane's settings are one `LaneConfig`, swapped whole when the catalog
//! changes the endpoint: an attempt keeps the one it started with.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http::header::{HeaderName, HeaderValue};
use tokio::sync::{Notify, Semaphore};

use super::client::HttpClient;
use super::oauth2::TokenSource;
use super::{Activity, Deliverer};
use crate::catalog::EndpointEntry;
use crate::model::{Endpoint, Millis, Next, now_ms};
use crate::runtime::OutputPolicy;
use crate::store::Limits;

/// How long a claim is leased (a shared store renews it while the attempt
/// runs; sled holds it until the attempt ends).
pub const LEASE: Duration = Duration::from_secs(90);

/// How many deliveries one claim takes at most.
const CLAIM_BATCH: usize = 64;

/// An endpoint's settings as one delivery machinery uses them.
pub struct LaneConfig {
    pub endpoint: Arc<Endpoint>,
    pub client: HttpClient,
    pub auth: Vec<(HeaderName, HeaderValue)>,
    /// OAuth2 client credentials: the token, fetched and cached.
    pub oauth: Option<Arc<TokenSource>>,
    pub policy: OutputPolicy,
    pub limiter: Option<DefaultDirectRateLimiter>,
    pub slots: Arc<Semaphore>,
    /// Why it is not delivering now, if it is not.
    pub paused: Option<String>,
}

impl LaneConfig {
    pub fn new(entry: &EndpointEntry, tls: &super::client::Tls, max_body: usize) -> LaneConfig {
        let endpoint = entry.endpoint.clone();
        let limiter = endpoint.rate_limit_per_sec.and_then(|rate| {
            // One request every 1/rate seconds, no bursts: the limit holds
            // over any window, not just on average.
            Quota::with_period(Duration::from_secs_f64(1.0 / rate)).map(RateLimiter::direct)
        });
        // Checked when the endpoint was; should it fail now (a CA file
        // changed underneath), the endpoint pauses with the reason.
        let (tls, tls_problem) = match tls.for_endpoint(endpoint.tls.as_ref()) {
            Ok(config) => (config, None),
            Err(e) => (tls.base(), Some(e)),
        };
        let client = HttpClient::new(tls, endpoint.allow_private_destinations);
        let oauth = endpoint.auth.as_ref().and_then(|a| match a {
            crate::model::Auth::OAuth2(o) => {
                Some(Arc::new(TokenSource::new(o.clone(), client.clone())))
            }
            _ => None,
        });
        LaneConfig {
            oauth,
            client,
            auth: endpoint.auth.iter().filter_map(|a| a.header()).collect(),
            policy: OutputPolicy::for_base(endpoint.base_url(), max_body),
            limiter,
            slots: Arc::new(Semaphore::new(endpoint.concurrency as usize)),
            paused: entry.paused().or(tls_problem),
            endpoint,
        }
    }
}

pub struct Lane {
    pub id: String,
    config: RwLock<Arc<LaneConfig>>,
    /// What the current config was built from, to tell a real change.
    built_from: Mutex<(Arc<Endpoint>, Option<String>)>,
    /// Config swapped, or stop asked.
    changed: Notify,
    /// The store's signal for this endpoint's queue: new work, and an
    /// attempt that ended (its retry may be due before anything else).
    pub signal: Arc<Notify>,
    stopped: AtomicBool,
    pub activity: Mutex<Activity>,
}

impl Lane {
    pub fn new(config: LaneConfig, activity: Activity, signal: Arc<Notify>) -> Lane {
        Lane {
            signal,
            id: config.endpoint.id.clone(),
            built_from: Mutex::new((config.endpoint.clone(), config.paused.clone())),
            config: RwLock::new(Arc::new(config)),
            changed: Notify::new(),
            stopped: AtomicBool::new(false),
            activity: Mutex::new(activity),
        }
    }

    pub fn config(&self) -> Arc<LaneConfig> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether `entry` differs from what the lane runs.
    pub fn differs(&self, entry: &EndpointEntry) -> bool {
        let built = self.built_from.lock().unwrap_or_else(|p| p.into_inner());
        !Arc::ptr_eq(&built.0, &entry.endpoint) || built.1 != entry.paused()
    }

    pub fn swap(&self, config: LaneConfig) {
        *self.built_from.lock().unwrap_or_else(|p| p.into_inner()) =
            (config.endpoint.clone(), config.paused.clone());
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
        self.changed.notify_one();
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.changed.notify_one();
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    pub fn record(&self, next: &Next, at: Millis) {
        let mut activity = self.activity.lock().unwrap_or_else(|p| p.into_inner());
        match next {
            Next::Delivered => activity.last_success = Some(at),
            Next::Retry { reason, .. } | Next::Dead { reason } => {
                activity.last_failure = Some((at, reason.clone()));
            }
            Next::Skipped { .. } | Next::Cancelled { .. } => {}
        }
    }
}

impl Deliverer {
    /// The dispatcher of one lane, until the lane or the deliverer stops.
    pub(super) async fn dispatch(self: Arc<Self>, lane: Arc<Lane>) {
        let mut stop = self.stop.subscribe();
        let signal = lane.signal.clone();
        loop {
            if *stop.borrow() || lane.is_stopped() {
                return;
            }
            let config = lane.config();
            if config.paused.is_some() {
                tokio::select! {
                    _ = lane.changed.notified() => continue,
                    _ = stop.changed() => return,
                }
            }
            // Nothing is taken from the queue until the plugin is compiled
            // (a first start): the deliveries wait rather than fail.
            let plugin = config.endpoint.plugin.clone();
            if self.registry.is_compiling(&plugin) {
                tokio::select! {
                    _ = self.registry.ready(&plugin) => continue,
                    _ = lane.changed.notified() => continue,
                    _ = stop.changed() => return,
                }
            }
            let first = tokio::select! {
                permit = config.slots.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => return,
                },
                _ = lane.changed.notified() => continue,
                _ = stop.changed() => return,
            };
            // Registered before the claim, so work that arrives while it
            // runs is not missed.
            let woken = signal.notified();
            let room = 1 + config.slots.available_permits();
            let max = match &config.limiter {
                // Claimed work waits for the limiter holding its lease:
                // take what one second allows.
                Some(_) => room.min(
                    config
                        .endpoint
                        .rate_limit_per_sec
                        .map_or(1, |r| r.ceil().max(1.0) as usize),
                ),
                None => room,
            }
            .min(CLAIM_BATCH);
            let limits = Limits {
                concurrency: config.endpoint.concurrency,
                rate_per_sec: config.endpoint.rate_limit_per_sec,
            };
            let claim = match self
                .store
                .claim(&lane.id, now_ms(), max, LEASE, limits)
                .await
            {
                Ok(claim) => claim,
                Err(e) => {
                    tracing::error!(endpoint = %lane.id, "reading the delivery queue failed: {e}");
                    drop(first);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if claim.work.is_empty() {
                drop(first);
                let wait = claim
                    .next_at
                    .map(|at| Duration::from_millis(at.saturating_sub(now_ms())))
                    .unwrap_or(Duration::from_secs(3600));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = woken => {}
                    _ = lane.changed.notified() => {}
                    _ = stop.changed() => return,
                }
                continue;
            }
            let mut permit = Some(first);
            let mut batch = claim.work.into_iter();
            while let Some(work) = batch.next() {
                let id = work.delivery.id;
                let slot = match permit.take() {
                    Some(p) => Some(p),
                    None => config.slots.clone().try_acquire_owned().ok(),
                };
                let Some(slot) = slot else {
                    // Concurrency changed under us: give it back.
                    let _ = self.store.release(id).await;
                    continue;
                };
                // A shared store paces the cluster (`send_at`); otherwise
                // this lane's limiter is the endpoint's.
                let send_at = work.send_at;
                let paced = async {
                    match (send_at, &config.limiter) {
                        (Some(at), _) => {
                            let wait = at.saturating_sub(now_ms());
                            tokio::time::sleep(Duration::from_millis(wait)).await
                        }
                        (None, Some(limiter)) => limiter.until_ready().await,
                        (None, None) => {}
                    }
                };
                tokio::select! {
                    _ = paced => {}
                    _ = stop.changed() => {
                        // Every lease of the batch not attempted goes back:
                        // on a shared store it would count against the
                        // endpoint's concurrency until it expired.
                        let _ = self.store.release(id).await;
                        for rest in batch {
                            let _ = self.store.release(rest.delivery.id).await;
                        }
                        return;
                    }
                }
                self.in_flight.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(
                    self.clone()
                        .attempt(lane.clone(), config.clone(), work, slot),
                );
            }
        }
    }
}
