//! The store contract, as behaviour: every backend runs this one suite
//! (sled in `sled_store::tests`; PostgreSQL beside it), so "same contract,
//! same behaviour" is checked, not hoped for. Each case takes a fresh,
//! empty store from `open`.

use std::sync::Arc;
use std::time::Duration;

use super::*;

/// A fresh, empty store, and whatever must live as long as it (a temporary
/// directory, a database).
pub type Open<'a> = &'a (dyn Fn() -> (Arc<dyn Store>, Box<dyn std::any::Any + Send>) + Sync);

/// Runs every case on stores from `open`.
pub async fn run(open: Open<'_>) {
    ingest_is_stored_deduplicated_and_listed(open).await;
    claims_are_exclusive_earliest_first_and_released(open).await;
    a_retry_is_due_at_its_time(open).await;
    finish_keeps_the_request_and_every_attempt(open).await;
    requeue_and_replay(open).await;
    add_delivery_creates_at_most_one(open).await;
    cancel_pending_ends_only_that_endpoints_pending(open).await;
    records_states_and_audit(open).await;
    ingest_signals_the_endpoints_lanes(open).await;
    fifo_goes_one_at_a_time_per_key_in_ingest_order(open).await;
}

/// An event of source `dodo` received at `at` (shared with the backends' own tests).
pub(crate) fn event(webhook_id: &str, at: Millis) -> Event {
    Event {
        id: EventId(ulid::Ulid::from_parts(at, fastrand::u128(..))),
        source: "dodo".into(),
        webhook_id: webhook_id.into(),
        event_type: "payment.succeeded".into(),
        received_at: at,
        headers: vec![("webhook-id".into(), webhook_id.into())],
    }
}

const WINDOW: Duration = Duration::from_secs(3600);
const LEASE: Duration = Duration::from_secs(90);

fn endpoints(ids: &[&str]) -> Vec<Route> {
    ids.iter().map(|s| Route::from(*s)).collect()
}

