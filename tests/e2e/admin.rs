//! The admin API over HTTP: auth, listing and pagination, retry vs replay,
//! recover over a window, replay-missing for a new endpoint, plugin test,
//! and metrics that move as deliveries happen.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::support::*;

fn event(kind: &str, n: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "business_id": "bus_1",
        "type": kind,
        "timestamp": "2025-01-15T23:30:12.482913Z",
        "data": { "n": n }
    }))
    .unwrap()
}

fn guest(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("HOOKWASM_GUEST_DIR")).join(format!("{name}.wasm"))
}

async fn status_of(server: &Hookwasm, webhook_id: &str) -> Value {
    let (_, detail) = admin_get(server, &format!("/v1/events/{webhook_id}")).await;
    detail["deliveries"][0].clone()
}

async fn wait_status(server: &Hookwasm, webhook_id: &str, status: &str) -> Value {
    eventually(
        &format!("{webhook_id} {status}"),
        Duration::from_secs(30),
        async || {
            let d = status_of(server, webhook_id).await;
            (d["status"] == status).then_some(d)
        },
    )
    .await
}

async fn wait_job(server: &Hookwasm, job: &Value) -> Value {
    let id = job["id"].as_str().unwrap().to_string();
    eventually("the job to finish", Duration::from_secs(30), async || {
        let (_, job) = admin_get(server, &format!("/v1/jobs/{id}")).await;
        (job["state"] != "running").then_some(job)
    })
    .await
}

