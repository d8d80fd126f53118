//! The fixture cases from `tests/fixtures/expected/sendgrid.*.json`, and the
//! edge cases around them.

use hookwasm_sdk::testing::{Case, delivered, delivered_json, odd_variants, read_json};
use hookwasm_sdk::{Event, Outcome, Value, call, json};

use crate::{SendGrid, template_setting};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");
const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../host/samples/dodo");
const TEMPLATE: &str = "d-4ad23ad40a0e47d0a0232b85f24ca5c2";

fn run(event: &Event) -> Result<Outcome, String> {
    call::<SendGrid>(event)
}

/// A Dodo fixture payload, to be altered by an edge case.
fn dodo(event_type: &str) -> Value {
    read_json(format!("{FIXTURES}/dodo/{event_type}.json").as_ref())
}

/// The event as an endpoint with a sender and a template for its type sees it.
fn event(payload: &Value) -> Event {
    let event = Event::from_payload("test", "msg_1", payload.to_string());
    let setting = template_setting(&event.event_type);
    event
        .with_setting("from", "billing@shop.example")
        .with_setting(setting, TEMPLATE)
}

fn body(payload: &Value) -> Value {
    delivered_json(&run(&event(payload)))
}

fn template_data(payload: &Value) -> Value {
    body(payload)["personalizations"][0]["dynamic_template_data"].clone()
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
        let case = Case::load(FIXTURES, &format!("sendgrid.{name}"));
        case.check(&run(&case.event));
    }
}

#[test]
fn template_settings_are_named_after_the_event_type() {
    assert_eq!(
        template_setting("payment.succeeded"),
        "template_payment_succeeded"
    );
    assert_eq!(
        template_setting("subscription.plan_changed"),
        "template_subscription_plan_changed"
    );
    assert_eq!(
        template_setting("license_key.created"),
        "template_license_key_created"
    );
}

#[test]
fn an_event_type_without_a_template_is_skipped_naming_the_setting() {
    let event = Event::from_payload("test", "msg_1", dodo("dispute.opened").to_string())
        .with_setting("from", "billing@shop.example")
        .with_setting("template_payment_succeeded", TEMPLATE);
    assert_eq!(
        run(&event).unwrap().skip_reason(),
        Some(
            "sendgrid sends only the event types that have a template; set `template_dispute_opened` to a dynamic template id (d-…) to send dispute.opened"
        )
    );
    // A blank template is no template; skipping needs neither `from` nor the payload.
    let blank = Event::from_payload("test", "msg_1", "garbage")
        .with_event_type("payment.succeeded")
        .with_setting("template_payment_succeeded", "  ");
    assert!(matches!(run(&blank), Ok(Outcome::Skip(_))));
}

#[test]
fn from_is_required_to_send() {
    let event = Event::from_payload("test", "msg_1", dodo("payment.succeeded").to_string())
        .with_setting("template_payment_succeeded", TEMPLATE);
    assert_eq!(
        run(&event).unwrap_err(),
        "sendgrid: payment.succeeded: setting `from` is missing; set it to a verified sender address"
    );
}

#[test]
fn the_request() {
    let event = event(&dodo("payment.succeeded"))
        .with_setting("from", " billing@shop.example ")
        .with_setting("from_name", "Shop 山田")
        .with_setting("reply_to", "support@shop.example");
    let result = run(&event);
    let request = delivered(&result);
    assert_eq!(request.method, "POST");
    assert_eq!(request.url, "https://api.sendgrid.com/v3/mail/send");
    assert_eq!(
        request.header_value("content-type"),
        Some("application/json")
    );
    assert_eq!(request.headers.len(), 1, "no auth, no idempotency header");
    let body = request.json_body().unwrap();
    assert_eq!(
        body["from"],
        json!({"email": "billing@shop.example", "name": "Shop 山田"})
    );
    assert_eq!(body["reply_to"], json!({"email": "support@shop.example"}));
    assert_eq!(body["template_id"], TEMPLATE);
    assert_eq!(body["categories"], json!(["payment.succeeded"]));
    assert_eq!(
        body["custom_args"],
        json!({"hookwasm_delivery_key": "test:msg_1", "dodo_event_type": "payment.succeeded"})
    );
    assert_eq!(
        body["personalizations"][0]["to"],
        json!([{"email": "jane.doe@example.com", "name": "Jane Doe"}])
    );
    // No subject or content: the dynamic template has them.
    assert!(body.get("subject").is_none() && body.get("content").is_none());

    // Without the optional settings, their keys are left out.
    let body = self::body(&dodo("payment.succeeded"));
    assert_eq!(body["from"], json!({"email": "billing@shop.example"}));
    assert!(body.get("reply_to").is_none());
}

