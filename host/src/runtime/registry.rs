//! The plugin registry: built-in plugins by name plus every `*.wasm` and
//! `*.js` in the plugins directory (name = file stem; a file overrides a
//! built-in of the same name, loudly; a `.js` file is a JavaScript handler
//! run by the built-in `js` plugin). Built-ins are compiled only when
//! something uses them ([`PluginRegistry::ensure`]), several at once up to
//! the cores, so a fresh install is not kept waiting for engines no
//! endpoint runs. The directory is watched: a new or changed file is
//! compiled (a script checked) in the background and swapped in
//! atomically, a broken file keeps the previous version, a deleted file is
//! unloaded. Calls in flight hold an `Arc<Plugin>` and finish on the
//! version they started with.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use tokio::sync::{Semaphore, mpsc, watch};

use super::meta::{self, PluginMeta};
use super::plugin::{Script, hash_bytes};
use super::{LoadError, Plugin, PluginSource, Runtime, builtin};
pub use crate::model::PluginInfo;
use crate::model::Transformation;

pub use crate::model::JS_ENGINE;

/// How long the watcher waits for a burst of file events to settle.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// A rescan also runs on this period, in case file events are lost
/// (network filesystems, inotify limits).
const RESCAN_EVERY: Duration = Duration::from_secs(10);

pub struct PluginRegistry {
    runtime: Arc<Runtime>,
    dir: Option<PathBuf>,
    state: RwLock<State>,
    /// Bumped whenever a plugin is (re)loaded, unloaded or fails.
    changed: watch::Sender<u64>,
    /// Compiles at once: each uses several threads, so about the cores.
    compiles: Arc<Semaphore>,
    reloads: AtomicU64,
    failures: AtomicU64,
}

#[derive(Default)]
struct State {
    loaded: HashMap<String, Arc<Plugin>>,
    /// name → why its latest bytes could not be loaded.
    problems: HashMap<String, String>,
    /// file → (modified, len, sha256) of the last bytes tried, so an
    /// unchanged file is not hashed or compiled again.
    seen: HashMap<PathBuf, (Option<SystemTime>, u64, String)>,
    /// Endpoint transformations: (code sha256, engine hash) → plugin; a
    /// reloaded engine or edited code builds a new one.
    scripts: HashMap<(String, String), Arc<Plugin>>,
    /// Built-ins being compiled.
    compiling: std::collections::HashSet<String>,
}

/// Endpoint transformations kept built at most.
const MAX_SCRIPTS: usize = 256;

/// `t` on the JavaScript engine `engine`.
fn script_on(engine: &Plugin, plugin: &str, t: &Transformation) -> Plugin {
    let source = match &t.file {
        Some(path) => PluginSource::File(path.clone()),
        None => PluginSource::BuiltIn,
    };
    engine.with_script(
        plugin,
        source,
        Script {
            name: t.name.clone(),
            source: t.code.clone(),
        },
    )
}

impl PluginRegistry {
    pub fn new(runtime: Arc<Runtime>, dir: Option<PathBuf>) -> Arc<Self> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Arc::new(PluginRegistry {
            runtime,
            dir,
            state: RwLock::default(),
            changed: watch::channel(0).0,
            compiles: Arc::new(Semaphore::new(cores)),
            reloads: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        })
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Compiles `needed` (the plugins endpoints use, in that order) in the
    /// background, and loads the plugins directory; returns at once.
    pub fn start(self: &Arc<Self>, needed: &[String]) {
        // The directory's plugins count as compiling until the first scan
        // has loaded them, so endpoints using them wait instead of failing.
        if let Some(dir) = &self.dir {
            let names = wasm_files(dir)
                .iter()
                .filter_map(|p| stem(p))
                .collect::<Vec<_>>();
            self.write().compiling.extend(names);
        }
        for name in needed {
            self.ensure(name);
        }
        let registry = self.clone();
        tokio::spawn(async move { registry.rescan().await });
    }

    /// Loads every built-in and the plugins directory, and waits for them
    /// (tests; a server uses [`PluginRegistry::start`]).
    pub async fn load_all(self: &Arc<Self>) {
        for (name, _) in builtin::BUILTINS {
            self.ensure(name);
        }
        self.rescan().await;
        for (name, _) in builtin::BUILTINS {
            self.ready(name).await;
        }
    }

