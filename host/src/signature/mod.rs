//! Inbound signature verification, one file per sender kind. Each kind checks
//! what its senders sign and says which id deduplicates a delivery and which
//! event type it carries:
//!
//! | kind | signature | timestamp | dedupe id | event type |
//! |---|---|---|---|---|
//! | `standard-webhooks` (Dodo, Svix) | `webhook-signature` / `svix-signature` | signed | `webhook-id` | payload `type` |
//! | `stripe` | `Stripe-Signature` `t=…,v1=…` | signed | payload `id` | payload `type` |
//! | `github` | `X-Hub-Signature-256` | none | `X-GitHub-Delivery` | `X-GitHub-Event`[`.action`] |
//! | `shopify` | `X-Shopify-Hmac-Sha256` | none | `X-Shopify-Webhook-Id` | `X-Shopify-Topic` |
//! | `slack` | `X-Slack-Signature` `v0=…` | signed | payload `event_id` | `event.type` / `type` |
//! | `hmac` | configured ([`HmacScheme`]) | optional | optional header | header or JSON pointer |
//!
//! Where a kind has no id (or the delivery lacks it), the id is a digest of
//! the signed content, so the sender's identical retries still deduplicate.
//! Comparisons are constant-time; error messages name the header and never
//! echo a secret or a header's value.
//!
//! The module is self-contained (no `crate::` paths): `fuzz/` and tests build
//! it on its own.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::hmac::digest::KeyInit;
use ::hmac::{Hmac, Mac};
use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use http::HeaderMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

mod github;
mod hmac;
mod shopify;
mod slack;
mod standard;
mod stripe;

pub use self::hmac::{Algorithm, Encoding, EventTypeSource, HmacScheme};

/// Base64 that accepts input with or without `=` padding, as secrets and
/// signatures appear both ways in the wild.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The most signatures one header may list; a rotation needs two or three.
const MAX_SIGNATURES: usize = 16;

/// The longest header value read (signature, id, timestamp, event type).
/// Real ones are under 300 bytes; 16 Standard Webhooks signatures are ~770.
pub const MAX_HEADER_LEN: usize = 4096;

/// The longest dedupe id accepted, in bytes.
pub const MAX_ID_LEN: usize = 256;

/// Which sender scheme a source verifies. In TOML: `kind = "stripe"`, or for
/// the generic scheme a table under `kind.hmac` (see [`HmacScheme`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// Standard Webhooks (Dodo Payments); also Svix-signed senders, whose
    /// `svix-*` headers are the same scheme.
    #[default]
    #[serde(alias = "svix")]
    StandardWebhooks,
    Stripe,
    Github,
    Shopify,
    Slack,
    Hmac(HmacScheme),
}

