//! Test support: a real local HTTP sink standing in for destinations, the
//! real `hookwasm` binary run as a child process, and signing.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// A request the sink received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// What the sink answers: status, extra headers, body.
pub type Reply = (u16, Vec<(String, String)>, String);
type Responder = dyn Fn(&Received, usize) -> Reply + Send + Sync;

/// A local HTTP server that records every request and answers as told.
pub struct Sink {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: Arc<(AtomicUsize, AtomicUsize)>,
    task: tokio::task::JoinHandle<()>,
}

impl Sink {
    /// Answers 200 `{}` to everything.
    pub async fn ok() -> Sink {
        Sink::start(|_, _| (200, vec![], "{}".into())).await
    }

    /// Answers `failing` (status, body) until `healthy` is set, then 200 `{}`:
    /// a destination that is down, then back.
    pub async fn until_healthy(
        healthy: Arc<std::sync::atomic::AtomicBool>,
        failing: (u16, &'static str),
    ) -> Sink {
        Sink::start(move |_, _| {
            if healthy.load(std::sync::atomic::Ordering::SeqCst) {
                (200, vec![], "{}".into())
            } else {
                (failing.0, vec![], failing.1.into())
            }
        })
        .await
    }

    /// `respond(request, n)` decides the answer to the n-th request (0-based).
    pub async fn start(
        respond: impl Fn(&Received, usize) -> Reply + Send + Sync + 'static,
    ) -> Sink {
        Sink::slow(Duration::ZERO, respond).await
    }

    /// As `start`, answering each request `delay` after it arrived (without
    /// holding a thread, so that overlapping requests show as such).
    pub async fn slow(
        delay: Duration,
        respond: impl Fn(&Received, usize) -> Reply + Send + Sync + 'static,
    ) -> Sink {
        let in_flight: Arc<(AtomicUsize, AtomicUsize)> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let respond: Arc<Responder> = Arc::new(respond);
        let log = received.clone();
        let gauges = in_flight.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (log, respond, gauge) = (log.clone(), respond.clone(), gauges.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: http::Request<Incoming>| {
                        let (log, respond, gauge) = (log.clone(), respond.clone(), gauge.clone());
                        async move {
                            let now = gauge.0.fetch_add(1, AtomicOrdering::SeqCst) + 1;
                            gauge.1.fetch_max(now, AtomicOrdering::SeqCst);
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let got = Received {
                                method: parts.method.to_string(),
                                path: parts
                                    .uri
                                    .path_and_query()
                                    .map(|p| p.to_string())
                                    .unwrap_or_default(),
                                headers: parts
                                    .headers
                                    .iter()
                                    .map(|(k, v)| {
                                        (k.to_string(), v.to_str().unwrap_or("").to_string())
                                    })
                                    .collect(),
                                body: body.to_vec(),
                                at: Instant::now(),
                            };
                            let n = {
                                let mut log = log.lock().unwrap();
                                log.push(got.clone());
                                log.len() - 1
                            };
                            let (status, headers, text) = respond(&got, n);
                            if !delay.is_zero() {
                                tokio::time::sleep(delay).await;
                            }
                            gauge.0.fetch_sub(1, AtomicOrdering::SeqCst);
                            let mut response = http::Response::new(Full::new(Bytes::from(text)));
                            *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
                            for (k, v) in headers {
                                response.headers_mut().insert(
                                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                                    http::HeaderValue::from_str(&v).unwrap(),
                                );
                            }
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Sink {
            addr,
            received,
            in_flight,
            task,
        }
    }

    /// The most requests the sink was answering at once.
    pub fn peak_in_flight(&self) -> usize {
        self.in_flight.1.load(AtomicOrdering::SeqCst)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// Waits until at least `n` requests arrived (or panics after `limit`).
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        let deadline = Instant::now() + limit;
        loop {
            if self.count() >= n {
                return self.received();
            }
            assert!(
                Instant::now() < deadline,
                "sink got {} requests, wanted {n}",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The most of `times` that fall in any one second.
pub fn busiest_second(times: &[Instant]) -> usize {
    times
        .iter()
        .map(|start| {
            times
                .iter()
                .filter(|t| **t >= *start && t.duration_since(*start) < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// The config of one endpoint, `sink`, that runs the inngest plugin on
/// every Dodo event and delivers to `url`; `extra` adds TOML keys
/// (concurrency, retry schedule…).
pub fn sink_endpoint(url: &str, extra: &str) -> String {
    format!(
        r#"
[[endpoints]]
id = "sink"
source = "dodo"
plugin = "inngest"
events = ["*"]
url = "{url}"
{extra}
"#
    )
}

/// A free local port (bound and released: good enough for tests).
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `hookwasm` binary running `serve` on a config in a temporary directory.
pub struct Hookwasm {
    pub dir: tempfile::TempDir,
    pub ingest: SocketAddr,
    pub admin: SocketAddr,
    child: Option<Child>,
    config: PathBuf,
    runs: usize,
    /// Environment variables set for the server from the next start on.
    pub env: Vec<(String, String)>,
}

/// Where [`Hookwasm::start_on`] has a server keep its compiled plugins.
pub enum PluginCache {
    /// Where the product keeps them by default: `<data_dir>/cache`.
    InDataDir,
    /// The tests' shared cache ([`shared_cache`]).
    Shared,
}

/// Every test's servers share one compiled-plugin cache, so only the first
/// start pays for compiling the built-ins.
pub fn shared_cache() -> PathBuf {
    std::env::temp_dir().join("hookwasm-e2e-plugin-cache")
}

/// Runs the `hookwasm` binary as a user would (no `HOOKWASM_CONFIG` from the
/// test's environment; the tests' shared plugin cache): (exit code, stdout,
/// stderr).
pub fn hookwasm(args: &[&str]) -> (i32, String, String) {
    run_hookwasm(args, None)
}

/// [`hookwasm`] in the directory `dir`.
pub fn hookwasm_in(args: &[&str], dir: &Path) -> (i32, String, String) {
    run_hookwasm(args, Some(dir))
}

fn run_hookwasm(args: &[&str], dir: Option<&Path>) -> (i32, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hookwasm"));
    command
        .args(args)
        .env_remove("HOOKWASM_CONFIG")
        .env("HOOKWASM_CACHE_DIR", shared_cache());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let out = command.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

impl Hookwasm {
    /// Starts a server; `rest` is appended to a config whose `[server]` and
    /// `[admin]` tables are filled in here, and whose `[sources.dodo]` uses
    /// the fixtures' secret.
    pub async fn start(rest: &str) -> Hookwasm {
        Hookwasm::start_with(rest, |_| {}).await
    }

    /// Like `start`, after `prepare` has been given the (empty) plugins
    /// directory, e.g. to drop a plugin file the config names.
    pub async fn start_with(rest: &str, prepare: impl FnOnce(&Path)) -> Hookwasm {
        Hookwasm::start_full("", rest, prepare).await
    }

    /// Like `start_with`, with `server_extra` lines added to `[server]`.
    pub async fn start_full(
        server_extra: &str,
        rest: &str,
        prepare: impl FnOnce(&Path),
    ) -> Hookwasm {
        Hookwasm::start_config(server_extra, rest, prepare, None, &[], "").await
    }

    /// Like `start`, with its data in `data_dir` (which may be elsewhere,
    /// e.g. on a test file system) and its compiled plugins in `cache`.
    pub async fn start_on(data_dir: &Path, cache: PluginCache, rest: &str) -> Hookwasm {
        Hookwasm::start_config("", rest, |_| {}, Some((data_dir, cache)), &[], "").await
    }

    /// A server whose config has no source and no endpoint: everything
    /// comes over the admin API.
    pub async fn start_bare() -> Hookwasm {
        Hookwasm::start_config(NO_SOURCES, "", |_| {}, None, &[], "").await
    }

    /// Like `start_with`, with environment variables for the server (the
    /// config's `${VAR}`s).
    pub async fn start_with_env(
        rest: &str,
        prepare: impl FnOnce(&Path),
        env: &[(&str, &str)],
    ) -> Hookwasm {
        Hookwasm::start_config("", rest, prepare, None, env, "").await
    }

    /// Like `start`, with `admin_extra` lines added to `[admin]`.
    pub async fn start_admin(admin_extra: &str, rest: &str) -> Hookwasm {
        Hookwasm::start_config("", rest, |_| {}, None, &[], admin_extra).await
    }

    async fn start_config(
        server_extra: &str,
        rest: &str,
        prepare: impl FnOnce(&Path),
        data_dir: Option<(&Path, PluginCache)>,
        env: &[(&str, &str)],
        admin_extra: &str,
    ) -> Hookwasm {
        let grace = if server_extra.contains("shutdown_grace_secs") {
            ""
        } else {
            "shutdown_grace_secs = 5"
        };
        let (server_extra, sources) = match server_extra {
            NO_SOURCES => ("", String::new()),
            extra => (extra, format!("[sources.dodo]\nsecrets = [\"{SECRET}\"]\n")),
        };
        let dir = tempfile::tempdir().unwrap();
        let ingest: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let config = dir.path().join("hookwasm.toml");
        let shared = format!("cache_dir = {:?}", shared_cache().display().to_string());
        let storage = match data_dir {
            Some((data, PluginCache::InDataDir)) => {
                format!("data_dir = {:?}", data.display().to_string())
            }
            Some((data, PluginCache::Shared)) => {
                format!("data_dir = {:?}\n{shared}", data.display().to_string())
            }
            None => format!("data_dir = \"data\"\n{shared}"),
        };
        // The whole suite on PostgreSQL: HOOKWASM_TEST_STORE=postgres.
        let (server_extra, rest) = on_postgres_if_asked(server_extra, rest).await;
        let text = format!(
            r#"
[server]
listen = "{ingest}"
{storage}
plugins_dir = "plugins"
allow_private_destinations = true
{grace}
{server_extra}
[admin]
listen = "{admin}"
token = "test-admin-token-0123456789"
{admin_extra}

{sources}
{rest}
"#
        );
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        prepare(&dir.path().join("plugins"));
        std::fs::write(&config, text).unwrap();
        let mut server = Hookwasm {
            dir,
            ingest,
            admin,
            child: None,
            config,
            runs: 0,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        server.spawn().await;
        server
    }

    /// The config file the server runs with.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    pub fn log_path(&self, run: usize) -> PathBuf {
        self.dir.path().join(format!("server-{run}.log"))
    }

    /// The combined output of every run so far.
    pub fn logs(&self) -> String {
        (0..self.runs)
            .map(|i| std::fs::read_to_string(self.log_path(i)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n--- restart ---\n")
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Sends SIG`name` (TERM, INT, HUP, …).
    pub fn signal(&self, name: &str) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .arg(format!("-{name}"))
                .arg(child.id().to_string())
                .status();
        }
    }

    /// Waits up to `limit` for the server to exit; its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Sends SIGHUP (the config reload signal).
    pub fn hangup(&self) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .arg("-HUP")
                .arg(child.id().to_string())
                .status();
        }
    }

    /// Starts the server without waiting for it to be ready (a config whose
    /// admin token the test does not know yet).
    pub fn spawn_unready(&mut self) {
        let log = std::fs::File::create(self.log_path(self.runs)).unwrap();
        self.runs += 1;
        let child = Command::new(env!("CARGO_BIN_EXE_hookwasm"))
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .current_dir(self.dir.path())
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    pub async fn spawn(&mut self) {
        self.spawn_unready();
        self.wait_ready().await;
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "hookwasm exited with {status} during start:\n{}",
                    self.logs()
                );
            }
            // Ready = admin says plugins are loaded (ingest is up before that).
            let ready = get(&format!("http://{}/readyz", self.admin), Some(ADMIN_TOKEN)).await;
            if matches!(ready, Ok((200, _))) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "hookwasm did not become ready:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The server's peak resident memory (VmHWM) so far, in MiB (Linux).
    pub fn peak_rss_mib(&self) -> Option<u64> {
        let pid = self.child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024)
    }

    /// `kill -9`: no shutdown, no flush.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: the server runs no more instruction until killed (what a
    /// power cut does to it, before `kill9` ends it for good).
    pub fn sigstop(&self) {
        if let Some(child) = self.child.as_ref() {
            // SAFETY: signalling our own child, which has not been reaped.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGSTOP) };
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        child.wait().unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.ingest)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// Posts a body signed now with the fixtures' secret.
    pub async fn post_signed(&self, source: &str, webhook_id: &str, body: &[u8]) -> (u16, Value) {
        let headers = signed_headers(webhook_id, now_secs(), body);
        post(
            &self.url(&format!("/webhooks/{source}")),
            &headers,
            body.to_vec(),
        )
        .await
        .unwrap()
    }
}

impl Drop for Hookwasm {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("---- hookwasm logs ----\n{}", self.logs());
        }
    }
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn signed_headers(webhook_id: &str, timestamp: i64, body: &[u8]) -> Vec<(String, String)> {
    let secret = hookwasm::signature::Secret::parse(
        &hookwasm::signature::SourceKind::StandardWebhooks,
        SECRET,
    )
    .unwrap();
    vec![
        ("content-type".into(), "application/json".into()),
        ("webhook-id".into(), webhook_id.into()),
        ("webhook-timestamp".into(), timestamp.to_string()),
        (
            "webhook-signature".into(),
            secret.sign(webhook_id, timestamp, body),
        ),
    ]
}

fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn request(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Result<(u16, Value), String> {
    let mut builder = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        builder = builder.header(k, v);
    }
    let req = builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(Duration::from_secs(30), client().request(req))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
    Ok((status, value))
}

pub async fn post(
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Result<(u16, Value), String> {
    request("POST", url, headers, body).await
}

pub async fn get(url: &str, token: Option<&str>) -> Result<(u16, Value), String> {
    let headers: Vec<(String, String)> = token
        .map(|t| vec![("authorization".to_string(), format!("Bearer {t}"))])
        .unwrap_or_default();
    request("GET", url, &headers, Vec::new()).await
}

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

pub async fn admin_get(server: &Hookwasm, path: &str) -> (u16, Value) {
    get(&server.admin_url(path), Some(ADMIN_TOKEN))
        .await
        .unwrap()
}

/// A marker for `start_config`: no `[sources.dodo]`.
const NO_SOURCES: &str = "\u{0}no sources";

/// Any admin API call, with the token and a JSON body.
pub async fn admin_call(
    server: &Hookwasm,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut headers = vec![("authorization".to_string(), format!("Bearer {ADMIN_TOKEN}"))];
    let bytes = match body {
        Some(body) => {
            headers.push(("content-type".to_string(), "application/json".to_string()));
            serde_json::to_vec(&body).unwrap()
        }
        None => Vec::new(),
    };
    request(method, &server.admin_url(path), &headers, bytes)
        .await
        .unwrap()
}

/// `request` with any headers: for the admin guard's tests.
pub async fn raw_request(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Result<(u16, Value), String> {
    request(method, url, headers, body).await
}

pub async fn admin_post(server: &Hookwasm, path: &str, body: Value) -> (u16, Value) {
    let headers = vec![
        ("authorization".to_string(), format!("Bearer {ADMIN_TOKEN}")),
        ("content-type".to_string(), "application/json".to_string()),
    ];
    post(
        &server.admin_url(path),
        &headers,
        serde_json::to_vec(&body).unwrap(),
    )
    .await
    .unwrap()
}

/// Polls `check` until it returns `Some`, or panics after `limit`.
pub async fn eventually<T>(
    what: &str,
    limit: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A fixture: (webhook id, body bytes exactly as signed).
pub fn fixture(name: &str) -> (String, Vec<u8>) {
    let dir = fixtures().join("dodo");
    let body = std::fs::read(dir.join(format!("{name}.json"))).unwrap();
    let headers: Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.headers.json"))).unwrap())
            .unwrap();
    (headers["webhook-id"].as_str().unwrap().to_string(), body)
}

pub const FIXTURES: &[&str] = &[
    "payment.succeeded",
    "payment.failed",
    "subscription.active",
    "subscription.cancelled",
    "dispute.opened",
    "refund.succeeded",
];

/// `hookwasm config check --no-scripts` of `text` written to a temporary
/// file (with `files` beside it): (exit code, stdout, stderr).
pub fn config_check(text: &str, files: &[(&str, &str)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let file = dir.path().join("hookwasm.toml");
    std::fs::write(&file, text).unwrap();
    hookwasm(&[
        "config",
        "check",
        "--no-scripts",
        "-c",
        &file.display().to_string(),
    ])
}

/// The key every PostgreSQL node of a test seals stored secrets with (nodes
/// sharing a database share it).
pub const PG_SECRET_KEY: &str = "4f2a9c0e7b1d3e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7";

/// The tests' PostgreSQL server, one per test binary; `None` (after saying
/// why) where the machine has none, unless `HOOKWASM_TEST_POSTGRES=required`.
pub fn postgres() -> Option<&'static hookwasm::store::pg_store::testdb::TestDb> {
    static SERVER: std::sync::OnceLock<Option<hookwasm::store::pg_store::testdb::TestDb>> =
        std::sync::OnceLock::new();
    SERVER
        .get_or_init(
            || match hookwasm::store::pg_store::testdb::TestDb::start() {
                Ok(db) => db,
                Err(e) => panic!("starting PostgreSQL for the tests: {e}"),
            },
        )
        .as_ref()
}

/// A new, empty database on the tests' server: its URL.
pub async fn fresh_database(db: &hookwasm::store::pg_store::testdb::TestDb) -> String {
    let name = format!("t{:016x}", fastrand::u64(..));
    let (client, connection) = tokio_postgres::connect(&db.url(), tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test PostgreSQL: {e}\n{}", db.log()));
    let driver = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    drop(client);
    let _ = driver.await;
    let url = db.url();
    let base = url.strip_suffix("/postgres").unwrap_or(&url);
    format!("{base}/{name}")
}

/// The `[store]` table of a node on `url`.
pub fn pg_store_table(url: &str) -> String {
    format!("\n[store]\nbackend = \"postgres\"\nurl = \"{url}\"\npool_size = 8\n")
}

/// Whether the suite runs on PostgreSQL (`HOOKWASM_TEST_STORE=postgres`).
pub fn on_postgres() -> bool {
    std::env::var("HOOKWASM_TEST_STORE").as_deref() == Ok("postgres")
}

/// With `HOOKWASM_TEST_STORE=postgres`, a config that has no `[store]` of its
/// own gets a fresh database (and the `[server] secret_key` that requires).
async fn on_postgres_if_asked<'a>(server_extra: &'a str, rest: &'a str) -> (String, String) {
    if !on_postgres() || rest.contains("[store]") {
        return (server_extra.to_string(), rest.to_string());
    }
    let db = postgres().expect("HOOKWASM_TEST_STORE=postgres needs PostgreSQL");
    let url = fresh_database(db).await;
    let key = if server_extra.contains("secret_key") {
        String::new()
    } else {
        format!("secret_key = \"{PG_SECRET_KEY}\"\n")
    };
    (
        format!("{key}{server_extra}"),
        format!("{rest}\n{}", pg_store_table(&url)),
    )
}

impl Hookwasm {
    /// A node on the PostgreSQL database `url` (several may share it).
    pub async fn start_pg(url: &str, rest: &str) -> Hookwasm {
        Hookwasm::start_full(
            &format!("secret_key = \"{PG_SECRET_KEY}\""),
            &format!("{rest}\n{}", pg_store_table(url)),
            |_| {},
        )
        .await
    }
}
