//! GitHub: `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 over the raw body
//! keyed with the webhook's secret as written. Nothing else is signed and
//! there is no timestamp: a captured delivery replays until dedupe stops it.
//! The dedupe id is `X-GitHub-Delivery` (kept by GitHub's redeliveries); the
//! event type is `X-GitHub-Event`, joined with the payload's `action` when it
//! has one (`issues.opened`), so that a filter takes `issues.*` for every
//! issue event or `issues.opened` for one, while `push` and `ping` (which
//! have no action) stay as they are. The body may be JSON or, for webhooks
//! set to `application/x-www-form-urlencoded`, a form whose `payload` field
//! holds the JSON.

use http::HeaderMap;
use serde::Deserialize;

use super::{
    Algorithm, HeaderLabel, Secret, Verified, Verifier, VerifyError, checked_id, content_id,
    from_hex, header, json_document, mac, require, require_metadata, to_hex,
};

pub(super) const SIGNATURE: &str = "X-Hub-Signature-256";
pub(super) const DELIVERY: &str = "X-GitHub-Delivery";
pub(super) const EVENT: &str = "X-GitHub-Event";

const SIGNATURE_NAME: HeaderLabel = HeaderLabel::Borrowed(SIGNATURE);
const DELIVERY_NAME: HeaderLabel = HeaderLabel::Borrowed(DELIVERY);
const EVENT_NAME: HeaderLabel = HeaderLabel::Borrowed(EVENT);

pub(super) fn sign(secret: &Secret, body: &[u8]) -> String {
    format!(
        "sha256={}",
        to_hex(&mac(Algorithm::Sha256, secret.key(), &[body]))
    )
}

