//! Hot reload: a plugin file replaced while calls run is swapped in without
//! a failed call; a garbage file keeps the previous version; a deleted file
//! is unloaded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use hookwasm::runtime::registry::PluginRegistry;
use hookwasm::runtime::{OutputPolicy, PluginSource, Transformed};

use super::{guest, input, runtime};

async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..300 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Which plugin produced a request: misbehave echoes `"plugin": "misbehave"`,
/// loops sends an `eventName`.
fn producer(result: &Transformed) -> &'static str {
    match result {
        Transformed::Deliver(r) => {
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
            if body["plugin"] == "misbehave" {
                "misbehave"
            } else if body.get("eventName").is_some() {
                "loops"
            } else {
                "unknown"
            }
        }
        Transformed::Skip(_) => "skip",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_loaded_swapped_kept_and_unloaded_without_failed_calls() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flip.wasm");
    std::fs::copy(guest("misbehave"), &path).unwrap();

    let registry = PluginRegistry::new(runtime(), Some(dir.path().to_path_buf()));
    registry.load_all().await;
    let _watch = registry.watch().expect("watching the directory");
    assert!(matches!(
        registry.get("flip").unwrap().source(),
        PluginSource::File(_)
    ));
    // Built-ins are there too.
    assert!(registry.get("loops").is_some());

    // Calls run continuously while the file changes under them.
    let payload =
        std::fs::read_to_string(super::fixtures().join("dodo/payment.succeeded.json")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let caller = {
        let (registry, stop, calls) = (registry.clone(), stop.clone(), calls.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let plugin = registry
                    .get("flip")
                    .expect("flip stays loaded while its file exists");
                let (result, _) = plugin
                    .transform(
                        input("payment.succeeded", &payload),
                        super::patient_limits(),
                        OutputPolicy::for_base(None, OutputPolicy::DEFAULT_MAX_BODY),
                    )
                    .await;
                let result = result.unwrap_or_else(|e| panic!("a call failed during reload: {e}"));
                seen.push(producer(&result));
                calls.fetch_add(1, Ordering::Relaxed);
            }
            seen
        })
    };

    eventually("some calls on the first version", || {
        calls.load(Ordering::Relaxed) > 5
    })
    .await;
    // Replace the file in place (not an atomic rename): the watcher may see
    // a half-written file first, which must not replace the good version.
    std::fs::write(&path, std::fs::read(guest("loops")).unwrap()).unwrap();
    eventually("the new version to be swapped in", || {
        registry
            .get("flip")
            .is_some_and(|p| p.meta().name.as_deref() == Some("loops"))
    })
    .await;
    let after_swap = calls.load(Ordering::Relaxed);
    eventually("calls on the new version", || {
        calls.load(Ordering::Relaxed) > after_swap + 5
    })
    .await;

    // Garbage keeps the previous version and records why.
    std::fs::write(&path, b"this is not wasm").unwrap();
    eventually("the broken file to be noticed", || {
        registry.problem("flip").is_some()
    })
    .await;
    assert_eq!(
        registry.get("flip").unwrap().meta().name.as_deref(),
        Some("loops")
    );
    assert!(registry.failure_count() >= 1);
    let info = registry
        .list()
        .into_iter()
        .find(|p| p.name == "flip")
        .unwrap();
    assert!(info.last_error.is_some());

    stop.store(true, Ordering::Relaxed);
    let seen = caller.await.expect("no call failed");
    assert_eq!(seen.first(), Some(&"misbehave"));
    assert_eq!(seen.last(), Some(&"loops"));
    assert!(!seen.contains(&"unknown"));

    // Deleting the file unloads the plugin.
    std::fs::remove_file(&path).unwrap();
    eventually("the plugin to be unloaded", || {
        registry.get("flip").is_none()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_overrides_a_built_in_and_removing_it_restores_the_built_in() {
    let dir = tempfile::tempdir().unwrap();
    let registry = PluginRegistry::new(runtime(), Some(dir.path().to_path_buf()));
    registry.load_all().await;
    let _watch = registry.watch().unwrap();
    assert_eq!(
        registry.get("inngest").unwrap().source(),
        &PluginSource::BuiltIn
    );

    let path = dir.path().join("inngest.wasm");
    std::fs::copy(guest("misbehave"), &path).unwrap();
    eventually("the file to override the built-in", || {
        registry
            .get("inngest")
            .is_some_and(|p| matches!(p.source(), PluginSource::File(_)))
    })
    .await;
    std::fs::remove_file(&path).unwrap();
    eventually("the built-in to come back", || {
        registry
            .get("inngest")
            .is_some_and(|p| *p.source() == PluginSource::BuiltIn)
    })
    .await;
}

/// A `js.wasm` file replacing the JavaScript engine takes the `.js` plugins
/// with it: they are rebuilt on the new engine, not left on the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_plugins_move_to_a_replaced_javascript_engine() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("notify.js"),
        "function handler(webhook) { webhook.payload = { ok: true }; return webhook; }",
    )
    .unwrap();
    let registry = PluginRegistry::new(runtime(), Some(dir.path().to_path_buf()));
    registry.load_all().await;
    let before = registry.get("notify").expect("notify.js is loaded");
    let old_engine = registry.get("js").unwrap().hash().to_string();

    // The built-in engine plus a custom section: other bytes, same engine.
    let mut engine = hookwasm::runtime::builtin::get("js").unwrap().to_vec();
    let (name, payload) = (b"hookwasm-test", b"another build");
    engine.extend_from_slice(&[0, (1 + name.len() + payload.len()) as u8, name.len() as u8]);
    engine.extend_from_slice(name);
    engine.extend_from_slice(payload);
    std::fs::write(dir.path().join("js.wasm"), &engine).unwrap();
    registry.rescan().await;
    assert_ne!(registry.get("js").unwrap().hash(), old_engine);

    let after = registry.get("notify").unwrap();
    assert!(
        !Arc::ptr_eq(&before, &after),
        "notify.js still runs on the engine it was built on"
    );
    let mut event = input("payment.succeeded", r#"{"type":"payment.succeeded"}"#);
    event.endpoint_url = Some("https://hooks.example.com/in".into());
    let policy = OutputPolicy::for_base(
        Some("https://hooks.example.com/in"),
        OutputPolicy::DEFAULT_MAX_BODY,
    );
    let (result, _) = after
        .transform(event, super::patient_limits(), policy)
        .await;
    match result {
        Ok(Transformed::Deliver(request)) => assert_eq!(request.body, br#"{"ok":true}"#),
        other => panic!("{other:?}"),
    }
}

/// A `.js` file that does not parse, is empty, or defines no handler keeps
/// the working version: it is checked before it is swapped in, and the
/// failed reload is counted and shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_js_file_keeps_the_working_handler() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.js");
    let good = "function handler(webhook) { webhook.payload = { ok: true }; return webhook; }";
    std::fs::write(&path, good).unwrap();
    let registry = PluginRegistry::new(runtime(), Some(dir.path().to_path_buf()));
    registry.load_all().await;
    let working = registry.get("notify").expect("notify.js is loaded");

    for (broken, why) in [
        (
            "function handler(webhook) {\n  return webhook.;\n}",
            "SyntaxError",
        ),
        ("", "defines no `function handler(webhook)`"),
        ("function handl", "SyntaxError"),
        ("const x = 1;", "defines no `function handler(webhook)`"),
    ] {
        let failures = registry.failure_count();
        std::fs::write(&path, broken).unwrap();
        registry.rescan().await;
        let now = registry.get("notify").expect("still loaded");
        assert!(
            Arc::ptr_eq(&working, &now),
            "{broken:?} replaced the handler"
        );
        assert_eq!(registry.failure_count(), failures + 1, "{broken:?}");
        let problem = registry.problem("notify").unwrap_or_default();
        assert!(problem.contains(why), "{broken:?}: {problem}");
        let info = registry
            .list()
            .into_iter()
            .find(|i| i.name == "notify")
            .unwrap();
        assert_eq!(info.last_error.as_deref(), Some(problem.as_str()));
    }
    // A fixed file is taken, and the problem goes.
    std::fs::write(&path, good.replace("true", "false")).unwrap();
    registry.rescan().await;
    assert!(!Arc::ptr_eq(&working, &registry.get("notify").unwrap()));
    assert_eq!(registry.problem("notify"), None);
}

/// A file named like a built-in says so, in the listing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_overrides_a_built_in_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("loops.js"),
        "function handler(webhook) { return webhook; }",
    )
    .unwrap();
    let registry = PluginRegistry::new(runtime(), Some(dir.path().to_path_buf()));
    registry.load_all().await;
    let info = registry
        .list()
        .into_iter()
        .find(|i| i.name == "loops")
        .unwrap();
    assert!(info.source.ends_with("loops.js"), "{info:?}");
    assert!(
        info.warning
            .as_deref()
            .unwrap_or_default()
            .contains("overrides the built-in plugin"),
        "{info:?}"
    );
    let found = hookwasm::runtime::registry::discover(Some(dir.path()));
    let info = found.iter().find(|i| i.name == "loops").unwrap();
    assert!(info.warning.is_some(), "{info:?}");
}
