//! `hookwasm config check` and `hookwasm send` as a user runs them, and the
//! per-endpoint concurrency cap holding under load.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::support::*;

#[test]
fn config_check_accepts_the_example_and_names_each_mistake() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (code, stdout, stderr) = hookwasm_in(&["config", "check", "-c", "hookwasm.toml"], &root);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("hookwasm.toml: ok"), "{stdout}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[server]\nlisten = \"127.0.0.1:8080\"\nlisten_port = 1\n\n[[endpoints]]\nid = \"x\"\nsource = \"nope\"\nplugin = \"loops\"\nevents = [\"*\"]\n",
    )
    .unwrap();
    let (code, _, stderr) = hookwasm_in(&["config", "check", "-c", "bad.toml"], dir.path());
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("bad.toml"), "{stderr}");
    assert!(stderr.contains("listen_port"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let (code, _, stderr) = hookwasm_in(&["config", "check", "-c", "missing.toml"], dir.path());
    assert_eq!(code, 2);
    assert!(stderr.contains("missing.toml"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_signs_with_the_sources_secret_and_the_event_is_delivered() {
    let sink = Sink::ok().await;
    let config = format!(
        "[[endpoints]]\nid = \"inngest\"\nsource = \"dodo\"\nplugin = \"inngest\"\nevents = [\"*\"]\nurl = \"{}\"\n",
        sink.url("/e/key")
    );
    let server = Hookwasm::start(&config).await;
    let event = fixtures().join("dodo/payment.succeeded.json");
    let config_path = server.config_path().display().to_string();
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || {
        hookwasm_in(
            &[
                "send",
                &event.display().to_string(),
                "--config",
                &config_path,
                "--id",
                "msg_sent_1",
            ],
            std::path::Path::new("/"),
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("HTTP 200"), "{stdout}");
    sink.wait_for(1, Duration::from_secs(30)).await;
    let (status, detail) = admin_get(&server, "/v1/events/msg_sent_1").await;
    assert_eq!(status, 200, "{detail}");

    // A wrong secret is the server's 401, and exit status 1.
    let event = fixtures().join("dodo/payment.succeeded.json");
    let to = server.url("/webhooks/dodo");
    let (code, stdout, _) = tokio::task::spawn_blocking(move || {
        hookwasm_in(
            &[
                "send",
                &event.display().to_string(),
                "--to",
                &to,
                "--secret",
                "whsec_MDEyMzQ1Njc4OWFiY2RlZg==",
            ],
            std::path::Path::new("/"),
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 1);
    assert!(stdout.starts_with("HTTP 401"), "{stdout}");
}

// Eight workers: the sink holds each request on a worker thread, so the test
// runtime itself must allow more requests at once than the cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn the_concurrency_cap_holds_under_load() {
    const CAP: usize = 3;
    const EVENTS: usize = 30;
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let sink = {
        let (in_flight, most) = (in_flight.clone(), most.clone());
        Sink::start(move |_, _| {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            // The sink's handler runs on its own task per request: holding it
            // keeps the request in flight.
            std::thread::sleep(Duration::from_millis(50));
            in_flight.fetch_sub(1, Ordering::SeqCst);
            (200, vec![], "{}".into())
        })
        .await
    };
    let config = format!(
        "[[endpoints]]\nid = \"capped\"\nsource = \"dodo\"\nplugin = \"inngest\"\nevents = [\"*\"]\nurl = \"{}\"\nconcurrency = {CAP}\n",
        sink.url("/e/key")
    );
    let server = Hookwasm::start(&config).await;
    let ids: Vec<String> = (0..EVENTS).map(|n| format!("msg_{n:05}")).collect();
    let acked = super::crash::post_all(&server, ids, 8).await;
    assert_eq!(acked.len(), EVENTS);
    sink.wait_for(EVENTS, Duration::from_secs(60)).await;
    let most = most.load(Ordering::SeqCst);
    assert_eq!(most, CAP, "{most} requests in flight at once, cap {CAP}");
    eprintln!("concurrency cap {CAP}: at most {most} in flight over {EVENTS} deliveries");
}

#[test]
fn bench_reports_every_run_and_their_medians() {
    let (code, stdout, stderr) = hookwasm(&[
        "bench",
        "--events",
        "40",
        "--concurrency",
        "4",
        "--runs",
        "2",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("bench prints JSON");
    let runs = report["runs"].as_array().expect("a report per run");
    assert_eq!(runs.len(), 2, "{stdout}");
    for run in runs {
        assert_eq!(run["sink_requests"], 40, "{stdout}");
        // Measured from the server being ready, not from its start.
        assert_eq!(run["server_peak_rss_since_ready"], true, "{stdout}");
        assert!(run["server_cpu_secs"].as_f64().is_some(), "{stdout}");
    }
    for figure in [
        "ack_latency_ms_p90",
        "ack_latency_ms_p99",
        "delivered_per_sec",
    ] {
        assert!(
            report["median"][figure].as_f64().unwrap_or(-1.0) > 0.0,
            "{figure}: {stdout}"
        );
    }
    assert!(stderr.contains("run 2/2"), "{stderr}");

    let (code, _, stderr) = hookwasm(&["bench", "--runs", "0"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--runs"), "{stderr}");
}

/// SIGHUP reloads instead of killing; a first SIGTERM waits for the attempt
/// in flight up to the grace period and records it as interrupted (it is
/// retried after the restart); a second signal stops at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_records_interrupted_attempts_and_a_second_signal_stops_at_once() {
    // A destination that takes requests and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    {
        let accepted = accepted.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in silent.incoming().flatten() {
                accepted.fetch_add(1, Ordering::SeqCst);
                held.push(stream);
            }
        });
    }
    let slow_count = || accepted.load(Ordering::SeqCst);
    let config = sink_endpoint(&format!("http://{addr}/e/key"), "timeout_secs = 60");
    let mut server = Hookwasm::start_full("shutdown_grace_secs = 1", &config, |_| {}).await;
    server.hangup();
    let (status, _) = server
        .post_signed("dodo", "msg_slow", &fixture("payment.succeeded").1)
        .await;
    assert_eq!(status, 200);
    eventually(
        "the attempt to reach the sink",
        std::time::Duration::from_secs(30),
        async || (slow_count() >= 1).then_some(()),
    )
    .await;
    assert!(server.is_running(), "SIGHUP killed the server");
    let status = server.terminate();
    assert!(status.success(), "{status}");
    let logs = server.logs();
    assert!(
        logs.contains("waiting up to 1 s for 1 attempt(s) in flight"),
        "{logs}"
    );
    server.spawn().await;
    let (_, event) = admin_get(&server, "/v1/events/msg_slow").await;
    let attempt = &event["deliveries"][0]["attempts"][0];
    assert!(
        attempt["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("interrupted"),
        "{event}"
    );

    // A second signal: out at once, though an attempt is in flight and
    // the grace period is long. (The interrupted delivery is retried at
    // once after the restart.)
    assert!(server.terminate().success());
    let config = std::fs::read_to_string(server.config_path()).unwrap();
    std::fs::write(
        server.config_path(),
        config.replace("shutdown_grace_secs = 1", "shutdown_grace_secs = 60"),
    )
    .unwrap();
    server.spawn().await;
    eventually(
        "the retried attempt",
        std::time::Duration::from_secs(40),
        async || (slow_count() >= 3).then_some(()),
    )
    .await;
    server.signal("TERM");
    std::thread::sleep(std::time::Duration::from_millis(300));
    server.signal("INT");
    let code = server.wait_exit(std::time::Duration::from_secs(15));
    assert_eq!(code, Some(130), "the second signal did not stop the server");
}
