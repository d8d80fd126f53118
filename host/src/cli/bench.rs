//! `hookwasm bench`: the end-to-end load test. Starts `hookwasm serve` as a
//! child process on a temporary config whose endpoint delivers to a sink in
//! this process, posts N signed ~2 KB events at concurrency C, and reports
//! acknowledged and delivered events per second, acknowledgement latency,
//! time to drain the queue, and the server's peak RSS and CPU time, all from
//! the moment the server is ready (compiling plugins is start-up). With
//! `--runs N` it repeats that on fresh servers and adds each figure's
//! median, lowest and highest.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::net::TcpListener;

use hookwasm::signature::Secret;

#[derive(Args)]
pub struct BenchArgs {
    /// Events to post.
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The plugin the endpoint runs.
    #[arg(long, default_value = "inngest")]
    plugin: String,
    /// The endpoint's delivery concurrency.
    #[arg(long, default_value_t = 64)]
    delivery_concurrency: u32,
    /// Keep the server's data directory here (default: a temporary one).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Repeat the whole benchmark this many times, each on a fresh server,
    /// and report every run with the median, lowest and highest of its
    /// figures: on a shared machine one run can be far off the next.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// The store: `sled` (default), `postgres` (a private PostgreSQL server
    /// started for the benchmark from the machine's `initdb`/`pg_ctl`,
    /// fsync on), or a `postgres://` URL of a database to use.
    #[arg(long, default_value = "sled")]
    store: String,
    /// Servers sharing the PostgreSQL store; posts are spread over them.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
}

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The figures summarised across runs, as JSON pointers into a report.
const SUMMARISED: [&str; 9] = [
    "/acknowledged_per_sec",
    "/delivered_per_sec",
    "/ack_latency_ms/p50",
    "/ack_latency_ms/p90",
    "/ack_latency_ms/p99",
    "/ack_latency_ms/p99.9",
    "/server_peak_rss_mb",
    "/server_cpu_secs",
    "/load_tool_and_sink_cpu_secs",
];

pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.events == 0 || args.concurrency == 0 || args.runs == 0 || args.nodes == 0 {
        return Err(super::usage(
            "--events, --concurrency, --runs and --nodes must be at least 1",
        ));
    }
    let private_server;
    let store = match args.store.as_str() {
        "sled" if args.nodes > 1 => {
            return Err(super::usage(
                "--nodes needs a shared store: --store postgres (or a postgres:// URL)",
            ));
        }
        "sled" => None,
        "postgres" => {
            private_server = hookwasm::store::pg_store::testdb::TestDb::start()
                .map_err(|e| anyhow!("starting a private PostgreSQL: {e}"))?
                .ok_or_else(|| anyhow!("--store postgres needs PostgreSQL's initdb and pg_ctl (Debian's postgresql package), or give a postgres:// URL"))?;
            Some(Store::Private(&private_server))
        }
        url => {
            hookwasm::store::postgres_url(url).map_err(|e| super::usage(format!("--store {e}")))?;
            Some(Store::Url(url.to_string()))
        }
    };
    let mut reports = Vec::new();
    for n in 1..=args.runs {
        // A kept `--dir` gets a directory per run: each server starts fresh.
        let dir = match &args.dir {
            Some(d) if args.runs > 1 => Some(d.join(format!("run-{n}"))),
            other => other.clone(),
        };
        let url = match &store {
            None => None,
            Some(Store::Url(url)) => Some(url.clone()),
            Some(Store::Private(db)) => Some(fresh_database(&db.url()).await?),
        };
        let report = run_once(&args, dir.as_deref(), url.as_deref()).await?;
        if args.runs > 1 {
            let figures: Vec<String> = SUMMARISED
                .iter()
                .map(|path| {
                    format!(
                        "{} {}",
                        key(path),
                        report.pointer(path).unwrap_or(&json!(null))
                    )
                })
                .collect();
            eprintln!("run {n}/{}: {}", args.runs, figures.join(", "));
        }
        reports.push(report);
    }
    let output = match reports.as_slice() {
        [one] => one.clone(),
        _ => {
            let (median, min, max) = summarise(&reports);
            let since_ready = reports
                .iter()
                .all(|r| r["server_peak_rss_since_ready"] == true);
            json!({
                "median": median,
                "min": min,
                "max": max,
                "server_peak_rss_since_ready": since_ready,
                "runs": reports,
            })
        }
    };
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(ExitCode::SUCCESS)
}

/// A summarised figure's name: its pointer, flattened.
fn key(path: &str) -> String {
    path.trim_start_matches('/').replace('/', "_")
}

