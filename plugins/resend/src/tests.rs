//! The fixture cases from `tests/fixtures/expected/resend.*.json`, and the
//! edge cases around them.

use hookwasm_sdk::testing::{Case, delivered, delivered_json, odd_variants, read_json};
use hookwasm_sdk::{Event, Outcome, Value, call, json};

use crate::{Resend, settings_for};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");
const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../host/samples/dodo");
const FROM: &str = "Shop <billing@shop.example>";

fn run(event: &Event) -> Result<Outcome, String> {
    call::<Resend>(event)
}

/// A Dodo fixture payload, to be altered by an edge case.
fn dodo(event_type: &str) -> Value {
    read_json(format!("{FIXTURES}/dodo/{event_type}.json").as_ref())
}

/// The event as an endpoint with a sender and a subject for its type (so:
/// the built-in e-mail) sees it.
fn event(payload: &Value) -> Event {
    let event = Event::from_payload("test", "msg_1", payload.to_string());
    let (subject, _) = settings_for(&event.event_type);
    event
        .with_setting("from", FROM)
        .with_setting(subject, "About {EVENT_TYPE}")
}

/// The same with a Resend template instead.
fn template_event(payload: &Value) -> Event {
    let event = Event::from_payload("test", "msg_1", payload.to_string());
    let (_, template) = settings_for(&event.event_type);
    event.with_setting(template, "order-update")
}

fn body(event: &Event) -> Value {
    delivered_json(&run(event))
}

fn variables(payload: &Value) -> Value {
    body(&template_event(payload))["template"]["variables"].clone()
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
        let case = Case::load(FIXTURES, &format!("resend.{name}"));
        case.check(&run(&case.event));
    }
}

#[test]
fn settings_are_named_after_the_event_type() {
    assert_eq!(
        settings_for("payment.succeeded"),
        (
            "subject_payment_succeeded".to_owned(),
            "template_payment_succeeded".to_owned()
        )
    );
    assert_eq!(
        settings_for("license_key.created").1,
        "template_license_key_created"
    );
}

#[test]
fn an_event_type_without_subject_or_template_is_skipped_naming_both() {
    let event = Event::from_payload("test", "msg_1", dodo("dispute.opened").to_string())
        .with_setting("from", FROM)
        .with_setting("subject_payment_succeeded", "Receipt");
    assert_eq!(
        run(&event).unwrap().skip_reason(),
        Some(
            "resend sends only the event types that have a subject or a template; set `subject_dispute_opened` (a built-in e-mail) or `template_dispute_opened` (a Resend template) to send dispute.opened"
        )
    );
    let blank = Event::from_payload("test", "msg_1", "garbage")
        .with_event_type("payment.succeeded")
        .with_setting("subject_payment_succeeded", " ");
    assert!(matches!(run(&blank), Ok(Outcome::Skip(_))));
}

#[test]
fn from_is_required_for_the_built_in_email_only() {
    let payload = dodo("payment.succeeded");
    let built_in = Event::from_payload("test", "msg_1", payload.to_string())
        .with_setting("subject_payment_succeeded", "Receipt");
    assert_eq!(
        run(&built_in).unwrap_err(),
        "resend: payment.succeeded: setting `from` is missing; set it to a sender on a verified domain, e.g. `Shop <billing@shop.example>`"
    );
    // A template may carry its own sender (and subject).
    let body = body(&template_event(&payload));
    assert!(body.get("from").is_none() && body.get("subject").is_none());
    assert_eq!(body["template"]["id"], "order-update");
}

#[test]
fn the_request() {
    let event = event(&dodo("payment.succeeded")).with_setting("reply_to", "support@shop.example");
    let result = run(&event);
    let request = delivered(&result);
    assert_eq!(request.method, "POST");
    assert_eq!(request.url, "https://api.resend.com/emails");
    assert_eq!(
        request.header_value("content-type"),
        Some("application/json")
    );
    assert_eq!(request.header_value("idempotency-key"), Some("test:msg_1"));
    assert_eq!(request.headers.len(), 2);
    let body = request.json_body().unwrap();
    assert_eq!(body["from"], FROM);
    assert_eq!(body["to"], json!(["jane.doe@example.com"]));
    assert_eq!(body["reply_to"], "support@shop.example");
    assert_eq!(body["subject"], "About payment.succeeded");
    assert_eq!(
        body["tags"],
        json!([{"name": "event_type", "value": "payment_succeeded"}])
    );
    assert!(
        body["html"]
            .as_str()
            .unwrap()
            .starts_with("<!DOCTYPE html>")
    );
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("Hi Jane Doe,\n\n")
    );
    assert!(body.get("template").is_none());
}

