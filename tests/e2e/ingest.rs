//! Ingest refuses what it must (with the right status and a one-line JSON
//! error, storing nothing) and stores a repeated webhook-id once.

use std::time::Duration;

use serde_json::Value;

use super::support::*;

const ENDPOINT: &str = r#"
[[endpoints]]
id = "sink"
source = "dodo"
plugin = "inngest"
events = ["*"]
url = "SINK"
retry = { schedule_secs = [0.2, 0.2] }
"#;

async fn events_stored(server: &Hookwasm) -> usize {
    let (status, body) = admin_get(server, "/v1/events?limit=1000").await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn bad_requests_are_refused_and_nothing_is_stored() {
    let sink = Sink::ok().await;
    let server = Hookwasm::start(&ENDPOINT.replace("SINK", &sink.url("/e/key"))).await;
    let (_, body) = fixture("payment.succeeded");
    let url = server.url("/webhooks/dodo");
    let now = now_secs();

    // (what, headers, body, status, error text)
    type Case<'a> = (&'a str, Vec<(String, String)>, Vec<u8>, u16, &'a str);
    let mut cases: Vec<Case> = Vec::new();
    let mut wrong = signed_headers("msg_bad", now, &body);
    wrong[3].1 = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=".into();
    cases.push((
        "bad signature",
        wrong,
        body.clone(),
        401,
        "no valid signature",
    ));
    let mut missing = signed_headers("msg_missing", now, &body);
    missing.remove(3);
    cases.push((
        "missing signature",
        missing,
        body.clone(),
        401,
        "missing webhook-signature",
    ));
    cases.push((
        "stale timestamp",
        signed_headers("msg_old", now - 301, &body),
        body.clone(),
        401,
        "outside the 300 s tolerance",
    ));
    cases.push((
        "future timestamp",
        signed_headers("msg_new", now + 301, &body),
        body.clone(),
        401,
        "in the future",
    ));
    let big = vec![b' '; (1 << 20) + 1];
    cases.push((
        "oversized",
        signed_headers("msg_big", now, &big),
        big,
        413,
        "larger than",
    ));
    let text = b"not json".to_vec();
    cases.push((
        "not JSON",
        signed_headers("msg_text", now, &text),
        text,
        400,
        "not valid JSON",
    ));
    let array = b"[1,2,3]".to_vec();
    cases.push((
        "not an object",
        signed_headers("msg_array", now, &array),
        array,
        400,
        "must be a JSON object",
    ));
    let untyped = br#"{"data":{}}"#.to_vec();
    cases.push((
        "no type",
        signed_headers("msg_untyped", now, &untyped),
        untyped,
        400,
        "no string \"type\"",
    ));

    for (what, headers, body, status, message) in cases {
        let (got, answer) = post(&url, &headers, body).await.unwrap();
        assert_eq!(got, status, "{what}: {answer}");
        let error = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no error field: {answer}"));
        assert!(error.contains(message), "{what}: {error}");
        assert!(!error.contains('\n'), "{what}: not one line");
    }
    let (status, answer) = post(
        &server.url("/webhooks/stripe"),
        &signed_headers("m", now, &body),
        body.clone(),
    )
    .await
    .unwrap();
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["error"], "unknown source \"stripe\"");
    let (status, _) = get(&server.url("/webhooks/dodo"), None).await.unwrap();
    assert_eq!(status, 405);

    assert_eq!(events_stored(&server).await, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.count(), 0);
}

#[tokio::test]
async fn a_repeated_webhook_id_is_delivered_once() {
    let sink = Sink::ok().await;
    let server = Hookwasm::start(&ENDPOINT.replace("SINK", &sink.url("/e/key"))).await;
    let (id, body) = fixture("payment.succeeded");
    let (status, first) = server.post_signed("dodo", &id, &body).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["duplicate"], false);
    assert_eq!(first["deliveries"], 1);
    for _ in 0..3 {
        let (status, again) = server.post_signed("dodo", &id, &body).await;
        assert_eq!(status, 200);
        assert_eq!(again["duplicate"], true);
        assert_eq!(again["id"], first["id"]);
    }
    sink.wait_for(1, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.count(), 1);
    assert_eq!(events_stored(&server).await, 1);
}

#[tokio::test]
async fn an_event_no_endpoint_wants_is_stored_with_zero_deliveries() {
    let sink = Sink::ok().await;
    let config = ENDPOINT
        .replace("SINK", &sink.url("/e/key"))
        .replace("[\"*\"]", "[\"payment.*\"]");
    let server = Hookwasm::start(&config).await;
    let (id, body) = fixture("refund.succeeded");
    let (status, answer) = server.post_signed("dodo", &id, &body).await;
    assert_eq!(status, 200);
    assert_eq!(answer["deliveries"], 0);
    let (_, event) = admin_get(&server, &format!("/v1/events/{id}")).await;
    assert_eq!(event["type"], "refund.succeeded");
    assert_eq!(event["deliveries"], Value::Array(vec![]));
}

/// The most common setup mistake, a wrong secret, is in the log (with the
/// sender's webhook-id), and so is every accepted event; a flood of bad
/// requests is not.
#[tokio::test]
async fn refusals_and_acceptances_are_logged_and_refusals_are_rate_limited() {
    let server = Hookwasm::start("").await;
    let body = br#"{"type":"payment.succeeded","data":{}}"#.to_vec();
    let mut headers = signed_headers("msg_wrong_secret", now_secs(), &body);
    headers[3].1 = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=".into();
    for _ in 0..100 {
        let (status, _) = post(&server.url("/webhooks/dodo"), &headers, body.clone())
            .await
            .unwrap();
        assert_eq!(status, 401);
    }
    let (status, _) = server.post_signed("dodo", "msg_right_secret", &body).await;
    assert_eq!(status, 200);
    let logs = eventually(
        "the accepted event's log line",
        Duration::from_secs(10),
        async || {
            let logs = server.logs();
            logs.contains("webhook accepted").then_some(logs)
        },
    )
    .await;
    let refused: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("webhook refused"))
        .collect();
    assert!(!refused.is_empty(), "{logs}");
    assert!(refused[0].contains("no valid signature"), "{}", refused[0]);
    assert!(refused[0].contains("msg_wrong_secret"), "{}", refused[0]);
    assert!(refused[0].contains("WARN"), "{}", refused[0]);
    assert!(
        refused.len() < 100,
        "100 refusals in a burst were all logged: {}",
        refused.len()
    );
    let accepted = logs
        .lines()
        .find(|l| l.contains("webhook accepted"))
        .unwrap();
    assert!(
        accepted.contains("msg_right_secret") && accepted.contains("payment.succeeded"),
        "{accepted}"
    );
}
