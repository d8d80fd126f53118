//! The fixture cases from `tests/fixtures/expected/customerio.*.json`, and
//! the edge cases around them.

use hookwasm_sdk::testing::{Case, delivered, delivered_json, odd_variants, read_json};
use hookwasm_sdk::{Event, Outcome, Value, call, json};

use crate::CustomerIo;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");

fn run(event: &Event) -> Result<Outcome, String> {
    call::<CustomerIo>(event)
}

/// A Dodo fixture payload, to be altered by an edge case.
fn dodo(event_type: &str) -> Value {
    read_json(format!("{FIXTURES}/dodo/{event_type}.json").as_ref())
}

fn event(payload: &Value) -> Event {
    Event::from_payload("test", "msg_1", payload.to_string())
}

/// The `payment.succeeded` batch's two operations.
fn batch(event: &Event) -> (Value, Value) {
    let body = delivered_json(&run(event));
    (body["batch"][0].clone(), body["batch"][1].clone())
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
        let case = Case::load(FIXTURES, &format!("customerio.{name}"));
        case.check(&run(&case.event));
    }
}

#[test]
fn eu_endpoint_keeps_its_origin() {
    let payload = dodo("subscription.active");
    for url in [
        "https://track-eu.customer.io",
        "https://track-eu.customer.io/",
        "https://track-eu.customer.io/api/v2/entity",
    ] {
        let event = event(&payload).with_endpoint_url(url);
        assert_eq!(
            delivered(&run(&event)).url,
            "https://track-eu.customer.io/api/v2/entity"
        );
    }
    let local = event(&dodo("payment.succeeded")).with_endpoint_url("http://127.0.0.1:8080/x");
    assert_eq!(
        delivered(&run(&local)).url,
        "http://127.0.0.1:8080/api/v2/batch"
    );

    let bad = event(&payload).with_endpoint_url("track-eu.customer.io");
    assert_eq!(
        run(&bad).unwrap_err(),
        "customerio: subscription.active: the endpoint url \"track-eu.customer.io\" is not an absolute URL"
    );
}

#[test]
fn identify_and_event_share_identifiers_and_time() {
    let (identify, event_op) = batch(&event(&dodo("payment.succeeded")));
    assert_eq!(identify["identifiers"], event_op["identifiers"]);
    assert_eq!(identify["timestamp"], event_op["timestamp"]);
    assert!(
        identify.get("id").is_none(),
        "only event operations carry an id"
    );
    assert_eq!(event_op["id"].as_str().unwrap().len(), 26);
}

#[test]
fn event_id_is_stable_and_per_endpoint() {
    let payload = dodo("subscription.cancelled").to_string();
    let id = |endpoint: &str| {
        let event = Event::from_payload(endpoint, "msg_1", payload.clone());
        delivered_json(&run(&event))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(id("a"), id("a"));
    assert_ne!(id("a"), id("b"));
    // Same millisecond, so the same time prefix.
    assert_eq!(id("a")[..10], id("b")[..10]);
}

#[test]
fn amounts_follow_the_currency() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["currency"] = json!("JPY");
    payload["data"]["total_amount"] = json!(500);
    let (identify, event_op) = batch(&event(&payload));
    assert_eq!(identify["attributes"]["last_payment_amount"], "500");
    assert_eq!(identify["attributes"]["last_payment_currency"], "JPY");
    assert_eq!(event_op["attributes"]["payment_amount"], "500");

    let mut payload = dodo("subscription.active");
    payload["data"]["currency"] = json!("KWD");
    payload["data"]["recurring_pre_tax_amount"] = json!(1234);
    assert_eq!(
        delivered_json(&run(&event(&payload)))["attributes"]["amount"],
        "1.234"
    );
}

