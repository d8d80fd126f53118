//! Every way loading or calling a plugin can fail, each with a message a user
//! can act on.

use std::time::Duration;

/// A plugin could not be loaded (compiled, deserialized or linked).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("could not configure the WebAssembly engine: {0}")]
    Engine(String),
    #[error("not a valid WebAssembly component: {0}")]
    Compile(String),
    #[error(
        "the component does not fit the hookwasm:plugin/transformer world (it must export `transform` and import \
         nothing beyond WASI 0.2): {0}"
    )]
    Link(String),
    #[error("could not pre-initialize the plugin: {0}")]
    Snapshot(String),
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl LoadError {
    pub(crate) fn engine(e: impl std::fmt::Display) -> Self {
        LoadError::Engine(format!("{e:#}"))
    }
}

/// A transform call failed. Each variant names the limit or the cause; all of
/// them end the call, none of them affects the host or other calls.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    #[error(
        "plugin ran out of fuel (limit {limit}); raise `limits.fuel` or make the plugin do less work"
    )]
    OutOfFuel { limit: u64 },
    #[error("plugin timed out after {} ms; raise `limits.timeout_ms` or make the plugin faster", .limit.as_millis())]
    TimedOut { limit: Duration },
    #[error(
        "plugin exceeded its memory limit of {} MiB (it asked for {} MiB); raise `limits.memory_mb`",
        .limit >> 20, .requested >> 20
    )]
    MemoryLimit { limit: usize, requested: usize },
    #[error("plugin crashed: {message}")]
    Trap { message: String },
    #[error("{0}")]
    Plugin(String),
    #[error("plugin returned an invalid request: {0}")]
    InvalidOutput(String),
    #[error("plugin could not be instantiated: {0}")]
    Instantiate(String),
}

impl TransformError {
    /// A short, stable name for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            TransformError::OutOfFuel { .. } => "out_of_fuel",
            TransformError::TimedOut { .. } => "timed_out",
            TransformError::MemoryLimit { .. } => "memory_limit",
            TransformError::Trap { .. } => "trap",
            TransformError::Plugin(_) => "plugin_error",
            TransformError::InvalidOutput(_) => "invalid_output",
            TransformError::Instantiate(_) => "instantiate",
        }
    }
}
