//! One loaded plugin: compiled once, linked into an `InstancePre`, and called
//! with a fresh `Store` and instance per event.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Store, Trap, UpdateDeadline};

use super::bindings::{self, Outcome, TransformerPre};
use super::cache::{self, CacheStatus, Prepared};
use super::meta::{self, PluginMeta};
use super::output::{self, OutputPolicy};
use super::snapshot;
use super::{CallState, Limits, LoadError, Runtime, TransformError};
use crate::model::OutboundRequest;

/// Where a plugin's bytes came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginSource {
    BuiltIn,
    File(PathBuf),
}

impl PluginSource {
    pub fn label(&self) -> String {
        match self {
            PluginSource::BuiltIn => "built-in".to_string(),
            PluginSource::File(path) => path.display().to_string(),
        }
    }
}

/// What a plugin is called with: one event, as one endpoint sees it.
#[derive(Clone, Debug)]
pub struct TransformInput {
    pub id: String,
    pub delivery_key: String,
    pub event_type: String,
    pub payload: String,
    pub endpoint_url: Option<String>,
    pub settings: Vec<(String, String)>,
}

/// A successful transform, after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transformed {
    Deliver(OutboundRequest),
    Skip(String),
}

/// What one call cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CallStats {
    pub fuel: u64,
    pub micros: u64,
    /// The most linear memory the plugin grew to.
    pub peak_memory_bytes: u64,
}

/// A JavaScript handler run by the built-in `js` plugin: the host hands it
/// to the guest in the reserved `hookwasm.script` setting.
#[derive(Clone, Debug)]
pub struct Script {
    /// Shown in the handler's error messages, e.g. `transforms/loops.js`.
    pub name: String,
    pub source: Arc<str>,
}

/// Settings keys the host reserves for itself; an endpoint cannot set them.
const RESERVED_PREFIX: &str = "hookwasm.";

