//! The fixture cases from `tests/fixtures/expected/close.*.json`, every
//! sample Dodo event type, and the edge cases around them.

use hookwasm_sdk::testing::{Case, delivered, delivered_json, odd_variants, read_json};
use hookwasm_sdk::{Event, Outcome, Value, call, json};

use crate::Close;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");
const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../host/samples/dodo");

const LEAD: &str = "lead_s6vHFTK1TSRoH6otXOexWDO9jM4xyb1kELHDoU7Fdsp";

fn run(event: &Event) -> Result<Outcome, String> {
    call::<Close>(event)
}

/// A Dodo fixture payload, to be altered by an edge case.
fn dodo(event_type: &str) -> Value {
    read_json(format!("{FIXTURES}/dodo/{event_type}.json").as_ref())
}

/// `payload` with the Close lead id in the customer's metadata.
fn with_lead(mut payload: Value) -> Value {
    payload["data"]["customer"]["metadata"] = json!({"close_lead_id": LEAD});
    payload
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

fn note(payload: &Value) -> String {
    let result = run(&event(payload));
    assert!(delivered(&result).url.ends_with("/api/v1/activity/note/"));
    delivered_json(&result)["note"].as_str().unwrap().to_owned()
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
        let case = Case::load(FIXTURES, &format!("close.{name}"));
        case.check(&run(&case.event));
    }
}

#[test]
fn every_dodo_event_type_becomes_a_note_on_a_known_lead() {
    for (event_type, payload) in samples() {
        let customer = payload["data"].get("customer").is_some();
        let payload = if customer {
            with_lead(payload)
        } else {
            payload
        };
        match run(&event(&payload)) {
            Ok(Outcome::Deliver(request)) => {
                assert_eq!(request.url, "https://api.close.com/api/v1/activity/note/");
                let body = request.json_body().unwrap();
                assert_eq!(body["lead_id"], LEAD);
                assert_eq!(body["activity_at"], payload["timestamp"]);
                let note = body["note"].as_str().unwrap();
                assert!(
                    note.ends_with(&format!("Dodo Payments {event_type} · delivery test:msg_1")),
                    "{note}"
                );
                assert!(note.contains("Customer: "), "{note}");
            }
            // License keys carry no metadata, so no lead id.
            Ok(Outcome::Skip(reason)) => {
                assert_eq!(event_type, "license_key.created");
                assert!(reason.contains("no Close lead id"), "{reason}");
            }
            Err(message) => panic!("{event_type}: {message}"),
        }
    }
    for event_type in [
        "subscription.updated",
        "subscription.paused",
        "subscription.unpaused",
    ] {
        let event = event(&with_lead(dodo("subscription.active"))).with_event_type(event_type);
        let body = delivered_json(&run(&event));
        let action = event_type.strip_prefix("subscription.").unwrap();
        assert!(
            body["note"]
                .as_str()
                .unwrap()
                .starts_with(&format!("Subscription {action}: 15.00 USD / Month")),
            "{body}"
        );
    }
}

#[test]
fn notes_read_well() {
    assert_eq!(
        note(&with_lead(dodo("payment.failed"))),
        "Payment failed: 21.59 USD\n\
         Payment: pay_3Hn8Jk2Lp6Qs0Tv4Wx9Yz\n\
         Method: card\n\
         Error: The account has insufficient funds to complete the transaction\n\
         Error code: INSUFFICIENT_FUNDS\n\
         Product: pdt_9aB3cD4eF5gH6iJ7kL8mN\n\
         Customer: Jane Doe <jane.doe@example.com>\n\
         Customer id: cus_5tYuIoP1aSdFgH3jKlZxC\n\
         \n\
         Dodo Payments payment.failed · delivery test:msg_1"
    );
    let mut payload = with_lead(
        samples()
            .into_iter()
            .find(|(t, _)| t == "subscription.on_hold")
            .unwrap()
            .1,
    );
    payload["data"]["cancel_at_next_billing_date"] = json!(true);
    let text = note(&payload);
    assert!(
        text.starts_with("Subscription on hold: 4.20 USD / Month\n"),
        "{text}"
    );
    assert!(text.contains("\nCancels at next billing: yes\n"), "{text}");
    assert!(
        text.contains("\nCustomer: john doe <test@acme.com>\n"),
        "{text}"
    );

    let text = note(&with_lead(dodo("refund.succeeded")));
    assert!(text.contains("\nPartial: no\n"), "{text}");
    assert!(
        text.contains("\nReason: Customer requested a refund\n"),
        "{text}"
    );
}