    /// Starts compiling the built-in `name` unless it is loaded, being
    /// compiled, or overridden by a file (which the directory scan loads).
    /// Returns whether `name` is a plugin this registry can have.
    pub fn ensure(self: &Arc<Self>, name: &str) -> bool {
        if self.dir_file(name).is_some_and(|p| p.is_file()) {
            return true;
        }
        let Some(bytes) = builtin::get(name) else {
            return self.get(name).is_some();
        };
        {
            let mut state = self.write();
            if state.loaded.contains_key(name) || !state.compiling.insert(name.to_string()) {
                return true;
            }
        }
        let registry = self.clone();
        let name = name.to_string();
        tokio::spawn(async move {
            let _slot = registry.compiles.clone().acquire_owned().await;
            let compiled = registry.compile(&name, PluginSource::BuiltIn, bytes).await;
            registry.write().compiling.remove(&name);
            match compiled {
                Ok(plugin) => registry.install(plugin, None),
                Err(e) => registry.fail(&name, &e.to_string()),
            }
        });
        true
    }

    /// Whether `name` is being compiled right now.
    pub fn is_compiling(&self, name: &str) -> bool {
        self.read().compiling.contains(name)
    }

    /// Waits until `name` is no longer being compiled (loaded, or failed).
    pub async fn ready(&self, name: &str) {
        let mut changed = self.changed.subscribe();
        while self.is_compiling(name) {
            if changed.changed().await.is_err() {
                return;
            }
        }
    }

