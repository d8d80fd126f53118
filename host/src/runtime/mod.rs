//! The plugin runtime: one wasmtime engine for the process, plugins compiled
//! once into an `InstancePre`, and every transform run in a fresh sandbox
//! bounded by fuel, memory and wall time.
//!
//! Data flow: `registry` finds plugin bytes (built-in or a file) → `cache`
//! turns them into a compiled component → `plugin::Plugin` holds it ready to
//! instantiate → `Plugin::call` runs one event in a `sandbox::CallState` →
//! `output` checks what came back before anything is sent.

pub mod builtin;
pub mod cache;
mod error;
pub mod meta;
pub mod output;
pub mod plugin;
pub mod registry;
pub mod report;
mod sandbox;
pub mod snapshot;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
use wasmtime::component::Linker;
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig,
};

pub use crate::model::Limits;
pub use error::{LoadError, TransformError};
pub use output::OutputPolicy;
pub use plugin::{CallStats, Plugin, PluginSource, TransformInput, Transformed};
pub use sandbox::CallState;

/// Host bindings generated from the WIT contract, the one source of truth for
/// host and guests.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "transformer",
        exports: { default: async },
    });
}

/// How often the epoch ticker advances: the granularity of wall-time limits
/// and of the time slices a long-running plugin gets before yielding.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Engine-wide settings, fixed for the life of the process.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// How many plugin instances may exist at once; calls beyond it wait.
    pub max_concurrent_calls: u32,
    /// The ceiling for any endpoint's `memory_mb`.
    pub max_memory_bytes: usize,
    /// Where compiled plugins are cached (`None`: compile every time).
    pub cache_dir: Option<std::path::PathBuf>,
    /// Bytes of guest stdout and of stderr kept per call for the log.
    pub output_capture_bytes: usize,
    /// Threads that run plugin code (0: one per CPU).
    pub threads: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            max_concurrent_calls: 64,
            max_memory_bytes: 512 << 20,
            cache_dir: None,
            output_capture_bytes: 16 << 10,
            threads: 0,
        }
    }
}

/// The process-wide wasmtime engine and everything shared by all plugins.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    cache: Option<cache::ArtifactCache>,
    config: RuntimeConfig,
    /// One permit per pooled instance slot, so a burst of calls waits for a
    /// slot instead of failing to instantiate.
    slots: Semaphore,
    pub(crate) ticker: Arc<Ticker>,
    /// The threads plugin code runs on, apart from the I/O threads. Dropped
    /// with `shutdown_background` so a `Runtime` may be dropped anywhere.
    exec: Option<tokio::runtime::Runtime>,
    /// The queue of the thread that builds script snapshots, one at a time;
    /// started on first use, ends when the runtime drops.
    snapshots: std::sync::Mutex<Option<std::sync::mpsc::Sender<std::sync::Weak<Plugin>>>>,
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> Result<Arc<Self>, LoadError> {
        let engine = Engine::new(&engine_config(&config)).map_err(LoadError::engine)?;
        let mut linker = Linker::new(&engine);
        // Every WASI interface is linked (components built by ordinary
        // toolchains import them), but the context grants nothing: no
        // preopened directories, no environment, no arguments, no sockets.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(LoadError::engine)?;
        let cache = config.cache_dir.clone().map(cache::ArtifactCache::new);
        let mut exec = tokio::runtime::Builder::new_multi_thread();
        // Transforms are throughput work: see `sched`.
        exec.thread_name("hookwasm-wasm")
            .enable_time()
            .on_thread_start(|| {
                crate::sched::throughput("hookwasm-wasm");
            });
        if config.threads > 0 {
            exec.worker_threads(config.threads);
        }
        let exec = exec.build().map_err(LoadError::engine)?;
        let ticker = Ticker::start(engine.clone());
        Ok(Arc::new(Runtime {
            engine,
            linker,
            cache,
            slots: Semaphore::new(config.max_concurrent_calls as usize),
            config,
            ticker,
            exec: Some(exec),
            snapshots: std::sync::Mutex::new(None),
        }))
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Compiles (or loads from the cache) and links a plugin. CPU-heavy for a
    /// cold compile: call it from a blocking thread.
    pub fn load(
        self: &Arc<Self>,
        name: &str,
        source: PluginSource,
        bytes: &[u8],
    ) -> Result<Plugin, LoadError> {
        Plugin::load(self, name, source, bytes)
    }

    /// How long compiling `bytes` is likely to take because nothing is
    /// cached for them, when that is long enough to tell the user (a second
    /// or more: the JavaScript engine's first start), and where the result
    /// will be cached.
    pub fn first_compile(&self, bytes: &[u8]) -> Option<(Duration, std::path::PathBuf)> {
        /// Measured on a 2-core VM: the 6 MB JavaScript engine (with its
        /// snapshot) took ~12 s, the ~170 KB Rust plugins ~0.3 s each.
        const BYTES_PER_SEC: f64 = 500_000.0;
        let estimate = Duration::from_secs_f64(bytes.len() as f64 / BYTES_PER_SEC);
        if estimate < Duration::from_secs(1) {
            return None;
        }
        let cache = self.cache.as_ref()?;
        if cache.has(&self.engine, &plugin::hash_bytes(bytes)) {
            return None;
        }
        Some((estimate, cache.dir().to_path_buf()))
    }

    /// Runs plugin work on the wasm threads.
    pub(crate) fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.exec {
            Some(exec) => exec.spawn(future),
            // Only during drop; never observed by callers.
            None => tokio::spawn(future),
        }
    }

    pub(crate) fn linker(&self) -> &Linker<CallState> {
        &self.linker
    }

    pub(crate) fn cache(&self) -> Option<&cache::ArtifactCache> {
        self.cache.as_ref()
    }

    pub(crate) fn slots(&self) -> &Semaphore {
        &self.slots
    }

    /// Queues a script plugin for its snapshot (see `Plugin::specialize`).
    pub(crate) fn queue_snapshot(&self, plugin: std::sync::Weak<Plugin>) -> std::io::Result<()> {
        let mut queue = self
            .snapshots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(sender) = queue.as_ref()
            && let Err(returned) = sender.send(plugin.clone())
        {
            // The thread is gone (it panicked): start another.
            drop(returned);
            *queue = None;
        }
        if queue.is_some() {
            return Ok(());
        }
        let (sender, receiver) = std::sync::mpsc::channel::<std::sync::Weak<Plugin>>();
        std::thread::Builder::new()
            .name("hookwasm-snapshot".into())
            .spawn(move || {
                while let Ok(plugin) = receiver.recv() {
                    if let Some(plugin) = plugin.upgrade() {
                        plugin.specialize_logged();
                    }
                }
            })?;
        let _ = sender.send(plugin);
        *queue = Some(sender);
        Ok(())
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker.stop();
        if let Some(exec) = self.exec.take() {
            exec.shutdown_background();
        }
    }
}