#[test]
fn the_lead_id_comes_from_metadata() {
    // The payment's own metadata works too, and a customer's wins.
    let mut payload = dodo("payment.succeeded");
    payload["data"]["metadata"] = json!({"close_lead_id": "lead_fromPayment"});
    assert_eq!(
        delivered_json(&run(&event(&payload)))["lead_id"],
        "lead_fromPayment"
    );
    payload["data"]["customer"]["metadata"] = json!({"close_lead_id": " lead_fromCustomer "});
    assert_eq!(
        delivered_json(&run(&event(&payload)))["lead_id"],
        "lead_fromCustomer"
    );

    // Another key.
    let mut payload = dodo("dispute.opened");
    payload["data"]["customer"]["metadata"] = json!({"crm": "lead_x"});
    assert!(matches!(run(&event(&payload)), Ok(Outcome::Skip(_))));
    let keyed = event(&payload).with_setting("lead_id_key", "crm");
    assert_eq!(delivered_json(&run(&keyed))["lead_id"], "lead_x");
    assert_eq!(
        run(&event(&payload).with_setting("lead_id_key", "a.b")).unwrap_err(),
        "close: dispute.opened: the lead_id_key setting \"a.b\" must be a metadata key, without '.' or brackets"
    );

    payload["data"]["customer"]["metadata"] = json!({"close_lead_id": "cont_123"});
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "close: dispute.opened: data.customer.metadata.close_lead_id is not a Close lead id (lead_…)"
    );
}

#[test]
fn without_a_lead_id_new_customers_become_leads() {
    // Default: subscription.active creates a lead; other events are skipped.
    let result = run(&event(&dodo("subscription.active")));
    assert_eq!(delivered(&result).url, "https://api.close.com/api/v1/lead/");
    let lead = delivered_json(&result);
    assert_eq!(lead["name"], "Jane Doe");
    assert_eq!(
        lead["contacts"],
        json!([{"name": "Jane Doe",
                "emails": [{"type": "office", "email": "jane.doe@example.com"}],
                "phones": [{"type": "office", "phone": "+14155550123"}]}])
    );
    assert!(
        lead["description"]
            .as_str()
            .unwrap()
            .starts_with("Subscription active: 15.00 USD / Month\n")
    );
    assert!(lead.get("status_id").is_none());

    let skipped = run(&event(&dodo("payment.succeeded"))).unwrap();
    assert!(
        skipped
            .skip_reason()
            .unwrap()
            .contains("not in the new_lead_on setting")
    );

    // Chosen types, a status and the customer id in a custom field.
    let configured = event(&dodo("payment.succeeded"))
        .with_setting("new_lead_on", "payment.succeeded, subscription.active")
        .with_setting("lead_status_id", "stat_1")
        .with_setting("customer_id_field", "cf_abc");
    let lead = delivered_json(&run(&configured));
    assert_eq!(lead["status_id"], "stat_1");
    assert_eq!(lead["custom.cf_abc"], "cus_5tYuIoP1aSdFgH3jKlZxC");
    assert_eq!(
        run(&configured.clone().with_setting("customer_id_field", "abc")).unwrap_err(),
        "close: payment.succeeded: the customer_id_field setting \"abc\" is not a Close custom field id (cf_…)"
    );

    // `none`: never create leads; empty (as a form leaves it): the default.
    let never = event(&dodo("subscription.active")).with_setting("new_lead_on", "None");
    assert!(matches!(run(&never), Ok(Outcome::Skip(_))));
    let empty = event(&dodo("subscription.active")).with_setting("new_lead_on", " ");
    assert!(delivered(&run(&empty)).url.ends_with("/api/v1/lead/"));

    // Without a name, the lead is named by the e-mail address; without either, an error.
    let mut payload = dodo("subscription.active");
    payload["data"]["customer"]["name"] = Value::Null;
    payload["data"]["customer"]["phone_number"] = Value::Null;
    let lead = delivered_json(&run(&event(&payload)));
    assert_eq!(lead["name"], "jane.doe@example.com");
    assert_eq!(
        lead["contacts"],
        json!([{"emails": [{"type": "office", "email": "jane.doe@example.com"}]}])
    );
    payload["data"].as_object_mut().unwrap().remove("customer");
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "close: subscription.active: data.customer.email is missing"
    );
}

#[test]
fn endpoint_url_keeps_its_origin() {
    let payload = with_lead(dodo("refund.succeeded"));
    let local = event(&payload).with_endpoint_url("http://127.0.0.1:8080/anything");
    assert_eq!(
        delivered(&run(&local)).url,
        "http://127.0.0.1:8080/api/v1/activity/note/"
    );
    let bad = event(&payload).with_endpoint_url("api.close.com");
    assert_eq!(
        run(&bad).unwrap_err(),
        "close: refund.succeeded: the endpoint url \"api.close.com\" is not an absolute URL"
    );
}

#[test]
fn amounts_follow_the_currency() {
    let mut payload = with_lead(dodo("payment.succeeded"));
    payload["data"]["currency"] = json!("JPY");
    payload["data"]["total_amount"] = json!(500);
    assert!(note(&payload).starts_with("Payment succeeded: 500 JPY\n"));
    payload["data"]["currency"] = json!("KWD");
    payload["data"]["total_amount"] = json!(1234);
    assert!(note(&payload).starts_with("Payment succeeded: 1.234 KWD\n"));
    payload["data"]["currency"] = Value::Null;
    assert!(note(&payload).starts_with("Payment succeeded: 12.34 USD\n"));
    payload["data"]["total_amount"] = Value::Null;
    assert!(note(&payload).starts_with("Payment succeeded\n"));

    let mut payload = with_lead(dodo("dispute.opened"));
    payload["data"]["amount"] = json!(2159);
    assert!(note(&payload).starts_with("Dispute opened: 21.59 USD\n"));
}

