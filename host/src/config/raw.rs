//! The TOML file exactly as written: serde structs that reject unknown keys.
//! `super` turns them into checked settings; sources and endpoints are the
//! catalog's specs, checked by the catalog's validation.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::catalog::spec::{EndpointSpec, SourceSpec};

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
    pub store: Store,
    #[serde(default)]
    pub sources: BTreeMap<String, SourceSpec>,
    #[serde(default)]
    pub endpoints: Vec<EndpointSpec>,
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
    pub secret_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    pub listen: Option<String>,
    pub token: Option<String>,
    pub hosts: Option<Vec<String>>,
    pub session_ttl_secs: Option<u64>,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Store {
    pub backend: Option<String>,
    pub url: Option<String>,
    pub pool_size: Option<usize>,
    pub lease_secs: Option<u64>,
}
