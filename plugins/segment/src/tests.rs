//! The fixture cases from `tests/fixtures/expected/segment.*.json`, every
//! sample Dodo event type, and the edge cases around them.

use hookwasm_sdk::testing::{Case, delivered, delivered_json, odd_variants, read_json};
use hookwasm_sdk::{Event, Outcome, Value, call, json};

use crate::Segment;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");
const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../host/samples/dodo");

fn run(event: &Event) -> Result<Outcome, String> {
    call::<Segment>(event)
}

/// A Dodo fixture payload, to be altered by an edge case.
fn dodo(event_type: &str) -> Value {
    read_json(format!("{FIXTURES}/dodo/{event_type}.json").as_ref())
}

/// The sample payloads of all 21 Dodo event types, by type.
fn samples() -> Vec<(String, Value)> {
    let mut samples: Vec<(String, Value)> = std::fs::read_dir(SAMPLES)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            (name, read_json(&path))
        })
        .collect();
    samples.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(samples.len(), 21, "one sample per Dodo event type");
    samples
}

fn event(payload: &Value) -> Event {
    Event::from_payload("test", "msg_1", payload.to_string())
}

/// The batch's calls.
fn calls(payload: &Value) -> Vec<Value> {
    delivered_json(&run(&event(payload)))["batch"]
        .as_array()
        .unwrap()
        .clone()
}

/// The track call (always the last one).
fn track(payload: &Value) -> Value {
    calls(payload).pop().unwrap()
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
        let case = Case::load(FIXTURES, &format!("segment.{name}"));
        case.check(&run(&case.event));
    }
}

#[test]
fn every_dodo_event_type_is_delivered() {
    let mut names = Vec::new();
    for (event_type, payload) in samples() {
        let calls = match run(&event(&payload)) {
            Ok(Outcome::Deliver(request)) => {
                assert_eq!(request.url, "https://api.segment.io/v1/batch");
                request.json_body().unwrap()["batch"].clone()
            }
            other => panic!("{event_type}: {other:?}"),
        };
        let calls = calls.as_array().unwrap();
        let track = calls.last().unwrap();
        assert_eq!(track["type"], "track");
        assert_eq!(track["messageId"], "test:msg_1");
        assert_eq!(track["timestamp"], payload["timestamp"]);
        assert!(track["userId"].as_str().unwrap().starts_with("cus_"));
        names.push((
            event_type.clone(),
            track["event"].as_str().unwrap().to_owned(),
        ));
        if event_type == "license_key.created" {
            // No traits to identify with, and never the key itself.
            assert_eq!(calls.len(), 1);
            assert!(
                !track
                    .to_string()
                    .contains(payload["data"]["key"].as_str().unwrap())
            );
        } else {
            assert_eq!(calls.len(), 2, "{event_type}");
            assert_eq!(calls[0]["type"], "identify");
            assert_eq!(calls[0]["messageId"], "test:msg_1:identify");
            assert_eq!(calls[0]["userId"], track["userId"]);
            assert_eq!(
                calls[0]["traits"]["email"],
                payload["data"]["customer"]["email"]
            );
        }
    }
    let name = |t: &str| names.iter().find(|(e, _)| e == t).unwrap().1.clone();
    assert_eq!(name("payment.succeeded"), "Order Completed");
    assert_eq!(name("payment.failed"), "Payment Failed");
    assert_eq!(name("payment.processing"), "Payment Processing");
    assert_eq!(name("refund.succeeded"), "Order Refunded");
    assert_eq!(name("refund.failed"), "Refund Failed");
    assert_eq!(name("dispute.challenged"), "Dispute Challenged");
    assert_eq!(name("subscription.active"), "Subscription Started");
    assert_eq!(name("subscription.on_hold"), "Subscription On Hold");
    assert_eq!(
        name("subscription.plan_changed"),
        "Subscription Plan Changed"
    );
    assert_eq!(name("license_key.created"), "License Key Created");

    for (event_type, expected) in [
        ("subscription.updated", "Subscription Updated"),
        ("subscription.paused", "Subscription Paused"),
        ("subscription.unpaused", "Subscription Unpaused"),
    ] {
        let payload = dodo("subscription.active");
        let event = event(&payload).with_event_type(event_type);
        let body = delivered_json(&run(&event));
        assert_eq!(body["batch"][1]["event"], expected);
    }
}

