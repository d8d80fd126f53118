//! Tests across the kinds: signing helpers round-trip through `verify`,
//! arbitrary headers and bodies never panic, and the shared helpers.

use super::*;
use proptest::prelude::*;

const NOW: i64 = 1_700_000_000;

fn at(ts: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(ts as u64)
}

fn generic() -> HmacScheme {
    serde_json::from_str(
        r#"{"header": "X-Acme-Signature", "prefix": "sha512=", "algorithm": "sha512",
            "encoding": "base64", "timestamp_header": "X-Acme-Time", "id_header": "X-Acme-Id",
            "signed": "{timestamp}:{id}:{body}", "event_type": {"pointer": "/type"}}"#,
    )
    .unwrap()
}

/// Every kind, with a secret text it accepts.
fn kinds() -> Vec<(SourceKind, &'static str)> {
    vec![
        (
            SourceKind::StandardWebhooks,
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ),
        (SourceKind::Stripe, "whsec_test_secret"),
        (SourceKind::Github, "It's a Secret to Everybody"),
        (SourceKind::Shopify, "hush"),
        (SourceKind::Slack, "8f742231b10e8888abcd99yyyzzz85a5"),
        (SourceKind::Hmac(generic()), "base64:AAEC"),
        (SourceKind::Hmac(HmacScheme::new("X-Plain")), "plain"),
    ]
}

/// What `signed_headers` leaves to the caller: the event-type headers.
fn with_event_headers(kind: &SourceKind, mut headers: HeaderMap) -> HeaderMap {
    match kind {
        SourceKind::Github => {
            headers.insert("x-github-event", "issues".parse().unwrap());
        }
        SourceKind::Shopify => {
            headers.insert("x-shopify-topic", "orders/create".parse().unwrap());
        }
        _ => {}
    }
    headers
}

fn verifier(kind: &SourceKind, secret: &str) -> Verifier {
    Verifier::new(
        kind.clone(),
        vec![Secret::parse(kind, secret).unwrap()],
        Duration::from_secs(300),
    )
}

const BODY: &[u8] = br#"{"id":"evt_1","type":"order.paid","action":"opened","event_id":"Ev1"}"#;

#[test]
fn signed_headers_verify_for_every_kind() {
    for (kind, text) in kinds() {
        let secret = Secret::parse(&kind, text).unwrap();
        let headers = with_event_headers(&kind, secret.signed_headers(&kind, "msg_1", NOW, BODY));
        let v = verifier(&kind, text)
            .verify(&headers, BODY, at(NOW))
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let (id, event_type) = match &kind {
            SourceKind::StandardWebhooks => ("msg_1", None),
            SourceKind::Stripe => ("evt_1", None),
            SourceKind::Github => ("msg_1", Some("issues.opened")),
            SourceKind::Shopify => ("msg_1", Some("orders/create")),
            SourceKind::Slack => ("Ev1", Some("order.paid")),
            SourceKind::Hmac(s) if s.id_header.is_some() => ("msg_1", Some("order.paid")),
            SourceKind::Hmac(_) => ("", None),
        };
        if id.is_empty() {
            assert!(v.webhook_id.starts_with("sha256:"), "{kind}");
        } else {
            assert_eq!(v.webhook_id, id, "{kind}");
        }
        assert_eq!(v.event_type.as_deref(), event_type, "{kind}");
        assert_eq!(v.timestamp.is_some(), kind.has_timestamp(), "{kind}");
        assert_eq!(v.timestamp.is_some_and(|t| t == NOW), kind.has_timestamp());

        // The same headers over another body, or with another secret, fail.
        let mut other = BODY.to_vec();
        other.push(b' ');
        let e = verifier(&kind, text)
            .verify(&headers, &other, at(NOW))
            .unwrap_err();
        assert!(matches!(e, VerifyError::NoMatch(_)), "{kind}: {e}");
        assert_eq!(e.status(), http::StatusCode::UNAUTHORIZED);
        assert_eq!(e.code(), "bad_signature");
        let wrong = match kind {
            SourceKind::StandardWebhooks => "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            _ => "base64:c29tZXRoaW5nIGVsc2U=",
        };
        let e = verifier(&kind, wrong).verify(&headers, BODY, at(NOW));
        assert!(matches!(e, Err(VerifyError::NoMatch(_))), "{kind}: {e:?}");
        // No secrets: nothing matches.
        let none = Verifier::new(kind.clone(), Vec::new(), Duration::from_secs(300));
        assert!(none.verify(&headers, BODY, at(NOW)).is_err(), "{kind}");

        // Extraction without verification agrees on id and type.
        let x = kind.extract(&headers, BODY).unwrap();
        assert_eq!(x.event_type, v.event_type, "{kind}");
        if !id.is_empty() {
            assert_eq!(x.webhook_id, v.webhook_id, "{kind}");
        }
    }
}

