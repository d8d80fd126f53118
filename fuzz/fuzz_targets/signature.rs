//! Inbound signature verification, every sender kind, on arbitrary headers
//! and bodies: never a panic; what a kind's signing helper signs verifies,
//! and the same headers over a different body do not.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

#[allow(dead_code, unused_imports)]
#[path = "../../host/src/signature/mod.rs"]
mod signature;

use signature::{HmacScheme, Secret, SourceKind, Verifier, VerifyError};

const NOW: i64 = 1_700_000_000;

/// Header names the kinds read; a fuzzed header picks one by its first byte.
const NAMES: &[&str] = &[
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "stripe-signature",
    "x-hub-signature-256",
    "x-github-delivery",
    "x-github-event",
    "x-shopify-hmac-sha256",
    "shopify-hmac-sha256",
    "x-shopify-webhook-id",
    "x-shopify-topic",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "x-acme-signature",
    "x-acme-time",
    "x-acme-id",
];

fn kinds() -> Vec<(SourceKind, &'static str)> {
    let generic: HmacScheme = serde_json::from_str(
        r#"{"header": "X-Acme-Signature", "prefix": "v1=", "encoding": "base64",
            "timestamp_header": "X-Acme-Time", "id_header": "X-Acme-Id",
            "signed": "{timestamp}.{id}.{body}", "event_type": {"pointer": "/type"}}"#,
    )
    .unwrap();
    vec![
        (SourceKind::StandardWebhooks, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        (SourceKind::Stripe, "whsec_test_secret"),
        (SourceKind::Github, "It's a Secret to Everybody"),
        (SourceKind::Shopify, "hush"),
        (SourceKind::Slack, "8f742231b10e8888abcd99yyyzzz85a5"),
        (SourceKind::Hmac(generic), "acme"),
    ]
}

fuzz_target!(|data: &[u8]| {
    // header lines (first byte: which name; the rest: the value) \n\n body
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &data[..0]),
    };
    let mut headers = HeaderMap::new();
    for line in head.split(|b| *b == b'\n') {
        if let Some((pick, value)) = line.split_first()
            && let Ok(value) = HeaderValue::from_bytes(value)
        {
            let name = NAMES[usize::from(*pick) % NAMES.len()];
            headers.append(HeaderName::from_static(name), value);
        }
    }
    let now = UNIX_EPOCH + Duration::from_secs(NOW as u64);
    let secret_text = String::from_utf8_lossy(head);

    for (kind, text) in kinds() {
        let _ = Secret::parse(&kind, &secret_text);
        let key = Secret::parse(&kind, text).unwrap();
        let verifier = Verifier::new(kind.clone(), vec![key.clone()], Duration::from_secs(300));
        let _ = verifier.verify(&headers, body, now);
        let _ = kind.extract(&headers, body);

        let mut good = key.signed_headers(&kind, "msg_fuzz", NOW, body);
        good.insert("x-github-event", HeaderValue::from_static("push"));
        good.insert("x-shopify-topic", HeaderValue::from_static("orders/create"));
        match verifier.verify(&good, body, now) {
            Ok(_) => {}
            // A generic scheme reading its type from the payload needs JSON.
            Err(VerifyError::MissingField(_)) if matches!(kind, SourceKind::Hmac(_)) => {}
            Err(e) => panic!("{kind}: a signed request failed: {e}"),
        }
        let mut other = body.to_vec();
        other.push(b'!');
        assert!(
            matches!(verifier.verify(&good, &other, now), Err(VerifyError::NoMatch(_))),
            "{kind}: another body verified"
        );
    }
});
