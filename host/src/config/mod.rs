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

use crate::runtime::Limits;
use crate::runtime::registry::{self, PluginInfo};
use crate::signature::{Secret, Verifier};

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub server: Server,
    /// The admin API (on 127.0.0.1:8081 without a token unless configured).
    pub admin: Admin,
    pub retention: Retention,
    pub runtime: RuntimeSettings,
    pub delivery: DeliverySettings,
    pub sources: BTreeMap<String, Source>,
    pub endpoints: Vec<Endpoint>,
    /// Things that work but deserve attention (disabled endpoints, …).
    pub warnings: Vec<String>,
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
}

#[derive(Clone)]
pub struct Admin {
    pub listen: SocketAddr,
    pub token: Option<String>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
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

#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub verifier: Verifier,
    /// `verify = false`: accept unsigned requests (logged loudly).
    pub verify: bool,
    /// Why the source cannot accept webhooks (e.g. its secret is unset).
    pub disabled: Option<String>,
    pub rate_limit_per_sec: Option<f64>,
}

impl Source {
    /// The secret `hookwasm send` signs with (the first one listed).
    pub fn signing_secret(&self) -> Option<&Secret> {
        self.verifier.secrets().first()
    }
}

#[derive(Clone)]
pub struct Endpoint {
    pub id: String,
    pub source: String,
    pub plugin: String,
    pub events: EventFilter,
    pub url: Option<String>,
    /// The plugin's declared default URL, used for the origin check when
    /// `url` is not set.
    pub default_url: Option<String>,
    pub auth: Option<Auth>,
    pub settings: Vec<(String, String)>,
    pub limits: Limits,
    pub retry: RetryPolicy,
    pub rate_limit_per_sec: Option<f64>,
    pub concurrency: u32,
    pub timeout: Duration,
    pub allow_private_destinations: bool,
    pub script: Option<PathBuf>,
    /// Why the endpoint is off by configuration (unset secret, `enabled =
    /// false`). Runtime disabling (HTTP 410, the admin API) is in the store.
    pub disabled: Option<String>,
    /// Values that came from the environment (value, variable name): they
    /// may be credentials (an Inngest key in the URL), so `redact` shows
    /// them as `${NAME}`.
    secrets: Vec<(String, String)>,
}

/// By hand so that neither the values taken from the environment nor a URL
/// holding one (an Inngest key in the path) ever reach a log line.
impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |v: &Option<String>| v.as_deref().map(|u| self.redact(u));
        let settings: Vec<(&str, String)> = self
            .settings
            .iter()
            .map(|(k, v)| (k.as_str(), self.redact(v)))
            .collect();
        let from_env: Vec<&str> = self.secrets.iter().map(|(_, n)| n.as_str()).collect();
        f.debug_struct("Endpoint")
            .field("id", &self.id)
            .field("source", &self.source)
            .field("plugin", &self.plugin)
            .field("events", &self.events)
            .field("url", &redact(&self.url))
            .field("default_url", &self.default_url)
            .field("auth", &self.auth)
            .field("settings", &settings)
            .field("limits", &self.limits)
            .field("retry", &self.retry)
            .field("rate_limit_per_sec", &self.rate_limit_per_sec)
            .field("concurrency", &self.concurrency)
            .field("timeout", &self.timeout)
            .field(
                "allow_private_destinations",
                &self.allow_private_destinations,
            )
            .field("script", &self.script)
            .field("disabled", &self.disabled)
            .field("from_env", &from_env)
            .finish()
    }
}

impl Endpoint {
    /// `text` with every value taken from the environment replaced by its
    /// `${NAME}`: safe to show in the API and logs.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (value, name) in &self.secrets {
            out = out.replace(value.as_str(), &format!("${{{name}}}"));
        }
        out
    }

    /// The URL whose origin the plugin's requests must keep.
    pub fn base_url(&self) -> Option<&str> {
        self.url.as_deref().or(self.default_url.as_deref())
    }
}

