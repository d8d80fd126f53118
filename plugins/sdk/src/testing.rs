//! Checking a plugin against hookwasm's fixture files, natively.
//!
//! A case file (`tests/fixtures/expected/<plugin>.<event>.json`) names a
//! webhook body and the endpoint it is delivered to, and fixes the outcome:
//!
//! ```json
//! { "event": "dodo/payment.succeeded.json", "webhook_id": "msg_…",
//!   "endpoint_id": "test", "endpoint_url": null, "settings": {},
//!   "expect": { "outcome": "deliver",
//!               "request": { "method": "POST", "url": "…",
//!                            "headers": { "content-type": "application/json" },
//!                            "body": { … } } } }
//! ```
//!
//! `event` is relative to the fixtures directory. Header names compare
//! case-insensitively and as a set; bodies compare as parsed JSON. For
//! `"outcome": "skip"` only the kind is fixed; `"outcome": "error"` may fix
//! the `"message"`. Test code: everything here panics with a readable message
//! on a mismatch or an unreadable fixture.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{Event, Outcome, Request};

/// One fixture case: the event the host would build, and what must come out.
#[derive(Clone, Debug)]
pub struct Case {
    /// The case's name, e.g. `loops.payment.succeeded`.
    pub name: String,
    /// The event, built as the host builds it.
    pub event: Event,
    /// The case file's `expect` object.
    pub expect: Value,
}

impl Case {
    /// Loads `expected/{name}.json` from the fixtures directory `fixtures`.
    pub fn load(fixtures: impl AsRef<Path>, name: &str) -> Case {
        let fixtures = fixtures.as_ref();
        let case = read_json(&fixtures.join("expected").join(format!("{name}.json")));
        let text = |key: &str| case[key].as_str().map(str::to_owned);
        let field = |key: &str| text(key).unwrap_or_else(|| panic!("{name}: `{key}` is missing"));

        let body_path: PathBuf = fixtures.join(field("event"));
        let payload = std::fs::read_to_string(&body_path)
            .unwrap_or_else(|e| panic!("{name}: reading {}: {e}", body_path.display()));
        let mut event = Event::from_payload(&field("endpoint_id"), &field("webhook_id"), payload);
        event.endpoint_url = text("endpoint_url");
        if let Some(settings) = case["settings"].as_object() {
            for (key, value) in settings {
                let value = value
                    .as_str()
                    .unwrap_or_else(|| panic!("{name}: setting {key} is not a string"));
                event = event.with_setting(key.as_str(), value);
            }
        }
        Case {
            name: name.to_owned(),
            event,
            expect: case["expect"].clone(),
        }
    }

    /// Panics unless `actual` (what [`crate::call`] returned) is what the
    /// case expects.
    pub fn check(&self, actual: &Result<Outcome, String>) {
        check(&self.name, actual, &self.expect);
    }
}

/// Panics unless `actual` matches `expect` (a case file's `expect` object);
/// `name` prefixes the panic message.
pub fn check(name: &str, actual: &Result<Outcome, String>, expect: &Value) {
    let kind = expect["outcome"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: expect.outcome is missing"));
    match (kind, actual) {
        ("skip", Ok(Outcome::Skip(_))) => {}
        ("error", Err(message)) => {
            if let Some(expected) = expect["message"].as_str() {
                assert_eq!(message, expected, "{name}: error message");
            }
        }
        ("deliver", Ok(Outcome::Deliver(request))) => {
            let want = &expect["request"];
            assert_eq!(
                Some(request.method.as_str()),
                want["method"].as_str(),
                "{name}: method"
            );
            assert_eq!(
                Some(request.url.as_str()),
                want["url"].as_str(),
                "{name}: url"
            );

            let mut headers = BTreeMap::new();
            for header in &request.headers {
                let previous = headers.insert(
                    header.name.to_ascii_lowercase(),
                    Value::from(header.value.as_str()),
                );
                assert!(
                    previous.is_none(),
                    "{name}: header {} sent twice",
                    header.name
                );
            }
            let want_headers: BTreeMap<String, Value> = want["headers"]
                .as_object()
                .map(|h| {
                    h.iter()
                        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(headers, want_headers, "{name}: headers");

            let body: Value = serde_json::from_slice(&request.body).unwrap_or_else(|e| {
                panic!(
                    "{name}: body is not JSON ({e}): {:?}",
                    String::from_utf8_lossy(&request.body)
                )
            });
            assert_eq!(body, want["body"], "{name}: body");
        }
        (kind, actual) => panic!("{name}: expected {kind}, got {actual:?}"),
    }
}

/// The request in `result`; panics when it is a skip or an error.
pub fn delivered(result: &Result<Outcome, String>) -> &Request {
    match result {
        Ok(Outcome::Deliver(request)) => request,
        other => panic!("expected a request, got {other:?}"),
    }
}

/// The request body in `result`, parsed as JSON; panics when there is no
/// request or its body is not JSON.
pub fn delivered_json(result: &Result<Outcome, String>) -> Value {
    let request = delivered(result);
    request.json_body().unwrap_or_else(|| {
        panic!(
            "body is not JSON: {:?}",
            String::from_utf8_lossy(&request.body)
        )
    })
}

/// Every variant of `payload` with one value (at any depth) removed or
/// replaced by an odd one: `null`, wrong types, floats, huge numbers, empty
/// and control-character strings, empty containers. For "never panics on any
/// input" tests: run the plugin on each and only require that it returns.
pub fn odd_variants(payload: &Value) -> Vec<Value> {
    let odd = [
        Value::Null,
        Value::Bool(true),
        Value::from(0),
        Value::from(-1),
        Value::from(1.5),
        Value::from(1e300),
        Value::from(u64::MAX),
        Value::from(""),
        Value::from("-"),
        Value::from("123456789012345678901234567890"),
        Value::from("\0\r\n🚀 \u{202e}"),
        Value::Array(Vec::new()),
        Value::Array(vec![Value::Null]),
        Value::Object(Default::default()),
    ];
    let mut variants = Vec::new();
    let mut paths = Vec::new();
    collect_paths(payload, &mut Vec::new(), &mut paths);
    for path in &paths {
        let mut removed = payload.clone();
        remove_at(&mut removed, path);
        variants.push(removed);
        for value in &odd {
            let mut variant = payload.clone();
            if let Some(slot) = pointer_mut(&mut variant, path) {
                *slot = value.clone();
            }
            variants.push(variant);
        }
    }
    variants
}

fn collect_paths(value: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let children: Vec<(String, &Value)> = match value {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => return,
    };
    for (key, child) in children {
        at.push(key);
        out.push(at.clone());
        collect_paths(child, at, out);
        at.pop();
    }
}

fn pointer_mut<'a>(value: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |value, key| match value {
        Value::Object(map) => map.get_mut(key),
        Value::Array(items) => items.get_mut(key.parse::<usize>().ok()?),
        _ => None,
    })
}

fn remove_at(value: &mut Value, path: &[String]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    match pointer_mut(value, parent) {
        Some(Value::Object(map)) => {
            map.remove(last);
        }
        Some(Value::Array(items)) => {
            if let Some(index) = last.parse::<usize>().ok().filter(|&i| i < items.len()) {
                items.remove(index);
            }
        }
        _ => {}
    }
}

/// Reads and parses a JSON file; panics with the path when it can't.
pub fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}
