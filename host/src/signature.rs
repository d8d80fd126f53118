//! Standard Webhooks signatures: verifies what senders sign (HMAC-SHA256 over
//! `"{id}.{timestamp}.{body}"`, `v1,<base64>` entries) and signs what
//! `hookwasm send` posts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

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

/// A decoded signing secret. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the secret is empty")]
    Empty,
    #[error("the secret is not base64 after its `whsec_` prefix")]
    NotBase64,
}

impl Secret {
    /// Parses `whsec_<base64>` (the prefix is optional, padding too).
    pub fn parse(text: &str) -> Result<Secret, SecretError> {
        let text = text.trim();
        let encoded = text.strip_prefix("whsec_").unwrap_or(text);
        if encoded.is_empty() {
            return Err(SecretError::Empty);
        }
        let key = LENIENT
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Secret(key))
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
        // HMAC accepts keys of any length.
        let mut mac = HmacSha256::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key size"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    /// The `webhook-signature` header value for this message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!(
            "v1,{}",
            STANDARD.encode(self.mac(id, &timestamp.to_string(), body))
        )
    }
}

/// Why a request was not accepted as signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("webhook-timestamp is not an integer number of seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is {age_secs} s old, outside the {tolerance_secs} s tolerance")]
    TooOld { age_secs: u64, tolerance_secs: u64 },
    #[error(
        "webhook-timestamp is {ahead_secs} s in the future, outside the {tolerance_secs} s tolerance"
    )]
    TooNew {
        ahead_secs: u64,
        tolerance_secs: u64,
    },
    #[error(
        "no valid signature: none of the webhook-signature entries matches a configured secret"
    )]
    NoMatch,
}

