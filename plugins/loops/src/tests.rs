//! The fixture cases from `tests/fixtures/expected/loops.*.json`, and the
//! edge cases around them.

use hookwasm_sdk::testing::{Case, delivered, delivered_json, odd_variants, read_json};
use hookwasm_sdk::{Event, Outcome, Value, call, json};

use crate::Loops;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");

fn run(event: &Event) -> Result<Outcome, String> {
    call::<Loops>(event)
}

/// A Dodo fixture payload, to be altered by an edge case.
fn dodo(event_type: &str) -> Value {
    read_json(format!("{FIXTURES}/dodo/{event_type}.json").as_ref())
}

fn event(payload: &Value) -> Event {
    Event::from_payload("test", "msg_1", payload.to_string())
}

fn properties(event: &Event) -> Value {
    delivered_json(&run(event))["eventProperties"].clone()
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
        let case = Case::load(FIXTURES, &format!("loops.{name}"));
        case.check(&run(&case.event));
    }
}

#[test]
fn endpoint_url_replaces_the_default() {
    let event =
        event(&dodo("payment.succeeded")).with_endpoint_url("https://loops.internal.test/send");
    assert_eq!(
        delivered(&run(&event)).url,
        "https://loops.internal.test/send"
    );
}

#[test]
fn amounts_follow_the_currency() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["currency"] = json!("JPY");
    payload["data"]["total_amount"] = json!(500);
    let props = properties(&event(&payload));
    assert_eq!(
        (props["amount"].as_str(), props["currency"].as_str()),
        (Some("500"), Some("JPY"))
    );

    payload["data"]["currency"] = json!("KWD");
    payload["data"]["total_amount"] = json!(1234);
    assert_eq!(properties(&event(&payload))["amount"], "1.234");
}

#[test]
fn currency_null_or_missing_is_usd() {
    let mut payload = dodo("payment.failed");
    payload["data"]["currency"] = Value::Null;
    let props = properties(&event(&payload));
    assert_eq!(
        (props["amount"].as_str(), props["currency"].as_str()),
        (Some("21.59"), Some("USD"))
    );

    payload["data"].as_object_mut().unwrap().remove("currency");
    assert_eq!(properties(&event(&payload))["currency"], "USD");
}

#[test]
fn defaults_for_payment_method_and_error_message() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]
        .as_object_mut()
        .unwrap()
        .remove("payment_method");
    assert_eq!(properties(&event(&payload))["payment_method"], "unknown");

    let mut payload = dodo("payment.failed");
    payload["data"]["error_message"] = Value::Null;
    assert_eq!(
        properties(&event(&payload))["error_message"],
        "Payment processing failed"
    );
}

#[test]
fn nulls_and_missing_values_are_omitted() {
    let mut payload = dodo("subscription.active");
    payload["data"]["customer"]["name"] = Value::Null;
    payload["data"]["next_billing_date"] = Value::Null;
    payload["data"]
        .as_object_mut()
        .unwrap()
        .remove("recurring_pre_tax_amount");
    let props = properties(&event(&payload));
    for key in ["customer_name", "next_billing", "amount"] {
        assert!(props.get(key).is_none(), "{key} should be omitted: {props}");
    }
    assert_eq!(props["currency"], "USD");
}

#[test]
fn unicode_names_pass_through() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["customer"]["name"] = json!("Zoë 山田 🚀 \"quoted\"");
    assert_eq!(
        properties(&event(&payload))["customer_name"],
        "Zoë 山田 🚀 \"quoted\""
    );
}

#[test]
fn retry_link_is_filled_or_left_out() {
    let payload = dodo("payment.failed");
    assert!(properties(&event(&payload)).get("retry_link").is_none());

    let with_link = |template: &str, payload: &Value| {
        properties(&event(payload).with_setting("retry_link", template))["retry_link"].clone()
    };
    assert_eq!(
        with_link("https://shop.test/retry?p={payment_id}", &payload),
        "https://shop.test/retry?p=pay_3Hn8Jk2Lp6Qs0Tv4Wx9Yz"
    );
    assert_eq!(
        with_link("https://shop.test/billing", &payload),
        "https://shop.test/billing"
    );

    let mut odd = payload.clone();
    odd["data"]["payment_id"] = json!("pay/1 &x");
    assert_eq!(
        with_link("https://shop.test/r/{payment_id}", &odd),
        "https://shop.test/r/pay%2F1%20%26x"
    );

    odd["data"]["payment_id"] = Value::Null;
    assert_eq!(
        with_link("https://shop.test/r/{payment_id}", &odd),
        Value::Null
    );
}