    /// The current version of `name`, if it is loaded.
    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        self.read().loaded.get(name).cloned()
    }

    /// The plugin an endpoint runs: `plugin`, or, for an endpoint with a
    /// JavaScript transformation, that code on the `plugin` engine (built
    /// once per code and engine, then shared). The error says why it cannot
    /// run.
    pub fn for_endpoint(
        &self,
        plugin: &str,
        transformation: Option<&Transformation>,
    ) -> Result<Arc<Plugin>, String> {
        let Some(engine) = self.get(plugin) else {
            let problem = self
                .problem(plugin)
                .unwrap_or_else(|| "no such plugin".into());
            return Err(format!("plugin {plugin:?} is not loaded: {problem}"));
        };
        let Some(t) = transformation else {
            return Ok(engine);
        };
        let key = (t.sha256.clone(), engine.hash().to_string());
        if let Some(cached) = self.read().scripts.get(&key) {
            return Ok(cached.clone());
        }
        let built = Arc::new(script_on(&engine, plugin, t));
        built.specialize_in_background();
        let mut state = self.write();
        // Keep the newest few: edits leave old versions nothing runs.
        if state.scripts.len() >= MAX_SCRIPTS {
            state.scripts.clear();
        }
        state.scripts.insert(key, built.clone());
        Ok(built)
    }

    /// Checks a transformation on the `plugin` engine (compiled first if it
    /// is not yet): its top-level code runs and defines `handler`. The
    /// error has the script's name and line.
    pub async fn check_transformation(
        self: &Arc<Self>,
        plugin: &str,
        t: &Transformation,
    ) -> Result<(), String> {
        self.ensure(plugin);
        self.ready(plugin).await;
        let Some(engine) = self.get(plugin) else {
            let problem = self
                .problem(plugin)
                .unwrap_or_else(|| "no such plugin".into());
            return Err(format!("plugin {plugin:?} is not loaded: {problem}"));
        };
        let candidate = Arc::new(script_on(&engine, plugin, t));
        match candidate.script() {
            Some(script) => candidate.check_script(script).await,
            None => Ok(()),
        }
    }

    /// Resolves when any plugin is (re)loaded, unloaded or fails.
    pub async fn changed(&self) {
        let _ = self.changed.subscribe().changed().await;
    }

    fn notify_changed(&self) {
        self.changed.send_modify(|version| *version += 1);
    }

    /// The last load error for `name`, if its latest bytes were rejected.
    pub fn problem(&self, name: &str) -> Option<String> {
        self.read().problems.get(name).cloned()
    }

    pub fn reload_count(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    pub fn failure_count(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    pub fn list(&self) -> Vec<PluginInfo> {
        let state = self.read();
        let mut infos: Vec<PluginInfo> = state
            .loaded
            .values()
            .map(|p| PluginInfo {
                name: p.name().to_string(),
                version: p.version().to_string(),
                source: p.source().label(),
                description: p.meta().description.clone().unwrap_or_default(),
                hash: p.hash().to_string(),
                default_url: p.meta().default_url.clone(),
                loaded_at: Some(humantime::format_rfc3339_seconds(p.loaded_at()).to_string()),
                last_error: state.problems.get(p.name()).cloned(),
                snapshot: p.snapshot_status(),
                state: Some("ready".into()),
                form: p.meta().form.clone(),
                warning: match p.source() {
                    PluginSource::File(path) if builtin::get(p.name()).is_some() => {
                        Some(overrides_builtin(p.name(), path))
                    }
                    _ => None,
                },
            })
            .collect();
        let listed = |infos: &[PluginInfo], name: &str| infos.iter().any(|i| i.name == name);
        for (name, problem) in &state.problems {
            if !listed(&infos, name) {
                let mut info = match builtin::get(name) {
                    Some(bytes) => describe(name, "built-in".into(), bytes),
                    None => PluginInfo::unknown(
                        name,
                        self.dir_file(name)
                            .map(|p| p.display().to_string())
                            .unwrap_or_default(),
                    ),
                };
                info.last_error = Some(problem.clone());
                info.state = Some("failed".into());
                infos.push(info);
            }
        }
        for (name, bytes) in builtin::BUILTINS {
            if !listed(&infos, name) {
                let mut info = describe(name, "built-in".into(), bytes);
                info.state = Some(
                    if state.compiling.contains(*name) {
                        "compiling"
                    } else {
                        "available"
                    }
                    .into(),
                );
                infos.push(info);
            }
        }
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        // Endpoints' own JavaScript transformations, after the plugins:
        // each runs on an engine and has a snapshot state of its own.
        let mut scripts: Vec<PluginInfo> = state
            .scripts
            .values()
            .filter_map(|p| {
                let script = p.script()?;
                Some(PluginInfo {
                    name: script.name.clone(),
                    version: "-".into(),
                    source: format!("transformation on {}", p.name()),
                    description: "an endpoint's JavaScript transformation".into(),
                    hash: p.hash().to_string(),
                    loaded_at: Some(humantime::format_rfc3339_seconds(p.loaded_at()).to_string()),
                    snapshot: p.snapshot_status(),
                    state: Some("ready".into()),
                    ..PluginInfo::unknown(&script.name, String::new())
                })
            })
            .collect();
        scripts.sort_by(|a, b| a.name.cmp(&b.name));
        infos.extend(scripts);
        infos
    }

    /// Every plugin an endpoint could name — the built-ins and the plugins
    /// directory's files — described without compiling (for validation).
    pub fn available(&self) -> Vec<PluginInfo> {
        discover(self.dir.as_deref())
    }

    /// The plugins being compiled now, for readiness checks.
    pub fn compiling(&self) -> Vec<String> {
        let mut names: Vec<String> = self.read().compiling.iter().cloned().collect();
        names.sort();
        names
    }

    /// Brings the loaded set in line with the directory: loads new and
    /// changed files, unloads deleted ones (restoring a built-in they hid).
    pub async fn rescan(self: &Arc<Self>) {
        let Some(dir) = &self.dir else { return };
        let files = wasm_files(dir);

        for path in &files {
            let Some(name) = stem(path) else { continue };
            self.load_file(path, &name).await;
            if self.write().compiling.remove(&name) {
                self.notify_changed();
            }
        }

        // Files that disappeared.
        let gone: Vec<String> = {
            let state = self.read();
            state
                .loaded
                .values()
                .filter_map(|p| match p.source() {
                    PluginSource::File(path) if !files.contains(path) => Some(p.name().to_string()),
                    _ => None,
                })
                .collect()
        };
        for name in gone {
            let builtin = builtin::get(&name);
            {
                let mut state = self.write();
                state.loaded.remove(&name);
                state.problems.remove(&name);
                state.seen.retain(|path, _| files.contains(path));
            }
            match builtin {
                Some(_) => {
                    tracing::info!(plugin = %name, "plugin file removed; the built-in plugin is back in use");
                    self.ensure(&name);
                }
                None => {
                    tracing::info!(plugin = %name, "plugin file removed; plugin unloaded");
                    self.notify_changed();
                }
            }
        }
        // Problems with files that are gone no longer matter (a file's
        // problem starts with its path; a built-in's own does not).
        let mut state = self.write();
        let live: Vec<String> = files.iter().filter_map(|p| stem(p)).collect();
        let in_dir = dir.display().to_string();
        state.problems.retain(|name, problem| {
            live.contains(name) || (builtin::get(name).is_some() && !problem.starts_with(&in_dir))
        });
    }

    /// Loads (or checks and swaps in) one file of the plugins directory if
    /// it changed since it was last tried.
    async fn load_file(self: &Arc<Self>, path: &PathBuf, name: &str) {
        let name = name.to_string();
        let Ok(stat) = std::fs::metadata(path) else {
            return;
        };

        let modified = stat.modified().ok();
        let unchanged = self
            .read()
            .seen
            .get(path)
            .is_some_and(|(m, len, _)| *m == modified && *len == stat.len());
        if unchanged {
            return;
        }
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.fail(&name, &format!("reading {}: {e}", path.display()));
                return;
            }
        };
        let hash = hash_bytes(&bytes);
        let same_bytes = self.get(&name).is_some_and(|p| p.hash() == hash);
        self.write()
            .seen
            .insert(path.clone(), (modified, stat.len(), hash));
        if same_bytes {
            return;
        }
        if is_script(path) {
            self.ensure(JS_ENGINE);
            self.ready(JS_ENGINE).await;
            // Checked before it replaces anything: a script that does
            // not parse or defines no handler would fail every event.
            let checked = match self.script_plugin(&name, path, bytes) {
                Ok(plugin) => {
                    let plugin = Arc::new(plugin);
                    match plugin.script() {
                        Some(script) => plugin.check_script(script).await.map(|()| plugin),
                        None => Ok(plugin),
                    }
                }
                Err(e) => Err(e),
            };
            match checked {
                Ok(plugin) => self.install(plugin, Some(path)),
                Err(e) => self.fail(&name, &format!("{}: {e}", path.display())),
            }
            return;
        }
        match self
            .compile(&name, PluginSource::File(path.clone()), &bytes)
            .await
        {
            Ok(plugin) => self.install(plugin, Some(path)),
            Err(e) => self.fail(&name, &format!("{}: {e}", path.display())),
        }
    }

    /// Watches the plugins directory until the returned handle is dropped.
    pub fn watch(self: &Arc<Self>) -> Option<WatchHandle> {
        let dir = self.dir.clone()?;
        let (tx, mut rx) = mpsc::channel::<()>(1);
        let watcher = {
            use notify::Watcher;
            let tx = tx.clone();
            let mut watcher = match notify::recommended_watcher(move |_event| {
                let _ = tx.try_send(());
            }) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(
                        "cannot watch {}: {e}; rescanning every {RESCAN_EVERY:?}",
                        dir.display()
                    );
                    None
                }
            };
            if let Some(w) = watcher.as_mut()
                && let Err(e) = w.watch(&dir, notify::RecursiveMode::NonRecursive)
            {
                tracing::warn!(
                    "cannot watch {}: {e}; rescanning every {RESCAN_EVERY:?}",
                    dir.display()
                );
            }
            watcher
        };
        let registry = self.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    got = rx.recv() => if got.is_none() { break },
                    _ = tokio::time::sleep(RESCAN_EVERY) => {}
                }
                tokio::time::sleep(DEBOUNCE).await;
                while rx.try_recv().is_ok() {}
                registry.rescan().await;
            }
        });
        Some(WatchHandle {
            _watcher: watcher,
            task,
        })
    }

    /// The file in the plugins directory that defines `name`, if any.
    fn dir_file(&self, name: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let wasm = dir.join(format!("{name}.wasm"));
        let js = dir.join(format!("{name}.js"));
        Some(if !wasm.is_file() && js.is_file() {
            js
        } else {
            wasm
        })
    }

    /// A `.js` file in the plugins directory, run by the `js` engine.
    fn script_plugin(&self, name: &str, path: &Path, bytes: Vec<u8>) -> Result<Plugin, String> {
        if name == JS_ENGINE {
            return Err(format!(
                "{JS_ENGINE}.js would hide the JavaScript engine; rename it"
            ));
        }
        if path.with_extension("wasm").is_file() {
            return Err(format!(
                "{name}.wasm is also in the plugins directory; it is used and {name}.js is ignored"
            ));
        }
        let Some(engine) = self.get(JS_ENGINE) else {
            return Err(format!(
                "the {JS_ENGINE} plugin that runs JavaScript is not loaded"
            ));
        };
        let source = String::from_utf8(bytes).map_err(|_| "the script is not UTF-8".to_string())?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("{name}.js"));
        Ok(engine.with_script(
            name,
            PluginSource::File(path.to_path_buf()),
            Script {
                name: file_name,
                source: source.into(),
            },
        ))
    }

    async fn compile(
        &self,
        name: &str,
        source: PluginSource,
        bytes: &[u8],
    ) -> Result<Plugin, LoadError> {
        if let Some((estimate, dir)) = self.runtime.first_compile(bytes) {
            tracing::info!(plugin = %name, "{}", first_compile_message(name, estimate, &dir));
        }
        let runtime = self.runtime.clone();
        let name = name.to_string();
        let bytes = bytes.to_vec();
        // Compiling is CPU-heavy (seconds for a large plugin): keep it off the
        // async threads, so ingest and delivery carry on meanwhile.
        tokio::task::spawn_blocking(move || runtime.load(&name, source, &bytes))
            .await
            .unwrap_or_else(|e| Err(LoadError::Compile(format!("the compile task failed: {e}"))))
    }

    fn install(&self, plugin: impl Into<Arc<Plugin>>, path: Option<&PathBuf>) {
        let plugin: Arc<Plugin> = plugin.into();
        let name = plugin.name().to_string();
        plugin.specialize_in_background();
        let previous = {
            let mut state = self.write();
            state.problems.remove(&name);
            state.loaded.insert(name.clone(), plugin.clone())
        };
        if name == JS_ENGINE {
            // Also when a removed js.wasm brings the built-in back (the
            // removal unloaded the old engine first).
            self.rebuild_scripts(&plugin);
        }
        let took_ms = plugin.load_time().as_millis() as u64;
        let cache = format!("{:?}", plugin.cache_status()).to_lowercase();
        match (previous, path) {
            (Some(old), Some(path)) if *old.source() == PluginSource::BuiltIn => {
                self.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(plugin = %name, file = %path.display(), took_ms, cache, "{}", overrides_builtin(&name, path));
            }
            (Some(_), _) => {
                self.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(plugin = %name, hash = %plugin.hash(), took_ms, cache, "plugin reloaded");
            }
            (None, Some(path)) => {
                if builtin::get(&name).is_some() {
                    tracing::warn!(plugin = %name, file = %path.display(), took_ms, cache, "{}", overrides_builtin(&name, path));
                } else {
                    tracing::info!(plugin = %name, file = %path.display(), took_ms, cache, "plugin loaded");
                }
            }
            (None, None) => {
                tracing::debug!(plugin = %name, took_ms, cache, "built-in plugin loaded")
            }
        }
        self.notify_changed();
    }

    /// A new JavaScript engine: the `.js` plugins move onto it (endpoint
    /// scripts follow by themselves, keyed by the engine's hash).
    fn rebuild_scripts(&self, engine: &Arc<Plugin>) {
        let rebuilt: Vec<Arc<Plugin>> = self
            .read()
            .loaded
            .values()
            .filter_map(|p| {
                let script = p.script()?.clone();
                Some(Arc::new(engine.with_script(
                    p.name(),
                    p.source().clone(),
                    script,
                )))
            })
            .collect();
        for plugin in rebuilt {
            plugin.specialize_in_background();
            tracing::info!(plugin = %plugin.name(), "script plugin moved to the new JavaScript engine");
            self.write()
                .loaded
                .insert(plugin.name().to_string(), plugin);
        }
    }

    fn fail(&self, name: &str, problem: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let keeps = self.get(name).is_some();
        if keeps {
            tracing::warn!(plugin = %name, "plugin not reloaded, still using the previous version: {problem}");
        } else {
            tracing::warn!(plugin = %name, "plugin not loaded: {problem}");
        }
        self.write()
            .problems
            .insert(name.to_string(), problem.to_string());
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Keeps the directory watch alive.
pub struct WatchHandle {
    _watcher: Option<notify::RecommendedWatcher>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Plugins that can be found, without compiling them: what `hookwasm plugin
/// list` shows.
pub fn discover(dir: Option<&Path>) -> Vec<PluginInfo> {
    let mut found: HashMap<String, PluginInfo> = HashMap::new();
    for (name, bytes) in builtin::BUILTINS {
        found.insert(name.to_string(), describe(name, "built-in".into(), bytes));
    }
    if let Some(dir) = dir {
        for path in wasm_files(dir) {
            let Some(name) = stem(&path) else { continue };
            if is_script(&path) && found.get(&name).is_some_and(|i| i.source != "built-in") {
                continue; // a .wasm of the same name wins
            }
            let info = match std::fs::read(&path) {
                Ok(bytes) if is_script(&path) => PluginInfo {
                    description: format!("JavaScript handler, run by the {JS_ENGINE} plugin"),
                    hash: hash_bytes(&bytes),
                    ..PluginInfo::unknown(&name, path.display().to_string())
                },
                Ok(bytes) => describe(&name, path.display().to_string(), &bytes),
                Err(e) => PluginInfo {
                    last_error: Some(e.to_string()),
                    ..PluginInfo::unknown(&name, path.display().to_string())
                },
            };
            let mut info = info;
            if builtin::get(&name).is_some() {
                info.warning = Some(overrides_builtin(&name, &path));
            }
            found.insert(name, info);
        }
    }
    let mut infos: Vec<PluginInfo> = found.into_values().collect();
    infos.sort_by(|a, b| a.name.cmp(&b.name));
    infos
}

fn describe(name: &str, source: String, bytes: &[u8]) -> PluginInfo {
    if source == "built-in"
        && let Some(info) = builtin_infos().iter().find(|i| i.name == name)
    {
        return info.clone();
    }
    describe_bytes(name, source, bytes)
}

/// The built-ins' descriptions, read once: hashing the JavaScript engine
/// alone takes milliseconds, and the API lists plugins often.
fn builtin_infos() -> &'static [PluginInfo] {
    static INFOS: std::sync::OnceLock<Vec<PluginInfo>> = std::sync::OnceLock::new();
    INFOS.get_or_init(|| {
        builtin::BUILTINS
            .iter()
            .map(|(name, bytes)| describe_bytes(name, "built-in".into(), bytes))
            .collect()
    })
}

fn describe_bytes(name: &str, source: String, bytes: &[u8]) -> PluginInfo {
    let PluginMeta {
        version,
        description,
        default_url,
        form,
        ..
    } = meta::read(bytes);
    PluginInfo {
        version: version.unwrap_or_else(|| "-".into()),
        description: description.unwrap_or_default(),
        hash: hash_bytes(bytes),
        default_url,
        form,
        ..PluginInfo::unknown(name, source)
    }
}

/// `*.wasm` and `*.js` files directly in `dir`, sorted (`.js` after
/// `.wasm`, so a component is loaded before a script of the same name is
/// refused); a missing directory has none.
fn wasm_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| (p.extension().is_some_and(|x| x == "wasm") || is_script(p)) && p.is_file())
        .collect();
    files.sort_by_key(|p| (is_script(p), p.clone()));
    files
}

/// What the log (and `plugin test`) says before a long first compile, so a
/// first start does not look hung.
pub fn first_compile_message(name: &str, estimate: Duration, cache_dir: &Path) -> String {
    let what = if name == JS_ENGINE {
        "the JavaScript engine".to_string()
    } else {
        format!("plugin {name:?}")
    };
    format!(
        "compiling {what} for the first time, ~{} s; cached in {} for later starts",
        estimate.as_secs().max(1),
        cache_dir.display()
    )
}

/// The warning shown when a file in the plugins directory takes the name
/// of a built-in plugin: every endpoint using that built-in now runs it.
fn overrides_builtin(name: &str, path: &Path) -> String {
    format!(
        "{} overrides the built-in plugin {name:?}: every endpoint with plugin = {name:?} now runs this file (rename it unless that is what you want)",
        path.display()
    )
}

fn is_script(path: &Path) -> bool {
    path.extension().is_some_and(|x| x == "js")
}

fn stem(path: &Path) -> Option<String> {
    path.file_stem()?.to_str().map(str::to_string)
}
