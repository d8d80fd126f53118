//! Stripe: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]`,
//! HMAC-SHA256 over `"{t}.{body}"` keyed with the endpoint's signing secret
//! as written (`whsec_…`, its UTF-8 bytes; not base64-decoded). Several `v1`
//! entries appear while a secret is rolled; `v0` (test mode's fake scheme)
//! and unknown schemes are ignored. The dedupe id is the event's `id`
//! (`evt_…`); the event type is the payload's `type`.

use std::time::SystemTime;

use http::HeaderMap;
use serde::Deserialize;

use super::{
    Algorithm, HeaderLabel, MAX_ID_LEN, MAX_SIGNATURES, Secret, Verified, Verifier, VerifyError,
    check_timestamp, content_id, from_hex, mac, require, to_hex,
};

pub(super) const HEADER: &str = "Stripe-Signature";
const NAME: HeaderLabel = HeaderLabel::Borrowed(HEADER);
/// The timestamp's label in errors: it lives inside the signature header.
const TIMESTAMP: HeaderLabel = HeaderLabel::Borrowed("Stripe-Signature timestamp");

/// The most `k=v` items read from the header.
const MAX_ITEMS: usize = 32;

pub(super) fn sign(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let mac = mac(Algorithm::Sha256, secret.key(), &[t.as_bytes(), b".", body]);
    format!("t={t},v1={}", to_hex(&mac))
}

/// The timestamp text and the decodable `v1` signatures.
fn parse(value: &str) -> Result<(&str, Vec<Vec<u8>>), VerifyError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in value.split(',').take(MAX_ITEMS) {
        let Some((key, val)) = item.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" if timestamp.replace(val).is_some() => {
                return Err(VerifyError::Malformed(NAME, "more than one t= entry"));
            }
            "v1" if signatures.len() < MAX_SIGNATURES => {
                if let Some(sig) = from_hex(val).filter(|s| s.len() == 32) {
                    signatures.push(sig);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::Malformed(NAME, "no t= timestamp"))?;
    Ok((timestamp, signatures))
}

