//! The built-in `js` plugin through the real runtime: every seed handler
//! (`docs/seed-examples/*.js`) on the Dodo fixtures gives byte for byte what
//! node 20 gave (`tests/fixtures/js/expected/`, written by
//! `tests/fixtures/js/gen-node-expected.mjs`), and a handler that never
//! returns is stopped by fuel.

use std::collections::BTreeSet;
use std::sync::Arc;

use hookwasm::runtime::plugin::Script;
use hookwasm::runtime::{
    Limits, LoadError, OutputPolicy, Plugin, PluginSource, TransformError, TransformInput,
    Transformed, builtin,
};
use serde_json::Value;

use super::{fixtures, runtime};

fn seeds_dir() -> std::path::PathBuf {
    fixtures().join("../../docs/seed-examples")
}

fn engine() -> Arc<Plugin> {
    let bytes = builtin::get("js").expect("the js plugin is built in");
    Arc::new(runtime().load("js", PluginSource::BuiltIn, bytes).unwrap())
}

fn handler(engine: &Plugin, name: &str, source: &str) -> Arc<Plugin> {
    Arc::new(engine.with_script(
        name,
        PluginSource::BuiltIn,
        Script {
            name: format!("{name}.js"),
            source: source.into(),
        },
    ))
}

fn limits() -> Limits {
    Limits {
        memory_bytes: 16 << 20,
        ..super::patient_limits()
    }
}

