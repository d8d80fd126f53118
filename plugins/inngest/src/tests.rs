//! The fixture cases from `tests/fixtures/expected/inngest.*.json`, and the
//! edge cases around them.

use hookwasm_sdk::testing::{Case, delivered, delivered_json, odd_variants, read_json};
use hookwasm_sdk::{Event, Outcome, Value, call, json};

use crate::Inngest;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");
const URL: &str = "https://inn.gs/e/EXAMPLE_EVENT_KEY";

fn run(event: &Event) -> Result<Outcome, String> {
    call::<Inngest>(event)
}

/// A Dodo fixture payload, to be altered by an edge case.
fn dodo(event_type: &str) -> Value {
    read_json(format!("{FIXTURES}/dodo/{event_type}.json").as_ref())
}

fn event(payload: &Value) -> Event {
    Event::from_payload("test", "msg_1", payload.to_string()).with_endpoint_url(URL)
}

fn body(event: &Event) -> Value {
    delivered_json(&run(event))
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
        let case = Case::load(FIXTURES, &format!("inngest.{name}"));
        case.check(&run(&case.event));
    }
}

#[test]
fn the_url_is_required_and_kept_as_is() {
    let payload = dodo("payment.succeeded");
    let event_without_url = Event::from_payload("test", "msg_1", payload.to_string());
    assert_eq!(
        run(&event_without_url).unwrap_err(),
        "inngest: payment.succeeded: the endpoint has no url; set `url` in its config"
    );
    let self_hosted = event(&payload).with_endpoint_url("http://127.0.0.1:8288/e/dev?x=1");
    assert_eq!(
        delivered(&run(&self_hosted)).url,
        "http://127.0.0.1:8288/e/dev?x=1"
    );
}

#[test]
fn name_prefix_applies_to_every_name() {
    for (event_type, name) in [
        ("payment.succeeded", "dodo/payment.succeeded"),
        ("subscription.active", "dodo/subscription.started"),
        ("dispute.opened", "dodo/dispute.opened"),
        ("refund.succeeded", "dodo/refund.succeeded"),
    ] {
        let event = event(&dodo(event_type)).with_setting("name_prefix", "dodo/");
        assert_eq!(body(&event)["name"], name);
    }
}

#[test]
fn id_is_the_delivery_key_and_ts_is_milliseconds() {
    let mut payload = dodo("subscription.cancelled");
    payload["timestamp"] = json!("2025-03-02T10:14:27.5+01:00");
    let event =
        Event::from_payload("inngest-prod", "msg_9", payload.to_string()).with_endpoint_url(URL);
    let body = body(&event);
    assert_eq!(body["id"], "inngest-prod:msg_9");
    assert_eq!(body["ts"], 1_740_906_867_500i64);
}

#[test]
fn timestamp_errors() {
    let mut payload = dodo("payment.succeeded");
    payload["timestamp"] = json!(1736983812);
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "inngest: payment.succeeded: timestamp is not a string"
    );
    payload.as_object_mut().unwrap().remove("timestamp");
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "inngest: payment.succeeded: timestamp is missing"
    );
}

#[test]
fn amounts_and_defaults() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["currency"] = json!("JPY");
    payload["data"]["total_amount"] = json!(500);
    payload["data"]["payment_method"] = Value::Null;
    let data = body(&event(&payload))["data"].clone();
    assert_eq!(
        (data["amount"].as_str(), data["currency"].as_str()),
        (Some("500"), Some("JPY"))
    );
    assert_eq!(data["payment_method"], "unknown");

    payload["data"]["currency"] = Value::Null;
    payload["data"]["total_amount"] = json!(-250);
    let data = body(&event(&payload))["data"].clone();
    assert_eq!(
        (data["amount"].as_str(), data["currency"].as_str()),
        (Some("-2.50"), Some("USD"))
    );

    let mut payload = dodo("subscription.active");
    payload["data"]["currency"] = json!("KWD");
    payload["data"]["recurring_pre_tax_amount"] = json!(1234);
    assert_eq!(body(&event(&payload))["data"]["amount"], "1.234");
}

#[test]
fn disputes() {
    let mut payload = dodo("dispute.opened");
    payload["data"]["amount"] = json!(500);
    payload["data"]["currency"] = json!("JPY");
    payload["data"]["customer"] = Value::Null;
    payload["type"] = json!("dispute.challenged");
    let body = body(&event(&payload));
    assert_eq!(body["name"], "dispute.challenged");
    assert_eq!(body["data"]["amount"], "500");
    assert_eq!(body["data"]["urgent"], false);
    assert_eq!(body["user"], json!({"email": "unknown"}));

    let mut payload = dodo("dispute.opened");
    payload["data"]["amount"] = json!({"value": 1});
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "inngest: dispute.opened: data.amount is not an integer"
    );
}

#[test]
fn users_without_email() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["customer"]["email"] = Value::Null;
    payload["data"]["customer"]["name"] = json!("Zoë 山田");
    let body = body(&event(&payload));
    assert_eq!(body["user"], json!({}));
    assert!(body["data"].get("customer_email").is_none());
    assert_eq!(body["data"]["customer_name"], "Zoë 山田");

    let license = json!({"type": "license_key.created", "timestamp": "2025-01-01T00:00:00Z",
                         "data": {"id": "lic_1"}});
    let body = self::body(&event(&license));
    assert_eq!(body["user"], json!({}));
    assert_eq!(body["data"], json!({"id": "lic_1"}));

    let no_data = json!({"type": "payout.paid", "timestamp": "2025-01-01T00:00:00Z"});
    assert_eq!(self::body(&event(&no_data))["data"], json!({}));
}

#[test]
fn payloads_that_are_not_objects() {
    for (payload, message) in [
        ("", "payload is empty"),
        ("\"text\"", "payload is not a JSON object"),
        (
            "{\"a\":1,}",
            "payload is not JSON: trailing comma at line 1 column 8",
        ),
    ] {
        let event = Event::from_payload("test", "msg_1", payload)
            .with_event_type("payment.succeeded")
            .with_endpoint_url(URL);
        assert_eq!(
            run(&event).unwrap_err(),
            format!("inngest: payment.succeeded: {message}")
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
                .with_event_type(event_type)
                .with_endpoint_url(URL);
            if let Err(message) = run(&event) {
                assert!(message.starts_with("inngest: "), "{message}");
                assert!(!message.contains(['\r', '\n']), "{message:?}");
            }
            runs += 1;
        }
    }
    assert!(runs > 1_000, "only {runs} variants");
}
