//! The fixture cases from `tests/fixtures/expected/slack.*.json`, every
//! sample event type, and the edge cases around them.

use hookwasm_sdk::testing::{Case, delivered, delivered_json, odd_variants, read_json};
use hookwasm_sdk::text::utf16_len;
use hookwasm_sdk::{Event, Outcome, Value, call, json};

use crate::{Slack, limit};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");
const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../host/samples/dodo");
const URL: &str = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX";

fn run(event: &Event) -> Result<Outcome, String> {
    call::<Slack>(event)
}

/// A Dodo fixture payload, to be altered by an edge case.
fn dodo(event_type: &str) -> Value {
    read_json(format!("{FIXTURES}/dodo/{event_type}.json").as_ref())
}

fn event(payload: &Value) -> Event {
    Event::from_payload("test", "msg_1", payload.to_string()).with_endpoint_url(URL)
}

/// The body, after checking it against every limit Slack documents.
fn body(event: &Event) -> Value {
    let body = delivered_json(&run(event));
    check_limits(&body);
    body
}

/// Every `text` string inside `value`, with the JSON path it is at.
fn texts<'a>(value: &'a Value, path: String, out: &mut Vec<(String, &'a str)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if let (true, Some(text)) = (key == "text", child.as_str()) {
                    out.push((path.clone(), text));
                }
                texts(child, format!("{path}.{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                texts(child, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn check_limits(body: &Value) {
    let text = body["text"].as_str().expect("a notification text");
    assert!(!text.is_empty() && utf16_len(text) <= limit::TEXT);
    let blocks = body["blocks"].as_array().expect("blocks");
    assert!(blocks.len() <= limit::BLOCKS);
    let mut all = Vec::new();
    texts(&body["blocks"], String::new(), &mut all);
    let total: usize = all.iter().map(|(_, text)| utf16_len(text)).sum();
    assert!(
        total <= limit::BLOCKS_TEXT,
        "{total} characters of block text"
    );
    for block in blocks {
        match block["type"].as_str().unwrap() {
            "header" => {
                assert_eq!(block["text"]["type"], "plain_text");
                let text = block["text"]["text"].as_str().unwrap();
                assert!(utf16_len(text) <= limit::HEADER, "{text}");
            }
            "section" => {
                if let Some(text) = block["text"]["text"].as_str() {
                    assert!(!text.is_empty() && utf16_len(text) <= limit::SECTION_TEXT);
                }
                if let Some(fields) = block["fields"].as_array() {
                    assert!(!fields.is_empty() && fields.len() <= limit::FIELDS);
                    for field in fields {
                        let text = field["text"].as_str().unwrap();
                        assert!(utf16_len(text) <= limit::FIELD, "{}", utf16_len(text));
                    }
                }
            }
            "actions" => {
                let url = block["elements"][0]["url"].as_str().unwrap();
                assert!(utf16_len(url) <= limit::BUTTON_URL);
            }
            "context" => {
                let text = block["elements"][0]["text"].as_str().unwrap();
                assert!(utf16_len(text) <= limit::SECTION_TEXT);
            }
            other => panic!("unexpected block {other}"),
        }
    }
}

/// The section fields as `(label, value)`.
fn fields(body: &Value) -> Vec<(String, String)> {
    body["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|block| block["fields"].as_array())
        .flatten()
        .map(|field| {
            let text = field["text"].as_str().unwrap();
            let (label, value) = text.split_once('\n').unwrap();
            (label.trim_matches('*').to_owned(), value.to_owned())
        })
        .collect()
}

fn field(body: &Value, label: &str) -> Option<String> {
    fields(body)
        .into_iter()
        .find(|(l, _)| l == label)
        .map(|(_, v)| v)
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
        let case = Case::load(FIXTURES, &format!("slack.{name}"));
        let outcome = run(&case.event);
        case.check(&outcome);
        check_limits(&delivered_json(&outcome));
    }
}

#[test]
fn every_sample_event_type_is_a_message() {
    let mut seen = 0;
    for entry in std::fs::read_dir(SAMPLES).unwrap() {
        let path = entry.unwrap().path();
        let payload = read_json(&path);
        let event_type = payload["type"].as_str().unwrap().to_owned();
        let body = body(&event(&payload).with_setting("dashboard_url", "https://d.test/{id}"));
        let header = body["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(header.len() > 4, "{event_type}: {header}");
        assert!(
            body.to_string().contains("d.test/"),
            "{event_type}: every sample has its own id"
        );
        assert!(
            !body.to_string().contains("db44b22c"),
            "the license key is secret"
        );
        seen += 1;
    }
    assert_eq!(seen, 21);
}

#[test]
fn the_url_is_required_and_kept() {
    let payload = dodo("payment.succeeded");
    let without_url = Event::from_payload("test", "msg_1", payload.to_string());
    assert_eq!(
        run(&without_url).unwrap_err(),
        "slack: payment.succeeded: the endpoint has no url; set `url` in its config"
    );
    let odd = format!("{URL}?x=1#y");
    let request = run(&event(&payload).with_endpoint_url(odd.as_str())).unwrap();
    let request = request.request().unwrap();
    assert_eq!(request.url, odd);
    assert_eq!(request.method, "POST");
    // No idempotency header: Slack has no such thing.
    assert_eq!(request.headers.len(), 1);
    assert_eq!(
        request.header_value("content-type"),
        Some("application/json")
    );
}

#[test]
fn amounts_follow_the_currency() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["currency"] = json!("JPY");
    payload["data"]["total_amount"] = json!(500);
    let body = body(&event(&payload));
    assert_eq!(field(&body, "Amount").as_deref(), Some("500 JPY"));
    assert!(body["text"].as_str().unwrap().contains(": 500 JPY"));

    payload["data"]["currency"] = json!("KWD");
    payload["data"]["total_amount"] = json!(1234);
    assert_eq!(
        field(&body_of(&payload), "Amount").as_deref(),
        Some("1.234 KWD")
    );

    let mut dispute = dodo("dispute.opened");
    dispute["data"]["amount"] = json!(7);
    dispute["data"]["currency"] = Value::Null;
    assert_eq!(
        field(&body_of(&dispute), "Amount").as_deref(),
        Some("0.07 USD")
    );

    let mut subscription = dodo("subscription.active");
    subscription["data"]["currency"] = json!("JPY");
    assert_eq!(
        field(&body_of(&subscription), "Amount").as_deref(),
        Some("1500 JPY per month")
    );
}

fn body_of(payload: &Value) -> Value {
    body(&event(payload))
}

#[test]
fn nulls_and_a_missing_customer_are_left_out() {
    let mut payload = dodo("payment.failed");
    payload["data"]["customer"] = Value::Null;
    payload["data"]["payment_method"] = Value::Null;
    payload["data"]["card_network"] = Value::Null;
    payload["data"]["error_message"] = Value::Null;
    let body = body_of(&payload);
    let labels: Vec<String> = fields(&body).into_iter().map(|(l, _)| l).collect();
    assert_eq!(labels, ["Amount", "Status", "Method", "Payment"]);
    assert_eq!(field(&body, "Method").as_deref(), Some("•••• 9995"));
    assert_eq!(body["text"], "Payment failed: 21.59 USD");
    // The contract's default message for a failure without one.
    assert_eq!(
        body["blocks"][2]["text"]["text"],
        "*Error*\nPayment processing failed (INSUFFICIENT_FUNDS)"
    );

    let mut refund = dodo("refund.succeeded");
    refund["data"].as_object_mut().unwrap().remove("customer");
    refund["data"]["reason"] = json!("");
    refund["data"]["amount"] = Value::Null;
    let body = body_of(&refund);
    assert_eq!(body["text"], "Refund succeeded");
    assert!(field(&body, "Customer").is_none() && field(&body, "Amount").is_none());
    assert!(!body.to_string().contains("Reason"));

    let bare = json!({"type": "subscription.renewed"});
    let body = body_of(&bare);
    assert_eq!(body["blocks"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(body["text"], "Subscription renewed");
}

#[test]
fn unicode_passes_through() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["customer"]["name"] = json!("Zoë 山田 🚀 \"quoted\"");
    let body = body_of(&payload);
    assert_eq!(
        field(&body, "Customer").as_deref(),
        Some("Zoë 山田 🚀 \"quoted\"")
    );
    assert_eq!(
        body["text"],
        "Payment succeeded: 21.59 USD · Zoë 山田 🚀 \"quoted\""
    );
}

#[test]
fn payload_text_cannot_mention_or_link() {
    let mut payload = dodo("dispute.opened");
    payload["data"]["customer"]["name"] = json!("<!channel> & <https://evil.test|click>");
    payload["data"]["reason"] = json!("<!here>\r\nsecond line");
    let body = body_of(&payload);
    assert_eq!(
        field(&body, "Customer").as_deref(),
        Some("&lt;!channel&gt; &amp; &lt;https://evil.test|click&gt;")
    );
    assert_eq!(
        body["blocks"][2]["text"]["text"],
        "*Reason*\n&lt;!here&gt;\nsecond line"
    );
    assert!(body["text"].as_str().unwrap().contains("&lt;!channel&gt;"));
    // Only the date in the context line is Slack markup.
    let raw = body.to_string().replace("<!date^", "");
    assert!(!raw.contains("<!") && !raw.contains("<http"), "{raw}");
}

#[test]
fn huge_strings_are_cut_to_the_limits() {
    let mut payload = dodo("payment.failed");
    payload["data"]["customer"]["name"] = json!("N".repeat(50_000));
    payload["data"]["customer"]["email"] = json!(format!("{}@example.com", "e".repeat(5_000)));
    payload["data"]["payment_method"] = json!("&".repeat(3_000));
    payload["data"]["payment_id"] = json!("p".repeat(2_500));
    payload["data"]["error_message"] = json!("🚀".repeat(40_000));
    payload["data"]["currency"] = json!("X".repeat(10_000));
    payload["type"] = json!(format!("payment.{}", "failed".repeat(100)));
    let event = event(&payload)
        .with_event_type(payload["type"].as_str().unwrap())
        .with_setting(
            "dashboard_url",
            format!("https://d.test/{}/{{id}}", "a".repeat(3_000)),
        );
    let body = body(&event);
    let name = field(&body, "Customer").unwrap();
    assert!(name.ends_with('…') && name.len() > 400, "{}", name.len());
    let error = body["blocks"][2]["text"]["text"].as_str().unwrap();
    assert!(error.ends_with('…') && error.starts_with("*Error*\n🚀"));
    // An escape is never cut in half.
    let method = field(&body, "Method").unwrap();
    assert!(method.trim_end_matches('…').ends_with("&amp;"), "{method}");
    // A button URL over Slack's limit is left out rather than cut.
    assert!(!body.to_string().contains("\"actions\""));
    assert!(body["text"].as_str().unwrap().ends_with('…'));
}

#[test]
fn dashboard_links() {
    let payload = dodo("payment.succeeded");
    let with = |template: &str, payload: &Value| {
        body(&event(payload).with_setting("dashboard_url", template))
    };
    let body = with(
        "https://dash.test/payments/{payment_id}?from=slack",
        &payload,
    );
    let button = &body["blocks"][2]["elements"][0];
    assert_eq!(body["blocks"][2]["type"], "actions");
    assert_eq!(
        button["url"],
        "https://dash.test/payments/pay_7Rb2Xk9LqT4mWz8NcV1eP?from=slack"
    );
    assert_eq!(button["text"]["text"], "Open in dashboard");

    let mut odd = payload.clone();
    odd["data"]["payment_id"] = json!("pay/1 &x");
    assert_eq!(
        with("https://dash.test/{id}", &odd)["blocks"][2]["elements"][0]["url"],
        "https://dash.test/pay%2F1%20%26x"
    );
    // The event has no subscription: no link rather than a broken one.
    let body = with("https://dash.test/{subscription_id}", &payload);
    assert!(!body.to_string().contains("dash.test"));

    assert_eq!(
        run(&event(&payload).with_setting("dashboard_url", "dash.test/{id}")).unwrap_err(),
        "slack: payment.succeeded: setting dashboard_url is not an http(s) URL: dash.test/{id}"
    );
}

#[test]
fn license_keys_never_show_the_key() {
    let payload = read_json(format!("{SAMPLES}/license_key.created.json").as_ref());
    let body = body_of(&payload);
    assert!(
        !body
            .to_string()
            .contains(payload["data"]["key"].as_str().unwrap())
    );
    assert_eq!(
        field(&body, "License").as_deref(),
        Some("`lic_bL8HwBAMfuQKS8HODxegO`")
    );
}

#[test]
fn other_event_types_are_skipped() {
    for event_type in [
        "payout.paid",
        "credit.added",
        "dunning.started",
        "",
        "payment",
    ] {
        let outcome = run(&event(&dodo("payment.succeeded")).with_event_type(event_type)).unwrap();
        assert_eq!(
            outcome.skip_reason().unwrap(),
            format!(
                "slack has no message for {event_type}: it posts payment.*, refund.*, \
                 dispute.*, subscription.* and license_key.*"
            )
        );
    }
    // Skipping needs neither the payload nor the URL.
    let garbage = Event::from_payload("test", "msg_1", "garbage").with_event_type("payout.paid");
    assert!(matches!(run(&garbage), Ok(Outcome::Skip(_))));
}

#[test]
fn errors_name_the_field() {
    for (payload, message) in [
        ("", "payload is empty"),
        ("[]", "payload is not a JSON object"),
        (
            r#"{"data":{"total_amount":21.59}}"#,
            "data.total_amount is not an integer",
        ),
        (
            r#"{"data":{"customer":{"email":["x"]}}}"#,
            "data.customer.email is not a string",
        ),
    ] {
        let event = Event::from_payload("test", "msg_1", payload)
            .with_event_type("payment.succeeded")
            .with_endpoint_url(URL);
        assert_eq!(
            run(&event).unwrap_err(),
            format!("slack: payment.succeeded: {message}")
        );
    }
}

#[test]
fn the_time_is_shown_in_each_readers_time_zone() {
    let body = body_of(&dodo("payment.succeeded"));
    let context = body["blocks"].as_array().unwrap().last().unwrap()["elements"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        context,
        "Dodo Payments · `payment.succeeded` · \
         <!date^1736983812^{date_short_pretty} at {time}|2025-01-15 23:30 UTC>"
    );
    let mut payload = dodo("payment.succeeded");
    payload["timestamp"] = json!("soon");
    let body = body_of(&payload);
    assert!(!body.to_string().contains("<!date"));
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
                .with_endpoint_url(URL)
                .with_setting("dashboard_url", "https://d.test/{id}/{customer_id}");
            match run(&event) {
                Ok(outcome) => check_limits(&delivered_json(&Ok(outcome))),
                Err(message) => {
                    assert!(message.starts_with("slack: "), "{message}");
                    assert!(!message.contains(['\r', '\n']), "{message:?}");
                }
            }
            runs += 1;
        }
    }
    assert!(runs > 1_000, "only {runs} variants");
}

#[test]
fn the_request_is_a_post_of_json() {
    let request = run(&event(&dodo("refund.succeeded"))).unwrap();
    let request = delivered(&Ok(request)).clone();
    assert_eq!(request.url, URL);
    assert!(request.json_body().unwrap()["blocks"].is_array());
}
