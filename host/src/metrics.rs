//! Prometheus metrics: the counters and histograms the pipeline updates as
//! it works, and the gauges (queue depth, plugin reloads) filled in from the
//! store and the registry when `/metrics` is scraped.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceResult {
    pub source: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    pub source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointOutcome {
    pub endpoint: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabel {
    pub endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointState {
    pub endpoint: String,
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabel {
    pub plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginResult {
    pub plugin: String,
    pub result: String,
}

fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 20))
}

fn fuel_buckets() -> Histogram {
    Histogram::new(exponential_buckets(10_000.0, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    pub events_received: Family<SourceResult, Counter>,
    pub ingest_seconds: Family<SourceLabel, Histogram, fn() -> Histogram>,
    pub deliveries: Family<EndpointOutcome, Counter>,
    pub attempt_seconds: Family<EndpointLabel, Histogram, fn() -> Histogram>,
    pub transforms: Family<PluginResult, Counter>,
    pub transform_seconds: Family<PluginLabel, Histogram, fn() -> Histogram>,
    pub transform_fuel: Family<PluginLabel, Histogram, fn() -> Histogram>,
    pub queue_depth: Family<EndpointState, Gauge>,
    pub plugin_reloads: Gauge,
    pub plugin_reload_failures: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("hookwasm");
        let m = Metrics {
            events_received: Family::default(),
            ingest_seconds: Family::new_with_constructor(latency_buckets),
            deliveries: Family::default(),
            attempt_seconds: Family::new_with_constructor(latency_buckets),
            transforms: Family::default(),
            transform_seconds: Family::new_with_constructor(latency_buckets),
            transform_fuel: Family::new_with_constructor(fuel_buckets),
            queue_depth: Family::default(),
            plugin_reloads: Gauge::default(),
            plugin_reload_failures: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "events_received",
            "Webhooks received, by source and result (accepted, duplicate, or the rejection)",
            m.events_received.clone(),
        );
        registry.register(
            "ingest_duration_seconds",
            "Time to acknowledge a stored webhook (durably written), by source",
            m.ingest_seconds.clone(),
        );
        registry.register(
            "deliveries",
            "Delivery outcomes by endpoint: delivered, retry, dead, skipped",
            m.deliveries.clone(),
        );
        registry.register(
            "attempt_duration_seconds",
            "HTTP attempt latency by endpoint",
            m.attempt_seconds.clone(),
        );
        registry.register(
            "transforms",
            "Plugin calls by plugin and result",
            m.transforms.clone(),
        );
        registry.register(
            "transform_duration_seconds",
            "Plugin call latency (fresh instance + transform) by plugin",
            m.transform_seconds.clone(),
        );
        registry.register(
            "transform_fuel",
            "Fuel used per plugin call",
            m.transform_fuel.clone(),
        );
        registry.register(
            "queue_depth",
            "Deliveries by endpoint and state: pending, due, dead",
            m.queue_depth.clone(),
        );
        registry.register(
            "plugin_reloads",
            "Plugins reloaded from the plugins directory since start",
            m.plugin_reloads.clone(),
        );
        registry.register(
            "plugin_reload_failures",
            "Plugin files that failed to load since start",
            m.plugin_reload_failures.clone(),
        );
        Metrics { registry, ..m }
    }

    pub fn received(&self, source: &str, result: &str) {
        self.events_received
            .get_or_create(&SourceResult {
                source: source.to_string(),
                result: result.to_string(),
            })
            .inc();
    }

    pub fn delivery(&self, endpoint: &str, outcome: &str) {
        self.deliveries
            .get_or_create(&EndpointOutcome {
                endpoint: endpoint.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
