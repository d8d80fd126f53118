//! Where events go: a `Source` that webhooks arrive from, an `Endpoint`
//! that receives the matching ones through a plugin, how the host
//! authenticates to the destination (`Auth`), which event types an endpoint
//! takes (`EventTypes`), its `RetryPolicy` and the plugin's `Limits`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::signature::{Secret, Verifier};

/// Resource limits for one transform call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Fuel (roughly, WebAssembly instructions) the call may burn.
    pub fuel: u64,
    /// The most linear memory the plugin may grow to, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock time for instantiation plus the call.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 50_000_000,
            memory_bytes: 32 << 20,
            timeout: Duration::from_millis(250),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub verifier: Verifier,
    /// `verify = false`: accept unsigned requests (logged loudly).
    pub verify: bool,
    /// Why the source cannot accept webhooks (e.g. its secret is unset).
    pub disabled: Option<String>,
    pub rate_limit_per_sec: Option<f64>,
}

impl Source {
    /// The secret `hookwasm send` signs with (the first one listed).
    pub fn signing_secret(&self) -> Option<&Secret> {
        self.verifier.secrets().first()
    }
}

#[derive(Clone)]
pub struct Endpoint {
    pub id: String,
    pub source: String,
    pub plugin: String,
    pub events: EventTypes,
    pub url: Option<String>,
    /// The plugin's declared default URL, used for the origin check when
    /// `url` is not set.
    pub default_url: Option<String>,
    pub auth: Option<Auth>,
    pub settings: Vec<(String, String)>,
    pub limits: Limits,
    pub retry: RetryPolicy,
    pub rate_limit_per_sec: Option<f64>,
    pub concurrency: u32,
    pub timeout: Duration,
    pub allow_private_destinations: bool,
    /// Standard Webhooks signing secrets: the current one first, then those
    /// still signing during a rotation. Empty: requests are not signed.
    pub signing_secrets: Vec<crate::signature::Secret>,
    /// Mutual TLS, when the destination asks for a client certificate.
    pub tls: Option<ClientTls>,
    /// The endpoint's JavaScript handler, when it runs on the `js` plugin.
    pub transformation: Option<Arc<Transformation>>,
    /// How its deliveries are ordered.
    pub ordering: Ordering,
    /// Why the endpoint is off by configuration (unset secret, `enabled =
    /// false`). Runtime disabling (HTTP 410, the admin API) is in the store.
    pub disabled: Option<String>,
    /// Values that came from the environment (value, variable name): they
    /// may be credentials (an Inngest key in the URL), so `redact` shows
    /// them as `${NAME}`.
    pub from_env: Vec<(String, String)>,
}

/// By hand so that neither the values taken from the environment nor a URL
/// holding one (an Inngest key in the path) ever reach a log line.
impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |v: &Option<String>| v.as_deref().map(|u| self.redact(u));
        let settings: Vec<(&str, String)> = self
            .settings
            .iter()
            .map(|(k, v)| (k.as_str(), self.redact(v)))
            .collect();
        let from_env: Vec<&str> = self.from_env.iter().map(|(_, n)| n.as_str()).collect();
        f.debug_struct("Endpoint")
            .field("id", &self.id)
            .field("source", &self.source)
            .field("plugin", &self.plugin)
            .field("events", &self.events)
            .field("url", &redact(&self.url))
            .field("default_url", &self.default_url)
            .field("auth", &self.auth)
            .field("settings", &settings)
            .field("limits", &self.limits)
            .field("retry", &self.retry)
            .field("rate_limit_per_sec", &self.rate_limit_per_sec)
            .field("concurrency", &self.concurrency)
            .field("timeout", &self.timeout)
            .field(
                "allow_private_destinations",
                &self.allow_private_destinations,
            )
            .field(
                "transformation",
                &self.transformation.as_ref().map(|t| t.name.as_str()),
            )
            .field("signing_secrets", &self.signing_secrets.len())
            .field("tls", &self.tls)
            .field("disabled", &self.disabled)
            .field("from_env", &from_env)
            .finish()
    }
}

