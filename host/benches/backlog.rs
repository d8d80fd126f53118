//! Memory with a large backlog: PENDING deliveries (default 1,000,000) for
//! one endpoint that is down, then drained once it is back. The sled
//! store keeps only a window of each endpoint's queue in memory and reads
//! the rest from disk as it drains, so resident memory should not grow with
//! the backlog. Reports ingest rate, peak RSS while the backlog builds and
//! after a reopen (the queue is loaded at open), and the drain rate
//! (claims of 100 and finishes, many in flight, as the dispatchers do).
//!
//! `cargo bench -p hookwasm --bench backlog` (PENDING=5000000 for 5 M)

use std::sync::Arc;
use std::time::{Duration, Instant};

use hookwasm::store::{Event, EventId, Limits, Next, Queue, Route, SledStore};

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    kib("VmRSS:") / 1024.0
}

fn main() {
    // As the server does: before the runtime's threads exist.
    hookwasm::heap::limit_retained_memory();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let pending: usize = std::env::var("PENDING")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let open = || {
        Arc::new(SledStore::open(dir.path(), hookwasm::server::STORE_CACHE_BYTES).expect("open"))
    };
    let store = open();
    let payload =
        Arc::new(br#"{"type":"payment.succeeded","data":{"payment_id":"pay_1"}}"#.to_vec());
    let endpoints = Arc::new(vec![Route::from("down")]);
    let t0 = 1_700_000_000_000u64;
    let started = Instant::now();
    let peak = Arc::new(std::sync::Mutex::new(0f64));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                let now = rss_mb();
                {
                    let mut p = peak.lock().unwrap_or_else(|e| e.into_inner());
                    *p = p.max(now);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let mut tasks = tokio::task::JoinSet::new();
    let writers = 64;
    for w in 0..writers {
        let (store, payload, endpoints) = (store.clone(), payload.clone(), endpoints.clone());
        tasks.spawn(async move {
            let mut n = w;
            while n < pending {
                let at = t0 + n as u64;
                let event = Event {
                    id: EventId(ulid::Ulid::from_parts(at, n as u128)),
                    source: "dodo".into(),
                    webhook_id: format!("msg_{n:09}"),
                    event_type: "payment.succeeded".into(),
                    received_at: at,
                    headers: Vec::new(),
                };
                store
                    .ingest(event, &payload, &endpoints, Duration::from_secs(3600))
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
    let after_ingest = rss_mb();
    let peak_ingest = *peak.lock().unwrap_or_else(|e| e.into_inner());
    drop(store);
    // Let sled's threads let go of the database before it is reopened.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let reopen_started = Instant::now();
    let store = loop {
        match SledStore::open(dir.path(), hookwasm::server::STORE_CACHE_BYTES) {
            Ok(s) => break Arc::new(s),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let reopen_secs = reopen_started.elapsed().as_secs_f64();
    let after_reopen = rss_mb();
    *peak.lock().unwrap_or_else(|e| e.into_inner()) = after_reopen;

    // The destination is back: drain.
    let started = Instant::now();
    let mut drained = 0usize;
    loop {
        let claim = Queue::claim(
            store.as_ref(),
            "down",
            u64::MAX >> 20,
            100,
            Duration::from_secs(90),
            Limits::NONE,
        )
        .await
        .expect("claim");
        if claim.work.is_empty() {
            break;
        }
        let mut finishing = tokio::task::JoinSet::new();
        for w in claim.work {
            let store = store.clone();
            finishing.spawn(async move {
                Queue::finish(
                    store.as_ref(),
                    w.delivery.id,
                    None,
                    None,
                    Next::Delivered,
                    t0,
                )
                .await
                .expect("finish");
            });
        }
        while let Some(done) = finishing.join_next().await {
            done.expect("finish");
            drained += 1;
        }
    }
    let drain_secs = started.elapsed().as_secs_f64();
    let peak_drain = *peak.lock().unwrap_or_else(|e| e.into_inner());
    let after_drain = rss_mb();
    sampler.abort();
    println!("backlog: {pending} pending deliveries for one endpoint");
    println!(
        "  ingest (64 writers, durable):     {:.0} events/s ({ingest_secs:.0} s)",
        pending as f64 / ingest_secs
    );
    println!(
        "  RSS while the backlog built:      peak {peak_ingest:.0} MB, at the end {after_ingest:.0} MB"
    );
    println!("  reopen (queue loaded):            {reopen_secs:.1} s, RSS {after_reopen:.0} MB");
    println!(
        "  drain (claims of 100, finishes):  {:.0} deliveries/s, {drained} in {drain_secs:.0} s, peak RSS {peak_drain:.0} MB, after {after_drain:.0} MB",
        drained as f64 / drain_secs
    );
}