/// The median, lowest and highest of each summarised figure.
fn summarise(
    reports: &[serde_json::Value],
) -> (serde_json::Value, serde_json::Value, serde_json::Value) {
    let (mut median, mut min, mut max) = (json!({}), json!({}), json!({}));
    for path in SUMMARISED {
        let mut values: Vec<f64> = reports
            .iter()
            .filter_map(|r| r.pointer(path).and_then(|v| v.as_f64()))
            .collect();
        values.sort_by(f64::total_cmp);
        let (Some(&lowest), Some(&highest)) = (values.first(), values.last()) else {
            continue;
        };
        let mid = values.len() / 2;
        let middle = if values.len() % 2 == 1 {
            values[mid]
        } else {
            (values[mid - 1] + values[mid]) / 2.0
        };
        median[key(path)] = json!(middle);
        min[key(path)] = json!(lowest);
        max[key(path)] = json!(highest);
    }
    (median, min, max)
}

enum Store<'a> {
    Private(&'a hookwasm::store::pg_store::testdb::TestDb),
    Url(String),
}

/// A new database on the server of `url` (the superuser's): its URL.
async fn fresh_database(url: &str) -> anyhow::Result<String> {
    let name = format!("bench_{}", ulid::Ulid::new().to_string().to_lowercase());
    let client = hookwasm::store::pg_store::connect(url).await?;
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    drop(client);
    let base = url.rsplit_once('/').map_or(url, |(b, _)| b);
    Ok(format!("{base}/{name}"))
}

/// What PostgreSQL did: its WAL position, its transactions, and the CPU
/// time of every `postgres` process on this machine.
struct PgReading {
    wal: i64,
    transactions: i64,
    cpu: Option<f64>,
}

async fn pg_reading(url: &str) -> anyhow::Result<PgReading> {
    let client = hookwasm::store::pg_store::connect(url).await?;
    let row = client
        .query_one(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::int8,
                    (SELECT (xact_commit + xact_rollback)::int8 FROM pg_stat_database
                     WHERE datname = current_database())",
            &[],
        )
        .await?;
    drop(client);
    Ok(PgReading {
        wal: row.try_get(0)?,
        transactions: row.try_get(1)?,
        cpu: postgres_cpu_secs(),
    })
}

fn postgres_cpu_secs() -> Option<f64> {
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "postgres" {
            total += cpu_secs(pid).unwrap_or(0.0);
        }
    }
    Some(total)
}

