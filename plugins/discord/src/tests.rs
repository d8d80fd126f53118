//! The fixture cases from `tests/fixtures/expected/discord.*.json`, every
//! sample event type, and the edge cases around them.

use hookwasm_sdk::testing::{Case, delivered, delivered_json, odd_variants, read_json};
use hookwasm_sdk::text::utf16_len;
use hookwasm_sdk::{Event, Outcome, Value, call, json};

use crate::{Discord, limit};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");
const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../host/samples/dodo");
const URL: &str = "https://discord.com/api/webhooks/123456789012345678/EXAMPLE_WEBHOOK_TOKEN";

fn run(event: &Event) -> Result<Outcome, String> {
    call::<Discord>(event)
}

/// A Dodo fixture payload, to be altered by an edge case.
fn dodo(event_type: &str) -> Value {
    read_json(format!("{FIXTURES}/dodo/{event_type}.json").as_ref())
}

fn event(payload: &Value) -> Event {
    Event::from_payload("test", "msg_1", payload.to_string()).with_endpoint_url(URL)
}

/// The body, after checking it against every limit Discord documents.
fn body(event: &Event) -> Value {
    let body = delivered_json(&run(event));
    check_limits(&body);
    body
}

fn body_of(payload: &Value) -> Value {
    body(&event(payload))
}

fn len(value: &Value) -> usize {
    utf16_len(value.as_str().unwrap())
}

fn check_limits(body: &Value) {
    assert_eq!(body["allowed_mentions"], json!({"parse": []}));
    let content = body["content"].as_str().unwrap();
    assert!(!content.is_empty() && utf16_len(content) <= limit::CONTENT);
    let embeds = body["embeds"].as_array().unwrap();
    assert_eq!(embeds.len(), 1);
    let embed = &embeds[0];
    let mut total = len(&embed["title"]) + len(&embed["footer"]["text"]);
    assert!(len(&embed["title"]) <= limit::TITLE);
    assert!(len(&embed["footer"]["text"]) <= limit::FOOTER);
    assert!(embed["color"].is_u64());
    if let Some(description) = embed.get("description") {
        assert!(len(description) > 0 && len(description) <= limit::DESCRIPTION);
        total += len(description);
    }
    if let Some(fields) = embed.get("fields") {
        let fields = fields.as_array().unwrap();
        assert!(!fields.is_empty() && fields.len() <= limit::FIELDS);
        for field in fields {
            let (name, value) = (&field["name"], &field["value"]);
            assert!(len(name) > 0 && len(name) <= limit::FIELD_NAME);
            assert!(
                len(value) > 0 && len(value) <= limit::FIELD_VALUE,
                "{value}"
            );
            total += len(name) + len(value);
        }
    }
    assert!(
        total <= limit::EMBEDS_TOTAL,
        "{total} characters in the embed"
    );
    if let Some(url) = embed.get("url") {
        assert!(url.as_str().unwrap().starts_with("http"));
    }
}

