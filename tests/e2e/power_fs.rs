//! A test-only file system that simulates a power cut, LazyFS-style: a FUSE
//! pass-through (the `fuser` crate, mounted in the test process on a
//! background thread) over a backing directory that holds exactly what a
//! disk would still hold after the power went out.
//!
//! - File data written but not yet `fsync`/`fdatasync`'d (both reach the
//!   FUSE `fsync` op) stays in memory, served to reads as an OS page cache
//!   would. Size changes (truncate, extension) are data too. A sync writes
//!   the file's pending data and its size to the backing file and fsyncs it
//!   there. `sync_file_range` reaches no FUSE op at all, so it makes nothing
//!   durable (nor does it on a real disk).
//! - Namespace operations (create, mkdir, rename, unlink, rmdir), in
//!   [`Mode::Ordered`], reach the backing directory at once: like LazyFS and
//!   a journaling file system's ordered mode, a renamed file whose data was
//!   never synced is there after a cut, with 0 bytes. In [`Mode::Strict`]
//!   they are pending too until an `fsync` of the directory (FUSE
//!   `fsyncdir`); a rename becomes durable, in one piece, when either of its
//!   directories is synced.
//! - [`PowerCut::drop_unsynced`] discards everything not yet synced.
//!
//! Entry and attribute TTLs are 0, the kernel's writeback cache is off and
//! no open keeps the kernel's page cache (no `FOPEN_KEEP_CACHE`), so after a
//! drop the kernel serves nothing stale to a process that opens the file.
//!
//! Mounting needs `/dev/fuse` and root (the pure-Rust mount calls mount(2)
//! itself; no libfuse, no `fusermount3`). Where it is refused, the tests say
//! why and pass, unless `HOOKWASM_TEST_POWER_CUT=required`.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, BsdFileFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags,
    Generation, INodeNo, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
    WriteFlags,
};

/// When namespace operations become durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// At once (LazyFS, ext4 `data=ordered`): only file data is lost.
    Ordered,
    /// When the parent directory is fsynced.
    Strict,
}

const PAGE: u64 = 4096;
const TTL: Duration = Duration::ZERO;
const ROOT: u64 = 1;

type Ino = u64;

/// Where an inode's durable object is: at a name in a directory's durable
/// entries, or (synced but reachable by no durable name) in `orphans/`,
/// which a cut empties, as fsck would.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Loc {
    Named(Ino, OsString),
    Orphan,
}

/// A file's pending (unsynced) state: its visible size, the prefix of the
/// backing file that is still valid (a truncation since the last sync cuts
/// it), and the written pages.
struct Overlay {
    size: u64,
    base_len: u64,
    pages: BTreeMap<u64, Box<[u8]>>,
}

struct Node {
    dir: bool,
    perm: u16,
    uid: u32,
    gid: u32,
    atime: SystemTime,
    mtime: SystemTime,
    ctime: SystemTime,
    /// Visible parent and name; `None` once unlinked.
    parent: Option<(Ino, OsString)>,
    /// Directories: the visible entries, and those the backing dir holds.
    entries: BTreeMap<OsString, Ino>,
    durable: BTreeMap<OsString, Ino>,
    /// The durable object, if the inode has one yet.
    loc: Option<Loc>,
    /// Files: the backing object's length (this file system is its only
    /// writer), an open handle on it, the pending state, open count.
    durable_len: u64,
    file: Option<File>,
    overlay: Option<Overlay>,
    opens: u32,
}

impl Node {
    fn new(dir: bool, perm: u16, uid: u32, gid: u32) -> Node {
        let now = SystemTime::now();
        Node {
            dir,
            perm,
            uid,
            gid,
            atime: now,
            mtime: now,
            ctime: now,
            parent: None,
            entries: BTreeMap::new(),
            durable: BTreeMap::new(),
            loc: None,
            durable_len: 0,
            file: None,
            overlay: None,
            opens: 0,
        }
    }

    fn size(&self) -> u64 {
        self.overlay.as_ref().map_or(self.durable_len, |o| o.size)
    }
}

/// What a path saw, for the report of what the store does with its files.
#[derive(Default, Clone, Debug)]
pub struct Activity {
    pub writes: u64,
    pub bytes: u64,
    pub fsyncs: u64,
    pub fdatasyncs: u64,
    pub truncates: u64,
    pub creates: u64,
    pub renamed_to: u64,
    pub unlinks: u64,
    pub fsyncdirs: u64,
}

struct State {
    mode: Mode,
    /// The backing directory (the durable tree) and the orphans' folder.
    root: PathBuf,
    orphans: PathBuf,
    nodes: HashMap<Ino, Node>,
    next_ino: Ino,
    activity: BTreeMap<String, Activity>,
    cuts: usize,
    /// Between a cut and the restart: what the stopped processes still had
    /// in flight fails instead of landing on the state after the cut.
    power_out: bool,
}

fn errno(e: io::Error) -> Errno {
    match e.raw_os_error() {
        Some(_) => Errno::from(e),
        None => Errno::EIO,
    }
}

impl State {
    fn new(mode: Mode, root: PathBuf, orphans: PathBuf) -> io::Result<State> {
        let meta = std::fs::metadata(&root)?;
        let mut top = Node::new(true, (meta.mode() & 0o7777) as u16, meta.uid(), meta.gid());
        top.loc = Some(Loc::Named(ROOT, OsString::new()));
        let mut state = State {
            mode,
            root: root.clone(),
            orphans,
            nodes: HashMap::from([(ROOT, top)]),
            next_ino: ROOT + 1,
            activity: BTreeMap::new(),
            cuts: 0,
            power_out: false,
        };
        state.scan(ROOT, &root)?;
        Ok(state)
    }

