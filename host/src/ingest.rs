//! Ingest: `POST /webhooks/{source}` checks the Standard Webhooks signature,
//! stores the event and one delivery per matching endpoint durably, and only
//! then answers `200` — so anything acknowledged survives a crash. Every
//! refusal is a status and a one-line JSON error.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::json;

use crate::catalog::{Catalog, SourceEntry};
use crate::config::Config;
use crate::httpd::{self, Body};
use crate::metrics::{Metrics, SourceLabel};
use crate::store::{Event, EventId, Route, Store, now_ms};

/// The clock signatures are checked against (tests pin it).
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Headers kept with the event for operators.
const KEPT_HEADERS: &[&str] = &[
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "user-agent",
];

pub struct Ingest {
    catalog: Arc<Catalog>,
    /// Refusals logged per second, at most (and how many were not).
    refusal_log: DefaultDirectRateLimiter,
    unlogged: std::sync::atomic::AtomicU64,
    /// Rate limiters by source, rebuilt when the source changes.
    gates: std::sync::Mutex<HashMap<String, SourceGate>>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    max_body: usize,
    body_timeout: Duration,
    dedupe_window: Duration,
    clock: Clock,
}

struct SourceGate {
    /// The entry the limiter was made for.
    entry: Arc<SourceEntry>,
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
}