/// The three Standard Webhooks headers, as received.
#[derive(Clone, Copy, Debug, Default)]
pub struct SignedHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Checks signatures for one source, against any of its secrets (several
/// during a rotation).
#[derive(Clone, Debug)]
pub struct Verifier {
    secrets: Vec<Secret>,
    tolerance: Duration,
}

impl Verifier {
    pub fn new(secrets: Vec<Secret>, tolerance: Duration) -> Self {
        Verifier { secrets, tolerance }
    }

    pub fn secrets(&self) -> &[Secret] {
        &self.secrets
    }

    /// Accepts the request if its timestamp is within the tolerance of `now`
    /// and any `v1` signature matches any secret. Unknown versions (`v1a`,
    /// `v2`, …) are skipped; comparisons are constant-time.
    pub fn verify(
        &self,
        headers: SignedHeaders<'_>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), VerifyError> {
        let id = headers.id.ok_or(VerifyError::MissingHeader("webhook-id"))?;
        let timestamp = headers
            .timestamp
            .ok_or(VerifyError::MissingHeader("webhook-timestamp"))?;
        let signature = headers
            .signature
            .ok_or(VerifyError::MissingHeader("webhook-signature"))?;

        let sent: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| VerifyError::BadTimestamp)?;
        let now = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let tolerance_secs = self.tolerance.as_secs();
        let delta = now.saturating_sub(sent);
        if delta > tolerance_secs as i64 {
            return Err(VerifyError::TooOld {
                age_secs: delta.unsigned_abs(),
                tolerance_secs,
            });
        }
        if -delta > tolerance_secs as i64 {
            return Err(VerifyError::TooNew {
                ahead_secs: delta.unsigned_abs(),
                tolerance_secs,
            });
        }

        let candidates: Vec<Vec<u8>> = signature
            .split_whitespace()
            .take(MAX_SIGNATURES)
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|sig| LENIENT.decode(sig).ok())
            .filter(|sig| sig.len() == 32)
            .collect();
        // The timestamp is MACed exactly as sent, not re-rendered.
        let timestamp = timestamp.trim();
        for secret in &self.secrets {
            let expected = secret.mac(id, timestamp, body);
            let mut matched = subtle::Choice::from(0);
            for candidate in &candidates {
                matched |= expected.ct_eq(candidate.as_slice());
            }
            if bool::from(matched) {
                return Ok(());
            }
        }
        Err(VerifyError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    //! Known-answer vectors and negative cases from the Standard Webhooks
    //! reference libraries (shared/spec/standard-webhooks.md).
    use super::*;

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
        Verifier::new(
            vec![Secret::parse(secret).unwrap()],
            Duration::from_secs(300),
        )
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
        verifier(secret).verify(headers, body, at(now))
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
            assert_eq!(Secret::parse(secret).unwrap().sign(id, *ts, body), *sig);
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
        let unpadded = Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS").unwrap();
        assert_eq!(
            unpadded.sign(V1_ID, V1_TS, V1_BODY),
            "v1,LVOXivKoo4FWasi/IaHvzhE/u+7/cu2AME+zS/nXqzk="
        );
    }

    #[test]
    fn empty_or_garbage_secrets_are_config_errors() {
        assert_eq!(Secret::parse("").unwrap_err(), SecretError::Empty);
        assert_eq!(Secret::parse("whsec_").unwrap_err(), SecretError::Empty);
        assert_eq!(
            Secret::parse("whsec_***").unwrap_err(),
            SecretError::NotBase64
        );
        assert_eq!(
            format!("{:?}", Secret::parse(V1_SECRET).unwrap()),
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
        let v = Verifier::new(
            vec![
                Secret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap(),
                Secret::parse(V1_SECRET).unwrap(),
            ],
            Duration::from_secs(300),
        );
        let headers = SignedHeaders {
            id: Some(V1_ID),
            timestamp: Some("1614265330"),
            signature: Some(V1_SIG),
        };
        assert_eq!(v.verify(headers, V1_BODY, at(V1_TS)), Ok(()));
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
                Err(VerifyError::NoMatch),
                "{sig:?}"
            );
        }
        assert_eq!(
            check(V1_SECRET, V1_ID, "hello", V1_SIG, V1_BODY, V1_TS),
            Err(VerifyError::BadTimestamp)
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
            Err(VerifyError::NoMatch)
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
                v.verify(headers, V1_BODY, at(V1_TS)),
                Err(VerifyError::MissingHeader(name))
            );
        }
    }

    #[test]
    fn timestamps_outside_the_tolerance_are_rejected_even_when_signed() {
        let secret = Secret::parse(V1_SECRET).unwrap();
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
    use super::*;
    use proptest::prelude::*;

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
            let _ = Secret::parse(&secret);
            let verifier = Verifier::new(vec![Secret::parse(SECRET).unwrap()], Duration::from_secs(300));
            let headers = SignedHeaders {
                id: id.as_deref(),
                timestamp: timestamp.as_deref(),
                signature: signature.as_deref(),
            };
            let _ = verifier.verify(headers, &body, UNIX_EPOCH + Duration::from_secs(now as u64));
        }

        #[test]
        fn only_the_signed_message_verifies(
            id in "[a-zA-Z0-9_]{1,30}",
            ts in 1_000_000_000i64..4_000_000_000,
            body in prop::collection::vec(any::<u8>(), 1..200),
            flip in any::<prop::sample::Index>(),
        ) {
            let secret = Secret::parse(SECRET).unwrap();
            let verifier = Verifier::new(vec![secret.clone()], Duration::from_secs(300));
            let signature = secret.sign(&id, ts, &body);
            let now = UNIX_EPOCH + Duration::from_secs(ts as u64);
            let ts_text = ts.to_string();
            let ok = SignedHeaders { id: Some(&id), timestamp: Some(&ts_text), signature: Some(&signature) };
            prop_assert!(verifier.verify(ok, &body, now).is_ok());

            let mut changed = body.clone();
            let i = flip.index(changed.len());
            changed[i] ^= 0x01;
            prop_assert!(verifier.verify(ok, &changed, now).is_err());
            let other_id = format!("{id}x");
            let wrong_id = SignedHeaders { id: Some(&other_id), ..ok };
            prop_assert!(verifier.verify(wrong_id, &body, now).is_err());
            let later = (ts + 1).to_string();
            let wrong_ts = SignedHeaders { timestamp: Some(&later), ..ok };
            prop_assert!(verifier.verify(wrong_ts, &body, now).is_err());
        }
    }
}
