//! The seed handlers (`docs/seed-examples/*.js`) on the Dodo fixtures must
//! give exactly what node gave: the cases in `tests/fixtures/js/expected/`
//! were written by `tests/fixtures/js/gen-node-expected.mjs` under node 20.

use hookwasm_sdk::{Event, Outcome, Value, call};

use super::{FIXTURES, SEEDS, fixture, with_script};
use crate::Js;

/// One expected file: its name, and the outcome it holds.
fn cases() -> Vec<(String, Value)> {
    let dir = format!("{FIXTURES}/js/expected");
    let mut cases: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {dir}: {e}"))
        .map(|entry| {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, serde_json::from_str(&text).unwrap())
        })
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    cases
}

#[test]
fn every_seed_runs_byte_identically_to_node() {
    let cases = cases();
    // 12 seeds, the multi-type ones on each type, plus pass-throughs.
    assert!(
        cases.len() >= 20,
        "only {} cases: run gen-node-expected.mjs",
        cases.len()
    );
    let mut seeds_seen = std::collections::BTreeSet::new();
    for (name, case) in &cases {
        let seed = case["seed"].as_str().unwrap();
        let fixture_name = case["fixture"].as_str().unwrap();
        let input = &case["webhook_input"];
        seeds_seen.insert(seed.to_owned());

        let source = std::fs::read_to_string(format!("{SEEDS}/{seed}.js")).unwrap();
        let endpoint_id = "test";
        let webhook_id = input["id"].as_str().unwrap().strip_prefix("test:").unwrap();
        let event = Event::from_payload(endpoint_id, webhook_id, fixture(fixture_name))
            .with_endpoint_url(input["url"].as_str().unwrap());
        assert_eq!(event.delivery_key, input["id"], "{name}: id");
        assert_eq!(event.event_type, input["eventType"], "{name}: eventType");
        let outcome = call::<Js>(&with_script(event, &format!("{seed}.js"), &source));

        let expect = &case["expect"];
        match (expect["outcome"].as_str(), outcome) {
            (Some("deliver"), Ok(Outcome::Deliver(request))) => {
                let want = &expect["request"];
                assert_eq!(request.method, want["method"], "{name}: method");
                assert_eq!(request.url, want["url"], "{name}: url");
                let headers: Vec<(&str, &str)> = request
                    .headers
                    .iter()
                    .map(|h| (h.name.as_str(), h.value.as_str()))
                    .collect();
                let want_headers: Vec<(&str, &str)> = want["headers"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
                    .collect();
                assert_eq!(headers, want_headers, "{name}: headers");
                let body = String::from_utf8(request.body).unwrap();
                assert_eq!(body, want["body"].as_str().unwrap(), "{name}: body");
            }
            (Some("skip"), Ok(Outcome::Skip(reason))) => {
                assert_eq!(reason, expect["reason"], "{name}: skip reason");
            }
            (kind, outcome) => panic!("{name}: node gave {kind:?}, the plugin {outcome:?}"),
        }
    }
    assert_eq!(
        seeds_seen.len(),
        12,
        "every seed has a case: {seeds_seen:?}"
    );
}
