//! The store contract on a real PostgreSQL (a private server per test
//! binary, see `testdb`), and what only a shared store does: two nodes on
//! one database, leases that expire, notifications between nodes.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::testdb::TestDb;
use super::*;

/// One server for the whole test binary; `None` where the machine has no
/// PostgreSQL (and it is not required).
fn server() -> Option<&'static TestDb> {
    static SERVER: OnceLock<Option<TestDb>> = OnceLock::new();
    SERVER
        .get_or_init(|| match TestDb::start() {
            Ok(db) => db,
            Err(e) => panic!("starting PostgreSQL for the tests: {e}"),
        })
        .as_ref()
}

fn schema() -> String {
    format!("t{:016x}", fastrand::u64(..))
}

async fn open(db: &TestDb, schema: &str) -> PgStore {
    open_with(db, schema, super::notify::BACKSTOP).await
}

/// A store whose lanes are woken only by notifications (and a poll every
/// `backstop`): a test of notifications that cannot pass by the poll.
async fn open_with(db: &TestDb, schema: &str, backstop: Duration) -> PgStore {
    PgStore::open_in(&db.url(), 4, schema, backstop)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", db.log()))
}

use crate::store::conformance::event;

const WINDOW: Duration = Duration::from_secs(3600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_store_conformance_suite() {
    let Some(db) = server() else { return };
    let open = || {
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                let store: Arc<dyn Store> = Arc::new(open(db, &schema()).await);
                (store, Box::new(()) as Box<dyn std::any::Any + Send>)
            })
        })
    };
    crate::store::conformance::run(&open).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_claim_the_same_delivery() {
    let Some(db) = server() else { return };
    let schema = schema();
    let (a, b) = (open(db, &schema).await, open(db, &schema).await);
    let now = now_ms();
    for n in 0..200 {
        a.ingest(
            event(&format!("m{n}"), now - 1000),
            b"{}",
            &[Route::from("e")],
            WINDOW,
        )
        .await
        .unwrap();
    }
    let (a, b) = (Arc::new(a), Arc::new(b));
    let take = |s: Arc<PgStore>| async move {
        let mut got = Vec::new();
        loop {
            let claim = s
                .claim("e", now, 7, Duration::from_secs(90), Limits::NONE)
                .await
                .unwrap();
            if claim.work.is_empty() {
                return got;
            }
            got.extend(claim.work.iter().map(|w| w.delivery.id));
        }
    };
    let (x, y) = tokio::join!(take(a.clone()), take(b.clone()));
    let mut all: Vec<DeliveryId> = x.iter().chain(&y).copied().collect();
    assert_eq!(all.len(), 200, "every delivery claimed");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 200, "none claimed twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_and_rate_limit_hold_across_nodes() {
    let Some(db) = server() else { return };
    let schema = schema();
    let (a, b) = (open(db, &schema).await, open(db, &schema).await);
    let now = now_ms();
    for n in 0..50 {
        a.ingest(
            event(&format!("m{n}"), now - 1000),
            b"{}",
            &[Route::from("e")],
            WINDOW,
        )
        .await
        .unwrap();
    }
    let limits = Limits {
        concurrency: 5,
        rate_per_sec: Some(10.0),
    };
    let lease = Duration::from_secs(90);
    let send_times = |c: &Claim| {
        c.work
            .iter()
            .map(|w| w.send_at.unwrap())
            .collect::<Vec<_>>()
    };
    // Node a takes every slot; its requests are booked 100 ms apart.
    let first = a.claim("e", now, 64, lease, limits).await.unwrap();
    assert_eq!(
        send_times(&first),
        (0..5).map(|i| now + i * 100).collect::<Vec<_>>()
    );
    // Node b finds no slot free, and is told to look again shortly.
    let full = b.claim("e", now, 64, lease, limits).await.unwrap();
    assert!(full.work.is_empty());
    assert!(
        full.next_at.is_some_and(|at| at > now && at <= now + 1_000),
        "{full:?}"
    );
    // Two of a's finish: b gets two slots, booked after a's requests.
    for w in &first.work[..2] {
        a.finish(w.delivery.id, None, None, Next::Delivered, now + 10)
            .await
            .unwrap();
    }
    let second = b.claim("e", now + 10, 64, lease, limits).await.unwrap();
    assert_eq!(send_times(&second), vec![now + 500, now + 600]);
    // Without limits the same claim takes what is due: the limits were
    // the claims', not the queue's.
    let rest = b
        .claim("e", now + 10, 64, lease, Limits::NONE)
        .await
        .unwrap();
    assert_eq!(rest.work.len(), 43);
    assert!(rest.work.iter().all(|w| w.send_at.is_none()));
    // A dead node's leases stop counting when they expire.
    let other = Limits {
        concurrency: 1,
        rate_per_sec: None,
    };
    a.ingest(
        event("late", now - 1000),
        b"{}",
        &[Route::from("f")],
        WINDOW,
    )
    .await
    .unwrap();
    a.ingest(
        event("later", now - 999),
        b"{}",
        &[Route::from("f")],
        WINDOW,
    )
    .await
    .unwrap();
    let short = Duration::from_secs(5);
    assert_eq!(
        a.claim("f", now, 64, short, other)
            .await
            .unwrap()
            .work
            .len(),
        1
    );
    drop(a);
    assert!(
        b.claim("f", now + 1_000, 64, short, other)
            .await
            .unwrap()
            .work
            .is_empty()
    );
    assert_eq!(
        b.claim("f", now + 5_001, 64, short, other)
            .await
            .unwrap()
            .work
            .len(),
        1,
        "one slot, free again once the dead node's lease expired"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_lease_expires_and_another_node_takes_the_work() {
    let Some(db) = server() else { return };
    let schema = schema();
    let (a, b) = (open(db, &schema).await, open(db, &schema).await);
    let now = now_ms();
    a.ingest(event("lost", now), b"{}", &[Route::from("e")], WINDOW)
        .await
        .unwrap();
    let lease = Duration::from_secs(5);
    let held = a.claim("e", now, 1, lease, Limits::NONE).await.unwrap();
    assert_eq!(held.work.len(), 1);
    // Node a "dies": it never finishes nor renews.
    drop(a);
    assert!(
        b.claim("e", now + 1_000, 1, lease, Limits::NONE)
            .await
            .unwrap()
            .work
            .is_empty()
    );
    let taken = b
        .claim("e", now + 5_001, 1, lease, Limits::NONE)
        .await
        .unwrap();
    assert_eq!(taken.work.len(), 1, "the expired lease is claimable");
    assert_eq!(taken.work[0].delivery.id, held.work[0].delivery.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_on_one_node_wakes_the_lanes_of_another() {
    let Some(db) = server() else { return };
    let schema = schema();
    let hour = Duration::from_secs(3600);
    let (a, b) = (open(db, &schema).await, open_with(db, &schema, hour).await);
    let signal = b.work_signal("far");
    b.listening().await;
    // The listener wakes every lane once when it comes up: that permit is
    // taken first, so that only a notification can wake it below.
    let _ = tokio::time::timeout(Duration::from_millis(100), signal.notified()).await;
    let woken = signal.notified();
    a.ingest(event("n1", now_ms()), b"{}", &[Route::from("far")], WINDOW)
        .await
        .unwrap();
    // (b's poll is an hour away.)
    tokio::time::timeout(Duration::from_secs(30), woken)
        .await
        .expect("woken by the other node's notification");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_changed_on_one_node_is_announced_to_the_others() {
    let Some(db) = server() else { return };
    let schema = schema();
    let (a, b) = (open(db, &schema).await, open(db, &schema).await);
    b.listening().await;
    let mut changes = b.remote_changes().unwrap();
    changes.borrow_and_update();
    a.put_record("endpoint", "x", b"1").await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), changes.changed())
        .await
        .expect("announced")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ingests_of_one_webhook_store_one_event() {
    let Some(db) = server() else { return };
    let store = Arc::new(open(db, &schema()).await);
    let now = now_ms();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .ingest(event("same", now), b"{}", &[Route::from("e")], WINDOW)
                .await
                .unwrap()
        });
    }
    let mut ids = Vec::new();
    let mut new = 0;
    while let Some(done) = tasks.join_next().await {
        let done = done.unwrap();
        ids.push(done.event_id);
        new += usize::from(!done.duplicate);
        assert_eq!(done.deliveries, 1);
    }
    ids.sort();
    ids.dedup();
    assert_eq!((new, ids.len()), (1, 1));
    assert_eq!(store.counts("e").await.unwrap().pending, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_removes_old_finished_events_and_keeps_the_rest() {
    let Some(db) = server() else { return };
    let schema = schema();
    let store = open(db, &schema).await;
    let day = 86_400_000;
    let now = now_ms();
    let old = store
        .ingest(
            event("old", now - 40 * day),
            b"{}",
            &[Route::from("e")],
            WINDOW,
        )
        .await
        .unwrap();
    let pending = store
        .ingest(
            event("pending", now - 40 * day),
            b"{}",
            &[Route::from("p")],
            WINDOW,
        )
        .await
        .unwrap();
    let w = store
        .claim("e", now, 1, Duration::from_secs(90), Limits::NONE)
        .await
        .unwrap();
    store
        .finish(
            w.work[0].delivery.id,
            None,
            None,
            Next::Delivered,
            now - 40 * day,
        )
        .await
        .unwrap();
    let policy = RetentionPolicy {
        done: Duration::from_secs(30 * 86_400),
        dead: Duration::from_secs(90 * 86_400),
    };
    let (purged, resume) = store.purge(now, policy, None, 100).await.unwrap();
    assert_eq!((purged.events, purged.deliveries, resume), (1, 1, None));
    assert!(store.event(old.event_id).await.unwrap().is_none());
    assert!(store.event(pending.event_id).await.unwrap().is_some());
    assert_eq!(
        store.event_by_webhook_id("dodo", "old").await.unwrap(),
        None
    );
    // Another node's pass right after finds the turn taken and does
    // nothing; five minutes on, it is its turn.
    let other = open(db, &schema).await;
    let later = store
        .ingest(
            event("later", now - 40 * day),
            b"{}",
            &[Route::from("l")],
            WINDOW,
        )
        .await
        .unwrap();
    store
        .cancel_pending("l", "gone", now - 40 * day)
        .await
        .unwrap();
    let (skipped, _) = other.purge(now + 1_000, policy, None, 100).await.unwrap();
    assert_eq!(skipped.events, 0, "the turn is the first node's");
    assert!(store.event(later.event_id).await.unwrap().is_some());
    let (purged, _) = other.purge(now + 300_001, policy, None, 100).await.unwrap();
    assert_eq!(purged.events, 1);
}

/// `store copy` both ways: PostgreSQL → sled → PostgreSQL gives back the
/// same events, deliveries, requests and attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_round_trips_between_postgres_and_sled() {
    let Some(db) = server() else { return };
    let pg = open(db, &schema()).await;
    let now = now_ms();
    for n in 0..4 {
        pg.ingest(
            event(&format!("t{n}"), now + n),
            b"{\"n\":1}",
            &[Route::from("a"), Route::from("b")],
            WINDOW,
        )
        .await
        .unwrap();
    }
    let w = pg
        .claim("a", now + 10, 1, Duration::from_secs(90), Limits::NONE)
        .await
        .unwrap()
        .work
        .remove(0);
    let request = OutboundRequest {
        method: "POST".into(),
        url: "https://example.com/".into(),
        headers: vec![],
        body: b"x".to_vec(),
    };
    let attempt = Attempt {
        n: 1,
        at: now,
        duration_ms: 2,
        status: Some(500),
        response: Some("no".into()),
        response_headers: vec![],
        error: None,
    };
    pg.finish(
        w.delivery.id,
        Some(NewRequest {
            request: &request,
            transformed_by: "p@1",
            made_for: w.delivery.updated_at,
        }),
        Some(attempt),
        Next::Dead {
            reason: "HTTP 500".into(),
        },
        now,
    )
    .await
    .unwrap();
    let original = pg.export_events(None, 100).await.unwrap();
    assert_eq!(original.len(), 4);
    let dir = tempfile::tempdir().unwrap();
    let sled = crate::store::SledStore::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(sled.import_events(&original).await.unwrap(), 4);
    assert_eq!(
        sled.import_events(&original).await.unwrap(),
        0,
        "already there"
    );
    let via_sled = sled.export_events(None, 100).await.unwrap();
    assert_eq!(via_sled, original);
    let back = open(db, &schema()).await;
    assert_eq!(back.import_events(&via_sled).await.unwrap(), 4);
    assert_eq!(back.export_events(None, 100).await.unwrap(), original);
    assert_eq!(sled.counts("a").dead, 1);
    assert_eq!(back.counts("b").await.unwrap().pending, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_postgres_as_sslmode_says() {
    // A server of its own: TLS on, with a self-signed certificate for
    // "localhost".
    let db = match TestDb::start() {
        Ok(Some(db)) => db,
        Ok(None) => return,
        Err(e) => panic!("starting PostgreSQL for the tests: {e}"),
    };
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    db.enable_tls(&issued.cert.pem(), &issued.key_pair.serialize_pem())
        .unwrap_or_else(|e| panic!("{e}\n{}", db.log()));
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root.pem");
    std::fs::write(&root, issued.cert.pem()).unwrap();
    let root = root.display().to_string();
    let port = db.port();
    let encrypted = async |url: String| -> Result<bool> {
        let client = connect(&url).await?;
        let row = client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .map_err(pg_error)?;
        Ok(row.get(0))
    };
    let at =
        |host: &str, query: &str| format!("postgres://postgres@{host}:{port}/postgres?{query}");
    // libpq's defaults: TLS when offered, the certificate not checked.
    assert!(
        encrypted(at("127.0.0.1", "application_name=t"))
            .await
            .unwrap()
    );
    assert!(encrypted(at("127.0.0.1", "sslmode=require")).await.unwrap());
    assert!(!encrypted(at("127.0.0.1", "sslmode=disable")).await.unwrap());
    // verify-ca checks the chain, not the name; verify-full both.
    assert!(
        encrypted(at(
            "127.0.0.1",
            &format!("sslmode=verify-ca&sslrootcert={root}")
        ))
        .await
        .unwrap()
    );
    let wrong_name = encrypted(at(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={root}"),
    ))
    .await
    .expect_err("the certificate is not for 127.0.0.1");
    assert!(
        wrong_name.to_string().contains("not valid for name"),
        "{wrong_name}"
    );
    let unknown = encrypted(at("localhost", "sslmode=verify-full"))
        .await
        .expect_err("a self-signed certificate is not under the Mozilla roots");
    assert!(unknown.to_string().contains("UnknownIssuer"), "{unknown}");
    // The store itself (its pools, its LISTEN connection) over verify-full
    // — on a database whose default isolation is not the one `claim`
    // needs: the store's sessions set theirs.
    connect(&at("127.0.0.1", "sslmode=require"))
        .await
        .unwrap()
        .batch_execute(
            "ALTER DATABASE postgres SET default_transaction_isolation = 'repeatable read'",
        )
        .await
        .unwrap();
    let store = PgStore::open_in(
        &at(
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={root}"),
        ),
        2,
        &schema(),
        super::notify::BACKSTOP,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", db.log()));
    store.listening().await;
    for client in [store.lazy().await.unwrap(), store.durable().await.unwrap()] {
        let level: String = client
            .query_one("SHOW transaction_isolation", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(level, "read committed");
    }
    let now = now_ms();
    store
        .ingest(event("over-tls", now), b"{}", &[Route::from("e")], WINDOW)
        .await
        .unwrap();
    assert_eq!(store.due_count("e", now).await.unwrap(), 1);
}
