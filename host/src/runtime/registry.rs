//! The plugin registry: built-in plugins by name plus every `*.wasm` and
//! `*.js` in the plugins directory (name = file stem; a file overrides a
//! built-in of the same name; a `.js` file is a JavaScript handler run by the
//! built-in `js` plugin). The directory is watched: a new or changed file is compiled in
//! the background and swapped in atomically, a broken file keeps the previous
//! version, a deleted file is unloaded. Calls in flight hold an
//! `Arc<Plugin>` and finish on the version they started with.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::{Notify, mpsc};

use super::meta::{self, PluginMeta};
use super::plugin::{Script, hash_bytes};
use super::{LoadError, Plugin, PluginSource, Runtime, builtin};

/// The built-in plugin that runs JavaScript handlers.
pub const JS_ENGINE: &str = "js";

/// How long the watcher waits for a burst of file events to settle.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// A rescan also runs on this period, in case file events are lost
/// (network filesystems, inotify limits).
const RESCAN_EVERY: Duration = Duration::from_secs(10);

pub struct PluginRegistry {
    runtime: Arc<Runtime>,
    dir: Option<PathBuf>,
    state: RwLock<State>,
    changed: Notify,
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
    /// Endpoint scripts (`script = "…"`): (path, engine hash) → (modified,
    /// len, plugin); a reloaded engine or an edited file builds a new one.
    scripts: HashMap<(PathBuf, String), ScriptEntry>,
}

/// An endpoint script's plugin, with the file's (modified, len) it was built from.
type ScriptEntry = (Option<SystemTime>, u64, Arc<Plugin>);

/// A loaded plugin, as `hookwasm plugin list` and the admin API show it.
#[derive(Clone, Debug, Serialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub source: String,
    pub description: String,
    pub hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loaded_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// A JavaScript handler's own snapshot: `ready`, `building`, or `none: <why>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
}

impl PluginRegistry {
    pub fn new(runtime: Arc<Runtime>, dir: Option<PathBuf>) -> Arc<Self> {
        Arc::new(PluginRegistry {
            runtime,
            dir,
            state: RwLock::default(),
            changed: Notify::new(),
            reloads: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        })
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Loads the built-ins, then the plugins directory.
    pub async fn load_all(&self) {
        for (name, bytes) in builtin::BUILTINS {
            if self.dir_file(name).is_some_and(|p| p.is_file()) {
                continue; // the directory scan loads the override
            }
            match self.compile(name, PluginSource::BuiltIn, bytes).await {
                Ok(plugin) => self.install(plugin, None),
                Err(e) => self.fail(name, &e.to_string()),
            }
        }
        self.rescan().await;
    }

    /// The current version of `name`, if it is loaded.
    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        self.read().loaded.get(name).cloned()
    }

    /// The plugin an endpoint runs: `plugin`, or, for an endpoint with a
    /// `script`, that JavaScript file on the `plugin` engine. The script is
    /// re-read when it changes on disk (one `stat` per call), so editing it
    /// takes effect without a restart. The error says why it cannot run.
    pub fn for_endpoint(&self, plugin: &str, script: Option<&Path>) -> Result<Arc<Plugin>, String> {
        let Some(engine) = self.get(plugin) else {
            let problem = self
                .problem(plugin)
                .unwrap_or_else(|| "no such plugin".into());
            return Err(format!("plugin {plugin:?} is not loaded: {problem}"));
        };
        let Some(path) = script else {
            return Ok(engine);
        };
        let stat = std::fs::metadata(path)
            .map_err(|e| format!("cannot read the script {}: {e}", path.display()))?;
        let modified = stat.modified().ok();
        let key = (path.to_path_buf(), engine.hash().to_string());
        if let Some((m, len, cached)) = self.read().scripts.get(&key)
            && *m == modified
            && *len == stat.len()
        {
            return Ok(cached.clone());
        }
        let source = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the script {}: {e}", path.display()))?;
        let script = Script {
            name: path.display().to_string(),
            source: source.into(),
        };
        let built =
            Arc::new(engine.with_script(plugin, PluginSource::File(path.to_path_buf()), script));
        built.specialize_in_background();
        let mut state = self.write();
        state.scripts.retain(|(p, _), _| p != path);
        state
            .scripts
            .insert(key, (modified, stat.len(), built.clone()));
        Ok(built)
    }

