//! The handler contract: what reaches the handler, and how what it returns
//! (or throws) becomes the outcome.

use hookwasm_sdk::testing::{delivered, odd_variants, read_json};
use hookwasm_sdk::{Event, Header, Outcome, Value, call, json};

use super::{FIXTURES, SEEDS, fixture, run, with_script};
use crate::Js;

/// The JSON body `source` sends for the payment.succeeded fixture.
fn body(source: &str) -> Value {
    let outcome = run(source);
    serde_json::from_slice(&delivered(&outcome).body).unwrap()
}

fn error(source: &str) -> String {
    run(source).unwrap_err()
}

#[test]
fn returning_the_webhook_unchanged_sends_the_payload_as_received() {
    let outcome = run("function handler(webhook) { return webhook; }");
    let request = delivered(&outcome);
    assert_eq!(request.method, "POST");
    assert_eq!(request.url, "https://hooks.example.com/in");
    assert_eq!(
        request.headers,
        vec![Header {
            name: "content-type".into(),
            value: "application/json".into()
        }]
    );
    let sent: Value = serde_json::from_slice(&request.body).unwrap();
    let received: Value = serde_json::from_str(&fixture("payment.succeeded")).unwrap();
    assert_eq!(sent, received);
}

#[test]
fn the_webhook_object_has_the_svix_fields_plus_id_and_settings() {
    let event = Event::from_payload("ep", "msg_9", fixture("payment.succeeded"))
        .with_endpoint_url("https://hooks.example.com/in")
        .with_setting("region", "eu")
        .with_setting("hookwasm.future-thing", "secret-ish");
    let source = "function handler(w) {
        w.payload = { keys: Object.keys(w), method: w.method, url: w.url,
                      eventType: w.eventType, id: w.id, settings: w.settings,
                      type: w.payload.type };
        return w;
    }";
    let outcome = call::<Js>(&with_script(event, "t.js", source));
    let sent: Value = serde_json::from_slice(&delivered(&outcome).body).unwrap();
    assert_eq!(
        sent,
        json!({
            "keys": ["method", "url", "eventType", "payload", "id", "settings"],
            "method": "POST",
            "url": "https://hooks.example.com/in",
            "eventType": "payment.succeeded",
            "id": "ep:msg_9",
            // hookwasm.script, hookwasm.script-name and any other hookwasm.*
            // key are the host's.
            "settings": {"region": "eu"},
            "type": "payment.succeeded",
        })
    );
}

#[test]
fn returning_undefined_sends_the_mutated_argument() {
    let sent = body("function handler(w) { w.payload = {mutated: true}; }");
    assert_eq!(sent, json!({"mutated": true}));
}

#[test]
fn a_returned_copy_is_what_is_sent() {
    let sent = body("function handler(w) { return {...w, payload: [1, 'two']}; }");
    assert_eq!(sent, json!([1, "two"]));
}

#[test]
fn cancel_skips_the_event() {
    let skipped = |source: &str| run(source).unwrap().skip_reason().map(str::to_owned);
    assert_eq!(
        skipped("function handler(w) { w.cancel = true; return w; }").as_deref(),
        Some("cancelled by the handler")
    );
    assert_eq!(
        skipped("function handler(w) { w.cancel = 'not a customer event'; return w; }").as_deref(),
        Some("not a customer event")
    );
    assert_eq!(
        skipped("function handler(w) { w.cancel = false; return w; }"),
        None
    );
    assert_eq!(
        skipped("function handler(w) { w.cancel = ''; return w; }"),
        None
    );
}

#[test]
fn custom_headers_are_added_and_content_type_can_be_replaced() {
    let outcome = run("function handler(w) {
        w.headers = { 'x-source': 'dodo', 'X-Attempt': 2, 'x-flag': true, 'x-gone': null };
        return w;
    }");
    let headers: Vec<(&str, &str)> = delivered(&outcome)
        .headers
        .iter()
        .map(|h| (h.name.as_str(), h.value.as_str()))
        .collect();
    assert_eq!(
        headers,
        [
            ("content-type", "application/json"),
            ("x-source", "dodo"),
            ("X-Attempt", "2"),
            ("x-flag", "true"),
        ]
    );

    let outcome = run("function handler(w) {
        w.headers = { 'Content-Type': 'application/vnd.api+json' };
        return w;
    }");
    assert_eq!(
        delivered(&outcome).headers,
        vec![Header {
            name: "Content-Type".into(),
            value: "application/vnd.api+json".into()
        }]
    );
}