impl SourceKind {
    /// The kind's name as written in config.
    pub fn name(&self) -> &'static str {
        match self {
            SourceKind::StandardWebhooks => "standard-webhooks",
            SourceKind::Stripe => "stripe",
            SourceKind::Github => "github",
            SourceKind::Shopify => "shopify",
            SourceKind::Slack => "slack",
            SourceKind::Hmac(_) => "hmac",
        }
    }

    /// Whether requests carry a signed timestamp, so that the source's
    /// tolerance applies (GitHub and Shopify sign only the body).
    pub fn has_timestamp(&self) -> bool {
        match self {
            SourceKind::StandardWebhooks | SourceKind::Stripe | SourceKind::Slack => true,
            SourceKind::Github | SourceKind::Shopify => false,
            SourceKind::Hmac(scheme) => scheme.timestamp_header.is_some(),
        }
    }

    /// Whether `event_type` is in the kind's catalogue: `Some(true/false)`
    /// where the kind has one (standard-webhooks: Dodo Payments' event
    /// types), `None` where it does not. For `config check` warnings only:
    /// another Standard Webhooks sender (Svix) has types of its own.
    pub fn known_event_type(&self, event_type: &str) -> Option<bool> {
        match self {
            SourceKind::StandardWebhooks => Some(DODO_EVENT_TYPES.contains(&event_type)),
            _ => None,
        }
    }

    /// Whether an endpoint's event pattern can match anything the kind's
    /// catalogue has (`payment.*` matches a type; `paymnt.succeeded` does
    /// not), with the closest known type as a suggestion when it cannot.
    /// `None` where the kind has no catalogue, and for `*`.
    pub fn unknown_pattern(&self, pattern: &str) -> Option<Option<&'static str>> {
        let SourceKind::StandardWebhooks = self else {
            return None;
        };
        if pattern == "*" {
            return None;
        }
        let known = match pattern.strip_suffix('*') {
            Some(prefix) => DODO_EVENT_TYPES.iter().any(|t| t.starts_with(prefix)),
            None => DODO_EVENT_TYPES.contains(&pattern),
        };
        if known {
            return None;
        }
        let closest = DODO_EVENT_TYPES
            .iter()
            .map(|t| (strsim::levenshtein(t, pattern), *t))
            .filter(|(d, _)| *d <= 3)
            .min();
        Some(closest.map(|(_, t)| t))
    }

    /// The dedupe id and event type of a request, without checking its
    /// signature: for sources with `verify = false`. A missing id falls back
    /// to a digest of the body; a present but invalid one is an error.
    pub fn extract(&self, headers: &HeaderMap, body: &[u8]) -> Result<Verified, VerifyError> {
        match self {
            SourceKind::StandardWebhooks => standard::extract(headers, body),
            SourceKind::Stripe => stripe::extract(headers, body),
            SourceKind::Github => github::extract(headers, body),
            SourceKind::Shopify => shopify::extract(headers, body),
            SourceKind::Slack => slack::extract(headers, body),
            SourceKind::Hmac(scheme) => scheme.extract(headers, body),
        }
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Dodo Payments' webhook event types: the `WebhookEventType` union of its
/// OpenAPI-generated TypeScript SDK (dodopayments-typescript,
/// `src/resources/webhook-events.ts`), plus `payout.not_initiated` (the name
/// `payout.created` had before) and `subscription.unpaused`
/// (shared/spec/destinations.md).
const DODO_EVENT_TYPES: &[&str] = &[
    "payment.succeeded",
    "payment.failed",
    "payment.processing",
    "payment.cancelled",
    "refund.succeeded",
    "refund.failed",
    "dispute.opened",
    "dispute.expired",
    "dispute.accepted",
    "dispute.cancelled",
    "dispute.challenged",
    "dispute.won",
    "dispute.lost",
    "subscription.active",
    "subscription.renewed",
    "subscription.on_hold",
    "subscription.paused",
    "subscription.unpaused",
    "subscription.cancelled",
    "subscription.failed",
    "subscription.expired",
    "subscription.plan_changed",
    "subscription.updated",
    "subscription.update_payment_method",
    "license_key.created",
    "payout.created",
    "payout.not_initiated",
    "payout.on_hold",
    "payout.in_progress",
    "payout.failed",
    "payout.success",
    "credit.added",
    "credit.deducted",
    "credit.expired",
    "credit.rolled_over",
    "credit.rollover_forfeited",
    "credit.overage_charged",
    "credit.overage_reset",
    "credit.manual_adjustment",
    "credit.balance_low",
    "abandoned_checkout.detected",
    "abandoned_checkout.recovered",
    "dunning.started",
    "dunning.recovered",
    "entitlement_grant.created",
    "entitlement_grant.delivered",
    "entitlement_grant.failed",
    "entitlement_grant.revoked",
];

/// A signing secret, as the kind uses it. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Why a configured secret is unusable. One line, never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the secret is empty")]
    Empty,
    #[error("the secret is not base64 after its `whsec_` prefix")]
    NotBase64,
    #[error("the secret is not base64 after its `base64:` prefix")]
    NotBase64Escape,
    #[error(
        "the secret starts or ends with whitespace (a stray newline?); write it as `base64:…` if that is intended"
    )]
    Whitespace,
    #[error(
        "this is a Stripe API key, not a webhook signing secret (`whsec_…`, shown on the endpoint's page or by `stripe listen`)"
    )]
    StripeApiKey,
}

impl Secret {
    /// Parses a secret as `kind` uses it:
    /// - standard-webhooks: `whsec_<base64>` (prefix and padding optional),
    ///   decoded;
    /// - stripe: the `whsec_…` string as-is (its UTF-8 bytes are the key,
    ///   as Stripe's libraries use it), surrounding whitespace trimmed;
    /// - shopify, slack: the text's bytes, surrounding whitespace trimmed
    ///   (their secrets are generated tokens without spaces);
    /// - github, hmac: the text's bytes exactly (a secret someone typed may
    ///   hold spaces, so edge whitespace is an error rather than trimmed).
    ///
    /// Shopify, Slack, GitHub and hmac secrets may be written
    /// `base64:<base64>` to give arbitrary bytes.
    pub fn parse(kind: &SourceKind, text: &str) -> Result<Secret, SecretError> {
        match kind {
            SourceKind::StandardWebhooks => standard::parse_secret(text),
            SourceKind::Stripe => {
                let text = text.trim();
                if ["sk_", "rk_", "pk_"].iter().any(|p| text.starts_with(p)) {
                    return Err(SecretError::StripeApiKey);
                }
                Secret::from_bytes(text.as_bytes())
            }
            SourceKind::Shopify | SourceKind::Slack => raw_secret(text.trim()),
            SourceKind::Github | SourceKind::Hmac(_) => {
                if text.trim() != text {
                    return Err(SecretError::Whitespace);
                }
                raw_secret(text)
            }
        }
    }

