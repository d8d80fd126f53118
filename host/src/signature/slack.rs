//! Slack: `X-Slack-Signature: v0=<hex>`, HMAC-SHA256 over
//! `"v0:{X-Slack-Request-Timestamp}:{body}"` keyed with the app's signing
//! secret as written; the timestamp must be within the tolerance (Slack
//! advises five minutes). Events API bodies are JSON: the event type is
//! `event.type` for an `event_callback`, else the payload's `type`
//! (`url_verification`, `app_rate_limited`); the dedupe id is `event_id`
//! (kept by Slack's retries). A `url_verification` handshake also sets
//! [`Verified::challenge`]: ingest answers it instead of storing the event.
//! Slash commands and interactivity post forms: a form's `payload` field
//! (interactivity) gives its `type` (`block_actions`, `view_submission`…),
//! and a form with a `command` field is a `slash_command`. Without an
//! `event_id` the id is a digest of the signed content (timestamp and body).

use std::time::SystemTime;

use http::HeaderMap;
use serde::Deserialize;

use super::{
    Algorithm, HeaderLabel, MAX_ID_LEN, Secret, Verified, Verifier, VerifyError, check_timestamp,
    content_id, form_field, from_hex, header, json_document, mac, require, to_hex,
};

pub(super) const SIGNATURE: &str = "X-Slack-Signature";
pub(super) const TIMESTAMP: &str = "X-Slack-Request-Timestamp";

const SIGNATURE_NAME: HeaderLabel = HeaderLabel::Borrowed(SIGNATURE);
const TIMESTAMP_NAME: HeaderLabel = HeaderLabel::Borrowed(TIMESTAMP);

/// The longest `challenge` passed on; Slack's are about 50 characters.
const MAX_CHALLENGE: usize = 1024;

pub(super) fn sign(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let mac = mac(
        Algorithm::Sha256,
        secret.key(),
        &[b"v0:", t.as_bytes(), b":", body],
    );
    format!("v0={}", to_hex(&mac))
}

