//! The admin API, on its own listener: see what happened (endpoints, events,
//! deliveries with their attempts, plugins, metrics) and fix it (retry,
//! replay, recover a window, replay missing deliveries, disable and enable
//! endpoints, test a plugin). A bearer token guards every route but
//! `/healthz`; answers and errors are JSON.

pub mod jobs;
pub mod views;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::config::{Config, Endpoint};
use crate::delivery::{Deliverer, EnableError};
use crate::httpd::{self, Body};
use crate::metrics::{EndpointState as StateLabel, Metrics};
use crate::runtime::registry::PluginRegistry;
use crate::runtime::{Limits, OutputPolicy, TransformInput, report};
use crate::store::{
    DeliveryFilter, DeliveryId, DeliveryStatus, EventFilter, EventId, Store, StoreError, now_ms,
};
use jobs::{Jobs, Kind};

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 1000;
const MAX_BODY: usize = 1 << 20;

pub struct Admin {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    deliverer: Arc<Deliverer>,
    registry: Arc<PluginRegistry>,
    metrics: Arc<Metrics>,
    jobs: Arc<Jobs>,
    ready: Arc<AtomicBool>,
    token: Option<String>,
}

type Answer = Result<Response<Body>, (StatusCode, String)>;

fn fail<T>(status: StatusCode, message: impl Into<String>) -> Result<T, (StatusCode, String)> {
    Err((status, message.into()))
}

fn store_error(e: StoreError) -> (StatusCode, String) {
    match e {
        StoreError::NotFound(what) => (StatusCode::NOT_FOUND, format!("{what} not found")),
        other => {
            tracing::error!("admin API store error: {other}");
            (StatusCode::SERVICE_UNAVAILABLE, other.to_string())
        }
    }
}

