//! The fixture cases from `tests/fixtures/expected/windmill.*.json`, and the
//! edge cases around them.

use hookwasm_sdk::testing::{Case, delivered, delivered_json, odd_variants, read_json};
use hookwasm_sdk::{Event, Outcome, Value, call, json};

use crate::Windmill;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");
const FLOW: &str = "https://app.windmill.dev/api/w/acme/jobs/run/f/f/billing/dodo_payment_events";

fn run(event: &Event) -> Result<Outcome, String> {
    call::<Windmill>(event)
}

/// A Dodo fixture payload, to be altered by an edge case.
fn dodo(event_type: &str) -> Value {
    read_json(format!("{FIXTURES}/dodo/{event_type}.json").as_ref())
}

fn event(payload: &Value) -> Event {
    Event::from_payload("test", "msg_1", payload.to_string()).with_endpoint_url(FLOW)
}

fn inputs(event: &Event) -> Value {
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
        let case = Case::load(FIXTURES, &format!("windmill.{name}"));
        case.check(&run(&case.event));
    }
}

#[test]
fn the_url_is_required() {
    let event = Event::from_payload("test", "msg_1", dodo("payment.succeeded").to_string());
    assert_eq!(
        run(&event).unwrap_err(),
        "windmill: payment.succeeded: the endpoint has no url; set `url` in its config"
    );
}

#[test]
fn job_id_joins_an_existing_query() {
    let payload = dodo("payment.succeeded");
    let job_id = "job_id=fd9e1f7e-1d73-5a4d-9f5a-7d2b2f1c0b4e";
    let url_for = |endpoint_url: &str| {
        let event = Event::from_payload("test", "msg_1", payload.to_string())
            .with_endpoint_url(endpoint_url);
        delivered(&run(&event)).url.clone()
    };
    let plain = url_for(FLOW);
    let (_, job) = plain.split_once('?').unwrap();
    assert!(
        job.starts_with("job_id=") && job.len() == job_id.len(),
        "{plain}"
    );

    assert_eq!(
        url_for(&format!("{FLOW}?token=secret")),
        format!("{FLOW}?token=secret&{job}")
    );
    assert_eq!(
        url_for(&format!("{FLOW}?token=secret&job_id=stale")),
        format!("{FLOW}?token=secret&{job}")
    );
    assert_eq!(
        url_for(&format!("{FLOW}#frag")),
        format!("{FLOW}?{job}#frag")
    );
}

#[test]
fn job_id_is_stable_and_per_endpoint() {
    let payload = dodo("dispute.opened").to_string();
    let url = |endpoint: &str| {
        let event = Event::from_payload(endpoint, "msg_1", payload.clone()).with_endpoint_url(FLOW);
        delivered(&run(&event)).url.clone()
    };
    assert_eq!(url("a"), url("a"));
    assert_ne!(url("a"), url("b"));
}

#[test]
fn payment_metadata_falls_back_and_omits() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]
        .as_object_mut()
        .unwrap()
        .remove("business_id");
    payload["data"]["product_cart"] = json!([]);
    assert_eq!(
        inputs(&event(&payload))["metadata"],
        json!({"business_id": "bus_8zK2pQeVn4RtXw7LmA1sD"})
    );

    payload.as_object_mut().unwrap().remove("business_id");
    payload["data"]["product_cart"] = Value::Null;
    assert_eq!(inputs(&event(&payload))["metadata"], json!({}));
}

#[test]
fn payment_defaults_and_currencies() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]
        .as_object_mut()
        .unwrap()
        .remove("payment_method");
    payload["data"]["currency"] = Value::Null;
    let body = inputs(&event(&payload));
    assert_eq!(
        (body["payment_method"].as_str(), body["currency"].as_str()),
        (Some("unknown"), Some("USD"))
    );

    payload["data"]["currency"] = json!("JPY");
    payload["data"]["total_amount"] = json!(500);
    assert_eq!(inputs(&event(&payload))["amount"], "500");

    payload["data"]["currency"] = json!("KWD");
    payload["data"]["total_amount"] = json!(1234);
    assert_eq!(inputs(&event(&payload))["amount"], "1.234");
}

#[test]
fn dispute_amounts_as_string_or_number() {
    let mut payload = dodo("dispute.opened");
    for amount in [json!("2159"), json!(2159)] {
        payload["data"]["amount"] = amount;
        assert_eq!(inputs(&event(&payload))["amount"], "21.59");
    }
    payload["data"]["amount"] = json!("21.59");
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "windmill: dispute.opened: data.amount is not an integer"
    );
}

#[test]
fn other_disputes_are_not_urgent() {
    let mut payload = dodo("dispute.opened");
    payload["type"] = json!("dispute.won");
    payload["data"]["remarks"] = json!("Evidence accepted");
    let body = inputs(&event(&payload));
    assert_eq!(body["event_type"], "dispute.won");
    assert_eq!(body["urgent"], false);
    assert_eq!(body["remarks"], "Evidence accepted");
}

#[test]
fn subscriptions_without_optional_fields() {
    let mut payload = dodo("subscription.active");
    payload["data"]["customer"] = json!({"email": "zoë@example.com", "name": "Zoë 山田"});
    payload["data"]["next_billing_date"] = Value::Null;
    let body = inputs(&event(&payload));
    assert!(body.get("customer_id").is_none());
    assert!(body.get("next_billing").is_none());
    assert_eq!(body["customer_name"], "Zoë 山田");
}

#[test]
fn unmapped_events_get_the_generic_shape() {
    let payload = json!({"business_id": "bus_1", "type": "license_key.created",
                         "timestamp": "2025-01-01T00:00:00Z", "data": {"id": "lic_1", "x": null}});
    let event = Event::from_payload("test", "msg_1", payload.to_string()).with_endpoint_url(FLOW);
    assert_eq!(
        inputs(&event),
        json!({"event_type": "license_key.created", "business_id": "bus_1",
               "timestamp": "2025-01-01T00:00:00Z", "data": {"id": "lic_1", "x": null}})
    );

    let bare =
        Event::from_payload("test", "msg_1", r#"{"type":"payout.paid"}"#).with_endpoint_url(FLOW);
    assert_eq!(inputs(&bare), json!({"event_type": "payout.paid"}));
}

#[test]
fn payloads_that_are_not_objects() {
    for (payload, message) in [
        ("", "payload is empty"),
        ("[1,2]", "payload is not a JSON object"),
        ("true", "payload is not a JSON object"),
        (
            "payment",
            "payload is not JSON: expected value at line 1 column 1",
        ),
    ] {
        let event = Event::from_payload("test", "msg_1", payload)
            .with_event_type("refund.succeeded")
            .with_endpoint_url(FLOW);
        assert_eq!(
            run(&event).unwrap_err(),
            format!("windmill: refund.succeeded: {message}")
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
                .with_endpoint_url(FLOW);
            if let Err(message) = run(&event) {
                assert!(message.starts_with("windmill: "), "{message}");
                assert!(!message.contains(['\r', '\n']), "{message:?}");
            }
            runs += 1;
        }
    }
    assert!(runs > 1_000, "only {runs} variants");
}