#[test]
fn stale_and_future_timestamps_fail_where_the_kind_has_them() {
    for (kind, text) in kinds() {
        let secret = Secret::parse(&kind, text).unwrap();
        let headers = with_event_headers(&kind, secret.signed_headers(&kind, "msg_1", NOW, BODY));
        let v = verifier(&kind, text);
        for now in [NOW - 301, NOW + 301] {
            let result = v.verify(&headers, BODY, at(now));
            if kind.has_timestamp() {
                assert!(
                    matches!(
                        result,
                        Err(VerifyError::TooOld { .. } | VerifyError::TooNew { .. })
                    ),
                    "{kind}: {result:?}"
                );
            } else {
                assert!(result.is_ok(), "{kind}: {result:?}");
            }
        }
    }
}

#[test]
fn oversize_and_non_ascii_headers_are_refused_by_name() {
    for (kind, text) in kinds() {
        let secret = Secret::parse(&kind, text).unwrap();
        let signed = with_event_headers(&kind, secret.signed_headers(&kind, "msg_1", NOW, BODY));
        for (name, value) in signed.iter() {
            let mut long = signed.clone();
            long.insert(name, "a".repeat(MAX_HEADER_LEN + 1).parse().unwrap());
            let e = verifier(&kind, text)
                .verify(&long, BODY, at(NOW))
                .unwrap_err();
            assert!(
                e.to_string()
                    .to_ascii_lowercase()
                    .starts_with(&format!("{name} header is longer than 4096 bytes")),
                "{kind} {name}: {e}"
            );
            let mut binary = signed.clone();
            let mut bytes = value.as_bytes().to_vec();
            bytes.push(0xff);
            binary.insert(name, http::HeaderValue::from_bytes(&bytes).unwrap());
            let e = verifier(&kind, text)
                .verify(&binary, BODY, at(NOW))
                .unwrap_err();
            assert_eq!(
                e.to_string().to_ascii_lowercase(),
                format!("{name} header is malformed: not visible ascii"),
                "{kind}"
            );
        }
    }
}

#[test]
fn messages_never_echo_a_secret_or_a_value() {
    let secret_text = "whsec_test_secret";
    let kind = SourceKind::Stripe;
    let mut headers = HeaderMap::new();
    headers.insert(
        "stripe-signature",
        "t=1,v1=whsec_test_secret".parse().unwrap(),
    );
    let e = verifier(&kind, secret_text)
        .verify(&headers, BODY, at(NOW))
        .unwrap_err();
    assert!(!e.to_string().contains(secret_text));
    assert!(!e.to_string().contains('\n'));
    assert_eq!(
        format!("{:?}", Secret::parse(&kind, secret_text).unwrap()),
        "Secret(<redacted>)"
    );
    let v = verifier(&kind, secret_text);
    assert!(!format!("{v:?}").contains("test_secret"));
}

#[test]
fn known_event_types() {
    let standard = SourceKind::StandardWebhooks;
    assert_eq!(standard.known_event_type("payment.succeeded"), Some(true));
    assert_eq!(standard.known_event_type("payout.created"), Some(true));
    assert_eq!(standard.known_event_type("payment.succeded"), Some(false));
    assert_eq!(
        SourceKind::Stripe.known_event_type("charge.succeeded"),
        None
    );
    assert_eq!(SourceKind::Github.known_event_type("push"), None);
    // Every sample payload's type is in the catalogue.
    for t in [
        "dispute.accepted",
        "dispute.cancelled",
        "dispute.challenged",
        "dispute.expired",
        "dispute.lost",
        "dispute.opened",
        "dispute.won",
        "license_key.created",
        "payment.cancelled",
        "payment.failed",
        "payment.processing",
        "payment.succeeded",
        "refund.failed",
        "refund.succeeded",
        "subscription.active",
        "subscription.cancelled",
        "subscription.expired",
        "subscription.failed",
        "subscription.on_hold",
        "subscription.plan_changed",
        "subscription.renewed",
    ] {
        assert_eq!(standard.known_event_type(t), Some(true), "{t}");
    }
}

