//! Caches compiled plugins on disk, keyed by the wasm's hash and the engine's
//! configuration, so a restart loads plugins in milliseconds instead of
//! compiling them again.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

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
                Ok(component) => return Ok((component, CacheStatus::Hit)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "ignoring an unusable cached plugin: {e:#}")
                }
            }
        }
        let prepared = prepare(wasm)?;
        let compiled = engine
            .precompile_component(&prepared.wasm)
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
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
        std::fs::rename(&tmp, path)
    }
}

/// Compiles without a cache.
pub fn compile<'w>(
    engine: &Engine,
    wasm: &'w [u8],
    prepare: impl FnOnce(&'w [u8]) -> Result<Prepared<'w>, LoadError>,
) -> Result<Component, LoadError> {
    Component::new(engine, &prepare(wasm)?.wasm).map_err(|e| LoadError::Compile(format!("{e:#}")))
}

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