impl Endpoint {
    /// The Standard Webhooks headers for one attempt, when the endpoint has
    /// signing secrets: one `v1,…` signature per secret, space-separated
    /// (receivers accept any that matches, which is what lets a rotation
    /// overlap). `id` stays the same across retries; `timestamp` is the
    /// attempt's, so a receiver's tolerance check passes on late retries.
    pub fn signature_headers(
        &self,
        id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Vec<(http::HeaderName, http::HeaderValue)> {
        if self.signing_secrets.is_empty() {
            return Vec::new();
        }
        let signatures: Vec<String> = self
            .signing_secrets
            .iter()
            .map(|secret| secret.sign(id, timestamp, body))
            .collect();
        let value = |text: &str| {
            http::HeaderValue::from_str(text).unwrap_or_else(|_| http::HeaderValue::from_static(""))
        };
        vec![
            (http::HeaderName::from_static("webhook-id"), value(id)),
            (
                http::HeaderName::from_static("webhook-timestamp"),
                value(&timestamp.to_string()),
            ),
            (
                http::HeaderName::from_static("webhook-signature"),
                value(&signatures.join(" ")),
            ),
        ]
    }

    /// `text` with every value taken from the environment replaced by its
    /// `${NAME}`: safe to show in the API and logs.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (value, name) in &self.from_env {
            out = out.replace(value.as_str(), &format!("${{{name}}}"));
        }
        out
    }

    /// The URL whose origin the plugin's requests must keep.
    pub fn base_url(&self) -> Option<&str> {
        self.url.as_deref().or(self.default_url.as_deref())
    }
}

/// How the host authenticates to a destination. Never shown in logs or API
/// answers.
#[derive(Clone)]
pub enum Auth {
    Bearer(String),
    Basic {
        username: String,
        password: String,
    },
    Header {
        name: http::HeaderName,
        value: String,
    },
    /// Client credentials: the header is a token fetched (and refreshed) by
    /// the host, not a fixed value.
    OAuth2(OAuth2),
}

#[derive(Clone, PartialEq, Eq)]
pub struct OAuth2 {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub scope: Option<String>,
    pub audience: Option<String>,
}

/// A client certificate chain and its key (PEM), and a CA for the
/// destination's certificate: the endpoint's mutual TLS.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientTls {
    pub cert_pem: Option<String>,
    pub key_pem: Option<String>,
    pub ca_pem: Option<String>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("cert", &self.cert_pem.is_some())
            .field("key", &self.key_pem.as_ref().map(|_| "<redacted>"))
            .field("ca", &self.ca_pem.is_some())
            .finish()
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::Bearer(_) => "Auth::Bearer(<redacted>)",
            Auth::Basic { .. } => "Auth::Basic(<redacted>)",
            Auth::Header { .. } => "Auth::Header(<redacted>)",
            Auth::OAuth2(_) => "Auth::OAuth2(<redacted>)",
        })
    }
}

impl Auth {
    /// The fixed header the host adds to every request of the endpoint;
    /// `None` for OAuth2, whose token the delivery fetches.
    pub fn header(&self) -> Option<(http::HeaderName, http::HeaderValue)> {
        use base64::Engine as _;
        let (name, value) = match self {
            Auth::Bearer(token) => (http::header::AUTHORIZATION, format!("Bearer {token}")),
            Auth::Basic { username, password } => (
                http::header::AUTHORIZATION,
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{password}"))
                ),
            ),
            Auth::Header { name, value } => (name.clone(), value.clone()),
            Auth::OAuth2(_) => return None,
        };
        // Values were checked when the config was loaded.
        let mut value = http::HeaderValue::from_str(&value)
            .unwrap_or_else(|_| http::HeaderValue::from_static(""));
        value.set_sensitive(true);
        Some((name, value))
    }
}

