//! JavaScript handlers through the real binary: a `.js` file dropped in the
//! plugins directory is a plugin (and editing it reloads it), and an
//! endpoint can name a seed handler with `plugin = "js"` + `script`.

use std::time::Duration;

use serde_json::Value;

use super::support::*;

const NOTIFY_V1: &str = r#"
function handler(webhook) {
  const p = webhook.payload.data;
  webhook.payload = { text: `v1 ${webhook.eventType} ${p.payment_id} ${p.customer.email}` };
  webhook.headers = { "x-handler": webhook.settings.channel };
  return webhook;
}
"#;

const NOTIFY_V2: &str = r#"
function handler(webhook) {
  webhook.payload = { text: `v2 ${webhook.eventType}` };
  return webhook;
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_files_and_endpoint_scripts_deliver_and_reload() {
    let sink = Sink::ok().await;
    let config = format!(
        r#"
[[endpoints]]
id = "notify"
source = "dodo"
plugin = "notify"
events = ["payment.succeeded"]
url = "{notify}"
settings = {{ channel = "billing" }}

[[endpoints]]
id = "windmill"
source = "dodo"
plugin = "js"
script = "transforms/windmill.js"
events = ["payment.succeeded"]
url = "{windmill}"
"#,
        notify = sink.url("/notify"),
        windmill = sink.url("/windmill"),
    );
    let seed = std::fs::read_to_string(
        fixtures().join("../../docs/seed-examples/windmill.basic_workflow.js"),
    )
    .unwrap();
    let server = Hookwasm::start_with(&config, |plugins| {
        std::fs::write(plugins.join("notify.js"), NOTIFY_V1).unwrap();
        let transforms = plugins.parent().unwrap().join("transforms");
        std::fs::create_dir_all(&transforms).unwrap();
        std::fs::write(transforms.join("windmill.js"), &seed).unwrap();
    })
    .await;

    let (id, body) = fixture("payment.succeeded");
    let (status, answer) = server.post_signed("dodo", &id, &body).await;
    assert_eq!(status, 200, "{answer}");
    let received = sink.wait_for(2, Duration::from_secs(30)).await;

    let notify = received
        .iter()
        .find(|r| r.path == "/notify")
        .expect("notify delivery");
    assert_eq!(
        notify.json()["text"],
        "v1 payment.succeeded pay_7Rb2Xk9LqT4mWz8NcV1eP jane.doe@example.com"
    );
    assert_eq!(
        notify.headers.get("x-handler").map(String::as_str),
        Some("billing")
    );

    let windmill = received
        .iter()
        .find(|r| r.path == "/windmill")
        .expect("windmill delivery");
    let case: Value = serde_json::from_slice(
        &std::fs::read(
            fixtures().join("js/expected/windmill.basic_workflow.payment.succeeded.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let want: Value =
        serde_json::from_str(case["expect"]["request"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(windmill.json(), want);

    // The plugin list shows the file as a plugin.
    let (_, plugins) = admin_get(&server, "/v1/plugins").await;
    let listed = plugins.to_string();
    assert!(listed.contains("notify.js"), "{listed}");

    // In the background the handler gets its own snapshot (its top-level
    // code run, the handler compiled); events then run on it, same output.
    eventually(
        "notify.js's snapshot to be ready",
        Duration::from_secs(120),
        async || {
            let (_, plugins) = admin_get(&server, "/v1/plugins").await;
            let notify = plugins["items"]
                .as_array()?
                .iter()
                .find(|p| p["name"] == "notify")?
                .clone();
            let snapshot = notify["snapshot"].as_str()?.to_string();
            assert!(!snapshot.starts_with("none"), "{notify}");
            (snapshot == "ready").then_some(())
        },
    )
    .await;
    let (status, answer) = server.post_signed("dodo", "msg_snapshot", &body).await;
    assert_eq!(status, 200, "{answer}");
    let received = sink.wait_for(4, Duration::from_secs(30)).await;
    let texts: Vec<Value> = received
        .iter()
        .filter(|r| r.path == "/notify")
        .map(|r| r.json()["text"].clone())
        .collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert_eq!(texts[0], texts[1]);

    // Editing the file reloads the plugin: the next event uses the new code.
    let plugins_dir = server.dir.path().join("plugins");
    std::fs::write(plugins_dir.join("notify.js"), NOTIFY_V2).unwrap();
    let mut n = 0;
    eventually(
        "the edited handler to be used",
        Duration::from_secs(30),
        async || {
            n += 1;
            let (status, _) = server
                .post_signed("dodo", &format!("msg_reload_{n}"), &body)
                .await;
            assert_eq!(status, 200);
            tokio::time::sleep(Duration::from_millis(200)).await;
            sink.received()
                .iter()
                .any(|r| r.path == "/notify" && r.json()["text"] == "v2 payment.succeeded")
                .then_some(())
        },
    )
    .await;
}
