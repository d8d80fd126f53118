//! How stored records look in admin API answers: ids as strings, times as
//! RFC 3339, payloads parsed, bodies shown as JSON or text, and credentials
//! never shown.

use serde_json::{Value, json};

use crate::config::Endpoint;
use crate::runtime::ValidRequest;
use crate::store::{Attempt, Delivery, Event, Millis};

pub fn time(ms: Millis) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

/// Parses an RFC 3339 time (UTC, `Z`) or unix seconds.
pub fn parse_time(text: &str) -> Result<Millis, String> {
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(secs.saturating_mul(1000));
    }
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
        .ok_or_else(|| {
            format!("{text:?} is not an RFC 3339 time like 2025-01-15T23:30:12Z (or unix seconds)")
        })
}

pub fn event(e: &Event) -> Value {
    json!({
        "id": e.id.to_string(),
        "source": e.source,
        "webhook_id": e.webhook_id,
        "type": e.event_type,
        "received_at": time(e.received_at),
    })
}

pub fn event_detail(e: &Event, payload: Option<&[u8]>, deliveries: Vec<Value>) -> Value {
    let mut v = event(e);
    let headers: serde_json::Map<String, Value> = e
        .headers
        .iter()
        .map(|(k, val)| (k.clone(), Value::String(val.clone())))
        .collect();
    v["headers"] = Value::Object(headers);
    v["payload"] = payload.map(body_value).unwrap_or(Value::Null);
    v["deliveries"] = Value::Array(deliveries);
    v
}

pub fn delivery(d: &Delivery) -> Value {
    let mut v = json!({
        "id": d.id.to_string(),
        "event_id": d.event_id.to_string(),
        "endpoint": d.endpoint,
        "status": d.status.as_str(),
        "attempt_count": d.attempts,
        "created_at": time(d.created_at),
        "updated_at": time(d.updated_at),
    });
    if let Some(at) = d.next_attempt_at {
        v["next_attempt_at"] = json!(time(at));
    }
    if let Some(reason) = &d.reason {
        v["reason"] = json!(reason);
    }
    if let Some(status) = d.last_status {
        v["last_status"] = json!(status);
    }
    if let Some(by) = &d.transformed_by {
        v["transformed_by"] = json!(by);
    }
    v
}

pub fn delivery_detail(
    d: &Delivery,
    attempts: &[Attempt],
    request: Option<&ValidRequest>,
    endpoint: Option<&Endpoint>,
) -> Value {
    let mut v = delivery(d);
    v["attempts"] = Value::Array(attempts.iter().map(attempt).collect());
    v["request"] = request
        .map(|r| stored_request(r, endpoint))
        .unwrap_or(Value::Null);
    v
}

pub fn attempt(a: &Attempt) -> Value {
    let mut v = json!({ "n": a.n, "at": time(a.at), "duration_ms": a.duration_ms });
    if let Some(status) = a.status {
        v["status"] = json!(status);
    }
    if let Some(response) = &a.response {
        v["response"] = json!(response);
    }
    if let Some(error) = &a.error {
        v["error"] = json!(error);
    }
    v
}

/// The request as it is sent: the plugin's headers plus the host's, with
/// the endpoint's credential shown as redacted.
pub fn stored_request(r: &ValidRequest, endpoint: Option<&Endpoint>) -> Value {
    let mut headers = serde_json::Map::new();
    for (name, value) in &r.headers {
        headers.insert(name.clone(), Value::String(value.clone()));
    }
    if let Some(auth) = endpoint.and_then(|e| e.auth.as_ref()) {
        let (name, _) = auth.header();
        headers.insert(name.to_string(), Value::String("<redacted>".into()));
    }
    headers.insert(
        "user-agent".into(),
        Value::String(crate::delivery::client::USER_AGENT_VALUE.into()),
    );
    json!({ "method": r.method, "url": r.url, "headers": headers, "body": body_value(&r.body) })
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
    fn times_round_trip() {
        let ms = parse_time("2025-01-15T23:30:12Z").unwrap();
        assert_eq!(ms, 1_736_983_812_000);
        assert_eq!(time(ms), "2025-01-15T23:30:12.000Z");
        assert_eq!(parse_time("1736983812").unwrap(), 1_736_983_812_000);
        assert!(parse_time("yesterday").is_err());
    }
}
