//! Every built-in connector, through the real runtime, against every
//! expected result in `tests/fixtures/expected/` (six fixtures each).

use std::collections::HashMap;
use std::sync::Arc;

use hookwasm::runtime::{OutputPolicy, Plugin, PluginSource, TransformInput, Transformed, builtin};
use serde_json::Value;

use super::{fixtures, runtime};

#[tokio::test]
async fn every_expected_case_matches() {
    let runtime = runtime();
    let mut plugins: HashMap<String, Arc<Plugin>> = HashMap::new();
    let mut cases: Vec<_> = std::fs::read_dir(fixtures().join("expected"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    let connectors = builtin::BUILTINS.iter().filter(|(n, _)| *n != "js").count();
    assert_eq!(
        cases.len(),
        connectors * 6,
        "6 fixtures per built-in connector"
    );

    let mut failures = Vec::new();
    for case in &cases {
        let spec: Value = serde_json::from_slice(&std::fs::read(case).unwrap()).unwrap();
        let name = spec["plugin"].as_str().unwrap().to_string();
        let plugin = plugins
            .entry(name.clone())
            .or_insert_with(|| {
                let bytes = builtin::get(&name).unwrap_or_else(|| panic!("no built-in {name}"));
                Arc::new(runtime.load(&name, PluginSource::BuiltIn, bytes).unwrap())
            })
            .clone();
        let payload =
            std::fs::read_to_string(fixtures().join(spec["event"].as_str().unwrap())).unwrap();
        let event: Value = serde_json::from_str(&payload).unwrap();
        let webhook_id = spec["webhook_id"].as_str().unwrap();
        let endpoint_id = spec["endpoint_id"].as_str().unwrap();
        let endpoint_url = spec["endpoint_url"].as_str().map(str::to_string);
        let settings = spec["settings"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let base = endpoint_url.clone().or(plugin.meta().default_url.clone());
        let input = TransformInput {
            id: webhook_id.into(),
            delivery_key: format!("{endpoint_id}:{webhook_id}"),
            event_type: event["type"].as_str().unwrap().into(),
            payload,
            endpoint_url,
            settings,
        };
        let policy = OutputPolicy::for_base(base.as_deref(), OutputPolicy::DEFAULT_MAX_BODY);
        let (result, _) = plugin
            .transform(input, super::patient_limits(), policy)
            .await;
        let expect = &spec["expect"];
        let ok = match (&result, expect["outcome"].as_str().unwrap()) {
            (Ok(Transformed::Skip(_)), "skip") => true,
            (Ok(Transformed::Deliver(request)), "deliver") => {
                let want = &expect["request"];
                let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                super::same_head(request, want) && body == want["body"]
            }
            _ => false,
        };
        if !ok {
            failures.push(format!("{}: got {result:?}\nwant {expect}", case.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
