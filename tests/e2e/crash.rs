//! Crash safety: `kill -9` while a backlog of acknowledged events is being
//! delivered, then restart: every acknowledged event reaches the sink.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::support::*;

/// The distinct delivery keys (Inngest event ids) a sink received.
fn keys(sink: &Sink) -> HashSet<String> {
    sink.received()
        .iter()
        .filter_map(|r| r.json()["id"].as_str().map(str::to_string))
        .collect()
}

pub fn event_body(n: usize) -> Vec<u8> {
    // Padding makes each event about 2 KB, like a real Dodo payload.
    serde_json::to_vec(&json!({
        "business_id": "bus_1",
        "type": "payment.succeeded",
        "timestamp": "2025-01-15T23:30:12.482913Z",
        "data": { "n": n, "payment_id": format!("pay_{n}"), "padding": "x".repeat(1800) }
    }))
    .unwrap()
}

/// Posts `ids` with `concurrency` requests in flight; returns the ids that
/// were acknowledged with 200.
pub async fn post_all(server: &Hookwasm, ids: Vec<String>, concurrency: usize) -> Vec<String> {
    post_all_to(&server.url(""), ids, concurrency).await
}

/// `post_all` against a server's base URL, which may go away meanwhile
/// (a refused post is simply not acknowledged).
pub async fn post_all_to(base: &str, ids: Vec<String>, concurrency: usize) -> Vec<String> {
    let url = Arc::new(format!("{base}/webhooks/dodo"));
    let queue = Arc::new(std::sync::Mutex::new(ids));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (url, queue) = (url.clone(), queue.clone());
        workers.spawn(async move {
            let mut acked = Vec::new();
            loop {
                let Some(id) = queue.lock().unwrap().pop() else {
                    return acked;
                };
                let n: usize = id.trim_start_matches("msg_").parse().unwrap_or(0);
                let body = event_body(n);
                if let Ok((200, _)) =
                    post(&url, &signed_headers(&id, now_secs(), &body), body).await
                {
                    acked.push(id);
                }
            }
        });
    }
    let mut acked = Vec::new();
    while let Some(done) = workers.join_next().await {
        acked.extend(done.unwrap());
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_backlog_loses_nothing_acknowledged() {
    const EVENTS: usize = 1200;
    // A sink slow enough that a backlog builds up.
    let sink = Sink::start(|_, _| {
        std::thread::sleep(Duration::from_millis(2));
        (200, vec![], "{}".into())
    })
    .await;
    let config = sink_endpoint(
        &sink.url("/e/key"),
        "concurrency = 2
retry = { schedule_secs = [0.2, 0.5, 1, 1, 1] }",
    );
    let mut server = Hookwasm::start(&config).await;
    let ids: Vec<String> = (0..EVENTS).map(|n| format!("msg_{n:05}")).collect();
    let acked = post_all(&server, ids, 16).await;
    assert_eq!(acked.len(), EVENTS, "every post was acknowledged");

    // Kill in the middle of draining the backlog.
    eventually(
        "delivery to be under way",
        Duration::from_secs(60),
        async || (sink.count() >= 100).then_some(()),
    )
    .await;
    server.kill9();
    let before_restart = keys(&sink).len();
    assert!(
        before_restart < EVENTS,
        "the backlog drained before the kill; nothing was tested"
    );

    server.spawn().await;
    let want: HashSet<String> = acked.iter().map(|id| format!("sink:{id}")).collect();
    eventually(
        "every acknowledged event to arrive",
        Duration::from_secs(180),
        async || keys(&sink).is_superset(&want).then_some(()),
    )
    .await;
    let total = sink.count();
    let duplicates = total - want.len();
    eprintln!(
        "kill -9 with a backlog: {EVENTS} acknowledged, {before_restart} delivered before the kill, \
         lost 0, {duplicates} delivered twice (at-least-once)"
    );
}