#[test]
fn headers_must_be_an_object_of_text() {
    assert_eq!(
        error("function handler(w) { w.headers = 'x-a: 1'; return w; }"),
        "js: payment.succeeded: test.js: webhook.headers is a string, not an object of name → value"
    );
    assert_eq!(
        error("function handler(w) { w.headers = { 'x-a': { nested: 1 } }; return w; }"),
        "js: payment.succeeded: test.js: webhook.headers[\"x-a\"] is an object, not a string"
    );
}

#[test]
fn method_and_url_can_be_changed() {
    let outcome = run("function handler(w) {
        w.method = 'PUT';
        w.url = 'https://hooks.example.com/in/' + encodeURIComponent(w.payload.data.payment_id);
        return w;
    }");
    let request = delivered(&outcome);
    assert_eq!(request.method, "PUT");
    assert_eq!(
        request.url,
        "https://hooks.example.com/in/pay_7Rb2Xk9LqT4mWz8NcV1eP"
    );
    assert_eq!(
        error("function handler(w) { w.method = 1; return w; }"),
        "js: payment.succeeded: test.js: webhook.method is a number, not a string"
    );
}

#[test]
fn a_missing_url_is_an_error_naming_it() {
    let event = Event::from_payload("test", "msg_1", fixture("payment.succeeded"));
    let message = call::<Js>(&with_script(
        event.clone(),
        "t.js",
        "function handler(w) { return w; }",
    ))
    .unwrap_err();
    assert_eq!(
        message,
        "js: payment.succeeded: t.js: webhook.url is missing: set `url` on the endpoint, or webhook.url in the handler"
    );
    // The handler sees `url: null`, and may set one.
    let outcome = call::<Js>(&with_script(
        event,
        "t.js",
        "function handler(w) { if (w.url === null) w.url = 'https://x.test/'; return w; }",
    ));
    assert_eq!(delivered(&outcome).url, "https://x.test/");
    assert_eq!(
        error("function handler(w) { w.url = 42; return w; }"),
        "js: payment.succeeded: test.js: webhook.url is a number, not a string"
    );
}

#[test]
fn a_missing_script_says_how_to_give_one() {
    let event = Event::from_payload("test", "msg_1", fixture("payment.succeeded"))
        .with_endpoint_url("https://x.test/");
    assert_eq!(
        call::<Js>(&event).unwrap_err(),
        "js: payment.succeeded: no script: name a handler file with `script = \"…\"` or drop a .js file in the plugins directory"
    );
}

#[test]
fn a_script_without_handler_is_an_error() {
    assert_eq!(
        error("function transform(w) { return w; }"),
        "js: payment.succeeded: test.js: the script defines no `function handler(webhook)`"
    );
}

#[test]
fn returning_something_else_than_the_webhook_is_an_error() {
    for (source, what) in [
        ("return 5;", "a number"),
        ("return null;", "null"),
        ("return 'ok';", "a string"),
        ("return true;", "a boolean"),
    ] {
        assert_eq!(
            error(&format!("function handler(w) {{ {source} }}")),
            format!(
                "js: payment.succeeded: test.js: handler returned {what}, not the webhook object"
            )
        );
    }
    assert_eq!(
        error("function handler(w) { w.payload = undefined; return w; }"),
        "js: payment.succeeded: test.js: webhook.payload is undefined (or a function), which JSON cannot represent"
    );
}

#[test]
fn a_thrown_error_gives_its_message_and_line() {
    assert_eq!(
        error(
            "function handler(webhook) {\n  if (!webhook.payload.data.customer.vip) {\n    throw new Error('not a VIP');\n  }\n}"
        ),
        "js: payment.succeeded: test.js: Error: not a VIP (line 3)"
    );
    // Thrown in a helper: the line of the throw, not of the call.
    assert_eq!(
        error(
            "function check(d) {\n  throw new RangeError('bad amount ' + d.total_amount);\n}\n\nfunction handler(w) {\n  check(w.payload.data);\n}"
        ),
        "js: payment.succeeded: test.js: RangeError: bad amount 2159 (line 2)"
    );
    // The engine's own errors too.
    assert_eq!(
        error("function handler(w) {\n  const d = w.payload.data;\n  return d.missing.email;\n}"),
        "js: payment.succeeded: test.js: TypeError: cannot convert 'null' or 'undefined' to object (line 3)"
    );
}