#[test]
fn svix_header_names_are_the_same_scheme() {
    let kind = SourceKind::StandardWebhooks;
    let secret = Secret::parse(&kind, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".parse().unwrap());
    headers.insert("svix-timestamp", "1614265330".parse().unwrap());
    headers.insert(
        "svix-signature",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
            .parse()
            .unwrap(),
    );
    let v = Verifier::new(kind.clone(), vec![secret], Duration::from_secs(300));
    let body = br#"{"test": 2432232314}"#;
    let ok = v.verify(&headers, body, at(1614265330)).unwrap();
    assert_eq!(ok.webhook_id, "msg_p5jXN8AQM9LWM0D4loKWxJek");
    headers.remove("svix-timestamp");
    assert_eq!(
        v.verify(&headers, body, at(1614265330)).unwrap_err(),
        VerifyError::MissingHeader("svix-timestamp".into())
    );
    // With neither family present, the errors name webhook-*.
    assert_eq!(
        v.verify(&HeaderMap::new(), body, at(1614265330))
            .unwrap_err(),
        VerifyError::MissingHeader("webhook-id".into())
    );
}

#[test]
fn extract_falls_back_to_a_body_digest() {
    let a = SourceKind::StandardWebhooks
        .extract(&HeaderMap::new(), b"{}")
        .unwrap();
    let b = SourceKind::StandardWebhooks
        .extract(&HeaderMap::new(), b"{}")
        .unwrap();
    let c = SourceKind::StandardWebhooks
        .extract(&HeaderMap::new(), b"{ }")
        .unwrap();
    assert_eq!(a.webhook_id, b.webhook_id);
    assert_ne!(a.webhook_id, c.webhook_id);
    assert_eq!(a.webhook_id.len(), "sha256:".len() + 32);
    let mut bad = HeaderMap::new();
    bad.insert("webhook-id", "".parse().unwrap());
    let e = SourceKind::StandardWebhooks
        .extract(&bad, b"{}")
        .unwrap_err();
    assert_eq!(e, VerifyError::BadId("webhook-id".into()));
    assert_eq!(e.to_string(), "webhook-id must be 1–256 characters");
    assert_eq!(
        (e.status(), e.code()),
        (http::StatusCode::BAD_REQUEST, "bad_id")
    );
    // GitHub still needs its event header.
    assert_eq!(
        SourceKind::Github
            .extract(&HeaderMap::new(), b"{}")
            .unwrap_err(),
        VerifyError::MissingMetadata("X-GitHub-Event".into())
    );
}

#[test]
fn helpers() {
    assert_eq!(to_hex(&[0x00, 0xab, 0xff]), "00abff");
    assert_eq!(from_hex("00ABff"), Some(vec![0x00, 0xab, 0xff]));
    assert_eq!(from_hex("abc"), None);
    assert_eq!(from_hex("zz"), None);
    assert_eq!(from_hex("é0"), None);
    assert_eq!(
        form_field(b"a=1&payload=%7B%22x%22%3A+1%7D&b", "payload").as_deref(),
        Some(&b"{\"x\": 1}"[..])
    );
    assert_eq!(form_field(b"a=1&b", "b").as_deref(), Some(&b""[..]));
    assert_eq!(form_field(b"a=1", "c"), None);
    assert_eq!(percent_decode(b"%zz%4"), b"%zz%4");
    assert_eq!(percent_decode(b"%e2%82%ac"), "€".as_bytes());
    assert!(looks_like_json(b" \n{}"));
    assert!(!looks_like_json(b"payload=%7B"));
    let huge = Duration::from_secs(u64::MAX);
    assert!(check_timestamp(&"t".into(), "0", at(NOW), huge).is_ok());
    assert!(check_timestamp(&"t".into(), "-9223372036854775808", at(NOW), huge).is_ok());
    assert!(matches!(
        check_timestamp(&"t".into(), "-9223372036854775808", at(NOW), Duration::ZERO),
        Err(VerifyError::TooOld { .. })
    ));
    assert!(matches!(
        check_timestamp(&"t".into(), "9223372036854775807", at(NOW), Duration::ZERO),
        Err(VerifyError::TooNew { .. })
    ));
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "\\PC{0,60}".prop_map(String::into_bytes),
        "(t=[0-9]{0,12},)?(v[01][=,][0-9a-fA-F+/=]{0,70},?){0,3}".prop_map(String::into_bytes),
        "(sha256=|v0=|sha512=)?[0-9a-fA-F]{0,130}".prop_map(String::into_bytes),
        "-?[0-9]{0,21}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..80),
    ]
}