    /// A secret from its key bytes.
    pub fn from_bytes(key: impl Into<Vec<u8>>) -> Result<Secret, SecretError> {
        let key = key.into();
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Secret(key))
    }

    fn key(&self) -> &[u8] {
        &self.0
    }

    /// The `webhook-signature` header value (Standard Webhooks) for this
    /// message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        standard::sign(self, id, timestamp, body)
    }

    /// The `Stripe-Signature` header value: `t=<timestamp>,v1=<hex>`.
    pub fn sign_stripe(&self, timestamp: i64, body: &[u8]) -> String {
        stripe::sign(self, timestamp, body)
    }

    /// The `X-Hub-Signature-256` header value: `sha256=<hex>`.
    pub fn sign_github(&self, body: &[u8]) -> String {
        github::sign(self, body)
    }

    /// The `X-Shopify-Hmac-Sha256` header value: base64.
    pub fn sign_shopify(&self, body: &[u8]) -> String {
        shopify::sign(self, body)
    }

    /// The `X-Slack-Signature` header value: `v0=<hex>`.
    pub fn sign_slack(&self, timestamp: i64, body: &[u8]) -> String {
        slack::sign(self, timestamp, body)
    }

    /// The value of `scheme.header` for this message (with its prefix).
    pub fn sign_hmac(
        &self,
        scheme: &HmacScheme,
        id: Option<&str>,
        timestamp: Option<i64>,
        body: &[u8],
    ) -> String {
        scheme.sign(self, id, timestamp, body)
    }

    /// Every header a `kind` sender would set to sign `body`: the signature,
    /// and the id and timestamp headers where the kind has them
    /// (`webhook-id`, `X-GitHub-Delivery`, `X-Slack-Request-Timestamp`, …).
    /// Event-type headers (`X-GitHub-Event`, `X-Shopify-Topic`, an hmac
    /// scheme's) are the caller's to add. For `hookwasm send` and tests.
    pub fn signed_headers(
        &self,
        kind: &SourceKind,
        id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> HeaderMap {
        let pairs: Vec<(String, String)> = match kind {
            SourceKind::StandardWebhooks => vec![
                ("webhook-id".into(), id.into()),
                ("webhook-timestamp".into(), timestamp.to_string()),
                ("webhook-signature".into(), self.sign(id, timestamp, body)),
            ],
            SourceKind::Stripe => vec![(stripe::HEADER.into(), self.sign_stripe(timestamp, body))],
            SourceKind::Github => vec![
                (github::SIGNATURE.into(), self.sign_github(body)),
                (github::DELIVERY.into(), id.into()),
            ],
            SourceKind::Shopify => vec![
                (shopify::X_HEADERS.signature.into(), self.sign_shopify(body)),
                (shopify::X_HEADERS.id.into(), id.into()),
            ],
            SourceKind::Slack => vec![
                (slack::SIGNATURE.into(), self.sign_slack(timestamp, body)),
                (slack::TIMESTAMP.into(), timestamp.to_string()),
            ],
            SourceKind::Hmac(scheme) => {
                let mut pairs = vec![(
                    scheme.header.clone(),
                    self.sign_hmac(scheme, Some(id), Some(timestamp), body),
                )];
                if let Some(h) = &scheme.timestamp_header {
                    pairs.push((h.clone(), timestamp.to_string()));
                }
                if let Some(h) = &scheme.id_header {
                    pairs.push((h.clone(), id.into()));
                }
                pairs
            }
        };
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(&value),
            ) {
                headers.insert(name, value);
            }
        }
        headers
    }
}

/// Raw bytes, or `base64:<base64>`.
fn raw_secret(text: &str) -> Result<Secret, SecretError> {
    match text.strip_prefix("base64:") {
        Some(encoded) => {
            let key = LENIENT
                .decode(encoded.trim())
                .map_err(|_| SecretError::NotBase64Escape)?;
            Secret::from_bytes(key)
        }
        None => Secret::from_bytes(text.as_bytes()),
    }
}