#[test]
fn the_line_is_left_out_when_the_engine_only_knows_the_function() {
    // Boa records no position for a bare name lookup, only the enclosing
    // function's: saying "line 1" would point at the wrong line.
    assert_eq!(
        error("function handler(w) {\n\n  notDefined();\n}"),
        "js: payment.succeeded: test.js: ReferenceError: notDefined is not defined (in handler, which starts on line 1)"
    );
}

#[test]
fn thrown_values_that_are_not_errors() {
    assert_eq!(
        error("function handler(w) { throw 'nope'; }"),
        "js: payment.succeeded: test.js: uncaught \"nope\""
    );
    assert_eq!(
        error("function handler(w) { throw {code: 7}; }"),
        "js: payment.succeeded: test.js: uncaught {\"code\":7}"
    );
}

#[test]
fn runaway_recursion_is_an_error_not_a_crash() {
    assert_eq!(
        error("function f(n) {\n  return f(n + 1);\n}\nfunction handler(w) { f(0); }"),
        "js: payment.succeeded: test.js: RuntimeLimitError: reached the maximum number of recursive calls on this execution (line 2)"
    );
}

#[test]
fn a_syntax_error_names_the_line() {
    assert_eq!(
        error("function handler(w) {\n  return w\n  w.url = ;\n}"),
        "js: payment.succeeded: test.js: SyntaxError: unexpected token ';', primary expression (line 3)"
    );
}

#[test]
fn the_script_name_defaults_when_the_host_gives_none() {
    let event = Event::from_payload("test", "msg_1", fixture("payment.succeeded"))
        .with_setting("hookwasm.script", "throw new Error('top')");
    assert_eq!(
        call::<Js>(&event).unwrap_err(),
        "js: payment.succeeded: handler.js: Error: top (line 1)"
    );
}

#[test]
fn error_messages_stay_on_one_line() {
    let message = error("function handler(w) { throw new Error('a\\nb\\r\\nc'); }");
    assert!(!message.contains(['\n', '\r']), "{message:?}");
}

#[test]
fn a_bounded_loop_runs() {
    // An endless one is stopped by the host's fuel limit, which only exists
    // in the sandbox.
    let sent = body(
        "function handler(w) {
        let n = 0;
        for (let i = 0; i < 200000; i++) n += i % 7;
        w.payload = {n};
        return w;
    }",
    );
    assert_eq!(sent, json!({"n": 599_994}));
}

#[test]
fn async_handlers_are_awaited() {
    assert_eq!(
        body("async function handler(w) { w.payload = await Promise.resolve({a: 1}); return w; }"),
        json!({"a": 1})
    );
    assert_eq!(
        error("async function handler(w) { await null; throw new TypeError('late'); }"),
        "js: payment.succeeded: test.js: TypeError: late (line 1)"
    );
    assert_eq!(
        error("function handler(w) { return new Promise(() => {}); }"),
        "js: payment.succeeded: test.js: handler's promise never settled (there are no timers or network here)"
    );
}

#[test]
fn console_calls_leave_the_result_alone() {
    assert_eq!(
        body(
            "function handler(w) { console.log('x', w); console.error(1); w.payload = 1; return w; }"
        ),
        json!(1)
    );
}

#[test]
fn the_handler_cannot_change_how_the_body_is_serialised() {
    assert_eq!(
        body(
            "function handler(w) { JSON.stringify = () => 'hijacked'; Object.keys = () => []; w.payload = {a: 1}; return w; }"
        ),
        json!({"a": 1})
    );
}