#[test]
fn a_template_is_never_combined_with_a_body() {
    let event = template_event(&dodo("refund.succeeded"))
        .with_setting("from", FROM)
        .with_setting("subject_refund_succeeded", "Refund {REFUND_ID}");
    let body = body(&event);
    assert!(body.get("html").is_none() && body.get("text").is_none());
    assert_eq!(body["subject"], "Refund ref_9Tb3Yn7Mk1Qw5Er9Ui3Op");
    assert_eq!(body["from"], FROM);
    assert_eq!(body["template"]["variables"]["AMOUNT"], "21.59");
}

#[test]
fn endpoint_url_replaces_the_default() {
    let event = event(&dodo("payment.succeeded")).with_endpoint_url("http://127.0.0.1:9000/emails");
    assert_eq!(delivered(&run(&event)).url, "http://127.0.0.1:9000/emails");
}

#[test]
fn every_dodo_event_type_with_a_subject_or_template_is_sent() {
    let samples = samples();
    assert_eq!(samples.len(), 21, "one sample per Dodo event type");
    for (event_type, payload) in samples {
        for event in [event(&payload), template_event(&payload)] {
            let outcome = run(&event).unwrap();
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
            assert_eq!(
                body["to"],
                json!([payload["data"]["customer"]["email"]]),
                "{event_type}"
            );
            if let Some(text) = body["text"].as_str() {
                assert!(text.contains("Amount: "), "{event_type}: {text}");
                assert!(!text.contains("There is an update on your account"));
            } else {
                let variables = &body["template"]["variables"];
                assert_eq!(variables["EVENT_TYPE"], event_type.as_str());
                assert!(variables["AMOUNT"].is_string(), "{event_type}");
                assert_eq!(variables["CURRENCY"], "USD");
            }
        }
        let unconfigured =
            Event::from_payload("test", "msg_1", payload.to_string()).with_setting("from", FROM);
        assert!(run(&unconfigured).unwrap().skip_reason().is_some());
    }
}

#[test]
fn variables_per_kind() {
    let sample = |name: &str| read_json(format!("{SAMPLES}/{name}.json").as_ref());
    let v = variables(&sample("dispute.challenged"));
    assert_eq!(v["DISPUTE_ID"], "dp_q9BVPKzA4HeQs2f2PmDc");
    assert_eq!(v["AMOUNT"], "4.00");
    assert_eq!(v["STATUS"], "dispute_challenged");
    assert_eq!(v["STAGE"], "dispute");
    assert_eq!(v["REMARKS"], "");

    let v = variables(&sample("subscription.renewed"));
    assert_eq!(v["FREQUENCY_COUNT"], 1);
    // Resend variables are strings or numbers: booleans become text.
    assert_eq!(v["CANCEL_AT_NEXT_BILLING_DATE"], "false");

    let v = variables(&sample("payment.succeeded"));
    assert_eq!(v["PRODUCT_IDS"], "pdt_e9mUw084cWnu0tz");
    assert_eq!(v["PAYMENT_METHOD"], "card");

    let mut license = sample("license_key.created");
    license["data"]["customer"] = json!({"email": "jane@example.com", "name": "Jane"});
    let v = variables(&license);
    assert_eq!(v["LICENSE_KEY"], "db44b22c-fe9b-4a68-bf0d-b0e0d6c6c8c0");
    assert_eq!(v["CUSTOMER_ID"], "cus_8VbC6JDZzPEqfBPUdpj0K");
    let text = body(&event(&license))["text"].as_str().unwrap().to_owned();
    assert!(
        text.contains("Your license key is ready.\n\nLicense key: db44b22c-"),
        "{text}"
    );

    // Other types: their top-level values, by their names in capitals.
    let payout = json!({"type": "payout.succeeded", "timestamp": "2026-01-01T00:00:00Z",
        "data": {"payout_id": "po_1", "amount": 12345, "email": "x", "bad-key": 1, "list": [1],
                 "customer": {"email": "ops@shop.example"}}});
    let v = variables(&payout);
    assert_eq!(v["PAYOUT_ID"], "po_1");
    assert_eq!(v["AMOUNT"], 12345);
    assert!(v.get("EMAIL").is_none(), "reserved by Resend");
    assert!(v.get("BAD-KEY").is_none() && v.get("LIST").is_none());
    let body = body(&event(&payout).with_setting("subject_payout_succeeded", "Payout {PAYOUT_ID}"));
    assert_eq!(body["subject"], "Payout po_1");
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("There is an update on your account (payout.succeeded)."));
    assert!(text.contains("PAYOUT_ID: po_1\n"), "{text}");
}