pub struct Plugin {
    name: String,
    source: PluginSource,
    meta: PluginMeta,
    hash: String,
    script: Option<Script>,
    pre: TransformerPre<CallState>,
    /// A JavaScript engine's bytes, kept to build script snapshots from.
    engine_bytes: Option<Arc<[u8]>>,
    /// For a script plugin: the engine pre-initialized with this script
    /// (see [`Plugin::specialize`]); calls use it once it is ready.
    specialized: OnceLock<TransformerPre<CallState>>,
    /// Why the script's snapshot could not be built, if it could not.
    no_snapshot: OnceLock<String>,
    runtime: Arc<Runtime>,
    loaded_at: SystemTime,
    load_time: Duration,
    cache_status: CacheStatus,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("source", &self.source)
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// The sha256 of a plugin's bytes, hex: its identity in logs, the API and
/// the artifact cache.
pub fn hash_bytes(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Plugin {
    pub(crate) fn load(
        runtime: &Arc<Runtime>,
        name: &str,
        source: PluginSource,
        bytes: &[u8],
    ) -> Result<Plugin, LoadError> {
        let started = Instant::now();
        LoadError::check_shape(bytes)?;
        let hash = hash_bytes(bytes);
        let prepare = |wasm| Ok(prepare(runtime, name, wasm));
        let (component, cache_status) = match runtime.cache() {
            Some(cache) => cache.load_or_compile(runtime.engine(), bytes, &hash, prepare)?,
            None => (
                cache::compile(runtime.engine(), bytes, prepare)?,
                CacheStatus::Disabled,
            ),
        };
        let pre = link(runtime, &component)?;
        let engine_bytes =
            snapshot::exports_function(bytes, snapshot::SCRIPT_EXPORT).then(|| Arc::from(bytes));
        Ok(Plugin {
            name: name.to_string(),
            source,
            meta: meta::read(bytes),
            hash,
            script: None,
            pre,
            engine_bytes,
            specialized: OnceLock::new(),
            no_snapshot: OnceLock::new(),
            runtime: runtime.clone(),
            loaded_at: SystemTime::now(),
            load_time: started.elapsed(),
            cache_status,
        })
    }

    /// A plugin that runs `script` on this (JavaScript engine) plugin's
    /// compiled component: nothing to compile, so it is ready at once. Its
    /// hash is the script's.
    pub fn with_script(&self, name: &str, source: PluginSource, script: Script) -> Plugin {
        Plugin {
            name: name.to_string(),
            source,
            meta: PluginMeta {
                version: None,
                description: Some(format!(
                    "JavaScript handler {}, run by the {} plugin",
                    script.name, self.name
                )),
                ..self.meta.clone()
            },
            hash: hash_bytes(script.source.as_bytes()),
            script: Some(script),
            pre: self.pre.clone(),
            engine_bytes: self.engine_bytes.clone(),
            specialized: OnceLock::new(),
            no_snapshot: OnceLock::new(),
            runtime: self.runtime.clone(),
            loaded_at: SystemTime::now(),
            load_time: Duration::ZERO,
            cache_status: self.cache_status,
        }
    }

    pub fn script(&self) -> Option<&Script> {
        self.script.as_ref()
    }

    /// Builds this script plugin's own snapshot: the engine with the
    /// script's top-level code already run (the handler parsed and
    /// compiled), compiled and cached like any plugin. Until it is ready,
    /// calls run on the shared engine, which evaluates the script per event:
    /// the same result, slower. Does nothing for other plugins, or when the
    /// engine has no `prepare-script`; a script whose top-level code throws
    /// keeps the shared engine, where each event reports the error.
    pub fn specialize(&self) -> Result<(), LoadError> {
        let (Some(script), Some(engine)) = (&self.script, &self.engine_bytes) else {
            return Ok(());
        };
        if self.specialized.get().is_some() {
            return Ok(());
        }
        // Keyed by engine, name and source: the name is in the handler's
        // error messages, which the snapshot holds compiled.
        let key = hash_bytes(
            format!("{}\0{}\0{}", hash_bytes(engine), script.name, script.source).as_bytes(),
        );
        let runtime = &self.runtime;
        // Unlike a plugin's own initializer, a failure here is an error: the
        // shared engine already covers this script.
        let prepare = |wasm| match snapshot::preinitialize(
            runtime,
            wasm,
            Some((&script.name, &script.source)),
        ) {
            Ok(Some(snapshot)) => Ok(Prepared {
                wasm: Cow::Owned(snapshot),
                cache: true,
            }),
            Ok(None) => Err(LoadError::Snapshot(format!(
                "the engine does not export `{}`",
                snapshot::INIT_EXPORT
            ))),
            Err(e) => Err(LoadError::Snapshot(e.to_string())),
        };
        let component = match runtime.cache() {
            Some(cache) => {
                cache
                    .load_or_compile(runtime.engine(), engine, &key, prepare)?
                    .0
            }
            None => cache::compile(runtime.engine(), engine, prepare)?,
        };
        let _ = self.specialized.set(link(runtime, &component)?);
        Ok(())
    }

    /// [`Plugin::specialize`] on the runtime's snapshot thread: one at a
    /// time (a compile takes seconds and both cores), in the order asked,
    /// and only if the plugin is still in use when its turn comes.
    pub fn specialize_in_background(self: &Arc<Self>) {
        if self.script.is_none() || self.engine_bytes.is_none() {
            return;
        }
        if let Err(e) = self.runtime.queue_snapshot(Arc::downgrade(self)) {
            tracing::warn!(plugin = %self.name, script = %self.script_name(), "no script snapshot: {e}");
        }
    }

    /// [`Plugin::specialize`], logged, with a failure kept for the API.
    pub(crate) fn specialize_logged(&self) {
        let started = Instant::now();
        match self.specialize() {
            Ok(()) => tracing::info!(
                plugin = %self.name,
                script = %self.script_name(),
                took_ms = started.elapsed().as_millis() as u64,
                "script snapshot ready"
            ),
            Err(e) => {
                tracing::warn!(
                    plugin = %self.name,
                    script = %self.script_name(),
                    "no script snapshot, the script is evaluated per event: {e}"
                );
                let _ = self.no_snapshot.set(e.to_string());
            }
        }
    }

    /// The script's name for logs (`<endpoint>.js` or its file), or `-`.
    fn script_name(&self) -> &str {
        self.script.as_ref().map_or("-", |s| s.name.as_str())
    }

    /// Whether calls run on this script's own snapshot yet.
    pub fn is_specialized(&self) -> bool {
        self.specialized.get().is_some()
    }

    /// For a script plugin on an engine that supports snapshots: `ready`,
    /// `building`, or why there is none (the script then runs per event).
    pub fn snapshot_status(&self) -> Option<String> {
        if self.script.is_none() || self.engine_bytes.is_none() {
            return None;
        }
        Some(if self.is_specialized() {
            "ready".into()
        } else if let Some(why) = self.no_snapshot.get() {
            format!("none: {why}")
        } else {
            "building".into()
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn source(&self) -> &PluginSource {
        &self.source
    }

    pub fn meta(&self) -> &PluginMeta {
        &self.meta
    }

    /// The version the plugin declares, or "-".
    pub fn version(&self) -> &str {
        self.meta.version.as_deref().unwrap_or("-")
    }

    pub fn hash(&self) -> &str {
        &self.hash
    }

    pub fn loaded_at(&self) -> SystemTime {
        self.loaded_at
    }

    /// How long compiling (or loading from the cache) and linking took.
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    pub fn cache_status(&self) -> CacheStatus {
        self.cache_status
    }

    /// Runs one transform on the runtime's dedicated wasm threads, so that
    /// plugin CPU never stalls the threads serving ingest and delivery.
    pub async fn transform(
        self: &Arc<Self>,
        input: TransformInput,
        limits: Limits,
        policy: OutputPolicy,
    ) -> (Result<Transformed, TransformError>, CallStats) {
        let plugin = self.clone();
        let handle = self
            .runtime
            .spawn(async move { plugin.call(&input, &limits, &policy).await });
        match handle.await {
            Ok(done) => done,
            Err(e) => (
                Err(TransformError::Trap {
                    message: format!("the host task running the plugin failed: {e}"),
                }),
                CallStats::default(),
            ),
        }
    }

    /// Like [`Plugin::transform`], also returning what the guest printed
    /// (a handler's `console.log`): for dry runs.
    pub async fn transform_capturing(
        self: &Arc<Self>,
        input: TransformInput,
        limits: Limits,
        policy: OutputPolicy,
    ) -> (Result<Transformed, TransformError>, CallStats, String) {
        let plugin = self.clone();
        let handle = self
            .runtime
            .spawn(async move { plugin.call_capturing(&input, &limits, &policy).await });
        match handle.await {
            Ok(done) => done,
            Err(e) => (
                Err(TransformError::Trap {
                    message: format!("the host task running the plugin failed: {e}"),
                }),
                CallStats::default(),
                String::new(),
            ),
        }
    }

    /// Runs one transform on the current task: a fresh store and instance,
    /// with `limits`, and the output checked against `policy`.
    pub async fn call(
        &self,
        input: &TransformInput,
        limits: &Limits,
        policy: &OutputPolicy,
    ) -> (Result<Transformed, TransformError>, CallStats) {
        let (result, stats, _) = self.call_capturing(input, limits, policy).await;
        (result, stats)
    }

    async fn call_capturing(
        &self,
        input: &TransformInput,
        limits: &Limits,
        policy: &OutputPolicy,
    ) -> (Result<Transformed, TransformError>, CallStats, String) {
        let Ok(_slot) = self.runtime.slots().acquire().await else {
            let err = TransformError::Instantiate("the plugin runtime is shutting down".into());
            return (Err(err), CallStats::default(), String::new());
        };
        let _ticking = self.runtime.ticker.enter();
        let started = Instant::now();
        let memory_limit = limits
            .memory_bytes
            .min(self.runtime.config().max_memory_bytes);
        let mut store = self.new_store(limits, memory_limit, started);

        let event = bindings::Event {
            id: input.id.clone(),
            delivery_key: input.delivery_key.clone(),
            event_type: input.event_type.clone(),
            payload: input.payload.clone(),
            endpoint_url: input.endpoint_url.clone(),
            settings: self.settings(&input.settings),
        };
        // The timeout also covers time a plugin spends blocked in a host
        // call (e.g. a WASI sleep), which epoch interruption cannot reach.
        let pre = self.specialized.get().unwrap_or(&self.pre);
        let result = tokio::time::timeout(limits.timeout, async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.call_transform(&mut store, &event).await
        })
        .await;

        let stats = CallStats {
            fuel: limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0)),
            micros: started.elapsed().as_micros() as u64,
            peak_memory_bytes: store.data().limiter.peak as u64,
        };
        let (console, stderr) = self.log_output(store.data());
        let outcome = match result {
            Err(_elapsed) => Err(TransformError::TimedOut {
                limit: limits.timeout,
            }),
            Ok(Err(e)) => Err(classify(&e, store.data(), limits, memory_limit, &stderr)),
            Ok(Ok(Err(message))) => Err(TransformError::Plugin(one_line(&message))),
            Ok(Ok(Ok(Outcome::Skip(reason)))) => Ok(Transformed::Skip(one_line(&reason))),
            Ok(Ok(Ok(Outcome::Deliver(request)))) => output::validate(request, policy)
                .map(Transformed::Deliver)
                .map_err(TransformError::InvalidOutput),
        };
        (outcome, stats, console)
    }

    /// A store for one call: `limits`' memory (at most `memory_limit`) and
    /// fuel, and its timeout from `started`.
    fn new_store(
        &self,
        limits: &Limits,
        memory_limit: usize,
        started: Instant,
    ) -> Store<CallState> {
        let mut store = Store::new(
            self.runtime.engine(),
            CallState::new(memory_limit, self.runtime.config().output_capture_bytes),
        );
        store.limiter(|state| &mut state.limiter);
        // Fuel is enabled engine-wide, so this cannot fail.
        let _ = store.set_fuel(limits.fuel);
        // Every epoch tick the plugin yields, so long calls share the wasm
        // threads fairly; past the deadline it is interrupted.
        let deadline = started + limits.timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        store
    }

    /// Checks that `script` can run on this JavaScript engine: its
    /// top-level code runs and defines `handler`. Done before a `.js` file
    /// replaces a working version, and before an edited transformation is
    /// saved; bounded like a call with the default limits. An engine without
    /// the `prepare-script` export (a replacement `js.wasm`) cannot tell, so
    /// every script passes.
    pub async fn check_script(self: &Arc<Self>, script: &Script) -> Result<(), String> {
        let plugin = self.clone();
        let script = script.clone();
        let handle = self
            .runtime
            .spawn(async move { plugin.check_script_here(&script).await });
        match handle.await {
            Ok(checked) => checked,
            Err(e) => Err(format!("the host task checking the script failed: {e}")),
        }
    }

    async fn check_script_here(&self, script: &Script) -> Result<(), String> {
        let Ok(_slot) = self.runtime.slots().acquire().await else {
            return Err("the plugin runtime is shutting down".into());
        };
        let _ticking = self.runtime.ticker.enter();
        let limits = Limits::default();
        let memory_limit = limits
            .memory_bytes
            .min(self.runtime.config().max_memory_bytes);
        let mut store = self.new_store(&limits, memory_limit, Instant::now());
        let checked = tokio::time::timeout(limits.timeout, async {
            let instance = self
                .pre
                .instance_pre()
                .instantiate_async(&mut store)
                .await?;
            let Ok(prepare) = instance.get_typed_func::<(&str, &str), (Result<(), String>,)>(
                &mut store,
                snapshot::SCRIPT_EXPORT,
            ) else {
                return Ok(Ok(()));
            };
            let (ran,) = prepare
                .call_async(&mut store, (&script.name, &script.source))
                .await?;
            Ok::<_, wasmtime::Error>(ran)
        })
        .await;
        let (_, stderr) = self.log_output(store.data());
        match checked {
            Err(_elapsed) => Err(TransformError::TimedOut {
                limit: limits.timeout,
            }
            .to_string()),
            Ok(Err(e)) => {
                Err(classify(&e, store.data(), &limits, memory_limit, &stderr).to_string())
            }
            Ok(Ok(Err(message))) => Err(one_line(&format!("{}: {message}", script.name))),
            Ok(Ok(Ok(()))) => Ok(()),
        }
    }

    /// The endpoint's settings as the guest sees them: the host's reserved
    /// keys are its own, and carry the script for a JavaScript handler.
    fn settings(&self, settings: &[(String, String)]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = settings
            .iter()
            .filter(|(key, _)| !key.starts_with(RESERVED_PREFIX))
            .cloned()
            .collect();
        if let Some(script) = &self.script {
            out.push(("hookwasm.script".into(), script.source.to_string()));
            out.push(("hookwasm.script-name".into(), script.name.clone()));
        }
        out
    }

    /// Sends what the guest printed to the host's log (bounded by the
    /// runtime's capture size); returns all of it, and stderr alone for
    /// error messages.
    fn log_output(&self, state: &CallState) -> (String, String) {
        let (stdout, stdout_dropped) = state.stdout.take();
        let (stderr, stderr_dropped) = state.stderr.take();
        for (stream, text, dropped) in [
            ("stdout", &stdout, stdout_dropped),
            ("stderr", &stderr, stderr_dropped),
        ] {
            if !text.is_empty() {
                tracing::info!(plugin = %self.name, stream, dropped_bytes = dropped, "plugin output: {}", text.trim_end());
            }
        }
        (format!("{stdout}{stderr}"), stderr)
    }
}

/// Links a compiled component against the sandbox's imports and checks it
/// has the contract's `transform` export.
fn link(runtime: &Runtime, component: &Component) -> Result<TransformerPre<CallState>, LoadError> {
    let instance_pre = runtime
        .linker()
        .instantiate_pre(component)
        .map_err(|e| LoadError::Link(format!("{e:#}")))?;
    TransformerPre::new(instance_pre).map_err(|e| LoadError::Link(format!("{e:#}")))
}

/// What gets compiled for `wasm`: its pre-initialized snapshot when it
/// exports an initializer. A failed snapshot is not fatal — the plugin
/// then does its set-up on every call, slower but correct — so it is logged
/// and the plugin loads as it is.
fn prepare<'a>(runtime: &Runtime, name: &str, wasm: &'a [u8]) -> Prepared<'a> {
    let started = Instant::now();
    match snapshot::preinitialize(runtime, wasm, None) {
        Ok(Some(snapshot)) => {
            tracing::debug!(plugin = %name, elapsed_ms = started.elapsed().as_millis() as u64, "pre-initialized the plugin");
            Prepared {
                wasm: Cow::Owned(snapshot),
                cache: true,
            }
        }
        Ok(None) => Prepared {
            wasm: Cow::Borrowed(wasm),
            cache: true,
        },
        // Not cached: the next start tries the snapshot again.
        Err(e) => {
            tracing::warn!(plugin = %name, "could not pre-initialize the plugin, loading it as it is: {e}");
            Prepared {
                wasm: Cow::Borrowed(wasm),
                cache: false,
            }
        }
    }
}