pub(super) fn verify(
    verifier: &Verifier,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<Verified, VerifyError> {
    let signature = require(headers, &SIGNATURE_NAME)?;
    let timestamp = require(headers, &TIMESTAMP_NAME)?;
    let sent = check_timestamp(&TIMESTAMP_NAME, timestamp, now, verifier.tolerance)?;
    let candidates: Vec<Vec<u8>> = signature
        .trim()
        .strip_prefix("v0=")
        .and_then(from_hex)
        .filter(|s| s.len() == 32)
        .into_iter()
        .collect();
    let t = timestamp.trim();
    let parts: [&[u8]; 4] = [b"v0:", t.as_bytes(), b":", body];
    if !verifier.any_secret_matches(Algorithm::Sha256, &parts, &candidates) {
        return Err(VerifyError::NoMatch(SIGNATURE_NAME));
    }
    Ok(describe(body, Some(sent), &parts))
}

pub(super) fn extract(headers: &HeaderMap, body: &[u8]) -> Result<Verified, VerifyError> {
    let timestamp = header(headers, &TIMESTAMP_NAME)?;
    let t = timestamp.unwrap_or("").trim();
    let parts: [&[u8]; 4] = [b"v0:", t.as_bytes(), b":", body];
    Ok(describe(body, t.parse().ok(), &parts))
}

/// The id, event type and challenge a Slack body carries.
fn describe(body: &[u8], timestamp: Option<i64>, signed: &[&[u8]]) -> Verified {
    #[derive(Deserialize, Default)]
    struct Inner {
        #[serde(rename = "type")]
        kind: Option<String>,
    }
    #[derive(Deserialize, Default)]
    struct Payload {
        #[serde(rename = "type")]
        kind: Option<String>,
        event_id: Option<String>,
        challenge: Option<String>,
        event: Option<Inner>,
    }
    let payload: Payload = json_document(body)
        .and_then(|doc| serde_json::from_slice(&doc).ok())
        .unwrap_or_default();
    let event_type = match payload.kind.as_deref() {
        Some("event_callback") => payload.event.and_then(|e| e.kind),
        Some(_) => payload.kind.clone(),
        None if form_field(body, "command").is_some() => Some("slash_command".to_string()),
        None => None,
    };
    let challenge = (payload.kind.as_deref() == Some("url_verification"))
        .then_some(payload.challenge)
        .flatten()
        .filter(|c| c.len() <= MAX_CHALLENGE);
    let webhook_id = payload
        .event_id
        .filter(|id| !id.is_empty() && id.len() <= MAX_ID_LEN)
        .unwrap_or_else(|| content_id(signed));
    Verified {
        webhook_id,
        event_type,
        timestamp,
        challenge,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::{SourceKind, Verifier, VerifyError};
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    // Slack's worked example: docs.slack.dev "Verifying requests from
    // Slack" (api.slack.com/authentication/verifying-requests-from-slack),
    // a slash command's form body.
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: i64 = 1531420618;
    pub(crate) const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn secret(text: &str) -> Secret {
        Secret::parse(&SourceKind::Slack, text).unwrap()
    }

    fn verifier(secrets: &[&str]) -> Verifier {
        Verifier::new(
            SourceKind::Slack,
            secrets.iter().map(|s| secret(s)).collect(),
            Duration::from_secs(300),
        )
    }

    fn headers(sig: Option<&str>, ts: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = sig {
            h.insert("x-slack-signature", v.parse().unwrap());
        }
        if let Some(v) = ts {
            h.insert("x-slack-request-timestamp", v.parse().unwrap());
        }
        h
    }

    fn check(h: &HeaderMap, body: &[u8], now: i64) -> Result<Verified, VerifyError> {
        verifier(&[SECRET]).verify(h, body, UNIX_EPOCH + Duration::from_secs(now as u64))
    }

    fn signed(body: &[u8], ts: i64) -> HeaderMap {
        headers(
            Some(&secret(SECRET).sign_slack(ts, body)),
            Some(&ts.to_string()),
        )
    }

    #[test]
    fn the_documented_example_signs_and_verifies() {
        assert_eq!(secret(SECRET).sign_slack(TS, BODY), SIG);
        let v = check(&headers(Some(SIG), Some("1531420618")), BODY, TS).unwrap();
        assert_eq!(v.event_type.as_deref(), Some("slash_command"));
        assert_eq!(v.timestamp, Some(TS));
        assert!(v.webhook_id.starts_with("sha256:"));
        assert_eq!(v.challenge, None);
    }

    #[test]
    fn events_api_bodies() {
        let body = br#"{"token":"t","team_id":"T1","api_app_id":"A1","event":{"type":"app_mention","user":"U1","text":"hi"},"type":"event_callback","event_id":"Ev08MFMKH6","event_time":1234567890}"#;
        let v = check(&signed(body, TS), body, TS).unwrap();
        assert_eq!(v.webhook_id, "Ev08MFMKH6");
        assert_eq!(v.event_type.as_deref(), Some("app_mention"));

        let handshake = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        let v = check(&signed(handshake, TS), handshake, TS).unwrap();
        assert_eq!(
            v.challenge.as_deref(),
            Some("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
        );
        assert_eq!(v.event_type.as_deref(), Some("url_verification"));

        let limited = br#"{"token":"t","type":"app_rate_limited","team_id":"T1","minute_rate_limited":1518467820,"api_app_id":"A1"}"#;
        let v = check(&signed(limited, TS), limited, TS).unwrap();
        assert_eq!(v.event_type.as_deref(), Some("app_rate_limited"));

        let action = b"payload=%7B%22type%22%3A%22block_actions%22%2C%22user%22%3A%7B%22id%22%3A%22U1%22%7D%7D";
        let v = check(&signed(action, TS), action, TS).unwrap();
        assert_eq!(v.event_type.as_deref(), Some("block_actions"));

        // A challenge outside a url_verification is not one.
        let sneaky = br#"{"type":"event_callback","challenge":"x","event":{"type":"message"}}"#;
        assert_eq!(
            check(&signed(sneaky, TS), sneaky, TS).unwrap().challenge,
            None
        );
    }

    #[test]
    fn negative_cases() {
        let no_match = Err(VerifyError::NoMatch(SIGNATURE.into()));
        let good = headers(Some(SIG), Some("1531420618"));
        assert_eq!(
            verifier(&["8f742231b10e8888abcd99yyyzzz85a6"])
                .verify(&good, BODY, UNIX_EPOCH + Duration::from_secs(TS as u64))
                .map(|_| ()),
            no_match
        );
        assert!(
            verifier(&["old-secret", SECRET])
                .verify(&good, BODY, UNIX_EPOCH + Duration::from_secs(TS as u64))
                .is_ok(),
            "rotation"
        );
        assert_eq!(check(&good, &BODY[1..], TS).map(|_| ()), no_match);
        // The timestamp is signed: another one does not verify.
        let moved = headers(Some(SIG), Some("1531420619"));
        assert_eq!(check(&moved, BODY, TS).map(|_| ()), no_match);
        for bad in [&SIG[3..], "v1=a2114d57", "v0=", "v0=xyz", &SIG[..30]] {
            assert_eq!(
                check(&headers(Some(bad), Some("1531420618")), BODY, TS).map(|_| ()),
                no_match,
                "{bad}"
            );
        }
        assert!(matches!(
            check(&good, BODY, TS + 301),
            Err(VerifyError::TooOld {
                age_secs: 301,
                tolerance_secs: 300,
                ..
            })
        ));
        assert!(check(&good, BODY, TS + 300).is_ok());
        assert_eq!(
            check(&headers(Some(SIG), Some("yesterday")), BODY, TS).map(|_| ()),
            Err(VerifyError::BadTimestamp(TIMESTAMP.into()))
        );
        assert_eq!(
            check(&headers(None, Some("1531420618")), BODY, TS).map(|_| ()),
            Err(VerifyError::MissingHeader(SIGNATURE.into()))
        );
        assert_eq!(
            check(&headers(Some(SIG), None), BODY, TS).map(|_| ()),
            Err(VerifyError::MissingHeader(TIMESTAMP.into()))
        );
        let e = check(&good, BODY, TS + 3600).unwrap_err();
        assert_eq!(
            e.to_string(),
            "X-Slack-Request-Timestamp is 3600 s old, outside the 300 s tolerance"
        );
    }
}
