//! hookwasm on PostgreSQL, against the real binary and a private server
//! (`support::postgres`): delivery, retries and replays; three nodes on one
//! database with one killed mid-backlog; an endpoint's concurrency and rate
//! limit held for the cluster; another node's catalog change;
//! PostgreSQL stopped and started under load. Skipped (with the reason)
//! where the machine has no PostgreSQL, unless `HOOKWASM_TEST_POSTGRES=required`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::json;

use super::crash::{event_body, post_all_to};
use super::support::*;

/// The Inngest event ids a sink received, with how often each came.
fn keys(sink: &Sink) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for r in sink.received() {
        if let Some(id) = r.json()["id"].as_str() {
            *seen.entry(id.to_string()).or_default() += 1;
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_retries_and_replays_on_postgres() {
    let Some(db) = postgres() else { return };
    let url = fresh_database(db).await;
    // Fails the first two tries of everything, and always for "msg_dead".
    let sink = Sink::start(|r, n| {
        let dead = r.json()["id"]
            .as_str()
            .is_some_and(|id| id.ends_with("msg_dead"));
        if dead || n < 2 {
            (503, vec![], "busy".into())
        } else {
            (200, vec![], "{}".into())
        }
    })
    .await;
    let config = sink_endpoint(
        &sink.url("/e/key"),
        "retry = { schedule_secs = [0.2, 0.2, 0.2] }",
    );
    let server = Hookwasm::start_pg(&url, &config).await;
    let (status, body) = server.post_signed("dodo", "msg_1", &event_body(1)).await;
    assert_eq!(status, 200, "{body}");
    eventually(
        "msg_1 delivered after two retries",
        Duration::from_secs(30),
        async || keys(&sink).contains_key("sink:msg_1").then_some(()),
    )
    .await;
    // A duplicate is acknowledged and not stored again.
    let (status, body) = server.post_signed("dodo", "msg_1", &event_body(1)).await;
    assert_eq!(status, 200);
    assert_eq!(body["duplicate"], json!(true), "{body}");

    let (status, _) = server.post_signed("dodo", "msg_dead", &event_body(2)).await;
    assert_eq!(status, 200);
    let dead = eventually(
        "msg_dead dead-lettered",
        Duration::from_secs(30),
        async || {
            let (_, page) = admin_get(&server, "/v1/deliveries?status=dead").await;
            page["items"]
                .as_array()
                .and_then(|items| items.first().cloned())
        },
    )
    .await;
    assert_eq!(dead["attempt_count"], json!(4), "{dead}");
    let id = dead["id"].as_str().unwrap();
    let (_, attempts) = admin_get(&server, &format!("/v1/deliveries/{id}")).await;
    assert!(attempts.to_string().contains("busy"), "{attempts}");
    // Replayed: its attempts run again (and fail again: still dead).
    let before = sink.count();
    let (status, body) =
        admin_post(&server, &format!("/v1/deliveries/{id}/replay"), json!({})).await;
    assert!(status < 300, "{status} {body}");
    eventually(
        "the replay's attempts",
        Duration::from_secs(30),
        async || (sink.count() >= before + 4).then_some(()),
    )
    .await;
}

/// Posts `ids` round-robin to the nodes' ingest URLs.
async fn post_spread(bases: &[String], ids: Vec<String>) -> Vec<String> {
    let mut parts: Vec<Vec<String>> = vec![Vec::new(); bases.len()];
    for (i, id) in ids.into_iter().enumerate() {
        parts[i % bases.len()].push(id);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (base, part) in bases.iter().cloned().zip(parts) {
        tasks.spawn(async move { post_all_to(&base, part, 8).await });
    }
    let mut acked = Vec::new();
    while let Some(done) = tasks.join_next().await {
        acked.extend(done.unwrap());
    }
    acked
}

/// Deliveries a node made, from its own `/metrics`.
async fn delivered_by(node: &Hookwasm) -> f64 {
    let text = match get(&node.admin_url("/metrics"), Some(ADMIN_TOKEN)).await {
        Ok((_, serde_json::Value::String(text))) => text,
        other => panic!("GET /metrics: {other:?}"),
    };
    text.lines()
        .filter(|l| l.contains("deliveries") && l.contains("delivered") && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_one_queue_and_a_killed_nodes_work_is_taken_over() {
    const EVENTS: usize = 900;
    let Some(db) = postgres() else { return };
    let url = fresh_database(db).await;
    let sink = Sink::start(|_, _| {
        std::thread::sleep(Duration::from_millis(3));
        (200, vec![], "{}".into())
    })
    .await;
    let config = sink_endpoint(
        &sink.url("/e/key"),
        "concurrency = 4\nretry = { schedule_secs = [0.2, 0.5, 1, 1, 1] }",
    );
    // Short leases: the killed node's work is taken over within seconds.
    let config =
        format!("{config}\n[store]\nbackend = \"postgres\"\nurl = \"{url}\"\nlease_secs = 3\n");
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(
            Hookwasm::start_full(
                &format!("secret_key = \"{PG_SECRET_KEY}\""),
                &config,
                |_| {},
            )
            .await,
        );
    }
    let bases: Vec<String> = nodes.iter().map(|n| n.url("")).collect();
    let ids: Vec<String> = (0..EVENTS).map(|n| format!("msg_{n:05}")).collect();
    let acked = post_spread(&bases, ids).await;
    assert_eq!(acked.len(), EVENTS, "every post was acknowledged");
    eventually("delivery under way", Duration::from_secs(60), async || {
        (sink.count() >= 150).then_some(())
    })
    .await;
    nodes[1].kill9();
    let at_kill = keys(&sink).len();
    assert!(at_kill < EVENTS, "the backlog drained before the kill");
    // The killed node's leases expire (3 s) and the others take its work.
    let want: HashSet<String> = acked.iter().map(|id| format!("sink:{id}")).collect();
    eventually(
        "every acknowledged event delivered by the nodes left",
        Duration::from_secs(240),
        async || {
            let got = keys(&sink);
            want.iter().all(|k| got.contains_key(k)).then_some(())
        },
    )
    .await;
    let got = keys(&sink);
    let duplicates: usize = got.values().map(|n| n - 1).sum();
    let (a, c) = (delivered_by(&nodes[0]).await, delivered_by(&nodes[2]).await);
    eprintln!(
        "three nodes on PostgreSQL: {EVENTS} acknowledged, {at_kill} delivered when node 2 was killed, \
         lost 0, {duplicates} delivered twice; nodes 1 and 3 delivered {a} and {c}"
    );
    assert!(
        a > 0.0 && c > 0.0,
        "deliveries spread over the nodes: {a} and {c}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_and_rate_limit_hold_for_the_cluster_not_per_node() {
    const EVENTS: usize = 150;
    const RATE: f64 = 25.0;
    const CONCURRENCY: usize = 2;
    let Some(db) = postgres() else { return };
    let url = fresh_database(db).await;
    // 60 ms per request: three nodes each keeping to the limits on their
    // own would have up to 6 requests in flight and send 75 a second.
    let sink = Sink::slow(Duration::from_millis(60), |_, _| (200, vec![], "{}".into())).await;
    let config = sink_endpoint(
        &sink.url("/e/key"),
        &format!("concurrency = {CONCURRENCY}\nrate_limit_per_sec = {RATE}"),
    );
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Hookwasm::start_pg(&url, &config).await);
    }
    let bases: Vec<String> = nodes.iter().map(|n| n.url("")).collect();
    let ids: Vec<String> = (0..EVENTS).map(|n| format!("msg_{n:05}")).collect();
    let acked = post_spread(&bases, ids).await;
    assert_eq!(acked.len(), EVENTS, "every post was acknowledged");
    let want: HashSet<String> = acked.iter().map(|id| format!("sink:{id}")).collect();
    eventually(
        "every event delivered",
        Duration::from_secs(120),
        async || {
            let got = keys(&sink);
            want.iter().all(|k| got.contains_key(k)).then_some(())
        },
    )
    .await;
    let times: Vec<std::time::Instant> = sink.received().iter().map(|r| r.at).collect();
    let busiest = busiest_second(&times);
    let span = times[times.len() - 1]
        .duration_since(times[0])
        .as_secs_f64();
    let mean = (times.len() - 1) as f64 / span;
    let mut spread = Vec::new();
    for node in &nodes {
        spread.push(delivered_by(node).await);
    }
    eprintln!(
        "cluster limits over three nodes: {} requests in {span:.1} s ({mean:.1}/s on average, at most \
         {busiest} in one second; limit {RATE}/s), at most {} in flight (limit {CONCURRENCY}); \
         the nodes delivered {spread:?}",
        times.len(),
        sink.peak_in_flight()
    );
    assert!(
        sink.peak_in_flight() <= CONCURRENCY,
        "{} requests in flight at once, cluster limit {CONCURRENCY}",
        sink.peak_in_flight()
    );
    assert!(
        busiest as f64 <= RATE + 2.0,
        "{busiest} requests in one second, cluster limit {RATE}/s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_created_on_one_node_is_used_by_every_node() {
    let Some(db) = postgres() else { return };
    let url = fresh_database(db).await;
    let sink = Sink::ok().await;
    let a = Hookwasm::start_pg(&url, "").await;
    let b = Hookwasm::start_pg(&url, "").await;
    let (status, body) = admin_post(
        &a,
        "/v1/endpoints",
        json!({
            "id": "later",
            "source": "dodo",
            "plugin": "inngest",
            "events": ["*"],
            "url": sink.url("/e/key"),
        }),
    )
    .await;
    assert!(status < 300, "{status} {body}");
    eventually(
        "node b to know the endpoint",
        Duration::from_secs(5),
        async || {
            let (status, _) = admin_get(&b, "/v1/endpoints/later").await;
            (status == 200).then_some(())
        },
    )
    .await;
    let (status, _) = b.post_signed("dodo", "msg_b", &event_body(1)).await;
    assert_eq!(status, 200);
    sink.wait_for(1, Duration::from_secs(30)).await;
    // Disabled on b: a stops delivering too.
    let (status, body) = admin_post(&b, "/v1/endpoints/later/disable", json!({})).await;
    assert!(status < 300, "{status} {body}");
    eventually(
        "node a to see it disabled",
        Duration::from_secs(5),
        async || {
            let (_, e) = admin_get(&a, "/v1/endpoints/later").await;
            (e["enabled"] == json!(false)).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_under_load_means_503_and_nothing_acknowledged_is_lost() {
    let Some(db) = postgres() else { return };
    // Its own server: this test stops it.
    let own = match hookwasm::store::pg_store::testdb::TestDb::start() {
        Ok(Some(own)) => own,
        Ok(None) => return,
        Err(e) => panic!("{e}"),
    };
    let _ = db;
    let url = fresh_database(&own).await;
    let sink = Sink::ok().await;
    let config = sink_endpoint(
        &sink.url("/e/key"),
        "retry = { schedule_secs = [0.2, 0.5, 1, 1, 1] }",
    );
    let server = Hookwasm::start_pg(&url, &config).await;
    let base = server.url("");
    let load = tokio::spawn(async move {
        let mut acked = Vec::new();
        let mut refused = 0;
        for n in 0..4000 {
            let id = format!("msg_{n:05}");
            let body = event_body(n);
            match post(
                &format!("{base}/webhooks/dodo"),
                &signed_headers(&id, now_secs(), &body),
                body,
            )
            .await
            {
                Ok((200, _)) => acked.push(id),
                Ok((503, _)) => refused += 1,
                Ok((status, body)) => panic!("{status} {body}"),
                Err(_) => refused += 1,
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        (acked, refused)
    });
    eventually("some deliveries", Duration::from_secs(30), async || {
        (sink.count() >= 50).then_some(())
    })
    .await;
    own.stop_server().unwrap();
    let (status, body) = eventually("readyz to say why", Duration::from_secs(15), async || {
        let (status, body) = admin_get(&server, "/readyz").await;
        (status == 503).then_some((status, body))
    })
    .await;
    assert!(body.to_string().contains("PostgreSQL"), "{status} {body}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    own.start_server().unwrap();
    let (acked, refused) = load.await.unwrap();
    assert!(
        refused > 0,
        "PostgreSQL was down while posting, yet nothing was refused"
    );
    let want: HashSet<String> = acked.iter().map(|id| format!("sink:{id}")).collect();
    eventually(
        "every acknowledged event delivered after PostgreSQL came back",
        Duration::from_secs(120),
        async || {
            let got = keys(&sink);
            want.iter().all(|k| got.contains_key(k)).then_some(())
        },
    )
    .await;
    eprintln!(
        "PostgreSQL stopped under load: {} acknowledged, {refused} refused while it was down, lost 0",
        acked.len()
    );
}

/// A payment for `customer`, the `seq`-th of theirs.
fn customer_event(customer: &str, seq: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "business_id": "bus_1",
        "type": "payment.succeeded",
        "timestamp": "2025-01-15T23:30:12.482913Z",
        "data": { "payment_id": format!("pay_{customer}_{seq}"), "customer": { "customer_id": customer } }
    }))
    .unwrap()
}

/// For each customer, the sequence numbers in the order the sink got them
/// (retries included).
fn per_customer(sink: &Sink) -> HashMap<String, Vec<usize>> {
    let mut seen: HashMap<String, Vec<usize>> = HashMap::new();
    for r in sink.received() {
        let Some(id) = r.json()["id"].as_str().map(str::to_string) else {
            continue;
        };
        // "sink:<customer>-<seq>"
        if let Some((customer, seq)) = id.trim_start_matches("sink:").rsplit_once('-')
            && let Ok(seq) = seq.parse()
        {
            seen.entry(customer.to_string()).or_default().push(seq);
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_per_customer_across_two_nodes_and_a_failing_customer_holds_back_only_itself() {
    const EACH: usize = 12;
    let Some(db) = postgres() else { return };
    let url = fresh_database(db).await;
    // cus_bad's first three attempts fail.
    let bad_tries = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sink = {
        let bad_tries = bad_tries.clone();
        Sink::start(move |r, _| {
            let bad = r.json()["id"]
                .as_str()
                .is_some_and(|id| id.contains("cus_bad"));
            if bad && bad_tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 3 {
                (503, vec![], "not yet".into())
            } else {
                (200, vec![], "{}".into())
            }
        })
        .await
    };
    let config = sink_endpoint(
        &sink.url("/e/key"),
        "concurrency = 8\nordering = \"fifo\"\nordering_key = \"/data/customer/customer_id\"\nretry = { schedule_secs = [1, 1, 1, 1, 1] }",
    );
    let a = Hookwasm::start_pg(&url, &config).await;
    let b = Hookwasm::start_pg(&url, &config).await;
    let customers = ["cus_bad", "cus_a", "cus_b"];
    // Interleaved, alternating nodes, each acknowledged before the next.
    for seq in 0..EACH {
        for (i, customer) in customers.iter().enumerate() {
            let node = if (seq + i) % 2 == 0 { &a } else { &b };
            let (status, body) = node
                .post_signed(
                    "dodo",
                    &format!("{customer}-{seq:03}"),
                    &customer_event(customer, seq),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
    }
    // The good customers finish while the bad one's head is still failing.
    let good_done = eventually(
        "cus_a and cus_b delivered",
        Duration::from_secs(60),
        async || {
            let seen = per_customer(&sink);
            let done = |c: &str| seen.get(c).is_some_and(|s| s.len() >= EACH);
            (done("cus_a") && done("cus_b")).then_some(seen)
        },
    )
    .await;
    let bad_so_far = good_done.get("cus_bad").cloned().unwrap_or_default();
    assert!(
        bad_so_far.iter().all(|s| *s == 0),
        "while its head fails, none of cus_bad's later payments went: {bad_so_far:?}"
    );
    let seen = eventually("cus_bad delivered", Duration::from_secs(90), async || {
        let seen = per_customer(&sink);
        (seen
            .get("cus_bad")
            .is_some_and(|s| s.iter().filter(|n| **n == EACH - 1).count() == 1))
        .then_some(seen)
    })
    .await;
    for customer in customers {
        let order = &seen[customer];
        assert!(
            order.windows(2).all(|w| w[0] <= w[1]),
            "{customer}: one at a time, in order: {order:?}"
        );
        let mut distinct = order.clone();
        distinct.dedup();
        assert_eq!(
            distinct,
            (0..EACH).collect::<Vec<_>>(),
            "{customer}: every payment"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_copy_moves_a_sled_data_dir_to_postgres_and_the_pending_work_is_delivered_there() {
    let Some(db) = postgres() else { return };
    if on_postgres() {
        eprintln!("skipping: this test copies from sled");
        return;
    }
    let url = fresh_database(db).await;
    let healthy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sink = Sink::until_healthy(healthy.clone(), (503, "down")).await;
    let config = sink_endpoint(
        &sink.url("/e/key"),
        "retry = { schedule_secs = [1, 1, 1, 1, 1, 1, 1, 1] }",
    );
    let mut sled = Hookwasm::start_full(
        &format!("secret_key = \"{PG_SECRET_KEY}\""),
        &config,
        |_| {},
    )
    .await;
    for n in 0..5 {
        assert_eq!(
            sled.post_signed("dodo", &format!("msg_ok{n}"), &event_body(n))
                .await
                .0,
            200
        );
    }
    sink.wait_for(5, Duration::from_secs(30)).await;
    // An endpoint created over the API: a sealed record to copy.
    let other = Sink::ok().await;
    let (status, body) = admin_post(
        &sled,
        "/v1/endpoints",
        json!({ "id": "later", "source": "dodo", "plugin": "inngest", "events": ["order.*"], "url": other.url("/e/key") }),
    )
    .await;
    assert!(status < 300, "{status} {body}");
    healthy.store(false, std::sync::atomic::Ordering::SeqCst);
    for n in 0..5 {
        assert_eq!(
            sled.post_signed("dodo", &format!("msg_wait{n}"), &event_body(n))
                .await
                .0,
            200
        );
    }
    eventually(
        "the waiting ones to have failed once",
        Duration::from_secs(30),
        async || (sink.count() >= 10).then_some(()),
    )
    .await;
    sled.terminate();

    let data = sled.dir.path().join("data");
    let data = data.display().to_string();
    let (code, out, err) = hookwasm(&["store", "copy", "--from", &data, "--to", &url]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("10 events (10 new"), "{out}");
    assert!(out.contains("(5 pending)"), "{out}");
    // Again: resumable, nothing copied twice.
    let (code, out, err) = hookwasm(&["store", "copy", "--from", &data, "--to", &url]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("(0 new, 10 already there)"), "{out}");

    healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    let node = Hookwasm::start_pg(&url, &config).await;
    let want: HashSet<String> = (0..5).map(|n| format!("sink:msg_wait{n}")).collect();
    eventually(
        "the copied pending deliveries delivered from PostgreSQL",
        Duration::from_secs(60),
        async || {
            let got = keys(&sink);
            want.iter().all(|k| got.contains_key(k)).then_some(())
        },
    )
    .await;
    let (status, endpoint) = admin_get(&node, "/v1/endpoints/later").await;
    assert_eq!(status, 200, "{endpoint}");
    let (_, events) = admin_get(&node, "/v1/events?limit=100").await;
    assert_eq!(
        events["items"].as_array().map(Vec::len),
        Some(10),
        "{events}"
    );
    eventually(
        "all ten recorded as delivered",
        Duration::from_secs(30),
        async || {
            let (_, delivered) =
                admin_get(&node, "/v1/deliveries?status=delivered&limit=100").await;
            (delivered["items"].as_array().map(Vec::len) == Some(10)).then_some(())
        },
    )
    .await;
}
