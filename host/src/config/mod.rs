//! Reads and checks `hookwasm.toml`: `raw` is the file's shape, `expand`
//! fills in `${VAR}`s, and this module turns both into the settings the rest
//! of the host uses, reporting every problem with the file, key and reason.

mod expand;
mod raw;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use expand::{ExpandError, expand, expand_tracking, expand_with};

use crate::catalog::spec::{EndpointSpec, SourceSpec};
use crate::catalog::validate;
use crate::model::{Endpoint, Source};
use crate::runtime::registry;

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub server: Server,
    /// The admin API (on 127.0.0.1:8081; its token is configured or generated).
    pub admin: Admin,
    pub retention: Retention,
    pub runtime: RuntimeSettings,
    pub delivery: DeliverySettings,
    pub store: StoreSettings,
    pub sources: BTreeMap<String, Source>,
    pub endpoints: Vec<Endpoint>,
    /// The sources and endpoints as written, which the catalog is seeded
    /// with (`managed_by: config`).
    pub seed: Seed,
    /// Things that work but deserve attention (disabled endpoints, …).
    pub warnings: Vec<String>,
}

/// The file's sources and endpoints, as written.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    pub sources: BTreeMap<String, SourceSpec>,
    pub endpoints: Vec<EndpointSpec>,
}

#[derive(Debug, Clone)]
pub struct Server {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub plugins_dir: Option<PathBuf>,
    pub cache_dir: PathBuf,
    pub max_body_bytes: usize,
    pub allow_private_destinations: bool,
    pub shutdown_grace: Duration,
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_header_bytes: usize,
    pub dedupe_window: Duration,
    /// Seals stored secrets (`catalog::seal`); `None`: a generated key file.
    pub secret_key: Option<String>,
}

#[derive(Clone)]
pub struct Admin {
    pub listen: SocketAddr,
    /// `None`: one is generated in the data directory at first start.
    pub token: Option<String>,
    /// Host names the admin API answers to besides its own address (a
    /// reverse proxy's name): every other `Host` is refused.
    pub hosts: Vec<String>,
    /// How long a dashboard sign-in lasts.
    pub session_ttl: std::time::Duration,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("hosts", &self.hosts)
            .field("session_ttl", &self.session_ttl)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct Retention {
    pub days: u64,
    pub dead_days: u64,
}

#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    pub max_concurrent_calls: u32,
    pub max_memory_bytes: usize,
    pub threads: usize,
    pub max_request_body_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct DeliverySettings {
    pub ca_file: Option<PathBuf>,
}

/// Where events, deliveries and the catalog's records are kept.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreSettings {
    /// The embedded database in `[server] data_dir`.
    Sled,
    /// A PostgreSQL database that several nodes can share.
    Postgres {
        url: String,
        pool_size: usize,
        /// How long a claim is leased before another node may take it
        /// (renewed every third of it while the attempt runs).
        lease: Duration,
    },
}

impl std::fmt::Debug for StoreSettings {
    // The URL may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreSettings::Sled => f.write_str("Sled"),
            StoreSettings::Postgres {
                pool_size, lease, ..
            } => f
                .debug_struct("Postgres")
                .field("pool_size", pool_size)
                .field("lease", lease)
                .finish_non_exhaustive(),
        }
    }
}

/// Everything wrong with a config file, one problem per line.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:8081";
/// How long a dashboard sign-in lasts unless `[admin] session_ttl_secs` says.
pub const DEFAULT_SESSION_TTL: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

impl Config {
    /// Reads, expands and checks `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            problems: vec![format!("{}: cannot read: {e}", path.display())],
        })?;
        Config::parse(path, &text, &|name| std::env::var(name).ok())
    }

    /// Checks `text` as if read from `path` (relative paths in it are
    /// relative to `path`'s directory), with `env` for `${VAR}`.
    pub fn parse(
        path: &Path,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let raw: raw::File = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let line_start = before.rfind('\n').map_or(0, |i| i + 1);
                let column = before.len() - line_start + 1;
                // Type errors point at the value: name its key as well.
                let key = before[line_start..]
                    .rsplit_once('=')
                    .map(|(k, _)| k.rsplit(['{', ',']).next().unwrap_or(k).trim())
                    .filter(|k| !k.is_empty() && !e.message().contains(&format!("`{k}`")))
                    .map(|k| format!("{k}: "))
                    .unwrap_or_default();
                format!("line {line}, column {column}: {key}")
            });
            ConfigError {
                problems: vec![format!(
                    "{file}: {}{}",
                    at.unwrap_or_default(),
                    one_line(e.message())
                )],
            }
        })?;
        let mut c = Checker {
            file,
            base: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            env,
            problems: Vec::new(),
            warnings: Vec::new(),
        };
        let config = c.check(path, raw);
        if c.problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError {
                problems: c.problems,
            })
        }
    }

    pub fn endpoint(&self, id: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.id == id)
    }
}

