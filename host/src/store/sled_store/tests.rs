//! The sled store on a real database in a temporary directory.

use super::*;
use queue::QueueIndex;

fn open() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), 16 << 20).unwrap();
    (dir, store)
}

/// Opens the database a dropped store used. sled's I/O threads may still
/// hold its file (and lock) for a moment after the drop, finishing a write
/// they were handed; a new process would not see that, a test in the same
/// one can.
fn reopen(dir: &std::path::Path) -> SledStore {
    let mut tries = 0;
    loop {
        match SledStore::open(dir, 16 << 20) {
            Err(StoreError::Storage(why))
                if why.contains("could not acquire lock") && tries < 500 =>
            {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            opened => return opened.unwrap(),
        }
    }
}

fn event(source: &str, webhook_id: &str, at: Millis) -> Event {
    Event {
        id: EventId(ulid::Ulid::from_parts(at, rand_bits())),
        source: source.into(),
        webhook_id: webhook_id.into(),
        event_type: "payment.succeeded".into(),
        received_at: at,
        headers: vec![("webhook-id".into(), webhook_id.into())],
    }
}

fn rand_bits() -> u128 {
    ulid::Ulid::new().random()
}

const HOUR: Duration = Duration::from_secs(3600);

fn endpoints(names: &[&str]) -> Vec<Route> {
    names.iter().map(|s| Route::from(*s)).collect()
}

/// The first page (up to 10) of deliveries with `status`.
fn with_status(store: &SledStore, status: DeliveryStatus) -> Vec<Delivery> {
    store
        .deliveries(&DeliveryQuery {
            status: Some(status),
            limit: 10,
            ..Default::default()
        })
        .unwrap()
        .items
}

/// Ingests `e` (an empty JSON payload) for the endpoints `names`.
async fn ingest(store: &SledStore, e: &Event, names: &[&str]) -> Ingested {
    store
        .ingest(e.clone(), b"{}", &endpoints(names), HOUR)
        .await
        .unwrap()
}

#[tokio::test]
async fn ingest_stores_event_payload_and_one_pending_delivery_per_endpoint() {
    let (_dir, store) = open();
    let e = event("dodo", "msg_1", 1_000);
    let got = store
        .ingest(e.clone(), b"{\"a\": 1}", &endpoints(&["a", "b"]), HOUR)
        .await
        .unwrap();
    assert_eq!(
        got,
        Ingested {
            event_id: e.id,
            deliveries: 2,
            duplicate: false
        }
    );
    assert_eq!(store.event(e.id).unwrap(), Some(e.clone()));
    assert_eq!(
        store.payload(e.id).unwrap().as_deref(),
        Some(&b"{\"a\": 1}"[..])
    );
    let ds = store.deliveries_of(e.id).unwrap();
    assert_eq!(ds.len(), 2);
    assert!(
        ds.iter()
            .all(|d| d.status == DeliveryStatus::Pending && d.next_attempt_at == Some(1_000))
    );
    assert_eq!(store.counts("a").pending, 1);
    assert_eq!(
        store.event_by_webhook_id("dodo", "msg_1").unwrap(),
        Some(e.id)
    );
}

/// Concurrent ingests are written in shared batches (one transaction): a
/// repeat in the same batch as its first copy must still be found, and
/// every other event stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ingests_are_batched_without_losing_or_doubling_any() {
    let (_dir, store) = open();
    let store = std::sync::Arc::new(store);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..200 {
        for copy in 0..2 {
            let store = store.clone();
            tasks.spawn(async move {
                let e = event("dodo", &format!("msg_{n}"), 1_000 + copy);
                store
                    .ingest(e, b"{}", &endpoints(&["a"]), HOUR)
                    .await
                    .unwrap()
            });
        }
    }
    let mut new = 0;
    while let Some(got) = tasks.join_next().await {
        if !got.unwrap().duplicate {
            new += 1;
        }
    }
    assert_eq!(new, 200, "each webhook id stored exactly once");
    assert_eq!(store.counts("a").pending, 200);
    for n in 0..200 {
        let id = store
            .event_by_webhook_id("dodo", &format!("msg_{n}"))
            .unwrap()
            .expect("stored");
        assert_eq!(store.deliveries_of(id).unwrap().len(), 1);
    }
}

#[tokio::test]
async fn duplicates_within_the_window_create_nothing() {
    let (_dir, store) = open();
    let first = event("dodo", "msg_1", 1_000);
    ingest(&store, &first, &["a"]).await;
    let again = store
        .ingest(
            event("dodo", "msg_1", 2_000),
            b"{}",
            &endpoints(&["a"]),
            HOUR,
        )
        .await
        .unwrap();
    assert_eq!(
        again,
        Ingested {
            event_id: first.id,
            deliveries: 1,
            duplicate: true
        }
    );
    assert_eq!(store.counts("a").pending, 1);
    // Another source with the same webhook-id is a different event.
    let other = store
        .ingest(
            event("other", "msg_1", 2_000),
            b"{}",
            &endpoints(&["a"]),
            HOUR,
        )
        .await
        .unwrap();
    assert!(!other.duplicate);
    // Past the window, the same id is new again.
    let later = store
        .ingest(
            event("dodo", "msg_1", 1_000 + 3_600_000),
            b"{}",
            &endpoints(&["a"]),
            HOUR,
        )
        .await
        .unwrap();
    assert!(!later.duplicate);
}