#[test]
fn defaults_and_nulls() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["currency"] = Value::Null;
    payload["data"]["payment_method"] = Value::Null;
    payload["data"]["customer"]["name"] = Value::Null;
    let (identify, event_op) = batch(&event(&payload));
    assert_eq!(identify["attributes"]["last_payment_currency"], "USD");
    assert_eq!(identify["attributes"]["last_payment_method"], "unknown");
    assert_eq!(event_op["attributes"]["payment_method"], "unknown");
    assert!(identify["attributes"].get("name").is_none());
    assert!(event_op["attributes"].get("name").is_none());

    let mut payload = dodo("subscription.cancelled");
    payload["data"]["cancelled_at"] = Value::Null;
    let attributes = delivered_json(&run(&event(&payload)))["attributes"].clone();
    assert!(attributes.get("cancelled_at").is_none());
    assert_eq!(attributes["cancel_at_next_billing"], true);
}

#[test]
fn unicode_names_pass_through() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["customer"]["name"] = json!("Zoë 山田 🚀");
    let (identify, _) = batch(&event(&payload));
    assert_eq!(identify["attributes"]["name"], "Zoë 山田 🚀");
}

#[test]
fn email_identifies_a_customer_without_id() {
    let mut payload = dodo("subscription.active");
    payload["data"]["customer"]["customer_id"] = Value::Null;
    let body = delivered_json(&run(&event(&payload)));
    assert_eq!(
        body["identifiers"],
        json!({"email": "jane.doe@example.com"})
    );
}

#[test]
fn errors_name_the_field() {
    let cases = [
        (
            "payment.succeeded",
            json!({"customer": {"name": "Jane"}}),
            "data.customer.customer_id is missing",
        ),
        (
            "payment.succeeded",
            json!({"customer": {"customer_id": 7}}),
            "data.customer.customer_id is not a string",
        ),
        (
            "subscription.active",
            json!({"recurring_pre_tax_amount": "15.00"}),
            "data.recurring_pre_tax_amount is not an integer",
        ),
    ];
    for (event_type, data_patch, message) in cases {
        let mut payload = dodo(event_type);
        for (key, value) in data_patch.as_object().unwrap() {
            payload["data"][key] = value.clone();
        }
        assert_eq!(
            run(&event(&payload)).unwrap_err(),
            format!("customerio: {event_type}: {message}")
        );
    }

    let mut payload = dodo("subscription.cancelled");
    payload.as_object_mut().unwrap().remove("timestamp");
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "customerio: subscription.cancelled: timestamp is missing"
    );
    payload["timestamp"] = json!("2025-03-02 at noon");
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "customerio: subscription.cancelled: timestamp is not an RFC 3339 date-time"
    );
    payload["timestamp"] = json!("1969-07-20T20:17:40Z");
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "customerio: subscription.cancelled: timestamp is not a date-time from 1970 on"
    );
}

#[test]
fn payloads_that_are_not_objects() {
    for (payload, message) in [
        ("", "payload is empty"),
        ("[]", "payload is not a JSON object"),
        ("null", "payload is not a JSON object"),
        (
            "{{",
            "payload is not JSON: key must be a string at line 1 column 2",
        ),
    ] {
        let event =
            Event::from_payload("test", "msg_1", payload).with_event_type("subscription.active");
        assert_eq!(
            run(&event).unwrap_err(),
            format!("customerio: subscription.active: {message}")
        );
    }
}

#[test]
fn other_event_types_are_skipped() {
    for event_type in [
        "payment.failed",
        "dispute.opened",
        "subscription.renewed",
        "unknown",
    ] {
        let event = event(&dodo("payment.succeeded")).with_event_type(event_type);
        assert!(
            run(&event)
                .unwrap()
                .skip_reason()
                .unwrap()
                .contains("customerio maps")
        );
    }
}

#[test]
fn never_panics_on_odd_payloads() {
    let mut runs = 0;
    for event_type in [
        "payment.succeeded",
        "payment.failed",
        "subscription.active",
        "subscription.cancelled",
        "dispute.opened",
        "refund.succeeded",
    ] {
        for variant in odd_variants(&dodo(event_type)) {
            let event = Event::from_payload("test", "msg_1", variant.to_string())
                .with_event_type(event_type);
            if let Err(message) = run(&event) {
                assert!(message.starts_with("customerio: "), "{message}");
                assert!(!message.contains(['\r', '\n']), "{message:?}");
            }
            runs += 1;
        }
    }
    assert!(runs > 1_000, "only {runs} variants");
}
