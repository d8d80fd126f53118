//! Signed webhooks out: the `webhook` plugin forwards the payload byte for
//! byte and the host signs it the Standard Webhooks way with the endpoint's
//! `signing_secret` (and, during a rotation, the previous one too). Checked
//! with an HMAC computed here from the spec's definition, and with the
//! `standardwebhooks` package from PyPI (an independent implementation)
//! where it is installed — `.ci/run` installs it and sets
//! `HOOKWASM_TEST_STANDARDWEBHOOKS=required`.

use std::time::Duration;

use base64::Engine as _;
use hmac::Mac as _;
use serde_json::{Value, json};

use super::support::{Hookwasm, Received, Sink, admin_get, admin_post, fixture};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OLD_SECRET: &str = "whsec_c2VjcmV0LWZyb20tbGFzdC15ZWFyLTEyMzQ=";

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, as the spec
/// defines it (not through hookwasm's own signing code).
fn expected_signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// The request's signature checked by the `standardwebhooks` package; `None`
/// where Python or the package is missing (unless required).
fn python_verifies(secret: &str, r: &Received) -> Option<bool> {
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
secret, headers = sys.argv[1], json.loads(sys.argv[2])
try:
    Webhook(secret).verify(sys.stdin.buffer.read(), headers)
    print("ok")
except Exception as e:
    print("refused:", e)
"#;
    let headers = json!({
        "webhook-id": r.headers.get("webhook-id"),
        "webhook-timestamp": r.headers.get("webhook-timestamp"),
        "webhook-signature": r.headers.get("webhook-signature"),
    });
    let run = std::process::Command::new("python3")
        .args(["-c", script, secret, &headers.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(&r.body)?;
            child.wait_with_output()
        });
    let required = std::env::var("HOOKWASM_TEST_STANDARDWEBHOOKS").as_deref() == Ok("required");
    match run {
        Ok(out)
            if String::from_utf8_lossy(&out.stderr).contains("No module named")
                || !out.status.success() =>
        {
            let why = String::from_utf8_lossy(&out.stderr).to_string();
            assert!(
                !required,
                "the standardwebhooks package is required here: {why}"
            );
            eprintln!("skipped the standardwebhooks check: {why}");
            None
        }
        Ok(out) => {
            let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
            Some(said == "ok")
        }
        Err(e) => {
            assert!(!required, "python3 is required here: {e}");
            eprintln!("skipped the standardwebhooks check: no python3 ({e})");
            None
        }
    }
}

fn signatures(r: &Received) -> Vec<String> {
    r.headers["webhook-signature"]
        .split(' ')
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn the_webhook_plugin_forwards_byte_for_byte_signed_with_current_and_previous_secrets() {
    let sink = Sink::ok().await;
    let config = format!(
        r#"
[[endpoints]]
id = "orders"
source = "dodo"
plugin = "webhook"
events = ["payment.*"]
url = "{}"
signing_secret = "{SECRET}"
previous_signing_secrets = ["{OLD_SECRET}"]
"#,
        sink.url("/hooks")
    );
    let server = Hookwasm::start(&config).await;
    let (webhook_id, body) = fixture("payment.succeeded");
    let (status, _) = server.post_signed("dodo", &webhook_id, &body).await;
    assert_eq!(status, 200);
    let got = sink.wait_for(1, Duration::from_secs(60)).await;
    let r = &got[0];
    assert_eq!(r.body, body, "the payload is forwarded unchanged");
    assert_eq!(r.headers["webhook-id"], webhook_id);
    let ts = r.headers["webhook-timestamp"].clone();
    let now = super::support::now_secs();
    assert!((ts.parse::<i64>().unwrap() - now).abs() < 120, "{ts}");
    assert_eq!(
        signatures(r),
        vec![
            expected_signature(SECRET, &webhook_id, &ts, &body),
            expected_signature(OLD_SECRET, &webhook_id, &ts, &body),
        ]
    );
    for secret in [SECRET, OLD_SECRET] {
        if let Some(ok) = python_verifies(secret, r) {
            assert!(ok, "standardwebhooks refused the signature for {secret}");
        }
    }
    // And refuses it with another secret: the check can fail.
    if let Some(ok) = python_verifies("whsec_bm90LXRoZS1yaWdodC1zZWNyZXQtYXQtYWxs", r) {
        assert!(!ok);
    }
}

#[tokio::test]
async fn a_webhook_endpoint_without_a_secret_is_refused_in_the_file() {
    let (code, _, stderr) = super::support::config_check(
        r#"
[sources.dodo]
secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]

[[endpoints]]
id = "orders"
source = "dodo"
plugin = "webhook"
events = ["*"]
url = "https://orders.example.com/hooks"
"#,
        &[],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("endpoints[0].signing_secret") && stderr.contains("signs every request"),
        "{stderr}"
    );
}