#[tokio::test]
async fn the_queue_yields_due_work_in_order_and_skips_busy_items() {
    let (_dir, store) = open();
    let e1 = event("s", "m1", 100);
    let e2 = event("s", "m2", 200);
    ingest(&store, &e1, &["a"]).await;
    ingest(&store, &e2, &["a"]).await;
    let d1 = store.deliveries_of(e1.id).unwrap()[0].id;
    let d2 = store.deliveries_of(e2.id).unwrap()[0].id;
    assert_eq!(
        store.next_due("a", 50, &|_| false).unwrap(),
        Some(Due::At(100))
    );
    assert_eq!(
        store.next_due("a", 300, &|_| false).unwrap(),
        Some(Due::Now(d1))
    );
    assert_eq!(
        store.next_due("a", 300, &|id| id == d1).unwrap(),
        Some(Due::Now(d2))
    );
    assert_eq!(store.next_due("a", 300, &|_| true).unwrap(), None);
    assert_eq!(store.next_due("b", 300, &|_| false).unwrap(), None);
    assert_eq!(store.due_count("a", 150).unwrap(), 1);
}

#[tokio::test]
async fn finish_moves_state_records_attempts_and_keeps_indexes_in_step() {
    let (_dir, store) = open();
    let e = event("s", "m1", 100);
    ingest(&store, &e, &["a"]).await;
    let id = store.deliveries_of(e.id).unwrap()[0].id;
    let attempt = |n, status| Attempt {
        n,
        at: 200,
        duration_ms: 3,
        status: Some(status),
        response: None,
        error: None,
        response_headers: Vec::new(),
    };

    let d = store
        .finish(
            id,
            None,
            Some(attempt(1, 500)),
            Next::Retry {
                at: 5_000,
                reason: "HTTP 500".into(),
            },
            200,
        )
        .await
        .unwrap();
    assert_eq!(
        (d.status, d.attempts, d.next_attempt_at),
        (DeliveryStatus::Pending, 1, Some(5_000))
    );
    assert_eq!(
        store.next_due("a", 1_000, &|_| false).unwrap(),
        Some(Due::At(5_000))
    );

    let d = store
        .finish(
            id,
            None,
            Some(attempt(2, 400)),
            Next::Dead {
                reason: "HTTP 400".into(),
            },
            300,
        )
        .await
        .unwrap();
    assert_eq!(d.status, DeliveryStatus::Dead);
    assert_eq!(
        store.next_due("a", u64::MAX >> 1, &|_| false).unwrap(),
        None
    );
    assert_eq!(
        store.counts("a"),
        Counts {
            dead: 1,
            ..Counts::default()
        }
    );
    let numbers: Vec<u32> = store.attempts(id).unwrap().iter().map(|a| a.n).collect();
    assert_eq!(numbers, [1, 2]);
    // The record holds the latest; the one before moved to `attempts`.
    assert_eq!(store.trees.attempts.len(), 1);

    assert_eq!(with_status(&store, DeliveryStatus::Dead).len(), 1);

    // A manual retry restarts the schedule.
    let d = store.requeue(id, false, 400).unwrap();
    assert_eq!((d.status, d.schedule_from), (DeliveryStatus::Pending, 2));
    assert_eq!(
        store.next_due("a", 400, &|_| false).unwrap(),
        Some(Due::Now(id))
    );
    assert_eq!(
        store.counts("a"),
        Counts {
            pending: 1,
            ..Counts::default()
        }
    );
}

#[tokio::test]
async fn replay_drops_the_stored_request_and_retry_keeps_it() {
    let (_dir, store) = open();
    let e = event("s", "m1", 100);
    ingest(&store, &e, &["a"]).await;
    let id = store.deliveries_of(e.id).unwrap()[0].id;
    let request = OutboundRequest {
        method: "POST".into(),
        url: "https://x.test/".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: b"{\"x\":1}".to_vec(),
    };
    let made = |made_for| NewRequest {
        request: &request,
        transformed_by: "loops@0.1.0",
        made_for,
    };
    // An attempt that made the request from the delivery as of `made_for`
    // and failed for good at `at`.
    let failed_with_request = async |made_for, at| {
        let dead = Next::Dead {
            reason: "HTTP 400".into(),
        };
        store
            .finish(id, Some(made(made_for)), None, dead, at)
            .await
            .unwrap()
    };
    let made_for = store.delivery(id).unwrap().unwrap().updated_at;
    let d = failed_with_request(made_for, 200).await;
    assert_eq!(d.transformed_by.as_deref(), Some("loops@0.1.0"));
    assert_eq!(store.request(id).unwrap(), Some(request.clone()));
    store.requeue(id, false, 300).unwrap();
    assert_eq!(store.request(id).unwrap(), Some(request.clone()));
    let d = store.requeue(id, true, 400).unwrap();
    assert_eq!(store.request(id).unwrap(), None);
    assert_eq!(d.transformed_by, None);

    // A replay while an attempt was in flight wins over that attempt's
    // request: the next attempt runs the plugin again.
    let made_for = d.updated_at;
    store.requeue(id, true, 500).unwrap();
    let d = failed_with_request(made_for, 600).await;
    assert_eq!(store.request(id).unwrap(), None);
    assert_eq!(d.transformed_by, None);
}