/// Which event types an endpoint receives: exact names, `prefix.*`, or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypes(pub(crate) Vec<String>);

impl EventTypes {
    pub fn parse(patterns: &[String]) -> Result<Self, String> {
        if patterns.is_empty() {
            return Err("must list at least one event type (\"*\" for all)".into());
        }
        for p in patterns {
            let body = p.strip_suffix(".*").unwrap_or(p);
            let ok = p == "*"
                || (!body.is_empty()
                    && !body.contains('*')
                    && body
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-:/".contains(c)));
            if !ok {
                return Err(format!(
                    "{p:?} is not an event pattern (use an exact type like \"payment.succeeded\", a prefix like \"dispute.*\", or \"*\")"
                ));
            }
        }
        Ok(EventTypes(patterns.to_vec()))
    }

    pub fn matches(&self, event_type: &str) -> bool {
        self.0.iter().any(|p| {
            p == "*"
                || p == event_type
                || p.strip_suffix('*').is_some_and(|prefix| {
                    event_type.starts_with(prefix) && event_type.len() > prefix.len()
                })
        })
    }

    pub fn patterns(&self) -> &[String] {
        &self.0
    }
}

/// When to retry and what counts as delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay before each retry, after the first attempt.
    pub schedule: Vec<Duration>,
    /// Non-2xx statuses that mean "delivered" (Loops: 409 = already sent).
    pub delivered_statuses: Vec<u16>,
    /// ± fraction applied to each delay.
    pub jitter: f64,
    /// The longest `Retry-After` honoured.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            // Svix/Dodo: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
            schedule: [5, 300, 1800, 7200, 18000, 36000, 36000]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            delivered_statuses: Vec::new(),
            jitter: 0.2,
            max_retry_after: Duration::from_secs(6 * 3600),
        }
    }
}

/// A JavaScript handler (`function handler(webhook)`) an endpoint runs on
/// the `js` plugin: a config file's `script`, or code stored with the
/// endpoint (versioned, see the catalog).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transformation {
    /// Shown in the handler's error messages: the file, or `<endpoint>.js`.
    pub name: String,
    pub code: Arc<str>,
    /// sha256 of the code, hex.
    pub sha256: String,
    /// The stored version that holds it (0: not stored, a file's).
    pub version: u32,
    /// The file it was read from, if any.
    pub file: Option<PathBuf>,
}

impl Transformation {
    pub fn new(name: String, code: String, file: Option<PathBuf>) -> Transformation {
        use sha2::Digest as _;
        let sha256 = sha2::Sha256::digest(code.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Transformation {
            name,
            code: code.into(),
            sha256,
            version: 0,
            file,
        }
    }
}

/// How an endpoint's deliveries are ordered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Ordering {
    /// In parallel, up to the endpoint's concurrency.
    #[default]
    Unordered,
    /// One at a time per key, in ingest order: the key is the payload's
    /// value at this JSON pointer (`None`: one sequence for the endpoint).
    Fifo { key: Option<String> },
}

impl Endpoint {
    /// Where ingest sends an event for this endpoint: for a FIFO endpoint,
    /// with the key read from the payload (`payload` parses it, on demand;
    /// a key missing from the payload is the empty key).
    pub fn route(&self, payload: &mut dyn FnMut() -> Option<serde_json::Value>) -> super::Route {
        let ordering_key = match &self.ordering {
            Ordering::Unordered => None,
            Ordering::Fifo { key: None } => Some(String::new()),
            Ordering::Fifo { key: Some(pointer) } => Some(
                payload()
                    .and_then(|v| {
                        v.pointer(pointer).map(|k| match k {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                    })
                    .unwrap_or_default(),
            ),
        };
        super::Route {
            endpoint: self.id.clone(),
            ordering_key,
        }
    }
}