#[tokio::test]
async fn over_the_api_a_secret_is_generated_shown_once_and_rotated_with_overlap() {
    let sink = Sink::ok().await;
    let server = Hookwasm::start("").await;
    let (status, created) = admin_post(
        &server,
        "/v1/endpoints",
        json!({
            "id": "orders",
            "source": "dodo",
            "plugin": "webhook",
            "events": ["*"],
            "url": sink.url("/hooks"),
        }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let first = created["new_signing_secret"].as_str().unwrap().to_string();
    assert!(first.starts_with("whsec_"), "{first}");
    assert_eq!(created["signing_secret"]["set"], true);
    let (_, shown) = admin_get(&server, "/v1/endpoints/orders").await;
    assert!(shown.get("new_signing_secret").is_none(), "{shown}");
    assert!(
        !shown.to_string().contains(&first),
        "the secret is shown once: {shown}"
    );

    let (webhook_id, body) = fixture("payment.succeeded");
    assert_eq!(server.post_signed("dodo", &webhook_id, &body).await.0, 200);
    let got = sink.wait_for(1, Duration::from_secs(60)).await;
    let ts = got[0].headers["webhook-timestamp"].clone();
    assert_eq!(
        signatures(&got[0]),
        vec![expected_signature(&first, &webhook_id, &ts, &body)]
    );

    let (status, rotated) = admin_post(
        &server,
        "/v1/endpoints/orders/signing-secret/rotate",
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let second = rotated["new_signing_secret"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    assert_eq!(rotated["previous_signing_secrets"], 1);

    let (webhook_id, body) = fixture("payment.failed");
    assert_eq!(server.post_signed("dodo", &webhook_id, &body).await.0, 200);
    let got = sink.wait_for(2, Duration::from_secs(60)).await;
    let r = got
        .iter()
        .find(|r| r.headers["webhook-id"] == webhook_id)
        .unwrap();
    let ts = r.headers["webhook-timestamp"].clone();
    assert_eq!(
        signatures(r),
        vec![
            expected_signature(&second, &webhook_id, &ts, &body),
            expected_signature(&first, &webhook_id, &ts, &body),
        ]
    );
    if let Some(ok) = python_verifies(&second, r) {
        assert!(ok);
    }

    // A given secret is taken as is and not echoed back.
    let (status, given) = admin_post(
        &server,
        "/v1/endpoints/orders/signing-secret/rotate",
        json!({ "secret": "whsec_bXktb3duLXNlY3JldC1mb3ItdGhlLXJlY2VpdmVy" }),
    )
    .await;
    assert_eq!(status, 200, "{given}");
    assert!(given.get("new_signing_secret").is_none(), "{given}");
    let (status, bad): (u16, Value) = admin_post(
        &server,
        "/v1/endpoints/orders/signing-secret/rotate",
        json!({ "secret": "not base64 !!" }),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    assert!(
        bad["error"]
            .as_str()
            .unwrap_or_default()
            .contains("signing_secret"),
        "{bad}"
    );
}
