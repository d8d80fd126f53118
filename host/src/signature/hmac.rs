//! A generic HMAC scheme, for senders without a kind of their own:
//!
//! ```toml
//! [sources.acme.kind.hmac]
//! header = "X-Acme-Signature"        # required
//! algorithm = "sha256"               # sha1 | sha256 (default) | sha512
//! encoding = "hex"                   # hex (default, either case) | base64
//! prefix = "sha256="                 # optional, stripped before decoding
//! timestamp_header = "X-Acme-Time"   # optional: unix seconds, within the tolerance
//! signed = "{timestamp}.{body}"      # default "{body}"; also {id}
//! id_header = "X-Acme-Delivery"      # optional dedupe id
//! event_type = { pointer = "/event/type" }   # or { header = "X-Acme-Event" }
//! ```
//!
//! The secret is the text's bytes, or `base64:<base64>`. Without an
//! `id_header` the dedupe id is a digest of the signed content; without an
//! `event_type` the payload's `type` is used.

use std::borrow::Cow;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use serde::{Deserialize, Serialize};

use super::{
    HeaderLabel, LENIENT, Secret, Verified, Verifier, VerifyError, check_timestamp, checked_id,
    content_id, from_hex, header, mac, require, require_metadata, to_hex,
};

/// The hash under the HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Sha1,
    #[default]
    Sha256,
    Sha512,
}

impl Algorithm {
    fn len(self) -> usize {
        match self {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }
}

/// How the MAC is written in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    #[default]
    Hex,
    Base64,
}

/// Where the event type is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum EventTypeSource {
    /// A request header.
    Header(String),
    /// A JSON pointer (RFC 6901) to a string in the payload, e.g.
    /// `/event/type`.
    Pointer(String),
}

/// A generic HMAC scheme. Deserializing checks it (unknown fields, header
/// names, the template); [`HmacScheme::check`] does the same for one built
/// in code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Unchecked")]
pub struct HmacScheme {
    /// The header carrying the signature.
    pub header: String,
    pub algorithm: Algorithm,
    pub encoding: Encoding,
    /// Text before the encoded MAC (`sha256=`, `v1=`), required when set.
    pub prefix: Option<String>,
    /// A header with the send time in unix seconds, checked against the
    /// source's tolerance.
    pub timestamp_header: Option<String>,
    /// What is signed: `{body}` (exactly once), optionally with
    /// `{timestamp}` and `{id}` and literal text, e.g. `"{timestamp}.{body}"`.
    pub signed: String,
    /// A header with the delivery's id, for dedupe.
    pub id_header: Option<String>,
    pub event_type: Option<EventTypeSource>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Unchecked {
    header: String,
    #[serde(default)]
    algorithm: Algorithm,
    #[serde(default)]
    encoding: Encoding,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    timestamp_header: Option<String>,
    #[serde(default = "default_signed")]
    signed: String,
    #[serde(default)]
    id_header: Option<String>,
    #[serde(default)]
    event_type: Option<EventTypeSource>,
}

fn default_signed() -> String {
    "{body}".to_string()
}

impl TryFrom<Unchecked> for HmacScheme {
    type Error = String;

    fn try_from(u: Unchecked) -> Result<Self, String> {
        let scheme = HmacScheme {
            header: u.header,
            algorithm: u.algorithm,
            encoding: u.encoding,
            prefix: u.prefix,
            timestamp_header: u.timestamp_header,
            signed: u.signed,
            id_header: u.id_header,
            event_type: u.event_type,
        };
        scheme.check()?;
        Ok(scheme)
    }
}

/// One piece of the signed-content template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part<'a> {
    Text(&'a str),
    Body,
    Timestamp,
    Id,
}

fn parse_template(template: &str) -> Result<Vec<Part<'_>>, String> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Text(&rest[..open]));
        }
        let close = rest[open..]
            .find('}')
            .ok_or("`signed` has a `{` without its `}`")?
            + open;
        parts.push(match &rest[open + 1..close] {
            "body" => Part::Body,
            "timestamp" => Part::Timestamp,
            "id" => Part::Id,
            _ => {
                return Err(
                    "`signed` may only use {body}, {timestamp} and {id} placeholders".to_string(),
                );
            }
        });
        rest = &rest[close + 1..];
    }
    if rest.contains('}') {
        return Err("`signed` has a `}` without its `{`".to_string());
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest));
    }
    Ok(parts)
}

