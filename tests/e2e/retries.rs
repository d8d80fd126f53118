//! Retry behaviour against scripted sinks: transient failures are retried
//! on the schedule, client errors dead-letter at once, Retry-After is
//! honoured, and 410 Gone disables the endpoint until re-enabled.

use std::time::Duration;

use serde_json::{Value, json};

use super::support::*;

fn endpoint(id: &str, event_type: &str, url: &str) -> String {
    format!(
        r#"
[[endpoints]]
id = "{id}"
source = "dodo"
plugin = "inngest"
events = ["{event_type}"]
url = "{url}"
retry = {{ schedule_secs = [0.2, 0.2, 0.2] }}
"#
    )
}

fn event(kind: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "business_id": "bus_1",
        "type": kind,
        "timestamp": "2025-01-15T23:30:12.482913Z",
        "data": { "n": 1 }
    }))
    .unwrap()
}

async fn delivery_of(server: &Hookwasm, webhook_id: &str) -> Value {
    let (status, detail) = admin_get(server, &format!("/v1/events/{webhook_id}")).await;
    assert_eq!(status, 200, "{detail}");
    detail["deliveries"][0].clone()
}

async fn wait_status(server: &Hookwasm, webhook_id: &str, status: &str) -> Value {
    eventually(
        &format!("{webhook_id} to be {status}"),
        Duration::from_secs(30),
        async || {
            let d = delivery_of(server, webhook_id).await;
            (d["status"] == status).then_some(d)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_dead_letters_retry_after_and_gone() {
    let flaky = Sink::start(|_, n| {
        if n < 2 {
            (500, vec![], "boom".into())
        } else {
            (200, vec![], "{}".into())
        }
    })
    .await;
    let refuses = Sink::start(|_, _| (400, vec![], r#"{"error":"bad email"}"#.into())).await;
    let limited = Sink::start(|_, n| {
        if n == 0 {
            (
                429,
                vec![("retry-after".into(), "2".into())],
                "slow down".into(),
            )
        } else {
            (200, vec![], "{}".into())
        }
    })
    .await;
    let gone = Sink::start(|_, n| {
        if n == 0 {
            (410, vec![], "gone".into())
        } else {
            (200, vec![], "{}".into())
        }
    })
    .await;
    let config = [
        endpoint("flaky", "test.flaky", &flaky.url("/e/k")),
        endpoint("refuses", "test.refuses", &refuses.url("/e/k")),
        endpoint("limited", "test.limited", &limited.url("/e/k")),
        endpoint("gone", "test.gone", &gone.url("/e/k")),
    ]
    .join("\n");
    let server = Hookwasm::start(&config).await;

    for kind in ["flaky", "refuses", "limited", "gone"] {
        let (status, answer) = server
            .post_signed(
                "dodo",
                &format!("msg_{kind}"),
                &event(&format!("test.{kind}")),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["deliveries"], 1, "{kind}: {answer}");
    }

    // 500, 500, 200: delivered on the third attempt.
    let d = wait_status(&server, "msg_flaky", "delivered").await;
    assert_eq!(d["attempt_count"], 3, "{d}");
    assert_eq!(flaky.count(), 3);
    let (_, detail) = admin_get(&server, "/v1/events/msg_flaky").await;
    let attempts = detail["deliveries"][0]["attempts"]
        .as_array()
        .unwrap()
        .clone();
    let codes: Vec<u64> = attempts
        .iter()
        .map(|a| a["status"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, vec![500, 500, 200]);
    assert_eq!(attempts[0]["response"], "boom");

    // 400: dead at once, never retried.
    let d = wait_status(&server, "msg_refuses", "dead").await;
    assert!(d["reason"].as_str().unwrap().contains("HTTP 400"), "{d}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(refuses.count(), 1);

    // 429 with Retry-After: 2 → the next attempt waits for it.
    wait_status(&server, "msg_limited", "delivered").await;
    let got = limited.received();
    assert_eq!(got.len(), 2);
    let gap = got[1].at.duration_since(got[0].at);
    assert!(
        gap >= Duration::from_millis(1900),
        "retried after {gap:?}, before Retry-After"
    );

    // 410: the endpoint is disabled and its delivery waits.
    let endpoint = eventually(
        "the endpoint to be disabled",
        Duration::from_secs(30),
        async || {
            let (_, list) = admin_get(&server, "/v1/endpoints").await;
            let e = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["id"] == "gone")
                .cloned()
                .unwrap();
            (e["enabled"] == false).then_some(e)
        },
    )
    .await;
    assert!(
        endpoint["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410"),
        "{endpoint}"
    );
    assert_eq!(delivery_of(&server, "msg_gone").await["status"], "pending");
    // New events still get a delivery, which waits while disabled.
    let (_, answer) = server
        .post_signed("dodo", "msg_gone_2", &event("test.gone"))
        .await;
    assert_eq!(answer["deliveries"], 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(gone.count(), 1);
    // Re-enabling resumes the pending deliveries.
    let (status, _) = admin_post(&server, "/v1/endpoints/gone/enable", json!({})).await;
    assert_eq!(status, 200);
    wait_status(&server, "msg_gone", "delivered").await;
    wait_status(&server, "msg_gone_2", "delivered").await;
    assert_eq!(gone.count(), 3);

    // The disabled state survives a restart.
    let (status, _) = admin_post(&server, "/v1/endpoints/gone/disable", json!({})).await;
    assert_eq!(status, 200);
    let mut server = server;
    assert!(server.terminate().success());
    server.spawn().await;
    let (_, list) = admin_get(&server, "/v1/endpoints").await;
    let e = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "gone")
        .unwrap()
        .clone();
    assert_eq!(e["enabled"], false, "{e}");
}
