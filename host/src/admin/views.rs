//! How domain records look in admin API answers (`api` models): ids as
//! strings, times as RFC 3339, payloads parsed, bodies shown as JSON or
//! text, values from the environment as `${NAME}`, and credentials never
//! shown — a secret is [`SecretView`], the host's auth header
//! `<set by host>`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::api::*;
use crate::catalog::spec::AuthSpec;
use crate::catalog::{EndpointEntry, SourceEntry};
use crate::delivery::{Activity, LaneStatus};
use crate::model::{Attempt, Counts, Delivery, Endpoint, Event, Millis, Ordering, OutboundRequest};

pub fn time(ms: Millis) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

/// Parses an RFC 3339 time (UTC, `Z`), unix seconds, or a time ago
/// (`2h`, `30m`, `7d`).
pub fn parse_time(text: &str) -> Result<Millis, String> {
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(secs.saturating_mul(1000));
    }
    if let Ok(ago) = humantime::parse_duration(text) {
        return Ok(crate::model::now_ms().saturating_sub(ago.as_millis() as u64));
    }
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
        .ok_or_else(|| {
            format!(
                "{text:?} is not an RFC 3339 time like 2025-01-15T23:30:12Z, unix seconds, or a time ago like 2h"
            )
        })
}

/// What the host adds in place of an endpoint's credential, in views.
pub const SET_BY_HOST: &str = "<set by host>";

pub fn source(entry: &SourceEntry) -> SourceView {
    let s = &entry.source;
    SourceView {
        id: s.name.clone(),
        kind: s.verifier.kind().name().to_string(),
        managed_by: entry.managed_by,
        ingest_path: format!("/webhooks/{}", s.name),
        secrets: entry.spec.secrets.iter().map(|t| secret_text(t)).collect(),
        retired: entry
            .retired
            .iter()
            .filter(|r| r.until > crate::model::now_ms())
            .map(|r| RetiredView {
                secret: SecretView::of(&r.secret),
                until: time(r.until),
            })
            .collect(),
        tolerance_secs: s.verifier.tolerance().as_secs(),
        verify: s.verify,
        rate_limit_per_sec: s.rate_limit_per_sec,
        accepting: s.disabled.is_none(),
        disabled_reason: s.disabled.clone(),
        created_at: time(entry.created_at),
        updated_at: time(entry.updated_at),
    }
}

/// A written value that may be `${VAR}`: the reference is shown as is.
fn secret_text(text: &str) -> SecretView {
    if text.starts_with("${") && text.ends_with('}') {
        SecretView {
            set: true,
            last4: text.to_string(),
        }
    } else {
        SecretView::of(text)
    }
}

/// What else an endpoint view needs: live state from delivery and the store.
pub struct EndpointState {
    pub status: Option<LaneStatus>,
    pub counts: Counts,
    pub due: u64,
    pub activity: Activity,
    pub plugin: PluginRef,
    /// The plugin's form says its URL is a credential.
    pub secret_url: bool,
}

pub fn endpoint(entry: &EndpointEntry, live: EndpointState) -> EndpointView {
    let e = &entry.endpoint;
    let paused = entry.paused();
    let enabled = paused.is_none();
    EndpointView {
        id: e.id.clone(),
        source: e.source.clone(),
        plugin: live.plugin,
        events: e.events.patterns().to_vec(),
        url: e.url.as_deref().map(|u| {
            let shown = e.redact(u);
            if live.secret_url && shown == u {
                mask_url(u)
            } else {
                shown
            }
        }),
        auth: entry.spec.auth.as_ref().map(auth),
        settings: e
            .settings
            .iter()
            .map(|(k, v)| (k.clone(), e.redact(v)))
            .collect(),
        limits: LimitsView {
            fuel: e.limits.fuel,
            memory_mb: (e.limits.memory_bytes >> 20) as u64,
            timeout_ms: e.limits.timeout.as_millis() as u64,
        },
        retry: RetryView {
            schedule_secs: e.retry.schedule.iter().map(|d| d.as_secs_f64()).collect(),
            delivered_statuses: e.retry.delivered_statuses.clone(),
            jitter: e.retry.jitter,
            max_retry_after_secs: e.retry.max_retry_after.as_secs(),
        },
        rate_limit_per_sec: e.rate_limit_per_sec,
        concurrency: e.concurrency,
        timeout_secs: e.timeout.as_secs(),
        allow_private_destinations: e.allow_private_destinations,
        ordering: match e.ordering {
            Ordering::Unordered => "none".into(),
            Ordering::Fifo { .. } => "fifo".into(),
        },
        ordering_key: match &e.ordering {
            Ordering::Fifo { key } => key.clone(),
            Ordering::Unordered => None,
        },
        transformation: e.transformation.as_ref().map(|t| TransformationRef {
            version: t.version,
            sha256: t.sha256.clone(),
            file: t.file.as_ref().map(|p| p.display().to_string()),
        }),
        signing_secret: entry.spec.signing_secret.as_deref().map(secret_text),
        client_certificate: e.tls.as_ref().is_some_and(|t| t.cert_pem.is_some()),
        previous_signing_secrets: entry.spec.previous_signing_secrets.len(),
        new_signing_secret: None,
        managed_by: entry.managed_by,
        enabled,
        disabled_reason: paused,
        counts: counts(live.counts),
        due: if enabled { live.due } else { 0 },
        in_flight: live.status.map(|s| s.in_flight).unwrap_or(0),
        last_success: live.activity.last_success.map(time),
        last_failure: live
            .activity
            .last_failure
            // A failure older than the last success is history, not health.
            .filter(|(at, _)| live.activity.last_success.is_none_or(|ok| *at > ok))
            .map(|(at, reason)| FailureView {
                at: time(at),
                reason,
            }),
        created_at: time(entry.created_at),
        updated_at: time(entry.updated_at),
    }
}