#[test]
fn endpoint_url_replaces_the_default() {
    let event = event(&dodo("payment.succeeded"))
        .with_endpoint_url("https://api.eu.sendgrid.com/v3/mail/send");
    assert_eq!(
        delivered(&run(&event)).url,
        "https://api.eu.sendgrid.com/v3/mail/send"
    );
}

#[test]
fn every_dodo_event_type_with_a_template_is_sent() {
    let samples = samples();
    assert_eq!(samples.len(), 21, "one sample per Dodo event type");
    for (event_type, payload) in samples {
        let outcome = run(&event(&payload)).unwrap();
        if event_type == "license_key.created" {
            // Dodo's license key payload names the customer by id only.
            assert_eq!(
                outcome.skip_reason(),
                Some(
                    "license_key.created carries no customer e-mail address (only data.customer_id), so there is nobody to e-mail"
                )
            );
            continue;
        }
        let body = outcome.request().unwrap().json_body().unwrap();
        let data = &body["personalizations"][0]["dynamic_template_data"];
        assert_eq!(data["event_type"], event_type.as_str());
        assert!(data["amount"].is_string(), "{event_type}: {data}");
        assert_eq!(data["currency"], "USD", "{event_type}");
        assert_eq!(body["custom_args"]["dodo_event_type"], event_type.as_str());
        // And without a template, every type is skipped.
        let unconfigured = Event::from_payload("test", "msg_1", payload.to_string())
            .with_setting("from", "billing@shop.example");
        assert!(
            run(&unconfigured).unwrap().skip_reason().is_some(),
            "{event_type}"
        );
    }
}

#[test]
fn fields_per_kind() {
    let sample = |name: &str| read_json(format!("{SAMPLES}/{name}.json").as_ref());
    let data = template_data(&sample("dispute.lost"));
    assert_eq!(data["dispute_id"], "dp_q9BVPKzA4HeQs2f2PmDc");
    assert_eq!(data["amount"], "4.00");
    assert_eq!(data["status"], "dispute_lost");
    assert_eq!(data["stage"], "dispute");
    assert_eq!(data["remarks"], "");

    let data = template_data(&sample("subscription.on_hold"));
    assert_eq!(data["amount"], "4.20");
    assert_eq!(data["frequency"], "Month");
    assert_eq!(data["frequency_count"], 1);
    assert_eq!(data["cancel_at_next_billing_date"], false);

    let data = template_data(&sample("refund.failed"));
    assert_eq!(data["refund_id"], "ref_nUV0DuvmVgeKJVbS04L0y");
    assert_eq!(data["reason"], "Testing Refund failure");
    assert_eq!(data["is_partial"], false);

    // A license key with a customer object gets its key.
    let mut license = sample("license_key.created");
    license["data"]["customer"] = json!({"email": "jane@example.com"});
    let data = template_data(&license);
    assert_eq!(data["license_key"], "db44b22c-fe9b-4a68-bf0d-b0e0d6c6c8c0");
    assert_eq!(data["customer_id"], "cus_8VbC6JDZzPEqfBPUdpj0K");
    assert_eq!(data["instances_count"], 0);

    // Types without a mapping get their data as it is.
    let payout = json!({"type": "payout.succeeded", "timestamp": "2026-01-01T00:00:00Z",
                        "data": {"payout_id": "po_1", "customer": {"email": "a@b.test"}, "n": [1]}});
    let data = template_data(&payout);
    assert_eq!(data["data"]["payout_id"], "po_1");
    assert_eq!(data["data"]["n"], json!([1]));
}

#[test]
fn amounts_follow_the_currency() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["currency"] = json!("JPY");
    payload["data"]["total_amount"] = json!(500);
    payload["data"]["tax"] = json!(37);
    let data = template_data(&payload);
    assert_eq!(
        (
            data["amount"].as_str(),
            data["tax"].as_str(),
            data["currency"].as_str()
        ),
        (Some("500"), Some("37"), Some("JPY"))
    );

    let mut payload = dodo("subscription.active");
    payload["data"]["currency"] = json!("KWD");
    payload["data"]["recurring_pre_tax_amount"] = json!(1234);
    assert_eq!(template_data(&payload)["amount"], "1.234");

    let mut payload = dodo("refund.succeeded");
    payload["data"]["currency"] = Value::Null;
    assert_eq!(template_data(&payload)["currency"], "USD");
}

