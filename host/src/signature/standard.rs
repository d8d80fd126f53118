//! Standard Webhooks signatures (Dodo Payments; Svix-signed senders use the
//! same scheme under `svix-*` header names): HMAC-SHA256 over
//! `"{id}.{timestamp}.{body}"`, `v1,<base64>` entries, verified here and
//! signed for what `hookwasm send` posts.

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;

use super::{
    Algorithm, HeaderLabel, LENIENT, MAX_SIGNATURES, Secret, SecretError, Verified, Verifier,
    VerifyError, check_timestamp, checked_id, content_id, header, mac, require,
};

/// One family of header names: id, timestamp, signature.
type Names = [HeaderLabel; 3];

const WEBHOOK: Names = [
    HeaderLabel::Borrowed("webhook-id"),
    HeaderLabel::Borrowed("webhook-timestamp"),
    HeaderLabel::Borrowed("webhook-signature"),
];
const SVIX: Names = [
    HeaderLabel::Borrowed("svix-id"),
    HeaderLabel::Borrowed("svix-timestamp"),
    HeaderLabel::Borrowed("svix-signature"),
];

/// The `webhook-*` names if the request has any of them, else the `svix-*`
/// names if it has any of those, else `webhook-*` (for the errors).
fn names(headers: &HeaderMap) -> &'static Names {
    let has_any = |names: &Names| names.iter().any(|n| headers.contains_key(n.as_ref()));
    if !has_any(&WEBHOOK) && has_any(&SVIX) {
        &SVIX
    } else {
        &WEBHOOK
    }
}

/// Parses `whsec_<base64>` (the prefix is optional, padding too).
pub(super) fn parse_secret(text: &str) -> Result<Secret, SecretError> {
    let text = text.trim();
    let encoded = text.strip_prefix("whsec_").unwrap_or(text);
    if encoded.is_empty() {
        return Err(SecretError::Empty);
    }
    let key = LENIENT
        .decode(encoded)
        .map_err(|_| SecretError::NotBase64)?;
    Secret::from_bytes(key)
}

fn signed_mac(secret: &Secret, id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    mac(
        Algorithm::Sha256,
        secret.key(),
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    )
}

pub(super) fn sign(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "v1,{}",
        STANDARD.encode(signed_mac(secret, id, &timestamp.to_string(), body))
    )
}

/// Accepts the request if its timestamp is within the tolerance of `now`
/// and any `v1` signature matches any secret. Unknown versions (`v1a`,
/// `v2`, …) are skipped; comparisons are constant-time.
pub(super) fn verify(
    verifier: &Verifier,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<Verified, VerifyError> {
    let [id_name, ts_name, sig_name] = names(headers);
    let id = require(headers, id_name)?;
    let timestamp = require(headers, ts_name)?;
    let signature = require(headers, sig_name)?;

    let sent = check_timestamp(ts_name, timestamp, now, verifier.tolerance)?;
    let candidates: Vec<Vec<u8>> = signature
        .split_whitespace()
        .take(MAX_SIGNATURES)
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|sig| LENIENT.decode(sig).ok())
        .filter(|sig| sig.len() == 32)
        .collect();
    // The timestamp is MACed exactly as sent, not re-rendered.
    let timestamp = timestamp.trim();
    let parts: [&[u8]; 5] = [id.as_bytes(), b".", timestamp.as_bytes(), b".", body];
    if !verifier.any_secret_matches(Algorithm::Sha256, &parts, &candidates) {
        return Err(VerifyError::NoMatch(sig_name.clone()));
    }
    Ok(Verified {
        webhook_id: checked_id(id_name, id)?,
        event_type: None,
        timestamp: Some(sent),
        challenge: None,
    })
}

pub(super) fn extract(headers: &HeaderMap, body: &[u8]) -> Result<Verified, VerifyError> {
    let [id_name, ts_name, _] = names(headers);
    let webhook_id = match header(headers, id_name)? {
        Some(id) => checked_id(id_name, id)?,
        None => content_id(&[body]),
    };
    let timestamp = header(headers, ts_name)?.and_then(|t| t.trim().parse().ok());
    Ok(Verified {
        webhook_id,
        event_type: None,
        timestamp,
        challenge: None,
    })
}

