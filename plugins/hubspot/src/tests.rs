//! The fixture cases from `tests/fixtures/expected/hubspot.*.json`, every
//! sample Dodo event type, and the edge cases around them.

use hookwasm_sdk::testing::{Case, delivered, delivered_json, odd_variants, read_json};
use hookwasm_sdk::{Event, Outcome, Value, call, json};

use crate::HubSpot;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");
const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../host/samples/dodo");

fn run(event: &Event) -> Result<Outcome, String> {
    call::<HubSpot>(event)
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
    Event::from_payload("test", "msg_1", payload.to_string()).with_setting("portal_id", "1234567")
}

fn body(payload: &Value) -> Value {
    delivered_json(&run(&event(payload)))
}

fn properties(payload: &Value) -> Value {
    body(payload)["properties"].clone()
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
        let case = Case::load(FIXTURES, &format!("hubspot.{name}"));
        case.check(&run(&case.event));
    }
}

#[test]
fn every_dodo_event_type_is_delivered_or_skipped() {
    let mut delivered_types = Vec::new();
    for (event_type, payload) in samples() {
        assert_eq!(payload["type"], event_type.as_str());
        match run(&event(&payload)) {
            Ok(Outcome::Deliver(request)) => {
                let body = request.json_body().unwrap();
                let internal = event_type.replace('.', "_");
                assert_eq!(body["eventName"], format!("pe1234567_dodo_{internal}"));
                assert_eq!(body["email"], payload["data"]["customer"]["email"]);
                assert_eq!(body["occurredAt"], payload["timestamp"]);
                assert_eq!(body["properties"]["event_type"], event_type.as_str());
                assert!(body["properties"]["amount"].is_string(), "{event_type}");
                assert_eq!(body["properties"]["currency"], "USD");
                delivered_types.push(event_type);
            }
            Ok(Outcome::Skip(reason)) => {
                assert_eq!(event_type, "license_key.created");
                assert!(reason.contains("no customer e-mail"), "{reason}");
            }
            Err(message) => panic!("{event_type}: {message}"),
        }
    }
    assert_eq!(delivered_types.len(), 20);

    // Types without a sample: same shape as the other subscription events.
    for event_type in [
        "subscription.updated",
        "subscription.paused",
        "subscription.unpaused",
    ] {
        let event = event(&dodo("subscription.active")).with_event_type(event_type);
        let body = delivered_json(&run(&event));
        assert_eq!(
            body["eventName"],
            format!("pe1234567_dodo_{}", event_type.replace('.', "_"))
        );
        assert_eq!(body["properties"]["event_type"], event_type);
    }
}

#[test]
fn property_names_follow_hubspot_rules() {
    for (_, payload) in samples() {
        let Ok(Outcome::Deliver(request)) = run(&event(&payload)) else {
            continue;
        };
        let body = request.json_body().unwrap();
        let props = body["properties"].as_object().unwrap();
        assert!(props.len() <= 50);
        for (name, value) in props {
            assert!(name.len() <= 50 && name.starts_with(|c: char| c.is_ascii_lowercase()));
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{name}"
            );
            assert!(value.is_string(), "{name} = {value}");
        }
    }
}

