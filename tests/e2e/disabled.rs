//! A disabled endpoint still gets a delivery for every matching event:
//! whether an operator disabled it, a `410 Gone` did, or its secret was
//! unset at start, the deliveries wait (pending, not due) and go out in
//! order once it is enabled again.

use std::time::Duration;

use serde_json::{Value, json};

use super::support::*;

fn endpoint(url: &str, extra: &str) -> String {
    format!(
        r#"
[[endpoints]]
id = "waits"
source = "dodo"
plugin = "inngest"
events = ["payment.*"]
url = "{url}"
retry = {{ schedule_secs = [0.2, 0.2, 0.2] }}
{extra}
"#
    )
}

fn event(n: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "business_id": "bus_1",
        "type": "payment.succeeded",
        "timestamp": "2025-01-15T23:30:12.482913Z",
        "data": { "payment_id": format!("pay_{n}"), "total_amount": n, "currency": "USD" }
    }))
    .unwrap()
}

async fn endpoint_view(server: &Hookwasm) -> Value {
    let (status, list) = admin_get(server, "/v1/endpoints").await;
    assert_eq!(status, 200, "{list}");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "waits")
        .cloned()
        .unwrap()
}

/// Posts `ids` while the endpoint is disabled: each is acknowledged with
/// one delivery, which stays pending and is not due.
async fn post_while_disabled(server: &Hookwasm, ids: std::ops::Range<usize>) {
    for n in ids {
        let (status, answer) = server
            .post_signed("dodo", &format!("msg_wait_{n}"), &event(n))
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["deliveries"], 1, "{answer}");
    }
    let view = endpoint_view(server).await;
    assert_eq!(view["enabled"], false, "{view}");
    assert_eq!(
        view["due"], 0,
        "a disabled endpoint has nothing due: {view}"
    );
}

/// The sink's requests in arrival order, as Inngest event ids.
fn payment_ids(sink: &Sink) -> Vec<String> {
    sink.received()
        .iter()
        .filter_map(|r| r.json()["data"]["payment_id"].as_str().map(str::to_string))
        .collect()
}

fn expected(ids: std::ops::Range<usize>) -> Vec<String> {
    ids.map(|n| format!("pay_{n}")).collect()
}

#[tokio::test]
async fn an_operator_disabled_endpoint_gets_its_events_in_order_once_enabled() {
    let sink = Sink::ok().await;
    let server = Hookwasm::start(&endpoint(&sink.url("/e/key"), "concurrency = 1")).await;
    let (status, _) = admin_post(&server, "/v1/endpoints/waits/disable", json!({})).await;
    assert_eq!(status, 200);
    post_while_disabled(&server, 0..5).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.count(), 0, "nothing goes out while disabled");

    let (status, _) = admin_post(&server, "/v1/endpoints/waits/enable", json!({})).await;
    assert_eq!(status, 200);
    sink.wait_for(5, Duration::from_secs(30)).await;
    assert_eq!(payment_ids(&sink), expected(0..5));
}

#[tokio::test]
async fn events_after_a_410_wait_and_go_out_on_enable() {
    // 410 Gone to the first request, then 200.
    let sink = Sink::start(|_, n| {
        if n == 0 {
            (410, vec![], "gone".into())
        } else {
            (200, vec![], "{}".into())
        }
    })
    .await;
    let server = Hookwasm::start(&endpoint(&sink.url("/e/key"), "concurrency = 1")).await;
    let (status, _) = server.post_signed("dodo", "msg_wait_0", &event(0)).await;
    assert_eq!(status, 200);
    eventually(
        "the 410 to disable the endpoint",
        Duration::from_secs(30),
        async || {
            let view = endpoint_view(&server).await;
            (view["enabled"] == false).then_some(())
        },
    )
    .await;
    post_while_disabled(&server, 1..4).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.count(), 1);

    let (status, _) = admin_post(&server, "/v1/endpoints/waits/enable", json!({})).await;
    assert_eq!(status, 200);
    sink.wait_for(5, Duration::from_secs(30)).await;
    // The one that met the 410 first, then the rest in order.
    assert_eq!(
        payment_ids(&sink),
        expected(0..1)
            .into_iter()
            .chain(expected(0..4))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn an_endpoint_whose_secret_was_unset_gets_its_events_once_it_is_set() {
    let sink = Sink::ok().await;
    let mut server = Hookwasm::start(&endpoint(
        &sink.url("/e/key"),
        "concurrency = 1\nauth = { bearer = \"${HOOKWASM_TEST_WAITS_TOKEN}\" }",
    ))
    .await;
    let view = endpoint_view(&server).await;
    assert!(
        view["disabled_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("HOOKWASM_TEST_WAITS_TOKEN"),
        "{view}"
    );
    post_while_disabled(&server, 0..4).await;
    assert!(server.terminate().success());

    server.env = vec![("HOOKWASM_TEST_WAITS_TOKEN".into(), "sink-token-1".into())];
    server.spawn().await;
    let got = sink.wait_for(4, Duration::from_secs(30)).await;
    assert_eq!(payment_ids(&sink), expected(0..4));
    assert!(
        got.iter()
            .all(|r| r.headers.get("authorization").map(String::as_str)
                == Some("Bearer sink-token-1")),
        "every request carries the token set since"
    );
}