#[test]
fn dates_read_and_print_as_in_node() {
    let sent = body(
        "function handler(w) {
        const t = w.payload.timestamp; // 2025-01-15T23:30:12.482913Z
        const d = new Date(t);
        w.payload = {
            ms: d.getTime(), parsed: Date.parse(t), iso: d.toISOString(),
            date: d.toLocaleDateString(), time: d.toLocaleTimeString(), both: d.toLocaleString(),
            utc: d.toLocaleDateString('en-US', {timeZone: 'UTC'}),
            text: String(new Date(0)), same: d.constructor === Date && d instanceof Date,
            space: new Date('2025-01-15 23:30:12Z').getTime(),
            short: new Date('2025-01-15T23:30:12.4Z').getMilliseconds(),
            invalid: new Date('nope').toLocaleString(),
            amount: (123456.789).toLocaleString(),
            fixed: (5).toLocaleString('en-US', {minimumFractionDigits: 2}),
        };
        return w;
    }",
    );
    assert_eq!(
        sent,
        json!({
            "ms": 1_736_983_812_482_i64, "parsed": 1_736_983_812_482_i64,
            "iso": "2025-01-15T23:30:12.482Z",
            "date": "1/15/2025", "time": "11:30:12 PM", "both": "1/15/2025, 11:30:12 PM",
            "utc": "1/15/2025",
            "text": "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)",
            "same": true, "space": 1_736_983_812_000_i64, "short": 400,
            "invalid": "Invalid Date", "amount": "123,456.789", "fixed": "5.00",
        })
    );
}

#[test]
fn locale_options_node_would_honour_are_refused_not_ignored() {
    assert_eq!(
        error("function handler(w) { new Date().toLocaleDateString('de-DE'); }"),
        "js: payment.succeeded: test.js: RangeError: toLocaleDateString: locale \"de-DE\" (only en-US) is not supported: this engine has no Intl, only node's en-US defaults; format the value yourself (line 1)"
    );
    assert!(
        error("function handler(w) { (1).toLocaleString('en-US', {style: 'currency', currency: 'USD'}); }")
            .contains("option `style` is not supported")
    );
    assert!(
        error("function handler(w) { new Intl.NumberFormat(); }").contains("Intl is not defined")
    );
}

#[test]
fn a_payload_that_is_not_json_is_an_error() {
    let event = Event::from_payload("test", "msg_1", "{\"type\":\"x\",")
        .with_event_type("x")
        .with_endpoint_url("https://x.test/");
    let message = call::<Js>(&with_script(
        event,
        "t.js",
        "function handler(w) { return w; }",
    ))
    .unwrap_err();
    assert!(
        message.starts_with("js: x: t.js: the payload is not JSON: "),
        "{message}"
    );
}

/// Thousands of mangled payloads (missing, null, mistyped fields) through a
/// seed handler: every outcome is a delivery, a skip or a one-line error,
/// never a panic.
#[test]
fn mangled_payloads_never_panic() {
    let source = std::fs::read_to_string(format!("{SEEDS}/loops.payment_confirmation.js")).unwrap();
    let mut runs = 0;
    for event_type in ["payment.succeeded", "subscription.active"] {
        let payload = read_json(format!("{FIXTURES}/dodo/{event_type}.json").as_ref());
        for variant in odd_variants(&payload).into_iter().step_by(5) {
            let event = Event::from_payload("test", "msg_1", variant.to_string())
                .with_event_type(event_type)
                .with_endpoint_url("https://x.test/");
            match call::<Js>(&with_script(event, "seed.js", &source)) {
                Ok(Outcome::Deliver(_) | Outcome::Skip(_)) => {}
                Err(message) => {
                    assert!(message.starts_with("js: "), "{message}");
                    assert!(!message.contains(['\r', '\n']), "{message:?}");
                }
            }
            runs += 1;
        }
    }
    assert!(runs > 100, "only {runs} variants");
}

/// What the host's check runs before a script replaces a working one (and
/// before an edited transformation is saved): the top-level code must run
/// and define `handler`.
#[test]
fn prepare_script_refuses_syntax_errors_and_scripts_without_a_handler() {
    use crate::realm::prepare_script;
    assert_eq!(
        prepare_script("ok.js", "function handler(webhook) { return webhook; }"),
        Ok(())
    );
    let err = prepare_script(
        "broken.js",
        "function handler(webhook) {\n  return webhook.;\n}",
    )
    .unwrap_err();
    assert!(err.contains("SyntaxError"), "{err}");
    assert!(err.contains("line 2"), "{err}");
    for no_handler in ["", "const x = 1;", "var handler = 3;"] {
        let err = prepare_script("none.js", no_handler).unwrap_err();
        assert!(
            err.contains("defines no `function handler(webhook)`"),
            "{no_handler:?}: {err}"
        );
    }
}