fn classify(
    error: &wasmtime::Error,
    state: &CallState,
    limits: &Limits,
    memory_limit: usize,
    stderr: &str,
) -> TransformError {
    if let Some(requested) = state.limiter.denied {
        return TransformError::MemoryLimit {
            limit: memory_limit,
            requested,
        };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => TransformError::OutOfFuel { limit: limits.fuel },
        Some(Trap::Interrupt) => TransformError::TimedOut {
            limit: limits.timeout,
        },
        Some(trap) => TransformError::Trap {
            message: match panic_message(stderr) {
                Some(panic) => format!("{panic} ({trap})"),
                None => trap.to_string(),
            },
        },
        None => TransformError::Trap {
            message: one_line(&format!("{error:#}")),
        },
    }
}

/// The message of a Rust panic as the guest's std prints it:
/// "thread '…' panicked at src/lib.rs:3:5:\nthe message\nnote: …".
fn panic_message(stderr: &str) -> Option<String> {
    let start = stderr.rfind("panicked at ")?;
    let text: Vec<&str> = stderr[start..]
        .lines()
        .take_while(|line| !line.starts_with("note: "))
        .collect();
    Some(one_line(&text.join(" ")))
}

/// Messages end up in one-line JSON errors and log lines.
fn one_line(s: &str) -> String {
    const MAX: usize = 1000;
    let mut line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.len() > MAX {
        let mut end = MAX;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push('…');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_panic_message() {
        let stderr = "noise\nthread '<unnamed>' panicked at src/lib.rs:30:9:\nmisbehave: asked to panic\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            panic_message(stderr).as_deref(),
            Some("panicked at src/lib.rs:30:9: misbehave: asked to panic")
        );
        assert_eq!(panic_message("just output"), None);
    }

    #[test]
    fn one_line_folds_and_bounds() {
        assert_eq!(one_line("a\n b\r\n\tc"), "a b c");
        assert!(one_line(&"x".repeat(5000)).len() < 1010);
    }
}
