//! Standard Webhooks verification on arbitrary headers and bodies: never a
//! panic; a signature made with the secret verifies, and the same headers
//! over a different body do not.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../host/src/signature.rs"]
mod signature;

use signature::{Secret, SignedHeaders, Verifier};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fuzz_target!(|data: &[u8]| {
    // id \n timestamp \n signature \n secret \n body
    let mut parts = data.splitn(5, |b| *b == b'\n');
    let mut next = || parts.next().map(|p| String::from_utf8_lossy(p).into_owned());
    let (id, ts, sig, secret, body) = (next(), next(), next(), next(), next().unwrap_or_default());
    let _ = secret.as_deref().map(Secret::parse);

    let key = Secret::parse(SECRET).unwrap();
    let verifier = Verifier::new(vec![key.clone()], Duration::from_secs(300));
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let headers = SignedHeaders {
        id: id.as_deref(),
        timestamp: ts.as_deref(),
        signature: sig.as_deref(),
    };
    let _ = verifier.verify(headers, body.as_bytes(), now);

    let id = id.unwrap_or_default();
    let signed = key.sign(&id, 1_700_000_000, body.as_bytes());
    let good = SignedHeaders {
        id: Some(&id),
        timestamp: Some("1700000000"),
        signature: Some(&signed),
    };
    if !id.is_empty() {
        assert!(verifier.verify(good, body.as_bytes(), now).is_ok());
    }
    let mut other = body.clone().into_bytes();
    other.push(b'!');
    assert!(verifier.verify(good, &other, now).is_err());
});