impl Admin {
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        deliverer: Arc<Deliverer>,
        registry: Arc<PluginRegistry>,
        metrics: Arc<Metrics>,
        ready: Arc<AtomicBool>,
    ) -> Admin {
        let token = config.admin.token.clone();
        Admin {
            config,
            store,
            deliverer,
            registry,
            metrics,
            jobs: Arc::new(Jobs::default()),
            ready,
            token,
        }
    }

    pub async fn handle(&self, request: http::Request<Incoming>) -> Response<Body> {
        let path = request.uri().path().to_string();
        if path != "/healthz"
            && let Some(token) = &self.token
            && !bearer_matches(request.headers(), token)
        {
            let mut response =
                httpd::error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
        match self.route(request, &path).await {
            Ok(response) => response,
            Err((status, message)) => httpd::error(status, message),
        }
    }

    async fn route(&self, request: http::Request<Incoming>, path: &str) -> Answer {
        let query = query(request.uri().query());
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let method = request.method().clone();
        match (&method, segments.as_slice()) {
            (&Method::GET, ["healthz"]) => ok(json!({ "status": "ok" })),
            (&Method::GET, ["readyz"]) => self.readyz(),
            (&Method::GET, ["metrics"]) => self.render_metrics(),
            (&Method::GET, ["v1", "endpoints"]) => self.endpoints(),
            (&Method::POST, ["v1", "endpoints", id, "disable"]) => self.disable(id),
            (&Method::POST, ["v1", "endpoints", id, "enable"]) => self.enable(id),
            (
                &Method::POST,
                [
                    "v1",
                    "endpoints",
                    id,
                    action @ ("recover" | "replay-missing"),
                ],
            ) => {
                let (id, action) = (id.to_string(), *action);
                let body = read_json(request).await?;
                self.start_job(&id, action, &body)
            }
            (&Method::GET, ["v1", "jobs", id]) => match self.jobs.get(id) {
                Some(job) => ok(json!(job)),
                None => fail(StatusCode::NOT_FOUND, format!("no job {id:?}")),
            },
            (&Method::GET, ["v1", "events"]) => self.events(&query),
            (&Method::GET, ["v1", "events", id]) => self.event(id),
            (&Method::GET, ["v1", "deliveries"]) => self.deliveries(&query),
            (&Method::GET, ["v1", "deliveries", id]) => self.delivery(id),
            (&Method::POST, ["v1", "deliveries", id, action @ ("retry" | "replay")]) => {
                self.requeue(id, *action == "replay")
            }
            (&Method::GET, ["v1", "plugins"]) => ok(json!({ "items": self.registry.list() })),
            (&Method::POST, ["v1", "plugins", name, "test"]) => {
                let name = name.to_string();
                let body = read_json(request).await?;
                self.test_plugin(&name, body).await
            }
            (_, ["healthz" | "readyz" | "metrics"]) | (_, ["v1", ..]) => fail(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} is not supported on {path}"),
            ),
            _ => fail(StatusCode::NOT_FOUND, format!("no route {path}")),
        }
    }

    fn readyz(&self) -> Answer {
        if !self.ready.load(Ordering::Relaxed) {
            return fail(
                StatusCode::SERVICE_UNAVAILABLE,
                "starting: plugins are still loading",
            );
        }
        if let Some(why) = self.store.failure() {
            return fail(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("store failed: {why}"),
            );
        }
        if let Err(e) = self.store.size_on_disk() {
            return fail(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("store unavailable: {e}"),
            );
        }
        // Ready: webhooks are accepted and stored. Endpoints whose plugin
        // is still compiling (a first start) deliver once it is done.
        ok(json!({
            "status": "ready",
            "plugins": self.registry.list().len(),
            "compiling": self.registry.compiling(),
        }))
    }

    fn render_metrics(&self) -> Answer {
        let now = now_ms();
        for endpoint in &self.config.endpoints {
            let counts = self.store.counts(&endpoint.id);
            let due = self.store.due_count(&endpoint.id, now).unwrap_or(0);
            for (state, value) in [
                ("pending", counts.pending),
                ("due", due),
                ("dead", counts.dead),
            ] {
                self.metrics
                    .queue_depth
                    .get_or_create(&StateLabel {
                        endpoint: endpoint.id.clone(),
                        state: state.into(),
                    })
                    .set(value as i64);
            }
        }
        self.metrics
            .plugin_reloads
            .set(self.registry.reload_count() as i64);
        self.metrics
            .plugin_reload_failures
            .set(self.registry.failure_count() as i64);
        let mut response = Response::new(Full::new(Bytes::from(self.metrics.render())));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        Ok(response)
    }

    fn endpoint_config(&self, id: &str) -> Result<&Endpoint, (StatusCode, String)> {
        self.config
            .endpoint(id)
            .ok_or_else(|| (StatusCode::NOT_FOUND, format!("no endpoint {id:?}")))
    }

    fn endpoints(&self) -> Answer {
        let now = now_ms();
        let mut items = Vec::new();
        for e in &self.config.endpoints {
            let status = self.deliverer.status(&e.id);
            let counts = self.store.counts(&e.id);
            let plugin = self.registry.get(&e.plugin);
            let activity = self.deliverer.activity(&e.id);
            items.push(json!({
                "id": e.id,
                "source": e.source,
                "events": e.events.patterns(),
                "url": e.url.as_deref().map(|u| e.redact(u)),
                "plugin": {
                    "name": e.plugin,
                    "version": plugin.as_ref().map(|p| p.version().to_string()),
                    "loaded": plugin.is_some(),
                },
                "enabled": status.as_ref().is_some_and(|s| s.enabled),
                "disabled_reason": status.as_ref().and_then(|s| s.disabled_reason.clone()),
                "counts": counts,
                // A disabled endpoint's pending deliveries wait: none is due.
                "due": match status.as_ref().is_some_and(|s| s.enabled) {
                    true => self.store.due_count(&e.id, now).map_err(store_error)?,
                    false => 0,
                },
                "in_flight": status.as_ref().map(|s| s.in_flight).unwrap_or(0),
                "last_success": activity.last_success.map(views::time),
                "last_failure": activity.last_failure.map(|(at, why)| json!({ "at": views::time(at), "reason": why })),
            }));
        }
        ok(json!({ "items": items }))
    }

    fn disable(&self, id: &str) -> Answer {
        self.endpoint_config(id)?;
        self.deliverer
            .disable(id, "disabled through the admin API")
            .map_err(store_error)?;
        tracing::warn!(endpoint = id, "endpoint disabled through the admin API");
        ok(json!({ "id": id, "enabled": false }))
    }

    fn enable(&self, id: &str) -> Answer {
        self.endpoint_config(id)?;
        match self.deliverer.enable(id) {
            Ok(()) => {
                tracing::info!(endpoint = id, "endpoint enabled through the admin API");
                ok(json!({ "id": id, "enabled": true }))
            }
            Err(EnableError::Unknown) => fail(StatusCode::NOT_FOUND, format!("no endpoint {id:?}")),
            Err(e @ EnableError::ByConfig(_)) => fail(StatusCode::CONFLICT, e.to_string()),
            Err(EnableError::Store(e)) => Err(store_error(e)),
        }
    }

    fn start_job(&self, id: &str, action: &str, body: &Value) -> Answer {
        let endpoint = self.endpoint_config(id)?.clone();
        let since = match body.get("since").and_then(Value::as_str) {
            Some(text) => views::parse_time(text)
                .map_err(|e| (StatusCode::BAD_REQUEST, format!("since: {e}")))?,
            None => {
                return fail(
                    StatusCode::BAD_REQUEST,
                    "body must be {\"since\": RFC3339, \"until\"?: RFC3339}",
                );
            }
        };
        let until = match body.get("until").and_then(Value::as_str) {
            Some(text) => Some(
                views::parse_time(text)
                    .map_err(|e| (StatusCode::BAD_REQUEST, format!("until: {e}")))?,
            ),
            None => None,
        };
        let kind = if action == "recover" {
            Kind::Recover
        } else {
            Kind::ReplayMissing
        };
        let job = self.jobs.start(
            kind,
            endpoint,
            since,
            until,
            self.store.clone(),
            self.deliverer.clone(),
        );
        Ok(httpd::json(StatusCode::ACCEPTED, &job))
    }

    fn events(&self, query: &HashMap<String, String>) -> Answer {
        let filter = EventFilter {
            source: query.get("source").cloned(),
            event_type: query.get("type").cloned(),
            since: time_param(query, "since")?,
            until: time_param(query, "until")?,
            cursor: parse_param::<EventId>(query, "cursor", "an event id")?,
            limit: limit(query)?,
        };
        let page = self.store.events(&filter).map_err(store_error)?;
        ok(json!({
            "items": page.items.iter().map(views::event).collect::<Vec<_>>(),
            "next_cursor": page.next_cursor,
        }))
    }

    /// `id` is the id ingest returned, or the sender's `webhook-id`.
    fn event(&self, id: &str) -> Answer {
        let event_id = match id.parse::<EventId>() {
            Ok(event_id) => Some(event_id),
            Err(()) => {
                let mut found = None;
                for source in self.config.sources.keys() {
                    if let Some(event_id) = self
                        .store
                        .event_by_webhook_id(source, id)
                        .map_err(store_error)?
                    {
                        found = Some(event_id);
                        break;
                    }
                }
                found
            }
        };
        let Some(event) = event_id
            .map(|e| self.store.event(e))
            .transpose()
            .map_err(store_error)?
            .flatten()
        else {
            return fail(StatusCode::NOT_FOUND, format!("no event {id:?}"));
        };
        let payload = self.store.payload(event.id).map_err(store_error)?;
        let mut deliveries = Vec::new();
        for d in self.store.deliveries_of(event.id).map_err(store_error)? {
            deliveries.push(self.delivery_view(&d)?);
        }
        ok(views::event_detail(&event, payload.as_deref(), deliveries))
    }

    fn delivery_view(&self, d: &crate::store::Delivery) -> Result<Value, (StatusCode, String)> {
        let attempts = self.store.attempts(d.id).map_err(store_error)?;
        let request = self.store.request(d.id).map_err(store_error)?;
        let endpoint = self.config.endpoint(&d.endpoint);
        let mut view = views::delivery_detail(d, &attempts, request.as_ref(), endpoint);
        if let Some(endpoint) = endpoint {
            // Credentials from the environment may sit in the URL or a response.
            let text = serde_json::to_string(&view).unwrap_or_default();
            view = serde_json::from_str(&endpoint.redact(&text)).unwrap_or(view);
        }
        Ok(view)
    }

    fn deliveries(&self, query: &HashMap<String, String>) -> Answer {
        let status = match query.get("status") {
            Some(s) => Some(
                s.parse::<DeliveryStatus>()
                    .map_err(|e| (StatusCode::BAD_REQUEST, format!("status: {e}")))?,
            ),
            None => None,
        };
        let filter = DeliveryFilter {
            endpoint: query.get("endpoint").cloned(),
            status,
            since: time_param(query, "since")?,
            until: time_param(query, "until")?,
            cursor: parse_param::<DeliveryId>(query, "cursor", "a delivery id")?,
            limit: limit(query)?,
        };
        let page = self.store.deliveries(&filter).map_err(store_error)?;
        ok(json!({
            "items": page.items.iter().map(views::delivery).collect::<Vec<_>>(),
            "next_cursor": page.next_cursor,
        }))
    }

    fn delivery(&self, id: &str) -> Answer {
        let id: DeliveryId = id
            .parse()
            .map_err(|_| (StatusCode::NOT_FOUND, format!("no delivery {id:?}")))?;
        match self.store.delivery(id).map_err(store_error)? {
            Some(d) => ok(self.delivery_view(&d)?),
            None => fail(StatusCode::NOT_FOUND, format!("no delivery {id}")),
        }
    }

    /// retry: send the stored request again; replay: transform again with
    /// the endpoint's current plugin, then send.
    fn requeue(&self, id: &str, replay: bool) -> Answer {
        let id: DeliveryId = id
            .parse()
            .map_err(|_| (StatusCode::NOT_FOUND, format!("no delivery {id:?}")))?;
        let d = self
            .store
            .requeue(id, replay, now_ms())
            .map_err(store_error)?;
        self.deliverer.wake(&d.endpoint);
        tracing::info!(delivery = %id, endpoint = %d.endpoint, replay, "delivery re-queued through the admin API");
        Ok(httpd::json(StatusCode::ACCEPTED, &views::delivery(&d)))
    }

    async fn test_plugin(&self, name: &str, body: Value) -> Answer {
        // A built-in nothing uses yet is compiled now.
        self.registry.ensure(name);
        self.registry.ready(name).await;
        let Some(plugin) = self.registry.get(name) else {
            return fail(
                StatusCode::NOT_FOUND,
                format!("no plugin {name:?} is loaded"),
            );
        };
        // Either the sample payload itself, or {"payload": …, "id", "endpoint", "url", "settings"}.
        let structured = body.get("payload").is_some() && body.get("type").is_none();
        let (payload, options) = if structured {
            (body["payload"].clone(), body.clone())
        } else {
            (body, Value::Null)
        };
        let Some(event_type) = payload
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return fail(
                StatusCode::BAD_REQUEST,
                "the sample payload has no string \"type\" field",
            );
        };
        let text = |key: &str, default: &str| {
            options
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or(default)
                .to_string()
        };
        let (id, endpoint) = (text("id", "msg_test"), text("endpoint", "test"));
        let url = options
            .get("url")
            .and_then(Value::as_str)
            .map(str::to_string);
        let settings = options
            .get("settings")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let base = url.clone().or_else(|| plugin.meta().default_url.clone());
        let input = TransformInput {
            delivery_key: format!("{endpoint}:{id}"),
            id,
            event_type,
            payload: payload.to_string(),
            endpoint_url: url,
            settings,
        };
        let policy =
            OutputPolicy::for_base(base.as_deref(), self.config.runtime.max_request_body_bytes);
        let (result, stats) = plugin.transform(input, Limits::default(), policy).await;
        match report::report(result, stats) {
            Ok(report) => ok(report),
            Err(e) => fail(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        }
    }
}

