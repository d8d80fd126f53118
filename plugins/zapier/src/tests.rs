//! The fixture cases from `tests/fixtures/expected/zapier.*.json`, and the
//! edge cases around them.

use hookwasm_sdk::testing::{Case, delivered, delivered_json, odd_variants, read_json};
use hookwasm_sdk::{Event, Outcome, Value, call, json};

use crate::Zapier;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");
const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../host/samples/dodo");
const URL: &str = "https://hooks.zapier.com/hooks/catch/1234567/abcdefg/";

fn run(event: &Event) -> Result<Outcome, String> {
    call::<Zapier>(event)
}

/// A Dodo fixture payload, to be altered by an edge case.
fn dodo(event_type: &str) -> Value {
    read_json(format!("{FIXTURES}/dodo/{event_type}.json").as_ref())
}

fn event(payload: &Value) -> Event {
    Event::from_payload("test", "msg_1", payload.to_string()).with_endpoint_url(URL)
}

fn body(payload: &Value) -> Value {
    delivered_json(&run(&event(payload)))
}

/// Every sample payload of `host/samples/dodo` (one per Dodo event type).
fn samples() -> Vec<(String, Value)> {
    let mut samples: Vec<_> = std::fs::read_dir(SAMPLES)
        .expect("host/samples/dodo")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            (stem, read_json(&path))
        })
        .collect();
    samples.sort_by(|a, b| a.0.cmp(&b.0));
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
        let case = Case::load(FIXTURES, &format!("zapier.{name}"));
        case.check(&run(&case.event));
    }
}

#[test]
fn the_url_is_required_and_kept_as_is() {
    let payload = dodo("payment.succeeded");
    let without_url = Event::from_payload("test", "msg_1", payload.to_string());
    assert_eq!(
        run(&without_url).unwrap_err(),
        "zapier: payment.succeeded: the endpoint has no url; set `url` in its config"
    );
    let result = run(&event(&payload));
    let request = delivered(&result);
    assert_eq!(request.url, URL);
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.header_value("content-type"),
        Some("application/json")
    );
    assert_eq!(request.headers.len(), 1);
}

#[test]
fn every_dodo_event_type_is_delivered_flat() {
    let samples = samples();
    assert_eq!(samples.len(), 21, "one sample per Dodo event type");
    for (event_type, payload) in samples {
        let body = body(&payload);
        assert_eq!(body["event_type"], event_type.as_str());
        assert_eq!(body["delivery_key"], "test:msg_1");
        assert_eq!(body["event_id"], "msg_1");
        assert_eq!(body["timestamp"], payload["timestamp"]);
        assert_eq!(body["business_id"], payload["business_id"]);
        for (key, value) in body.as_object().unwrap() {
            assert!(
                !value.is_object() && !value.is_array() && !value.is_null(),
                "{event_type}: {key} = {value}"
            );
        }
        // Every event with an amount has the headline amount and currency.
        if event_type != "license_key.created" {
            assert!(body["amount"].is_string(), "{event_type}: {body}");
            assert!(body["amount_minor"].is_i64(), "{event_type}");
            assert_eq!(body["currency"], "USD", "{event_type}");
        }
    }
}

#[test]
fn headline_amounts_per_kind() {
    let sample = |name: &str| read_json(format!("{SAMPLES}/{name}.json").as_ref());
    for (name, amount, minor) in [
        ("payment.cancelled", "4.00", 400),
        ("subscription.renewed", "10.00", 1000),
        ("refund.failed", "4.00", 400),
        // Dispute amounts are strings of digits.
        ("dispute.won", "4.00", 400),
    ] {
        let body = body(&sample(name));
        assert_eq!(body["amount"], amount, "{name}");
        assert_eq!(body["amount_minor"], minor, "{name}");
    }
    let license = body(&sample("license_key.created"));
    assert!(license.get("amount").is_none());
    assert_eq!(license["customer_id"], "cus_8VbC6JDZzPEqfBPUdpj0K");
    assert_eq!(license["key"], "db44b22c-fe9b-4a68-bf0d-b0e0d6c6c8c0");
    assert_eq!(license["instances_count"], 0);
}

