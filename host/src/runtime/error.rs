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
    #[error("not a WebAssembly component: {0}")]
    Shape(&'static str),
    #[error("reading {path}: {error}")]
    Io { path: String, error: std::io::Error },
}

impl LoadError {
    /// A clear refusal for bytes that are no component at all, before
    /// wasmtime's parser (whose message about them is a byte dump).
    pub fn check_shape(bytes: &[u8]) -> Result<(), LoadError> {
        match bytes.get(..8) {
            Some([0, b'a', b's', b'm', 0x0d, 0, 0x01, 0]) => Ok(()),
            Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => Err(LoadError::Shape(
                "this is a core WebAssembly module; hookwasm runs components: build for the wasm32-wasip2 target, or wrap the module with `wasm-tools component new`",
            )),
            Some([0, b'a', b's', b'm', ..]) => Err(LoadError::Shape(
                "an unsupported WebAssembly binary version (expected a component: build for wasm32-wasip2)",
            )),
            _ => Err(LoadError::Shape(
                "the file does not start with the WebAssembly magic number (\\0asm)",
            )),
        }
    }

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
