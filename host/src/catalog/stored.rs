//! How API-created sources, endpoints and transformation versions are
//! stored: JSON, sealed (`seal.rs`), one record each in the store's
//! catalog records; and JSON merge patch (RFC 7396) for `PATCH`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::spec::{EndpointSpec, SourceSpec};
use crate::model::Millis;

/// Record kinds in the store.
pub const SOURCE: &str = "source";
pub const ENDPOINT: &str = "endpoint";
pub const TRANSFORMATION: &str = "transformation";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredSource {
    pub spec: SourceSpec,
    /// Secrets replaced by a rotation, still accepted until their time.
    #[serde(default)]
    pub retired: Vec<RetiredSecret>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RetiredSecret {
    pub secret: String,
    pub until: Millis,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredEndpoint {
    /// Without `transformation`: its code is in the versions.
    pub spec: EndpointSpec,
    /// The current transformation version, if the endpoint has one.
    #[serde(default)]
    pub transformation: Option<u32>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// One saved version of an endpoint's JavaScript.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTransformation {
    pub version: u32,
    pub code: String,
    pub sha256: String,
    pub created_at: Millis,
}

/// The key of an endpoint's transformation version: ordered by version.
pub fn transformation_key(endpoint: &str, version: u32) -> String {
    format!("{endpoint}/{version:010}")
}

pub fn transformation_prefix(endpoint: &str) -> String {
    format!("{endpoint}/")
}

/// RFC 7396: `patch`'s members replace `target`'s, `null` removes one, and
/// objects merge recursively.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// The top-level keys whose values differ between two specs: what an audit
/// entry says changed (keys only, so never a secret).
pub fn changed_keys(before: &Value, after: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (before, after) = (
        before.as_object().unwrap_or(&empty),
        after.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        // The RFC's own example.
        let mut target = json!({
            "title": "Goodbye!",
            "author": {"givenName": "John", "familyName": "Doe"},
            "tags": ["example", "sample"],
            "content": "This will be unchanged"
        });
        merge_patch(
            &mut target,
            &json!({
                "title": "Hello!",
                "phoneNumber": "+01-123-456-7890",
                "author": {"familyName": null},
                "tags": ["example"]
            }),
        );
        assert_eq!(
            target,
            json!({
                "title": "Hello!",
                "author": {"givenName": "John"},
                "tags": ["example"],
                "content": "This will be unchanged",
                "phoneNumber": "+01-123-456-7890"
            })
        );
        let mut scalar = json!({"a": 1});
        merge_patch(&mut scalar, &json!([1]));
        assert_eq!(scalar, json!([1]));
    }

    #[test]
    fn changed_keys_name_only_what_differs() {
        let keys = changed_keys(
            &json!({"events": ["a"], "url": "x", "auth": {"bearer": "s1"}}),
            &json!({"events": ["b"], "url": "x", "auth": {"bearer": "s2"}, "concurrency": 2}),
        );
        assert_eq!(keys, ["auth", "concurrency", "events"]);
    }
}