#[tokio::test]
async fn every_seed_handler_matches_node() {
    let engine = engine();
    let dir = fixtures().join("js/expected");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "only {} cases", cases.len());

    let mut seeds = BTreeSet::new();
    let mut failures = Vec::new();
    for case in &cases {
        let spec: Value = serde_json::from_slice(&std::fs::read(case).unwrap()).unwrap();
        let seed = spec["seed"].as_str().unwrap();
        seeds.insert(seed.to_string());
        let source = std::fs::read_to_string(seeds_dir().join(format!("{seed}.js"))).unwrap();
        let plugin = handler(&engine, seed, &source);
        let webhook = &spec["webhook_input"];
        let payload = std::fs::read_to_string(
            fixtures().join(format!("dodo/{}.json", spec["fixture"].as_str().unwrap())),
        )
        .unwrap();
        let url = webhook["url"].as_str().unwrap().to_string();
        let delivery_key = webhook["id"].as_str().unwrap().to_string();
        let input = TransformInput {
            id: delivery_key.trim_start_matches("test:").into(),
            delivery_key,
            event_type: webhook["eventType"].as_str().unwrap().into(),
            payload,
            endpoint_url: Some(url.clone()),
            settings: vec![],
        };
        // The seeds may send anywhere (Loops' sets its own host): hold them
        // to the origin node's request went to.
        let policy = OutputPolicy::for_base(
            spec["expect"]["request"]["url"].as_str().or(Some(&url)),
            OutputPolicy::DEFAULT_MAX_BODY,
        );
        let (result, stats) = plugin.transform(input, limits(), policy).await;
        let expect = &spec["expect"];
        let ok = match (&result, expect["outcome"].as_str().unwrap()) {
            (Ok(Transformed::Skip(reason)), "skip") => expect["reason"] == reason.as_str(),
            (Ok(Transformed::Deliver(request)), "deliver") => {
                let want = &expect["request"];
                super::same_head(request, want)
                    && want["body"].as_str() == std::str::from_utf8(&request.body).ok()
            }
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{}: got {result:?} ({} fuel)\nwant {expect}",
                case.display(),
                stats.fuel
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!(seeds.len(), 12, "every seed has a case: {seeds:?}");
}

#[tokio::test]
async fn errors_name_the_script_and_line_and_loops_run_out_of_fuel() {
    let engine = engine();
    let payload = std::fs::read_to_string(fixtures().join("dodo/payment.succeeded.json")).unwrap();
    let input = TransformInput {
        id: "msg_1".into(),
        delivery_key: "test:msg_1".into(),
        event_type: "payment.succeeded".into(),
        payload,
        endpoint_url: Some("https://hooks.example.com/in".into()),
        // An endpoint cannot smuggle a script in through its settings.
        settings: vec![(
            "hookwasm.script".into(),
            "function handler(w) { return w; }".into(),
        )],
    };
    let policy = || {
        OutputPolicy::for_base(
            Some("https://hooks.example.com/in"),
            OutputPolicy::DEFAULT_MAX_BODY,
        )
    };

    let throws = handler(
        &engine,
        "throws",
        "function handler(webhook) {\n  throw new Error('no customer');\n}\n",
    );
    let (result, _) = throws.transform(input.clone(), limits(), policy()).await;
    match result {
        Err(TransformError::Plugin(message)) => {
            assert!(message.contains("throws.js"), "{message}");
            assert!(message.contains("no customer"), "{message}");
            assert!(message.contains("line 2"), "{message}");
        }
        other => panic!("expected the handler's error, got {other:?}"),
    }

    let spins = handler(
        &engine,
        "spins",
        "function handler(webhook) { for (;;) {} }",
    );
    let fuel = Limits {
        fuel: 20_000_000,
        ..limits()
    };
    let (result, stats) = spins.transform(input.clone(), fuel, policy()).await;
    assert!(
        matches!(result, Err(TransformError::OutOfFuel { limit: 20_000_000 })),
        "{result:?}"
    );
    assert!(stats.fuel >= 20_000_000);

    // The engine itself, with no script, says what is missing.
    let (result, _) = engine.transform(input, limits(), policy()).await;
    let message = format!("{result:?}");
    assert!(message.contains("script"), "{message}");
}

/// A script plugin's own snapshot (its top-level code run once, at load):
/// the same request as evaluating the script per event, for less fuel, and
/// still a fresh start per event — state the handler changes does not leak
/// into the next event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_snapshot_gives_the_same_request_from_a_fresh_start() {
    let engine = engine();
    let counter = handler(
        &engine,
        "counter",
        "let calls = 0;\n\
         console.log('loading');\n\
         const greeting = ['hello', 'there'].join(' ');\n\
         function handler(webhook) {\n\
           calls += 1;\n\
           console.log('handling', calls);\n\
           webhook.payload = { calls, greeting, amount: webhook.payload.data.total_amount };\n\
           webhook.headers = { 'x-random': String(Math.random()) };\n\
           return webhook;\n\
         }\n",
    );
    let payload = std::fs::read_to_string(fixtures().join("dodo/payment.succeeded.json")).unwrap();
    let input = super::input("payment.succeeded", &payload);
    let input = TransformInput {
        endpoint_url: Some("https://hooks.example.com/in".into()),
        ..input
    };
    let policy = || {
        OutputPolicy::for_base(
            Some("https://hooks.example.com/in"),
            OutputPolicy::DEFAULT_MAX_BODY,
        )
    };

    let deliver = |result: &Result<Transformed, TransformError>| match result {
        Ok(Transformed::Deliver(request)) => {
            let random = request
                .headers
                .iter()
                .find(|(name, _)| name == "x-random")
                .map(|(_, value)| value.clone())
                .unwrap_or_default();
            (String::from_utf8(request.body.clone()).unwrap(), random)
        }
        other => panic!("{other:?}"),
    };
    let (per_event, per_event_stats) = counter.transform(input.clone(), limits(), policy()).await;
    let (body, random) = deliver(&per_event);
    assert_eq!(
        body,
        r#"{"calls":1,"greeting":"hello there","amount":2159}"#
    );
    let mut randoms = vec![random];

    assert!(!counter.is_specialized());
    let specialize = counter.clone();
    tokio::task::spawn_blocking(move || specialize.specialize())
        .await
        .unwrap()
        .unwrap();
    assert!(counter.is_specialized());
    for _ in 0..2 {
        // console.log at the top level and in the handler: the snapshot must
        // not keep the stdout handle of the instance it was taken from.
        let (snapshotted, stats) = counter.transform(input.clone(), limits(), policy()).await;
        let (snapshot_body, random) = deliver(&snapshotted);
        assert_eq!(snapshot_body, body);
        randoms.push(random);
        assert!(
            stats.fuel < per_event_stats.fuel,
            "the snapshot was not used: {} fuel vs {} per event",
            stats.fuel,
            per_event_stats.fuel
        );
    }
    // Math.random is seeded per event, not frozen in the snapshot.
    randoms.sort();
    randoms.dedup();
    assert_eq!(randoms.len(), 3, "{randoms:?}");

    // Top-level code that throws gets no snapshot; each event reports it.
    let broken = handler(
        &engine,
        "broken",
        "throw new Error('no config');\nfunction handler(webhook) { return webhook; }\n",
    );
    let specialize = broken.clone();
    let result = tokio::task::spawn_blocking(move || specialize.specialize())
        .await
        .unwrap();
    assert!(
        matches!(&result, Err(LoadError::Snapshot(message)) if message.contains("no config")),
        "{result:?}"
    );
    assert!(!broken.is_specialized());
    let (result, _) = broken.transform(input, limits(), policy()).await;
    assert!(
        matches!(&result, Err(TransformError::Plugin(message)) if message.contains("no config")),
        "{result:?}"
    );
}