#[test]
fn amounts_follow_the_currency() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["currency"] = json!("JPY");
    payload["data"]["total_amount"] = json!(500);
    payload["data"]["tax"] = json!(40);
    payload["data"]["settlement_currency"] = json!("KWD");
    payload["data"]["settlement_amount"] = json!(1234);
    let body = body(&payload);
    assert_eq!(body["amount"], "500");
    assert_eq!(body["amount_minor"], 500);
    assert_eq!(body["total_amount"], "500");
    assert_eq!(body["tax"], "40");
    assert_eq!(body["currency"], "JPY");
    assert_eq!(body["settlement_amount"], "1.234");
    assert_eq!(body["settlement_amount_minor"], 1234);

    let mut payload = dodo("dispute.opened");
    payload["data"]["currency"] = json!("KWD");
    payload["data"]["amount"] = json!("1234");
    let body = self::body(&payload);
    assert_eq!(body["amount"], "1.234");
    assert_eq!(body["amount_minor"], 1234);

    // A digit string too long for a number stays a string.
    payload["data"]["amount"] = json!("123456789012345678901234567890");
    let body = self::body(&payload);
    assert_eq!(body["amount_minor"], "123456789012345678901234567890");
    assert_eq!(body["amount"], "123456789012345678901234567.890");
}

#[test]
fn currency_null_or_missing_is_usd() {
    let mut payload = dodo("refund.succeeded");
    payload["data"]["currency"] = Value::Null;
    let body = body(&payload);
    assert_eq!(body["currency"], "USD");
    assert_eq!(
        body["amount"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn nulls_are_omitted_and_defaults_apply() {
    let mut payload = dodo("payment.failed");
    payload["data"]["error_message"] = Value::Null;
    payload["data"]["payment_method"] = json!("");
    payload["data"]["customer"]["name"] = Value::Null;
    let body = body(&payload);
    assert_eq!(body["error_message"], "Payment processing failed");
    assert_eq!(body["payment_method"], "unknown");
    assert!(body.get("customer_name").is_none());
    assert!(body.get("discount_id").is_none());

    let mut payload = dodo("dispute.opened");
    payload["data"]["remarks"] = Value::Null;
    assert_eq!(self::body(&payload)["remarks"], "");
}

#[test]
fn missing_customer_is_fine() {
    let mut payload = dodo("payment.succeeded");
    payload["data"].as_object_mut().unwrap().remove("customer");
    let body = body(&payload);
    assert!(body.get("customer_email").is_none());
    assert_eq!(body["payment_id"], "pay_7Rb2Xk9LqT4mWz8NcV1eP");

    payload["data"]["customer"] = json!("cus_1");
    assert_eq!(self::body(&payload)["customer"], "cus_1");
}

#[test]
fn lists_become_comma_separated_fields() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["product_cart"] = json!([
        {"product_id": "pdt_1", "quantity": 2},
        {"product_id": "pdt_2"},
        {"product_id": "pdt_3", "quantity": 1, "addons": [{"id": "x"}], "meta": {"k": "v"}}
    ]);
    payload["data"]["tags"] = json!(["a", 1, true, null]);
    payload["data"]["matrix"] = json!([[1, 2], [3]]);
    let body = body(&payload);
    assert_eq!(body["product_cart_count"], 3);
    assert_eq!(body["product_cart_product_id"], "pdt_1, pdt_2, pdt_3");
    // Aligned by position: the second item has no quantity.
    assert_eq!(body["product_cart_quantity"], "2, , 1");
    assert_eq!(body["product_cart_meta_k"], ", , v");
    assert!(body.get("product_cart_addons").is_none());
    assert_eq!(body["tags"], "a, 1, true, ");
    assert_eq!(body["tags_count"], 4);
    assert_eq!(body["matrix_count"], 2);
    assert_eq!(body["refunds_count"], 0);
    assert!(body.get("refunds").is_none());
}

#[test]
fn nested_objects_become_prefixed_keys() {
    let mut payload = dodo("subscription.active");
    payload["data"]["metadata"] = json!({"plan": "pro", "seats": 3});
    payload["data"]["customer"]["metadata"] = json!({"crm_id": "42"});
    let mut deep = json!("bottom");
    for _ in 0..10 {
        deep = json!({ "d": deep });
    }
    payload["data"]["deep"] = deep;
    let body = body(&payload);
    assert_eq!(body["metadata_plan"], "pro");
    assert_eq!(body["metadata_seats"], 3);
    assert_eq!(body["customer_metadata_crm_id"], "42");
    assert_eq!(body["customer_id"], "cus_5tYuIoP1aSdFgH3jKlZxC");
    assert_eq!(body["billing_street"], "1 Market St, Suite 300");
    // Too deep: the rest is one JSON text.
    let deep_key = "deep_d_d_d_d_d";
    assert_eq!(
        body[deep_key], r#"{"d":{"d":{"d":{"d":{"d":"bottom"}}}}}"#,
        "{body}"
    );
}

#[test]
fn the_fixed_fields_cannot_be_overridden_by_data() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["event_type"] = json!("forged");
    payload["data"]["delivery_key"] = json!("forged");
    payload["data"]["amount"] = json!(1);
    let body = body(&payload);
    assert_eq!(body["event_type"], "payment.succeeded");
    assert_eq!(body["delivery_key"], "test:msg_1");
    // For a payment, `amount` is the total.
    assert_eq!(body["amount"], "21.59");
}

#[test]
fn unicode_and_huge_strings_pass_through() {
    let mut payload = dodo("payment.succeeded");
    let name = "Zoë 山田 🚀 \"quoted\" \u{202e}";
    payload["data"]["customer"]["name"] = json!(name);
    let long = "é".repeat(300_000);
    payload["data"]["error_message"] = json!(long);
    let body = body(&payload);
    assert_eq!(body["customer_name"], name);
    // Zapier documents no field limit (10 MB per webhook): nothing is cut.
    assert_eq!(body["error_message"].as_str().unwrap().len(), long.len());
}

#[test]
fn errors_name_the_field() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["total_amount"] = json!(21.59);
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "zapier: payment.succeeded: data.total_amount is not an integer"
    );
    let mut payload = dodo("subscription.active");
    payload["data"]["currency"] = json!(840);
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "zapier: subscription.active: data.currency is not a string"
    );
    for (payload, message) in [
        ("", "payload is empty"),
        ("[]", "payload is not a JSON object"),
    ] {
        let event = Event::from_payload("test", "msg_1", payload)
            .with_event_type("payment.succeeded")
            .with_endpoint_url(URL);
        assert_eq!(
            run(&event).unwrap_err(),
            format!("zapier: payment.succeeded: {message}")
        );
    }
}

