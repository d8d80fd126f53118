//! The plugin runtime with real components: the built-in plugins against
//! the expected fixtures, the sandbox against misbehaving plugins, hot
//! reload, and arbitrary input.

mod expected;
mod hot_reload;
mod javascript;
mod limits;
mod property;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hookwasm::runtime::{Plugin, PluginSource, Runtime, RuntimeConfig, TransformInput};

/// Where build.rs put the compiled guests (including test-only ones).
pub fn guest(name: &str) -> PathBuf {
    Path::new(env!("HOOKWASM_GUEST_DIR")).join(format!("{name}.wasm"))
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

pub fn runtime() -> Arc<Runtime> {
    Runtime::new(RuntimeConfig {
        max_concurrent_calls: 16,
        cache_dir: Some(std::env::temp_dir().join("hookwasm-test-cache")),
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

pub fn load(runtime: &Arc<Runtime>, name: &str) -> Arc<Plugin> {
    let path = guest(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Arc::new(
        runtime
            .load(name, PluginSource::File(path), &bytes)
            .expect("load plugin"),
    )
}

/// The default fuel and memory limits, with a wall-time limit that a busy CI
/// machine running many tests at once cannot hit by accident (wall time
/// depends on load; fuel and memory do not).
pub fn patient_limits() -> hookwasm::runtime::Limits {
    hookwasm::runtime::Limits {
        timeout: std::time::Duration::from_secs(20),
        ..hookwasm::runtime::Limits::default()
    }
}

pub fn input(event_type: &str, payload: &str) -> TransformInput {
    TransformInput {
        id: "msg_test".into(),
        delivery_key: "test:msg_test".into(),
        event_type: event_type.into(),
        payload: payload.into(),
        endpoint_url: None,
        settings: Vec::new(),
    }
}

/// Whether `request` has the expected method, URL and exact headers (the
/// `request` object of an expected-result file); callers check the body,
/// which the fixtures hold as JSON or as exact text.
pub fn same_head(request: &hookwasm::model::OutboundRequest, want: &serde_json::Value) -> bool {
    let headers: serde_json::Map<String, serde_json::Value> = request
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    request.method == want["method"]
        && request.url == want["url"]
        && serde_json::Value::Object(headers) == want["headers"]
}
