//! How a transform's result is shown to people: `hookwasm plugin test` and
//! the admin API's plugin test print the same JSON.

use serde_json::{Value, json};

use super::{CallStats, TransformError, Transformed};
use crate::model::OutboundRequest;

/// `{"outcome":"deliver","request":{…},"stats":{…}}`, or `"skip"` with its
/// reason; `Err` keeps the transform error for the caller to report.
pub fn report(
    result: Result<Transformed, TransformError>,
    stats: CallStats,
) -> Result<Value, TransformError> {
    let stats = json!({ "fuel": stats.fuel, "micros": stats.micros });
    Ok(match result? {
        Transformed::Deliver(request) => json!({
            "outcome": "deliver",
            "request": request_json(&request),
            "stats": stats,
        }),
        Transformed::Skip(reason) => json!({ "outcome": "skip", "reason": reason, "stats": stats }),
    })
}

/// Headers as an object of lower-case names (repeats joined with ", "), the
/// body parsed when it is JSON and shown as text otherwise.
pub fn request_json(request: &OutboundRequest) -> Value {
    let mut headers = serde_json::Map::new();
    for (name, value) in &request.headers {
        let joined = match headers.get(name).and_then(Value::as_str) {
            Some(prev) => format!("{prev}, {value}"),
            None => value.clone(),
        };
        headers.insert(name.clone(), Value::String(joined));
    }
    let body = serde_json::from_slice::<Value>(&request.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&request.body).into_owned()));
    json!({ "method": request.method, "url": request.url, "headers": headers, "body": body })
}
