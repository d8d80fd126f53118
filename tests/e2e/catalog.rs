//! Endpoints as data, through the real binary: the seed flow over the admin
//! API with no restart — a source, a Loops endpoint with its API key, a
//! signed event delivered with it, routing changed by a PATCH at once, a
//! JavaScript transformation pushed, tested on the recorded event, rolled
//! back; everything still there after a restart; deleted with its pending
//! deliveries cancelled; secrets never in the data dir, answers or logs.

use std::time::Duration;

use serde_json::{Value, json};

use super::support::*;

const DODO_SECRET: &str = "whsec_c2VjcmV0LWZvci10aGUtYXBpLXNvdXJjZTAxMjM0NTY3";
const LOOPS_KEY: &str = "loops_api_key_9f8e7d6c5b4a3210";

fn signed(webhook_id: &str, body: &[u8]) -> Vec<(String, String)> {
    let kind = hookwasm::signature::SourceKind::StandardWebhooks;
    let secret = hookwasm::signature::Secret::parse(&kind, DODO_SECRET).unwrap();
    let ts = now_secs();
    vec![
        ("content-type".into(), "application/json".into()),
        ("webhook-id".into(), webhook_id.into()),
        ("webhook-timestamp".into(), ts.to_string()),
        (
            "webhook-signature".into(),
            secret.sign(webhook_id, ts, body),
        ),
    ]
}

async fn post_event(
    server: &Hookwasm,
    source: &str,
    webhook_id: &str,
    body: &[u8],
) -> (u16, Value) {
    post(
        &server.url(&format!("/webhooks/{source}")),
        &signed(webhook_id, body),
        body.to_vec(),
    )
    .await
    .unwrap()
}

