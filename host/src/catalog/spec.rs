//! Sources and endpoints as written: the shape of a `[sources.NAME]` table
//! and an `[[endpoints]]` entry in the config file, and of the JSON body
//! that creates one over the admin API — one shape, so one validation
//! (`validate.rs`) gives the same message for the same mistake in both.
//! Values may hold `${VAR}` (expanded for the file only) and secrets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::signature::SourceKind;

/// A source webhooks arrive from: `POST /webhooks/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Letters, digits, `-` and `_` (1–64). In the file, the table's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// How the sender signs: `standard-webhooks` (default, also Svix),
    /// `stripe`, `github`, `shopify`, `slack`, or `{"hmac": {…}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub kind: Option<SourceKind>,
    /// Signing secrets; several while rotating (any one verifies).
    #[serde(default)]
    pub secrets: Vec<String>,
    /// How far a signed timestamp may be from now, in seconds (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_secs: Option<u64>,
    /// `false`: accept unsigned requests (logged loudly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<bool>,
    /// Requests per second accepted from this source (429 beyond).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_sec: Option<f64>,
}

/// An endpoint: which events of a source, through which plugin, to where.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    /// Letters, digits, `-` and `_` (1–64); generated (`ep_…`) when an API
    /// request leaves it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub source: String,
    /// A built-in plugin (`loops`, `customerio`, …), a plugin file's name,
    /// or `js` with a `transformation` or `script`. May be left out when a
    /// `transformation` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    /// Exact types, `prefix.*`, or `*`.
    pub events: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSpec>,
    /// Non-secret settings passed to the plugin.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, SettingValue>,
    #[serde(default, skip_serializing_if = "LimitsSpec::is_empty")]
    pub limits: LimitsSpec,
    #[serde(default, skip_serializing_if = "RetrySpec::is_empty")]
    pub retry: RetrySpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_sec: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_private_destinations: Option<bool>,
    /// `"fifo"`: deliveries with the same `ordering_key` go out one at a
    /// time, in ingest order; a failing one holds back only its own key.
    /// `"none"` (the default): in parallel, up to `concurrency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering: Option<String>,
    /// A JSON pointer into the payload (`/data/customer/customer_id`) whose
    /// value is the FIFO key; without it the whole endpoint is one sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
    /// Mutual TLS: the client certificate (and a private CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,
    /// Signs every request the Standard Webhooks way (`webhook-id`,
    /// `webhook-timestamp`, `webhook-signature`) with this `whsec_…`
    /// secret, for a receiver that verifies them. Created over the API
    /// for the `webhook` plugin without one, a secret is generated (shown
    /// once, in the response).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
    /// Secrets that still sign, each adding a signature, while a receiver
    /// moves to a new `signing_secret` (a rotation's overlap).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_signing_secrets: Vec<String>,
    /// A JavaScript handler file (config file only; relative to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// An inline JavaScript handler (API), run by the `js` plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformation: Option<TransformationSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransformationSpec {
    /// `function handler(webhook) { … }`
    pub code: String,
}

/// How the host authenticates to the destination; never shown in clear.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthSpec {
    Bearer(String),
    Basic {
        username: String,
        password: String,
    },
    Header {
        name: String,
        value: String,
    },
    /// OAuth 2.0 client credentials (RFC 6749 §4.4): the host fetches a
    /// token from `token_url`, caches it until shortly before it expires,
    /// and sends it as `Authorization: Bearer`.
    Oauth2 {
        token_url: String,
        client_id: String,
        client_secret: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scope: Option<String>,
        /// Some providers (Auth0) want the API the token is for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audience: Option<String>,
    },
}

/// A client certificate the host presents to the destination (mutual TLS),
/// and the CA that signs the destination's own certificate, if private.
/// Each is a PEM file (relative to the config file) or PEM text.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
}

impl std::fmt::Debug for TlsSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSpec")
            .field("client_cert", &self.client_cert.is_some())
            .field(
                "client_key",
                &self.client_key.as_ref().map(|_| "<redacted>"),
            )
            .field("ca", &self.ca.is_some())
            .finish()
    }
}

impl std::fmt::Debug for AuthSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuthSpec::Bearer(_) => "Bearer(<redacted>)",
            AuthSpec::Basic { .. } => "Basic(<redacted>)",
            AuthSpec::Header { .. } => "Header(<redacted>)",
            AuthSpec::Oauth2 { .. } => "Oauth2(<redacted>)",
        })
    }
}

/// Settings are strings for the plugin; numbers and booleans are accepted
/// and passed on as their text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum SettingValue {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl SettingValue {
    pub fn text(&self) -> String {
        match self {
            SettingValue::String(s) => s.clone(),
            SettingValue::Integer(i) => i.to_string(),
            SettingValue::Float(f) => f.to_string(),
            SettingValue::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl LimitsSpec {
    fn is_empty(&self) -> bool {
        *self == LimitsSpec::default()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Delay before each retry, in seconds (default: 5 s, 5 min, 30 min,
    /// 2 h, 5 h, 10 h, 10 h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_secs: Option<Vec<f64>>,
    /// Non-2xx statuses that mean delivered (Loops: 409).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_statuses: Option<Vec<u16>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retry_after_secs: Option<u64>,
}

impl RetrySpec {
    fn is_empty(&self) -> bool {
        *self == RetrySpec::default()
    }
}