#[cfg(test)]
mod tests {
    //! Known-answer vectors and negative cases from the Standard Webhooks
    //! reference libraries (shared/spec/standard-webhooks.md).
    use super::super::SourceKind;
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// The three headers as the pre-`HeaderMap` API took them.
    #[derive(Clone, Copy, Default)]
    pub(super) struct SignedHeaders<'a> {
        pub(super) id: Option<&'a str>,
        pub(super) timestamp: Option<&'a str>,
        pub(super) signature: Option<&'a str>,
    }

    impl SignedHeaders<'_> {
        fn map(self) -> HeaderMap {
            let mut map = HeaderMap::new();
            for (name, value) in [
                ("webhook-id", self.id),
                ("webhook-timestamp", self.timestamp),
                ("webhook-signature", self.signature),
            ] {
                // Bytes a header cannot hold (controls) leave it out.
                if let Some(Ok(value)) = value.map(|v| http::HeaderValue::from_bytes(v.as_bytes()))
                {
                    map.insert(name, value);
                }
            }
            map
        }
    }

    pub(super) fn parse(text: &str) -> Result<Secret, SecretError> {
        Secret::parse(&SourceKind::StandardWebhooks, text)
    }

    pub(super) fn new_verifier(secrets: Vec<Secret>, tolerance: Duration) -> Verifier {
        Verifier::new(SourceKind::StandardWebhooks, secrets, tolerance)
    }

    pub(super) fn verify(
        v: &Verifier,
        headers: SignedHeaders<'_>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), VerifyError> {
        v.verify(&headers.map(), body, now).map(|_| ())
    }

    const V1_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const V1_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const V1_TS: i64 = 1614265330;
    const V1_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const V1_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    const WRONG: &str = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";

    fn at(ts: i64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(ts as u64)
    }

    fn verifier(secret: &str) -> Verifier {
        new_verifier(vec![parse(secret).unwrap()], Duration::from_secs(300))
    }

    fn check(
        secret: &str,
        id: &str,
        ts: &str,
        sig: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), VerifyError> {
        let headers = SignedHeaders {
            id: Some(id),
            timestamp: Some(ts),
            signature: Some(sig),
        };
        verify(&verifier(secret), headers, body, at(now))
    }

    #[test]
    fn known_answer_vectors_sign_and_verify() {
        let vectors: &[(&str, &str, i64, &[u8], &str)] = &[
            (V1_SECRET, V1_ID, V1_TS, V1_BODY, V1_SIG),
            (
                "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                br#"{"email":"test@example.com","username":"test_user"}"#,
                "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
            ),
            (
                // 18-byte key: below the spec's minimum, still accepted.
                "whsec_plJ3nmyCDGBKInavdOK15jsl",
                "msg_loFOjxBNrRLzqYUf",
                1731705121,
                br#"{"event_type":"ping","data":{"success":true}}"#,
                "v1,rAvfW3dJ/X/qxhsaXPOyyCGmRKsaKWcsNccKXlIktD0=",
            ),
        ];
        for (secret, id, ts, body, sig) in vectors {
            assert_eq!(parse(secret).unwrap().sign(id, *ts, body), *sig);
            assert_eq!(check(secret, id, &ts.to_string(), sig, body, *ts), Ok(()));
        }
    }

    #[test]
    fn secret_with_and_without_prefix_and_padding() {
        let ts = V1_TS.to_string();
        assert_eq!(
            check(
                "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                V1_ID,
                &ts,
                V1_SIG,
                V1_BODY,
                V1_TS
            ),
            Ok(())
        );
        let unpadded = parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS").unwrap();
        assert_eq!(
            unpadded.sign(V1_ID, V1_TS, V1_BODY),
            "v1,LVOXivKoo4FWasi/IaHvzhE/u+7/cu2AME+zS/nXqzk="
        );
    }

    #[test]
    fn empty_or_garbage_secrets_are_config_errors() {
        assert_eq!(parse("").unwrap_err(), SecretError::Empty);
        assert_eq!(parse("whsec_").unwrap_err(), SecretError::Empty);
        assert_eq!(parse("whsec_***").unwrap_err(), SecretError::NotBase64);
        assert_eq!(
            format!("{:?}", parse(V1_SECRET).unwrap()),
            "Secret(<redacted>)"
        );
    }

    #[test]
    fn multi_signature_header_matches_the_third_of_four() {
        let header =
            format!("{WRONG} v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= {V1_SIG} {WRONG}");
        assert_eq!(
            check(
                V1_SECRET,
                V1_ID,
                &V1_TS.to_string(),
                &header,
                V1_BODY,
                V1_TS
            ),
            Ok(())
        );
    }

    #[test]
    fn rotation_accepts_any_configured_secret() {
        let v = new_verifier(
            vec![
                parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap(),
                parse(V1_SECRET).unwrap(),
            ],
            Duration::from_secs(300),
        );
        let headers = SignedHeaders {
            id: Some(V1_ID),
            timestamp: Some("1614265330"),
            signature: Some(V1_SIG),
        };
        assert_eq!(verify(&v, headers, V1_BODY, at(V1_TS)), Ok(()));
    }

    #[test]
    fn negative_cases_are_rejected() {
        let ts = V1_TS.to_string();
        let truncated = &V1_SIG[..8];
        for sig in [
            WRONG,
            "v1,",
            truncated,
            "v1,dawfeoifkpqwoekfpqoekf",
            &format!("{WRONG} {WRONG}"),
            "",
            "v1a,abc",
        ] {
            assert_eq!(
                check(V1_SECRET, V1_ID, &ts, sig, V1_BODY, V1_TS),
                Err(VerifyError::NoMatch("webhook-signature".into())),
                "{sig:?}"
            );
        }
        assert_eq!(
            check(V1_SECRET, V1_ID, "hello", V1_SIG, V1_BODY, V1_TS),
            Err(VerifyError::BadTimestamp("webhook-timestamp".into()))
        );
        // The body is MACed as bytes: re-serialising it breaks the signature.
        assert_eq!(
            check(
                V1_SECRET,
                V1_ID,
                &ts,
                V1_SIG,
                br#"{"test":2432232314}"#,
                V1_TS
            ),
            Err(VerifyError::NoMatch("webhook-signature".into()))
        );
    }

    #[test]
    fn missing_headers_are_named() {
        let v = verifier(V1_SECRET);
        let full = SignedHeaders {
            id: Some(V1_ID),
            timestamp: Some("1614265330"),
            signature: Some(V1_SIG),
        };
        for (headers, name) in [
            (SignedHeaders { id: None, ..full }, "webhook-id"),
            (
                SignedHeaders {
                    timestamp: None,
                    ..full
                },
                "webhook-timestamp",
            ),
            (
                SignedHeaders {
                    signature: None,
                    ..full
                },
                "webhook-signature",
            ),
        ] {
            assert_eq!(
                verify(&v, headers, V1_BODY, at(V1_TS)),
                Err(VerifyError::MissingHeader(name.into()))
            );
        }
    }

    #[test]
    fn timestamps_outside_the_tolerance_are_rejected_even_when_signed() {
        let secret = parse(V1_SECRET).unwrap();
        let now = V1_TS;
        for (ts, ok) in [
            (now - 301, false),
            (now + 301, false),
            (now - 300, true),
            (now + 300, true),
        ] {
            let sig = secret.sign(V1_ID, ts, V1_BODY);
            let result = check(V1_SECRET, V1_ID, &ts.to_string(), &sig, V1_BODY, now);
            assert_eq!(result.is_ok(), ok, "ts {ts}: {result:?}");
        }
        assert!(matches!(
            check(
                V1_SECRET,
                V1_ID,
                &(now - 301).to_string(),
                V1_SIG,
                V1_BODY,
                now
            ),
            Err(VerifyError::TooOld { age_secs: 301, .. })
        ));
    }
}