/// The embed's fields as `(name, value)`.
fn fields(body: &Value) -> Vec<(String, String)> {
    body["embeds"][0]["fields"]
        .as_array()
        .map(|fields| {
            fields
                .iter()
                .map(|f| {
                    (
                        f["name"].as_str().unwrap().to_owned(),
                        f["value"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn field(body: &Value, name: &str) -> Option<String> {
    fields(body)
        .into_iter()
        .find(|(n, _)| n == name)
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
        let case = Case::load(FIXTURES, &format!("discord.{name}"));
        let outcome = run(&case.event);
        case.check(&outcome);
        check_limits(&delivered_json(&outcome));
    }
}

#[test]
fn every_sample_event_type_is_a_message() {
    let mut seen = 0;
    for entry in std::fs::read_dir(SAMPLES).unwrap() {
        let payload = read_json(&entry.unwrap().path());
        let event_type = payload["type"].as_str().unwrap().to_owned();
        let body = body(&event(&payload).with_setting("dashboard_url", "https://d.test/{id}"));
        let embed = &body["embeds"][0];
        assert!(
            embed["url"]
                .as_str()
                .unwrap()
                .starts_with("https://d.test/"),
            "{event_type}"
        );
        let timestamp = embed["timestamp"].as_str().unwrap();
        assert!(
            timestamp.len() == 24 && timestamp.ends_with('Z'),
            "{timestamp}"
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
fn wait_true_is_added_and_the_url_kept() {
    let payload = dodo("payment.succeeded");
    let without_url = Event::from_payload("test", "msg_1", payload.to_string());
    assert_eq!(
        run(&without_url).unwrap_err(),
        "discord: payment.succeeded: the endpoint has no url; set `url` in its config"
    );
    for (url, expected) in [
        (URL.to_owned(), format!("{URL}?wait=true")),
        (
            format!("{URL}?thread_id=42"),
            format!("{URL}?thread_id=42&wait=true"),
        ),
        (format!("{URL}?wait=false"), format!("{URL}?wait=true")),
    ] {
        let outcome = run(&event(&payload).with_endpoint_url(url.as_str())).unwrap();
        let request = outcome.request().unwrap();
        assert_eq!(request.url, expected);
        assert_eq!(request.method, "POST");
        // No idempotency header: Discord's webhooks have none.
        assert_eq!(request.headers.len(), 1);
        assert_eq!(
            request.header_value("content-type"),
            Some("application/json")
        );
    }
}

#[test]
fn amounts_follow_the_currency() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["currency"] = json!("JPY");
    payload["data"]["total_amount"] = json!(500);
    let body = body_of(&payload);
    assert_eq!(field(&body, "Amount").as_deref(), Some("500 JPY"));
    assert!(body["content"].as_str().unwrap().contains(": 500 JPY"));

    payload["data"]["currency"] = json!("KWD");
    payload["data"]["total_amount"] = json!(1234);
    assert_eq!(
        field(&body_of(&payload), "Amount").as_deref(),
        Some("1.234 KWD")
    );

    let mut dispute = dodo("dispute.opened");
    dispute["data"]["amount"] = json!("5");
    dispute["data"]["currency"] = Value::Null;
    assert_eq!(
        field(&body_of(&dispute), "Amount").as_deref(),
        Some("0.05 USD")
    );
}

#[test]
fn nulls_and_a_missing_customer_are_left_out() {
    let mut payload = dodo("payment.succeeded");
    payload["data"]["customer"] = json!({});
    payload["data"]["card_last_four"] = Value::Null;
    let body = body_of(&payload);
    let names: Vec<String> = fields(&body).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["Amount", "Status", "Method", "Payment"]);
    assert_eq!(field(&body, "Method").as_deref(), Some("card (VISA)"));
    assert_eq!(body["content"], "Payment succeeded: 21.59 USD");
    assert!(body["embeds"][0].get("description").is_none());

    let bare = json!({"type": "refund.failed"});
    let body = body_of(&bare);
    let embed = &body["embeds"][0];
    assert!(embed.get("fields").is_none() && embed.get("timestamp").is_none());
    assert_eq!(embed["title"], "🚨 Refund failed");
}

#[test]
fn unicode_passes_through() {
    let mut payload = dodo("subscription.active");
    payload["data"]["customer"]["name"] = json!("Zoë 山田 🚀 \"quoted\"");
    let body = body_of(&payload);
    assert_eq!(
        field(&body, "Customer").as_deref(),
        Some("Zoë 山田 🚀 \"quoted\"")
    );
}

#[test]
fn payload_text_cannot_ping_format_or_link() {
    let mut payload = dodo("dispute.opened");
    payload["data"]["customer"]["name"] = json!("@everyone <@123> **[free](https://evil.test)**");
    payload["data"]["reason"] = json!("# Big\n> quote ||spoiler|| `code`");
    let body = body_of(&payload);
    assert_eq!(
        field(&body, "Customer").as_deref(),
        Some("@everyone \\<@123\\> \\*\\*\\[free\\](https://evil.test)\\*\\*")
    );
    assert_eq!(
        body["embeds"][0]["description"],
        "**Reason**\n\\# Big\n\\> quote \\|\\|spoiler\\|\\| \\`code\\`"
    );
    assert!(
        body["content"]
            .as_str()
            .unwrap()
            .ends_with("\\*\\*\\[free\\](https://evil.test)\\*\\*")
    );
    // Identifiers are code, where markdown is not read.
    assert_eq!(
        field(&body, "Dispute").as_deref(),
        Some("`dp_4Kc8Lm2Np6Qr0St4Uv8Wx`")
    );
}

#[test]
fn huge_strings_are_cut_to_the_limits() {
    let mut payload = dodo("dispute.opened");
    payload["data"]["customer"]["name"] = json!("N".repeat(50_000));
    payload["data"]["customer"]["email"] = json!("*".repeat(5_000));
    payload["data"]["dispute_id"] = json!("d".repeat(3_000));
    payload["data"]["reason"] = json!("🚀".repeat(40_000));
    payload["data"]["remarks"] = json!("_".repeat(40_000));
    payload["data"]["dispute_status"] = json!("s".repeat(1_000));
    payload["type"] = json!(format!("dispute.{}", "opened".repeat(100)));
    let event = event(&payload).with_event_type(payload["type"].as_str().unwrap());
    let body = body(&event);
    let email = field(&body, "Email").unwrap();
    // An escape is never cut in half.
    assert!(email.ends_with("\\*…"), "{email}");
    assert!(field(&body, "Dispute").unwrap().ends_with("…`"));
    let description = body["embeds"][0]["description"].as_str().unwrap();
    assert!(
        description.starts_with("**Reason**\n🚀") && description.contains("\n\n**Remarks**\n\\_")
    );
    assert!(body["content"].as_str().unwrap().ends_with('…'));
}

#[test]
fn dashboard_links() {
    let payload = dodo("refund.succeeded");
    let body = body(
        &event(&payload).with_setting("dashboard_url", "https://dash.test/refunds/{refund_id}"),
    );
    assert_eq!(
        body["embeds"][0]["url"],
        "https://dash.test/refunds/ref_9Tb3Yn7Mk1Qw5Er9Ui3Op"
    );
    let body = body_of(&payload);
    assert!(body["embeds"][0].get("url").is_none());
    let body = self::body(
        &event(&payload).with_setting("dashboard_url", "https://dash.test/{dispute_id}"),
    );
    assert!(body["embeds"][0].get("url").is_none());
    assert_eq!(
        run(&event(&payload).with_setting("dashboard_url", "ftp://dash.test")).unwrap_err(),
        "discord: refund.succeeded: setting dashboard_url is not an http(s) URL: ftp://dash.test"
    );
}

#[test]
fn colours_and_time() {
    let body = body_of(&dodo("payment.failed"));
    let embed = &body["embeds"][0];
    assert_eq!(embed["color"], 0xE01E5A);
    assert_eq!(embed["timestamp"], "2025-01-15T23:12:40.051Z");
    assert_eq!(embed["footer"]["text"], "Dodo Payments · payment.failed");
    assert_eq!(
        body_of(&dodo("payment.succeeded"))["embeds"][0]["color"],
        0x2EB67D
    );
}

#[test]
fn other_event_types_are_skipped() {
    for event_type in ["payout.paid", "abandoned_checkout.detected", "", "dispute"] {
        let outcome = run(&event(&dodo("dispute.opened")).with_event_type(event_type)).unwrap();
        assert_eq!(
            outcome.skip_reason().unwrap(),
            format!(
                "discord has no message for {event_type}: it posts payment.*, refund.*, \
                 dispute.*, subscription.* and license_key.*"
            )
        );
    }
    let garbage = Event::from_payload("test", "msg_1", "garbage").with_event_type("credit.added");
    assert!(matches!(run(&garbage), Ok(Outcome::Skip(_))));
}

#[test]
fn errors_name_the_field() {
    for (payload, message) in [
        ("", "payload is empty"),
        ("42", "payload is not a JSON object"),
        (
            r#"{"data":{"amount":true}}"#,
            "data.amount is not an integer",
        ),
        (
            r#"{"data":{"reason":{"text":"x"}}}"#,
            "data.reason is not a string",
        ),
    ] {
        let event = Event::from_payload("test", "msg_1", payload)
            .with_event_type("dispute.opened")
            .with_endpoint_url(URL);
        assert_eq!(
            run(&event).unwrap_err(),
            format!("discord: dispute.opened: {message}")
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
            match run(&event) {
                Ok(outcome) => check_limits(&delivered_json(&Ok(outcome))),
                Err(message) => {
                    assert!(message.starts_with("discord: "), "{message}");
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
    let outcome = run(&event(&dodo("subscription.cancelled")));
    assert!(delivered(&outcome).json_body().unwrap()["embeds"].is_array());
}