/// One benchmark against fresh servers (one, or `--nodes` on a shared
/// PostgreSQL store at `store`), their data kept in `dir` if given; its
/// report.
async fn run_once(
    args: &BenchArgs,
    dir: Option<&std::path::Path>,
    store: Option<&str>,
) -> anyhow::Result<serde_json::Value> {
    let temp;
    let dir = match dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.to_path_buf()
        }
        None => {
            temp = TempDir::new()?;
            temp.0.clone()
        }
    };

    let delivered = Arc::new(AtomicU64::new(0));
    let (sink, _sink_task) = start_sink(delivered.clone()).await?;
    let store_table = match store {
        Some(url) => format!(
            "\n[store]\nbackend = \"postgres\"\nurl = {}\n",
            toml_string(url)
        ),
        None => String::new(),
    };
    let secret_key = match store {
        // Every node seals stored secrets with the same key.
        Some(_) => {
            "secret_key = \"5c1f0e3d2b4a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0\""
        }
        None => "",
    };
    let exe = std::env::current_exe().context("finding the hookwasm binary")?;
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.concurrency)
        .build_http();
    let mut children = Vec::new();
    let mut ingests = Vec::new();
    for node in 0..args.nodes {
        let dir = if args.nodes > 1 {
            let d = dir.join(format!("node-{node}"));
            std::fs::create_dir_all(&d)?;
            d
        } else {
            dir.clone()
        };
        let ingest = free_addr()?;
        let admin = free_addr()?;
        let config = dir.join("hookwasm.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[server]
listen = "{ingest}"
data_dir = "data"
cache_dir = {cache}
allow_private_destinations = true
{secret_key}

[admin]
listen = "{admin}"
token = "{BENCH_TOKEN}"

[sources.dodo]
secrets = ["{SECRET}"]

[[endpoints]]
id = "bench"
source = "dodo"
plugin = {plugin}
events = ["*"]
url = "http://{sink}/e/bench-key"
concurrency = {concurrency}
retry = {{ schedule_secs = [0.2, 1, 2] }}
{store_table}"#,
                plugin = toml_string(&args.plugin),
                concurrency = args.delivery_concurrency,
                // Compiled plugins survive between runs (in the cache the
                // `plugin` commands use): start-up is not measured.
                cache = toml_string(
                    &super::plugin::default_cache_dir()
                        .unwrap_or_else(|| std::env::temp_dir().join("hookwasm-bench-cache"))
                        .display()
                        .to_string()
                ),
            ),
        )?;
        let child = std::process::Command::new(&exe)
            .args(["serve", "--config"])
            .arg(&config)
            .current_dir(&dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting hookwasm serve")?;
        let mut child = KillOnDrop(child);
        wait_ready(&client, admin, &mut child.0).await?;
        children.push(child);
        ingests.push(ingest);
    }
    let pids: Vec<u32> = children.iter().map(|c| c.0.id()).collect();
    let servers_cpu = || -> Option<f64> { pids.iter().map(|p| cpu_secs(&p.to_string())).sum() };
    // Measured from here: compiling plugins on a cold cache is start-up.
    let server_cpu_at_start = servers_cpu();
    let load_cpu_at_start = cpu_secs("self");
    let rss_since_ready = pids.iter().all(|p| reset_peak_rss(*p));
    let pg_at_start = match store {
        Some(url) => Some(pg_reading(url).await?),
        None => None,
    };

    let secret = Secret::parse(&hookwasm::signature::SourceKind::StandardWebhooks, SECRET)
        .map_err(|e| anyhow!("{e}"))?;
    // Ids unique to this run, so a kept `--dir` does not turn a second run
    // into duplicates that are never delivered again.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let bodies: Vec<(String, Bytes)> = (0..args.events).map(|i| event(run, i)).collect();
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicU64::new(0));
    let urls: Vec<Arc<str>> = ingests
        .iter()
        .map(|ingest| Arc::from(format!("http://{ingest}/webhooks/dodo")))
        .collect();
    eprintln!(
        "posting {} signed events of {} bytes at concurrency {} to {} node(s) on {} ({} plugin)",
        args.events,
        bodies[0].1.len(),
        args.concurrency,
        args.nodes,
        if store.is_some() {
            "PostgreSQL"
        } else {
            "sled"
        },
        args.plugin
    );
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..args.concurrency {
        let (client, bodies, next, url, secret) = (
            client.clone(),
            bodies.clone(),
            next.clone(),
            urls[w % urls.len()].clone(),
            secret.clone(),
        );
        workers.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some((id, body)) = bodies.get(i) else {
                    break;
                };
                let ts = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                let request = http::Request::post(&*url)
                    .header("content-type", "application/json")
                    .header("webhook-id", id)
                    .header("webhook-timestamp", ts.to_string())
                    .header("webhook-signature", secret.sign(id, ts, body))
                    .body(Full::new(body.clone()))?;
                let sent = Instant::now();
                let response = client.request(request).await?;
                let status = response.status();
                let _ = response.into_body().collect().await;
                if !status.is_success() {
                    bail!("event {id}: HTTP {status}");
                }
                latencies.push(sent.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        });
    }
    let mut latencies = Vec::with_capacity(args.events);
    while let Some(done) = workers.join_next().await {
        latencies.extend(done.context("a load task failed")??);
    }
    let acked_in = started.elapsed();
    let want = args.events as u64;
    let drain_deadline = Instant::now() + Duration::from_secs(600);
    while delivered.load(Ordering::Relaxed) < want {
        if Instant::now() > drain_deadline {
            bail!(
                "only {} of {want} delivered after 10 minutes",
                delivered.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let delivered_in = started.elapsed();
    let rss = pids.iter().filter_map(|p| peak_rss_mb(*p)).reduce(f64::max);
    let server_cpu = since(server_cpu_at_start, servers_cpu());
    let load_cpu = since(load_cpu_at_start, cpu_secs("self"));
    let disk = dir_size(&dir.join("data"));
    let postgres = match (store, pg_at_start) {
        (Some(url), Some(start)) => {
            let end = pg_reading(url).await?;
            let per_event = |v: i64| (v as f64 / args.events as f64 * 100.0).round() / 100.0;
            json!({
                "cpu_secs": since(start.cpu, end.cpu),
                "wal_bytes_per_event": per_event(end.wal - start.wal),
                "transactions_per_event": per_event(end.transactions - start.transactions),
            })
        }
        _ => json!(null),
    };
    drop(children);

    latencies.sort();
    // Nearest rank: the smallest latency that at least `p` of them reach.
    let pct = |p: f64| {
        let rank = (latencies.len() as f64 * p).ceil() as usize;
        latencies[rank.clamp(1, latencies.len()) - 1]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let report = json!({
        "events": args.events,
        "concurrency": args.concurrency,
        "store": if store.is_some() { "postgres" } else { "sled" },
        "nodes": args.nodes,
        "postgres": postgres,
        "plugin": args.plugin,
        "acknowledged_per_sec": (args.events as f64 / acked_in.as_secs_f64()).round(),
        "delivered_per_sec": (args.events as f64 / delivered_in.as_secs_f64()).round(),
        "ack_latency_ms": {
            "p50": ms(pct(0.50)),
            "p90": ms(pct(0.90)),
            "p99": ms(pct(0.99)),
            "p99.9": ms(pct(0.999)),
            "max": ms(pct(1.0)),
        },
        "drain_after_last_ack_ms": ms(delivered_in - acked_in),
        "total_secs": delivered_in.as_secs_f64(),
        // The largest of the nodes'.
        "server_peak_rss_mb": rss,
        // False where the kernel would not reset the peak: it then
        // includes start-up.
        "server_peak_rss_since_ready": rss_since_ready,
        // CPU time, a steadier measure than rates on a shared machine (all
        // nodes together).
        "server_cpu_secs": server_cpu,
        "load_tool_and_sink_cpu_secs": load_cpu,
        "data_dir_mb": disk as f64 / 1e6,
        "sink_requests": delivered.load(Ordering::Relaxed),
    });
    Ok(report)
}

/// Event `i`: a payment.succeeded of about 2 KB.
fn event(run: u128, i: usize) -> (String, Bytes) {
    let id = format!("msg_bench_{run}_{i:08}");
    let mut body = json!({
        "business_id": "bus_bench",
        "type": "payment.succeeded",
        "timestamp": "2025-01-15T23:30:12.482913Z",
        "data": {
            "payload_type": "Payment",
            "payment_id": format!("pay_{i:08}"),
            "total_amount": 2159 + i % 1000,
            "currency": "USD",
            "customer": { "customer_id": format!("cus_{i:08}"), "email": format!("user{i}@example.com"), "name": "Jane Doe" },
            "metadata": {},
        }
    });
    let len = body.to_string().len();
    body["data"]["metadata"]["note"] = json!("x".repeat(2048usize.saturating_sub(len + 20)));
    (id, Bytes::from(body.to_string()))
}

/// A quoted TOML string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The sink's address, and its accept loop, stopped when dropped.
async fn start_sink(delivered: Arc<AtomicU64>) -> anyhow::Result<(SocketAddr, AbortOnDrop)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of file descriptors, usually: back off, don't spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let delivered = delivered.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let delivered = delivered.clone();
                    async move {
                        let _ = req.into_body().collect().await;
                        delivered.fetch_add(1, Ordering::Relaxed);
                        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                            Bytes::from_static(b"{}"),
                        )))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((addr, AbortOnDrop(task)))
}

