//! The behaviours that return (the others loop, grow, panic or sleep, and
//! are exercised by the host's sandbox tests).

use hookwasm_sdk::testing::{delivered, delivered_json};
use hookwasm_sdk::{Event, Outcome, call, json};

use crate::Misbehave;

fn run(event_type: &str) -> Result<Outcome, String> {
    call::<Misbehave>(&Event::from_payload("ep", "msg_1", "{}").with_event_type(event_type))
}

#[test]
fn skip_and_err() {
    assert_eq!(run("skip").unwrap(), Outcome::skip("asked to skip"));
    assert_eq!(run("err").unwrap_err(), "misbehave: err: asked to fail");
}

#[test]
fn crlf_header() {
    let result = run("crlf");
    let request = delivered(&result);
    assert_eq!(request.url, "https://example.com/hook");
    assert_eq!(request.header_value("x-evil"), Some("a\r\nx-injected: 1"));
}

#[test]
fn huge_body() {
    let result = run("huge-body");
    let request = delivered(&result);
    assert_eq!(request.body.len(), 20 << 20);
    assert!(request.body.iter().all(|&b| b == b'a'));
}

#[test]
fn echo_returns_the_event() {
    let event = Event::from_payload("ep", "msg_1", r#"{"type":"echo","data":{"n":1}}"#)
        .with_endpoint_url("http://127.0.0.1:9/in")
        .with_setting("a", "1");
    let result = call::<Misbehave>(&event);
    assert_eq!(delivered(&result).url, "http://127.0.0.1:9/in");
    assert_eq!(
        delivered(&result).header_value("content-type"),
        Some("application/json")
    );
    assert_eq!(
        delivered_json(&result),
        json!({"id": "msg_1", "delivery_key": "ep:msg_1", "event_type": "echo",
               "settings": {"a": "1"}, "payload": {"type": "echo", "data": {"n": 1}},
               "plugin": "misbehave"})
    );
}

#[test]
fn echo_keeps_payloads_that_are_not_json_as_text() {
    let event = Event::from_payload("ep", "msg_1", "not json").with_event_type("anything");
    let result = call::<Misbehave>(&event);
    assert_eq!(delivered(&result).url, "https://example.com/hook");
    let body = delivered_json(&result);
    assert_eq!(body["payload"], "not json");
    assert_eq!(body["event_type"], "anything");

    let array = Event::from_payload("ep", "msg_1", "[1,2]").with_event_type("echo");
    assert_eq!(
        delivered_json(&call::<Misbehave>(&array))["payload"],
        json!([1, 2])
    );
}