#[test]
fn event_names_come_from_the_settings() {
    let payload = dodo("payment.succeeded").to_string();
    let name = |event: Event| delivered_json(&run(&event))["eventName"].clone();
    let plain = || Event::from_payload("test", "msg_1", payload.clone());

    assert_eq!(
        name(plain().with_setting("portal_id", " 42 ")),
        "pe42_dodo_payment_succeeded"
    );
    // An override wins over the convention, and needs no portal id.
    assert_eq!(
        name(
            plain()
                .with_setting("portal_id", "42")
                .with_setting("event.payment.succeeded", "pe42_purchase")
        ),
        "pe42_purchase"
    );
    assert_eq!(
        name(plain().with_setting("event.payment.succeeded", "pe42_purchase")),
        "pe42_purchase"
    );
    // Another type's override does not apply.
    assert_eq!(
        run(&plain().with_setting("event.payment.failed", "pe42_x")).unwrap_err(),
        "hubspot: payment.succeeded: no HubSpot event name for payment.succeeded: set the \
         portal_id setting (your HubID) or the event.payment.succeeded setting"
    );
    assert_eq!(
        run(&plain().with_setting("portal_id", "pe42")).unwrap_err(),
        "hubspot: payment.succeeded: the portal_id setting \"pe42\" is not a HubID (digits only)"
    );
    // Odd event types become valid internal names.
    assert_eq!(
        name(
            plain()
                .with_setting("portal_id", "42")
                .with_event_type("payment.Succeeded-v2")
        ),
        "pe42_dodo_payment_succeeded_v2"
    );
    let long = format!("payment.{}", "x".repeat(50));
    assert!(
        run(&plain()
            .with_setting("portal_id", "42")
            .with_event_type(long.as_str()))
        .unwrap_err()
        .contains("longer than HubSpot's 50-character event name limit")
    );
}

#[test]
fn endpoint_url_replaces_the_default() {
    let payload = dodo("payment.succeeded");
    assert_eq!(
        delivered(&run(&event(&payload))).url,
        "https://api.hubapi.com/events/v3/send"
    );
    let custom = event(&payload).with_endpoint_url("https://hubspot-proxy.internal.test/send");
    assert_eq!(
        delivered(&run(&custom)).url,
        "https://hubspot-proxy.internal.test/send"
    );
}