#[test]
fn user_id_when_there_is_no_email() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["customer"]["email"] = Value::Null;
    let body = delivered_json(&run(&event(&payload)));
    assert_eq!(body["userId"], "cus_5tYuIoP1aSdFgH3jKlZxC");
    assert!(body.get("email").is_none());

    payload["data"]["customer"]["email"] = json!("");
    assert_eq!(
        delivered_json(&run(&event(&payload)))["userId"],
        "cus_5tYuIoP1aSdFgH3jKlZxC"
    );
}

#[test]
fn errors_name_the_field() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["customer"] = json!({"name": "Jane"});
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "loops: payment.succeeded: data.customer.email is missing"
    );

    let mut payload = dodo("payment.succeeded");
    payload["data"].as_object_mut().unwrap().remove("customer");
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "loops: payment.succeeded: data.customer.email is missing"
    );

    let mut payload = dodo("payment.succeeded");
    payload["data"]["customer"]["email"] = json!(42);
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "loops: payment.succeeded: data.customer.email is not a string"
    );

    let mut payload = dodo("payment.succeeded");
    payload["data"]["total_amount"] = json!(21.59);
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "loops: payment.succeeded: data.total_amount is not an integer"
    );

    let mut payload = dodo("subscription.active");
    payload["data"]["currency"] = json!(["USD"]);
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "loops: subscription.active: data.currency is not a string"
    );
}

#[test]
fn payloads_that_are_not_objects() {
    for (payload, message) in [
        ("", "payload is empty"),
        ("[]", "payload is not a JSON object"),
        ("42", "payload is not a JSON object"),
        (
            "{\"type\": \"payment.succeeded\"",
            "payload is not JSON: EOF while parsing an object at line 1 column 28",
        ),
    ] {
        let event =
            Event::from_payload("test", "msg_1", payload).with_event_type("payment.succeeded");
        assert_eq!(
            run(&event).unwrap_err(),
            format!("loops: payment.succeeded: {message}")
        );
    }
}

#[test]
fn other_event_types_are_skipped() {
    for event_type in [
        "refund.succeeded",
        "payment.processing",
        "",
        "payment.succeeded.v2",
    ] {
        let event = event(&dodo("payment.succeeded")).with_event_type(event_type);
        let outcome = run(&event).unwrap();
        assert!(
            outcome.skip_reason().unwrap().contains("loops maps"),
            "{event_type}"
        );
    }
    // Skipping does not need the payload at all.
    let garbage = Event::from_payload("test", "msg_1", "garbage").with_event_type("dispute.won");
    assert!(matches!(run(&garbage), Ok(Outcome::Skip(_))));
}

#[test]
fn long_delivery_keys_are_hashed_to_fit_loops() {
    let payload = dodo("payment.succeeded").to_string();
    let long = Event::from_payload(
        &"e".repeat(90),
        "msg_2qH7sL1xK9vN3bT6yR4pW8zE5cF",
        payload.clone(),
    );
    let key = delivered(&run(&long))
        .header_value("idempotency-key")
        .unwrap()
        .to_owned();
    assert!(key.starts_with("sha256:") && key.len() <= 100, "{key}");
    // Stable across retries.
    assert_eq!(
        delivered(&run(&long)).header_value("idempotency-key"),
        Some(key.as_str())
    );

    let short = Event::from_payload(&"e".repeat(68), "msg_2qH7sL1xK9vN3bT6yR4pW8zE5cF", payload);
    assert_eq!(
        delivered(&run(&short))
            .header_value("idempotency-key")
            .unwrap()
            .len(),
        100
    );
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
                assert!(message.starts_with("loops: "), "{message}");
                assert!(!message.contains(['\r', '\n']), "{message:?}");
            }
            runs += 1;
        }
    }
    assert!(runs > 1_000, "only {runs} variants");
}