fn ok(value: Value) -> Answer {
    Ok(httpd::json(StatusCode::OK, &value))
}

fn bearer_matches(headers: &http::HeaderMap, token: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    bool::from(given.as_bytes().ct_eq(token.as_bytes()))
}

fn query(raw: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn limit(query: &HashMap<String, String>) -> Result<usize, (StatusCode, String)> {
    match query.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => fail(
                StatusCode::BAD_REQUEST,
                format!("limit must be 1–{MAX_LIMIT}"),
            ),
        },
    }
}

fn time_param(
    query: &HashMap<String, String>,
    key: &str,
) -> Result<Option<u64>, (StatusCode, String)> {
    query
        .get(key)
        .map(|t| views::parse_time(t).map_err(|e| (StatusCode::BAD_REQUEST, format!("{key}: {e}"))))
        .transpose()
}

fn parse_param<T: std::str::FromStr>(
    query: &HashMap<String, String>,
    key: &str,
    what: &str,
) -> Result<Option<T>, (StatusCode, String)> {
    query
        .get(key)
        .map(|t| {
            t.parse::<T>().map_err(|_| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("{key}: {t:?} is not {what}"),
                )
            })
        })
        .transpose()
}

async fn read_json(request: http::Request<Incoming>) -> Result<Value, (StatusCode, String)> {
    let body = Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                format!("could not read the body: {e}"),
            )
        })?
        .to_bytes();
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(&body).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {e}"),
        )
    })
}