#[test]
fn unknown_event_types_and_odd_data() {
    let payload = json!({"type": "payout.succeeded", "timestamp": "2026-01-01T00:00:00Z",
                         "business_id": "bus_1",
                         "data": {"payout_id": "po_1", "amount": 12345, "currency": "EUR"}});
    let body = body(&payload);
    assert_eq!(body["event_type"], "payout.succeeded");
    assert_eq!(body["payout_id"], "po_1");
    assert_eq!(body["amount"], "123.45");
    assert_eq!(body["currency"], "EUR");

    let payload = json!({"type": "ping", "data": "hello"});
    assert_eq!(self::body(&payload)["data"], "hello");
    let payload = json!({"type": "ping"});
    let body = self::body(&payload);
    assert_eq!(body["event_type"], "ping");
    assert!(body.get("timestamp").is_none());
}

#[test]
fn never_panics_on_odd_payloads() {
    let mut runs = 0;
    for (event_type, payload) in samples() {
        for variant in odd_variants(&payload) {
            let event = Event::from_payload("test", "msg_1", variant.to_string())
                .with_event_type(&event_type)
                .with_endpoint_url(URL);
            match run(&event) {
                Ok(outcome) => assert!(outcome.request().is_some()),
                Err(message) => {
                    assert!(message.starts_with("zapier: "), "{message}");
                    assert!(!message.contains(['\r', '\n']), "{message:?}");
                }
            }
            runs += 1;
        }
    }
    assert!(runs > 1_000, "only {runs} variants");
}