pub(super) fn verify(
    verifier: &Verifier,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Verified, VerifyError> {
    let value = require(headers, &SIGNATURE_NAME)?;
    let hex = value
        .trim()
        .strip_prefix("sha256=")
        .ok_or(VerifyError::Malformed(
            SIGNATURE_NAME,
            "it does not start with sha256=",
        ))?;
    let candidates: Vec<Vec<u8>> = from_hex(hex)
        .filter(|s| s.len() == 32)
        .into_iter()
        .collect();
    if !verifier.any_secret_matches(Algorithm::Sha256, &[body], &candidates) {
        return Err(VerifyError::NoMatch(SIGNATURE_NAME));
    }
    let delivery = require_metadata(headers, &DELIVERY_NAME)?;
    Ok(Verified {
        webhook_id: checked_id(&DELIVERY_NAME, delivery)?,
        event_type: Some(event_type(headers, body)?),
        timestamp: None,
        challenge: None,
    })
}

pub(super) fn extract(headers: &HeaderMap, body: &[u8]) -> Result<Verified, VerifyError> {
    let webhook_id = match header(headers, &DELIVERY_NAME)? {
        Some(id) => checked_id(&DELIVERY_NAME, id)?,
        None => content_id(&[body]),
    };
    Ok(Verified {
        webhook_id,
        event_type: Some(event_type(headers, body)?),
        timestamp: None,
        challenge: None,
    })
}

/// `X-GitHub-Event`, plus `.action` when the payload has a plain one.
fn event_type(headers: &HeaderMap, body: &[u8]) -> Result<String, VerifyError> {
    let event = require_metadata(headers, &EVENT_NAME)?.trim();
    if event.is_empty() {
        return Err(VerifyError::MissingMetadata(EVENT_NAME));
    }
    Ok(match action(body) {
        Some(action) => format!("{event}.{action}"),
        None => event.to_string(),
    })
}

/// The payload's `action`, if it is a short word (`opened`, `created`,
/// `requested_action`); anything else is left out of the type.
fn action(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Payload {
        action: Option<serde_json::Value>,
    }
    let document = json_document(body)?;
    let action = serde_json::from_slice::<Payload>(&document).ok()?.action?;
    let action = action.as_str()?;
    let plain = !action.is_empty()
        && action.len() <= 64
        && action
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    plain.then(|| action.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::{SecretError, SourceKind, Verifier, VerifyError};
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    // docs.github.com, "Validating webhook deliveries", "Testing the webhook
    // payload validation".
    const SECRET: &str = "It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn secret(text: &str) -> Secret {
        Secret::parse(&SourceKind::Github, text).unwrap()
    }

    fn verifier(secrets: &[&str]) -> Verifier {
        Verifier::new(
            SourceKind::Github,
            secrets.iter().map(|s| secret(s)).collect(),
            Duration::from_secs(300),
        )
    }

    fn headers(sig: Option<&str>, event: Option<&str>, delivery: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in [(SIGNATURE, sig), (EVENT, event), (DELIVERY, delivery)] {
            if let Some(v) = value {
                h.insert(
                    http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
        }
        h
    }

    fn check(secrets: &[&str], h: &HeaderMap, body: &[u8]) -> Result<Verified, VerifyError> {
        // No timestamp: any clock will do.
        verifier(secrets).verify(h, body, UNIX_EPOCH)
    }

    const DELIVERY_ID: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

    #[test]
    fn the_documented_vector_signs_and_verifies() {
        assert_eq!(secret(SECRET).sign_github(BODY), SIG);
        let h = headers(Some(SIG), Some("push"), Some(DELIVERY_ID));
        let v = check(&[SECRET], &h, BODY).unwrap();
        assert_eq!(v.webhook_id, DELIVERY_ID);
        assert_eq!(v.event_type.as_deref(), Some("push"));
        assert_eq!(v.timestamp, None);
        // Hex in capitals is the same signature.
        let upper = format!("sha256={}", SIG[7..].to_uppercase());
        let h = headers(Some(&upper), Some("push"), Some(DELIVERY_ID));
        assert!(check(&[SECRET], &h, BODY).is_ok());
    }

    #[test]
    fn the_action_joins_the_event_and_ping_is_accepted() {
        let s = secret("hook-secret");
        let opened = br#"{"action":"opened","issue":{"number":1347}}"#;
        let h = headers(Some(&s.sign_github(opened)), Some("issues"), Some("d-1"));
        let v = check(&["hook-secret"], &h, opened).unwrap();
        assert_eq!(v.event_type.as_deref(), Some("issues.opened"));

        let ping = br#"{"zen":"Design for failure.","hook_id":109948940,"hook":{"type":"Repository","events":["*"]}}"#;
        let h = headers(Some(&s.sign_github(ping)), Some("ping"), Some("d-2"));
        let v = check(&["hook-secret"], &h, ping).unwrap();
        assert_eq!(v.event_type.as_deref(), Some("ping"));
        assert_eq!(v.webhook_id, "d-2");

        // A form-encoded delivery: the JSON is the `payload` field.
        let form = b"payload=%7B%22action%22%3A%22closed%22%2C%22number%22%3A2%7D";
        let h = headers(
            Some(&s.sign_github(form)),
            Some("pull_request"),
            Some("d-3"),
        );
        let v = check(&["hook-secret"], &h, form).unwrap();
        assert_eq!(v.event_type.as_deref(), Some("pull_request.closed"));

        // An action that is not a plain word is left out.
        let odd = br#"{"action":"a b.c"}"#;
        let h = headers(Some(&s.sign_github(odd)), Some("issues"), Some("d-4"));
        assert_eq!(
            check(&["hook-secret"], &h, odd)
                .unwrap()
                .event_type
                .as_deref(),
            Some("issues")
        );
    }

    #[test]
    fn negative_cases() {
        let no_match = Err(VerifyError::NoMatch(SIGNATURE.into()));
        let h = headers(Some(SIG), Some("push"), Some(DELIVERY_ID));
        assert_eq!(check(&["wrong"], &h, BODY).map(|_| ()), no_match);
        assert_eq!(check(&[SECRET], &h, b"Hello, World?").map(|_| ()), no_match);
        for bad in ["sha256=", "sha256=zz", &SIG[..20], "sha256=757107ea"] {
            let h = headers(Some(bad), Some("push"), Some(DELIVERY_ID));
            assert_eq!(check(&[SECRET], &h, BODY).map(|_| ()), no_match, "{bad}");
        }
        // The old SHA-1 header, or a bare hex digest, is not accepted.
        let h = headers(Some(&SIG[7..]), Some("push"), Some(DELIVERY_ID));
        assert_eq!(
            check(&[SECRET], &h, BODY).map(|_| ()),
            Err(VerifyError::Malformed(
                SIGNATURE.into(),
                "it does not start with sha256="
            ))
        );
        let h = headers(None, Some("push"), Some(DELIVERY_ID));
        assert_eq!(
            check(&[SECRET], &h, BODY).map(|_| ()),
            Err(VerifyError::MissingHeader(SIGNATURE.into()))
        );
        // Genuine but without its id or event: 400, not 401.
        let h = headers(Some(SIG), Some("push"), None);
        let e = check(&[SECRET], &h, BODY).unwrap_err();
        assert_eq!(e, VerifyError::MissingMetadata(DELIVERY.into()));
        assert_eq!(e.status(), http::StatusCode::BAD_REQUEST);
        let h = headers(Some(SIG), None, Some(DELIVERY_ID));
        assert_eq!(
            check(&[SECRET], &h, BODY).unwrap_err(),
            VerifyError::MissingMetadata(EVENT.into())
        );
        let long_id = "d".repeat(257);
        let h = headers(Some(SIG), Some("push"), Some(&long_id));
        assert_eq!(
            check(&[SECRET], &h, BODY).unwrap_err(),
            VerifyError::BadId(DELIVERY.into())
        );
    }

    #[test]
    fn rotation_and_secret_text() {
        let h = headers(Some(SIG), Some("push"), Some(DELIVERY_ID));
        assert!(check(&["new secret", SECRET], &h, BODY).is_ok());
        assert_eq!(
            Secret::parse(&SourceKind::Github, "secret\n").unwrap_err(),
            SecretError::Whitespace
        );
        assert_eq!(
            Secret::parse(&SourceKind::Github, "").unwrap_err(),
            SecretError::Empty
        );
        // base64: gives the same key as the text it encodes.
        let b64 = Secret::parse(
            &SourceKind::Github,
            "base64:SXQncyBhIFNlY3JldCB0byBFdmVyeWJvZHk=",
        )
        .unwrap();
        assert_eq!(b64.sign_github(BODY), SIG);
        assert_eq!(
            Secret::parse(&SourceKind::Github, "base64:***").unwrap_err(),
            SecretError::NotBase64Escape
        );
    }
}