/// What a verified (or, with [`SourceKind::extract`], inspected) request
/// says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The id that deduplicates the sender's retries (1–256 bytes).
    pub webhook_id: String,
    /// The event type; `None`: take the payload's top-level `type`.
    pub event_type: Option<String>,
    /// The signed timestamp (unix seconds), where the kind has one.
    pub timestamp: Option<i64>,
    /// Slack's `url_verification` handshake: answer `200` with this value
    /// (as the body, or `{"challenge": …}`) instead of ingesting.
    pub challenge: Option<String>,
}

/// A header name in an error: fixed for the built-in kinds, configured for
/// `hmac`.
pub type HeaderLabel = Cow<'static, str>;

/// Why a request was not accepted. Messages are one line, name the header,
/// and are safe to show the sender: never a secret, never a header's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing {0} header")]
    MissingHeader(HeaderLabel),
    #[error("{0} header is longer than {MAX_HEADER_LEN} bytes")]
    HeaderTooLong(HeaderLabel),
    #[error("{0} header is malformed: {1}")]
    Malformed(HeaderLabel, &'static str),
    #[error("{0} is not an integer number of seconds")]
    BadTimestamp(HeaderLabel),
    #[error("{header} is {age_secs} s old, outside the {tolerance_secs} s tolerance")]
    TooOld {
        header: HeaderLabel,
        age_secs: u64,
        tolerance_secs: u64,
    },
    #[error("{header} is {ahead_secs} s in the future, outside the {tolerance_secs} s tolerance")]
    TooNew {
        header: HeaderLabel,
        ahead_secs: u64,
        tolerance_secs: u64,
    },
    #[error("no valid signature: none of the {0} entries matches a configured secret")]
    NoMatch(HeaderLabel),
    /// A signed request without the header naming its id or event type.
    #[error("missing {0} header")]
    MissingMetadata(HeaderLabel),
    #[error("{0} must be 1–256 characters")]
    BadId(HeaderLabel),
    /// The configured JSON pointer (hmac) names no string in the payload.
    #[error("the payload has no string at {0}")]
    MissingField(String),
}

impl VerifyError {
    /// The answer for the sender: 401 when the signature could not be
    /// checked or did not match, 400 when a genuine request lacks its id or
    /// event type (or its id is out of bounds).
    pub fn status(&self) -> http::StatusCode {
        match self {
            VerifyError::MissingMetadata(_)
            | VerifyError::BadId(_)
            | VerifyError::MissingField(_) => http::StatusCode::BAD_REQUEST,
            _ => http::StatusCode::UNAUTHORIZED,
        }
    }

    /// A short machine-readable code for the error body.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::BadId(_) => "bad_id",
            VerifyError::MissingMetadata(_) | VerifyError::MissingField(_) => "bad_event",
            _ => "bad_signature",
        }
    }
}

/// Checks signatures for one source, against any of its secrets (several
/// during a rotation).
#[derive(Clone, Debug)]
pub struct Verifier {
    kind: SourceKind,
    secrets: Vec<Secret>,
    tolerance: Duration,
}

impl Verifier {
    /// `tolerance` bounds how far a signed timestamp may be from now, either
    /// way; kinds without timestamps ignore it.
    pub fn new(kind: SourceKind, secrets: Vec<Secret>, tolerance: Duration) -> Self {
        Verifier {
            kind,
            secrets,
            tolerance,
        }
    }

    pub fn kind(&self) -> &SourceKind {
        &self.kind
    }

    pub fn secrets(&self) -> &[Secret] {
        &self.secrets
    }

    pub fn tolerance(&self) -> Duration {
        self.tolerance
    }

    /// Accepts the request if its timestamp (where the kind has one) is
    /// within the tolerance of `now` and its signature matches any secret;
    /// then reads its dedupe id and event type.
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verified, VerifyError> {
        match &self.kind {
            SourceKind::StandardWebhooks => standard::verify(self, headers, body, now),
            SourceKind::Stripe => stripe::verify(self, headers, body, now),
            SourceKind::Github => github::verify(self, headers, body),
            SourceKind::Shopify => shopify::verify(self, headers, body),
            SourceKind::Slack => slack::verify(self, headers, body, now),
            SourceKind::Hmac(scheme) => scheme.verify(self, headers, body, now),
        }
    }

    /// Whether any secret's MAC over `parts` equals any candidate, in
    /// constant time for each comparison.
    fn any_secret_matches(
        &self,
        algorithm: Algorithm,
        parts: &[&[u8]],
        candidates: &[Vec<u8>],
    ) -> bool {
        self.secrets.iter().any(|secret| {
            let expected = mac(algorithm, secret.key(), parts);
            let mut matched = subtle::Choice::from(0);
            for candidate in candidates {
                matched |= expected.as_slice().ct_eq(candidate.as_slice());
            }
            bool::from(matched)
        })
    }
}