pub(super) fn verify(
    verifier: &Verifier,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<Verified, VerifyError> {
    let value = require(headers, &NAME)?;
    let (t, candidates) = parse(value)?;
    let sent = check_timestamp(&TIMESTAMP, t, now, verifier.tolerance)?;
    // `t` is MACed exactly as sent.
    let parts: [&[u8]; 3] = [t.as_bytes(), b".", body];
    if !verifier.any_secret_matches(Algorithm::Sha256, &parts, &candidates) {
        return Err(VerifyError::NoMatch(NAME));
    }
    Ok(Verified {
        webhook_id: event_id(body).unwrap_or_else(|| content_id(&parts)),
        event_type: None,
        timestamp: Some(sent),
        challenge: None,
    })
}

pub(super) fn extract(headers: &HeaderMap, body: &[u8]) -> Result<Verified, VerifyError> {
    let timestamp = super::header(headers, &NAME)?
        .and_then(|v| parse(v).ok())
        .and_then(|(t, _)| t.trim().parse().ok());
    Ok(Verified {
        webhook_id: event_id(body).unwrap_or_else(|| content_id(&[body])),
        event_type: None,
        timestamp,
        challenge: None,
    })
}

/// The event object's `id`, if it is a string of 1–256 bytes.
fn event_id(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Event {
        id: Option<String>,
    }
    let id = serde_json::from_slice::<Event>(body).ok()?.id?;
    (!id.is_empty() && id.len() <= MAX_ID_LEN).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::super::{Secret, SourceKind, Verifier, VerifyError};
    use http::HeaderMap;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    // Made with the npm `stripe` package (23.1.0):
    // `stripe.webhooks.generateTestHeaderString({payload, secret, timestamp:
    // 1700000000})`, with payload = JSON.stringify({id: 'evt_test_webhook',
    // object: 'event', type: 'payment_intent.succeeded'}, null, 2), and
    // accepted by its `constructEvent`; Python's hmac gives the same MAC.
    const SECRET: &str = "whsec_test_secret";
    const TS: i64 = 1700000000;
    const BODY: &[u8] = b"{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\",\n  \"type\": \"payment_intent.succeeded\"\n}";
    const HEADER: &str =
        "t=1700000000,v1=eff1d2c6bc8bde2a9c9492db8f9912986b91cf6f9a4b0453e9c3cfbbf84a9b99";

    fn at(ts: i64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(ts as u64)
    }

    fn secret(text: &str) -> Secret {
        Secret::parse(&SourceKind::Stripe, text).unwrap()
    }

    fn verifier(secrets: &[&str]) -> Verifier {
        Verifier::new(
            SourceKind::Stripe,
            secrets.iter().map(|s| secret(s)).collect(),
            Duration::from_secs(300),
        )
    }

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("stripe-signature", value.parse().unwrap());
        h
    }

    fn check(value: &str, body: &[u8], now: i64) -> Result<super::Verified, VerifyError> {
        verifier(&[SECRET]).verify(&headers(value), body, at(now))
    }

    #[test]
    fn the_stripe_library_vector_signs_and_verifies() {
        assert_eq!(secret(SECRET).sign_stripe(TS, BODY), HEADER);
        let v = check(HEADER, BODY, TS).unwrap();
        assert_eq!(v.webhook_id, "evt_test_webhook");
        assert_eq!(v.event_type, None, "the payload's type");
        assert_eq!(v.timestamp, Some(TS));
        // The header name is case-insensitive.
        let mut h = HeaderMap::new();
        h.insert("Stripe-Signature", HEADER.parse().unwrap());
        assert!(verifier(&[SECRET]).verify(&h, BODY, at(TS)).is_ok());
    }

    #[test]
    fn the_secret_is_used_as_written_not_decoded() {
        // A Standard Webhooks verifier would base64-decode it; Stripe's key
        // is the string's bytes, so the two MACs differ.
        let decoded = Secret::parse(&SourceKind::StandardWebhooks, "whsec_dGVzdA==").unwrap();
        let raw = secret("whsec_dGVzdA==");
        assert_ne!(
            decoded.sign_stripe(TS, BODY),
            raw.sign_stripe(TS, BODY),
            "whsec_ is part of the key"
        );
        assert_eq!(
            Secret::parse(&SourceKind::Stripe, "sk_live_123").unwrap_err(),
            super::super::SecretError::StripeApiKey
        );
        assert_eq!(
            Secret::parse(&SourceKind::Stripe, "  ").unwrap_err(),
            super::super::SecretError::Empty
        );
        // A trailing newline from a secrets file is trimmed.
        assert!(
            verifier(&["whsec_test_secret\n"])
                .verify(&headers(HEADER), BODY, at(TS))
                .is_ok()
        );
    }

    #[test]
    fn rolled_secrets_and_extra_schemes() {
        let both = format!(
            "t={TS},v1={},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39,{}",
            "0".repeat(64),
            HEADER.split(',').nth(1).unwrap()
        );
        assert!(check(&both, BODY, TS).is_ok(), "the second v1 matches");
        assert!(
            verifier(&["whsec_old", SECRET])
                .verify(&headers(HEADER), BODY, at(TS))
                .is_ok(),
            "any configured secret"
        );
    }

    #[test]
    fn negative_cases() {
        let no_match = Err(VerifyError::NoMatch("Stripe-Signature".into()));
        assert_eq!(
            verifier(&["whsec_other"])
                .verify(&headers(HEADER), BODY, at(TS))
                .map(|_| ()),
            no_match
        );
        let mut tampered = BODY.to_vec();
        tampered[10] ^= 1;
        assert_eq!(check(HEADER, &tampered, TS).map(|_| ()), no_match);
        // Only v0 (test mode's fake scheme): nothing to check.
        let v0 = format!("t={TS},v0={}", &HEADER[16..]);
        assert_eq!(check(&v0, BODY, TS).map(|_| ()), no_match);
        for bad in [
            format!("t={TS},v1=zz"),
            format!("t={TS},v1={}", &HEADER[16..40]),
            format!("t={TS},v1="),
            format!("t={TS}"),
        ] {
            assert_eq!(check(&bad, BODY, TS).map(|_| ()), no_match, "{bad}");
        }
        assert_eq!(
            check(&HEADER[13..], BODY, TS).map(|_| ()),
            Err(VerifyError::Malformed(
                "Stripe-Signature".into(),
                "no t= timestamp"
            ))
        );
        assert_eq!(
            check(&format!("t=1,{HEADER}"), BODY, TS).map(|_| ()),
            Err(VerifyError::Malformed(
                "Stripe-Signature".into(),
                "more than one t= entry"
            ))
        );
        assert_eq!(
            check("t=soon,v1=00", BODY, TS).map(|_| ()),
            Err(VerifyError::BadTimestamp(
                "Stripe-Signature timestamp".into()
            ))
        );
        assert!(matches!(
            check(HEADER, BODY, TS + 301),
            Err(VerifyError::TooOld { age_secs: 301, .. })
        ));
        assert!(matches!(
            check(HEADER, BODY, TS - 301),
            Err(VerifyError::TooNew {
                ahead_secs: 301,
                ..
            })
        ));
        assert!(check(HEADER, BODY, TS + 300).is_ok());
        assert_eq!(
            verifier(&[SECRET])
                .verify(&HeaderMap::new(), BODY, at(TS))
                .map(|_| ()),
            Err(VerifyError::MissingHeader("Stripe-Signature".into()))
        );
        let long = format!("{HEADER},{}", "v1=00,".repeat(800));
        assert_eq!(
            check(&long, BODY, TS).map(|_| ()),
            Err(VerifyError::HeaderTooLong("Stripe-Signature".into()))
        );
    }

    #[test]
    fn without_an_event_id_the_signed_content_deduplicates() {
        let body = br#"{"object":"event","type":"x"}"#;
        let sig = secret(SECRET).sign_stripe(TS, body);
        let a = check(&sig, body, TS).unwrap();
        let b = check(&sig, body, TS).unwrap();
        assert!(a.webhook_id.starts_with("sha256:"));
        assert_eq!(a.webhook_id, b.webhook_id);
        let other = secret(SECRET).sign_stripe(TS + 1, body);
        assert_ne!(check(&other, body, TS).unwrap().webhook_id, a.webhook_id);
    }
}