#[test]
fn nulls_are_omitted_and_defaults_apply() {
    let mut payload = dodo("payment.failed");
    payload["data"]["error_message"] = Value::Null;
    payload["data"]["payment_method"] = Value::Null;
    payload["data"]["customer"]["name"] = Value::Null;
    let body = body(&payload);
    let data = &body["personalizations"][0]["dynamic_template_data"];
    assert_eq!(data["error_message"], "Payment processing failed");
    assert_eq!(data["payment_method"], "unknown");
    assert!(data.get("customer_name").is_none());
    assert!(data.get("payment_link").is_none());
    assert_eq!(
        body["personalizations"][0]["to"],
        json!([{"email": "jane.doe@example.com"}])
    );

    // Only a failed payment gets the default error message.
    let data = template_data(&dodo("payment.succeeded"));
    assert!(data.get("error_message").is_none());
}

#[test]
fn recipient_names_lose_separators_sendgrid_refuses() {
    let mut payload = dodo("payment.succeeded");
    for (name, expected) in [
        ("Doe, Jane", Some("Doe Jane")),
        ("a;b,,c", Some("a b c")),
        (" Zoë 山田 🚀 ", Some("Zoë 山田 🚀")),
        (",;", None),
        ("", None),
    ] {
        payload["data"]["customer"]["name"] = json!(name);
        let body = body(&payload);
        let to = &body["personalizations"][0]["to"][0];
        assert_eq!(to["name"].as_str(), expected, "{name:?}");
        // The template data keeps the name as it was.
        assert_eq!(
            body["personalizations"][0]["dynamic_template_data"]["customer_name"],
            name
        );
    }
}

#[test]
fn missing_customer() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["customer"]["email"] = json!("");
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "sendgrid: payment.succeeded: data.customer.email is missing"
    );
    payload["data"].as_object_mut().unwrap().remove("customer");
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "sendgrid: payment.succeeded: data.customer.email is missing"
    );
    payload["data"]["customer"] = json!({"email": 42});
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "sendgrid: payment.succeeded: data.customer.email is not a string"
    );
}

#[test]
fn unicode_and_huge_values() {
    let mut payload = dodo("payment.failed");
    let long = "é".repeat(100_000);
    payload["data"]["error_message"] = json!(long);
    payload["data"]["customer"]["name"] = json!("Zoë 山田 🚀 \"quoted\"");
    let data = template_data(&payload);
    // SendGrid documents no limit per template value (only 30 MB per e-mail).
    assert_eq!(data["error_message"], long.as_str());
    assert_eq!(data["customer_name"], "Zoë 山田 🚀 \"quoted\"");

    // Categories are cut to 255 characters, custom args stay far below 10,000 bytes.
    let long_type = format!("payment.{}", "x".repeat(400));
    let mut payload = dodo("payment.succeeded");
    payload["type"] = json!(long_type);
    let long_key = "k".repeat(20_000);
    let event = Event::from_payload(&long_key, "msg_1", payload.to_string())
        .with_setting("from", "billing@shop.example")
        .with_setting(template_setting(&long_type), TEMPLATE);
    let body = delivered_json(&run(&event));
    let category = body["categories"][0].as_str().unwrap();
    assert_eq!(category.chars().count(), 255);
    assert!(category.ends_with('…'));
    let key = body["custom_args"]["hookwasm_delivery_key"]
        .as_str()
        .unwrap();
    assert!(key.starts_with("sha256:") && key.len() == 71, "{key}");
    assert!(body["custom_args"].to_string().len() < 10_000);
    // Stable across retries.
    assert_eq!(
        delivered_json(&run(&event))["custom_args"]["hookwasm_delivery_key"],
        key
    );
}

#[test]
fn errors_name_the_field() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["total_amount"] = json!(21.59);
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "sendgrid: payment.succeeded: data.total_amount is not an integer"
    );
    let mut payload = dodo("dispute.opened");
    payload["data"]["amount"] = json!("4.00");
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "sendgrid: dispute.opened: data.amount is not an integer"
    );
    for (payload, message) in [
        ("", "payload is empty"),
        ("[]", "payload is not a JSON object"),
    ] {
        let event = Event::from_payload("test", "msg_1", payload)
            .with_event_type("payment.succeeded")
            .with_setting("from", "billing@shop.example")
            .with_setting("template_payment_succeeded", TEMPLATE);
        assert_eq!(
            run(&event).unwrap_err(),
            format!("sendgrid: payment.succeeded: {message}")
        );
    }
}

#[test]
fn never_panics_on_odd_payloads() {
    let mut runs = 0;
    for (event_type, payload) in samples() {
        for variant in odd_variants(&payload) {
            let event = Event::from_payload("test", "msg_1", variant.to_string())
                .with_event_type(&event_type)
                .with_setting("from", "billing@shop.example")
                .with_setting(template_setting(&event_type), TEMPLATE);
            if let Err(message) = run(&event) {
                assert!(message.starts_with("sendgrid: "), "{message}");
                assert!(!message.contains(['\r', '\n']), "{message:?}");
            }
            runs += 1;
        }
    }
    assert!(runs > 1_000, "only {runs} variants");
}
