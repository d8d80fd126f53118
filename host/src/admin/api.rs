//! The admin API's typed models: every request body and answer, shared by
//! the server (`routes`), the CLI (`cli/admin.rs`) and the dashboard, and
//! the source of the OpenAPI document (`GET /v1/openapi.json`). Errors are
//! always [`ErrorBody`]. Credentials are never in an answer: a secret shows
//! as [`SecretView`] (set, and its last four characters).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::catalog::ManagedBy;

/// Every error: one line.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

/// A page of a listing; pass `next_cursor` back as `cursor` for the next.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct List<T> {
    pub items: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A secret as answers show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SecretView {
    pub set: bool,
    /// Its last four characters (all of it masked when it is shorter than 12).
    pub last4: String,
}

impl SecretView {
    pub fn of(secret: &str) -> SecretView {
        let chars: Vec<char> = secret.chars().collect();
        let last4 = if chars.len() >= 12 {
            chars[chars.len() - 4..].iter().collect()
        } else {
            "…".into()
        };
        SecretView {
            set: !secret.is_empty(),
            last4,
        }
    }
}

// --- sources

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SourceView {
    pub id: String,
    /// standard-webhooks, stripe, github, shopify, slack, hmac.
    pub kind: String,
    pub managed_by: ManagedBy,
    /// Where the sender posts: `POST {ingest}{ingest_path}`.
    pub ingest_path: String,
    pub secrets: Vec<SecretView>,
    /// Rotated-out secrets still verifying, and until when.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired: Vec<RetiredView>,
    pub tolerance_secs: u64,
    pub verify: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_sec: Option<f64>,
    /// Whether it accepts webhooks now.
    pub accepting: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RetiredView {
    pub secret: SecretView,
    pub until: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// The new secret: it signs from now.
    pub secret: String,
    /// How long the old ones keep verifying (default 86400).
    #[serde(default)]
    pub grace_secs: Option<u64>,
}

// --- endpoints

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EndpointView {
    pub id: String,
    pub source: String,
    pub plugin: PluginRef,
    pub events: Vec<String>,
    /// Values from the environment shown as `${NAME}`; a URL that is itself
    /// a credential is masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthView>,
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    pub limits: LimitsView,
    pub retry: RetryView,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_sec: Option<f64>,
    pub concurrency: u32,
    pub timeout_secs: u64,
    pub allow_private_destinations: bool,
    /// `fifo` or `none`.
    pub ordering: String,
    /// The JSON pointer a FIFO endpoint's deliveries are keyed by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformation: Option<TransformationRef>,
    /// The Standard Webhooks secret requests are signed with, masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<SecretView>,
    /// Whether the host presents a client certificate (mutual TLS).
    #[serde(default)]
    pub client_certificate: bool,
    /// How many older secrets still sign alongside it (a rotation's overlap).
    #[serde(default)]
    pub previous_signing_secrets: usize,
    /// A signing secret hookwasm just made: in the answer to the request
    /// that made it, and never again. Give it to the receiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_signing_secret: Option<String>,
    pub managed_by: ManagedBy,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub counts: CountsView,
    /// Pending deliveries whose time has come (0 while disabled).
    pub due: u64,
    pub in_flight: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<FailureView>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PluginRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// ready, compiling, failed, available.
    pub state: String,
    pub loaded: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthView {
    Bearer(SecretView),
    Basic {
        username: SecretView,
        password: SecretView,
    },
    Header {
        name: String,
        value: SecretView,
    },
    Oauth2 {
        token_url: String,
        client_id: String,
        client_secret: SecretView,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scope: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audience: Option<String>,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LimitsView {
    pub fuel: u64,
    pub memory_mb: u64,
    pub timeout_ms: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RetryView {
    pub schedule_secs: Vec<f64>,
    pub delivered_statuses: Vec<u16>,
    pub jitter: f64,
    pub max_retry_after_secs: u64,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct CountsView {
    pub pending: u64,
    pub delivered: u64,
    pub skipped: u64,
    pub dead: u64,
    pub cancelled: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FailureView {
    pub at: String,
    pub reason: String,
}

/// Which transformation an endpoint runs.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TransformationRef {
    /// 0 for a config file's script.
    pub version: u32,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TransformationView {
    pub version: u32,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    pub code: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    pub code: String,
}

/// The body of a signing-secret rotation: the new secret, or none to have
/// one generated.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SigningRotateRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    pub version: u32,
}

/// Enables or disables (an answer, and the body of disable/enable).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EnabledView {
    pub id: String,
    pub enabled: bool,
}

// --- test and samples

/// A dry run: nothing is sent or stored.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// An unsaved edit of the transformation to try instead of the saved one.
    #[serde(default)]
    pub code: Option<String>,
    /// A built-in sample of this type (when no payload or event is given).
    #[serde(default)]
    pub event_type: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
    /// A recorded event: its id (`evt_…`) or the sender's webhook-id.
    #[serde(default)]
    pub event_id: Option<String>,
}

/// What a transform would do, as `hookwasm plugin test` prints it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TestResult {
    /// deliver, skip or error.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub stats: StatsView,
    /// What the handler printed (`console.log`).
    #[serde(default)]
    pub console: String,
    /// The event it ran on.
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct StatsView {
    pub fuel: u64,
    pub micros: u64,
    pub peak_memory_bytes: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SampleView {
    pub event_type: String,
    #[schema(value_type = Object)]
    pub payload: Value,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendSampleRequest {
    pub event_type: String,
}

/// What ingest answered.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct IngestedView {
    pub id: String,
    pub deliveries: usize,
    pub duplicate: bool,
}

// --- events and deliveries

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    pub id: String,
    pub source: String,
    pub webhook_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub received_at: String,
    /// Where it went, in a listing asked with `deliveries=true` (the
    /// dashboard's Events page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliveries: Option<Vec<DeliveryStateView>>,
}

/// A delivery's state, as an event listing shows it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryStateView {
    pub id: String,
    pub endpoint: String,
    /// pending, delivered, skipped, dead, cancelled.
    pub status: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EventDetail {
    #[serde(flatten)]
    pub event: EventView,
    pub headers: BTreeMap<String, String>,
    #[schema(value_type = Object)]
    pub payload: Value,
    pub deliveries: Vec<DeliveryDetail>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub event_id: String,
    pub endpoint: String,
    /// pending, delivered, skipped, dead, cancelled.
    pub status: String,
    pub attempt_count: u32,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transformed_by: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: DeliveryView,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    pub attempts: Vec<AttemptView>,
    /// The stored request (auth shown as `<set by host>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestView>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AttemptView {
    pub n: u32,
    pub at: String,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// The response's first headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub response_headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RequestView {
    pub method: String,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    /// JSON stays JSON; anything else is text.
    #[schema(value_type = Object)]
    pub body: Value,
}

// --- operations

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowRequest {
    /// RFC 3339, or unix seconds.
    pub since: String,
    #[serde(default)]
    pub until: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub id: String,
    /// recover, replay-missing.
    pub kind: String,
    pub endpoint: String,
    pub since: String,
    pub until: String,
    /// running, done, failed.
    pub state: String,
    /// Records looked at, and records re-queued or created.
    pub examined: u64,
    pub changed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditView {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub object: String,
    pub changes: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ReadyView {
    pub status: String,
    pub plugins: usize,
    /// Plugins still being compiled (a first start): their endpoints
    /// deliver once they are ready.
    pub compiling: Vec<String>,
}

// --- dashboard sessions

/// Signing in to the dashboard: the admin token, once. The answer sets the
/// session cookie; the token itself is not kept by the browser.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub token: String,
}

impl std::fmt::Debug for SignInRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInRequest").finish_non_exhaustive()
    }
}

/// A dashboard session: send `csrf_token` as `X-CSRF-Token` with every
/// change made with its cookie.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    pub csrf_token: String,
    /// Seconds until it expires.
    pub expires_in_secs: u64,
}

/// A seed JavaScript handler for a destination: where the dashboard's
/// editor starts.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ExampleView {
    /// e.g. `loops.payment_confirmation`.
    pub name: String,
    /// The plugin it stands in for, e.g. `loops`.
    pub destination: String,
    pub code: String,
}

/// A dry run of an endpoint that does not exist yet (the dashboard's
/// **Test** before **Create endpoint**): the endpoint as it would be
/// created, and what to run it on, as for a saved endpoint's test.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftTestRequest {
    pub endpoint: crate::catalog::spec::EndpointSpec,
    #[serde(default)]
    pub event_type: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
    #[serde(default)]
    pub event_id: Option<String>,
}