#[test]
fn order_completed_follows_the_ecommerce_spec() {
    let props = track(&dodo("payment.succeeded"))["properties"].clone();
    assert_eq!(props["order_id"], "pay_7Rb2Xk9LqT4mWz8NcV1eP");
    assert_eq!(props["total"], json!(21.59));
    // Revenue excludes the 1.60 of tax.
    assert_eq!(props["revenue"], json!(19.99));
    assert_eq!(props["tax"], json!(1.6));
    assert_eq!(props["currency"], "USD");
    assert_eq!(
        props["products"],
        json!([{"product_id": "pdt_9aB3cD4eF5gH6iJ7kL8mN", "quantity": 1}])
    );

    // Without tax, revenue is the total.
    let mut payload = dodo("payment.succeeded");
    payload["data"]["tax"] = Value::Null;
    let props = track(&payload)["properties"].clone();
    assert_eq!(props["revenue"], json!(21.59));
    assert!(props.get("tax").is_none());

    // Only successful payments and refunds carry spec amounts: revenue is
    // never counted twice.
    for name in ["payment.failed", "subscription.active", "dispute.opened"] {
        let props = track(&dodo(name))["properties"].clone();
        for key in ["revenue", "total", "value"] {
            assert!(props.get(key).is_none(), "{name}: {key}");
        }
    }
    let props = track(&dodo("refund.succeeded"))["properties"].clone();
    assert_eq!(props["order_id"], "pay_7Rb2Xk9LqT4mWz8NcV1eP");
    assert_eq!(props["total"], json!(21.59));
    assert!(props.get("revenue").is_none());
}

#[test]
fn amounts_follow_the_currency() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["currency"] = json!("JPY");
    payload["data"]["total_amount"] = json!(500);
    payload["data"]["tax"] = json!(45);
    let props = track(&payload)["properties"].clone();
    assert_eq!(props["total"], json!(500));
    assert_eq!(props["revenue"], json!(455));
    assert_eq!(props["currency"], "JPY");

    let mut payload = dodo("payment.succeeded");
    payload["data"]["currency"] = json!("KWD");
    payload["data"]["total_amount"] = json!(1234);
    payload["data"]["tax"] = json!(234);
    let props = track(&payload)["properties"].clone();
    assert_eq!(props["total"], json!(1.234));
    assert_eq!(props["revenue"], json!(1.0));

    let mut payload = dodo("dispute.opened");
    payload["data"]["amount"] = json!(2159);
    assert_eq!(track(&payload)["properties"]["amount"], json!(21.59));
    payload["data"]["amount"] = json!("2159");
    assert_eq!(track(&payload)["properties"]["amount"], json!(21.59));
}

#[test]
fn identity_rules() {
    // No customer id: an anonymousId derived from the e-mail address,
    // the same for every event of that address.
    let mut payload = dodo("payment.failed");
    payload["data"]["customer"]["customer_id"] = Value::Null;
    let calls = calls(&payload);
    let anonymous = calls[1]["anonymousId"].as_str().unwrap().to_owned();
    assert_eq!(anonymous.len(), 36);
    assert!(calls[1].get("userId").is_none());
    assert_eq!(calls[0]["anonymousId"], anonymous.as_str());
    payload["data"]["customer"]["email"] = json!("JANE.DOE@example.com");
    assert_eq!(track(&payload)["anonymousId"], anonymous.as_str());

    payload["data"]["customer"]["email"] = json!("");
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "segment: payment.failed: data.customer.customer_id is missing"
    );
    payload["data"].as_object_mut().unwrap().remove("customer");
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "segment: payment.failed: data.customer.customer_id is missing"
    );
}