/// A task that ends when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn wait_ready(
    client: &Client<HttpConnector, Full<Bytes>>,
    admin: SocketAddr,
    child: &mut std::process::Child,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            bail!("hookwasm serve exited during start: {status}");
        }
        let request = http::Request::get(format!("http://{admin}/readyz"))
            .header(http::header::AUTHORIZATION, format!("Bearer {BENCH_TOKEN}"))
            .body(Full::new(Bytes::new()))?;
        // Ready, and the endpoint's plugin compiled: the run measures
        // delivery, not a first compile.
        if let Ok(r) = client.request(request).await
            && r.status().is_success()
            && let Ok(body) = r.into_body().collect().await
            && serde_json::from_slice::<serde_json::Value>(&body.to_bytes())
                .is_ok_and(|v| v["compiling"].as_array().is_some_and(|c| c.is_empty()))
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("hookwasm serve was not ready after 120 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The bench server's admin token (it listens on loopback, for one run).
const BENCH_TOKEN: &str = "bench-admin-token-0123456789";

fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// The process's peak resident set (VmHWM), in MB; Linux only.
fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

/// Makes the process's peak RSS its current RSS (Linux 4.0+); whether that
/// worked.
fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// CPU seconds used between two readings.
fn since(start: Option<f64>, end: Option<f64>) -> Option<f64> {
    let used = end? - start?;
    Some((used * 100.0).round() / 100.0)
}

/// User + system CPU time of a process so far (Linux; `None` elsewhere).
fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is the first, utime the 12th, stime the 13th.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let utime: f64 = fields.nth(11)?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    // Clock ticks; USER_HZ is 100 on Linux.
    Some(((utime + stime) / 100.0 * 100.0).round() / 100.0)
}

fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The server, killed when the benchmark ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<TempDir> {
        let dir = std::env::temp_dir().join(format!("hookwasm-bench-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarise_takes_the_median_and_range_of_each_figure() {
        let run = |p99: f64, rss: f64| json!({ "ack_latency_ms": { "p99": p99 }, "server_peak_rss_mb": rss });
        let (median, min, max) = summarise(&[run(30.0, 120.0), run(10.0, 140.0), run(20.0, 100.0)]);
        assert_eq!(median["ack_latency_ms_p99"], 20.0);
        assert_eq!(min["ack_latency_ms_p99"], 10.0);
        assert_eq!(max["server_peak_rss_mb"], 140.0);
        // An even count averages the middle two; absent figures are left out.
        let (median, _, _) = summarise(&[run(10.0, 100.0), run(20.0, 100.0)]);
        assert_eq!(median["ack_latency_ms_p99"], 15.0);
        assert!(median.get("delivered_per_sec").is_none());
    }
}