struct Checker<'a> {
    file: String,
    base: PathBuf,
    env: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<String>,
    warnings: Vec<String>,
}

impl Checker<'_> {
    fn problem(&mut self, key: &str, message: impl std::fmt::Display) {
        self.problems
            .push(format!("{}: {key}: {message}", self.file));
    }

    fn expand(&self, text: &str) -> Result<String, ExpandError> {
        expand_with(text, self.env)
    }

    /// Expands a value whose absence is a configuration error.
    fn required(&mut self, key: &str, text: &str) -> Option<String> {
        match self.expand(text) {
            Ok(v) => Some(v),
            Err(e) => {
                self.problem(key, e);
                None
            }
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    fn addr(&mut self, key: &str, text: &str) -> SocketAddr {
        let fallback = SocketAddr::from(([127, 0, 0, 1], 0));
        let Some(text) = self.required(key, text) else {
            return fallback;
        };
        match text.parse() {
            Ok(addr) => addr,
            Err(_) => {
                self.problem(
                    key,
                    format!("{text:?} is not an address like \"127.0.0.1:8080\""),
                );
                fallback
            }
        }
    }

    fn check(&mut self, path: &Path, raw: raw::File) -> Config {
        let raw_is_empty = raw.sources.is_empty() && raw.endpoints.is_empty();
        let server = self.server(raw.server);
        let admin = self.admin(raw.admin.unwrap_or(raw::Admin {
            listen: None,
            token: None,
            hosts: None,
            session_ttl_secs: None,
        }));
        let retention = Retention {
            days: raw.retention.days.unwrap_or(30),
            dead_days: raw.retention.dead_days.unwrap_or(90),
        };
        if retention.days == 0 || retention.dead_days == 0 {
            self.problem("retention", "days and dead_days must be at least 1");
        }
        let runtime = RuntimeSettings {
            max_concurrent_calls: raw
                .runtime
                .max_concurrent_calls
                .unwrap_or(64)
                .clamp(1, 10_000),
            max_memory_bytes: raw.runtime.max_memory_mb.unwrap_or(512).clamp(1, 4096) << 20,
            threads: raw.runtime.threads.unwrap_or(0),
            max_request_body_bytes: raw.runtime.max_request_body_bytes.unwrap_or(1 << 20),
        };
        let delivery = DeliverySettings {
            ca_file: raw.delivery.ca_file.as_deref().map(|p| self.path(p)),
        };
        if let Some(ca) = &delivery.ca_file
            && !ca.is_file()
        {
            self.problem(
                "delivery.ca_file",
                format!("{} does not exist", ca.display()),
            );
        }

        let plugins = registry::discover(server.plugins_dir.as_deref());
        let base = self.base.clone();
        let cx = validate::Context {
            env: Some(self.env),
            base_dir: &base,
            sources: raw.sources.keys().cloned().collect(),
            plugins: &plugins,
            allow_private_destinations: server.allow_private_destinations,
            max_memory_bytes: runtime.max_memory_bytes,
            check_tls: Some(crate::delivery::client::check_client_tls),
        };
        let mut sources = BTreeMap::new();
        for (name, spec) in &raw.sources {
            let mut report = validate::Report::default();
            let source = validate::source(name, spec, &cx, &mut report);
            self.take(&format!("sources.{name}"), report);
            if let Some(source) = source {
                sources.insert(name.clone(), source);
            }
        }
        let mut endpoints: Vec<Endpoint> = Vec::new();
        for (i, spec) in raw.endpoints.iter().enumerate() {
            let key = format!("endpoints[{i}]");
            let id = spec.id.clone().unwrap_or_default();
            if let Some(first) = raw.endpoints[..i]
                .iter()
                .position(|e| e.id.as_deref() == Some(id.as_str()))
            {
                self.problem(
                    &format!("{key}.id"),
                    format!("duplicate id {id:?} (also endpoints[{first}])"),
                );
            }
            let mut report = validate::Report::default();
            if spec.id.is_none() {
                report.problem("id", "every endpoint in the file needs an `id`");
            }
            let endpoint = validate::endpoint(spec, &cx, &mut report);
            self.take(&key, report);
            if let Some(endpoint) = endpoint {
                endpoints.push(endpoint);
            }
        }
        for endpoint in &endpoints {
            let Some(source) = sources.get(&endpoint.source) else {
                continue;
            };
            for pattern in endpoint.events.patterns() {
                if let Some(closest) = source.verifier.kind().unknown_pattern(pattern) {
                    let hint = closest
                        .map(|t| format!(" (did you mean {t:?}?)"))
                        .unwrap_or_default();
                    self.warnings.push(format!(
                        "endpoint {:?}: events {pattern:?} matches no {} event type of Dodo Payments{hint}; another sender may have it, but check the spelling",
                        endpoint.id,
                        source.verifier.kind()
                    ));
                }
            }
        }
        if raw_is_empty {
            self.warnings.push(
                "the file defines no sources and no endpoints: nothing will be received or delivered (`hookwasm config init` writes a starter file)".to_string(),
            );
        }
        let store = self.store(raw.store);
        if matches!(store, StoreSettings::Postgres { .. }) && server.secret_key.is_none() {
            self.problem(
                "server.secret_key",
                "is required with [store] backend = \"postgres\": every node seals and opens the stored secrets with the same key (32 bytes, hex or base64)",
            );
        }
        let seed = Seed {
            sources: raw.sources,
            endpoints: raw.endpoints,
        };

        Config {
            path: path.to_path_buf(),
            server,
            admin,
            retention,
            runtime,
            delivery,
            store,
            sources,
            endpoints,
            seed,
            warnings: std::mem::take(&mut self.warnings),
        }
    }

    fn server(&mut self, raw: raw::Server) -> Server {
        let listen = self.addr(
            "server.listen",
            raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN),
        );
        let data_dir = raw
            .data_dir
            .as_deref()
            .and_then(|d| self.required("server.data_dir", d))
            .map(|d| self.path(&d))
            .unwrap_or_else(|| self.path("data"));
        let plugins_dir = raw
            .plugins_dir
            .as_deref()
            .and_then(|d| self.required("server.plugins_dir", d))
            .map(|d| self.path(&d));
        let cache_dir = raw
            .cache_dir
            .as_deref()
            .and_then(|d| self.required("server.cache_dir", d))
            .map(|d| self.path(&d))
            .unwrap_or_else(|| data_dir.join("cache"));
        let max_body_bytes = raw.max_body_bytes.unwrap_or(1 << 20);
        if max_body_bytes == 0 {
            self.problem("server.max_body_bytes", "must be at least 1");
        }
        Server {
            listen,
            data_dir,
            plugins_dir,
            cache_dir,
            max_body_bytes,
            allow_private_destinations: raw.allow_private_destinations.unwrap_or(false),
            shutdown_grace: Duration::from_secs(raw.shutdown_grace_secs.unwrap_or(10)),
            max_connections: raw.max_connections.unwrap_or(1024).max(1),
            header_timeout: Duration::from_secs(raw.header_timeout_secs.unwrap_or(10).max(1)),
            body_timeout: Duration::from_secs(raw.body_timeout_secs.unwrap_or(30).max(1)),
            max_header_bytes: raw.max_header_bytes.unwrap_or(32 << 10).max(1024),
            dedupe_window: Duration::from_secs(3600 * raw.dedupe_hours.unwrap_or(72).max(1)),
            secret_key: match raw.secret_key.as_deref().map(|k| self.expand(k)) {
                None => None,
                Some(Ok(key)) => {
                    if crate::catalog::seal::Sealer::from_text(&key).is_err() {
                        self.problem(
                            "server.secret_key",
                            "must be 32 bytes as 64 hex digits or base64",
                        );
                    }
                    Some(key)
                }
                Some(Err(ExpandError::Unset(var))) => {
                    self.warnings.push(format!(
                        "server.secret_key: {var} is not set, so stored secrets are sealed with the key file in the data directory"
                    ));
                    None
                }
                Some(Err(e)) => {
                    self.problem("server.secret_key", e);
                    None
                }
            },
        }
    }

    fn store(&mut self, raw: raw::Store) -> StoreSettings {
        let pool_size = raw.pool_size.unwrap_or(16);
        let lease_secs = raw.lease_secs.unwrap_or(30);
        if !(3..=3600).contains(&lease_secs) {
            self.problem("store.lease_secs", "must be between 3 and 3600");
        }
        if !(1..=1000).contains(&pool_size) {
            self.problem("store.pool_size", "must be between 1 and 1000");
        }
        match raw.backend.as_deref().unwrap_or("sled") {
            "sled" => {
                if raw.url.is_some() {
                    self.problem(
                        "store.url",
                        "is only for backend = \"postgres\" (sled keeps its data in [server] data_dir)",
                    );
                }
                StoreSettings::Sled
            }
            "postgres" => {
                let Some(text) = raw.url.as_deref() else {
                    self.problem(
                        "store.url",
                        "is required with backend = \"postgres\", e.g. url = \"${DATABASE_URL}\"",
                    );
                    return StoreSettings::Sled;
                };
                let url = self.required("store.url", text).unwrap_or_default();
                if !url.is_empty()
                    && let Err(e) = crate::store::postgres_url(&url)
                {
                    self.problem("store.url", e);
                }
                StoreSettings::Postgres {
                    url,
                    pool_size,
                    lease: Duration::from_secs(lease_secs.clamp(3, 3600)),
                }
            }
            other => {
                self.problem(
                    "store.backend",
                    format!("{other:?} is not a store backend (sled, postgres)"),
                );
                StoreSettings::Sled
            }
        }
    }

    fn admin(&mut self, raw: raw::Admin) -> Admin {
        let listen = self.addr(
            "admin.listen",
            raw.listen.as_deref().unwrap_or(DEFAULT_ADMIN_LISTEN),
        );
        let token = match raw.token.as_deref().map(|t| self.expand(t)) {
            None => None,
            Some(Ok(token)) if token.len() >= 16 => Some(token),
            Some(Ok(_)) => {
                self.problem("admin.token", "must be at least 16 characters");
                None
            }
            Some(Err(ExpandError::Unset(var))) => {
                self.warnings.push(format!(
                    "admin.token: {var} is not set, so the admin API uses the token generated in the data directory"
                ));
                None
            }
            Some(Err(e)) => {
                self.problem("admin.token", e);
                None
            }
        };
        let session_ttl = match raw.session_ttl_secs {
            None => DEFAULT_SESSION_TTL,
            Some(0) => {
                self.problem("admin.session_ttl_secs", "must be at least 1");
                DEFAULT_SESSION_TTL
            }
            Some(secs) => std::time::Duration::from_secs(secs),
        };
        Admin {
            listen,
            token,
            hosts: raw.hosts.unwrap_or_default(),
            session_ttl,
        }
    }

    /// A spec's problems under `at` (`endpoints[2]`), and its warnings.
    fn take(&mut self, at: &str, report: validate::Report) {
        for (key, message) in report.problems {
            let key = if key.is_empty() {
                at.to_string()
            } else {
                format!("{at}.{key}")
            };
            self.problem(&key, message);
        }
        self.warnings.extend(report.warnings);
    }
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests;

/// Where a config file's admin API is and how to authenticate to it, read
/// without checking the rest of the file: what the operator commands need.
#[derive(Clone, Debug)]
pub struct AdminAccess {
    pub listen: SocketAddr,
    /// The configured token, expanded (`None`: unset or not configured).
    pub token: Option<String>,
    /// Where a generated token is kept.
    pub token_file: PathBuf,
}

impl AdminAccess {
    pub fn read(path: &Path) -> Result<AdminAccess, ConfigError> {
        let problem = |m: String| ConfigError { problems: vec![m] };
        let text = std::fs::read_to_string(path)
            .map_err(|e| problem(format!("{}: cannot read: {e}", path.display())))?;
        let raw: raw::File = toml::from_str(&text)
            .map_err(|e| problem(format!("{}: {}", path.display(), one_line(e.message()))))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let env = |name: &str| std::env::var(name).ok();
        let listen_text = raw
            .admin
            .as_ref()
            .and_then(|a| a.listen.clone())
            .unwrap_or_else(|| DEFAULT_ADMIN_LISTEN.to_string());
        let listen = expand_with(&listen_text, env)
            .ok()
            .and_then(|t| t.parse::<SocketAddr>().ok())
            .ok_or_else(|| {
                problem(format!(
                    "{}: admin.listen: {listen_text:?} is not an address",
                    path.display()
                ))
            })?;
        let token = raw
            .admin
            .as_ref()
            .and_then(|a| a.token.as_deref())
            .and_then(|t| expand_with(t, env).ok());
        let data_dir = raw
            .server
            .data_dir
            .as_deref()
            .and_then(|d| expand_with(d, env).ok())
            .map(PathBuf::from)
            .map(|d| if d.is_absolute() { d } else { base.join(d) })
            .unwrap_or_else(|| base.join("data"));
        Ok(AdminAccess {
            listen,
            token,
            token_file: data_dir.join(crate::admin::TOKEN_FILE),
        })
    }
}
