//! Caches compiled plugins on disk, keyed by the wasm's hash and the engine's
//! configuration, so a restart loads plugins in milliseconds instead of
//! compiling them again.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use wasmtime::Engine;
use wasmtime::component::Component;

use super::LoadError;

/// What is compiled for a plugin's bytes, and whether to cache it.
pub struct Prepared<'w> {
    pub wasm: Cow<'w, [u8]>,
    pub cache: bool,
}

pub struct ArtifactCache {
    dir: PathBuf,
}

/// Where a compiled component came from, for logs and for the benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
    Disabled,
}

impl ArtifactCache {
    pub fn new(dir: PathBuf) -> Self {
        ArtifactCache { dir }
    }

    /// The cached artifact for `wasm` (whose sha256 is `wasm_hash`), compiling
    /// and storing it on a miss. On a miss `prepare` turns the wasm into what
    /// is compiled (the pre-initialized snapshot, see `snapshot.rs`), so the
    /// cache holds the prepared form — unless `prepare` says its result is
    /// a fallback not to keep (a snapshot that failed this time). A cache
    /// that cannot be read or written only costs time: the component is
    /// compiled in memory instead.
    pub fn load_or_compile<'w>(
        &self,
        engine: &Engine,
        wasm: &'w [u8],
        wasm_hash: &str,
        prepare: impl FnOnce(&'w [u8]) -> Result<Prepared<'w>, LoadError>,
    ) -> Result<(Component, CacheStatus), LoadError> {
        let path = self
            .dir
            .join(format!("{wasm_hash}-{:016x}.cwasm", engine_hash(engine)));
        if path.is_file() {
            // SAFETY: the file was written by `store` below, from
            // `Engine::precompile_component`, into a directory that only this
            // user can write (created 0700). Wasmtime also checks that the
            // artifact matches this engine's version and settings and fails
            // instead of loading a mismatched one.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => {
                    // Marks it recently used, for `trim`.
                    let _ = std::fs::File::options()
                        .write(true)
                        .open(&path)
                        .and_then(|f| f.set_modified(SystemTime::now()));
                    return Ok((component, CacheStatus::Hit));
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), "ignoring an unusable cached plugin: {e:#}")
                }
            }
        }
        let prepared = prepare(wasm)?;
        let compiled = engine
            .precompile_component(&prepared.wasm)
            .map_err(|e| LoadError::Compile(format!("{e:#}")));
        crate::heap::release_free_memory();
        let compiled = compiled?;
        if !prepared.cache {
            // SAFETY: as below.
            let component = unsafe { Component::deserialize(engine, &compiled) }
                .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
            return Ok((component, CacheStatus::Miss));
        }
        if let Err(e) = self.store(&path, &compiled) {
            tracing::warn!(dir = %self.dir.display(), "could not cache a compiled plugin: {e}");
        }
        // SAFETY: `compiled` was produced by `precompile_component` on this
        // very engine a moment ago.
        let component = unsafe { Component::deserialize(engine, &compiled) }
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        Ok((component, CacheStatus::Miss))
    }

    fn store(&self, path: &Path, compiled: &[u8]) -> std::io::Result<()> {
        create_private_dir(&self.dir)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, compiled)?;
        std::fs::rename(&tmp, path)?;
        self.trim(MAX_BYTES, MAX_AGE);
        Ok(())
    }

    /// Removes artifacts unused for `max_age`, then the least recently used
    /// ones until the rest fit in `max_bytes`: every edit of a JavaScript
    /// handler leaves a compiled snapshot (~20 MB) that nothing loads again.
    /// Returns how many files were removed.
    pub fn trim(&self, max_bytes: u64, max_age: Duration) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut files: Vec<(SystemTime, u64, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some((meta.modified().ok()?, meta.len(), e.path()))
            })
            .collect();
        files.sort_by_key(|(modified, _, _)| std::cmp::Reverse(*modified));
        let now = SystemTime::now();
        let mut kept = 0u64;
        let mut removed = 0;
        for (modified, len, path) in files {
            let old = now.duration_since(modified).unwrap_or_default() > max_age;
            if old || kept + len > max_bytes {
                if std::fs::remove_file(&path).is_ok() {
                    removed += 1;
                }
            } else {
                kept += len;
            }
        }
        removed
    }
}

/// Compiles without a cache.
pub fn compile<'w>(
    engine: &Engine,
    wasm: &'w [u8],
    prepare: impl FnOnce(&'w [u8]) -> Result<Prepared<'w>, LoadError>,
) -> Result<Component, LoadError> {
    let component = Component::new(engine, &prepare(wasm)?.wasm)
        .map_err(|e| LoadError::Compile(format!("{e:#}")));
    crate::heap::release_free_memory();
    component
}

/// The compiled-artifact cache is kept under this size...
const MAX_BYTES: u64 = 1 << 30;
/// ...and artifacts unused this long are removed.
const MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Bumped when what `prepare` does to a plugin changes (2: snapshots of
/// `wizer-initialize`), so artifacts prepared the old way are not reused.
const PREPARE_VERSION: u32 = 2;

/// A stable digest of everything in the engine that makes an artifact
/// incompatible: wasmtime's version, target and compilation settings, and
/// how plugins are prepared.
fn engine_hash(engine: &Engine) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    PREPARE_VERSION.hash(&mut hasher);
    hasher.finish()
}

/// Creates `dir` (and parents) readable and writable by the owner only.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_drops_old_artifacts_then_the_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let day = Duration::from_secs(24 * 3600);
        for (name, age_days, len) in [
            ("new.cwasm", 0, 400),
            ("recent.cwasm", 1, 400),
            ("older.cwasm", 2, 400),
            ("ancient.cwasm", 40, 10),
            ("other.txt", 40, 10),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, vec![0u8; len]).unwrap();
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(now - day * age_days)
                .unwrap();
        }
        let cache = ArtifactCache::new(dir.path().to_path_buf());
        assert_eq!(cache.trim(1000, day * 30), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["new.cwasm", "other.txt", "recent.cwasm"]);
    }
}