    /// Resolves when any plugin is (re)loaded or unloaded.
    pub async fn changed(&self) {
        self.changed.notified().await
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
            })
            .collect();
        for (name, problem) in &state.problems {
            if !state.loaded.contains_key(name) {
                infos.push(PluginInfo {
                    name: name.clone(),
                    version: "-".into(),
                    source: self
                        .dir_file(name)
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    description: String::new(),
                    hash: String::new(),
                    default_url: None,
                    loaded_at: None,
                    last_error: Some(problem.clone()),
                    snapshot: None,
                });
            }
        }
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        infos
    }

    /// Brings the loaded set in line with the directory: loads new and
    /// changed files, unloads deleted ones (restoring a built-in they hid).
    pub async fn rescan(&self) {
        let Some(dir) = &self.dir else { return };
        let files = wasm_files(dir);

        for path in &files {
            let Some(name) = stem(path) else { continue };
            let Ok(stat) = std::fs::metadata(path) else {
                continue;
            };
            let modified = stat.modified().ok();
            let unchanged = self
                .read()
                .seen
                .get(path)
                .is_some_and(|(m, len, _)| *m == modified && *len == stat.len());
            if unchanged {
                continue;
            }
            let bytes = match std::fs::read(path) {
                Ok(bytes) => bytes,
                Err(e) => {
                    self.fail(&name, &format!("reading {}: {e}", path.display()));
                    continue;
                }
            };
            let hash = hash_bytes(&bytes);
            let same_bytes = self.get(&name).is_some_and(|p| p.hash() == hash);
            self.write()
                .seen
                .insert(path.clone(), (modified, stat.len(), hash));
            if same_bytes {
                continue;
            }
            if is_script(path) {
                match self.script_plugin(&name, path, bytes) {
                    Ok(plugin) => self.install(plugin, Some(path)),
                    Err(e) => self.fail(&name, &format!("{}: {e}", path.display())),
                }
                continue;
            }
            match self
                .compile(&name, PluginSource::File(path.clone()), &bytes)
                .await
            {
                Ok(plugin) => self.install(plugin, Some(path)),
                Err(e) => self.fail(&name, &format!("{}: {e}", path.display())),
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
                Some(bytes) => {
                    tracing::info!(plugin = %name, "plugin file removed; the built-in plugin is back in use");
                    match self.compile(&name, PluginSource::BuiltIn, bytes).await {
                        Ok(plugin) => self.install(plugin, None),
                        Err(e) => self.fail(&name, &e.to_string()),
                    }
                }
                None => {
                    tracing::info!(plugin = %name, "plugin file removed; plugin unloaded");
                    self.changed.notify_waiters();
                }
            }
        }
        // Problems with files that are gone no longer matter.
        let mut state = self.write();
        let live: Vec<String> = files.iter().filter_map(|p| stem(p)).collect();
        state
            .problems
            .retain(|name, _| live.contains(name) || builtin::get(name).is_some());
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
        let runtime = self.runtime.clone();
        let name = name.to_string();
        let bytes = bytes.to_vec();
        // Compiling is CPU-heavy (seconds for a large plugin): keep it off the
        // async threads, so ingest and delivery carry on meanwhile.
        tokio::task::spawn_blocking(move || runtime.load(&name, source, &bytes))
            .await
            .unwrap_or_else(|e| Err(LoadError::Compile(format!("the compile task failed: {e}"))))
    }

    fn install(&self, plugin: Plugin, path: Option<&PathBuf>) {
        let name = plugin.name().to_string();
        let plugin = Arc::new(plugin);
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
                tracing::info!(plugin = %name, file = %path.display(), took_ms, cache, "plugin file overrides the built-in plugin");
            }
            (Some(_), _) => {
                self.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(plugin = %name, hash = %plugin.hash(), took_ms, cache, "plugin reloaded");
            }
            (None, Some(path)) => {
                if builtin::get(&name).is_some() {
                    tracing::info!(plugin = %name, file = %path.display(), took_ms, cache, "plugin file overrides the built-in plugin");
                } else {
                    tracing::info!(plugin = %name, file = %path.display(), took_ms, cache, "plugin loaded");
                }
            }
            (None, None) => {
                tracing::debug!(plugin = %name, took_ms, cache, "built-in plugin loaded")
            }
        }
        self.changed.notify_waiters();
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
                    name: name.clone(),
                    version: "-".into(),
                    source: path.display().to_string(),
                    description: format!("JavaScript handler, run by the {JS_ENGINE} plugin"),
                    hash: hash_bytes(&bytes),
                    default_url: None,
                    loaded_at: None,
                    last_error: None,
                    snapshot: None,
                },
                Ok(bytes) => describe(&name, path.display().to_string(), &bytes),
                Err(e) => PluginInfo {
                    name: name.clone(),
                    version: "-".into(),
                    source: path.display().to_string(),
                    description: String::new(),
                    hash: String::new(),
                    default_url: None,
                    loaded_at: None,
                    last_error: Some(e.to_string()),
                    snapshot: None,
                },
            };
            found.insert(name, info);
        }
    }
    let mut infos: Vec<PluginInfo> = found.into_values().collect();
    infos.sort_by(|a, b| a.name.cmp(&b.name));
    infos
}

fn describe(name: &str, source: String, bytes: &[u8]) -> PluginInfo {
    let PluginMeta {
        version,
        description,
        default_url,
        ..
    } = meta::read(bytes);
    PluginInfo {
        name: name.to_string(),
        version: version.unwrap_or_else(|| "-".into()),
        source,
        description: description.unwrap_or_default(),
        hash: hash_bytes(bytes),
        default_url,
        loaded_at: None,
        last_error: None,
        snapshot: None,
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

fn is_script(path: &Path) -> bool {
    path.extension().is_some_and(|x| x == "js")
}

fn stem(path: &Path) -> Option<String> {
    path.file_stem()?.to_str().map(str::to_string)
}