impl Ingest {
    pub fn new(
        config: &Config,
        catalog: Arc<Catalog>,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        clock: Clock,
    ) -> Ingest {
        Ingest {
            catalog,
            refusal_log: RateLimiter::direct(
                Quota::per_second(NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN))
                    .allow_burst(NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN)),
            ),
            unlogged: Default::default(),
            gates: Default::default(),
            store,
            metrics,
            max_body: config.server.max_body_bytes,
            body_timeout: config.server.body_timeout,
            dedupe_window: config.server.dedupe_window,
            clock,
        }
    }

    /// The source's rate limiter, if it has one.
    fn limiter(&self, entry: &Arc<SourceEntry>) -> Option<Arc<DefaultDirectRateLimiter>> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        let name = &entry.source.name;
        if let Some(gate) = gates.get(name)
            && Arc::ptr_eq(&gate.entry, entry)
        {
            return gate.limiter.clone();
        }
        let limiter = entry.source.rate_limit_per_sec.and_then(|rate| {
            let burst = NonZeroU32::new(rate.ceil().max(1.0) as u32)?;
            Quota::with_period(Duration::from_secs_f64(1.0 / rate))
                .map(|q| Arc::new(RateLimiter::direct(q.allow_burst(burst))))
        });
        gates.insert(
            name.clone(),
            SourceGate {
                entry: entry.clone(),
                limiter: limiter.clone(),
            },
        );
        limiter
    }

    /// Reads and discards up to `declared` bytes of `body`, within the body
    /// timeout.
    async fn drain(&self, body: Incoming, declared: u64) {
        let discard = Limited::new(body, declared as usize).collect();
        let _ = tokio::time::timeout(self.body_timeout, discard).await;
    }

    pub async fn handle(&self, request: http::Request<Incoming>) -> Response<Body> {
        let path = request.uri().path().to_string();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (request.method(), segments.as_slice()) {
            (&Method::POST, ["webhooks", source]) => {
                let source = source.to_string();
                self.receive(&source, request).await
            }
            (_, ["webhooks", _]) => {
                let mut response = httpd::error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "webhooks are received with POST",
                );
                response
                    .headers_mut()
                    .insert(http::header::ALLOW, HeaderValue::from_static("POST"));
                response
            }
            (&Method::GET, ["healthz"]) => httpd::json(StatusCode::OK, &json!({ "status": "ok" })),
            _ => httpd::error(
                StatusCode::NOT_FOUND,
                "not found: webhooks go to POST /webhooks/<source>",
            ),
        }
    }

    async fn receive(&self, source_name: &str, request: http::Request<Incoming>) -> Response<Body> {
        let started = std::time::Instant::now();
        let sender_id = sender_id(request.headers());
        let (status, result, response, reason) = self.try_receive(source_name, request).await;
        self.metrics.received(source_name, result);
        if status.is_success() {
            self.metrics
                .ingest_seconds
                .get_or_create(&SourceLabel {
                    source: source_name.to_string(),
                })
                .observe(started.elapsed().as_secs_f64());
        }
        if let Some(reason) = reason {
            // The most common setup mistake (a wrong secret) must not be a
            // silent server; an attacker must not flood the log either.
            match self.refusal_log.check() {
                Ok(()) => {
                    let unlogged = self.unlogged.swap(0, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(
                        source = source_name,
                        status = status.as_u16(),
                        webhook_id = sender_id.as_deref().unwrap_or("-"),
                        unlogged_since = unlogged,
                        "webhook refused: {reason}"
                    );
                }
                Err(_) => {
                    self.unlogged
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
        response
    }

    /// (status, metrics result label, response, why it was refused)
    async fn try_receive(
        &self,
        source_name: &str,
        request: http::Request<Incoming>,
    ) -> (StatusCode, &'static str, Response<Body>, Option<String>) {
        let refuse = |status: StatusCode, label: &'static str, message: String| {
            (
                status,
                label,
                httpd::error(status, message.clone()),
                Some(message),
            )
        };
        let snapshot = self.catalog.snapshot();
        let Some(entry) = snapshot.source(source_name) else {
            return refuse(
                StatusCode::NOT_FOUND,
                "unknown_source",
                format!("unknown source {source_name:?}"),
            );
        };
        let source = &entry.source;
        if let Some(why) = &source.disabled {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "source_disabled",
                format!("source {source_name:?} is not accepting webhooks: {why}"),
            );
        }
        if let Some(limiter) = self.limiter(entry)
            && let Err(not_until) = limiter.check()
        {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            let (status, label, mut response, reason) = refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests for source {source_name:?}; retry after {secs} s"),
            );
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
            return (status, label, response, reason);
        }

        let (parts, body) = request.into_parts();
        let declared = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(n) = declared
            && n > self.max_body as u64
        {
            // Read what a reasonable sender is still sending before answering:
            // closing on a client mid-body resets the connection, and the
            // sender sees a network error instead of this 413.
            if n <= drain_limit(self.max_body) {
                self.drain(body, n).await;
            }
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("body is larger than the {}-byte limit", self.max_body),
            );
        }
        let body = match tokio::time::timeout(
            self.body_timeout,
            Limited::new(body, self.max_body).collect(),
        )
        .await
        {
            Err(_) => {
                return refuse(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    format!(
                        "the body did not arrive within {} s",
                        self.body_timeout.as_secs()
                    ),
                );
            }
            Ok(Err(e))
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                // The rest of the body was not read: the connection closes
                // after this answer (hyper will not reuse it).
                return refuse(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("body is larger than the {}-byte limit", self.max_body),
                );
            }
            Ok(Err(e)) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "bad_body",
                    format!("could not read the body: {e}"),
                );
            }
            Ok(Ok(collected)) => collected.to_bytes(),
        };

        let headers = &parts.headers;
        let verified = if source.verify {
            source.verifier.verify(headers, &body, (self.clock)())
        } else {
            source.verifier.kind().extract(headers, &body)
        };
        let verified = match verified {
            Ok(verified) => verified,
            Err(e) => return refuse(e.status(), e.code(), e.to_string()),
        };
        if let Some(challenge) = verified.challenge {
            // Slack's URL verification: nothing to store.
            return (
                StatusCode::OK,
                "challenge",
                httpd::json(StatusCode::OK, &json!({ "challenge": challenge })),
                None,
            );
        }
        let event_type = match verified.event_type {
            Some(t) => t,
            None => match event_type(&body) {
                Ok(t) => t,
                Err(message) => return refuse(StatusCode::BAD_REQUEST, "bad_json", message),
            },
        };
        let webhook_id = verified.webhook_id;

        let mut parsed: Option<Option<serde_json::Value>> = None;
        let endpoints: Vec<Route> = snapshot
            .route(source_name, &event_type)
            .iter()
            .map(|id| match snapshot.endpoint(id) {
                Some(entry) => entry.endpoint.route(&mut || {
                    parsed
                        .get_or_insert_with(|| serde_json::from_slice(&body).ok())
                        .clone()
                }),
                None => Route::from(id.as_str()),
            })
            .collect();
        let (webhook_id_logged, event_type_logged) = (webhook_id.clone(), event_type.clone());
        let event = Event {
            id: EventId::new(),
            source: source_name.to_string(),
            webhook_id,
            event_type,
            received_at: now_ms(),
            headers: kept_headers(headers),
        };
        match self
            .store
            .ingest(event, &body, &endpoints, self.dedupe_window)
            .await
        {
            Ok(stored) => {
                let body = json!({
                    "id": stored.event_id.to_string(),
                    "deliveries": stored.deliveries,
                    "duplicate": stored.duplicate,
                });
                let label = if stored.duplicate {
                    "duplicate"
                } else {
                    "accepted"
                };
                tracing::info!(
                    source = source_name,
                    event = %stored.event_id,
                    webhook_id = %webhook_id_logged,
                    event_type = %event_type_logged,
                    deliveries = stored.deliveries,
                    duplicate = stored.duplicate,
                    "webhook accepted"
                );
                (
                    StatusCode::OK,
                    label,
                    httpd::json(StatusCode::OK, &body),
                    None,
                )
            }
            Err(e) => {
                tracing::error!(
                    source = source_name,
                    "could not store a webhook, answering 503: {e}"
                );
                refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_error",
                    "the event could not be stored; retry later".into(),
                )
            }
        }
    }
}

