//! The fixture cases from `tests/fixtures/expected/teams.*.json`, every
//! sample event type, and the edge cases around them.

use hookwasm_sdk::testing::{Case, delivered, delivered_json, odd_variants, read_json};
use hookwasm_sdk::{Event, Outcome, Value, call, json};

use crate::{Teams, limit};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");
const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../host/samples/dodo");
const URL: &str = "https://prod-00.westus.logic.azure.com/workflows/0123456789abcdef/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=EXAMPLE_SIGNATURE";

/// The labels of longer texts: the only `TextBlock`s besides the title.
const DETAIL_LABELS: [&str; 5] = ["Error", "Reason", "Remarks", "Feedback", "Comment"];

fn run(event: &Event) -> Result<Outcome, String> {
    call::<Teams>(event)
}

/// A Dodo fixture payload, to be altered by an edge case.
fn dodo(event_type: &str) -> Value {
    read_json(format!("{FIXTURES}/dodo/{event_type}.json").as_ref())
}

fn event(payload: &Value) -> Event {
    Event::from_payload("test", "msg_1", payload.to_string()).with_endpoint_url(URL)
}

/// The card, after checking the message's shape and size.
fn card(event: &Event) -> Value {
    let outcome = run(event);
    check(&outcome);
    delivered_json(&outcome)["attachments"][0]["content"].clone()
}

fn card_of(payload: &Value) -> Value {
    card(&event(payload))
}