#[test]
fn defaults_nulls_and_unicode() {
    let mut payload = with_lead(dodo("payment.failed"));
    payload["data"]["payment_method"] = Value::Null;
    payload["data"]["error_message"] = Value::Null;
    payload["data"]["error_code"] = Value::Null;
    payload["data"]["customer"]["name"] = json!("Zoë 山田 🚀 <b>bold</b>");
    let text = note(&payload);
    assert!(text.contains("\nMethod: unknown\n"), "{text}");
    assert!(
        text.contains("\nError: Payment processing failed\n"),
        "{text}"
    );
    assert!(!text.contains("Error code"), "{text}");
    // Plain text, as it is: Close escapes it into HTML.
    assert!(
        text.contains("\nCustomer: Zoë 山田 🚀 <b>bold</b> <jane.doe@example.com>\n"),
        "{text}"
    );

    // The failure default is for failed payments only.
    let text = note(&with_lead(dodo("payment.succeeded")));
    assert!(!text.contains("Error"), "{text}");

    // Without a timestamp the note is dated on arrival.
    let mut payload = with_lead(dodo("dispute.opened"));
    payload.as_object_mut().unwrap().remove("timestamp");
    assert!(
        delivered_json(&run(&event(&payload)))
            .get("activity_at")
            .is_none()
    );
    payload["timestamp"] = json!("soon");
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "close: dispute.opened: timestamp is not an RFC 3339 date-time"
    );
}

#[test]
fn long_text_is_cut() {
    let mut payload = with_lead(dodo("refund.succeeded"));
    payload["data"]["reason"] = json!("é".repeat(5_000));
    let text = note(&payload);
    let reason = text
        .lines()
        .find_map(|l| l.strip_prefix("Reason: "))
        .unwrap();
    assert_eq!(reason.chars().count(), 1_000);
    assert!(reason.ends_with("é…"));

    let mut payload = dodo("subscription.active");
    payload["data"]["customer"]["name"] = json!("🚀".repeat(1_000));
    let lead = delivered_json(&run(&event(&payload)));
    assert_eq!(lead["name"], "🚀".repeat(1_000));
    payload["data"]["customer"]["name"] = json!("🚀".repeat(1_001));
    let lead = delivered_json(&run(&event(&payload)));
    assert_eq!(lead["name"], format!("{}…", "🚀".repeat(999)));
}

#[test]
fn errors_name_the_field() {
    let mut payload = with_lead(dodo("payment.succeeded"));
    payload["data"]["total_amount"] = json!(21.59);
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "close: payment.succeeded: data.total_amount is not an integer"
    );
    let mut payload = with_lead(dodo("refund.succeeded"));
    payload["data"]["is_partial"] = json!("no");
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "close: refund.succeeded: data.is_partial is not a boolean"
    );
    let mut payload = dodo("refund.succeeded");
    payload["data"]["customer"]["metadata"] = json!({"close_lead_id": 7});
    assert_eq!(
        run(&event(&payload)).unwrap_err(),
        "close: refund.succeeded: data.customer.metadata.close_lead_id is not a string"
    );
}

#[test]
fn payloads_that_are_not_objects() {
    for (payload, message) in [
        ("", "payload is empty"),
        ("[]", "payload is not a JSON object"),
        ("\"x\"", "payload is not a JSON object"),
    ] {
        let event = Event::from_payload("test", "msg_1", payload).with_event_type("dispute.won");
        assert_eq!(
            run(&event).unwrap_err(),
            format!("close: dispute.won: {message}")
        );
    }
}

#[test]
fn other_event_types_are_skipped_without_reading_the_payload() {
    for event_type in ["payout.paid", "credit.added", "", "refund", "subscription."] {
        let garbage = Event::from_payload("test", "msg_1", "garbage").with_event_type(event_type);
        let outcome = run(&garbage).unwrap();
        assert!(
            outcome.skip_reason().unwrap().contains("close maps"),
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
        // Both requests: a note (lead id present) and a new lead.
        for variant in odd_variants(&with_lead(payload.clone())) {
            let event = event(&variant)
                .with_event_type(event_type.as_str())
                .with_setting("new_lead_on", event_type.as_str())
                .with_setting("customer_id_field", "cf_1");
            if let Err(message) = run(&event) {
                assert!(message.starts_with("close: "), "{message}");
                assert!(!message.contains(['\r', '\n']), "{message:?}");
            }
            runs += 1;
        }
    }
    assert!(runs > 5_000, "only {runs} variants");
}