/// Names every kind reads, in assorted cases.
const NAMES: &[&str] = &[
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "Stripe-Signature",
    "X-Hub-Signature-256",
    "X-GitHub-Delivery",
    "X-GitHub-Event",
    "X-Shopify-Hmac-Sha256",
    "Shopify-Hmac-Sha256",
    "X-Shopify-Webhook-Id",
    "Shopify-Webhook-Id",
    "X-Shopify-Topic",
    "Shopify-Topic",
    "X-Slack-Signature",
    "X-Slack-Request-Timestamp",
    "X-Acme-Signature",
    "X-Acme-Time",
    "X-Acme-Id",
    "X-Plain",
];

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        r#"\{("(id|type|action|event_id|challenge|event|payload)": ?("[ -~]{0,20}"|\{"type": ?"[a-z]{0,8}"\}|[0-9]{1,5}|null),? ?){0,5}\}"#
            .prop_map(String::into_bytes),
        "((payload|command|a)=[%0-9A-Fa-f+]{0,30}&?){0,4}".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_requests_are_errors_or_verdicts_never_panics(
        pairs in prop::collection::vec((0..NAMES.len(), header_value()), 0..8),
        body in body(),
        secret in "\\PC{0,40}",
        now in any::<u32>(),
    ) {
        let mut headers = HeaderMap::new();
        for (i, value) in pairs {
            if let Ok(value) = http::HeaderValue::from_bytes(&value) {
                headers.append(http::HeaderName::from_bytes(NAMES[i].as_bytes()).unwrap(), value);
            }
        }
        for (kind, text) in kinds() {
            let _ = Secret::parse(&kind, &secret);
            let v = verifier(&kind, text);
            let _ = v.verify(&headers, &body, at(i64::from(now)));
            if let Ok(x) = kind.extract(&headers, &body) {
                prop_assert!(!x.webhook_id.is_empty() && x.webhook_id.len() <= MAX_ID_LEN);
            }
        }
    }

    #[test]
    fn only_the_signed_body_verifies(
        body in prop::collection::vec(any::<u8>(), 1..200),
        flip in any::<prop::sample::Index>(),
        id in "[a-zA-Z0-9_-]{1,40}",
        ts in 1_000_000_000i64..4_000_000_000,
    ) {
        for (kind, text) in kinds() {
            let secret = Secret::parse(&kind, text).unwrap();
            let headers = with_event_headers(&kind, secret.signed_headers(&kind, &id, ts, &body));
            let v = verifier(&kind, text);
            let result = v.verify(&headers, &body, at(ts));
            // A generic scheme reading its type from the payload needs JSON.
            let pointer = matches!(&kind, SourceKind::Hmac(s) if s.event_type.is_some());
            if pointer {
                prop_assert!(
                    matches!(result, Ok(_) | Err(VerifyError::MissingField(_))),
                    "{kind}: {result:?}"
                );
            } else {
                prop_assert!(result.is_ok(), "{kind}: {result:?}");
            }
            let mut changed = body.clone();
            let i = flip.index(changed.len());
            changed[i] ^= 0x01;
            prop_assert!(
                matches!(v.verify(&headers, &changed, at(ts)), Err(VerifyError::NoMatch(_))),
                "{kind}"
            );
        }
    }
}