fn sample(event_type: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("samples/dodo/{event_type}.json")),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_flow_over_the_api_with_no_restart() {
    let sink = Sink::ok().await;
    let mut server = Hookwasm::start_bare().await;

    // A source: its ingest path is in the answer, its secret is not.
    let (status, source) = admin_call(
        &server,
        "POST",
        "/v1/sources",
        Some(json!({"id": "dodo", "kind": "standard-webhooks", "secrets": [DODO_SECRET]})),
    )
    .await;
    assert_eq!(status, 201, "{source}");
    assert_eq!(source["ingest_path"], "/webhooks/dodo");
    assert_eq!(source["managed_by"], "api");
    assert_eq!(source["secrets"][0]["set"], true);
    assert!(!source.to_string().contains(DODO_SECRET));

    // The same mistakes as the config file, with the same message.
    let (status, bad) = admin_call(
        &server,
        "POST",
        "/v1/endpoints",
        Some(json!({"source": "dodo", "plugin": "loops", "events": []})),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    assert!(
        bad["error"]
            .as_str()
            .unwrap()
            .contains("events: must list at least one event type"),
        "{bad}"
    );
    let (status, bad) = admin_call(
        &server,
        "POST",
        "/v1/endpoints",
        Some(json!({"source": "nope", "plugin": "loops", "events": ["*"]})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        bad["error"]
            .as_str()
            .unwrap()
            .contains("no source named \"nope\""),
        "{bad}"
    );
    let (status, bad) = admin_call(
        &server,
        "POST",
        "/v1/endpoints",
        Some(json!({"source": "dodo", "plugin": "loops", "events": ["*"], "colour": "red"})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        bad["error"]
            .as_str()
            .unwrap()
            .contains("unknown field `colour`"),
        "{bad}"
    );

    // A Loops endpoint with its API key.
    let (status, endpoint) = admin_call(
        &server,
        "POST",
        "/v1/endpoints",
        Some(json!({
            "id": "loops-emails",
            "source": "dodo",
            "plugin": "loops",
            "events": ["payment.succeeded"],
            "url": sink.url("/api/v1/events/send"),
            "auth": {"bearer": LOOPS_KEY},
            "retry": {"schedule_secs": [0.2, 0.2]}
        })),
    )
    .await;
    assert_eq!(status, 201, "{endpoint}");
    assert_eq!(endpoint["auth"]["bearer"]["set"], true);
    assert_eq!(endpoint["auth"]["bearer"]["last4"], "3210");
    assert!(!endpoint.to_string().contains(LOOPS_KEY));
    let (status, dup) = admin_call(
        &server,
        "POST",
        "/v1/endpoints",
        Some(json!({"id": "loops-emails", "source": "dodo", "plugin": "loops", "events": ["*"]})),
    )
    .await;
    assert_eq!(status, 409, "{dup}");

    // A signed event is delivered with the endpoint's auth.
    let (status, answer) =
        post_event(&server, "dodo", "msg_api_1", &sample("payment.succeeded")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["deliveries"], 1);
    let got = sink.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(
        got[0].headers.get("authorization").map(String::as_str),
        Some(format!("Bearer {LOOPS_KEY}").as_str())
    );
    assert_eq!(got[0].json()["eventName"], "payment_confirmation");

    // PATCH the events filter: routing changes at once.
    let (status, answer) =
        post_event(&server, "dodo", "msg_api_2", &sample("payment.failed")).await;
    assert_eq!((status, answer["deliveries"].clone()), (200, json!(0)));
    let (status, patched) = admin_call(
        &server,
        "PATCH",
        "/v1/endpoints/loops-emails",
        Some(json!({"events": ["payment.succeeded", "payment.failed"]})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        patched["events"],
        json!(["payment.succeeded", "payment.failed"])
    );
    let (_, answer) = post_event(&server, "dodo", "msg_api_3", &sample("payment.failed")).await;
    assert_eq!(answer["deliveries"], 1, "the new filter routes at once");
    sink.wait_for(2, Duration::from_secs(30)).await;

    // A JavaScript transformation: a broken one is refused with its line,
    // a good one is saved, tested on the recorded event, and rolled back.
    let (status, broken) = admin_call(
        &server,
        "PUT",
        "/v1/endpoints/loops-emails/transformation",
        Some(json!({"code": "function handler(webhook) {\n  return webhook.;\n}"})),
    )
    .await;
    assert_eq!(status, 400, "{broken}");
    assert!(
        broken["error"].as_str().unwrap().contains("SyntaxError"),
        "{broken}"
    );
    let v1 = r#"function handler(webhook) {
  console.log("handling", webhook.eventType);
  webhook.payload = { email: webhook.payload.data.customer.email, eventName: "v1_" + webhook.eventType };
  return webhook;
}"#;
    let (status, saved) = admin_call(
        &server,
        "PUT",
        "/v1/endpoints/loops-emails/transformation",
        Some(json!({"code": v1})),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["version"], 1);
    let (status, tested) = admin_call(
        &server,
        "POST",
        "/v1/endpoints/loops-emails/test",
        Some(json!({"event_id": "msg_api_1"})),
    )
    .await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["outcome"], "deliver", "{tested}");
    assert_eq!(
        tested["request"]["body"]["eventName"],
        "v1_payment.succeeded"
    );
    assert_eq!(
        tested["request"]["headers"]["authorization"],
        "<set by host>"
    );
    assert!(
        tested["console"]
            .as_str()
            .unwrap()
            .contains("handling payment.succeeded"),
        "{tested}"
    );
    assert!(tested["stats"]["fuel"].as_u64().unwrap() > 0);
    // An unsaved edit, on a sample.
    let (_, unsaved) = admin_call(
        &server,
        "POST",
        "/v1/endpoints/loops-emails/test",
        Some(json!({"code": v1.replace("v1_", "draft_"), "event_type": "payment.failed"})),
    )
    .await;
    assert_eq!(
        unsaved["request"]["body"]["eventName"], "draft_payment.failed",
        "{unsaved}"
    );
    let (_, saved) = admin_call(
        &server,
        "PUT",
        "/v1/endpoints/loops-emails/transformation",
        Some(json!({"code": v1.replace("v1_", "v2_")})),
    )
    .await;
    assert_eq!(saved["version"], 2);
    let (_, versions) = admin_get(
        &server,
        "/v1/endpoints/loops-emails/transformation/versions",
    )
    .await;
    assert_eq!(versions["items"].as_array().unwrap().len(), 2);
    let (status, rolled) = admin_call(
        &server,
        "POST",
        "/v1/endpoints/loops-emails/transformation/rollback",
        Some(json!({"version": 1})),
    )
    .await;
    assert_eq!(status, 200, "{rolled}");
    let (_, current) = admin_get(&server, "/v1/endpoints/loops-emails/transformation").await;
    assert!(
        current["code"].as_str().unwrap().contains("v1_"),
        "{current}"
    );
    post_event(&server, "dodo", "msg_api_4", &sample("payment.succeeded")).await;
    let got = sink.wait_for(3, Duration::from_secs(30)).await;
    assert_eq!(got[2].json()["eventName"], "v1_payment.succeeded");
    let (_, event) = admin_get(&server, "/v1/events/msg_api_4").await;
    let made_by = event["deliveries"][0]["transformed_by"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(made_by.contains("transformation v3"), "{event}");

    // Everything is still there after a restart.
    assert!(server.terminate().success());
    server.spawn().await;
    let (_, endpoint) = admin_get(&server, "/v1/endpoints/loops-emails").await;
    assert_eq!(
        endpoint["events"],
        json!(["payment.succeeded", "payment.failed"]),
        "{endpoint}"
    );
    assert_eq!(endpoint["transformation"]["version"], 3);
    post_event(&server, "dodo", "msg_api_5", &sample("payment.succeeded")).await;
    let got = sink.wait_for(4, Duration::from_secs(30)).await;
    assert_eq!(got[3].json()["eventName"], "v1_payment.succeeded");

    // Every change is in the audit log, with no secret.
    let (_, audit) = admin_get(&server, "/v1/audit").await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    for action in [
        "source.create",
        "endpoint.create",
        "endpoint.update",
        "endpoint.transformation",
        "endpoint.rollback",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    assert!(!audit.to_string().contains(LOOPS_KEY));

    // Delete: pending deliveries end as cancelled, history stays.
    let (status, _) = admin_post(&server, "/v1/endpoints/loops-emails/disable", json!({})).await;
    assert_eq!(status, 200);
    post_event(&server, "dodo", "msg_api_6", &sample("payment.succeeded")).await;
    let (status, _) = admin_call(&server, "DELETE", "/v1/endpoints/loops-emails", None).await;
    assert_eq!(status, 204);
    let (_, event) = admin_get(&server, "/v1/events/msg_api_6").await;
    assert_eq!(event["deliveries"][0]["status"], "cancelled", "{event}");
    assert_eq!(event["deliveries"][0]["reason"], "the endpoint was deleted");
    let (_, event) = admin_get(&server, "/v1/events/msg_api_1").await;
    assert_eq!(event["deliveries"][0]["status"], "delivered");
    let (status, _) = admin_get(&server, "/v1/endpoints/loops-emails").await;
    assert_eq!(status, 404);

    // No secret in the data directory's bytes, nor in the logs.
    server.kill9();
    let data = server.dir.path().join("data");
    for secret in [LOOPS_KEY, DODO_SECRET] {
        assert!(
            !dir_contains(&data, secret.as_bytes()),
            "{secret} found in the data dir"
        );
        assert!(
            !server.logs().contains(secret),
            "{secret} found in the logs"
        );
    }
}

/// Whether any file under `dir` holds `needle`.
fn dir_contains(dir: &std::path::Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|e| {
        let path = e.path();
        if path.is_dir() {
            dir_contains(&path, needle)
        } else {
            std::fs::read(&path).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_reload_adds_an_endpoint_and_a_broken_file_changes_nothing() {
    let sink = Sink::ok().await;
    let mut server = Hookwasm::start(&sink_endpoint(&sink.url("/first"), "")).await;
    let (_, body) = fixture("payment.succeeded");
    let config = std::fs::read_to_string(server.config_path()).unwrap();

    // A broken file: nothing changes, and the error is shown.
    std::fs::write(
        server.config_path(),
        format!("{config}\n[[endpoints]]\nid = \"broken\"\n"),
    )
    .unwrap();
    let status = eventually(
        "the failed reload to show",
        Duration::from_secs(20),
        async || {
            let (_, status) = admin_get(&server, "/v1/config").await;
            status["last_error"].as_str().map(|_| status.clone())
        },
    )
    .await;
    assert!(
        status["last_error"]
            .as_str()
            .unwrap()
            .contains("missing field `source`"),
        "{status}"
    );
    let (_, list) = admin_get(&server, "/v1/endpoints").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // SIGHUP with a valid file that adds an endpoint, while events flow.
    let added = format!(
        "{config}\n[[endpoints]]\nid = \"second\"\nsource = \"dodo\"\nplugin = \"inngest\"\nevents = [\"*\"]\nurl = \"{}\"\n",
        sink.url("/second")
    );
    std::fs::write(server.config_path(), added).unwrap();
    let flow = {
        let url = server.url("/webhooks/dodo");
        let body = body.clone();
        tokio::spawn(async move {
            for n in 0..60 {
                let id = format!("msg_reload_{n}");
                let _ = post(&url, &signed_headers(&id, now_secs(), &body), body.clone()).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    server.hangup();
    eventually("the second endpoint", Duration::from_secs(20), async || {
        let (_, list) = admin_get(&server, "/v1/endpoints").await;
        (list["items"].as_array().unwrap().len() == 2).then_some(())
    })
    .await;
    flow.await.unwrap();
    // Every event reached the first endpoint; the second got those after it.
    eventually(
        "the first endpoint's 60",
        Duration::from_secs(30),
        async || {
            (sink
                .received()
                .iter()
                .filter(|r| r.path == "/first")
                .count()
                == 60)
                .then_some(())
        },
    )
    .await;
    let (_, status) = admin_get(&server, "/v1/config").await;
    assert!(status.get("last_error").is_none(), "{status}");
    // The config-managed endpoint is read-only over the API, but for
    // disable/enable.
    let (status, refused) = admin_call(
        &server,
        "PATCH",
        "/v1/endpoints/second",
        Some(json!({"events": ["x"]})),
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    let (status, _) = admin_post(&server, "/v1/endpoints/second/disable", json!({})).await;
    assert_eq!(status, 200);
    assert!(server.terminate().success());
}

#[tokio::test]
async fn the_admin_api_is_closed_to_web_pages() {
    let server = Hookwasm::start("").await;
    let url = server.admin_url("/v1/endpoints");
    let token = ("authorization".to_string(), format!("Bearer {ADMIN_TOKEN}"));

    // No token, a wrong one: 401, and the attempt is logged.
    let (status, _) = raw_request("GET", &url, &[], Vec::new()).await.unwrap();
    assert_eq!(status, 401);
    let wrong = ("authorization".to_string(), "Bearer nope".to_string());
    let (status, _) = raw_request("GET", &url, std::slice::from_ref(&wrong), Vec::new())
        .await
        .unwrap();
    assert_eq!(status, 401);
    // Failed attempts are rate-limited.
    let mut limited = false;
    for _ in 0..30 {
        let (status, _) = raw_request("GET", &url, std::slice::from_ref(&wrong), Vec::new())
            .await
            .unwrap();
        limited |= status == 429;
    }
    assert!(limited, "30 wrong tokens in a row were never rate-limited");

    // DNS rebinding: the right token but another Host.
    let rebound = ("host".to_string(), "evil.example:8081".to_string());
    let (status, answer) = raw_request("GET", &url, &[token.clone(), rebound], Vec::new())
        .await
        .unwrap();
    assert_eq!(status, 403, "{answer}");

    // A cross-origin page's "simple" POST: text/plain, no preflight.
    let plain = ("content-type".to_string(), "text/plain".to_string());
    let body = br#"{"source":"dodo","plugin":"inngest","events":["*"],"url":"https://attacker.example/x"}"#.to_vec();
    let (status, answer) = raw_request("POST", &url, &[token.clone(), plain], body.clone())
        .await
        .unwrap();
    assert_eq!(status, 415, "{answer}");
    let (_, list) = admin_get(&server, "/v1/endpoints").await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        0,
        "nothing was created"
    );
    // Unknown routes are 404, a known one with another method 405.
    let (status, _) = admin_get(&server, "/v1/nope").await;
    assert_eq!(status, 404);
    assert!(server.logs().contains("missing or wrong bearer token"));
}

#[tokio::test]
async fn a_server_with_no_configured_token_generates_one_and_requires_it() {
    let mut server = Hookwasm::start("").await;
    // Drop the token from the config and restart.
    let config = std::fs::read_to_string(server.config_path()).unwrap();
    std::fs::write(
        server.config_path(),
        config.replace("token = \"test-admin-token-0123456789\"", ""),
    )
    .unwrap();
    server.terminate();
    server.spawn_unready();
    let token_file = server.dir.path().join("data/admin.token");
    let token = eventually("the generated token", Duration::from_secs(30), async || {
        std::fs::read_to_string(&token_file)
            .ok()
            .filter(|t| t.len() >= 16)
    })
    .await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let url = server.admin_url("/v1/endpoints");
    // The token file is written before the listener is up: wait for it.
    let status = eventually("the admin listener", Duration::from_secs(30), async || {
        get(&url, None).await.ok().map(|(status, _)| status)
    })
    .await;
    assert_eq!(status, 401, "no token, even on loopback");
    eventually(
        "the admin API with the generated token",
        Duration::from_secs(30),
        async || {
            let (status, _) = get(&url, Some(token.trim())).await.ok()?;
            (status == 200).then_some(())
        },
    )
    .await;
    assert!(
        server.logs().contains("admin.token"),
        "the log says where the token is"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let server = Hookwasm::start("").await;
    let (status, doc) = admin_get(&server, "/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    for path in [
        "/v1/sources",
        "/v1/sources/{id}/rotate",
        "/v1/endpoints",
        "/v1/endpoints/{id}",
        "/v1/endpoints/{id}/test",
        "/v1/endpoints/{id}/transformation",
        "/v1/endpoints/{id}/transformation/rollback",
        "/v1/endpoints/{id}/send-sample",
        "/v1/events/{id}",
        "/v1/deliveries/{id}/replay",
        "/v1/samples",
        "/v1/audit",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} is not in the document"
        );
    }
    assert!(doc["components"]["schemas"].get("EndpointSpec").is_some());
    // A real validator, where one is installed (.ci/run installs it).
    let file = server.dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    match openapi_validator() {
        Some(python) => {
            let out = std::process::Command::new(python)
                .args(["-c", "import sys, json; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1]))); print('valid')"])
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openapi-spec-validator refused the document:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        None => {
            assert!(
                std::env::var("HOOKWASM_TEST_OPENAPI").as_deref() != Ok("required"),
                "openapi-spec-validator is not installed (pip install openapi-spec-validator)"
            );
            eprintln!(
                "skipping the OpenAPI validator: `python3 -c 'import openapi_spec_validator'` fails (pip install openapi-spec-validator)"
            );
        }
    }
}

/// A Python with `openapi_spec_validator`, if there is one.
fn openapi_validator() -> Option<&'static str> {
    ["python3", "python"].into_iter().find(|python| {
        std::process::Command::new(python)
            .args(["-c", "import openapi_spec_validator"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Endpoints created and deleted while ~200 events a second flow: every
/// acknowledged event reaches the endpoint that was there all along, an
/// added endpoint only ever gets the types it asked for, and a deleted one's
/// deliveries end delivered or cancelled — none lost, none misrouted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_come_and_go_while_events_flow_and_nothing_is_lost_or_misrouted() {
    let sink = Sink::ok().await;
    let server = Hookwasm::start(&sink_endpoint(&sink.url("/steady"), "")).await;
    let ingest = server.url("/webhooks/dodo");
    let flow = tokio::spawn(async move {
        let mut acked = Vec::new();
        for n in 0..1500usize {
            let kind = if n % 2 == 0 {
                "payment.succeeded"
            } else {
                "refund.succeeded"
            };
            let body = serde_json::to_vec(&json!({"type": kind, "business_id": "bus_1", "timestamp": "2025-01-15T23:30:12Z", "data": {"n": n}})).unwrap();
            let id = format!("msg_flow_{n}");
            if let Ok((200, _)) = post(&ingest, &signed_headers(&id, now_secs(), &body), body).await
            {
                acked.push((id, kind));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        acked
    });
    let mut churn = 0;
    while !flow.is_finished() {
        let id = format!("churn-{churn}");
        let (status, created) = admin_call(
            &server,
            "POST",
            "/v1/endpoints",
            Some(json!({
                "id": id,
                "source": "dodo",
                "plugin": "inngest",
                "events": ["refund.*"],
                "url": sink.url(&format!("/churn/{churn}")),
            })),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        tokio::time::sleep(Duration::from_millis(400)).await;
        let (status, _) = admin_call(&server, "DELETE", &format!("/v1/endpoints/{id}"), None).await;
        assert_eq!(status, 204);
        churn += 1;
    }
    let acked = flow.await.unwrap();
    assert!(churn >= 3, "only {churn} endpoints came and went");

    // The steady endpoint got every acknowledged event.
    let steady = eventually(
        "every event at the steady endpoint",
        Duration::from_secs(60),
        async || {
            let got: std::collections::HashSet<String> = sink
                .received()
                .iter()
                .filter(|r| r.path == "/steady")
                .filter_map(|r| {
                    r.json()["id"]
                        .as_str()
                        .map(|k| k.trim_start_matches("sink:").to_string())
                })
                .collect();
            (got.len() >= acked.len()).then_some(got)
        },
    )
    .await;
    for (id, _) in &acked {
        assert!(
            steady.contains(id),
            "{id} never reached the steady endpoint"
        );
    }
    // The churned endpoints only ever got refunds.
    for r in sink
        .received()
        .iter()
        .filter(|r| r.path.starts_with("/churn/"))
    {
        assert_eq!(
            r.json()["name"],
            "refund.succeeded",
            "misrouted: {:?}",
            r.json()
        );
    }
    // And every delivery to one ended delivered or cancelled (late ones,
    // routed with the snapshot from before a delete, a little later).
    eventually(
        "every churned delivery ended",
        Duration::from_secs(60),
        async || {
            for (id, _) in acked.iter().filter(|(_, k)| *k == "refund.succeeded") {
                let (_, event) = admin_get(&server, &format!("/v1/events/{id}")).await;
                for d in event["deliveries"].as_array().unwrap() {
                    if d["endpoint"].as_str().unwrap().starts_with("churn-") {
                        let status = d["status"].as_str().unwrap();
                        if status != "delivered" && status != "cancelled" {
                            return None;
                        }
                    }
                }
            }
            Some(())
        },
    )
    .await;
}
