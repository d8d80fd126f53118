//! One server per data directory: an exclusive lock on `hookwasm.pid`, held
//! for the life of the process, so a second `hookwasm serve` on the same
//! directory is refused with the first one's pid instead of sled's raw
//! `WouldBlock`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::runtime::cache::create_private_dir;

/// The lock file's name in the data directory.
pub const PID_FILE: &str = "hookwasm.pid";

/// Held while the server runs; the kernel releases the lock when the process
/// exits, however it exits (`kill -9` included), so a stale file never
/// blocks a restart.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another hookwasm{pid} is using the data directory {dir}; stop it, or give this one another [server] data_dir"
    )]
    Busy { dir: String, pid: String },
    #[error("cannot lock the data directory {dir}: {error}")]
    Io { dir: String, error: std::io::Error },
}

impl LockError {
    fn io(dir: &Path, error: std::io::Error) -> LockError {
        LockError::Io {
            dir: dir.display().to_string(),
            error,
        }
    }
}

/// Creates `dir` (owner-only) if needed and takes its lock, writing this
/// process's pid into the lock file.
pub fn lock(dir: &Path) -> Result<DataDirLock, LockError> {
    create_private_dir(dir).map_err(|e| LockError::io(dir, e))?;
    let path = dir.join(PID_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| LockError::io(dir, e))?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let error = std::io::Error::last_os_error();
        if error.kind() == std::io::ErrorKind::WouldBlock {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let pid = text.trim();
            let pid = if !pid.is_empty() && pid.chars().all(|c| c.is_ascii_digit()) {
                format!(" (pid {pid})")
            } else {
                String::new()
            };
            return Err(LockError::Busy {
                dir: dir.display().to_string(),
                pid,
            });
        }
        return Err(LockError::io(dir, error));
    }
    let write = (|| {
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())
    })();
    write.map_err(|e| LockError::io(dir, e))?;
    Ok(DataDirLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_dir_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path()).unwrap();
        let pid = std::fs::read_to_string(&first.path).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());
        // flock locks belong to the open file description: a second open in
        // the same process conflicts like another process would.
        let err = lock(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("another hookwasm (pid {})", std::process::id())),
            "{err}"
        );
        drop(first);
        lock(dir.path()).unwrap();
    }
}
