//! A private PostgreSQL server for tests and benchmarks: `initdb` and
//! `pg_ctl` from the machine's PostgreSQL (Debian's `postgresql` package)
//! in a temporary directory, on a free port, as an unprivileged user when
//! run as root (PostgreSQL refuses root). Stopped and removed on drop.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Set to `required` to make a missing PostgreSQL a failure, not a skip.
pub const REQUIRED_VAR: &str = "HOOKWASM_TEST_POSTGRES";

pub struct TestDb {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    user: Option<(u32, u32)>,
}

impl TestDb {
    /// Starts a server; `Ok(None)` (with the reason printed) when this
    /// machine has no PostgreSQL, unless `HOOKWASM_TEST_POSTGRES=required`.
    pub fn start() -> Result<Option<TestDb>, String> {
        let Some(bin) = find_bin() else {
            let why = "no PostgreSQL server binaries (initdb, pg_ctl) found: install Debian's postgresql package";
            if std::env::var(REQUIRED_VAR).as_deref() == Ok("required") {
                return Err(format!("{why} ({REQUIRED_VAR}=required)"));
            }
            eprintln!("skipping the PostgreSQL test: {why}");
            return Ok(None);
        };
        let user =
            if unsafe { libc::geteuid() } == 0 {
                Some(nobody().ok_or(
                    "running as root, and there is no user \"nobody\" to run PostgreSQL as",
                )?)
            } else {
                None
            };
        let dir = std::env::temp_dir().join(format!(
            "hookwasm-pg-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        if let Some((uid, gid)) = user {
            chown(&dir, uid, gid)?;
        }
        let db = TestDb {
            dir,
            bin,
            port: free_port()?,
            user,
        };
        db.run(
            "initdb",
            &[
                "-D",
                &db.data().display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        db.start_server()?;
        Ok(Some(db))
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let mut command = Command::new(self.bin.join(tool));
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("LC_ALL", "C");
        if let Some((uid, gid)) = self.user {
            command.uid(uid).gid(gid);
        }
        let out = command
            .output()
            .map_err(|e| format!("running {tool}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }

    /// Starts (or starts again) the server, with fsync on, and waits until
    /// it takes connections.
    pub fn start_server(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200",
            self.port,
            self.dir.display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-l",
                &self.dir.join("server.log").display().to_string(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
    }

    /// Restarts the server with TLS on, presenting `cert_pem` (and its
    /// `key_pem`).
    pub fn enable_tls(&self, cert_pem: &str, key_pem: &str) -> Result<(), String> {
        let data = self.data();
        for (name, text) in [("server.crt", cert_pem), ("server.key", key_pem)] {
            let path = data.join(name);
            std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
            // PostgreSQL refuses a key others can read.
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| format!("chmod {}: {e}", path.display()))?;
            if let Some((uid, gid)) = self.user {
                chown(&path, uid, gid)?;
            }
        }
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf)
            .map_err(|e| format!("reading {}: {e}", conf.display()))?;
        text.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        std::fs::write(&conf, text).map_err(|e| format!("writing {}: {e}", conf.display()))?;
        self.stop_server()?;
        self.start_server()
    }

    /// Stops the server at once (`immediate`: as a crash would).
    pub fn stop_server(&self) -> Result<(), String> {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        )
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `postgres` as the superuser.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The server's log so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = self.stop_server();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The directory with `initdb` and `pg_ctl`: Debian keeps them out of
/// `PATH`, under /usr/lib/postgresql/<version>/bin.
fn find_bin() -> Option<PathBuf> {
    let has = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Ok(dir) = std::env::var("HOOKWASM_PG_BIN") {
        return Some(PathBuf::from(dir)).filter(|d| has(d));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|d| has(d))
        .collect();
    versions.sort();
    if let Some(newest) = versions.pop() {
        return Some(newest);
    }
    std::env::var_os("PATH").and_then(|path| std::env::split_paths(&path).find(|d| has(d)))
}

fn nobody() -> Option<(u32, u32)> {
    let name = std::ffi::CString::new("nobody").ok()?;
    // SAFETY: getpwnam returns a pointer into static storage or null; the
    // fields are read at once, before any other call could reuse it.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return None;
    }
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    Some((uid, gid))
}

fn chown(path: &Path, uid: u32, gid: u32) -> Result<(), String> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .map_err(|e| format!("chown {}: {e}", path.display()))
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}