/// The sender's own id for a request, for log lines (before it is checked).
fn sender_id(headers: &HeaderMap) -> Option<String> {
    [
        "webhook-id",
        "svix-id",
        "x-github-delivery",
        "x-shopify-webhook-id",
    ]
    .iter()
    .find_map(|name| headers.get(*name)?.to_str().ok())
    .map(|id| id.chars().take(128).collect())
}

fn kept_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = headers.get(*name)?.to_str().ok()?;
            Some((name.to_string(), value.chars().take(512).collect()))
        })
        .collect()
}

/// The `type` of a JSON object body, checking that the whole body is JSON
/// without building a tree of it.
pub fn event_type(body: &Bytes) -> Result<String, String> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

    struct TypeOf;
    impl<'de> Visitor<'de> for TypeOf {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
            let mut found = None;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == "type" && found.is_none() {
                    found = map
                        .next_value::<serde_json::Value>()?
                        .as_str()
                        .map(str::to_string);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }

    let mut de = serde_json::Deserializer::from_slice(body);
    let found = de
        .deserialize_map(TypeOf)
        .and_then(|t| de.end().map(|_| t))
        .map_err(|e| {
            if e.is_data() {
                "the body must be a JSON object".to_string()
            } else {
                format!("the body is not valid JSON: {e}")
            }
        })?;
    match found {
        Some(t) if !t.is_empty() && t.len() <= 256 => Ok(t),
        _ => Err("the JSON body has no string \"type\" field (the event type)".into()),
    }
}

/// Bodies declared up to this size are read and discarded before a 413.
fn drain_limit(max_body: usize) -> u64 {
    (max_body as u64).saturating_mul(4).max(4 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_is_read_from_objects_only() {
        let ok = |s: &str| event_type(&Bytes::from(s.to_string()));
        assert_eq!(
            ok(r#"{"data": {"type": "inner"}, "type": "payment.succeeded"}"#).unwrap(),
            "payment.succeeded"
        );
        assert!(ok("[1, 2]").unwrap_err().contains("must be a JSON object"));
        assert!(
            ok("\"text\"")
                .unwrap_err()
                .contains("must be a JSON object")
        );
        assert!(
            ok("{\"type\": 3}")
                .unwrap_err()
                .contains("no string \"type\"")
        );
        assert!(ok("{}").unwrap_err().contains("no string \"type\""));
        assert!(
            ok("{\"type\": \"a\"} trailing")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(
            ok("{\"type\": \"a\"")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(ok("").unwrap_err().contains("not valid JSON"));
    }
}