    /// Loads what the backing directory already holds.
    fn scan(&mut self, dir: Ino, path: &Path) -> io::Result<()> {
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if !meta.is_dir() && !meta.is_file() {
                continue;
            }
            let ino = self.next_ino;
            self.next_ino += 1;
            let name = entry.file_name();
            let mut node = Node::new(
                meta.is_dir(),
                (meta.mode() & 0o7777) as u16,
                meta.uid(),
                meta.gid(),
            );
            node.mtime = meta.modified().unwrap_or(node.mtime);
            node.durable_len = if meta.is_file() { meta.len() } else { 0 };
            node.parent = Some((dir, name.clone()));
            node.loc = Some(Loc::Named(dir, name.clone()));
            self.nodes.insert(ino, node);
            let parent = self.nodes.get_mut(&dir).unwrap();
            parent.entries.insert(name.clone(), ino);
            parent.durable.insert(name, ino);
            if meta.is_dir() {
                self.scan(ino, &entry.path())?;
            }
        }
        Ok(())
    }

    fn node(&self, ino: Ino) -> Result<&Node, Errno> {
        self.nodes.get(&ino).ok_or(Errno::ENOENT)
    }

    fn node_mut(&mut self, ino: Ino) -> Result<&mut Node, Errno> {
        self.nodes.get_mut(&ino).ok_or(Errno::ENOENT)
    }

    fn dir(&self, ino: Ino) -> Result<&Node, Errno> {
        let node = self.node(ino)?;
        if node.dir {
            Ok(node)
        } else {
            Err(Errno::ENOTDIR)
        }
    }

    fn attr(&self, ino: Ino) -> Result<FileAttr, Errno> {
        let node = self.node(ino)?;
        let size = if node.dir { 4096 } else { node.size() };
        Ok(FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: node.atime,
            mtime: node.mtime,
            ctime: node.ctime,
            crtime: node.ctime,
            kind: if node.dir {
                FileType::Directory
            } else {
                FileType::RegularFile
            },
            perm: node.perm,
            nlink: match (node.dir, node.parent.is_some()) {
                (true, _) => 2,
                (false, true) => 1,
                (false, false) => 0,
            },
            uid: node.uid,
            gid: node.gid,
            rdev: 0,
            blksize: PAGE as u32,
            flags: 0,
        })
    }

    /// The visible path, for the activity report (digits of long names
    /// folded: `snap.*`, blob ids, cache hashes).
    fn vpath(&self, ino: Ino) -> String {
        let mut parts = Vec::new();
        let mut at = ino;
        while at != ROOT {
            let Some((parent, name)) = self.nodes.get(&at).and_then(|n| n.parent.clone()) else {
                parts.push("<unlinked>".to_string());
                break;
            };
            parts.push(fold(&name.to_string_lossy()));
            at = parent;
        }
        parts.reverse();
        parts.join("/")
    }

    fn note(&mut self, ino: Ino, f: impl FnOnce(&mut Activity)) {
        let path = self.vpath(ino);
        f(self.activity.entry(path).or_default());
    }

    /// The backing path of an inode's durable object.
    fn obj_path(&self, ino: Ino) -> Option<PathBuf> {
        if ino == ROOT {
            return Some(self.root.clone());
        }
        match self.nodes.get(&ino)?.loc.as_ref()? {
            Loc::Orphan => Some(self.orphans.join(ino.to_string())),
            Loc::Named(parent, name) => Some(self.obj_path(*parent)?.join(name)),
        }
    }

    /// An open handle on a file's backing object.
    fn backing(&mut self, ino: Ino) -> io::Result<&File> {
        if self.nodes[&ino].file.is_none() {
            let path = self
                .obj_path(ino)
                .ok_or_else(|| io::Error::from_raw_os_error(libc::EIO))?;
            let file = File::options().read(true).write(true).open(path)?;
            self.nodes.get_mut(&ino).unwrap().file = Some(file);
        }
        Ok(self.nodes[&ino].file.as_ref().unwrap())
    }

    fn alive(&self, ino: Ino) -> bool {
        ino == ROOT
            || self
                .nodes
                .get(&ino)
                .is_some_and(|n| n.parent.is_some() || n.opens > 0)
    }

    /// Gives an inode a durable object if it has none: in `orphans/`.
    fn ensure_obj(&mut self, ino: Ino) -> io::Result<()> {
        if self.nodes[&ino].loc.is_some() {
            return Ok(());
        }
        let path = self.orphans.join(ino.to_string());
        self.create_obj(ino, &path)?;
        self.nodes.get_mut(&ino).unwrap().loc = Some(Loc::Orphan);
        Ok(())
    }

    fn create_obj(&mut self, ino: Ino, path: &Path) -> io::Result<()> {
        let node = &self.nodes[&ino];
        let perm = std::fs::Permissions::from_mode(u32::from(node.perm));
        if node.dir {
            std::fs::create_dir(path)?;
        } else {
            File::create_new(path)?;
        }
        std::fs::set_permissions(path, perm)?;
        let node = self.nodes.get_mut(&ino).unwrap();
        node.durable_len = 0;
        node.file = None;
        Ok(())
    }

    /// Makes the durable entries of `dir` what its visible entries are.
    fn sync_dir(&mut self, dir: Ino) -> io::Result<()> {
        if !self.nodes.get(&dir).is_some_and(|n| n.dir) {
            return Ok(());
        }
        // A synced directory exists durably, if only in `orphans/`.
        self.ensure_obj(dir)?;
        let durable = self.nodes[&dir].durable.clone();
        for (name, ino) in durable {
            let node = &self.nodes[&dir];
            if node.entries.get(&name) != Some(&ino) && node.durable.get(&name) == Some(&ino) {
                self.unplace(dir, &name)?;
            }
        }
        let visible = self.nodes[&dir].entries.clone();
        for (name, ino) in visible {
            self.place(dir, &name, ino)?;
        }
        Ok(())
    }

    /// Puts `ino` durably at `dir/name`: moves its object there (a rename
    /// is durable in one piece), or creates an empty one.
    fn place(&mut self, dir: Ino, name: &OsStr, ino: Ino) -> io::Result<()> {
        if self.nodes[&dir].durable.get(name) == Some(&ino) {
            return Ok(());
        }
        if self.nodes[&dir].durable.contains_key(name) {
            self.unplace(dir, name)?;
        }
        self.ensure_obj(dir)?;
        let target = self.obj_path(dir).unwrap().join(name);
        match self.nodes[&ino].loc.clone() {
            Some(loc) => {
                let from = self.obj_path(ino).unwrap();
                std::fs::rename(&from, &target)?;
                if let Loc::Named(parent, old) = loc {
                    self.nodes.get_mut(&parent).unwrap().durable.remove(&old);
                }
            }
            None => self.create_obj(ino, &target)?,
        }
        self.nodes.get_mut(&ino).unwrap().loc = Some(Loc::Named(dir, name.to_owned()));
        self.nodes
            .get_mut(&dir)
            .unwrap()
            .durable
            .insert(name.to_owned(), ino);
        Ok(())
    }

    /// Takes the durable entry `dir/name` away: its inode moves to where it
    /// now is visibly (if that directory has an object), else to
    /// `orphans/` while it is still in use, else it is deleted.
    fn unplace(&mut self, dir: Ino, name: &OsStr) -> io::Result<()> {
        let ino = self.nodes[&dir].durable[name];
        if let Some((parent, new)) = self.nodes[&ino].parent.clone()
            && (parent, new.as_os_str()) != (dir, name)
            && self.nodes[&parent].loc.is_some()
        {
            return self.place(parent, &new, ino);
        }
        let from = self.obj_path(ino).unwrap();
        self.nodes.get_mut(&dir).unwrap().durable.remove(name);
        if self.alive(ino) {
            std::fs::rename(&from, self.orphans.join(ino.to_string()))?;
            self.nodes.get_mut(&ino).unwrap().loc = Some(Loc::Orphan);
        } else {
            self.delete_obj(ino, &from)?;
        }
        Ok(())
    }

    fn delete_obj(&mut self, ino: Ino, path: &Path) -> io::Result<()> {
        if self.nodes[&ino].dir {
            let children: Vec<OsString> = self.nodes[&ino].durable.keys().cloned().collect();
            for name in children {
                self.unplace(ino, &name)?;
            }
            std::fs::remove_dir(path)?;
        } else {
            std::fs::remove_file(path)?;
        }
        let node = self.nodes.get_mut(&ino).unwrap();
        node.loc = None;
        node.file = None;
        node.durable_len = 0;
        if !self.alive(ino) {
            self.nodes.remove(&ino);
        }
        Ok(())
    }

    /// A namespace change in `dirs`: durable at once in ordered mode.
    fn changed(&mut self, dirs: &[Ino]) -> io::Result<()> {
        if self.mode == Mode::Ordered {
            for dir in dirs {
                self.sync_dir(*dir)?;
            }
        }
        Ok(())
    }

    /// Forgets an inode nothing uses any more (deleting its orphaned
    /// object); one still durably named stays, as a cut brings it back.
    fn reap(&mut self, ino: Ino) -> io::Result<()> {
        if self.alive(ino) {
            return Ok(());
        }
        match self.nodes.get(&ino).map(|n| n.loc.clone()) {
            Some(Some(Loc::Orphan)) => {
                let path = self.obj_path(ino).unwrap();
                self.delete_obj(ino, &path)
            }
            Some(None) => {
                self.nodes.remove(&ino);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn overlay(&mut self, ino: Ino) -> &mut Overlay {
        let node = self.nodes.get_mut(&ino).unwrap();
        let len = node.durable_len;
        node.overlay.get_or_insert_with(|| Overlay {
            size: len,
            base_len: len,
            pages: BTreeMap::new(),
        })
    }

    fn read(&mut self, ino: Ino, offset: u64, len: u64) -> Result<Vec<u8>, Errno> {
        let node = self.node(ino)?;
        if node.dir {
            return Err(Errno::EISDIR);
        }
        let size = node.size();
        if offset >= size {
            return Ok(Vec::new());
        }
        let end = size.min(offset + len);
        let mut out = vec![0u8; (end - offset) as usize];
        let base_len = node
            .overlay
            .as_ref()
            .map_or(node.durable_len, |o| o.base_len);
        if offset < base_len {
            let n = (base_len.min(end) - offset) as usize;
            self.backing(ino)
                .and_then(|f| f.read_exact_at(&mut out[..n], offset))
                .map_err(errno)?;
        }
        if let Some(overlay) = &self.nodes[&ino].overlay {
            for (index, page) in overlay.pages.range(offset / PAGE..=(end - 1) / PAGE) {
                let start = index * PAGE;
                let from = start.max(offset);
                let to = (start + PAGE).min(end);
                out[(from - offset) as usize..(to - offset) as usize]
                    .copy_from_slice(&page[(from - start) as usize..(to - start) as usize]);
            }
        }
        Ok(out)
    }

    fn write(&mut self, ino: Ino, offset: u64, data: &[u8]) -> Result<(), Errno> {
        if self.node(ino)?.dir {
            return Err(Errno::EISDIR);
        }
        if data.is_empty() {
            return Ok(());
        }
        let end = offset + data.len() as u64;
        for index in offset / PAGE..=(end - 1) / PAGE {
            let start = index * PAGE;
            if !self.overlay(ino).pages.contains_key(&index) {
                let base_len = self.overlay(ino).base_len;
                let mut page = vec![0u8; PAGE as usize].into_boxed_slice();
                if start < base_len {
                    let n = (base_len - start).min(PAGE) as usize;
                    self.backing(ino)
                        .and_then(|f| f.read_exact_at(&mut page[..n], start))
                        .map_err(errno)?;
                }
                self.overlay(ino).pages.insert(index, page);
            }
            let page = self.overlay(ino).pages.get_mut(&index).unwrap();
            let from = start.max(offset);
            let to = (start + PAGE).min(end);
            page[(from - start) as usize..(to - start) as usize]
                .copy_from_slice(&data[(from - offset) as usize..(to - offset) as usize]);
        }
        let overlay = self.overlay(ino);
        overlay.size = overlay.size.max(end);
        let node = self.nodes.get_mut(&ino).unwrap();
        node.mtime = SystemTime::now();
        node.ctime = node.mtime;
        Ok(())
    }

    fn truncate(&mut self, ino: Ino, size: u64) -> Result<(), Errno> {
        if self.node(ino)?.dir {
            return Err(Errno::EISDIR);
        }
        let overlay = self.overlay(ino);
        if size < overlay.size {
            overlay.pages.retain(|index, _| index * PAGE < size);
            if let Some(page) = overlay.pages.get_mut(&(size / PAGE)) {
                page[(size % PAGE) as usize..].fill(0);
            }
            overlay.base_len = overlay.base_len.min(size);
        }
        overlay.size = size;
        Ok(())
    }

    /// `fsync`/`fdatasync`: the file's pending data and size reach the
    /// backing file, which is fsynced.
    fn sync_file(&mut self, ino: Ino) -> io::Result<()> {
        if self.nodes[&ino].dir {
            return self.sync_dir(ino);
        }
        self.ensure_obj(ino)?;
        let Some(overlay) = self.nodes.get_mut(&ino).unwrap().overlay.take() else {
            return self.backing(ino)?.sync_all();
        };
        let file = self.backing(ino)?;
        // The backing bytes past a truncation are gone, even if the file
        // grew again since.
        file.set_len(overlay.base_len)?;
        for (index, page) in &overlay.pages {
            let start = index * PAGE;
            if start < overlay.size {
                let n = (overlay.size - start).min(PAGE) as usize;
                file.write_all_at(&page[..n], start)?;
            }
        }
        file.set_len(overlay.size)?;
        file.sync_all()?;
        self.nodes.get_mut(&ino).unwrap().durable_len = overlay.size;
        Ok(())
    }

    /// What the OS does by itself given time: every pending name and
    /// write reaches the disk (directories from the root down, then files).
    fn writeback(&mut self) -> io::Result<()> {
        let mut dirs = vec![ROOT];
        let mut at = 0;
        while at < dirs.len() {
            let dir = dirs[at];
            at += 1;
            self.sync_dir(dir)?;
            dirs.extend(
                self.nodes[&dir]
                    .entries
                    .values()
                    .filter(|ino| self.nodes[*ino].dir),
            );
        }
        let pending: Vec<Ino> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.overlay.is_some() && n.parent.is_some())
            .map(|(ino, _)| *ino)
            .collect();
        for ino in pending {
            self.sync_file(ino)?;
        }
        Ok(())
    }

    /// The power cut: what was not synced is gone.
    fn drop_unsynced(&mut self) -> io::Result<()> {
        for node in self.nodes.values_mut() {
            node.overlay = None;
            node.opens = 0;
            node.parent = None;
            node.entries = node.durable.clone();
        }
        // What is reachable from the root by durable names survives.
        let mut reachable = vec![ROOT];
        let mut at = 0;
        while at < reachable.len() {
            let dir = reachable[at];
            at += 1;
            let children: Vec<(OsString, Ino)> = self.nodes[&dir]
                .durable
                .iter()
                .map(|(name, ino)| (name.clone(), *ino))
                .collect();
            for (name, ino) in children {
                self.nodes.get_mut(&ino).unwrap().parent = Some((dir, name));
                reachable.push(ino);
            }
        }
        let keep: std::collections::HashSet<Ino> = reachable.into_iter().collect();
        self.nodes.retain(|ino, _| keep.contains(ino));
        std::fs::remove_dir_all(&self.orphans)?;
        std::fs::create_dir(&self.orphans)?;
        self.cuts += 1;
        Ok(())
    }
}

/// Folds runs of 8 or more hex digits into `*`.
fn fold(name: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for c in name.chars().chain(std::iter::once('/')) {
        if c.is_ascii_hexdigit() {
            run.push(c);
            continue;
        }
        if run.len() >= 8 {
            out.push('*');
        } else {
            out.push_str(&run);
        }
        run.clear();
        if c != '/' {
            out.push(c);
        }
    }
    out
}

/// The FUSE side: every operation under one lock.
struct PowerCutFs(Arc<Mutex<State>>);

impl PowerCutFs {
    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state, unless the power is out: then the operation fails, as
    /// on a disk that is gone.
    fn live(&self) -> Result<MutexGuard<'_, State>, Errno> {
        let state = self.state();
        if state.power_out {
            return Err(Errno::EIO);
        }
        Ok(state)
    }
}