#[tokio::test]
async fn add_delivery_creates_one_per_event_and_endpoint() {
    let (_dir, store) = open();
    let e = event("s", "m1", 100);
    ingest(&store, &e, &["a"]).await;
    assert!(
        store
            .add_delivery(e.id, &Route::from("a"), 200)
            .unwrap()
            .is_none()
    );
    let created = store.add_delivery(e.id, &Route::from("b"), 200).unwrap();
    assert!(created.is_some());
    assert!(
        store
            .add_delivery(e.id, &Route::from("b"), 300)
            .unwrap()
            .is_none()
    );
    assert_eq!(store.deliveries_of(e.id).unwrap().len(), 2);
    assert!(matches!(
        store.add_delivery(EventId::new(), &Route::from("b"), 1),
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn listing_is_newest_first_filtered_and_paginated() {
    let (_dir, store) = open();
    for i in 0..5u64 {
        let mut e = event(
            if i % 2 == 0 { "even" } else { "odd" },
            &format!("m{i}"),
            1_000 + i,
        );
        e.event_type = format!("t{i}");
        store
            .ingest(e, b"{}", &endpoints(&["a"]), HOUR)
            .await
            .unwrap();
    }
    let page = store
        .events(&EventQuery {
            limit: 2,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        page.items
            .iter()
            .map(|e| e.webhook_id.as_str())
            .collect::<Vec<_>>(),
        ["m4", "m3"]
    );
    let cursor = page.next_cursor.unwrap().parse().ok();
    let page = store
        .events(&EventQuery {
            limit: 2,
            cursor,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        page.items
            .iter()
            .map(|e| e.webhook_id.as_str())
            .collect::<Vec<_>>(),
        ["m2", "m1"]
    );
    let cursor = page.next_cursor.unwrap().parse().ok();
    let page = store
        .events(&EventQuery {
            limit: 2,
            cursor,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(page.next_cursor.is_none());

    let even = store
        .events(&EventQuery {
            source: Some("even".into()),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(even.items.len(), 3);
    let window = store
        .events(&EventQuery {
            since: Some(1_001),
            until: Some(1_003),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(window.items.len(), 3);
    let typed = store
        .events(&EventQuery {
            event_type: Some("t3".into()),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(typed.items.len(), 1);
}

#[tokio::test]
async fn purge_removes_finished_events_but_keeps_pending_and_young_dead_letters() {
    let (_dir, store) = open();
    let day = 86_400_000u64;
    let now = 100 * day;
    let policy = RetentionPolicy {
        done: Duration::from_secs(30 * 86400),
        dead: Duration::from_secs(90 * 86400),
    };
    let mut ids = Vec::new();
    for (i, next) in [
        Some(Next::Delivered),
        Some(Next::Dead { reason: "x".into() }),
        None, // still pending
        Some(Next::Skipped { reason: "y".into() }),
    ]
    .into_iter()
    .enumerate()
    {
        let e = event("s", &format!("m{i}"), 10 * day + i as u64);
        ingest(&store, &e, &["a"]).await;
        let d = store.deliveries_of(e.id).unwrap()[0].id;
        if let Some(next) = next {
            store.finish(d, None, None, next, 20 * day).await.unwrap();
        }
        ids.push(e.id);
    }
    let (purged, resume) = store.purge(now, policy, None, 100).unwrap();
    assert_eq!(
        purged,
        Purged {
            events: 2,
            deliveries: 2
        }
    );
    assert_eq!(resume, None);
    assert!(store.event(ids[0]).unwrap().is_none());
    assert!(
        store.event(ids[1]).unwrap().is_some(),
        "dead letter younger than 90 days is kept"
    );
    assert!(
        store.event(ids[2]).unwrap().is_some(),
        "pending is never purged"
    );
    assert!(store.event(ids[3]).unwrap().is_none());
    assert_eq!(store.event_by_webhook_id("s", "m0").unwrap(), None);
    assert_eq!(
        store.counts("a"),
        Counts {
            pending: 1,
            dead: 1,
            ..Counts::default()
        }
    );

    // Later the dead letter ages out too; a small budget resumes where it stopped.
    let (first, resume) = store.purge(200 * day, policy, None, 1).unwrap();
    assert_eq!(first.events, 1);
    let (rest, _) = store.purge(200 * day, policy, resume, 10).unwrap();
    assert_eq!(rest.events, 0, "only the pending one is left");
    assert!(store.event(ids[2]).unwrap().is_some());
}

/// A delivery added to an event while a purge is between listing its
/// deliveries and removing them either waits and finds the event gone, or
/// keeps the event: it never outlives it.
#[test]
fn a_delivery_added_during_a_purge_never_outlives_its_event() {
    let (_dir, store) = open();
    let store = Arc::new(store);
    let e = event("s", "m1", 100);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let d = rt.block_on(async {
        ingest(&store, &e, &["a"]).await;
        let d = store.deliveries_of(e.id).unwrap()[0].id;
        store
            .finish(d, None, None, Next::Delivered, 200)
            .await
            .unwrap();
        d
    });
    let (is_paused, release) = store.after_purge_listing.arm();
    let policy = RetentionPolicy {
        done: Duration::ZERO,
        dead: Duration::ZERO,
    };
    let purge = {
        let store = store.clone();
        std::thread::spawn(move || store.purge(1 << 40, policy, None, 10))
    };
    is_paused.recv().unwrap();
    let add = {
        let store = store.clone();
        std::thread::spawn(move || store.add_delivery(e.id, &Route::from("late"), 300))
    };
    // Time for the add to commit, were nothing stopping it.
    std::thread::sleep(std::time::Duration::from_millis(200));
    release.send(()).unwrap();
    let (purged, _) = purge.join().unwrap().unwrap();
    match add.join().unwrap() {
        Ok(Some(added)) => {
            assert_eq!(purged.events, 0, "the event keeps its new delivery");
            assert!(store.event(e.id).unwrap().is_some());
            assert!(store.delivery(added).unwrap().is_some());
        }
        Ok(None) => panic!("the event had no delivery to \"late\""),
        Err(StoreError::NotFound(_)) => {
            assert_eq!(purged.events, 1);
            assert!(store.event(e.id).unwrap().is_none());
            assert!(store.delivery(d).unwrap().is_none());
            assert_eq!(store.counts("late"), Counts::default());
        }
        Err(other) => panic!("{other}"),
    }
}

#[tokio::test]
async fn everything_survives_a_reopen_including_counts() {
    let dir = tempfile::tempdir().unwrap();
    let e = event("s", "m1", 100);
    {
        let store = SledStore::open(dir.path(), 16 << 20).unwrap();
        ingest(&store, &e, &["a", "b"]).await;
        let d = store.deliveries_of(e.id).unwrap()[0].id;
        store
            .finish(d, None, None, Next::Delivered, 200)
            .await
            .unwrap();
        store.flush().await.unwrap();
    }
    let store = reopen(dir.path());
    assert_eq!(store.event(e.id).unwrap(), Some(e));
    let total = |c: Counts| c.pending + c.delivered;
    assert_eq!(total(store.counts("a")) + total(store.counts("b")), 2);
    assert_eq!(store.counts("a").delivered + store.counts("b").delivered, 1);
}

/// The dispatchers read the queue from memory: after every kind of write it
/// must hold exactly what the `queue` tree holds, and a reopen rebuilds it.
#[tokio::test]
async fn the_queue_in_memory_matches_the_tree_after_every_kind_of_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), 16 << 20).unwrap();
    let check = |store: &SledStore| {
        let in_tree = QueueIndex::load(&store.trees.queue).unwrap().0.entries();
        assert_eq!(store.queue.entries(), in_tree);
        in_tree
    };
    let events: Vec<Event> = (0..3).map(|i| event("s", &format!("m{i}"), 100)).collect();
    for e in &events {
        ingest(&store, e, &["a", "b"]).await;
    }
    assert_eq!(check(&store).len(), 6);
    let id = |i: usize| store.deliveries_of(events[i].id).unwrap()[0].id;
    let retry = Next::Retry {
        at: 5_000,
        reason: "HTTP 500".into(),
    };
    store.finish(id(0), None, None, retry, 200).await.unwrap();
    check(&store);
    let dead = Next::Dead {
        reason: "HTTP 400".into(),
    };
    store.finish(id(1), None, None, dead, 200).await.unwrap();
    store
        .finish(id(2), None, None, Next::Delivered, 200)
        .await
        .unwrap();
    assert_eq!(check(&store).len(), 4);
    store.requeue(id(1), false, 300).unwrap();
    store.requeue(id(0), true, 300).unwrap();
    assert_eq!(check(&store).len(), 5);
    store
        .add_delivery(events[2].id, &Route::from("c"), 400)
        .unwrap();
    ingest(&store, &events[0], &["a", "b"]).await;
    // Writes that fail or find nothing to do change neither.
    assert!(store.requeue(DeliveryId::new(), false, 500).is_err());
    assert!(
        store
            .add_delivery(EventId::new(), &Route::from("a"), 500)
            .is_err()
    );
    assert_eq!(
        store
            .add_delivery(events[2].id, &Route::from("c"), 500)
            .unwrap(),
        None
    );
    let before = check(&store);
    assert_eq!(before.len(), 6);
    assert!(before.contains(&("a".into(), 300, id(0))));
    drop(store);

    let store = reopen(dir.path());
    assert_eq!(store.queue.entries(), before);
}

/// A first attempt's work comes from memory (`Fresh`); it must be what
/// sled holds, and a delivery changed since its ingest must be read again.
#[tokio::test]
async fn work_kept_from_ingest_is_what_sled_holds_and_is_dropped_when_the_delivery_changes() {
    let (_dir, store) = open();
    let e = event("s", "m1", 100);
    let payload = br#"{"type":"payment.succeeded","data":{}}"#;
    store
        .ingest(e.clone(), payload, &endpoints(&["a", "b"]), HOUR)
        .await
        .unwrap();
    let ids: Vec<DeliveryId> = store
        .deliveries_of(e.id)
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(store.fresh.len(), 2);

    let kept = store.work(ids[0]).unwrap().unwrap();
    assert_eq!(store.fresh.len(), 1, "taken, not copied");
    let read = store.work(ids[0]).unwrap().unwrap();
    assert_eq!(kept, read);
    assert_eq!(
        read.input,
        WorkInput::Event(Arc::new(e.clone()), Bytes::from_static(payload))
    );

    // An operator's retry changes the delivery before its first attempt.
    store.requeue(ids[1], false, 500).unwrap();
    assert_eq!(store.fresh.len(), 0);
    assert_eq!(
        store.work(ids[1]).unwrap().unwrap().delivery.updated_at,
        500
    );

    // Once an attempt stored its request, retries get the request.
    let request = OutboundRequest {
        method: "POST".into(),
        url: "https://x.test/".into(),
        headers: vec![],
        body: b"{}".to_vec(),
    };
    let made = NewRequest {
        request: &request,
        transformed_by: "loops@0.1.0",
        made_for: 100,
    };
    let retry = Next::Retry {
        at: 900,
        reason: "HTTP 500".into(),
    };
    store
        .finish(ids[0], Some(made), None, retry, 600)
        .await
        .unwrap();
    assert_eq!(
        store.work(ids[0]).unwrap().unwrap().input,
        WorkInput::Request(request)
    );
    store
        .finish(ids[0], None, None, Next::Delivered, 700)
        .await
        .unwrap();
    assert_eq!(store.work(ids[0]).unwrap(), None, "no longer pending");

    // A delivery finished without a first attempt (an operator's action,
    // or an attempt that read sled) must not be served from memory later.
    let e2 = event("s", "m2", 100);
    store
        .ingest(e2.clone(), payload, &endpoints(&["a"]), HOUR)
        .await
        .unwrap();
    let id2 = store.deliveries_of(e2.id).unwrap()[0].id;
    assert_eq!(store.fresh.len(), 1);
    store
        .finish(id2, None, None, Next::Delivered, 800)
        .await
        .unwrap();
    assert_eq!(store.fresh.len(), 0);
    assert_eq!(store.work(id2).unwrap(), None);
}

/// Writers on several threads at once, their batches mixing ingests and
/// finishes, beside requeues and added deliveries: the copy of the queue
/// still equals the tree.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_queue_in_memory_matches_the_tree_under_concurrent_writes() {
    let (_dir, store) = open();
    let store = Arc::new(store);
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..8u64 {
        let store = store.clone();
        tasks.spawn(async move {
            for i in 0..40u64 {
                let e = event("s", &format!("m{t}-{i}"), 100 + i);
                ingest(&store, &e, &["a", "b"]).await;
                let ds = store.deliveries_of(e.id).unwrap();
                let next = match i % 4 {
                    0 => Next::Delivered,
                    1 => Next::Retry {
                        at: 10_000 + i,
                        reason: "HTTP 500".into(),
                    },
                    2 => Next::Dead {
                        reason: "HTTP 400".into(),
                    },
                    _ => continue,
                };
                store.finish(ds[0].id, None, None, next, 200).await.unwrap();
                if i % 4 == 2 {
                    store.requeue(ds[0].id, false, 300 + i).unwrap();
                }
                if i % 8 == 0 {
                    store.add_delivery(e.id, &Route::from("c"), 400).unwrap();
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let in_tree = QueueIndex::load(&store.trees.queue).unwrap().0.entries();
    assert_eq!(store.queue.entries(), in_tree);
    // 320 events × 2 endpoints, less 80 delivered and 80 dead (then 80 of
    // those requeued), plus 40 added deliveries: 640 - 160 + 80 + 40.
    assert_eq!(in_tree.len(), 600);
}

/// `order` keeps the copy's updates in commit order. Without it, a finish
/// that commits while a requeue of the same delivery sits between its
/// commit and its update of the copy is overtaken by that update, and the
/// copy lists a delivery that is done. The requeue is held there while the
/// finish is given time to run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_copy_follows_commit_order_when_a_requeue_races_a_finish() {
    let (_dir, store) = open();
    let store = Arc::new(store);
    let e = event("s", "m1", 100);
    ingest(&store, &e, &["a"]).await;
    let id = store.deliveries_of(e.id).unwrap()[0].id;
    let (is_paused, release) = store.queue.before_next_move.arm();
    let requeue = {
        let store = store.clone();
        std::thread::spawn(move || store.requeue(id, false, 300).map(|_| ()))
    };
    // The requeue has committed; the copy is not updated yet.
    is_paused.recv().unwrap();
    let finish = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .finish(id, None, None, Next::Delivered, 400)
                .await
                .map(|_| ())
        })
    };
    // Time for the finish to overtake, were nothing stopping it.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    release.send(()).unwrap();
    requeue.join().unwrap().unwrap();
    finish.await.unwrap().unwrap();
    let in_tree = QueueIndex::load(&store.trees.queue).unwrap().0.entries();
    assert_eq!(in_tree, vec![], "the finish committed last");
    assert_eq!(store.queue.entries(), in_tree);
}

/// Should the copy ever list a delivery that sled does not hold queued, the
/// dispatcher is not handed it again and again: `work` drops it.
#[tokio::test]
async fn a_queue_entry_sled_does_not_hold_is_dropped_when_its_work_is_asked_for() {
    let (_dir, store) = open();
    let e = event("s", "m1", 100);
    ingest(&store, &e, &["a"]).await;
    let real = store.deliveries_of(e.id).unwrap()[0].clone();
    let ghost = Delivery {
        id: DeliveryId::new(),
        ..real.clone()
    };
    store.queue.moved(None, &ghost);
    assert_eq!(store.queue.entries().len(), 2);
    assert_eq!(store.work(ghost.id).unwrap(), None);
    assert_eq!(
        store.queue.entries(),
        vec![("a".to_string(), real.next_attempt_at.unwrap(), real.id)]
    );
}

/// A database written before `record`'s layout: the event, its payload, its
/// delivery and that delivery's request each in their own tree, as plain
/// JSON. All of it is still read, moved on, replayed and purged.
#[tokio::test]
async fn records_from_before_the_combined_layout_are_read_moved_and_purged() {
    let dir = tempfile::tempdir().unwrap();
    let e = event("s", "m1", 100);
    let mut d = new_delivery(e.id, "a", 100);
    d.attempts = 1;
    d.next_attempt_at = Some(5_000);
    let request = OutboundRequest {
        method: "POST".into(),
        url: "https://x.test/".into(),
        headers: vec![],
        body: b"{\"x\":1}".to_vec(),
    };
    let attempt = |n| Attempt {
        n,
        at: 1_000 * n as u64,
        duration_ms: 3,
        status: Some(500),
        response: None,
        error: None,
        response_headers: Vec::new(),
    };
    {
        let store = SledStore::open(dir.path(), 16 << 20).unwrap();
        let t = &store.trees;
        t.events.insert(e.id.bytes(), encode(&e).unwrap()).unwrap();
        t.payloads
            .insert(e.id.bytes(), &b"{\"old\":1}"[..])
            .unwrap();
        t.webhooks
            .insert(webhook_key("s", "m1"), webhook_value(e.id, 100))
            .unwrap();
        t.by_event
            .insert(by_event_key(e.id, "a"), &d.id.bytes()[..])
            .unwrap();
        t.deliveries
            .insert(d.id.bytes(), encode(&d).unwrap())
            .unwrap();
        t.by_status
            .insert(&status_key(d.status, d.id)[..], &b"a"[..])
            .unwrap();
        t.queue
            .insert(queue_key("a", 5_000, d.id), &[][..])
            .unwrap();
        t.requests
            .insert(d.id.bytes(), encode(&request).unwrap())
            .unwrap();
        t.attempts
            .insert(attempt_key(d.id, 1), encode(&attempt(1)).unwrap())
            .unwrap();
        store.flush().await.unwrap();
    }
    let store = reopen(dir.path());
    // The pending delivery's `by_status` entry is dropped: the queue lists it.
    assert!(store.trees.by_status.is_empty());
    assert_eq!(store.event(e.id).unwrap(), Some(e.clone()));
    assert_eq!(
        store.payload(e.id).unwrap().as_deref(),
        Some(&b"{\"old\":1}"[..])
    );
    assert_eq!(store.deliveries_of(e.id).unwrap(), vec![d.clone()]);
    assert_eq!(store.counts("a").pending, 1);
    assert_eq!(store.request(d.id).unwrap(), Some(request.clone()));
    let repeat = ingest(&store, &event("s", "m1", 200), &["a"]).await;
    assert_eq!((repeat.event_id, repeat.deliveries), (e.id, 1));
    assert!(
        store
            .add_delivery(e.id, &Route::from("a"), 200)
            .unwrap()
            .is_none()
    );
    // The retry path reads the old request.
    let work = store.work(d.id).unwrap().unwrap();
    assert!(matches!(work.input, WorkInput::Request(r) if r == request));

    // Moved on in the new layout, the old request is still found; a new
    // one made for it hides the old; a replay drops both.
    let retry = Next::Retry {
        at: 6_500,
        reason: "HTTP 500".into(),
    };
    store
        .finish(d.id, None, Some(attempt(2)), retry, 6_000)
        .await
        .unwrap();
    assert_eq!(store.request(d.id).unwrap(), Some(request.clone()));
    let remade = OutboundRequest {
        body: b"{\"x\":2}".to_vec(),
        ..request.clone()
    };
    let made = NewRequest {
        request: &remade,
        transformed_by: "loops@0.2.0",
        made_for: 6_000,
    };
    let dead = Next::Dead {
        reason: "HTTP 400".into(),
    };
    store
        .finish(d.id, Some(made), Some(attempt(3)), dead, 6_600)
        .await
        .unwrap();
    assert_eq!(store.request(d.id).unwrap(), Some(remade));
    // The old attempt, the one the record held before, and the latest.
    assert_eq!(
        store.attempts(d.id).unwrap(),
        vec![attempt(1), attempt(2), attempt(3)]
    );
    store.requeue(d.id, true, 7_000).unwrap();
    assert_eq!(store.request(d.id).unwrap(), None);
    store
        .finish(d.id, None, None, Next::Delivered, 8_000)
        .await
        .unwrap();
    // A replay and a finish without an attempt keep the one the record holds.
    let all = vec![attempt(1), attempt(2), attempt(3)];
    assert_eq!(store.attempts(d.id).unwrap(), all);
    // A copy in the tree of the attempt the record holds is listed once,
    // as the record has it.
    let copy = Attempt {
        status: Some(599),
        ..attempt(3)
    };
    store
        .trees
        .attempts
        .insert(attempt_key(d.id, 3), encode(&copy).unwrap())
        .unwrap();
    assert_eq!(store.attempts(d.id).unwrap(), all);

    // A delivery added to the old event for another endpoint is listed
    // beside the old one.
    let added = store
        .add_delivery(e.id, &Route::from("b"), 8_000)
        .unwrap()
        .unwrap();
    let of_event: Vec<DeliveryId> = store
        .deliveries_of(e.id)
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(of_event, vec![d.id, added]);
    store
        .finish(added, None, None, Next::Delivered, 8_100)
        .await
        .unwrap();

    let policy = RetentionPolicy {
        done: Duration::from_secs(1),
        dead: Duration::from_secs(1),
    };
    let (purged, _) = store.purge(1 << 40, policy, None, 10).unwrap();
    assert_eq!((purged.events, purged.deliveries), (1, 2));
    let t = &store.trees;
    for tree in [
        &t.events,
        &t.payloads,
        &t.webhooks,
        &t.deliveries,
        &t.by_event,
        &t.by_status,
        &t.queue,
        &t.requests,
        &t.attempts,
    ] {
        assert!(tree.is_empty(), "{:?} emptied", tree.name());
    }
}

/// The hot path writes one record per event and per delivery: the trees
/// kept for older records stay empty.
#[tokio::test]
async fn ingest_and_finish_write_whole_records_only() {
    let (_dir, store) = open();
    let e = event("s", "m1", 100);
    ingest(&store, &e, &["a", "b"]).await;
    let id = store.deliveries_of(e.id).unwrap()[0].id;
    let request = OutboundRequest {
        method: "POST".into(),
        url: "https://x.test/".into(),
        headers: vec![],
        body: b"{}".to_vec(),
    };
    let made_for = store.delivery(id).unwrap().unwrap().updated_at;
    let made = NewRequest {
        request: &request,
        transformed_by: "loops@0.1.0",
        made_for,
    };
    let attempt = Attempt {
        n: 1,
        at: 200,
        duration_ms: 3,
        status: Some(200),
        response: None,
        error: None,
        response_headers: Vec::new(),
    };
    store
        .finish(id, Some(made), Some(attempt.clone()), Next::Delivered, 200)
        .await
        .unwrap();
    assert_eq!(store.request(id).unwrap(), Some(request));
    assert_eq!(store.attempts(id).unwrap(), vec![attempt]);
    let t = &store.trees;
    for tree in [&t.payloads, &t.by_event, &t.requests, &t.attempts] {
        assert!(tree.is_empty(), "{:?} not written", tree.name());
    }
}

/// Pending deliveries are listed from the queue (not `by_status`): newest
/// first, by endpoint, page by page, and gone from the list once finished.
#[tokio::test]
async fn pending_deliveries_are_listed_newest_first_by_endpoint_and_page() {
    let (dir, store) = open();
    for i in 0..5u64 {
        ingest(
            &store,
            &event("s", &format!("m{i}"), 1_000 + i),
            &["a", "b"],
        )
        .await;
    }
    fn pending_of(store: &SledStore, endpoint: Option<&str>) -> Vec<DeliveryId> {
        let mut ids = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .deliveries(&DeliveryQuery {
                    endpoint: endpoint.map(str::to_string),
                    status: Some(DeliveryStatus::Pending),
                    cursor,
                    limit: 2,
                    ..Default::default()
                })
                .unwrap();
            assert!(page.items.len() <= 2);
            for d in &page.items {
                assert_eq!(d.status, DeliveryStatus::Pending);
                assert!(endpoint.is_none_or(|e| e == d.endpoint));
                ids.push(d.id);
            }
            match page.next_cursor {
                Some(c) => cursor = c.parse().ok(),
                None => return ids,
            }
        }
    }
    let of_a = pending_of(&store, Some("a"));
    assert_eq!(of_a.len(), 5);
    assert!(of_a.is_sorted_by(|x, y| x > y), "newest first: {of_a:?}");
    assert_eq!(pending_of(&store, None).len(), 10);

    let done = of_a[2];
    store
        .finish(done, None, None, Next::Delivered, 2_000)
        .await
        .unwrap();
    let of_a = pending_of(&store, Some("a"));
    assert_eq!(of_a.len(), 4);
    assert!(!of_a.contains(&done));
    assert_eq!(with_status(&store, DeliveryStatus::Delivered).len(), 1);
    // by_status lists only what is no longer pending.
    assert_eq!(store.trees.by_status.len(), 1);
    // A window of creation times: ids are ULIDs of the clock at ingest.
    let window = |since, until| {
        store
            .deliveries(&DeliveryQuery {
                status: Some(DeliveryStatus::Pending),
                since,
                until,
                limit: 100,
                ..Default::default()
            })
            .unwrap()
            .items
            .len()
    };
    let all = pending_of(&store, None);
    let (newest, oldest) = (all[0], all[all.len() - 1]);
    assert_eq!(window(Some(newest.ms() + 1), None), 0);
    assert_eq!(window(None, Some(newest.ms())), 9);
    assert_eq!(window(None, Some(oldest.ms() - 1)), 0);
    // A cursor below `since`: an empty page, not a panic.
    let empty = store
        .deliveries(&DeliveryQuery {
            status: Some(DeliveryStatus::Pending),
            since: Some(newest.ms() + 1),
            cursor: Some(oldest),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert!(empty.items.is_empty() && empty.next_cursor.is_none());

    // A queue entry for a delivery that has moved on (what `resync` is
    // for) is passed over, and the pages still fill up past it.
    let moved_on = store.delivery(done).unwrap().unwrap();
    store.queue.moved(
        None,
        &Delivery {
            status: DeliveryStatus::Pending,
            next_attempt_at: Some(2_000),
            ..moved_on
        },
    );
    assert_eq!(pending_of(&store, Some("a")), of_a);

    // The list is rebuilt from sled on open.
    drop(store);
    let store = reopen(dir.path());
    assert_eq!(pending_of(&store, None).len(), 9);
    assert_eq!(store.counts("a").pending, 4);
}

/// The backend-neutral store contract (`store::conformance`), on sled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sled_passes_the_store_conformance_suite() {
    let open = || {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), 1 << 20).unwrap();
        let store: Arc<dyn Store> = Arc::new(store);
        (store, Box::new(dir) as Box<dyn std::any::Any + Send>)
    };
    crate::store::conformance::run(&open).await;
}

/// Ingests `n` events for endpoint `a`, in parallel, received at `1_000 + i`.
async fn backlog(store: &Arc<SledStore>, n: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(256) {
        let (store, chunk) = (store.clone(), chunk.to_vec());
        tasks.spawn(async move {
            for i in chunk {
                let e = event("dodo", &format!("msg_{i}"), 1_000 + i as u64);
                ingest(&store, &e, &["a"]).await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_past_the_window_is_held_in_memory_a_window_at_a_time_and_drains_in_order() {
    let (dir, store) = open();
    let store = Arc::new(store);
    let n = 3 * queue::WINDOW + 17;
    backlog(&store, n).await;
    assert!(
        store.queue.in_memory("a") <= 2 * queue::WINDOW,
        "{}",
        store.queue.in_memory("a")
    );
    assert_eq!(store.counts("a").pending, n as u64);
    assert_eq!(store.due_count("a", u64::MAX >> 16).unwrap(), n as u64);
    assert_eq!(store.due_count("a", 1_000 + 99).unwrap(), 100);

    // The newest pending deliveries are listed though they are past the
    // window in memory.
    let newest = store
        .deliveries(&DeliveryQuery {
            endpoint: Some("a".into()),
            status: Some(DeliveryStatus::Pending),
            limit: 3,
            ..Default::default()
        })
        .unwrap();
    let listed: Vec<DeliveryId> = newest.items.iter().map(|d| d.id).collect();
    let mut all: Vec<DeliveryId> = store
        .trees
        .deliveries
        .iter()
        .keys()
        .map(|k| DeliveryId::from_bytes(&k.unwrap()).unwrap())
        .collect();
    all.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(listed, all[..3]);

    // A reopened store holds a window of it too, and counts all of it.
    drop(store);
    let store = Arc::new(reopen(dir.path()));
    assert!(store.queue.in_memory("a") <= queue::WINDOW);
    assert_eq!(store.counts("a").pending, n as u64);

    // Claimed earliest first, across refills, with memory bounded; a retry
    // scheduled past the horizon comes back when its time is due.
    let mut seen = Vec::new();
    let mut retried = None;
    loop {
        let claim = store.claim("a", u64::MAX >> 20, 100).unwrap();
        if claim.work.is_empty() {
            break;
        }
        assert!(store.queue.in_memory("a") <= 2 * queue::WINDOW);
        for w in claim.work {
            let d = &w.delivery;
            seen.push(d.event_id.ms());
            let next = if retried.is_none() && seen.len() == 10 {
                retried = Some(d.id);
                Next::Retry {
                    at: u64::MAX >> 21,
                    reason: "HTTP 503".into(),
                }
            } else {
                Next::Delivered
            };
            store
                .finish(d.id, None, None, next, 2_000_000)
                .await
                .unwrap();
        }
    }
    assert_eq!(seen.len(), n + 1, "every delivery, and the retry once more");
    let firsts: Vec<u64> = seen.iter().copied().filter(|ms| *ms != seen[9]).collect();
    assert!(firsts.windows(2).all(|w| w[0] < w[1]), "due order");
    assert_eq!(
        seen.last(),
        Some(&seen[9]),
        "the retry, due last, came last"
    );
    assert_eq!(store.counts("a").pending, 0);
    assert_eq!(store.counts("a").delivered, n as u64);
}

/// Which FIFO deliveries wait for which is rebuilt from the queue tree's
/// keys at open: after a restart a key's later deliveries still wait for
/// its failing head, and the head still comes first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_order_survives_a_reopen() {
    let (dir, store) = open();
    let route = |key: &str| Route {
        endpoint: "f".into(),
        ordering_key: Some(key.into()),
    };
    let mut ids = Vec::new();
    for n in 0..3 {
        let got = store
            .ingest(
                event("dodo", &format!("f{n}"), 1_000),
                b"{}",
                &[route("k")],
                HOUR,
            )
            .await
            .unwrap();
        ids.push(got.event_id);
    }
    let head = store.claim("f", 2_000, 10).unwrap();
    assert_eq!(head.work.len(), 1);
    store
        .finish(
            head.work[0].delivery.id,
            None,
            None,
            Next::Retry {
                at: 5_000,
                reason: "HTTP 503".into(),
            },
            2_000,
        )
        .await
        .unwrap();
    drop(store);
    let store = reopen(dir.path());
    assert!(
        store.claim("f", 2_000, 10).unwrap().work.is_empty(),
        "the rest wait"
    );
    let again = store.claim("f", 5_000, 10).unwrap();
    let got: Vec<EventId> = again.work.iter().map(|w| w.delivery.event_id).collect();
    assert_eq!(got, [ids[0]], "the head first, alone");
}