#[test]
fn identify_can_be_turned_off() {
    let payload = dodo("subscription.active");
    for value in ["false", "FALSE", " false "] {
        let body = delivered_json(&run(&event(&payload).with_setting("identify", value)));
        assert_eq!(body["batch"].as_array().unwrap().len(), 1);
        assert_eq!(body["batch"][0]["type"], "track");
    }
    for value in ["true", ""] {
        let body = delivered_json(&run(&event(&payload).with_setting("identify", value)));
        assert_eq!(body["batch"].as_array().unwrap().len(), 2);
    }
    assert_eq!(
        run(&event(&payload).with_setting("identify", "nope")).unwrap_err(),
        "segment: subscription.active: the identify setting must be true or false, not \"nope\""
    );
    // A customer with no traits gets no identify call.
    let mut payload = dodo("subscription.active");
    payload["data"]["customer"] = json!({"customer_id": "cus_1"});
    assert_eq!(calls(&payload).len(), 1);
}

#[test]
fn regional_endpoint_keeps_its_origin() {
    let payload = dodo("refund.succeeded");
    for url in [
        "https://events.eu1.segmentapis.com",
        "https://events.eu1.segmentapis.com/",
        "https://events.eu1.segmentapis.com/v1/track",
    ] {
        let event = event(&payload).with_endpoint_url(url);
        assert_eq!(
            delivered(&run(&event)).url,
            "https://events.eu1.segmentapis.com/v1/batch"
        );
    }
    let bad = event(&payload).with_endpoint_url("events.eu1.segmentapis.com");
    assert_eq!(
        run(&bad).unwrap_err(),
        "segment: refund.succeeded: the endpoint url \"events.eu1.segmentapis.com\" is not an absolute URL"
    );
}