fn check(outcome: &Result<Outcome, String>) {
    let request = delivered(outcome);
    assert!(
        request.body.len() <= limit::BODY_BYTES,
        "{} bytes",
        request.body.len()
    );
    let message = delivered_json(outcome);
    assert_eq!(message["type"], "message");
    let attachments = message["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1);
    assert_eq!(
        attachments[0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachments[0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    let body = card["body"].as_array().unwrap();
    let title = body[0]["text"].as_str().unwrap();
    assert!(title.chars().count() <= limit::TITLE);
    // Payload text is only ever in TextRuns, which Teams does not read as
    // markdown.
    for block in &body[1..] {
        match block["type"].as_str().unwrap() {
            "TextBlock" => {
                assert!(
                    DETAIL_LABELS.contains(&block["text"].as_str().unwrap()),
                    "{block}"
                );
            }
            "RichTextBlock" => {
                for inline in block["inlines"].as_array().unwrap() {
                    assert_eq!(inline["type"], "TextRun");
                    assert!(!inline["text"].as_str().unwrap().is_empty());
                }
            }
            other => panic!("unexpected {other}"),
        }
    }
    if let Some(actions) = card.get("actions") {
        assert_eq!(actions[0]["type"], "Action.OpenUrl");
        assert!(actions[0]["url"].as_str().unwrap().starts_with("http"));
    }
}

/// The fact lines as `(label, value)`.
fn facts(card: &Value) -> Vec<(String, String)> {
    card["body"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|block| {
            let inlines = block["inlines"].as_array()?;
            let label = inlines.first()?["text"].as_str()?.strip_suffix(": ")?;
            Some((
                label.to_owned(),
                inlines.get(1)?["text"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

fn fact(card: &Value, label: &str) -> Option<String> {
    facts(card)
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
        let case = Case::load(FIXTURES, &format!("teams.{name}"));
        let outcome = run(&case.event);
        case.check(&outcome);
        check(&outcome);
    }
}

#[test]
fn every_sample_event_type_is_a_card() {
    let mut seen = 0;
    for entry in std::fs::read_dir(SAMPLES).unwrap() {
        let payload = read_json(&entry.unwrap().path());
        let event_type = payload["type"].as_str().unwrap().to_owned();
        let card = card(&event(&payload).with_setting("dashboard_url", "https://d.test/{id}"));
        assert!(
            card["actions"][0]["url"]
                .as_str()
                .unwrap()
                .starts_with("https://d.test/"),
            "{event_type}"
        );
        assert!(
            !card.to_string().contains("db44b22c"),
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
        "teams: payment.succeeded: the endpoint has no url; set `url` in its config"
    );
    let outcome = run(&event(&payload)).unwrap();
    let request = outcome.request().unwrap();
    assert_eq!(request.url, URL);
    assert_eq!(request.method, "POST");
    // No idempotency header: Workflows webhooks have none.
    assert_eq!(request.headers.len(), 1);
    assert_eq!(
        request.header_value("content-type"),
        Some("application/json")
    );
}

#[test]
fn amounts_follow_the_currency() {
    let mut payload = dodo("refund.succeeded");
    payload["data"]["currency"] = json!("JPY");
    payload["data"]["amount"] = json!(500);
    let card = card_of(&payload);
    assert_eq!(fact(&card, "Amount").as_deref(), Some("500 JPY"));
    assert_eq!(card["fallbackText"], "Refund succeeded: 500 JPY · Jane Doe");

    payload["data"]["currency"] = json!("KWD");
    payload["data"]["amount"] = json!(1234);
    assert_eq!(
        fact(&card_of(&payload), "Amount").as_deref(),
        Some("1.234 KWD")
    );
}

#[test]
fn nulls_and_a_missing_customer_are_left_out() {
    let mut payload = dodo("subscription.active");
    payload["data"].as_object_mut().unwrap().remove("customer");
    payload["data"]["next_billing_date"] = Value::Null;
    payload["data"]["payment_frequency_interval"] = Value::Null;
    let card = card_of(&payload);
    let labels: Vec<String> = facts(&card).into_iter().map(|(l, _)| l).collect();
    assert_eq!(labels, ["Amount", "Status", "Subscription", "Product"]);
    assert_eq!(fact(&card, "Amount").as_deref(), Some("15.00 USD"));
    assert_eq!(card["fallbackText"], "Subscription active: 15.00 USD");
    assert!(card.get("actions").is_none());

    let bare = card_of(&json!({"type": "license_key.created"}));
    assert_eq!(bare["body"].as_array().unwrap().len(), 2);
}

#[test]
fn unicode_passes_through() {
    let mut payload = dodo("payment.failed");
    payload["data"]["customer"]["name"] = json!("Zoë 山田 🚀 \"quoted\"");
    let card = card_of(&payload);
    assert_eq!(
        fact(&card, "Customer").as_deref(),
        Some("Zoë 山田 🚀 \"quoted\"")
    );
}

#[test]
fn payload_text_is_never_markdown() {
    let mut payload = dodo("dispute.opened");
    payload["data"]["customer"]["name"] = json!("**[Verify](https://evil.test)**");
    payload["data"]["reason"] = json!("line one\n\n- line two");
    let card = card_of(&payload);
    // Shown as written, in a TextRun.
    assert_eq!(
        fact(&card, "Customer").as_deref(),
        Some("**[Verify](https://evil.test)**")
    );
    let body = card["body"].as_array().unwrap();
    let at = body.iter().position(|b| b["text"] == "Reason").unwrap();
    assert_eq!(body[at + 1]["inlines"][0]["text"], "line one");
    assert_eq!(body[at + 2]["inlines"][0]["text"], "- line two");
    assert_eq!(
        fact(&card, "Dispute"),
        Some("dp_4Kc8Lm2Np6Qr0St4Uv8Wx".to_owned())
    );
    let id_line = body
        .iter()
        .find(|b| b["inlines"][0]["text"] == "Dispute: ")
        .unwrap();
    assert_eq!(id_line["inlines"][1]["fontType"], "Monospace");
}

#[test]
fn huge_strings_keep_the_card_under_28_kb() {
    // Three bytes of JSON per character (山), and quotes escaped to two.
    let mut payload = dodo("payment.failed");
    payload["data"]["customer"]["name"] = json!("山".repeat(50_000));
    payload["data"]["customer"]["email"] = json!("\"".repeat(50_000));
    payload["data"]["payment_method"] = json!("\\".repeat(50_000));
    payload["data"]["payment_id"] = json!("山".repeat(50_000));
    payload["data"]["subscription_id"] = json!("山".repeat(50_000));
    payload["data"]["status"] = json!("山".repeat(50_000));
    payload["data"]["card_network"] = json!("山".repeat(50_000));
    payload["data"]["error_message"] = json!(format!("{}\n", "山".repeat(99)).repeat(1_000));
    payload["data"]["currency"] = json!("山".repeat(50_000));
    payload["type"] = json!(format!("payment.{}", "failed".repeat(1_000)));
    let event = event(&payload)
        .with_event_type(payload["type"].as_str().unwrap())
        .with_setting(
            "dashboard_url",
            format!("https://d.test/{}", "a".repeat(2_000)),
        );
    let card = card(&event);
    assert!(fact(&card, "Customer").unwrap().ends_with('…'));
    let body = card["body"].as_array().unwrap();
    let lines = body.len() - 1 - facts(&card).len() - 2;
    assert!(
        (2..=limit::DETAIL_LINES).contains(&lines),
        "{lines} lines of the error"
    );
    // A dashboard link over 2,048 characters is left out.
    let long_link = event.with_setting(
        "dashboard_url",
        format!("https://d.test/{}", "a".repeat(3_000)),
    );
    assert!(self::card(&long_link).get("actions").is_none());
}

#[test]
fn a_longer_text_has_at_most_ten_lines() {
    let mut payload = dodo("payment.failed");
    payload["data"]["error_message"] = json!("x\n".repeat(50));
    payload["data"]["error_code"] = Value::Null;
    let card = card_of(&payload);
    let body = card["body"].as_array().unwrap();
    let at = body.iter().position(|b| b["text"] == "Error").unwrap();
    let lines = &body[at + 1..body.len() - 1];
    assert_eq!(lines.len(), limit::DETAIL_LINES);
    assert_eq!(lines[0]["inlines"][0]["text"], "x");
    assert_eq!(lines[9]["inlines"][0]["text"], vec!["x"; 41].join(" "));
}

#[test]
fn dashboard_links() {
    let payload = dodo("subscription.cancelled");
    let card = card(&event(&payload).with_setting(
        "dashboard_url",
        "https://dash.test/s/{subscription_id}?c={customer_id}",
    ));
    assert_eq!(
        card["actions"],
        json!([{"type": "Action.OpenUrl", "title": "Open in dashboard",
                "url": "https://dash.test/s/sub_6Gh1Jk5Lm9Np3Qr7St2Uv?c=cus_5tYuIoP1aSdFgH3jKlZxC"}])
    );
    assert!(
        self::card(
            &event(&payload).with_setting("dashboard_url", "https://dash.test/{payment_id}")
        )
        .get("actions")
        .is_none()
    );
    assert_eq!(
        run(&event(&payload).with_setting("dashboard_url", " https://dash.test")).unwrap_err(),
        "teams: subscription.cancelled: setting dashboard_url is not an http(s) URL: https://dash.test"
    );
}

#[test]
fn colours_and_time() {
    let card = card_of(&dodo("dispute.opened"));
    assert_eq!(card["body"][0]["color"], "Attention");
    assert_eq!(card["body"][0]["text"], "🚨 Dispute opened");
    let footer = card["body"].as_array().unwrap().last().unwrap();
    assert_eq!(
        footer["inlines"][0]["text"],
        "Dodo Payments · dispute.opened · 2025-02-20 14:05 UTC"
    );
    assert_eq!(
        card_of(&dodo("refund.succeeded"))["body"][0]["color"],
        "Accent"
    );
}

#[test]
fn other_event_types_are_skipped() {
    for event_type in ["payout.failed", "credit.expired", "", "license_key"] {
        let outcome = run(&event(&dodo("refund.succeeded")).with_event_type(event_type)).unwrap();
        assert_eq!(
            outcome.skip_reason().unwrap(),
            format!(
                "teams has no message for {event_type}: it posts payment.*, refund.*, \
                 dispute.*, subscription.* and license_key.*"
            )
        );
    }
    let garbage = Event::from_payload("test", "msg_1", "garbage").with_event_type("dunning.x");
    assert!(matches!(run(&garbage), Ok(Outcome::Skip(_))));
}

#[test]
fn errors_name_the_field() {
    for (payload, message) in [
        ("", "payload is empty"),
        ("\"text\"", "payload is not a JSON object"),
        (
            r#"{"data":{"recurring_pre_tax_amount":"ten"}}"#,
            "data.recurring_pre_tax_amount is not an integer",
        ),
        (
            r#"{"data":{"cancel_at_next_billing_date":"yes"}}"#,
            "data.cancel_at_next_billing_date is not a boolean",
        ),
    ] {
        let event = Event::from_payload("test", "msg_1", payload)
            .with_event_type("subscription.renewed")
            .with_endpoint_url(URL);
        assert_eq!(
            run(&event).unwrap_err(),
            format!("teams: subscription.renewed: {message}")
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
                .with_endpoint_url(URL)
                .with_setting("dashboard_url", "https://d.test/{id}");
            let outcome = run(&event);
            match &outcome {
                Ok(_) => check(&outcome),
                Err(message) => {
                    assert!(message.starts_with("teams: "), "{message}");
                    assert!(!message.contains(['\r', '\n']), "{message:?}");
                }
            }
            runs += 1;
        }
    }
    assert!(runs > 1_000, "only {runs} variants");
}