fn check_header_name(field: &str, name: &str) -> Result<(), String> {
    http::HeaderName::from_bytes(name.as_bytes())
        .map(|_| ())
        .map_err(|_| format!("`{field}` is not a valid header name"))
}

impl HmacScheme {
    /// A scheme with the defaults: hex SHA-256 of the body in `header`.
    pub fn new(header: impl Into<String>) -> Self {
        HmacScheme {
            header: header.into(),
            algorithm: Algorithm::default(),
            encoding: Encoding::default(),
            prefix: None,
            timestamp_header: None,
            signed: default_signed(),
            id_header: None,
            event_type: None,
        }
    }

    /// Whether the scheme can work: one-line reasons for config errors.
    pub fn check(&self) -> Result<(), String> {
        check_header_name("header", &self.header)?;
        if let Some(h) = &self.timestamp_header {
            check_header_name("timestamp_header", h)?;
        }
        if let Some(h) = &self.id_header {
            check_header_name("id_header", h)?;
        }
        if self.prefix.as_deref() == Some("") {
            return Err("`prefix` is empty (leave it out instead)".to_string());
        }
        let parts = parse_template(&self.signed)?;
        if parts.iter().filter(|p| **p == Part::Body).count() != 1 {
            return Err("`signed` must contain {body} exactly once".to_string());
        }
        if parts.contains(&Part::Timestamp) && self.timestamp_header.is_none() {
            return Err("`signed` uses {timestamp} but `timestamp_header` is not set".to_string());
        }
        if parts.contains(&Part::Id) && self.id_header.is_none() {
            return Err("`signed` uses {id} but `id_header` is not set".to_string());
        }
        match &self.event_type {
            Some(EventTypeSource::Header(h)) => check_header_name("event_type.header", h)?,
            Some(EventTypeSource::Pointer(p)) if !p.starts_with('/') => {
                return Err(
                    "`event_type.pointer` must be a JSON pointer starting with `/` (e.g. \"/type\")"
                        .to_string(),
                );
            }
            _ => {}
        }
        Ok(())
    }

    fn label(name: &str) -> HeaderLabel {
        Cow::Owned(name.to_string())
    }

