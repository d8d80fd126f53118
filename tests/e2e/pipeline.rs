//! Every fixture event flows through the real binary to sinks standing in
//! for the four destinations; each request received equals the expected one
//! plus the host's auth and user-agent headers.

use std::time::Duration;

use serde_json::Value;

use super::support::*;

struct Destination {
    plugin: &'static str,
    /// The endpoint's configured URL path on the sink (None: plugin default
    /// origin replaced by the sink's).
    path: &'static str,
    auth: &'static str,
    /// The header the sink must see for that auth.
    auth_header: Option<&'static str>,
}

const DESTINATIONS: &[Destination] = &[
    Destination {
        plugin: "loops",
        path: "/api/v1/events/send",
        auth: r#"auth = { bearer = "loops-key" }"#,
        auth_header: Some("Bearer loops-key"),
    },
    Destination {
        plugin: "customerio",
        path: "/",
        auth: r#"auth = { basic = { username = "site", password = "key" } }"#,
        auth_header: Some("Basic c2l0ZTprZXk="),
    },
    Destination {
        plugin: "windmill",
        path: "/api/w/acme/jobs/run/f/f/billing/dodo_payment_events",
        auth: r#"auth = { bearer = "wm-token" }"#,
        auth_header: Some("Bearer wm-token"),
    },
    Destination {
        plugin: "inngest",
        path: "/e/EXAMPLE_EVENT_KEY",
        auth: "",
        auth_header: None,
    },
];

fn expected(plugin: &str, event: &str) -> Value {
    let path = fixtures().join(format!("expected/{plugin}.{event}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Path and query of an absolute URL.
fn path_of(url: &str) -> String {
    let after_scheme = url.split_once("://").map(|(_, rest)| rest).unwrap_or(url);
    match after_scheme.find('/') {
        Some(i) => after_scheme[i..].to_string(),
        None => "/".to_string(),
    }
}

async fn run(dest: &Destination) {
    let sink = Sink::ok().await;
    let settings = expected(dest.plugin, "payment.succeeded")["settings"].clone();
    let settings: Vec<String> = settings
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    let config = format!(
        r#"
[[endpoints]]
id = "test"
source = "dodo"
plugin = "{plugin}"
events = ["*"]
url = "{url}"
{auth}
settings = {{ {settings} }}
"#,
        plugin = dest.plugin,
        url = sink.url(dest.path),
        auth = dest.auth,
        settings = settings.join(", "),
    );
    let server = Hookwasm::start(&config).await;

    let mut want_deliveries = 0;
    for event in FIXTURES {
        let (id, body) = fixture(event);
        let (status, answer) = server.post_signed("dodo", &id, &body).await;
        assert_eq!(status, 200, "{}: {event}: {answer}", dest.plugin);
        if expected(dest.plugin, event)["expect"]["outcome"] == "deliver" {
            want_deliveries += 1;
        }
    }
    let received = sink
        .wait_for(want_deliveries, Duration::from_secs(30))
        .await;

    for event in FIXTURES {
        let spec = expected(dest.plugin, event);
        let (id, _) = fixture(event);
        let (_, detail) = admin_get(&server, &format!("/v1/events/{id}")).await;
        let delivery = &detail["deliveries"][0];
        if spec["expect"]["outcome"] == "skip" {
            assert_eq!(
                delivery["status"], "skipped",
                "{}: {event}: {detail}",
                dest.plugin
            );
            continue;
        }
        let want = &spec["expect"]["request"];
        let want_path = path_of(want["url"].as_str().unwrap());
        let got = received
            .iter()
            .find(|r| r.path == want_path && r.json() == want["body"])
            .unwrap_or_else(|| {
                panic!(
                    "{}: {event}: no request to {want_path} with the expected body",
                    dest.plugin
                )
            });
        assert_eq!(got.method, want["method"], "{}: {event}", dest.plugin);
        for (name, value) in want["headers"].as_object().unwrap() {
            assert_eq!(
                got.headers.get(name),
                Some(&value.as_str().unwrap().to_string()),
                "{}: {event}: {name}",
                dest.plugin
            );
        }
        assert_eq!(
            got.headers.get("authorization").map(String::as_str),
            dest.auth_header,
            "{}",
            dest.plugin
        );
        assert!(got.headers["user-agent"].starts_with("hookwasm/"));
        let allowed = ["host", "content-length", "user-agent", "authorization"];
        for name in got.headers.keys() {
            assert!(
                allowed.contains(&name.as_str()) || want["headers"].get(name).is_some(),
                "{}: unexpected header {name}",
                dest.plugin
            );
        }
        assert_eq!(
            delivery["status"], "delivered",
            "{}: {event}: {detail}",
            dest.plugin
        );
        assert_eq!(delivery["attempt_count"], 1);
    }
    // Nothing more than expected arrived.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.count(), want_deliveries, "{}", dest.plugin);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_reaches_each_destination_as_expected() {
    // Four servers at once, one per destination (each endpoint is "test",
    // the id the expected delivery keys were computed with).
    let mut runs = tokio::task::JoinSet::new();
    for dest in DESTINATIONS {
        runs.spawn(run(dest));
    }
    while let Some(done) = runs.join_next().await {
        done.expect("a destination's run failed");
    }
}