/// How the host authenticates to a destination. Never shown in logs or API
/// answers.
#[derive(Clone)]
pub enum Auth {
    Bearer(String),
    Basic {
        username: String,
        password: String,
    },
    Header {
        name: http::HeaderName,
        value: String,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::Bearer(_) => "Auth::Bearer(<redacted>)",
            Auth::Basic { .. } => "Auth::Basic(<redacted>)",
            Auth::Header { .. } => "Auth::Header(<redacted>)",
        })
    }
}

impl Auth {
    /// The header the host adds to every request of the endpoint.
    pub fn header(&self) -> (http::HeaderName, http::HeaderValue) {
        use base64::Engine as _;
        let (name, value) = match self {
            Auth::Bearer(token) => (http::header::AUTHORIZATION, format!("Bearer {token}")),
            Auth::Basic { username, password } => (
                http::header::AUTHORIZATION,
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{password}"))
                ),
            ),
            Auth::Header { name, value } => (name.clone(), value.clone()),
        };
        // Values were checked when the config was loaded.
        let mut value = http::HeaderValue::from_str(&value)
            .unwrap_or_else(|_| http::HeaderValue::from_static(""));
        value.set_sensitive(true);
        (name, value)
    }
}

/// Which event types an endpoint receives: exact names, `prefix.*`, or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter(Vec<String>);

