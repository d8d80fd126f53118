//! Shopify: `X-Shopify-Hmac-Sha256: <base64>`, HMAC-SHA256 over the raw body
//! keyed with the app's client secret as written. No timestamp is signed.
//! The dedupe id is `X-Shopify-Webhook-Id` ("a unique composite key per
//! delivery", the same on retries) rather than `X-Shopify-Event-Id`, which is
//! shared by every delivery one merchant action produces (say `orders/create`
//! and `orders/paid`), so deduplicating on it would drop distinct topics. The
//! event type is `X-Shopify-Topic` (`orders/create`). Shopify's newer Events
//! deliveries send the same headers without the `X-` prefix; both are read.

use http::HeaderMap;

use super::{
    Algorithm, HeaderLabel, LENIENT, Secret, Verified, Verifier, VerifyError, checked_id,
    content_id, header, mac, require, require_metadata,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// One family of header names.
pub(super) struct Names {
    pub(super) signature: &'static str,
    pub(super) id: &'static str,
    pub(super) topic: &'static str,
}

pub(super) const X_HEADERS: Names = Names {
    signature: "X-Shopify-Hmac-Sha256",
    id: "X-Shopify-Webhook-Id",
    topic: "X-Shopify-Topic",
};
const EVENTS_HEADERS: Names = Names {
    signature: "Shopify-Hmac-Sha256",
    id: "Shopify-Webhook-Id",
    topic: "Shopify-Topic",
};

/// The Events names when only their signature header is present.
fn names(headers: &HeaderMap) -> &'static Names {
    if !headers.contains_key(X_HEADERS.signature) && headers.contains_key(EVENTS_HEADERS.signature)
    {
        &EVENTS_HEADERS
    } else {
        &X_HEADERS
    }
}

pub(super) fn sign(secret: &Secret, body: &[u8]) -> String {
    STANDARD.encode(mac(Algorithm::Sha256, secret.key(), &[body]))
}

pub(super) fn verify(
    verifier: &Verifier,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Verified, VerifyError> {
    let names = names(headers);
    let sig_name = HeaderLabel::Borrowed(names.signature);
    let value = require(headers, &sig_name)?;
    let candidates: Vec<Vec<u8>> = LENIENT
        .decode(value.trim())
        .ok()
        .filter(|s| s.len() == 32)
        .into_iter()
        .collect();
    if !verifier.any_secret_matches(Algorithm::Sha256, &[body], &candidates) {
        return Err(VerifyError::NoMatch(sig_name));
    }
    let id_name = HeaderLabel::Borrowed(names.id);
    let id = require_metadata(headers, &id_name)?;
    Ok(Verified {
        webhook_id: checked_id(&id_name, id)?,
        event_type: Some(topic(headers, names)?),
        timestamp: None,
        challenge: None,
    })
}

pub(super) fn extract(headers: &HeaderMap, body: &[u8]) -> Result<Verified, VerifyError> {
    let names = names(headers);
    let id_name = HeaderLabel::Borrowed(names.id);
    let webhook_id = match header(headers, &id_name)? {
        Some(id) => checked_id(&id_name, id)?,
        None => content_id(&[body]),
    };
    Ok(Verified {
        webhook_id,
        event_type: Some(topic(headers, names)?),
        timestamp: None,
        challenge: None,
    })
}

fn topic(headers: &HeaderMap, names: &Names) -> Result<String, VerifyError> {
    let name = HeaderLabel::Borrowed(names.topic);
    let topic = require_metadata(headers, &name)?.trim();
    if topic.is_empty() {
        return Err(VerifyError::MissingMetadata(name));
    }
    Ok(topic.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::{SourceKind, Verifier, VerifyError};
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    // Shopify publishes no vector. This one was made with Node's crypto and
    // accepted by Shopify's own `@shopify/shopify-api` (13.1.0)
    // `webhooks.validate` with apiSecretKey "hush"; Python's hmac agrees.
    const SECRET: &str = "hush";
    const BODY: &[u8] = br#"{"id":820982911946154508,"email":"jon@example.com"}"#;
    const SIG: &str = "D0UMXmhjwBRi4y66TmhJrDlhQABD7zI2fm3p6/QLMo8=";
    const ID: &str = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043";

    fn verifier(secrets: &[&str]) -> Verifier {
        Verifier::new(
            SourceKind::Shopify,
            secrets
                .iter()
                .map(|s| Secret::parse(&SourceKind::Shopify, s).unwrap())
                .collect(),
            Duration::from_secs(300),
        )
    }

    fn headers(
        names: &Names,
        sig: Option<&str>,
        id: Option<&str>,
        topic: Option<&str>,
    ) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in [(names.signature, sig), (names.id, id), (names.topic, topic)] {
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
        verifier(secrets).verify(h, body, UNIX_EPOCH)
    }

    #[test]
    fn the_library_vector_signs_and_verifies_under_both_header_families() {
        let secret = Secret::parse(&SourceKind::Shopify, SECRET).unwrap();
        assert_eq!(secret.sign_shopify(BODY), SIG);
        for names in [&X_HEADERS, &EVENTS_HEADERS] {
            let h = headers(names, Some(SIG), Some(ID), Some("orders/create"));
            let v = check(&[SECRET], &h, BODY).unwrap();
            assert_eq!(v.webhook_id, ID);
            assert_eq!(v.event_type.as_deref(), Some("orders/create"));
        }
        // Unpadded base64 is the same signature.
        let h = headers(
            &X_HEADERS,
            Some(SIG.trim_end_matches('=')),
            Some(ID),
            Some("orders/create"),
        );
        assert!(check(&[SECRET], &h, BODY).is_ok());
        assert!(
            check(
                &["old", SECRET],
                &headers(&X_HEADERS, Some(SIG), Some(ID), Some("t")),
                BODY
            )
            .is_ok()
        );
    }

    #[test]
    fn negative_cases() {
        let no_match = Err(VerifyError::NoMatch("X-Shopify-Hmac-Sha256".into()));
        let h = headers(&X_HEADERS, Some(SIG), Some(ID), Some("orders/create"));
        assert_eq!(check(&["other"], &h, BODY).map(|_| ()), no_match);
        assert_eq!(check(&[SECRET], &h, b"{}").map(|_| ()), no_match);
        for bad in [
            "",
            "***",
            &SIG[..20],
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        ] {
            let h = headers(&X_HEADERS, Some(bad), Some(ID), Some("orders/create"));
            assert_eq!(check(&[SECRET], &h, BODY).map(|_| ()), no_match, "{bad}");
        }
        let h = headers(&X_HEADERS, None, Some(ID), Some("orders/create"));
        assert_eq!(
            check(&[SECRET], &h, BODY).map(|_| ()),
            Err(VerifyError::MissingHeader("X-Shopify-Hmac-Sha256".into()))
        );
        let h = headers(&X_HEADERS, Some(SIG), None, Some("orders/create"));
        assert_eq!(
            check(&[SECRET], &h, BODY).unwrap_err(),
            VerifyError::MissingMetadata("X-Shopify-Webhook-Id".into())
        );
        let h = headers(&X_HEADERS, Some(SIG), Some(ID), None);
        assert_eq!(
            check(&[SECRET], &h, BODY).unwrap_err(),
            VerifyError::MissingMetadata("X-Shopify-Topic".into())
        );
    }
}