pub fn counts(c: Counts) -> CountsView {
    CountsView {
        pending: c.pending,
        delivered: c.delivered,
        skipped: c.skipped,
        dead: c.dead,
        cancelled: c.cancelled,
    }
}

fn auth(spec: &AuthSpec) -> AuthView {
    match spec {
        AuthSpec::Bearer(token) => AuthView::Bearer(secret_text(token)),
        AuthSpec::Basic { username, password } => AuthView::Basic {
            username: secret_text(username),
            password: secret_text(password),
        },
        AuthSpec::Header { name, value } => AuthView::Header {
            name: name.clone(),
            value: secret_text(value),
        },
        AuthSpec::Oauth2 {
            token_url,
            client_id,
            client_secret,
            scope,
            audience,
        } => AuthView::Oauth2 {
            token_url: token_url.clone(),
            client_id: client_id.clone(),
            client_secret: secret_text(client_secret),
            scope: scope.clone(),
            audience: audience.clone(),
        },
    }
}

/// A URL that is itself a credential (Slack, Zapier): its origin and the
/// last four characters.
fn mask_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => {
            let tail: String = url
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("{}/…{tail}", parsed.origin().ascii_serialization())
        }
        Err(_) => "…".into(),
    }
}

pub fn event(e: &Event) -> EventView {
    EventView {
        id: e.id.to_string(),
        source: e.source.clone(),
        webhook_id: e.webhook_id.clone(),
        event_type: e.event_type.clone(),
        received_at: time(e.received_at),
        deliveries: None,
    }
}

pub fn event_detail(
    e: &Event,
    payload: Option<&[u8]>,
    deliveries: Vec<DeliveryDetail>,
) -> EventDetail {
    EventDetail {
        event: event(e),
        headers: e.headers.iter().cloned().collect(),
        payload: payload.map(body_value).unwrap_or(Value::Null),
        deliveries,
    }
}

pub fn delivery(d: &Delivery) -> DeliveryView {
    DeliveryView {
        id: d.id.to_string(),
        event_id: d.event_id.to_string(),
        endpoint: d.endpoint.clone(),
        status: d.status.as_str().to_string(),
        attempt_count: d.attempts,
        created_at: time(d.created_at),
        updated_at: time(d.updated_at),
        next_attempt_at: d.next_attempt_at.map(time),
        reason: d.reason.clone(),
        last_status: d.last_status,
        transformed_by: d.transformed_by.clone(),
    }
}

pub fn delivery_detail(
    d: &Delivery,
    event_type: Option<String>,
    attempts: &[Attempt],
    request: Option<&OutboundRequest>,
    endpoint: Option<&Endpoint>,
) -> DeliveryDetail {
    let mut detail = DeliveryDetail {
        delivery: delivery(d),
        event_type,
        attempts: attempts.iter().map(attempt).collect(),
        request: request.map(|r| stored_request(r, endpoint)),
    };
    if let Some(endpoint) = endpoint {
        // Credentials from the environment may sit in the URL or a response.
        let text = serde_json::to_string(&detail).unwrap_or_default();
        if let Ok(redacted) = serde_json::from_str(&endpoint.redact(&text)) {
            detail = redacted;
        }
    }
    detail
}

pub fn attempt(a: &Attempt) -> AttemptView {
    AttemptView {
        n: a.n,
        at: time(a.at),
        duration_ms: a.duration_ms,
        status: a.status,
        response: a.response.clone(),
        response_headers: a.response_headers.iter().cloned().collect(),
        error: a.error.clone(),
    }
}

/// The request as it is sent: the plugin's headers plus the host's, with
/// the endpoint's credential shown as `<set by host>`.
pub fn stored_request(r: &OutboundRequest, endpoint: Option<&Endpoint>) -> RequestView {
    let mut view = request(r);
    if let Some(auth) = endpoint.and_then(|e| e.auth.as_ref()) {
        let name = auth
            .header()
            .map_or_else(|| "authorization".to_string(), |(name, _)| name.to_string());
        view.headers.insert(name, SET_BY_HOST.into());
    }
    view.headers.insert(
        "user-agent".into(),
        crate::delivery::client::USER_AGENT_VALUE.into(),
    );
    view
}

/// Headers as lower-case names (repeats joined with ", "), the body parsed
/// when it is JSON and shown as text otherwise.
pub fn request(r: &OutboundRequest) -> RequestView {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &r.headers {
        headers
            .entry(name.clone())
            .and_modify(|prev| {
                prev.push_str(", ");
                prev.push_str(value);
            })
            .or_insert_with(|| value.clone());
    }
    RequestView {
        method: r.method.clone(),
        url: r.url.clone(),
        headers,
        body: body_value(&r.body),
    }
}

/// JSON stays JSON; anything else is shown as text.
pub fn body_value(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_and_ago() {
        let ms = parse_time("2025-01-15T23:30:12Z").unwrap();
        assert_eq!(ms, 1_736_983_812_000);
        assert_eq!(time(ms), "2025-01-15T23:30:12.000Z");
        assert_eq!(parse_time("1736983812").unwrap(), 1_736_983_812_000);
        let two_hours_ago = parse_time("2h").unwrap();
        let now = crate::model::now_ms();
        assert!(now - two_hours_ago >= 7_200_000 && now - two_hours_ago < 7_260_000);
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn secrets_show_only_their_last_four() {
        assert_eq!(SecretView::of("sk_live_0123456789abcd").last4, "abcd");
        assert_eq!(SecretView::of("short").last4, "…");
        assert_eq!(
            mask_url("https://hooks.slack.com/services/T1/B2/xyzw1234"),
            "https://hooks.slack.com/…1234"
        );
    }
}
