//! The fixture cases from `tests/fixtures/expected/webhook.*.json`, and the
//! edge cases around them.

use hookwasm_sdk::testing::{Case, delivered, odd_variants, read_json};
use hookwasm_sdk::{Event, Outcome, Value, call};

use crate::Webhook;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");
const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../host/samples/dodo");
const URL: &str = "https://hooks.shop.example/dodo";

fn run(event: &Event) -> Result<Outcome, String> {
    call::<Webhook>(event)
}

fn event(payload: &str) -> Event {
    Event::from_payload("test", "msg_1", payload).with_endpoint_url(URL)
}

/// Every sample payload of `host/samples/dodo`, as (file stem, text).
fn samples() -> Vec<(String, String)> {
    let mut samples: Vec<_> = std::fs::read_dir(SAMPLES)
        .expect("host/samples/dodo")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            (stem, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    samples.sort();
    samples
}

#[test]
fn fixture_cases() {
    for name in [
        "payment.succeeded",
        "payment.failed",
        "subscription.active",
        "subscription.cancelled",
        "dispute.opened",
        "refund.succeeded",
    ] {
        let case = Case::load(FIXTURES, &format!("webhook.{name}"));
        case.check(&run(&case.event));
    }
}

#[test]
fn the_body_is_the_payload_byte_for_byte() {
    // Whitespace, key order, repeated keys, escapes and Unicode all survive:
    // the receiver verifies and reads exactly what the sender wrote.
    let payload = "{ \"type\" : \"payment.succeeded\",\n\t\"data\": {\"b\": 1, \"a\": \"Zo\\u00eb 山田 🚀\", \"a\": null}, \"n\": 1.50e3 }";
    let result = run(&event(payload));
    let request = delivered(&result);
    assert_eq!(request.method, "POST");
    assert_eq!(request.url, URL);
    assert_eq!(request.body, payload.as_bytes());
    assert_eq!(
        request.headers,
        vec![hookwasm_sdk::Header {
            name: "content-type".into(),
            value: "application/json".into()
        }]
    );
}

#[test]
fn the_url_is_required_and_kept_as_is() {
    let payload = read_json(format!("{FIXTURES}/dodo/payment.succeeded.json").as_ref());
    let without_url = Event::from_payload("test", "msg_1", payload.to_string());
    assert_eq!(
        run(&without_url).unwrap_err(),
        "webhook: payment.succeeded: the endpoint has no url; set `url` in its config"
    );
    let empty_url = without_url.clone().with_endpoint_url("");
    assert!(run(&empty_url).is_err());

    let with_query = without_url.with_endpoint_url("http://127.0.0.1:9000/in?tenant=a#x");
    assert_eq!(
        delivered(&run(&with_query)).url,
        "http://127.0.0.1:9000/in?tenant=a#x"
    );
}

#[test]
fn every_dodo_event_type_is_forwarded() {
    let samples = samples();
    assert_eq!(samples.len(), 21, "one sample per Dodo event type");
    for (event_type, payload) in samples {
        let event = event(&payload);
        assert_eq!(event.event_type, event_type);
        let result = run(&event);
        assert_eq!(delivered(&result).body, payload.as_bytes(), "{event_type}");
    }
    // Types this plugin has never heard of, and no type at all, too.
    for event_type in ["payout.succeeded", "credit.added", ""] {
        let event = event("{}").with_event_type(event_type);
        assert_eq!(delivered(&run(&event)).body, b"{}");
    }
}

#[test]
fn huge_and_odd_payloads_are_forwarded_unchanged() {
    let huge = format!(
        "{{\"type\":\"payment.succeeded\",\"data\":{{\"note\":\"{}\"}}}}",
        "é".repeat(400_000)
    );
    assert_eq!(delivered(&run(&event(&huge))).body, huge.as_bytes());
    // Not for this plugin to judge: the host only hands it what it accepted.
    for payload in ["", "[]", "not json", "{\"type\":", "\u{0}\r\n"] {
        assert_eq!(delivered(&run(&event(payload))).body, payload.as_bytes());
    }
}

#[test]
fn never_panics_on_odd_payloads() {
    let mut runs = 0;
    for (_, payload) in samples() {
        let payload: Value = hookwasm_sdk::serde_json::from_str(&payload).unwrap();
        for variant in odd_variants(&payload) {
            let text = variant.to_string();
            let result = run(&event(&text));
            assert_eq!(delivered(&result).body, text.as_bytes());
            runs += 1;
        }
    }
    assert!(runs > 1_000, "only {runs} variants");
}