impl EventFilter {
    pub fn parse(patterns: &[String]) -> Result<Self, String> {
        if patterns.is_empty() {
            return Err("must list at least one event type (\"*\" for all)".into());
        }
        for p in patterns {
            let body = p.strip_suffix(".*").unwrap_or(p);
            let ok = p == "*"
                || (!body.is_empty()
                    && !body.contains('*')
                    && body
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-:/".contains(c)));
            if !ok {
                return Err(format!(
                    "{p:?} is not an event pattern (use an exact type like \"payment.succeeded\", a prefix like \"dispute.*\", or \"*\")"
                ));
            }
        }
        Ok(EventFilter(patterns.to_vec()))
    }

    pub fn matches(&self, event_type: &str) -> bool {
        self.0.iter().any(|p| {
            p == "*"
                || p == event_type
                || p.strip_suffix('*').is_some_and(|prefix| {
                    event_type.starts_with(prefix) && event_type.len() > prefix.len()
                })
        })
    }

    pub fn patterns(&self) -> &[String] {
        &self.0
    }
}

/// When to retry and what counts as delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay before each retry, after the first attempt.
    pub schedule: Vec<Duration>,
    /// Non-2xx statuses that mean "delivered" (Loops: 409 = already sent).
    pub delivered_statuses: Vec<u16>,
    /// ± fraction applied to each delay.
    pub jitter: f64,
    /// The longest `Retry-After` honoured.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            // Svix/Dodo: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
            schedule: [5, 300, 1800, 7200, 18000, 36000, 36000]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            delivered_statuses: Vec::new(),
            jitter: 0.2,
            max_retry_after: Duration::from_secs(6 * 3600),
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
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("line {line}, column {column}: ")
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
        let server = self.server(raw.server);
        let admin = self.admin(raw.admin.unwrap_or(raw::Admin {
            listen: None,
            token: None,
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

        let mut sources = BTreeMap::new();
        for (name, source) in raw.sources {
            let source = self.source(&name, source);
            sources.insert(name, source);
        }

        let plugins = registry::discover(server.plugins_dir.as_deref());
        let mut endpoints: Vec<Endpoint> = Vec::new();
        for (i, endpoint) in raw.endpoints.into_iter().enumerate() {
            let key = format!("endpoints[{i}]");
            if let Some(first) = endpoints.iter().position(|e| e.id == endpoint.id) {
                self.problem(
                    &format!("{key}.id"),
                    format!("duplicate id {:?} (also endpoints[{first}])", endpoint.id),
                );
            }
            if let Some(e) = self.endpoint(&key, endpoint, &sources, &plugins, &server, &runtime) {
                endpoints.push(e);
            }
        }
        for e in &endpoints {
            if let Some(why) = &e.disabled {
                self.warnings
                    .push(format!("endpoint {:?} is disabled: {why}", e.id));
            }
        }
        for s in sources.values() {
            if let Some(why) = &s.disabled {
                self.warnings.push(format!(
                    "source {:?} is not accepting webhooks: {why}",
                    s.name
                ));
            } else if !s.verify {
                self.warnings.push(format!(
                    "source {:?} has verify = false: it accepts UNSIGNED webhooks from anyone who can reach it",
                    s.name
                ));
            }
        }

        Config {
            path: path.to_path_buf(),
            server,
            admin,
            retention,
            runtime,
            delivery,
            sources,
            endpoints,
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
                    "admin.token: {var} is not set, so the admin API has no token"
                ));
                None
            }
            Some(Err(e)) => {
                self.problem("admin.token", e);
                None
            }
        };
        if token.is_none() && !listen.ip().is_loopback() {
            self.problem(
                "admin",
                format!("the admin API listens on {listen}, beyond loopback, so it needs a token (set admin.token)"),
            );
        }
        Admin { listen, token }
    }

    fn source(&mut self, name: &str, raw: raw::Source) -> Source {
        let key = format!("sources.{name}");
        if !valid_id(name) {
            self.problem(
                &key,
                "a source name may only use letters, digits, '-' and '_'",
            );
        }
        let mut secrets = Vec::new();
        let mut unset = Vec::new();
        for (i, text) in raw.secrets.iter().enumerate() {
            match self.expand(text) {
                Ok(value) => match Secret::parse(&value) {
                    Ok(secret) => secrets.push(secret),
                    Err(e) => self.problem(&format!("{key}.secrets[{i}]"), e),
                },
                Err(ExpandError::Unset(var)) => unset.push(var),
                Err(e) => self.problem(&format!("{key}.secrets[{i}]"), e),
            }
        }
        let verify = raw.verify.unwrap_or(true);
        let disabled = if verify && secrets.is_empty() {
            Some(if unset.is_empty() {
                "it has no secrets (add `secrets = [\"${YOUR_SECRET_VAR}\"]`)".to_string()
            } else {
                format!("{} is not set", unset.join(", "))
            })
        } else {
            None
        };
        let tolerance = Duration::from_secs(raw.tolerance_secs.unwrap_or(300));
        if let Some(rate) = raw.rate_limit_per_sec
            && !(rate > 0.0 && rate.is_finite())
        {
            self.problem(
                &format!("{key}.rate_limit_per_sec"),
                "must be a positive number",
            );
        }
        Source {
            name: name.to_string(),
            verifier: Verifier::new(secrets, tolerance),
            verify,
            disabled,
            rate_limit_per_sec: raw.rate_limit_per_sec,
        }
    }

    fn endpoint(
        &mut self,
        key: &str,
        raw: raw::Endpoint,
        sources: &BTreeMap<String, Source>,
        plugins: &[PluginInfo],
        server: &Server,
        runtime: &RuntimeSettings,
    ) -> Option<Endpoint> {
        let problems_before = self.problems.len();
        if !valid_id(&raw.id) {
            self.problem(
                &format!("{key}.id"),
                format!("{:?}: use letters, digits, '-' and '_' (1–64)", raw.id),
            );
        }
        if !sources.contains_key(&raw.source) {
            let known: Vec<&str> = sources.keys().map(String::as_str).collect();
            self.problem(
                &format!("{key}.source"),
                format!(
                    "no source named {:?} (configured: {})",
                    raw.source,
                    list_or_none(&known)
                ),
            );
        }
        let plugin = plugins.iter().find(|p| p.name == raw.plugin);
        if plugin.is_none() {
            let known: Vec<&str> = plugins.iter().map(|p| p.name.as_str()).collect();
            let dir = match &server.plugins_dir {
                Some(d) => format!("no {}.wasm in {}", raw.plugin, d.display()),
                None => "no plugins_dir configured".to_string(),
            };
            self.problem(
                &format!("{key}.plugin"),
                format!(
                    "unknown plugin {:?} (available: {}; {dir})",
                    raw.plugin,
                    list_or_none(&known)
                ),
            );
        }
        let events = EventFilter::parse(&raw.events).unwrap_or_else(|e| {
            self.problem(&format!("{key}.events"), e);
            EventFilter(Vec::new())
        });

        // Values that may hold secrets: an unset variable disables the
        // endpoint (so the example config starts anywhere) instead of failing.
        let mut unset: Vec<String> = Vec::new();
        let mut secrets: Vec<(String, String)> = Vec::new();
        let mut soft = |checker: &mut Self, field: &str, text: &str| -> Option<String> {
            match expand_tracking(text, checker.env, &mut secrets) {
                Ok(v) => Some(v),
                Err(ExpandError::Unset(var)) => {
                    unset.push(var);
                    None
                }
                Err(e) => {
                    checker.problem(&format!("{key}.{field}"), e);
                    None
                }
            }
        };
        let url = raw.url.as_deref().and_then(|u| soft(self, "url", u));
        if let Some(u) = &url {
            match url::Url::parse(u) {
                Ok(parsed)
                    if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {}
                _ => self.problem(
                    &format!("{key}.url"),
                    format!("{u:?} is not an absolute http(s) URL"),
                ),
            }
        }
        let default_url = plugin.and_then(|p| p.default_url.clone());
        if raw.url.is_none() && default_url.is_none() && plugin.is_some() {
            self.problem(
                &format!("{key}.url"),
                format!(
                    "plugin {:?} has no default destination, so the endpoint needs a url",
                    raw.plugin
                ),
            );
        }
        let auth = match raw.auth {
            None => None,
            Some(raw::Auth::Bearer(token)) => soft(self, "auth.bearer", &token).map(Auth::Bearer),
            Some(raw::Auth::Basic { username, password }) => {
                match (
                    soft(self, "auth.basic.username", &username),
                    soft(self, "auth.basic.password", &password),
                ) {
                    (Some(username), Some(password)) => Some(Auth::Basic { username, password }),
                    _ => None,
                }
            }
            Some(raw::Auth::Header { name, value }) => {
                let parsed = http::HeaderName::from_bytes(name.as_bytes());
                match (parsed, soft(self, "auth.header.value", &value)) {
                    (Err(_), _) => {
                        self.problem(
                            &format!("{key}.auth.header.name"),
                            format!("{name:?} is not a header name"),
                        );
                        None
                    }
                    (Ok(name), Some(value)) => Some(Auth::Header { name, value }),
                    (Ok(_), None) => None,
                }
            }
        };
        if let Some(auth) = &auth {
            let text = match auth {
                Auth::Bearer(t) => t.clone(),
                Auth::Basic { username, password } => format!("{username}{password}"),
                Auth::Header { value, .. } => value.clone(),
            };
            if http::HeaderValue::from_str(&text).is_err() || text.is_empty() {
                self.problem(
                    &format!("{key}.auth"),
                    "the credential is empty or has control characters",
                );
            }
        }
        let mut settings = Vec::new();
        for (name, value) in raw.settings {
            let text = match value {
                raw::SettingValue::String(s) => s,
                raw::SettingValue::Integer(i) => i.to_string(),
                raw::SettingValue::Float(f) => f.to_string(),
                raw::SettingValue::Bool(b) => b.to_string(),
            };
            if let Some(v) = soft(self, &format!("settings.{name}"), &text) {
                settings.push((name, v));
            }
        }

        let defaults = Limits::default();
        let limits = Limits {
            fuel: raw.limits.fuel.unwrap_or(defaults.fuel),
            memory_bytes: raw
                .limits
                .memory_mb
                .map(|mb| mb << 20)
                .unwrap_or(defaults.memory_bytes),
            timeout: raw
                .limits
                .timeout_ms
                .map(Duration::from_millis)
                .unwrap_or(defaults.timeout),
        };
        if limits.fuel == 0 || limits.memory_bytes == 0 || limits.timeout.is_zero() {
            self.problem(
                &format!("{key}.limits"),
                "fuel, memory_mb and timeout_ms must be at least 1",
            );
        }
        if limits.memory_bytes > runtime.max_memory_bytes {
            self.problem(
                &format!("{key}.limits.memory_mb"),
                format!(
                    "{} MiB is above runtime.max_memory_mb ({} MiB)",
                    limits.memory_bytes >> 20,
                    runtime.max_memory_bytes >> 20
                ),
            );
        }
        let retry = self.retry(key, raw.retry);
        if let Some(rate) = raw.rate_limit_per_sec
            && !(rate > 0.0 && rate.is_finite())
        {
            self.problem(
                &format!("{key}.rate_limit_per_sec"),
                "must be a positive number",
            );
        }
        let concurrency = raw.concurrency.unwrap_or(8);
        if concurrency == 0 || concurrency > 1024 {
            self.problem(&format!("{key}.concurrency"), "must be between 1 and 1024");
        }
        let timeout = Duration::from_secs(raw.timeout_secs.unwrap_or(15));
        if timeout.is_zero() || timeout > Duration::from_secs(300) {
            self.problem(&format!("{key}.timeout_secs"), "must be between 1 and 300");
        }
        let script = raw.script.as_deref().map(|s| self.path(s));
        match (&script, raw.plugin.as_str()) {
            (Some(_), plugin) if plugin != "js" => self.problem(
                &format!("{key}.script"),
                format!("a script runs on plugin = \"js\", not {plugin:?}"),
            ),
            (None, "js") => self.problem(
                &format!("{key}.script"),
                "plugin = \"js\" needs the handler file: script = \"transforms/handler.js\"",
            ),
            (Some(path), _) if !path.is_file() => self.problem(
                &format!("{key}.script"),
                format!("{} is not a readable file", path.display()),
            ),
            _ => {}
        }

        let disabled = if raw.enabled == Some(false) {
            Some("enabled = false in the config".to_string())
        } else if !unset.is_empty() {
            unset.dedup();
            Some(format!("{} is not set", unset.join(", ")))
        } else {
            None
        };
        if self.problems.len() > problems_before {
            return None;
        }
        Some(Endpoint {
            id: raw.id,
            source: raw.source,
            plugin: raw.plugin,
            events,
            url,
            default_url,
            auth,
            settings,
            limits,
            retry,
            rate_limit_per_sec: raw.rate_limit_per_sec,
            concurrency,
            timeout,
            allow_private_destinations: raw
                .allow_private_destinations
                .unwrap_or(server.allow_private_destinations),
            script,
            disabled,
            secrets: secrets
                .into_iter()
                .filter(|(value, _)| value.len() >= 4)
                .collect(),
        })
    }

    fn retry(&mut self, key: &str, raw: raw::Retry) -> RetryPolicy {
        let mut policy = RetryPolicy::default();
        if let Some(schedule) = raw.schedule_secs {
            if schedule.len() > 100 {
                self.problem(&format!("{key}.retry.schedule_secs"), "at most 100 retries");
            }
            if schedule
                .iter()
                .any(|s| !(s.is_finite() && *s >= 0.0 && *s <= 30.0 * 86400.0))
            {
                self.problem(
                    &format!("{key}.retry.schedule_secs"),
                    "each delay must be between 0 and 2592000 seconds (30 days)",
                );
            } else {
                policy.schedule = schedule.into_iter().map(Duration::from_secs_f64).collect();
            }
        }
        if let Some(statuses) = raw.delivered_statuses {
            if statuses.iter().any(|s| !(100..=599).contains(s)) {
                self.problem(
                    &format!("{key}.retry.delivered_statuses"),
                    "statuses are 100–599",
                );
            }
            policy.delivered_statuses = statuses;
        }
        if let Some(jitter) = raw.jitter {
            if !(0.0..=1.0).contains(&jitter) {
                self.problem(&format!("{key}.retry.jitter"), "must be between 0 and 1");
            }
            policy.jitter = jitter;
        }
        if let Some(max) = raw.max_retry_after_secs {
            policy.max_retry_after = Duration::from_secs(max);
        }
        policy
    }
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
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