#[test]
fn subjects_fill_known_placeholders_only() {
    let payload = dodo("payment.failed");
    let subject = |template: &str| {
        body(&event(&payload).with_setting("subject_payment_failed", template))["subject"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        subject("{AMOUNT} {CURRENCY} failed: {ERROR_MESSAGE}"),
        "21.59 USD failed: The account has insufficient funds to complete the transaction"
    );
    // A variable of another kind is empty; anything else is left as written.
    assert_eq!(
        subject("{REFUND_ID}|{amount}|{TYPO}|{}|{ {AMOUNT"),
        "|{amount}|{TYPO}|{}|{ {AMOUNT"
    );
    assert_eq!(subject("{{AMOUNT}}"), "{21.59}");
    assert_eq!(subject("Zoë 山田 🚀"), "Zoë 山田 🚀");
}

#[test]
fn amounts_follow_the_currency() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["currency"] = json!("JPY");
    payload["data"]["total_amount"] = json!(500);
    let v = variables(&payload);
    assert_eq!(
        (v["AMOUNT"].as_str(), v["CURRENCY"].as_str()),
        (Some("500"), Some("JPY"))
    );
    let text = body(&event(&payload))["text"].as_str().unwrap().to_owned();
    assert!(text.contains("Amount: 500 JPY\n"));

    let mut payload = dodo("subscription.active");
    payload["data"]["currency"] = json!("KWD");
    payload["data"]["recurring_pre_tax_amount"] = json!(1234);
    assert_eq!(variables(&payload)["AMOUNT"], "1.234");

    let mut payload = dodo("refund.succeeded");
    payload["data"]["currency"] = Value::Null;
    assert_eq!(variables(&payload)["CURRENCY"], "USD");
}

#[test]
fn nulls_are_omitted_and_defaults_apply() {
    let mut payload = dodo("payment.failed");
    payload["data"]["error_message"] = Value::Null;
    payload["data"]["payment_method"] = Value::Null;
    payload["data"]["customer"]["name"] = Value::Null;
    let v = variables(&payload);
    assert_eq!(v["ERROR_MESSAGE"], "Payment processing failed");
    assert_eq!(v["PAYMENT_METHOD"], "unknown");
    assert!(v.get("CUSTOMER_NAME").is_none());
    assert!(
        v.as_object()
            .unwrap()
            .values()
            .all(|v| v.is_string() || v.is_number())
    );
    let text = body(&event(&payload))["text"].as_str().unwrap().to_owned();
    assert!(text.starts_with("Hello,\n\n"), "{text}");
    assert!(text.contains("Reason: Payment processing failed\n"));
    assert!(
        variables(&dodo("payment.succeeded"))
            .get("ERROR_MESSAGE")
            .is_none()
    );
}

#[test]
fn html_is_escaped_and_links_are_links() {
    let mut payload = dodo("payment.failed");
    payload["data"]["customer"]["name"] = json!("<b>Jane</b> & \"J\" 'D'");
    payload["data"]["payment_link"] = json!("https://pay.test/r?a=1&b=\"2\"");
    let body = body(&event(&payload).with_setting("subject_payment_failed", "<Oops> & {AMOUNT}"));
    let html = body["html"].as_str().unwrap();
    assert!(
        html.contains("<title>&lt;Oops&gt; &amp; 21.59</title>"),
        "{html}"
    );
    assert!(html.contains("<p>Hi &lt;b&gt;Jane&lt;/b&gt; &amp; &quot;J&quot; &#39;D&#39;,</p>"));
    assert!(html.contains(
        "<a href=\"https://pay.test/r?a=1&amp;b=&quot;2&quot;\">https://pay.test/r?a=1&amp;b=&quot;2&quot;</a>"
    ));
    assert!(!html.contains("<b>"));
    // The text body and the subject stay as they are.
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("Hi <b>Jane</b> & \"J\" 'D',")
    );
    assert_eq!(body["subject"], "<Oops> & 21.59");
}