fn new_node(state: &mut State, req: &Request, dir: bool, mode: u32, umask: u32) -> Ino {
    let ino = state.next_ino;
    state.next_ino += 1;
    let perm = (mode & !umask & 0o7777) as u16;
    state
        .nodes
        .insert(ino, Node::new(dir, perm, req.uid(), req.gid()));
    ino
}

/// Adds a new node to `parent` as `name`.
fn link(state: &mut State, parent: Ino, name: &OsStr, ino: Ino) -> Result<(), Errno> {
    state.nodes.get_mut(&ino).unwrap().parent = Some((parent, name.to_owned()));
    state
        .nodes
        .get_mut(&parent)
        .unwrap()
        .entries
        .insert(name.to_owned(), ino);
    state.changed(&[parent]).map_err(errno)?;
    state.note(ino, |a| a.creates += 1);
    Ok(())
}

impl Filesystem for PowerCutFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let state = match self.live() {
            Ok(state) => state,
            Err(e) => return reply.error(e),
        };
        let found = state
            .dir(parent.0)
            .and_then(|d| d.entries.get(name).copied().ok_or(Errno::ENOENT))
            .and_then(|ino| state.attr(ino));
        match found {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.live().and_then(|s| s.attr(ino.0)) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut state = match self.live() {
            Ok(state) => state,
            Err(e) => return reply.error(e),
        };
        let ino = ino.0;
        let result = (|| {
            state.node(ino)?;
            if let Some(size) = size {
                state.truncate(ino, size)?;
                state.note(ino, |a| a.truncates += 1);
            }
            // Metadata is not modelled as pending: it reaches the backing
            // object (if there is one) at once.
            let path = state.obj_path(ino);
            let node = state.node_mut(ino)?;
            if let Some(mode) = mode {
                node.perm = (mode & 0o7777) as u16;
                if let Some(path) = &path {
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777))
                        .map_err(errno)?;
                }
            }
            if uid.is_some() || gid.is_some() {
                node.uid = uid.unwrap_or(node.uid);
                node.gid = gid.unwrap_or(node.gid);
                if let Some(path) = &path {
                    std::os::unix::fs::chown(path, uid, gid).map_err(errno)?;
                }
            }
            let when = |t: TimeOrNow| match t {
                TimeOrNow::SpecificTime(t) => t,
                TimeOrNow::Now => SystemTime::now(),
            };
            if let Some(t) = atime {
                node.atime = when(t);
            }
            if let Some(t) = mtime {
                node.mtime = when(t);
            }
            node.ctime = SystemTime::now();
            state.attr(ino)
        })();
        match result {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let mut state = match self.live() {
            Ok(state) => state,
            Err(e) => return reply.error(e),
        };
        let result = (|| {
            if state.dir(parent.0)?.entries.contains_key(name) {
                return Err(Errno::EEXIST);
            }
            let ino = new_node(&mut state, req, true, mode, umask);
            link(&mut state, parent.0, name, ino)?;
            state.attr(ino)
        })();
        match result {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut state = match self.live() {
            Ok(state) => state,
            Err(e) => return reply.error(e),
        };
        let result = (|| {
            let existing = state.dir(parent.0)?.entries.get(name).copied();
            let ino = match existing {
                Some(_) if flags & libc::O_EXCL != 0 => return Err(Errno::EEXIST),
                Some(ino) => {
                    if flags & libc::O_TRUNC != 0 {
                        state.truncate(ino, 0)?;
                    }
                    ino
                }
                None => {
                    let ino = new_node(&mut state, req, false, mode, umask);
                    link(&mut state, parent.0, name, ino)?;
                    ino
                }
            };
            state.node_mut(ino)?.opens += 1;
            state.attr(ino)
        })();
        match result {
            Ok(attr) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(0),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut state = match self.live() {
            Ok(state) => state,
            Err(e) => return reply.error(e),
        };
        let result = (|| {
            if flags.0 & libc::O_TRUNC != 0 && !state.node(ino.0)?.dir {
                state.truncate(ino.0, 0)?;
            }
            state.node_mut(ino.0)?.opens += 1;
            Ok(())
        })();
        match result {
            // No FOPEN_KEEP_CACHE: each open drops the kernel's cached pages.
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self
            .live()
            .and_then(|mut s| s.read(ino.0, offset, u64::from(size)))
        {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut state = match self.live() {
            Ok(state) => state,
            Err(e) => return reply.error(e),
        };
        match state.write(ino.0, offset, data) {
            Ok(()) => {
                state.note(ino.0, |a| {
                    a.writes += 1;
                    a.bytes += data.len() as u64;
                });
                reply.written(data.len() as u32)
            }
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let Ok(mut state) = self.live() else {
            return reply.ok();
        };
        if let Ok(node) = state.node_mut(ino.0) {
            node.opens = node.opens.saturating_sub(1);
            let _ = state.reap(ino.0);
        }
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut state = match self.live() {
            Ok(state) => state,
            Err(e) => return reply.error(e),
        };
        if state.node(ino.0).is_err() {
            return reply.error(Errno::ENOENT);
        }
        state.note(ino.0, |a| match datasync {
            true => a.fdatasyncs += 1,
            false => a.fsyncs += 1,
        });
        match state.sync_file(ino.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut state = match self.live() {
            Ok(state) => state,
            Err(e) => return reply.error(e),
        };
        if state.dir(ino.0).is_err() {
            return reply.error(Errno::ENOENT);
        }
        state.note(ino.0, |a| a.fsyncdirs += 1);
        let synced = state.sync_dir(ino.0).and_then(|()| {
            let path = state
                .obj_path(ino.0)
                .ok_or_else(|| io::Error::from_raw_os_error(libc::EIO))?;
            File::open(path)?.sync_all()
        });
        match synced {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.remove(parent.0, name, false) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.remove(parent.0, name, true) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        match self.rename_entry(parent.0, name, newparent.0, newname, flags) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.live().and_then(|s| s.dir(ino.0).map(|_| ())) {
            Ok(_) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let state = match self.live() {
            Ok(state) => state,
            Err(e) => return reply.error(e),
        };
        let dir = match state.dir(ino.0) {
            Ok(dir) => dir,
            Err(e) => return reply.error(e),
        };
        let up = dir.parent.as_ref().map_or(ino.0, |(p, _)| *p);
        let mut list = vec![
            (ino.0, FileType::Directory, OsString::from(".")),
            (up, FileType::Directory, OsString::from("..")),
        ];
        for (name, child) in &dir.entries {
            let kind = match state.nodes.get(child).is_some_and(|n| n.dir) {
                true => FileType::Directory,
                false => FileType::RegularFile,
            };
            list.push((*child, kind, name.clone()));
        }
        for (i, (child, kind, name)) in list.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(child), (i + 1) as u64, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let root = self.state().root.clone();
        let path = std::ffi::CString::new(root.as_os_str().as_bytes()).unwrap();
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: a valid C string and a zeroed out-struct.
        if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
            return reply.error(errno(io::Error::last_os_error()));
        }
        reply.statfs(
            st.f_blocks,
            st.f_bfree,
            st.f_bavail,
            st.f_files,
            st.f_ffree,
            st.f_bsize as u32,
            st.f_namemax as u32,
            st.f_frsize as u32,
        );
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        if mode != 0 {
            return reply.error(Errno::EOPNOTSUPP);
        }
        let mut state = match self.live() {
            Ok(state) => state,
            Err(e) => return reply.error(e),
        };
        let result = state.node(ino.0).map(Node::size).and_then(|size| {
            if offset + length > size {
                state.truncate(ino.0, offset + length)
            } else {
                Ok(())
            }
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

impl PowerCutFs {
    fn remove(&self, parent: Ino, name: &OsStr, dir: bool) -> Result<(), Errno> {
        let mut state = self.live()?;
        let ino = *state.dir(parent)?.entries.get(name).ok_or(Errno::ENOENT)?;
        let node = state.node(ino)?;
        match (dir, node.dir) {
            (true, false) => return Err(Errno::ENOTDIR),
            (false, true) => return Err(Errno::EISDIR),
            (true, true) if !node.entries.is_empty() => return Err(Errno::ENOTEMPTY),
            _ => {}
        }
        state.note(ino, |a| a.unlinks += 1);
        state.node_mut(parent)?.entries.remove(name);
        state.node_mut(ino)?.parent = None;
        state.changed(&[parent]).map_err(errno)?;
        state.reap(ino).map_err(errno)
    }

    fn rename_entry(
        &self,
        parent: Ino,
        name: &OsStr,
        newparent: Ino,
        newname: &OsStr,
        flags: RenameFlags,
    ) -> Result<(), Errno> {
        if flags.contains(RenameFlags::RENAME_EXCHANGE)
            || flags.contains(RenameFlags::RENAME_WHITEOUT)
        {
            return Err(Errno::EINVAL);
        }
        let mut state = self.live()?;
        let ino = *state.dir(parent)?.entries.get(name).ok_or(Errno::ENOENT)?;
        let target = state.dir(newparent)?.entries.get(newname).copied();
        if target == Some(ino) {
            return Ok(());
        }
        let moving_dir = state.node(ino)?.dir;
        if moving_dir {
            // Not into itself or below.
            let mut at = newparent;
            loop {
                if at == ino {
                    return Err(Errno::EINVAL);
                }
                match state.node(at)?.parent.as_ref() {
                    Some((up, _)) => at = *up,
                    None => break,
                }
            }
        }
        if let Some(old) = target {
            if flags.contains(RenameFlags::RENAME_NOREPLACE) {
                return Err(Errno::EEXIST);
            }
            let old_node = state.node(old)?;
            match (moving_dir, old_node.dir) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                (true, true) if !old_node.entries.is_empty() => return Err(Errno::ENOTEMPTY),
                _ => {}
            }
            state.node_mut(old)?.parent = None;
        }
        state.node_mut(parent)?.entries.remove(name);
        state
            .node_mut(newparent)?
            .entries
            .insert(newname.to_owned(), ino);
        state.node_mut(ino)?.parent = Some((newparent, newname.to_owned()));
        state.note(ino, |a| a.renamed_to += 1);
        state.changed(&[parent, newparent]).map_err(errno)?;
        if let Some(old) = target {
            state.reap(old).map_err(errno)?;
        }
        Ok(())
    }
}

/// A mounted power-cut file system; unmounted (lazily) when dropped.
pub struct PowerCut {
    state: Arc<Mutex<State>>,
    mountpoint: PathBuf,
    backing: PathBuf,
    session: Option<fuser::BackgroundSession>,
    _dir: tempfile::TempDir,
}

impl PowerCut {
    /// Mounts a fresh, empty one in a temporary directory.
    pub fn mount(mode: Mode) -> Result<PowerCut, String> {
        if !Path::new("/dev/fuse").exists() {
            return Err("/dev/fuse is missing".into());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (mountpoint, backing, orphans) = (
            dir.path().join("mnt"),
            dir.path().join("backing"),
            dir.path().join("orphans"),
        );
        for d in [&mountpoint, &backing, &orphans] {
            std::fs::create_dir(d).map_err(|e| e.to_string())?;
        }
        let state = Arc::new(Mutex::new(
            State::new(mode, backing.clone(), orphans).map_err(|e| e.to_string())?,
        ));
        let mut config = fuser::Config::default();
        config.mount_options = vec![
            fuser::MountOption::FSName("hookwasm-powercut".into()),
            fuser::MountOption::NoAtime,
        ];
        config.n_threads = Some(1);
        let session = fuser::spawn_mount(PowerCutFs(state.clone()), &mountpoint, &config)
            .map_err(|e| format!("the FUSE mount was refused: {e}"))?;
        let mounted = PowerCut {
            state,
            mountpoint,
            backing,
            session: Some(session),
            _dir: dir,
        };
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let at = mounted.mountpoint.to_string_lossy().into_owned();
        if !mountinfo
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(at.as_str()))
        {
            return Err(format!(
                "{at} is not in /proc/self/mountinfo after mounting"
            ));
        }
        Ok(mounted)
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    /// The backing directory: what the disk holds now.
    pub fn backing(&self) -> &Path {
        &self.backing
    }

    /// The power cut: everything not yet synced is discarded. Stop every
    /// process using the mount first (SIGSTOP): a power cut is not
    /// something a process gets to run after.
    pub fn drop_unsynced(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.drop_unsynced().expect("dropping the unsynced state");
    }

    /// Everything pending reaches the disk, as the OS's writeback would
    /// make it given the time (not a promise any program may rely on).
    pub fn writeback(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.writeback().expect("writing everything back");
    }

    /// A power cut of the processes `kill` ends: everything not yet synced
    /// is dropped, then operations fail (EIO) until `kill` has returned, so
    /// that nothing a stopped process still had in flight lands on what
    /// survived. Stop them first (SIGSTOP); `kill` must wait for them.
    pub fn power_cut(&self, kill: impl FnOnce()) {
        {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.drop_unsynced().expect("dropping the unsynced state");
            state.power_out = true;
        }
        kill();
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .power_out = false;
    }

    /// How many cuts so far.
    pub fn cuts(&self) -> usize {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).cuts
    }

    /// What every path saw: writes, syncs, renames…
    pub fn activity(&self) -> BTreeMap<String, Activity> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .activity
            .clone()
    }

    /// [`Self::activity`] as a table, one path a line.
    pub fn activity_report(&self) -> String {
        let mut out = String::from(
            "path: writes (bytes) fsync fdatasync fsyncdir truncate create rename-to unlink\n",
        );
        for (path, a) in self.activity() {
            out += &format!(
                "  {path}: {} ({}) {} {} {} {} {} {} {}\n",
                a.writes,
                a.bytes,
                a.fsyncs,
                a.fdatasyncs,
                a.fsyncdirs,
                a.truncates,
                a.creates,
                a.renamed_to,
                a.unlinks
            );
        }
        out
    }
}

impl Drop for PowerCut {
    fn drop(&mut self) {
        let path = std::ffi::CString::new(self.mountpoint.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid C string. Lazy: a process still using the mount
        // does not keep the test from ending.
        unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
        drop(self.session.take());
    }
}

/// A power-cut mount, or `None` (said on stderr) where FUSE mounts are not
/// possible here — a failure instead when `HOOKWASM_TEST_POWER_CUT=required`.
pub fn mount_or_skip(test: &str, mode: Mode) -> Option<PowerCut> {
    match PowerCut::mount(mode) {
        Ok(mounted) => Some(mounted),
        Err(why) => {
            let required = std::env::var("HOOKWASM_TEST_POWER_CUT").is_ok_and(|v| v == "required");
            assert!(
                !required,
                "{test}: cannot mount the power-cut file system ({why}) and HOOKWASM_TEST_POWER_CUT=required"
            );
            eprintln!(
                "skipped {test}: cannot mount the power-cut file system here ({why}; needs /dev/fuse and root)"
            );
            None
        }
    }
}

/// Its semantics, one file operation at a time.
mod semantics {
    use std::fs::{File, OpenOptions};
    use std::io::{Read, Write};
    use std::os::unix::io::AsRawFd;

    use super::*;

    fn read(path: &Path) -> Option<Vec<u8>> {
        let mut data = Vec::new();
        File::open(path).ok()?.read_to_end(&mut data).ok()?;
        Some(data)
    }

    fn mounted(test: &str, mode: Mode) -> Option<PowerCut> {
        mount_or_skip(test, mode)
    }

    #[test]
    fn written_and_not_synced_is_gone_after_a_cut() {
        let Some(fs) = mounted("written_and_not_synced_is_gone_after_a_cut", Mode::Ordered) else {
            return;
        };
        let path = fs.path().join("a");
        std::fs::write(&path, b"hello").unwrap();
        assert_eq!(read(&path).unwrap(), b"hello", "served before the cut");
        fs.drop_unsynced();
        // Ordered mode: the name is durable at once, the data is not.
        assert_eq!(read(&path).unwrap(), b"", "the data was never synced");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn written_and_synced_is_kept_fsync_or_fdatasync() {
        let Some(fs) = mounted("written_and_synced_is_kept", Mode::Ordered) else {
            return;
        };
        for (name, data_only) in [("fsync", false), ("fdatasync", true)] {
            let path = fs.path().join(name);
            let mut f = File::create(&path).unwrap();
            f.write_all(&vec![7u8; 10_000]).unwrap();
            if data_only {
                f.sync_data().unwrap();
            } else {
                f.sync_all().unwrap();
            }
            f.write_all(b"after the sync").unwrap();
            drop(f);
            fs.drop_unsynced();
            assert_eq!(read(&path).unwrap(), vec![7u8; 10_000], "{name}");
            assert_eq!(
                std::fs::read(fs.backing().join(name)).unwrap(),
                vec![7u8; 10_000],
                "{name}: the backing file holds it"
            );
        }
    }

    #[test]
    fn truncation_and_extension_are_data_too() {
        let Some(fs) = mounted("truncation_and_extension_are_data_too", Mode::Ordered) else {
            return;
        };
        let path = fs.path().join("t");
        let mut f = File::create(&path).unwrap();
        f.write_all(&[1u8; 9000]).unwrap();
        f.sync_all().unwrap();
        // Shrink, then grow again: the cut bytes read as zeros…
        f.set_len(100).unwrap();
        f.set_len(5000).unwrap();
        let mut want = vec![1u8; 100];
        want.resize(5000, 0);
        assert_eq!(read(&path).unwrap(), want);
        // …and once synced, the backing file has them as zeros too.
        f.sync_all().unwrap();
        fs.drop_unsynced();
        assert_eq!(read(&path).unwrap(), want);
        // An unsynced truncation is undone by a cut.
        f.set_len(0).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        drop(f);
        fs.drop_unsynced();
        assert_eq!(read(&path).unwrap(), want);
    }

    #[test]
    fn append_after_a_sync_loses_only_the_append() {
        let Some(fs) = mounted("append_after_a_sync_loses_only_the_append", Mode::Ordered) else {
            return;
        };
        let path = fs.path().join("log");
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"one\n").unwrap();
        f.sync_data().unwrap();
        f.write_all(b"two\n").unwrap();
        drop(f);
        assert_eq!(read(&path).unwrap(), b"one\ntwo\n");
        fs.drop_unsynced();
        assert_eq!(read(&path).unwrap(), b"one\n");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"three\n").unwrap();
        f.sync_all().unwrap();
        drop(f);
        fs.drop_unsynced();
        assert_eq!(read(&path).unwrap(), b"one\nthree\n");
    }

    #[test]
    fn a_renamed_unsynced_file_has_0_bytes_after_a_cut() {
        let Some(fs) = mounted(
            "a_renamed_unsynced_file_has_0_bytes_after_a_cut",
            Mode::Ordered,
        ) else {
            return;
        };
        // write + rename without fsync: the compiled-plugin cache's way.
        let (tmp, path) = (fs.path().join("x.tmp"), fs.path().join("x.cwasm"));
        std::fs::write(&tmp, vec![9u8; 50_000]).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        fs.drop_unsynced();
        assert!(!tmp.exists());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        // With an fsync before the rename, it is whole.
        let mut f = File::create(&tmp).unwrap();
        f.write_all(&[9u8; 50_000]).unwrap();
        f.sync_all().unwrap();
        drop(f);
        std::fs::rename(&tmp, &path).unwrap();
        fs.drop_unsynced();
        assert_eq!(read(&path).unwrap(), vec![9u8; 50_000]);
    }

    #[test]
    fn sync_file_range_does_not_make_data_durable() {
        let Some(fs) = mounted("sync_file_range_does_not_make_data_durable", Mode::Ordered) else {
            return;
        };
        let path = fs.path().join("db");
        let mut f = File::create(&path).unwrap();
        f.write_all(&[5u8; 8192]).unwrap();
        // What sled 0.34's flush does (linux, without io_uring).
        // SAFETY: an open fd, a range within the file.
        let ret = unsafe {
            libc::sync_file_range(
                f.as_raw_fd(),
                0,
                8192,
                libc::SYNC_FILE_RANGE_WAIT_BEFORE
                    | libc::SYNC_FILE_RANGE_WRITE
                    | libc::SYNC_FILE_RANGE_WAIT_AFTER,
            )
        };
        assert_eq!(ret, 0, "{}", io::Error::last_os_error());
        drop(f);
        fs.drop_unsynced();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn strict_mode_keeps_names_pending_until_the_directory_is_synced() {
        let Some(fs) = mounted("strict_mode_keeps_names_pending", Mode::Strict) else {
            return;
        };
        let dir = fs.path().join("d");
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("f");
        let mut f = File::create(&path).unwrap();
        f.write_all(b"data").unwrap();
        f.sync_all().unwrap();
        drop(f);
        // The file's data is synced, but no name of it is: all gone.
        fs.drop_unsynced();
        assert!(!dir.exists());

        std::fs::create_dir(&dir).unwrap();
        let mut f = File::create(&path).unwrap();
        f.write_all(b"data").unwrap();
        f.sync_all().unwrap();
        drop(f);
        File::open(&dir).unwrap().sync_all().unwrap();
        // d/f is durable inside d, but d is not in the root yet.
        fs.drop_unsynced();
        assert!(!dir.exists());

        std::fs::create_dir(&dir).unwrap();
        let mut f = File::create(&path).unwrap();
        f.write_all(b"data").unwrap();
        f.sync_all().unwrap();
        drop(f);
        File::open(&dir).unwrap().sync_all().unwrap();
        File::open(fs.path()).unwrap().sync_all().unwrap();
        fs.drop_unsynced();
        assert_eq!(read(&path).unwrap(), b"data");

        // An unsynced unlink and rename come back undone.
        std::fs::rename(&path, dir.join("g")).unwrap();
        std::fs::write(dir.join("h"), b"new").unwrap();
        fs.drop_unsynced();
        assert_eq!(read(&path).unwrap(), b"data");
        assert!(!dir.join("g").exists() && !dir.join("h").exists());
        std::fs::remove_file(&path).unwrap();
        fs.drop_unsynced();
        assert_eq!(read(&path).unwrap(), b"data");
    }

    #[test]
    fn nothing_lands_between_the_cut_and_the_restart() {
        let Some(fs) = mounted(
            "nothing_lands_between_the_cut_and_the_restart",
            Mode::Ordered,
        ) else {
            return;
        };
        let path = fs.path().join("late");
        std::fs::write(&path, b"before").unwrap();
        fs.power_cut(|| {
            // What a frozen process still had in flight fails.
            let late = std::fs::write(&path, b"after the cut");
            assert!(late.is_err(), "{late:?}");
        });
        assert_eq!(read(&path).unwrap(), b"");
        std::fs::write(&path, b"restarted").unwrap();
        assert_eq!(read(&path).unwrap(), b"restarted");
    }

    #[test]
    fn writeback_makes_everything_durable() {
        let Some(fs) = mounted("writeback_makes_everything_durable", Mode::Strict) else {
            return;
        };
        let path = fs.path().join("d").join("f");
        std::fs::create_dir(fs.path().join("d")).unwrap();
        std::fs::write(&path, b"written back").unwrap();
        fs.writeback();
        fs.drop_unsynced();
        assert_eq!(read(&path).unwrap(), b"written back");
    }

    #[test]
    fn strict_mode_renames_are_durable_in_one_piece() {
        let Some(fs) = mounted("strict_mode_renames_are_durable_in_one_piece", Mode::Strict) else {
            return;
        };
        let root = fs.path();
        let (a, b) = (root.join("a"), root.join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        let mut f = File::create(a.join("f")).unwrap();
        f.write_all(b"moved").unwrap();
        f.sync_all().unwrap();
        drop(f);
        for d in [&a, &b, &root.to_path_buf()] {
            File::open(d).unwrap().sync_all().unwrap();
        }
        // Moved from a to b; only a (the old parent) is synced: the file is
        // in b after the cut, not lost from both.
        std::fs::rename(a.join("f"), b.join("f")).unwrap();
        File::open(&a).unwrap().sync_all().unwrap();
        fs.drop_unsynced();
        assert!(!a.join("f").exists());
        assert_eq!(read(&b.join("f")).unwrap(), b"moved");

        // Over an existing file, synced through the new parent: replaced.
        std::fs::write(a.join("new"), b"replacement").unwrap();
        File::open(a.join("new")).unwrap().sync_all().unwrap();
        std::fs::rename(a.join("new"), b.join("f")).unwrap();
        File::open(&b).unwrap().sync_all().unwrap();
        fs.drop_unsynced();
        assert_eq!(read(&b.join("f")).unwrap(), b"replacement");
        assert!(!a.join("new").exists());
        // The backing directory holds just that.
        let names = |d: &Path| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(&fs.backing().join("a")), Vec::<String>::new());
        assert_eq!(names(&fs.backing().join("b")), vec!["f".to_string()]);
    }

    #[test]
    fn an_open_unlinked_file_stays_readable_and_mmap_works() {
        let Some(fs) = mounted("an_open_unlinked_file_stays_readable", Mode::Ordered) else {
            return;
        };
        let path = fs.path().join("u");
        let mut f = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        f.write_all(&[3u8; 20_000]).unwrap();
        f.sync_all().unwrap();
        std::fs::remove_file(&path).unwrap();
        let mut back = vec![0u8; 20_000];
        f.read_exact_at(&mut back, 0).unwrap();
        assert_eq!(back, vec![3u8; 20_000]);
        drop(f);
        assert!(!path.exists());
        // mmap (as wasmtime loads a compiled plugin) reads through the FS.
        std::fs::write(&path, vec![4u8; 10_000]).unwrap();
        let f = File::open(&path).unwrap();
        // SAFETY: a private read-only map of an open file, unmapped below.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                10_000,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                f.as_raw_fd(),
                0,
            )
        };
        assert_ne!(map, libc::MAP_FAILED);
        // SAFETY: 10 000 mapped bytes.
        let bytes = unsafe { std::slice::from_raw_parts(map as *const u8, 10_000) };
        assert!(bytes.iter().all(|b| *b == 4));
        // SAFETY: mapped above.
        unsafe { libc::munmap(map, 10_000) };
    }
}
