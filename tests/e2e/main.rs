//! End-to-end tests: the real `hookwasm` binary, real local HTTP servers
//! standing in for the destinations, real sled on disk.

mod admin;
mod catalog;
mod cli;
mod crash;
mod dashboard;
mod dest_auth;
mod disabled;
mod examples;
mod hardening;
mod ingest;
mod javascript;
mod operator_cli;
mod pipeline;
mod plugin_cli;
mod postgres;
mod power_cut;
mod power_fs;
mod retries;
mod signing;
mod support;
mod templates;
