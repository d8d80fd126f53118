//! Pre-initialization: a plugin that exports `wizer-initialize` has it run
//! once, when the plugin is compiled, and the state it leaves behind (linear
//! memory and globals) is written back into the component (Wizer). Every call
//! then instantiates that snapshot: still a fresh sandbox per event, but one
//! whose expensive set-up — the `js` plugin's JavaScript realm — is already
//! done.
//!
//! The result is compiled and cached like any plugin, so the snapshot is
//! taken once per plugin version, not once per start.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use wasmparser::{ComponentExternalKind, Parser, Payload};
use wasmtime::component::{Component, Instance, Lift, WasmList};
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wizer::{ComponentInstanceState, Wizer};

use super::{CallState, Runtime};

/// The export Wizer (and `wasmtime wizer`) run: a `func()` with no results.
pub const INIT_EXPORT: &str = "wizer-initialize";

/// A JavaScript engine's second initializer, run after [`INIT_EXPORT`]:
/// `func(name: string, source: string) -> result<_, string>` runs one handler
/// file's top-level code, so a snapshot holds it compiled.
pub const SCRIPT_EXPORT: &str = "prepare-script";

/// Bounds on the initializer, which runs untrusted code like any call.
/// About 100 times what the `js` plugin's realm takes.
const INIT_FUEL: u64 = 500_000_000;
/// Twice the default per-call memory limit.
const INIT_MEMORY: usize = 64 << 20;
const INIT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a snapshot could not be taken; the plugin then runs without one.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SnapshotError(String);

fn error(context: &str, e: impl std::fmt::Display) -> SnapshotError {
    SnapshotError(format!("{context}: {e}"))
}

/// Whether the component itself (not a nested one) exports the function
/// `name`.
pub fn exports_function(wasm: &[u8], name: &str) -> bool {
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload {
            Ok(Payload::ModuleSection { .. } | Payload::ComponentSection { .. }) => depth += 1,
            Ok(Payload::End(_)) => depth = depth.saturating_sub(1),
            Ok(Payload::ComponentExportSection(exports)) if depth == 0 => {
                for export in exports.into_iter().flatten() {
                    if export.name.name == name && export.kind == ComponentExternalKind::Func {
                        return true;
                    }
                }
            }
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

/// The pre-initialized component, or `None` when `wasm` has no initializer.
/// With a `script` (name, source), the snapshot also holds that handler
/// file's top-level code run through [`SCRIPT_EXPORT`].
pub fn preinitialize(
    runtime: &Runtime,
    wasm: &[u8],
    script: Option<(&str, &str)>,
) -> Result<Option<Vec<u8>>, SnapshotError> {
    if !exports_function(wasm, INIT_EXPORT) {
        return Ok(None);
    }
    let mut wizer = Wizer::new();
    // Dropping the export breaks components in wasmtime-wizer 48: the core
    // export goes but the component's lift of it stays ("core instance N has
    // no export named `wizer-initialize`"). Kept, it is harmless: the host
    // never calls it again, and a call would only rebuild the same state.
    wizer.keep_init_func(true);
    let (cx, instrumented) = wizer
        .instrument_component(wasm)
        .map_err(|e| error("instrumenting the component", e))?;
    let engine = runtime.engine();
    let component = Component::new(engine, &instrumented)
        .map_err(|e| error("compiling the instrumented component", e))?;
    let (_, init) = component
        .get_export(None, INIT_EXPORT)
        .ok_or_else(|| SnapshotError(format!("no `{INIT_EXPORT}` export")))?;
    let prepare_script = match script {
        Some(_) => Some(
            component
                .get_export(None, SCRIPT_EXPORT)
                .ok_or_else(|| SnapshotError(format!("no `{SCRIPT_EXPORT}` export")))?
                .1,
        ),
        None => None,
    };

    // The instance takes a pool slot like a call: wait for one.
    let _slot = slot(runtime)?;
    let _ticking = runtime.ticker.enter();
    let mut store = Store::new(
        engine,
        CallState::new(
            INIT_MEMORY.min(runtime.config().max_memory_bytes),
            runtime.config().output_capture_bytes,
        ),
    );
    store.limiter(|state| &mut state.limiter);
    let _ = store.set_fuel(INIT_FUEL);
    let deadline = Instant::now() + INIT_TIMEOUT;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        Ok(if Instant::now() >= deadline {
            UpdateDeadline::Interrupt
        } else {
            UpdateDeadline::Continue(1)
        })
    });

    block_on(deadline, async {
        let instance = runtime
            .linker()
            .instantiate_async(&mut store, &component)
            .await
            .map_err(|e| error("instantiating", e))?;
        let func = instance
            .get_func(&mut store, init)
            .ok_or_else(|| SnapshotError(format!("`{INIT_EXPORT}` is not a function")))?;
        func.call_async(&mut store, &[], &mut [])
            .await
            .map_err(|e| error(&format!("`{INIT_EXPORT}` failed"), format!("{e:#}")))?;
        if let (Some(index), Some((name, source))) = (prepare_script, script) {
            let func = instance
                .get_typed_func::<(&str, &str), (Result<(), String>,)>(&mut store, index)
                .map_err(|e| error(&format!("`{SCRIPT_EXPORT}`"), format!("{e:#}")))?;
            let (ran,) = func
                .call_async(&mut store, (name, source))
                .await
                .map_err(|e| error(&format!("`{SCRIPT_EXPORT}` failed"), format!("{e:#}")))?;
            ran.map_err(|message| error("the script's top-level code failed", message))?;
        }
        let mut state = Instantiated {
            store: &mut store,
            instance,
            failed: None,
        };
        let snapshot = wizer
            .snapshot_component(&cx, &mut state)
            .await
            .map_err(|e| error("taking the snapshot", e))?;
        match state.failed {
            Some(why) => Err(SnapshotError(why)),
            None => Ok(Some(snapshot)),
        }
    })
}