async fn ingest_is_stored_deduplicated_and_listed(open: Open<'_>) {
    let (store, _keep) = open();
    let now = now_ms();
    let e = event("msg_1", now);
    let first = store
        .ingest(
            e.clone(),
            br#"{"type":"payment.succeeded"}"#,
            &endpoints(&["a", "b"]),
            WINDOW,
        )
        .await
        .unwrap();
    assert_eq!((first.deliveries, first.duplicate), (2, false));
    let again = store
        .ingest(event("msg_1", now + 1), b"{}", &endpoints(&["a"]), WINDOW)
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.event_id, first.event_id);
    assert_eq!(again.deliveries, 2);

    let stored = store.event(first.event_id).await.unwrap().unwrap();
    assert_eq!(stored.webhook_id, "msg_1");
    assert_eq!(
        store.payload(first.event_id).await.unwrap().unwrap(),
        br#"{"type":"payment.succeeded"}"#
    );
    assert_eq!(
        store.event_by_webhook_id("dodo", "msg_1").await.unwrap(),
        Some(first.event_id)
    );
    assert_eq!(
        store.event_by_webhook_id("other", "msg_1").await.unwrap(),
        None
    );
    let deliveries = store.deliveries_of(first.event_id).await.unwrap();
    let mut names: Vec<&str> = deliveries.iter().map(|d| d.endpoint.as_str()).collect();
    names.sort();
    assert_eq!(names, ["a", "b"]);
    assert!(
        deliveries
            .iter()
            .all(|d| d.status == DeliveryStatus::Pending)
    );
    let page = store
        .events(&EventQuery {
            limit: 10,
            ..EventQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(store.counts("a").await.unwrap().pending, 1);
}

async fn claims_are_exclusive_earliest_first_and_released(open: Open<'_>) {
    let (store, _keep) = open();
    let now = now_ms();
    let mut ids = Vec::new();
    for n in 0..3u64 {
        let e = event(&format!("msg_{n}"), now - 1000 + n);
        ids.push(
            store
                .ingest(e, b"{}", &endpoints(&["a"]), WINDOW)
                .await
                .unwrap()
                .event_id,
        );
    }
    let first = store.claim("a", now, 2, LEASE, Limits::NONE).await.unwrap();
    let claimed: Vec<EventId> = first.work.iter().map(|w| w.delivery.event_id).collect();
    assert_eq!(claimed, ids[..2], "earliest first");
    let second = store.claim("a", now, 5, LEASE, Limits::NONE).await.unwrap();
    assert_eq!(
        second.work.len(),
        1,
        "a claimed delivery is not handed out twice"
    );
    assert_eq!(second.work[0].delivery.event_id, ids[2]);
    let none = store.claim("a", now, 5, LEASE, Limits::NONE).await.unwrap();
    assert!(none.work.is_empty());
    assert_eq!(none.next_at, None);
    assert!(
        store
            .claim("b", now, 5, LEASE, Limits::NONE)
            .await
            .unwrap()
            .work
            .is_empty()
    );

    // Released: claimable again. Finished: gone from the queue.
    store.release(second.work[0].delivery.id).await.unwrap();
    let again = store.claim("a", now, 5, LEASE, Limits::NONE).await.unwrap();
    assert_eq!(again.work.len(), 1);
    for w in first.work.iter().chain(&again.work) {
        store
            .finish(w.delivery.id, None, None, Next::Delivered, now)
            .await
            .unwrap();
    }
    assert!(
        store
            .claim("a", now, 5, LEASE, Limits::NONE)
            .await
            .unwrap()
            .work
            .is_empty()
    );
    let counts = store.counts("a").await.unwrap();
    assert_eq!((counts.pending, counts.delivered), (0, 3));
}

async fn a_retry_is_due_at_its_time(open: Open<'_>) {
    let (store, _keep) = open();
    let now = now_ms();
    store
        .ingest(event("msg_r", now), b"{}", &endpoints(&["a"]), WINDOW)
        .await
        .unwrap();
    let work = store
        .claim("a", now, 1, LEASE, Limits::NONE)
        .await
        .unwrap()
        .work;
    let retry_at = now + 60_000;
    store
        .finish(
            work[0].delivery.id,
            None,
            None,
            Next::Retry {
                at: retry_at,
                reason: "HTTP 503".into(),
            },
            now,
        )
        .await
        .unwrap();
    let early = store.claim("a", now, 1, LEASE, Limits::NONE).await.unwrap();
    assert!(early.work.is_empty());
    assert_eq!(early.next_at, Some(retry_at));
    assert_eq!(store.due_count("a", now).await.unwrap(), 0);
    assert_eq!(store.due_count("a", retry_at).await.unwrap(), 1);
    let due = store
        .claim("a", retry_at, 1, LEASE, Limits::NONE)
        .await
        .unwrap();
    assert_eq!(due.work.len(), 1);
    assert_eq!(due.work[0].delivery.reason.as_deref(), Some("HTTP 503"));
}

fn request() -> OutboundRequest {
    OutboundRequest {
        method: "POST".into(),
        url: "https://api.example.com/x".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: br#"{"ok":true}"#.to_vec(),
    }
}

fn attempt(n: u32, status: u16) -> Attempt {
    Attempt {
        n,
        at: now_ms(),
        duration_ms: 3,
        status: Some(status),
        response: Some(format!("answer {n}")),
        error: None,
        response_headers: Vec::new(),
    }
}

async fn finish_keeps_the_request_and_every_attempt(open: Open<'_>) {
    let (store, _keep) = open();
    let now = now_ms();
    store
        .ingest(event("msg_f", now), b"{}", &endpoints(&["a"]), WINDOW)
        .await
        .unwrap();
    let w = store
        .claim("a", now, 1, LEASE, Limits::NONE)
        .await
        .unwrap()
        .work
        .remove(0);
    assert!(matches!(w.input, WorkInput::Event(..)));
    let req = request();
    let made = NewRequest {
        request: &req,
        transformed_by: "loops@0.1.0",
        made_for: w.delivery.updated_at,
    };
    let d = store
        .finish(
            w.delivery.id,
            Some(made),
            Some(attempt(1, 500)),
            Next::Retry {
                at: now,
                reason: "HTTP 500".into(),
            },
            now,
        )
        .await
        .unwrap();
    assert_eq!((d.attempts, d.last_status), (1, Some(500)));
    assert_eq!(d.transformed_by.as_deref(), Some("loops@0.1.0"));
    assert_eq!(store.request(d.id).await.unwrap(), Some(req.clone()));
    // The retry resends the stored bytes.
    let w = store
        .claim("a", now, 1, LEASE, Limits::NONE)
        .await
        .unwrap()
        .work
        .remove(0);
    assert_eq!(w.input, WorkInput::Request(req));
    store
        .finish(
            w.delivery.id,
            None,
            Some(attempt(2, 200)),
            Next::Delivered,
            now,
        )
        .await
        .unwrap();
    let attempts = store.attempts(d.id).await.unwrap();
    let statuses: Vec<Option<u16>> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(500), Some(200)]);
    let d = store.delivery(d.id).await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Delivered);
    let delivered = store
        .deliveries(&DeliveryQuery {
            endpoint: Some("a".into()),
            status: Some(DeliveryStatus::Delivered),
            limit: 10,
            ..DeliveryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(delivered.items.len(), 1);
}

async fn requeue_and_replay(open: Open<'_>) {
    let (store, _keep) = open();
    let now = now_ms();
    store
        .ingest(event("msg_q", now), b"{}", &endpoints(&["a"]), WINDOW)
        .await
        .unwrap();
    let w = store
        .claim("a", now, 1, LEASE, Limits::NONE)
        .await
        .unwrap()
        .work
        .remove(0);
    let req = request();
    let made = NewRequest {
        request: &req,
        transformed_by: "loops@0.1.0",
        made_for: w.delivery.updated_at,
    };
    let id = w.delivery.id;
    store
        .finish(
            id,
            Some(made),
            Some(attempt(1, 400)),
            Next::Dead {
                reason: "HTTP 400".into(),
            },
            now,
        )
        .await
        .unwrap();
    assert_eq!(store.counts("a").await.unwrap().dead, 1);
    // Retry: the same request again.
    let d = store.requeue(id, false, now + 1).await.unwrap();
    assert_eq!(d.status, DeliveryStatus::Pending);
    assert_eq!(store.request(id).await.unwrap(), Some(req));
    let w = store
        .claim("a", now + 1, 1, LEASE, Limits::NONE)
        .await
        .unwrap()
        .work
        .remove(0);
    assert!(matches!(w.input, WorkInput::Request(_)));
    store
        .finish(
            id,
            None,
            Some(attempt(2, 400)),
            Next::Dead {
                reason: "HTTP 400".into(),
            },
            now + 1,
        )
        .await
        .unwrap();
    // Replay: transformed again.
    store.requeue(id, true, now + 2).await.unwrap();
    assert_eq!(store.request(id).await.unwrap(), None);
    let w = store
        .claim("a", now + 2, 1, LEASE, Limits::NONE)
        .await
        .unwrap()
        .work
        .remove(0);
    assert!(matches!(w.input, WorkInput::Event(..)));
    assert!(matches!(
        store.requeue(DeliveryId::new(), false, now).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn add_delivery_creates_at_most_one(open: Open<'_>) {
    let (store, _keep) = open();
    let now = now_ms();
    let id = store
        .ingest(event("msg_add", now), b"{}", &endpoints(&["a"]), WINDOW)
        .await
        .unwrap()
        .event_id;
    assert_eq!(
        store
            .add_delivery(id, &Route::from("a"), now)
            .await
            .unwrap(),
        None,
        "made at ingest"
    );
    assert!(
        store
            .add_delivery(id, &Route::from("late"), now)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store
            .add_delivery(id, &Route::from("late"), now)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.deliveries_of(id).await.unwrap().len(), 2);
    assert_eq!(
        store
            .claim("late", now, 5, LEASE, Limits::NONE)
            .await
            .unwrap()
            .work
            .len(),
        1
    );
    assert!(matches!(
        store
            .add_delivery(EventId::new(), &Route::from("a"), now)
            .await,
        Err(StoreError::NotFound(_))
    ));
    // Added to a FIFO endpoint: it waits behind the pending delivery of its
    // key, as an ingested one would.
    let keyed = Route {
        endpoint: "fifo".into(),
        ordering_key: Some("k".into()),
    };
    let first = store
        .ingest(
            event("msg_add_1", now),
            b"{}",
            std::slice::from_ref(&keyed),
            WINDOW,
        )
        .await
        .unwrap()
        .event_id;
    let added = store.add_delivery(id, &keyed, now).await.unwrap().unwrap();
    assert_eq!(
        store
            .delivery(added)
            .await
            .unwrap()
            .unwrap()
            .ordering_key
            .as_deref(),
        Some("k")
    );
    let claimed = store
        .claim("fifo", now, 5, LEASE, Limits::NONE)
        .await
        .unwrap()
        .work;
    assert_eq!(claimed.len(), 1, "one at a time per key");
    assert_eq!(claimed[0].delivery.event_id, first);
}

async fn cancel_pending_ends_only_that_endpoints_pending(open: Open<'_>) {
    let (store, _keep) = open();
    let now = now_ms();
    for n in 0..3 {
        store
            .ingest(
                event(&format!("msg_c{n}"), now + n),
                b"{}",
                &endpoints(&["gone", "stays"]),
                WINDOW,
            )
            .await
            .unwrap();
    }
    // One of "gone"'s already delivered: history stays.
    let w = store
        .claim("gone", now + 5, 1, LEASE, Limits::NONE)
        .await
        .unwrap()
        .work
        .remove(0);
    store
        .finish(w.delivery.id, None, None, Next::Delivered, now)
        .await
        .unwrap();
    let cancelled = store
        .cancel_pending("gone", "the endpoint was deleted", now + 10)
        .await
        .unwrap();
    assert_eq!(cancelled, 2);
    let counts = store.counts("gone").await.unwrap();
    assert_eq!(
        (counts.pending, counts.cancelled, counts.delivered),
        (0, 2, 1)
    );
    assert_eq!(store.counts("stays").await.unwrap().pending, 3);
    assert!(
        store
            .claim("gone", now + 10, 5, LEASE, Limits::NONE)
            .await
            .unwrap()
            .work
            .is_empty()
    );
    let page = store
        .deliveries(&DeliveryQuery {
            endpoint: Some("gone".into()),
            status: Some(DeliveryStatus::Cancelled),
            limit: 10,
            ..DeliveryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(
        page.items
            .iter()
            .all(|d| d.reason.as_deref() == Some("the endpoint was deleted"))
    );
}

async fn records_states_and_audit(open: Open<'_>) {
    let (store, _keep) = open();
    store.put_record("endpoint", "b", b"two").await.unwrap();
    store.put_record("endpoint", "a", b"one").await.unwrap();
    store
        .put_record("transformation", "a/0000000001", b"v1")
        .await
        .unwrap();
    store
        .put_record("transformation", "ab/0000000001", b"other")
        .await
        .unwrap();
    let all = store.records("endpoint", "").await.unwrap();
    assert_eq!(
        all,
        [
            ("a".to_string(), b"one".to_vec()),
            ("b".to_string(), b"two".to_vec())
        ]
    );
    let of_a = store.records("transformation", "a/").await.unwrap();
    assert_eq!(of_a.len(), 1);
    store
        .put_record("endpoint", "a", b"one again")
        .await
        .unwrap();
    store.delete_record("endpoint", "b").await.unwrap();
    assert_eq!(
        store.records("endpoint", "").await.unwrap(),
        [("a".to_string(), b"one again".to_vec())]
    );

    assert_eq!(store.endpoint_state("a").await.unwrap(), None);
    let state = EndpointState {
        disabled: true,
        reason: Some("410".into()),
        since: 5,
    };
    store.set_endpoint_state("a", Some(&state)).await.unwrap();
    assert_eq!(store.endpoint_state("a").await.unwrap(), Some(state));
    store.set_endpoint_state("a", None).await.unwrap();
    assert_eq!(store.endpoint_state("a").await.unwrap(), None);

    for n in 0..5 {
        let entry = AuditEntry {
            at: 1_000 + n,
            actor: "admin api".into(),
            action: format!("endpoint.update{n}"),
            object: "endpoint:a".into(),
            changes: vec!["events".into()],
        };
        store.append_audit(&entry).await.unwrap();
    }
    let page = store.audit(None, 3).await.unwrap();
    let actions: Vec<&str> = page.items.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        ["endpoint.update4", "endpoint.update3", "endpoint.update2"]
    );
    let rest = store.audit(page.next_cursor.as_deref(), 3).await.unwrap();
    let actions: Vec<&str> = rest.items.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["endpoint.update1", "endpoint.update0"]);
    assert_eq!(rest.next_cursor, None);
}

async fn ingest_signals_the_endpoints_lanes(open: Open<'_>) {
    let (store, _keep) = open();
    let signal = store.work_signal("a");
    let woken = signal.notified();
    store
        .ingest(event("msg_s", now_ms()), b"{}", &endpoints(&["a"]), WINDOW)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), woken)
        .await
        .expect("the lane's signal after an ingest");
}

async fn fifo_goes_one_at_a_time_per_key_in_ingest_order(open: Open<'_>) {
    let (store, _keep) = open();
    let now = now_ms();
    let route = |key: &str| Route {
        endpoint: "f".into(),
        ordering_key: Some(key.into()),
    };
    // Interleaved keys, all in the same millisecond: ingest order is id order.
    let mut of_key: std::collections::HashMap<&str, Vec<EventId>> = Default::default();
    for (n, key) in ["k1", "k2", "k1", "k2", "k1"].iter().enumerate() {
        let id = store
            .ingest(
                event(&format!("fifo_{n}"), now),
                b"{}",
                &[route(key)],
                WINDOW,
            )
            .await
            .unwrap()
            .event_id;
        of_key.entry(key).or_default().push(id);
    }
    let claim = |at: Millis| {
        let store = store.clone();
        async move {
            let mut got: Vec<(EventId, DeliveryId)> = store
                .claim("f", at, 10, LEASE, Limits::NONE)
                .await
                .unwrap()
                .work
                .iter()
                .map(|w| (w.delivery.event_id, w.delivery.id))
                .collect();
            got.sort();
            got
        }
    };
    let first = claim(now).await;
    let mut heads = vec![of_key["k1"][0], of_key["k2"][0]];
    heads.sort();
    assert_eq!(
        first.iter().map(|(e, _)| *e).collect::<Vec<_>>(),
        heads,
        "only the first of each key"
    );
    assert!(claim(now).await.is_empty(), "the rest wait for their heads");
    let delivery_of = |event: EventId| first.iter().find(|(e, _)| *e == event).map(|(_, d)| *d);
    // k1's head fails and retries in a minute: it holds back k1 only.
    store
        .finish(
            delivery_of(of_key["k1"][0]).unwrap(),
            None,
            None,
            Next::Retry {
                at: now + 60_000,
                reason: "HTTP 503".into(),
            },
            now,
        )
        .await
        .unwrap();
    store
        .finish(
            delivery_of(of_key["k2"][0]).unwrap(),
            None,
            None,
            Next::Delivered,
            now,
        )
        .await
        .unwrap();
    let next = claim(now).await;
    assert_eq!(
        next.iter().map(|(e, _)| *e).collect::<Vec<_>>(),
        [of_key["k2"][1]],
        "k2 moves on; k1 waits for its failing head"
    );
    store
        .finish(next[0].1, None, None, Next::Delivered, now)
        .await
        .unwrap();
    // The retry comes due: k1's head again, then (dead) the next of k1.
    let retry = claim(now + 60_000).await;
    assert_eq!(
        retry.iter().map(|(e, _)| *e).collect::<Vec<_>>(),
        [of_key["k1"][0]]
    );
    store
        .finish(
            retry[0].1,
            None,
            None,
            Next::Dead {
                reason: "HTTP 400".into(),
            },
            now,
        )
        .await
        .unwrap();
    for want in &of_key["k1"][1..] {
        let got = claim(now + 60_000).await;
        assert_eq!(
            got.iter().map(|(e, _)| *e).collect::<Vec<_>>(),
            [*want],
            "in ingest order"
        );
        store
            .finish(got[0].1, None, None, Next::Delivered, now)
            .await
            .unwrap();
    }
    assert!(claim(now + 60_000).await.is_empty());
}
