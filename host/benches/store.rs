//! Disk use of the sled store: 100,000 events of ~2 KB, each delivered once
//! (stored request and one attempt), then a retention pass that removes
//! them all. Reports sled's size on disk at each step and the ingest and
//! delivery rates of the store alone (64 writers; up to 1,000 finishes in
//! flight).
//!
//! `cargo bench -p hookwasm --bench store` (EVENTS=… to change the count)

use std::sync::Arc;
use std::time::{Duration, Instant};

use hookwasm::model::OutboundRequest;
use hookwasm::store::{Attempt, Event, EventId, Next, RetentionPolicy, Route, SledStore};

fn du(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => du(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

#[tokio::main]
async fn main() {
    let events: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        Arc::new(SledStore::open(dir.path(), hookwasm::server::STORE_CACHE_BYTES).expect("open"));
    let payload = Arc::new(vec![b'x'; 2048]);
    let endpoints = Arc::new(vec![Route::from("bench")]);
    let t0 = 1_700_000_000_000u64;

    let (ingest_rate, deliver_rate) = round(&store, &payload, &endpoints, t0, events).await;
    let after_ingest_and_delivery = (store.size_on_disk().unwrap_or(0), du(dir.path()));
    // Retention: 31 days later everything is past the default 30.
    let now = t0 + events as u64 + 31 * 24 * 3600 * 1000;
    let policy = RetentionPolicy {
        done: Duration::from_secs(30 * 86400),
        dead: Duration::from_secs(90 * 86400),
    };
    let started = Instant::now();
    let (mut cursor, mut purged) = (None, 0);
    loop {
        let (p, next) = store.purge(now, policy, cursor, 10_000).expect("purge");
        purged += p.events;
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    store.flush().await.expect("flush");
    let purge_secs = started.elapsed().as_secs_f64();
    let after_purge = (store.size_on_disk().unwrap_or(0), du(dir.path()));
    // A second month: as many events again, after the first were purged.
    // Bounded disk use means sled reuses the freed space instead of growing.
    let t1 = now;
    let _ = round(&store, &payload, &endpoints, t1, events).await;
    let second_month = (store.size_on_disk().unwrap_or(0), du(dir.path()));
    let (mut cursor, later) = (None, t1 + events as u64 + 31 * 24 * 3600 * 1000);
    loop {
        let (_, next) = store.purge(later, policy, cursor, 10_000).expect("purge");
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    store.flush().await.expect("flush");
    round(&store, &payload, &endpoints, later, events).await;
    let third_month = (store.size_on_disk().unwrap_or(0), du(dir.path()));

    println!("store: {events} events of 2 KB a month, 1 endpoint, 30-day retention");
    println!("  ingest (64 writers, durable): {ingest_rate:.0} events/s");
    println!("  deliver (request + attempt):  {deliver_rate:.0} deliveries/s");
    println!("  purge:                        {purged} events in {purge_secs:.1} s");
    for (label, (sled, files)) in [
        ("month 1: delivered", after_ingest_and_delivery),
        ("month 1 purged", after_purge),
        ("month 2: delivered", second_month),
        ("month 3 (2 purged)", third_month),
    ] {
        println!(
            "  {label:<22} sled size_on_disk {:>9}, files {:>9}",
            mb(sled),
            mb(files)
        );
    }
}

/// Ingests `events` events received from `t0` on, then delivers each.
/// Returns (events ingested per second, deliveries finished per second).
async fn round(
    store: &Arc<SledStore>,
    payload: &Arc<Vec<u8>>,
    endpoints: &Arc<Vec<Route>>,
    t0: u64,
    events: usize,
) -> (f64, f64) {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let writers = 64;
    for w in 0..writers {
        let (store, payload, endpoints) = (store.clone(), payload.clone(), endpoints.clone());
        tasks.spawn(async move {
            let mut n = w;
            while n < events {
                let at = t0 + n as u64;
                let event = Event {
                    id: EventId(ulid::Ulid::from_parts(at, n as u128)),
                    source: "dodo".into(),
                    webhook_id: format!("msg_{t0}_{n:08}"),
                    event_type: "payment.succeeded".into(),
                    received_at: at,
                    headers: vec![("webhook-id".into(), format!("msg_{t0}_{n:08}"))],
                };
                store
                    .ingest(event, &payload, &endpoints, Duration::from_secs(72 * 3600))
                    .await
                    .expect("ingest");
                n += writers;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("writer");
    }
    let ingest_secs = started.elapsed().as_secs_f64();

    // Deliver each: the stored request (~1 KB) and one 200 attempt.
    let request = OutboundRequest {
        method: "POST".into(),
        url: "https://app.loops.so/api/v1/events/send".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: vec![b'y'; 1024],
    };
    let started = Instant::now();
    loop {
        let page = store
            .deliveries(&hookwasm::store::DeliveryQuery {
                endpoint: Some("bench".into()),
                status: Some(hookwasm::store::DeliveryStatus::Pending),
                limit: 1000,
                since: None,
                until: None,
                cursor: None,
            })
            .expect("list");
        // As delivery workers do: many finishes in flight, which the store
        // writes in batches.
        let mut finishing = tokio::task::JoinSet::new();
        for d in page.items.iter().cloned() {
            let (store, request) = (store.clone(), request.clone());
            finishing.spawn(async move {
                let attempt = Attempt {
                    n: 1,
                    at: d.created_at + 50,
                    duration_ms: 12,
                    status: Some(200),
                    response: Some("{}".into()),
                    error: None,
                    response_headers: Vec::new(),
                };
                store
                    .finish(
                        d.id,
                        Some(hookwasm::store::NewRequest {
                            request: &request,
                            transformed_by: "loops@0.1.0",
                            made_for: d.updated_at,
                        }),
                        Some(attempt),
                        Next::Delivered,
                        d.created_at + 62,
                    )
                    .await
                    .expect("finish");
            });
        }
        while let Some(done) = finishing.join_next().await {
            done.expect("finish");
        }
        // Finished deliveries leave the pending list: start over each time.
        if page.items.is_empty() {
            break;
        }
    }
    store.flush().await.expect("flush");
    let deliver_secs = started.elapsed().as_secs_f64();
    (events as f64 / ingest_secs, events as f64 / deliver_secs)
}