#[test]
fn long_values_are_cut_to_resends_limit() {
    let mut payload = dodo("payment.failed");
    payload["data"]["error_message"] = json!("🚀".repeat(5_000));
    payload["data"]["customer"]["name"] = json!("é".repeat(1_999));
    let v = variables(&payload);
    let message = v["ERROR_MESSAGE"].as_str().unwrap();
    // 2,000 UTF-16 units: 999 rockets (two units each) and the ellipsis.
    assert_eq!(message.encode_utf16().count(), 1_999);
    assert!(message.ends_with("🚀…"));
    assert_eq!(v["CUSTOMER_NAME"].as_str().unwrap().chars().count(), 1_999);

    payload["data"]["customer"]["name"] = json!("a".repeat(2_001));
    let name = variables(&payload)["CUSTOMER_NAME"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(name.encode_utf16().count(), 2_000);
    assert!(name.ends_with("a…"));

    // Numbers beyond 2^53 - 1 and fractions are sent as text.
    let mut payload = dodo("subscription.active");
    payload["data"]["quantity"] = json!(9_007_199_254_740_993u64);
    payload["data"]["trial_period_days"] = json!(1.5);
    let v = variables(&payload);
    assert_eq!(v["QUANTITY"], "9007199254740993");
    assert_eq!(v["TRIAL_PERIOD_DAYS"], "1.5");
}

#[test]
fn tags_are_what_resend_accepts() {
    let mut payload = dodo("payment.succeeded");
    let long_type = format!("payment.{}é:x", "y".repeat(300));
    payload["type"] = json!(long_type);
    let event = event(&payload);
    let value = body(&event)["tags"][0]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(value.len(), 256);
    assert!(value.starts_with("payment_yyy"));
    assert!(
        value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    );
}

#[test]
fn long_delivery_keys_are_hashed_to_fit_resend() {
    let payload = dodo("payment.succeeded").to_string();
    let webhook_id = "msg_2qH7sL1xK9vN3bT6yR4pW8zE5cF";
    let keyed = |endpoint: &str| {
        let event = Event::from_payload(endpoint, webhook_id, payload.clone())
            .with_setting("from", FROM)
            .with_setting("subject_payment_succeeded", "Receipt");
        delivered(&run(&event))
            .header_value("idempotency-key")
            .unwrap()
            .to_owned()
    };
    // 224 + 1 + 31 = 256 characters: sent as it is.
    assert_eq!(keyed(&"e".repeat(224)).len(), 256);
    let long = keyed(&"e".repeat(225));
    assert!(long.starts_with("sha256:") && long.len() == 71, "{long}");
    assert_eq!(keyed(&"e".repeat(225)), long, "stable across retries");
    // Non-ASCII keys are hashed too: header values are ASCII.
    assert!(keyed("endpoint-é").starts_with("sha256:"));
}

#[test]
fn missing_customer() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["customer"]["email"] = Value::Null;
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "resend: payment.succeeded: data.customer.email is missing"
    );
    payload["data"].as_object_mut().unwrap().remove("customer");
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "resend: payment.succeeded: data.customer.email is missing"
    );
    payload["data"]["customer"] = json!({"email": ["a@b.test"]});
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "resend: payment.succeeded: data.customer.email is not a string"
    );
}

#[test]
fn errors_name_the_field() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["total_amount"] = json!("21.59");
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "resend: payment.succeeded: data.total_amount is not an integer"
    );
    for (payload, message) in [
        ("", "payload is empty"),
        ("42", "payload is not a JSON object"),
    ] {
        let event = Event::from_payload("test", "msg_1", payload)
            .with_event_type("payment.succeeded")
            .with_setting("from", FROM)
            .with_setting("subject_payment_succeeded", "Receipt");
        assert_eq!(
            run(&event).unwrap_err(),
            format!("resend: payment.succeeded: {message}")
        );
    }
}

#[test]
fn never_panics_on_odd_payloads() {
    let mut runs = 0;
    for (event_type, payload) in samples() {
        let (subject, template) = settings_for(&event_type);
        for variant in odd_variants(&payload) {
            let base = Event::from_payload("test", "msg_1", variant.to_string())
                .with_event_type(&event_type);
            let built_in = base
                .clone()
                .with_setting("from", FROM)
                .with_setting(&subject, "About {AMOUNT} {CUSTOMER_NAME}");
            for event in [built_in, base.with_setting(&template, "order-update")] {
                if let Err(message) = run(&event) {
                    assert!(message.starts_with("resend: "), "{message}");
                    assert!(!message.contains(['\r', '\n']), "{message:?}");
                }
                runs += 1;
            }
        }
    }
    assert!(runs > 1_000, "only {runs} variants");
}