#[test]
fn message_ids_are_stable_and_short() {
    let payload = dodo("payment.succeeded").to_string();
    let ids = |endpoint: &str| {
        let event =
            Event::from_payload(endpoint, "msg_2qH7sL1xK9vN3bT6yR4pW8zE5cF", payload.clone());
        let body = delivered_json(&run(&event));
        (
            body["batch"][0]["messageId"].as_str().unwrap().to_owned(),
            body["batch"][1]["messageId"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(ids("a"), ids("a"));
    assert_ne!(ids("a").1, ids("b").1);
    assert_eq!(ids("a").1, "a:msg_2qH7sL1xK9vN3bT6yR4pW8zE5cF");

    let long = "e".repeat(200);
    let (identify, track) = ids(&long);
    assert!(track.starts_with("sha256:") && track.len() < 100, "{track}");
    assert_eq!(identify, format!("{track}:identify"));
    assert!(identify.len() < 100);
    assert_eq!(ids(&long), ids(&long));
}

#[test]
fn defaults_and_nulls() {
    let mut payload = dodo("payment.failed");
    payload["data"]["currency"] = Value::Null;
    payload["data"]["payment_method"] = Value::Null;
    payload["data"]["error_message"] = Value::Null;
    payload["data"]["customer"]["name"] = Value::Null;
    let calls = calls(&payload);
    let props = &calls[1]["properties"];
    assert_eq!(props["currency"], "USD");
    assert_eq!(props["payment_method"], "unknown");
    assert_eq!(props["error_message"], "Payment processing failed");
    assert!(props.get("subscription_id").is_none());
    assert!(calls[0]["traits"].get("name").is_none());

    let props = track(&dodo("dispute.opened"))["properties"].clone();
    assert_eq!(props["remarks"], "");

    let mut payload = dodo("subscription.cancelled");
    payload["data"]["cancelled_at"] = Value::Null;
    let props = track(&payload)["properties"].clone();
    assert!(props.get("cancelled_at").is_none());
    assert_eq!(props["cancel_at_next_billing_date"], true);
    assert_eq!(props["interval"], "Month");
    assert_eq!(props["interval_count"], 1);
    assert_eq!(props["amount"], json!(15.0));

    // Without a timestamp, Segment stamps the call on arrival.
    let mut payload = dodo("refund.succeeded");
    payload.as_object_mut().unwrap().remove("timestamp");
    assert!(track(&payload).get("timestamp").is_none());
}

#[test]
fn unicode_is_kept_and_long_text_is_cut() {
    let mut payload = dodo("refund.succeeded");
    payload["data"]["customer"]["name"] = json!("Zoë 山田 🚀");
    payload["data"]["reason"] = json!("返品".repeat(1_000));
    let calls = calls(&payload);
    assert_eq!(calls[0]["traits"]["name"], "Zoë 山田 🚀");
    let reason = calls[1]["properties"]["reason"].as_str().unwrap();
    assert!(
        reason.len() <= 1_000 && reason.len() > 990,
        "{}",
        reason.len()
    );
    assert!(reason.ends_with("…"));
    assert!(reason.starts_with("返品返品"));
}

#[test]
fn calls_over_32_kb_are_refused() {
    let mut payload = dodo("payment.succeeded");
    let line = json!({"product_id": "p".repeat(400), "quantity": 1});
    payload["data"]["product_cart"] = Value::Array(vec![line; 90]);
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "segment: payment.succeeded: the track call is 39167 bytes; Segment accepts at most 32 KB per call"
    );
    // Carts are cut to 100 lines.
    let line = json!({"product_id": "p_1", "quantity": 2});
    payload["data"]["product_cart"] = Value::Array(vec![line; 500]);
    let props = track(&payload)["properties"].clone();
    assert_eq!(props["products"].as_array().unwrap().len(), 100);
}

#[test]
fn errors_name_the_field() {
    for (event_type, patch, message) in [
        (
            "payment.succeeded",
            json!({"total_amount": 21.59}),
            "data.total_amount is not an integer",
        ),
        (
            "payment.succeeded",
            json!({"tax": "1.60"}),
            "data.tax is not an integer",
        ),
        (
            "payment.succeeded",
            json!({"product_cart": "pdt_1"}),
            "data.product_cart is not an array",
        ),
        (
            "refund.succeeded",
            json!({"is_partial": "no"}),
            "data.is_partial is not a boolean",
        ),
        (
            "subscription.active",
            json!({"quantity": 1.5}),
            "data.quantity is not an integer",
        ),
    ] {
        let mut payload = dodo(event_type);
        for (key, value) in patch.as_object().unwrap() {
            payload["data"][key] = value.clone();
        }
        assert_eq!(
            run(&event(&payload)).unwrap_err(),
            format!("segment: {event_type}: {message}")
        );
    }
    let mut payload = dodo("dispute.opened");
    payload["timestamp"] = json!("last tuesday");
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "segment: dispute.opened: timestamp is not an RFC 3339 date-time"
    );
}

#[test]
fn payloads_that_are_not_objects() {
    for (payload, message) in [
        ("", "payload is empty"),
        ("[]", "payload is not a JSON object"),
        ("7", "payload is not a JSON object"),
    ] {
        let event = Event::from_payload("test", "msg_1", payload).with_event_type("refund.failed");
        assert_eq!(
            run(&event).unwrap_err(),
            format!("segment: refund.failed: {message}")
        );
    }
}

#[test]
fn other_event_types_are_skipped_without_reading_the_payload() {
    for event_type in [
        "payout.paid",
        "abandoned_checkout.detected",
        "",
        "payment",
        "dispute.",
    ] {
        let garbage = Event::from_payload("test", "msg_1", "garbage").with_event_type(event_type);
        let outcome = run(&garbage).unwrap();
        assert!(
            outcome.skip_reason().unwrap().contains("segment maps"),
            "{event_type:?}"
        );
    }
}

#[test]
fn never_panics_on_odd_payloads() {
    let mut runs = 0;
    let mut payloads: Vec<Value> = samples().into_iter().map(|(_, p)| p).collect();
    for name in [
        "payment.succeeded",
        "subscription.cancelled",
        "dispute.opened",
    ] {
        payloads.push(dodo(name));
    }
    for payload in payloads {
        let event_type = payload["type"].as_str().unwrap().to_owned();
        for variant in odd_variants(&payload) {
            let event = event(&variant).with_event_type(event_type.as_str());
            match run(&event) {
                Err(message) => {
                    assert!(message.starts_with("segment: "), "{message}");
                    assert!(!message.contains(['\r', '\n']), "{message:?}");
                }
                Ok(Outcome::Deliver(request)) => {
                    assert!(request.json_body().is_some());
                }
                Ok(Outcome::Skip(reason)) => panic!("{event_type}: skipped: {reason}"),
            }
            runs += 1;
        }
    }
    assert!(runs > 5_000, "only {runs} variants");
}
