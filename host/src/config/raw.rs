//! The TOML file exactly as written: serde structs that reject unknown keys.
//! `super` turns them into checked settings.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    pub server: Server,
    pub admin: Option<Admin>,
    #[serde(default)]
    pub retention: Retention,
    #[serde(default)]
    pub runtime: Runtime,
    #[serde(default)]
    pub delivery: Delivery,
    #[serde(default)]
    pub sources: BTreeMap<String, Source>,
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    pub listen: Option<String>,
    pub data_dir: Option<String>,
    pub plugins_dir: Option<String>,
    pub cache_dir: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub allow_private_destinations: Option<bool>,
    pub shutdown_grace_secs: Option<u64>,
    pub max_connections: Option<usize>,
    pub header_timeout_secs: Option<u64>,
    pub body_timeout_secs: Option<u64>,
    pub max_header_bytes: Option<usize>,
    pub dedupe_hours: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    pub listen: Option<String>,
    pub token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub days: Option<u64>,
    pub dead_days: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    pub max_concurrent_calls: Option<u32>,
    pub max_memory_mb: Option<usize>,
    pub threads: Option<usize>,
    pub max_request_body_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    pub ca_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    #[serde(default)]
    pub secrets: Vec<String>,
    pub tolerance_secs: Option<u64>,
    pub verify: Option<bool>,
    pub rate_limit_per_sec: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub id: String,
    pub source: String,
    pub plugin: String,
    pub events: Vec<String>,
    pub url: Option<String>,
    pub auth: Option<Auth>,
    #[serde(default)]
    pub settings: BTreeMap<String, SettingValue>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub retry: Retry,
    pub rate_limit_per_sec: Option<f64>,
    pub concurrency: Option<u32>,
    pub timeout_secs: Option<u64>,
    pub enabled: Option<bool>,
    pub allow_private_destinations: Option<bool>,
    pub script: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    Bearer(String),
    Basic { username: String, password: String },
    Header { name: String, value: String },
}

/// Settings are strings for the plugin; numbers and booleans are accepted
/// and passed on as their TOML text.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SettingValue {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub fuel: Option<u64>,
    pub memory_mb: Option<usize>,
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    pub schedule_secs: Option<Vec<f64>>,
    pub delivered_statuses: Option<Vec<u16>>,
    pub jitter: Option<f64>,
    pub max_retry_after_secs: Option<u64>,
}