/// Bytes of a pooled memory or table reset in place rather than unmapped:
/// 2 MiB where PAGEMAP_SCAN limits the reset to dirtied pages (Linux 6.7+),
/// else 64 KiB, since without it every one of those bytes is memset on every
/// call.
fn keep_resident() -> usize {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(['.', '-']).map(|p| p.parse::<u32>());
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) if (major, minor) >= (6, 7) => 2 << 20,
        _ => 64 << 10,
    }
}

fn engine_config(config: &RuntimeConfig) -> Config {
    let mut c = Config::new();
    c.consume_fuel(true)
        .epoch_interruption(true)
        .cranelift_opt_level(OptLevel::Speed)
        .parallel_compilation(true);

    let slots = config.max_concurrent_calls.max(1);
    let mut pool = PoolingAllocationConfig::new();
    // A component built by wasm-component-ld or componentize-* holds a few
    // core instances (the program plus small shims), so each slot gets room
    // for several.
    pool.total_component_instances(slots)
        .total_core_instances(slots * 16)
        .total_memories(slots * 4)
        .total_tables(slots * 16)
        .total_stacks(slots)
        .max_memory_size(config.max_memory_bytes)
        .table_elements(100_000)
        // Resetting a slot with madvise costs page faults on the next use
        // and TLB shoot-downs (IPIs to the other core) on every call; memset
        // of 1 MiB of pages a small plugin never touched doubled the cost.
        // PAGEMAP_SCAN (Linux 6.7+; ignored elsewhere) finds the pages a
        // call dirtied, and only those are reset, with memset, up to this
        // much: no system call per call for a typical plugin. (Measured:
        // loops 59 → 42 µs per event, the js plugin's handlers 295 → 156 µs.
        // 2 MiB was as fast as 4 and bounds what idle slots keep resident.)
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(keep_resident())
        .table_keep_resident(keep_resident())
        .max_unused_warm_slots(slots);
    c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    c
}

/// Advances the engine's epoch every [`EPOCH_TICK`] while a call runs: the
/// clock of every call's wall-time limit and of its time slices. Idle, it
/// sleeps (ticking every millisecond with no traffic cost ~4.5 % of a core).
/// Deadlines are relative to the epoch a call starts at, so pausing the
/// clock between calls changes nothing for them.
pub(crate) struct Ticker {
    active: AtomicUsize,
    stop: AtomicBool,
    parked: std::sync::Mutex<()>,
    wake: std::sync::Condvar,
}

impl Ticker {
    fn start(engine: Engine) -> Arc<Ticker> {
        let ticker = Arc::new(Ticker {
            active: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            parked: std::sync::Mutex::new(()),
            wake: std::sync::Condvar::new(),
        });
        let clock = ticker.clone();
        let spawned = std::thread::Builder::new()
            .name("hookwasm-epoch".into())
            .spawn(move || {
                loop {
                    {
                        let mut guard = clock.parked.lock().unwrap_or_else(|p| p.into_inner());
                        while clock.active.load(Ordering::SeqCst) == 0
                            && !clock.stop.load(Ordering::SeqCst)
                        {
                            guard = clock.wake.wait(guard).unwrap_or_else(|p| p.into_inner());
                        }
                    }
                    if clock.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            });
        if let Err(e) = spawned {
            // Without the ticker, wall-time limits would never fire; fuel
            // still bounds every call, so keep going but say so.
            tracing::error!("could not start the epoch ticker thread: {e}");
        }
        ticker
    }

    /// Keeps the clock running until the guard is dropped.
    pub(crate) fn enter(self: &Arc<Self>) -> Ticking {
        if self.active.fetch_add(1, Ordering::SeqCst) == 0 {
            let _guard = self.parked.lock().unwrap_or_else(|p| p.into_inner());
            self.wake.notify_one();
        }
        Ticking(self.clone())
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _guard = self.parked.lock().unwrap_or_else(|p| p.into_inner());
        self.wake.notify_one();
    }
}

/// A call in progress, for the [`Ticker`].
pub(crate) struct Ticking(Arc<Ticker>);

impl Drop for Ticking {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}