#[test]
fn uuid_is_stable_and_per_endpoint() {
    let payload = dodo("refund.succeeded").to_string();
    let uuid = |endpoint: &str| {
        let event =
            Event::from_payload(endpoint, "msg_1", payload.clone()).with_setting("portal_id", "1");
        delivered_json(&run(&event))["uuid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(uuid("a"), uuid("a"));
    assert_ne!(uuid("a"), uuid("b"));
    assert_eq!(uuid("a").len(), 36);
}

#[test]
fn amounts_follow_the_currency() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["currency"] = json!("JPY");
    payload["data"]["total_amount"] = json!(500);
    let props = properties(&payload);
    assert_eq!(
        (props["amount"].clone(), props["currency"].clone()),
        (json!("500"), json!("JPY"))
    );

    let mut payload = dodo("subscription.active");
    payload["data"]["currency"] = json!("KWD");
    payload["data"]["recurring_pre_tax_amount"] = json!(1234);
    assert_eq!(properties(&payload)["amount"], "1.234");

    // Dispute amounts are strings of digits, or numbers.
    let mut payload = dodo("dispute.opened");
    assert_eq!(properties(&payload)["amount"], "21.59");
    payload["data"]["amount"] = json!(2159);
    assert_eq!(properties(&payload)["amount"], "21.59");
}

#[test]
fn defaults_and_nulls() {
    let mut payload = dodo("payment.failed");
    payload["data"]["currency"] = Value::Null;
    payload["data"]["payment_method"] = Value::Null;
    payload["data"]["error_message"] = Value::Null;
    payload["data"]["customer"]["name"] = Value::Null;
    let props = properties(&payload);
    assert_eq!(props["currency"], "USD");
    assert_eq!(props["payment_method"], "unknown");
    assert_eq!(props["error_message"], "Payment processing failed");
    assert!(props.get("customer_name").is_none());
    assert!(
        props.get("subscription_id").is_none(),
        "null in the fixture"
    );

    // The failure default only applies to failed payments.
    let props = properties(&dodo("payment.succeeded"));
    assert!(props.get("error_message").is_none());
    assert!(props.get("error_code").is_none());

    let props = properties(&dodo("dispute.opened"));
    assert_eq!(props["remarks"], "");

    let mut payload = dodo("subscription.active");
    payload["data"]["next_billing_date"] = Value::Null;
    payload["data"]
        .as_object_mut()
        .unwrap()
        .remove("recurring_pre_tax_amount");
    let props = properties(&payload);
    assert!(props.get("next_billing_date").is_none());
    assert!(props.get("amount").is_none());
    assert!(props.get("cancelled_at").is_none());
    assert_eq!(props["cancel_at_next_billing_date"], "false");
}

#[test]
fn unicode_is_kept() {
    let mut payload = dodo("refund.succeeded");
    payload["data"]["customer"]["name"] = json!("Zoë 山田 🚀 \"quoted\"");
    payload["data"]["reason"] = json!("Не подошло — 返品");
    let props = properties(&payload);
    assert_eq!(props["customer_name"], "Zoë 山田 🚀 \"quoted\"");
    assert_eq!(props["reason"], "Не подошло — 返品");
}

#[test]
fn long_strings_are_cut_to_256_characters() {
    let mut payload = dodo("payment.failed");
    payload["data"]["error_message"] = json!("x".repeat(10_000));
    // 🚀 is two UTF-16 units: the cut must not split it.
    payload["data"]["customer"]["name"] = json!("🚀".repeat(200));
    payload["data"]["payment_method"] = json!("m".repeat(256));
    let props = properties(&payload);

    let message = props["error_message"].as_str().unwrap();
    assert_eq!(message.chars().count(), 256);
    assert!(message.ends_with("x…"));

    let name = props["customer_name"].as_str().unwrap();
    assert!(name.encode_utf16().count() <= 256);
    assert_eq!(name.chars().filter(|&c| c == '🚀').count(), 127);
    assert!(name.ends_with('…'));

    // Exactly at the limit: kept whole.
    assert_eq!(props["payment_method"], "m".repeat(256));
}

#[test]
fn errors_name_the_field() {
    let mut payload = dodo("payment.succeeded");
    payload["data"].as_object_mut().unwrap().remove("customer");
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "hubspot: payment.succeeded: data.customer.email is missing"
    );
    payload["data"]["customer"] = json!({"email": "", "customer_id": "cus_1"});
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "hubspot: payment.succeeded: data.customer.email is missing"
    );

    let mut payload = dodo("payment.succeeded");
    payload["data"]["total_amount"] = json!(21.59);
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "hubspot: payment.succeeded: data.total_amount is not an integer"
    );

    let mut payload = dodo("refund.succeeded");
    payload["data"]["is_partial"] = json!("no");
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "hubspot: refund.succeeded: data.is_partial is not a boolean"
    );

    let mut payload = dodo("subscription.cancelled");
    payload.as_object_mut().unwrap().remove("timestamp");
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "hubspot: subscription.cancelled: timestamp is missing"
    );
    payload["timestamp"] = json!("yesterday");
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "hubspot: subscription.cancelled: timestamp is not an RFC 3339 date-time"
    );
}

#[test]
fn payloads_that_are_not_objects() {
    for (payload, message) in [
        ("", "payload is empty"),
        ("[]", "payload is not a JSON object"),
        ("null", "payload is not a JSON object"),
    ] {
        let event = Event::from_payload("test", "msg_1", payload)
            .with_event_type("payment.succeeded")
            .with_setting("portal_id", "1");
        assert_eq!(
            run(&event).unwrap_err(),
            format!("hubspot: payment.succeeded: {message}")
        );
    }
}

#[test]
fn other_event_types_are_skipped_without_reading_the_payload() {
    for event_type in [
        "payout.paid",
        "credit.added",
        "",
        "payment",
        "payment.",
        "license_key.created",
    ] {
        let garbage = Event::from_payload("test", "msg_1", "garbage").with_event_type(event_type);
        assert!(
            matches!(run(&garbage), Ok(Outcome::Skip(_))),
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
            if let Err(message) = run(&event) {
                assert!(message.starts_with("hubspot: "), "{message}");
                assert!(!message.contains(['\r', '\n']), "{message:?}");
            }
            runs += 1;
        }
    }
    assert!(runs > 5_000, "only {runs} variants");
}
