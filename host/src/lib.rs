//! hookwasm: receives signed webhooks, transforms each one for every matching
//! endpoint in a WebAssembly sandbox, and delivers the result with durable
//! retries.
//!
//! The pipeline, one module per stage: `ingest` (HTTP server, signature
//! check) → `store` (sled) → `runtime` (wasmtime components, limits, plugin
//! registry) → `delivery` (workers, HTTP client, retry policy) → `admin`
//! (HTTP API, metrics). `config` reads the TOML file; `cli` is the binary's
//! edge.

pub mod admin;
pub mod catalog;
pub mod config;
pub mod datadir;
pub mod delivery;
pub mod heap;
pub mod httpd;
pub mod ingest;
pub mod metrics;
pub mod model;
pub mod runtime;
pub mod sched;
pub mod server;
pub mod signature;
pub mod store;