// ---- helpers shared by the kinds ----

/// The HMAC of the concatenated `parts`.
fn mac(algorithm: Algorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        // HMAC accepts keys of any length.
        let mut mac = <M as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key size"));
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }
    match algorithm {
        Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
        Algorithm::Sha256 => run::<Hmac<Sha256>>(key, parts),
        Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts),
    }
}

/// A header's value: `None` when absent; an error when it is too long or
/// not visible ASCII. Lookup is case-insensitive.
fn header<'h>(headers: &'h HeaderMap, name: &HeaderLabel) -> Result<Option<&'h str>, VerifyError> {
    let Some(value) = headers.get(name.as_ref()) else {
        return Ok(None);
    };
    if value.len() > MAX_HEADER_LEN {
        return Err(VerifyError::HeaderTooLong(name.clone()));
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| VerifyError::Malformed(name.clone(), "not visible ASCII"))
}

/// A header needed to check the signature.
fn require<'h>(headers: &'h HeaderMap, name: &HeaderLabel) -> Result<&'h str, VerifyError> {
    header(headers, name)?.ok_or_else(|| VerifyError::MissingHeader(name.clone()))
}

/// A header a genuine request must carry (its id or event type).
fn require_metadata<'h>(
    headers: &'h HeaderMap,
    name: &HeaderLabel,
) -> Result<&'h str, VerifyError> {
    header(headers, name)?.ok_or_else(|| VerifyError::MissingMetadata(name.clone()))
}

/// Parses a unix-seconds timestamp and checks it is within `tolerance` of
/// `now`, either way.
fn check_timestamp(
    name: &HeaderLabel,
    text: &str,
    now: SystemTime,
    tolerance: Duration,
) -> Result<i64, VerifyError> {
    let sent: i64 = text
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp(name.clone()))?;
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let tolerance_secs = tolerance.as_secs();
    let limit = i64::try_from(tolerance_secs).unwrap_or(i64::MAX);
    // now >= 0, so the difference is > i64::MIN and can be negated.
    let delta = now.saturating_sub(sent);
    if delta > limit {
        return Err(VerifyError::TooOld {
            header: name.clone(),
            age_secs: delta.unsigned_abs(),
            tolerance_secs,
        });
    }
    if -delta > limit {
        return Err(VerifyError::TooNew {
            header: name.clone(),
            ahead_secs: delta.unsigned_abs(),
            tolerance_secs,
        });
    }
    Ok(sent)
}

/// A dedupe id read from a header: 1–256 bytes.
fn checked_id(name: &HeaderLabel, value: &str) -> Result<String, VerifyError> {
    if value.is_empty() || value.len() > MAX_ID_LEN {
        return Err(VerifyError::BadId(name.clone()));
    }
    Ok(value.to_string())
}

/// The fallback dedupe id: a digest of the signed content, the same for a
/// sender's identical retries and different for anything else.
fn content_id(parts: &[&[u8]]) -> String {
    let mut digest = Sha256::new();
    for part in parts {
        digest.update(part);
    }
    format!("sha256:{}", to_hex(&digest.finalize()[..16]))
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// Hex in either case; `None` unless every character is a digit and the
/// length is even.
fn from_hex(text: &str) -> Option<Vec<u8>> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// Whether the body is (probably) JSON rather than a form: its first
/// non-blank byte opens an object.
fn looks_like_json(body: &[u8]) -> bool {
    body.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{')
}

/// The first value of `key` in an `application/x-www-form-urlencoded` body,
/// decoded (`+` is a space, `%XX` a byte).
fn form_field(body: &[u8], key: &str) -> Option<Vec<u8>> {
    body.split(|b| *b == b'&').find_map(|pair| {
        let (k, v) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[..0]),
        };
        (percent_decode(k) == key.as_bytes()).then(|| percent_decode(v))
    })
}

fn percent_decode(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'+' => out.push(b' '),
            b'%' => match text
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(from_hex)
            {
                Some(byte) => {
                    out.push(byte[0]);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The JSON document a sender posted: the body itself, or (GitHub and Slack
/// forms) the form's `payload` field.
fn json_document(body: &[u8]) -> Option<Cow<'_, [u8]>> {
    if looks_like_json(body) {
        Some(Cow::Borrowed(body))
    } else {
        form_field(body, "payload").map(Cow::Owned)
    }
}

#[cfg(test)]
mod tests;