/// Drives a future on the current thread until `deadline`. Wasmtime's async
/// calls here only suspend to yield, so polling again soon is all they need;
/// the deadline also ends an initializer blocked in a host call (a WASI
/// sleep), which the epoch deadline cannot reach.
fn block_on<T, F: Future<Output = Result<T, SnapshotError>>>(
    deadline: Instant,
    future: F,
) -> Result<T, SnapshotError> {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        if Instant::now() >= deadline {
            return Err(SnapshotError(format!(
                "`{INIT_EXPORT}` did not finish within {INIT_TIMEOUT:?}"
            )));
        }
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// A pool slot for the initializer's instance, waited for like a call's.
fn slot(runtime: &Runtime) -> Result<tokio::sync::SemaphorePermit<'_>, SnapshotError> {
    let deadline = Instant::now() + SLOT_WAIT;
    loop {
        match runtime.slots().try_acquire() {
            Ok(permit) => return Ok(permit),
            Err(tokio::sync::TryAcquireError::Closed) => {
                return Err(SnapshotError("the runtime is shutting down".into()));
            }
            Err(tokio::sync::TryAcquireError::NoPermits) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                return Err(SnapshotError(
                    "no free plugin slot to run the initializer in".into(),
                ));
            }
        }
    }
}

/// How long the initializer waits for a free pool slot.
const SLOT_WAIT: Duration = Duration::from_secs(30);

/// How Wizer reads the initialized instance's state: through accessor
/// functions its instrumentation exported (after wasmtime-wizer's own
/// `WasmtimeWizerComponent`, which needs wasmtime features we leave out).
struct Instantiated<'a> {
    store: &'a mut Store<CallState>,
    instance: Instance,
    failed: Option<String>,
}

impl Instantiated<'_> {
    /// Calls `instance#func`, a `func() -> R` the instrumentation added.
    /// Wizer's interface has no way to fail, so a failure is recorded (and
    /// fails the snapshot afterwards) and a default value returned.
    async fn call<R, T: Default>(
        &mut self,
        instance: &str,
        func: &str,
        use_result: impl FnOnce(&Store<CallState>, R) -> T,
    ) -> T
    where
        R: Lift + Send + Sync + 'static,
    {
        match self.try_call(instance, func).await {
            Ok(result) => use_result(self.store, result),
            Err(e) => {
                self.failed
                    .get_or_insert_with(|| format!("reading {instance}#{func}: {e}"));
                T::default()
            }
        }
    }

    async fn try_call<R>(&mut self, instance: &str, func: &str) -> Result<R, String>
    where
        R: Lift + Send + Sync + 'static,
    {
        let store = &mut *self.store;
        let (_, parent) = self
            .instance
            .get_export(&mut *store, None, instance)
            .ok_or("no such instance")?;
        let (_, index) = self
            .instance
            .get_export(&mut *store, Some(&parent), func)
            .ok_or("no such function")?;
        let typed = self
            .instance
            .get_typed_func::<(), (R,)>(&mut *store, index)
            .map_err(|e| format!("{e:#}"))?;
        let (result,) = typed
            .call_async(&mut *store, ())
            .await
            .map_err(|e| format!("{e:#}"))?;
        Ok(result)
    }
}

impl ComponentInstanceState for Instantiated<'_> {
    async fn call_func_ret_list_u8(
        &mut self,
        instance: &str,
        func: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) {
        self.call(instance, func, |store, list: WasmList<u8>| {
            contents(list.as_le_slice(store));
        })
        .await
    }

    async fn call_func_ret_s32(&mut self, instance: &str, func: &str) -> i32 {
        self.call(instance, func, |_, value: i32| value).await
    }

    async fn call_func_ret_s64(&mut self, instance: &str, func: &str) -> i64 {
        self.call(instance, func, |_, value: i64| value).await
    }

    async fn call_func_ret_f32(&mut self, instance: &str, func: &str) -> u32 {
        self.call(instance, func, |_, value: f32| value.to_bits())
            .await
    }

    async fn call_func_ret_f64(&mut self, instance: &str, func: &str) -> u64 {
        self.call(instance, func, |_, value: f64| value.to_bits())
            .await
    }
}
