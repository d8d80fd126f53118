//! The operator commands (`endpoints`, `events`, `deliveries`, `dlq`,
//! `plugins`) against a running server, as a user types them: tables, JSON,
//! recovering dead letters, and clear errors for a wrong token or no server.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::support::*;

/// Runs `hookwasm ARGS` against `server`'s admin API: (exit code, stdout, stderr).
fn cli(server: &Hookwasm, token: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hookwasm"))
        .args(args)
        .env("HOOKWASM_ADMIN_URL", server.admin_url(""))
        .env("HOOKWASM_ADMIN_TOKEN", token)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(server: &Hookwasm, args: &[&str]) -> String {
    let (code, stdout, stderr) = cli(server, ADMIN_TOKEN, args);
    assert_eq!(code, 0, "hookwasm {args:?}: {stderr}");
    stdout
}

fn json_of(server: &Hookwasm, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let stdout = ok(server, &args);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_see_and_recover_dead_letters_from_the_cli() {
    let healthy = Arc::new(AtomicBool::new(false));
    let sink = Sink::until_healthy(healthy.clone(), (400, "rejected")).await;
    let config = format!(
        "[[endpoints]]\nid = \"flaky\"\nsource = \"dodo\"\nplugin = \"inngest\"\nevents = [\"*\"]\nurl = \"{}\"\n",
        sink.url("/e/k")
    );
    let server = Hookwasm::start(&config).await;
    let body = serde_json::to_vec(&json!({"business_id": "b", "type": "payment.succeeded", "timestamp": "2025-01-15T23:30:12Z", "data": {}})).unwrap();
    let (status, _) = server.post_signed("dodo", "msg_cli_1", &body).await;
    assert_eq!(status, 200);

    // A 400 is permanent: the delivery becomes a dead letter.
    let dead = eventually("a dead letter", Duration::from_secs(30), async || {
        let listed = json_of(&server, &["dlq", "list"]);
        listed["items"]
            .as_array()
            .filter(|i| !i.is_empty())
            .cloned()
    })
    .await;
    let delivery = dead[0]["id"].as_str().unwrap().to_string();

    let table = ok(&server, &["endpoints"]);
    assert!(table.starts_with("ENDPOINT"), "{table}");
    assert!(
        table.contains("flaky") && table.contains("inngest@"),
        "{table}"
    );
    let events = ok(&server, &["events", "list", "--type", "payment.succeeded"]);
    assert!(events.contains("msg_cli_1"), "{events}");
    let shown = ok(&server, &["events", "show", "msg_cli_1"]);
    assert!(
        shown.contains("dead") && shown.contains(&delivery),
        "{shown}"
    );
    let attempts = ok(&server, &["deliveries", "show", &delivery]);
    assert!(
        attempts.contains("ATTEMPT") && attempts.contains("400"),
        "{attempts}"
    );
    let plugins = ok(&server, &["plugins"]);
    assert!(
        plugins.contains("loops") && plugins.contains("built-in"),
        "{plugins}"
    );

    // Recover the endpoint's dead letters now that it is healthy.
    healthy.store(true, Ordering::SeqCst);
    let started = ok(
        &server,
        &["dlq", "recover", "flaky", "--since", "2020-01-01T00:00:00Z"],
    );
    assert!(started.starts_with("job "), "{started}");
    eventually(
        "the recovered delivery",
        Duration::from_secs(30),
        async || {
            let listed = json_of(&server, &["deliveries", "list", "--status", "delivered"]);
            (listed["items"][0]["id"] == delivery.as_str()).then_some(())
        },
    )
    .await;

    // Mistakes are one clear line and a non-zero exit.
    let (code, _, stderr) = cli(&server, "wrong-token-0123456789", &["endpoints"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("refused the token"), "{stderr}");
    let (code, _, stderr) = cli(&server, ADMIN_TOKEN, &["deliveries", "retry", "nope"]);
    assert_eq!(code, 1);
    assert_eq!(stderr.trim(), "error: no delivery \"nope\"", "{stderr}");
    let (code, _, stderr) = cli(
        &server,
        ADMIN_TOKEN,
        &["dlq", "recover", "flaky", "--since", "yesterday"],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("not an RFC 3339 time"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_hookwasm"))
        .args([
            "endpoints",
            "--admin-url",
            &format!("http://127.0.0.1:{}", free_port()),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("cannot reach the admin API"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