/// Arbitrary headers, secrets and bodies: parsing and verification never
/// panic; a genuine signature verifies, and any change to the body, id or
/// timestamp does not.
#[cfg(test)]
mod fuzz {
    use super::tests::{SignedHeaders, new_verifier, parse, verify};
    use proptest::prelude::*;
    use std::time::{Duration, UNIX_EPOCH};

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn header() -> impl Strategy<Value = Option<String>> {
        prop::option::of(prop_oneof![
            "\\PC{0,60}",
            "v1,[A-Za-z0-9+/=]{0,60}( v1,[A-Za-z0-9+/=]{0,50}){0,3}",
            "-?[0-9]{0,21}",
            "[ -~]{0,80}",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn arbitrary_input_is_an_error_never_a_panic(
            secret in "\\PC{0,50}",
            id in header(),
            timestamp in header(),
            signature in header(),
            body in prop::collection::vec(any::<u8>(), 0..200),
            now in any::<u32>(),
        ) {
            let _ = parse(&secret);
            let verifier = new_verifier(vec![parse(SECRET).unwrap()], Duration::from_secs(300));
            let headers = SignedHeaders {
                id: id.as_deref(),
                timestamp: timestamp.as_deref(),
                signature: signature.as_deref(),
            };
            let _ = verify(&verifier, headers, &body, UNIX_EPOCH + Duration::from_secs(now as u64));
        }

        #[test]
        fn only_the_signed_message_verifies(
            id in "[a-zA-Z0-9_]{1,30}",
            ts in 1_000_000_000i64..4_000_000_000,
            body in prop::collection::vec(any::<u8>(), 1..200),
            flip in any::<prop::sample::Index>(),
        ) {
            let secret = parse(SECRET).unwrap();
            let verifier = new_verifier(vec![secret.clone()], Duration::from_secs(300));
            let signature = secret.sign(&id, ts, &body);
            let now = UNIX_EPOCH + Duration::from_secs(ts as u64);
            let ts_text = ts.to_string();
            let ok = SignedHeaders { id: Some(&id), timestamp: Some(&ts_text), signature: Some(&signature) };
            prop_assert!(verify(&verifier, ok, &body, now).is_ok());

            let mut changed = body.clone();
            let i = flip.index(changed.len());
            changed[i] ^= 0x01;
            prop_assert!(verify(&verifier, ok, &changed, now).is_err());
            let other_id = format!("{id}x");
            let wrong_id = SignedHeaders { id: Some(&other_id), ..ok };
            prop_assert!(verify(&verifier, wrong_id, &body, now).is_err());
            let later = (ts + 1).to_string();
            let wrong_ts = SignedHeaders { timestamp: Some(&later), ..ok };
            prop_assert!(verify(&verifier, wrong_ts, &body, now).is_err());
        }
    }
}