    /// The signed content's parts, or `None` if the template is broken
    /// (only possible for a scheme built in code and not checked).
    fn message<'a>(
        &'a self,
        id: Option<&'a str>,
        timestamp: Option<&'a str>,
        body: &'a [u8],
    ) -> Option<Vec<&'a [u8]>> {
        parse_template(&self.signed)
            .ok()?
            .into_iter()
            .map(|part| match part {
                Part::Text(t) => Some(t.as_bytes()),
                Part::Body => Some(body),
                Part::Timestamp => timestamp.map(str::as_bytes),
                Part::Id => id.map(str::as_bytes),
            })
            .collect()
    }

    fn uses(&self, wanted: Part<'static>) -> bool {
        parse_template(&self.signed).is_ok_and(|parts| parts.contains(&wanted))
    }

    pub(super) fn sign(
        &self,
        secret: &Secret,
        id: Option<&str>,
        timestamp: Option<i64>,
        body: &[u8],
    ) -> String {
        let ts = timestamp.map(|t| t.to_string());
        let parts = self
            .message(id, ts.as_deref(), body)
            .unwrap_or_else(|| vec![body]);
        let mac = mac(self.algorithm, secret.key(), &parts);
        let encoded = match self.encoding {
            Encoding::Hex => to_hex(&mac),
            Encoding::Base64 => STANDARD.encode(mac),
        };
        format!("{}{encoded}", self.prefix.as_deref().unwrap_or(""))
    }

    pub(super) fn verify(
        &self,
        verifier: &Verifier,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verified, VerifyError> {
        let sig_name = Self::label(&self.header);
        let value = require(headers, &sig_name)?;
        let encoded = match &self.prefix {
            Some(prefix) => {
                value
                    .trim()
                    .strip_prefix(prefix.as_str())
                    .ok_or(VerifyError::Malformed(
                        sig_name.clone(),
                        "it does not start with the configured prefix",
                    ))?
            }
            None => value.trim(),
        };
        let candidate = match self.encoding {
            Encoding::Hex => from_hex(encoded),
            Encoding::Base64 => LENIENT.decode(encoded).ok(),
        };
        let candidates: Vec<Vec<u8>> = candidate
            .filter(|c| c.len() == self.algorithm.len())
            .into_iter()
            .collect();

        let (timestamp_text, timestamp) = match &self.timestamp_header {
            Some(h) => {
                let name = Self::label(h);
                let text = require(headers, &name)?;
                let sent = check_timestamp(&name, text, now, verifier.tolerance)?;
                (Some(text.trim()), Some(sent))
            }
            None => (None, None),
        };
        // The id is a signature input only when the template uses it.
        let id_name = self.id_header.as_deref().map(Self::label);
        let id = match &id_name {
            Some(name) if self.uses(Part::Id) => Some(require(headers, name)?),
            _ => None,
        };
        let parts = self
            .message(id, timestamp_text, body)
            .ok_or(VerifyError::NoMatch(sig_name.clone()))?;
        if !verifier.any_secret_matches(self.algorithm, &parts, &candidates) {
            return Err(VerifyError::NoMatch(sig_name));
        }

        let webhook_id = match &id_name {
            Some(name) => checked_id(name, require_metadata(headers, name)?)?,
            None => content_id(&parts),
        };
        Ok(Verified {
            webhook_id,
            event_type: self.event_type(headers, body)?,
            timestamp,
            challenge: None,
        })
    }

    pub(super) fn extract(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Verified, VerifyError> {
        let timestamp = match &self.timestamp_header {
            Some(h) => header(headers, &Self::label(h))?.and_then(|t| t.trim().parse().ok()),
            None => None,
        };
        let webhook_id = match &self.id_header {
            Some(h) => {
                let name = Self::label(h);
                match header(headers, &name)? {
                    Some(id) => checked_id(&name, id)?,
                    None => content_id(&[body]),
                }
            }
            None => content_id(&[body]),
        };
        Ok(Verified {
            webhook_id,
            event_type: self.event_type(headers, body)?,
            timestamp,
            challenge: None,
        })
    }

    fn event_type(&self, headers: &HeaderMap, body: &[u8]) -> Result<Option<String>, VerifyError> {
        match &self.event_type {
            None => Ok(None),
            Some(EventTypeSource::Header(h)) => {
                let name = Self::label(h);
                let value = require_metadata(headers, &name)?.trim();
                if value.is_empty() {
                    return Err(VerifyError::MissingMetadata(name));
                }
                Ok(Some(value.to_string()))
            }
            Some(EventTypeSource::Pointer(p)) => serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .as_ref()
                .and_then(|doc| doc.pointer(p))
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(|s| Some(s.to_string()))
                .ok_or_else(|| VerifyError::MissingField(p.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{SecretError, SourceKind, Verifier, VerifyError};
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn scheme(json: &str) -> Result<HmacScheme, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    fn verifier(scheme: &HmacScheme, secrets: &[&str]) -> Verifier {
        let kind = SourceKind::Hmac(scheme.clone());
        Verifier::new(
            kind.clone(),
            secrets
                .iter()
                .map(|s| Secret::parse(&kind, s).unwrap())
                .collect(),
            Duration::from_secs(300),
        )
    }

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn github_as_a_generic_scheme_matches_githubs_vector() {
        let s = scheme(r#"{"header": "X-Hub-Signature-256", "prefix": "sha256="}"#).unwrap();
        let h = map(&[(
            "X-Hub-Signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )]);
        let v = verifier(&s, &["It's a Secret to Everybody"])
            .verify(&h, b"Hello, World!", UNIX_EPOCH)
            .unwrap();
        assert!(v.webhook_id.starts_with("sha256:"));
        assert_eq!(v.event_type, None);
        assert_eq!(v.timestamp, None);
    }

    #[test]
    fn slack_as_a_generic_scheme_matches_slacks_vector() {
        let s = scheme(
            r#"{"header": "X-Slack-Signature", "prefix": "v0=",
                "timestamp_header": "X-Slack-Request-Timestamp", "signed": "v0:{timestamp}:{body}"}"#,
        )
        .unwrap();
        let body = super::super::slack::tests::BODY;
        let h = map(&[
            (
                "X-Slack-Signature",
                "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            ),
            ("X-Slack-Request-Timestamp", "1531420618"),
        ]);
        let now = UNIX_EPOCH + Duration::from_secs(1531420618);
        let v = verifier(&s, &["8f742231b10e8888abcd99yyyzzz85a5"])
            .verify(&h, body, now)
            .unwrap();
        assert_eq!(v.timestamp, Some(1531420618));
        assert!(matches!(
            verifier(&s, &["8f742231b10e8888abcd99yyyzzz85a5"]).verify(
                &h,
                body,
                now + Duration::from_secs(301)
            ),
            Err(VerifyError::TooOld { .. })
        ));
    }

    #[test]
    fn every_algorithm_encoding_and_placeholder_round_trips() {
        for algorithm in ["sha1", "sha256", "sha512"] {
            for encoding in ["hex", "base64"] {
                let s = scheme(&format!(
                    r#"{{"header": "X-Sig", "algorithm": "{algorithm}", "encoding": "{encoding}",
                        "timestamp_header": "X-Time", "id_header": "X-Id",
                        "signed": "{{id}}.{{timestamp}}.{{body}}",
                        "event_type": {{"header": "X-Event"}}}}"#
                ))
                .unwrap();
                let kind = SourceKind::Hmac(s.clone());
                let secret = Secret::parse(&kind, "base64:c2VjcmV0").unwrap();
                let mut h = secret.signed_headers(&kind, "evt-1", 1_700_000_000, b"{}");
                h.insert("x-event", "thing.happened".parse().unwrap());
                let v = verifier(&s, &["secret"])
                    .verify(&h, b"{}", UNIX_EPOCH + Duration::from_secs(1_700_000_000))
                    .unwrap();
                assert_eq!(v.webhook_id, "evt-1");
                assert_eq!(v.event_type.as_deref(), Some("thing.happened"));
                // The id is signed: another id does not verify.
                h.insert("x-id", "evt-2".parse().unwrap());
                assert!(
                    verifier(&s, &["secret"])
                        .verify(&h, b"{}", UNIX_EPOCH + Duration::from_secs(1_700_000_000))
                        .is_err(),
                    "{algorithm} {encoding}"
                );
            }
        }
        // Known answers for the SHA-1 and SHA-512 paths (RFC 4231 / RFC 2202
        // test case 2: key "Jefe", "what do ya want for nothing?").
        let jefe = Secret::from_bytes(b"Jefe".to_vec()).unwrap();
        let mut s = HmacScheme::new("X-Sig");
        s.algorithm = Algorithm::Sha1;
        assert_eq!(
            jefe.sign_hmac(&s, None, None, b"what do ya want for nothing?"),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        s.algorithm = Algorithm::Sha512;
        assert_eq!(
            jefe.sign_hmac(&s, None, None, b"what do ya want for nothing?"),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
    }

    #[test]
    fn event_type_from_a_json_pointer() {
        let s = scheme(r#"{"header": "X-Sig", "event_type": {"pointer": "/event/type"}}"#).unwrap();
        let kind = SourceKind::Hmac(s.clone());
        let secret = Secret::parse(&kind, "k").unwrap();
        let body = br#"{"event": {"type": "order.paid"}}"#;
        let h = secret.signed_headers(&kind, "ignored", 0, body);
        let v = verifier(&s, &["k"]).verify(&h, body, UNIX_EPOCH).unwrap();
        assert_eq!(v.event_type.as_deref(), Some("order.paid"));
        let other = br#"{"event": {"kind": "order.paid"}}"#;
        let h = secret.signed_headers(&kind, "ignored", 0, other);
        let e = verifier(&s, &["k"])
            .verify(&h, other, UNIX_EPOCH)
            .unwrap_err();
        assert_eq!(e, VerifyError::MissingField("/event/type".into()));
        assert_eq!(e.to_string(), "the payload has no string at /event/type");
        assert_eq!(e.status(), http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn negative_cases() {
        let s = scheme(r#"{"header": "X-Sig", "prefix": "v1=", "timestamp_header": "X-Time", "signed": "{timestamp}.{body}"}"#).unwrap();
        let v = verifier(&s, &["k"]);
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let kind = SourceKind::Hmac(s.clone());
        let good =
            Secret::parse(&kind, "k")
                .unwrap()
                .signed_headers(&kind, "", 1_700_000_000, b"body");
        assert!(v.verify(&good, b"body", now).is_ok());
        assert_eq!(
            v.verify(&good, b"bodY", now).unwrap_err(),
            VerifyError::NoMatch("X-Sig".into())
        );
        let mut no_prefix = good.clone();
        let sig = good["x-sig"].to_str().unwrap()[3..].to_string();
        no_prefix.insert("x-sig", sig.parse().unwrap());
        assert_eq!(
            v.verify(&no_prefix, b"body", now).unwrap_err(),
            VerifyError::Malformed(
                "X-Sig".into(),
                "it does not start with the configured prefix"
            )
        );
        let mut no_time = good.clone();
        no_time.remove("x-time");
        assert_eq!(
            v.verify(&no_time, b"body", now).unwrap_err(),
            VerifyError::MissingHeader("X-Time".into())
        );
        assert!(matches!(
            v.verify(&good, b"body", now + Duration::from_secs(301)),
            Err(VerifyError::TooOld { .. })
        ));
        assert_eq!(
            v.verify(&HeaderMap::new(), b"body", now).unwrap_err(),
            VerifyError::MissingHeader("X-Sig".into())
        );
        assert_eq!(
            verifier(&s, &["other"])
                .verify(&good, b"body", now)
                .unwrap_err(),
            VerifyError::NoMatch("X-Sig".into())
        );
        assert!(
            verifier(&s, &["other", "k"])
                .verify(&good, b"body", now)
                .is_ok()
        );
    }

    #[test]
    fn bad_schemes_are_config_errors() {
        for (json, message) in [
            (
                r#"{"header": "X-Sig", "colour": "red"}"#,
                "unknown field `colour`",
            ),
            (r#"{}"#, "missing field `header`"),
            (
                r#"{"header": "X Sig"}"#,
                "`header` is not a valid header name",
            ),
            (
                r#"{"header": "X-Sig", "algorithm": "md5"}"#,
                "unknown variant `md5`",
            ),
            (
                r#"{"header": "X-Sig", "signed": "{timestamp}"}"#,
                "{body} exactly once",
            ),
            (
                r#"{"header": "X-Sig", "signed": "{body}{body}"}"#,
                "{body} exactly once",
            ),
            (
                r#"{"header": "X-Sig", "signed": "{timestamp}.{body}"}"#,
                "`timestamp_header` is not set",
            ),
            (
                r#"{"header": "X-Sig", "signed": "{id}.{body}"}"#,
                "`id_header` is not set",
            ),
            (
                r#"{"header": "X-Sig", "signed": "{ts}.{body}"}"#,
                "placeholders",
            ),
            (
                r#"{"header": "X-Sig", "signed": "{body"}"#,
                "without its `}`",
            ),
            (r#"{"header": "X-Sig", "prefix": ""}"#, "`prefix` is empty"),
            (
                r#"{"header": "X-Sig", "event_type": {"pointer": "type"}}"#,
                "starting with `/`",
            ),
            (
                r#"{"header": "X-Sig", "event_type": {"path": "/type"}}"#,
                "unknown variant `path`",
            ),
        ] {
            let e = scheme(json).unwrap_err();
            assert!(e.contains(message), "{json}: {e}");
        }
        let kind = SourceKind::Hmac(HmacScheme::new("X-Sig"));
        assert_eq!(
            Secret::parse(&kind, " k").unwrap_err(),
            SecretError::Whitespace
        );
        assert_eq!(
            Secret::parse(&kind, "base64:").unwrap_err(),
            SecretError::Empty
        );
    }

    #[test]
    fn the_kind_reads_from_toml_like_config() {
        // As config would hold it (serde_json standing in for TOML here).
        let kind: SourceKind = serde_json::from_str(
            r#"{"hmac": {"header": "X-Sig", "event_type": {"header": "X-Event"}}}"#,
        )
        .unwrap();
        let SourceKind::Hmac(s) = &kind else {
            panic!("{kind:?}")
        };
        assert_eq!(s.algorithm, Algorithm::Sha256);
        assert_eq!(s.encoding, Encoding::Hex);
        assert_eq!(s.signed, "{body}");
        for (text, kind) in [
            ("\"stripe\"", SourceKind::Stripe),
            ("\"github\"", SourceKind::Github),
            ("\"shopify\"", SourceKind::Shopify),
            ("\"slack\"", SourceKind::Slack),
            ("\"standard-webhooks\"", SourceKind::StandardWebhooks),
            ("\"svix\"", SourceKind::StandardWebhooks),
        ] {
            assert_eq!(serde_json::from_str::<SourceKind>(text).unwrap(), kind);
        }
        assert!(serde_json::from_str::<SourceKind>("\"gitlab\"").is_err());
        // Round trip.
        let text = serde_json::to_string(&kind).unwrap();
        assert_eq!(serde_json::from_str::<SourceKind>(&text).unwrap(), kind);
    }
}
