//! What makes a sled flush durable. sled 0.34's `Db::flush()` writes its
//! log buffers with `pwrite` and waits with `sync_file_range`, which starts
//! and waits for writeback of those pages but commits no metadata (the log
//! grows, so its size is metadata) and does not flush the drive's write
//! cache: after an OS crash or a power cut, an acknowledged event could be
//! gone. So after every flush the commit thread calls [`DiskSync::sync`]:
//!
//! - `fdatasync` of the log file (`db/db`), through a descriptor of our own
//!   (fsync covers the file, whichever descriptor wrote it);
//! - `fsync` of every new file in `db/blobs`, where sled writes values too
//!   large for a log segment (over ~128 KiB), one file each, never synced,
//!   and then of that directory;
//! - `fsync` of `db/` when its entries changed (sled renames a new snapshot
//!   into place and removes the old one).
//!
//! The directories are listed each time rather than watched by their
//! mtime: timestamps are coarse, and not every file system (FUSE, NFS)
//! moves a directory's mtime when an entry is added; a listing of a few
//! entries costs microseconds beside the fsync it guards.
//!
//! Once per open, the files and directories sled or we created on the way
//! (the data directory, `db/`, `db/conf`) are synced too.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

pub(super) struct DiskSync {
    log: File,
    db_dir: WatchedDir,
    blobs: WatchedDir,
    /// Blob files known to be complete and synced.
    synced_blobs: HashSet<OsString>,
    /// Blob files that appeared during a flush: synced then, perhaps before
    /// they were complete, so synced again after the next flush.
    unconfirmed: Vec<OsString>,
}

impl DiskSync {
    /// Opens what the commit thread syncs, and makes what opening the
    /// database created durable: `data_dir` (and its entry in its parent),
    /// `data_dir/db`, its `conf` and log.
    pub fn open(data_dir: &Path) -> io::Result<DiskSync> {
        let db = data_dir.join("db");
        let log = File::open(db.join("db"))?;
        log.sync_all()?;
        if let Ok(conf) = File::open(db.join("conf")) {
            conf.sync_all()?;
        }
        let blobs_path = db.join("blobs");
        // sled creates it at open; if it does not, a blob would fail to be
        // written rather than be lost, so there is nothing to sync.
        let blobs = WatchedDir::open(&blobs_path)?;
        let synced_blobs = blobs.list()?.into_iter().collect();
        let sync = DiskSync {
            log,
            db_dir: WatchedDir::open(&db)?,
            blobs,
            synced_blobs,
            unconfirmed: Vec::new(),
        };
        for file in sync.synced_blobs.iter() {
            File::open(blobs_path.join(file))?.sync_all()?;
        }
        sync.blobs.sync()?;
        sync.db_dir.sync()?;
        sync_dir(data_dir)?;
        if let Some(parent) = data_dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        Ok(sync)
    }

    /// Lists what [`DiskSync::sync`] must know from before the flush: the
    /// blobs that exist now are complete once the flush returns.
    pub fn before_flush(&mut self) -> io::Result<Vec<OsString>> {
        let mut listed = std::mem::take(&mut self.unconfirmed);
        listed.extend(self.blobs.list()?);
        Ok(listed)
    }

    /// Makes everything the flush wrote durable. `listed` is what
    /// [`DiskSync::before_flush`] returned: those blobs are complete, and
    /// once synced they are not synced again. A blob that appeared during
    /// the flush may belong to it or to the next batch (still being
    /// written), so it is synced now and again next time.
    pub fn after_flush(&mut self, listed: Vec<OsString>) -> io::Result<()> {
        self.log.sync_data()?;
        let mut synced_any = false;
        for name in listed {
            if self.synced_blobs.contains(&name) {
                continue;
            }
            if sync_file(&self.blobs.path.join(&name))? {
                synced_any = true;
            }
            self.synced_blobs.insert(name);
        }
        let now = self.blobs.list()?;
        if self.blobs.changed(&now) {
            let present: HashSet<&OsString> = now.iter().collect();
            self.synced_blobs.retain(|name| present.contains(name));
            drop(present);
            for name in now {
                if !self.synced_blobs.contains(&name) {
                    sync_file(&self.blobs.path.join(&name))?;
                    self.unconfirmed.push(name);
                }
            }
            // New entries, or removed ones.
            synced_any = true;
        }
        if synced_any {
            self.blobs.sync()?;
        }
        let entries = self.db_dir.list()?;
        if self.db_dir.changed(&entries) {
            self.db_dir.sync()?;
        }
        Ok(())
    }
}

/// Syncs a file that may have been removed meanwhile (sled removes blobs
/// it no longer needs); returns whether it was there.
fn sync_file(path: &Path) -> io::Result<bool> {
    match File::open(path) {
        Ok(file) => file.sync_all().map(|()| true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// `fsync` of a directory: makes the entries created, renamed or removed in
/// it durable.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// A directory whose entries we sync when they change.
struct WatchedDir {
    path: PathBuf,
    dir: File,
    /// Its entries at our last look (`None`: not looked yet).
    seen: Option<HashSet<OsString>>,
}

impl WatchedDir {
    fn open(path: &Path) -> io::Result<WatchedDir> {
        Ok(WatchedDir {
            path: path.to_path_buf(),
            dir: File::open(path)?,
            seen: None,
        })
    }

    /// Whether `entries` differ from those of the last call.
    fn changed(&mut self, entries: &[OsString]) -> bool {
        let now: HashSet<OsString> = entries.iter().cloned().collect();
        let changed = self.seen.as_ref() != Some(&now);
        self.seen = Some(now);
        changed
    }

    fn list(&self) -> io::Result<Vec<OsString>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.path)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                names.push(entry.file_name());
            }
        }
        Ok(names)
    }

    fn sync(&self) -> io::Result<()> {
        self.dir.sync_all()
    }
}