fn metric(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l.contains(labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_listing_and_pagination() {
    let sink = Sink::ok().await;
    let server = Hookwasm::start(&format!(
        "[[endpoints]]\nid = \"sink\"\nsource = \"dodo\"\nplugin = \"inngest\"\nevents = [\"*\"]\nurl = \"{}\"\n",
        sink.url("/e/k")
    ))
    .await;

    let (status, body) = get(&server.admin_url("/v1/events"), None).await.unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("missing or wrong bearer token"))
    );
    let (status, _) = get(
        &server.admin_url("/v1/endpoints"),
        Some("wrong-token-0123456789"),
    )
    .await
    .unwrap();
    assert_eq!(status, 401);
    let (status, _) = get(&server.admin_url("/metrics"), None).await.unwrap();
    assert_eq!(status, 401);
    let (status, body) = get(&server.admin_url("/healthz"), None).await.unwrap();
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));

    for n in 0..5 {
        let (status, _) = server
            .post_signed("dodo", &format!("msg_{n}"), &event("payment.succeeded", n))
            .await;
        assert_eq!(status, 200);
    }
    let mut seen = Vec::new();
    let mut path = "/v1/events?limit=2".to_string();
    loop {
        let (status, page) = admin_get(&server, &path).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|e| e["webhook_id"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/events?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["msg_4", "msg_3", "msg_2", "msg_1", "msg_0"],
        "newest first, each once"
    );
    let (_, filtered) = admin_get(&server, "/v1/events?type=nope").await;
    assert_eq!(filtered["items"], json!([]));
    let (status, bad) = admin_get(&server, "/v1/events?since=yesterday").await;
    assert_eq!(status, 400, "{bad}");
    let (status, bad) = admin_get(&server, "/v1/deliveries?status=done").await;
    assert_eq!(status, 400, "{bad}");
    let (status, _) = admin_get(&server, "/v1/events/evt_01ARZ3NDEKTSV4RRFFQ69G5FAV").await;
    assert_eq!(status, 404);

    sink.wait_for(5, Duration::from_secs(20)).await;
    let (_, delivered) = admin_get(
        &server,
        "/v1/deliveries?endpoint=sink&status=delivered&limit=3",
    )
    .await;
    assert_eq!(delivered["items"].as_array().unwrap().len(), 3);
    assert!(delivered["next_cursor"].is_string());
    let (_, endpoints) = admin_get(&server, "/v1/endpoints").await;
    let e = &endpoints["items"][0];
    assert_eq!(e["counts"]["delivered"], 5, "{e}");
    assert_eq!(e["plugin"]["name"], "inngest");
    assert!(e["last_success"].is_string());

    let (status, plugins) = admin_get(&server, "/v1/plugins").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = plugins["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "close",
            "customerio",
            "discord",
            "hubspot",
            "inngest",
            "js",
            "loops",
            "resend",
            "segment",
            "sendgrid",
            "slack",
            "teams",
            "webhook",
            "windmill",
            "zapier"
        ]
    );

    // Plugin test with a sample payload: what `hookwasm plugin test` prints.
    let payload: Value = serde_json::from_slice(&fixture("payment.succeeded").1).unwrap();
    let (status, report) = admin_post(&server, "/v1/plugins/loops/test", payload).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["outcome"], "deliver");
    assert_eq!(
        report["request"]["body"]["eventName"],
        "payment_confirmation"
    );
    let (status, report) = admin_post(
        &server,
        "/v1/plugins/windmill/test",
        json!({"type": "payment.succeeded"}),
    )
    .await;
    assert_eq!(status, 422, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_resends_the_stored_request_and_replay_runs_the_fixed_plugin() {
    // The sink refuses whatever the first version of the plugin sends.
    let sink = Sink::start(|r, _| {
        if r.json()["plugin"] == "misbehave" {
            (400, vec![], "bad".into())
        } else {
            (200, vec![], "{}".into())
        }
    })
    .await;
    let server = Hookwasm::start_with(
        &format!(
            "[[endpoints]]\nid = \"custom\"\nsource = \"dodo\"\nplugin = \"custom\"\nevents = [\"*\"]\nurl = \"{}\"\n",
            sink.url("/e/k")
        ),
        |plugins| {
            std::fs::copy(guest("misbehave"), plugins.join("custom.wasm")).unwrap();
        },
    )
    .await;

    let (status, _) = server
        .post_signed("dodo", "msg_r", &event("test.replay", 1))
        .await;
    assert_eq!(status, 200);
    let dead = wait_status(&server, "msg_r", "dead").await;
    let id = dead["id"].as_str().unwrap().to_string();
    assert!(
        dead["transformed_by"]
            .as_str()
            .unwrap()
            .starts_with("custom@"),
        "{dead}"
    );

    // retry: the same bytes again.
    let (status, _) = admin_post(&server, &format!("/v1/deliveries/{id}/retry"), json!({})).await;
    assert_eq!(status, 202);
    eventually("the retry", Duration::from_secs(30), async || {
        (sink.count() == 2).then_some(())
    })
    .await;
    let got = sink.received();
    assert_eq!(got[0].body, got[1].body, "retry resends the stored request");
    wait_status(&server, "msg_r", "dead").await;

    // Fix the plugin (drop a new file), then replay: transformed again.
    std::fs::copy(
        guest("inngest"),
        server.dir.path().join("plugins/custom.wasm"),
    )
    .unwrap();
    eventually("the fixed plugin", Duration::from_secs(30), async || {
        let (_, plugins) = admin_get(&server, "/v1/plugins").await;
        let custom = plugins["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "custom")
            .cloned()?;
        (custom["description"].as_str()?.contains("Inngest")).then_some(())
    })
    .await;
    let (status, _) = admin_post(&server, &format!("/v1/deliveries/{id}/replay"), json!({})).await;
    assert_eq!(status, 202);
    let delivered = wait_status(&server, "msg_r", "delivered").await;
    assert_eq!(delivered["attempt_count"], 3);
    let last = sink.received().pop().unwrap();
    assert_eq!(last.json()["name"], "test.replay");
    let (_, detail) = admin_get(&server, &format!("/v1/deliveries/{id}")).await;
    assert_eq!(detail["request"]["body"]["name"], "test.replay", "{detail}");
    assert_eq!(detail["attempts"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_a_window_and_replay_missing_for_a_new_endpoint_and_metrics_move() {
    let healthy = Arc::new(AtomicBool::new(false));
    let sink = Sink::until_healthy(healthy.clone(), (400, "down")).await;
    let late = Sink::ok().await;
    let first = format!(
        "[[endpoints]]\nid = \"flaky\"\nsource = \"dodo\"\nplugin = \"inngest\"\nevents = [\"*\"]\nurl = \"{}\"\n",
        sink.url("/e/k")
    );
    let mut server = Hookwasm::start(&first).await;
    let since = views_time_now_minus(60);
    for n in 0..3 {
        server
            .post_signed("dodo", &format!("msg_{n}"), &event("payment.succeeded", n))
            .await;
    }
    for n in 0..3 {
        wait_status(&server, &format!("msg_{n}"), "dead").await;
    }
    let (_, dlq) = admin_get(&server, "/v1/deliveries?status=dead&endpoint=flaky").await;
    assert_eq!(dlq["items"].as_array().unwrap().len(), 3);
    let before = admin_metrics(&server).await;
    assert_eq!(
        metric(&before, "hookwasm_deliveries_total", "outcome=\"dead\""),
        3.0,
        "{before}"
    );
    assert_eq!(
        metric(&before, "hookwasm_queue_depth", "state=\"dead\""),
        3.0
    );

    healthy.store(true, Ordering::SeqCst);
    let (status, job) = admin_post(
        &server,
        "/v1/endpoints/flaky/recover",
        json!({ "since": since }),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    let job = wait_job(&server, &job).await;
    assert_eq!(
        (job["state"].as_str(), job["changed"].as_u64()),
        (Some("done"), Some(3)),
        "{job}"
    );
    for n in 0..3 {
        wait_status(&server, &format!("msg_{n}"), "delivered").await;
    }
    // Safe to call twice: nothing left to recover.
    let (_, job) = admin_post(
        &server,
        "/v1/endpoints/flaky/recover",
        json!({ "since": since }),
    )
    .await;
    assert_eq!(wait_job(&server, &job).await["changed"], 0);
    let after = admin_metrics(&server).await;
    assert_eq!(
        metric(&after, "hookwasm_deliveries_total", "outcome=\"delivered\""),
        3.0,
        "{after}"
    );
    assert_eq!(
        metric(&after, "hookwasm_queue_depth", "state=\"dead\""),
        0.0
    );
    assert!(
        metric(
            &after,
            "hookwasm_events_received_total",
            "result=\"accepted\""
        ) >= 3.0
    );
    assert!(after.contains("hookwasm_transform_fuel_bucket"), "{after}");
    assert!(after.contains("hookwasm_attempt_duration_seconds_bucket"));
    assert!(
        metric(
            &after,
            "hookwasm_ingest_duration_seconds_count",
            "source=\"dodo\""
        ) >= 3.0,
        "{after}"
    );

    // Add an endpoint after the fact, then fill in what it missed.
    let (status, bad) = admin_post(&server, "/v1/endpoints/flaky/recover", json!({})).await;
    assert_eq!(status, 400, "{bad}");
    assert!(server.terminate().success());
    let config = std::fs::read_to_string(server.dir.path().join("hookwasm.toml")).unwrap();
    let config = format!(
        "{config}\n[[endpoints]]\nid = \"late\"\nsource = \"dodo\"\nplugin = \"inngest\"\nevents = [\"payment.*\"]\nurl = \"{}\"\n",
        late.url("/e/late")
    );
    std::fs::write(server.dir.path().join("hookwasm.toml"), config).unwrap();
    server.spawn().await;
    let (status, job) = admin_post(
        &server,
        "/v1/endpoints/late/replay-missing",
        json!({ "since": since }),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(wait_job(&server, &job).await["changed"], 3);
    late.wait_for(3, Duration::from_secs(30)).await;
    let (_, job) = admin_post(
        &server,
        "/v1/endpoints/late/replay-missing",
        json!({ "since": since }),
    )
    .await;
    assert_eq!(wait_job(&server, &job).await["changed"], 0, "idempotent");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(late.count(), 3);
}

async fn admin_metrics(server: &Hookwasm) -> String {
    let (status, body) = admin_get(server, "/metrics").await;
    assert_eq!(status, 200);
    body.as_str().unwrap().to_string()
}

fn views_time_now_minus(secs: u64) -> String {
    let t = std::time::SystemTime::now() - Duration::from_secs(secs);
    humantime::format_rfc3339_seconds(t).to_string()
}
