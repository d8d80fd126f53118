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

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether an artifact for `wasm_hash` is stored (whole or not).
    pub fn has(&self, engine: &Engine, wasm_hash: &str) -> bool {
        self.path(engine, wasm_hash).is_file()
    }

    fn path(&self, engine: &Engine, wasm_hash: &str) -> PathBuf {
        self.dir
            .join(format!("{wasm_hash}-{:016x}.cwasm", engine_hash(engine)))
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
        let path = self.path(engine, wasm_hash);
        match verify_artifact(&path) {
            Ok(true) => {
                // SAFETY: the file was written by `store` below, from
                // `Engine::precompile_component`, into a directory that only
                // this user can write (created 0700), and its checksum
                // matches, so it is whole. Wasmtime also checks that the
                // artifact matches this engine's version and settings and
                // fails instead of loading a mismatched one. (The checksum
                // after the ELF image is outside every section it reads.)
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
            Ok(false) => {}
            // Torn or empty: a miss, rewritten below.
            Err(why) => tracing::debug!(path = %path.display(), "ignoring a cached plugin: {why}"),
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

    /// Writes the artifact with its checksum to a temporary file, syncs it,
    /// renames it into place and syncs the directory: after a crash or a
    /// power cut the cache holds the whole artifact or none of it.
    fn store(&self, path: &Path, compiled: &[u8]) -> std::io::Result<()> {
        use std::io::Write as _;
        create_private_dir(&self.dir)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(compiled)?;
        file.write_all(&checksum(compiled))?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&self.dir)?.sync_all()?;
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

/// The bytes after an artifact: its sha256, so a torn file is told from a
/// whole one.
const CHECKSUM_LEN: usize = 32;

fn checksum(bytes: &[u8]) -> [u8; CHECKSUM_LEN] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

/// Whether a whole artifact is stored at `path` (`false`: none; an error:
/// a torn one). Hashed as it is read, so a large artifact is not held in
/// memory twice.
fn verify_artifact(path: &Path) -> Result<bool, String> {
    use sha2::Digest as _;
    use std::io::Read as _;
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.to_string()),
    };
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let Some(mut body) = len.checked_sub(CHECKSUM_LEN as u64) else {
        return Err(format!("{len} bytes: too short"));
    };
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    while body > 0 {
        let want = buf.len().min(body as usize);
        file.read_exact(&mut buf[..want])
            .map_err(|e| e.to_string())?;
        hasher.update(&buf[..want]);
        body -= want as u64;
    }
    let mut stored = [0u8; CHECKSUM_LEN];
    file.read_exact(&mut stored).map_err(|e| e.to_string())?;
    if stored[..] != hasher.finalize()[..] {
        return Err("the checksum does not match: torn".into());
    }
    Ok(true)
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
/// `wizer-initialize`) or how artifacts are stored (3: a checksum after
/// each), so artifacts made the old way are not reused.
const PREPARE_VERSION: u32 = 3;

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

    /// The smallest component: the preamble alone.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    fn load(cache: &ArtifactCache, engine: &Engine) -> CacheStatus {
        let prepare = |wasm: &'static [u8]| {
            Ok(Prepared {
                wasm: Cow::Borrowed(wasm),
                cache: true,
            })
        };
        match cache.load_or_compile(engine, EMPTY_COMPONENT, "empty", prepare) {
            Ok((_, status)) => status,
            Err(e) => panic!("loading failed: {e}"),
        }
    }

    #[test]
    fn a_torn_or_empty_artifact_is_a_miss_and_is_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = ArtifactCache::new(dir.path().join("cache"));
        assert_eq!(load(&cache, &engine), CacheStatus::Miss);
        assert_eq!(load(&cache, &engine), CacheStatus::Hit);
        let artifact = std::fs::read_dir(dir.path().join("cache"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "cwasm"))
            .unwrap();
        let whole = std::fs::read(&artifact).unwrap();
        for torn in [&whole[..whole.len() / 2], &whole[..0], &whole[..10]] {
            std::fs::write(&artifact, torn).unwrap();
            assert_eq!(load(&cache, &engine), CacheStatus::Miss);
            assert_eq!(std::fs::read(&artifact).unwrap(), whole);
            assert_eq!(load(&cache, &engine), CacheStatus::Hit);
        }
        // The same length, one byte changed.
        let mut flipped = whole.clone();
        flipped[whole.len() / 3] ^= 1;
        std::fs::write(&artifact, &flipped).unwrap();
        assert_eq!(load(&cache, &engine), CacheStatus::Miss);
        // No temporary files are left behind.
        let names: Vec<String> = std::fs::read_dir(dir.path().join("cache"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

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
