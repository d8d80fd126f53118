//! `hookwasm serve`, the composition root: opens the store, the catalog
//! (the config file's sources and endpoints plus the stored ones), binds
//! ingest (so webhooks are accepted at once), compiles the plugins in use in
//! the background, starts delivery and the admin API; reloads the config
//! file on `SIGHUP` or when it changes; and on shutdown stops them in order:
//! no new webhooks, attempts in flight finish within the grace period,
//! everything is flushed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::{Admin, AdminToken, TokenSource};
use crate::catalog::Catalog;
use crate::catalog::seal::Sealer;
use crate::config::Config;
use crate::config::StoreSettings;
use crate::delivery::Deliverer;
use crate::httpd;
use crate::ingest::{Clock, Ingest};
use crate::metrics::Metrics;
use crate::runtime::registry::{PluginRegistry, WatchHandle};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::store::{PgStore, Purged, RetentionPolicy, SledStore, Store, now_ms};

/// sled's page cache: bounded, so memory stays flat as the database grows.
/// sled counts serialized bytes; in memory its pages take about three times
/// that. The hot set is small: writes go to the newest pages of each tree
/// (keys are time-ordered), and first attempts read their work from memory
/// (see `store::sled_store::fresh`). docs/operations.md has the figures.
pub const STORE_CACHE_BYTES: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("could not listen on {addr}: {}", bind_reason(.error))]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("{0}")]
    DataDir(#[from] crate::datadir::LockError),
    #[error("{0}")]
    Plugins(String),
    #[error("{0}")]
    Delivery(String),
    #[error("{0}")]
    Catalog(String),
    #[error("{0}")]
    Secrets(String),
}

/// A running server.
pub struct Server {
    pub ingest_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub store: Arc<dyn Store>,
    pub catalog: Arc<Catalog>,
    pub deliverer: Arc<Deliverer>,
    pub registry: Arc<PluginRegistry>,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
    _watch: Option<WatchHandle>,
    _lock: crate::datadir::DataDirLock,
    /// How long attempts in flight may take to finish at shutdown.
    pub grace: std::time::Duration,
}

pub async fn start(config: Config) -> Result<Server, StartError> {
    start_with_clock(config, Arc::new(SystemTime::now)).await
}

/// The key that seals stored secrets: `[server] secret_key`, or a key file
/// generated in the data directory (with a warning saying how to supply one).
fn sealer(config: &Config) -> Result<Sealer, StartError> {
    match &config.server.secret_key {
        Some(text) => Sealer::from_text(text)
            .map_err(|e| StartError::Secrets(format!("server.secret_key: {e}"))),
        None => {
            let (sealer, created) = Sealer::from_key_file(&config.server.data_dir)
                .map_err(|e| StartError::Secrets(e.to_string()))?;
            if created {
                tracing::warn!(
                    "no [server] secret_key: generated {} (owner-only) to seal stored secrets; keep it with backups of the data, or set secret_key = \"${{HOOKWASM_SECRET_KEY}}\" (32 bytes, hex or base64)",
                    config
                        .server
                        .data_dir
                        .join(crate::catalog::seal::KEY_FILE)
                        .display()
                );
            }
            Ok(sealer)
        }
    }
}

/// Like [`start`], with the clock that signature timestamps are checked
/// against (tests replay signed fixtures from the past).
pub async fn start_with_clock(config: Config, clock: Clock) -> Result<Server, StartError> {
    for warning in &config.warnings {
        tracing::warn!("{}: {warning}", config.path.display());
    }
    let lock = crate::datadir::lock(&config.server.data_dir)?;
    let store: Arc<dyn Store> = match &config.store {
        StoreSettings::Sled => {
            Arc::new(SledStore::open(&config.server.data_dir, STORE_CACHE_BYTES)?)
        }
        StoreSettings::Postgres {
            url,
            pool_size,
            lease,
        } => {
            let store = PgStore::open(url, *pool_size, *lease).await?;
            tracing::info!("store: PostgreSQL (this node is {:?})", store.node());
            Arc::new(store)
        }
    };
    let metrics = Arc::new(Metrics::new());
    let sealer = sealer(&config)?;
    let (token, generated) =
        AdminToken::resolve(config.admin.token.as_deref(), &config.server.data_dir)
            .map_err(StartError::Secrets)?;

    let runtime = Runtime::new(RuntimeConfig {
        max_concurrent_calls: config.runtime.max_concurrent_calls,
        max_memory_bytes: config.runtime.max_memory_bytes,
        cache_dir: Some(config.server.cache_dir.clone()),
        threads: config.runtime.threads,
        ..RuntimeConfig::default()
    })
    .map_err(|e| StartError::Plugins(e.to_string()))?;
    let registry = PluginRegistry::new(runtime, config.server.plugins_dir.clone());
    let catalog = Catalog::open(&config, store.clone(), registry.clone(), sealer)
        .await
        .map_err(|e| StartError::Catalog(e.to_string()))?;
    let deliverer = Deliverer::new(
        &config,
        store.clone(),
        registry.clone(),
        catalog.clone(),
        metrics.clone(),
    )
    .map_err(StartError::Delivery)?;

    let (stop, _) = watch::channel(false);
    let ingest = Arc::new(Ingest::new(
        &config,
        catalog.clone(),
        store.clone(),
        metrics.clone(),
        clock,
    ));
    let (listener, ingest_addr) = bind(config.server.listen).await?;
    let (admin_listener, admin_addr) = bind(config.admin.listen).await?;
    let options = httpd::Options {
        max_connections: config.server.max_connections,
        header_timeout: config.server.header_timeout,
        max_header_bytes: config.server.max_header_bytes,
        grace: config.server.shutdown_grace,
    };
    let handler = {
        let ingest = ingest.clone();
        move |req| {
            let ingest = ingest.clone();
            async move { ingest.handle(req).await }
        }
    };
    let mut servers = vec![tokio::spawn(httpd::serve(
        listener,
        options.clone(),
        handler,
        stop.subscribe(),
    ))];
    tracing::info!("ingest listening on http://{ingest_addr} (POST /webhooks/<source>)");

    let ready = Arc::new(AtomicBool::new(false));
    let config = Arc::new(config);
    let guard = crate::admin::guard_for(
        &token,
        admin_addr,
        &config.admin.hosts,
        config.admin.session_ttl,
    );
    let admin = Arc::new(Admin {
        config: config.clone(),
        store: store.clone(),
        catalog: catalog.clone(),
        deliverer: deliverer.clone(),
        registry: registry.clone(),
        metrics: metrics.clone(),
        jobs: Default::default(),
        ready: ready.clone(),
        guard,
        ingest_addr,
    });
    let router = admin.router();
    let handler = move |req: http::Request<hyper::body::Incoming>| {
        let router = router.clone();
        async move {
            use tower::ServiceExt as _;
            match router.oneshot(req.map(axum::body::Body::new)).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        }
    };
    servers.push(tokio::spawn(httpd::serve(
        admin_listener,
        options,
        handler,
        stop.subscribe(),
    )));
    match &token.source {
        TokenSource::Config => {
            tracing::info!("admin API on http://{admin_addr} (bearer token required)")
        }
        TokenSource::File(path) if generated => tracing::warn!(
            "admin API on http://{admin_addr}: no [admin] token was configured, so one was generated in {} (owner-only); the CLI reads it from there",
            path.display()
        ),
        TokenSource::File(path) => tracing::info!(
            "admin API on http://{admin_addr} (bearer token in {})",
            path.display()
        ),
    }

    // Plugins compile after ingest is up, in the background, only those
    // something uses: webhooks are stored meanwhile, and each endpoint
    // starts delivering once its own plugin is ready.
    let needed: Vec<String> = catalog
        .snapshot()
        .endpoints
        .values()
        .map(|e| e.endpoint.plugin.clone())
        .collect();
    registry.start(&needed);
    let watch = registry.watch();
    deliverer.start().await;
    servers.push(tokio::spawn(retention(
        store.clone(),
        RetentionPolicy {
            done: Duration::from_secs(config.retention.days * 86_400),
            dead: Duration::from_secs(config.retention.dead_days * 86_400),
        },
        stop.subscribe(),
    )));
    if let Some(changes) = store.remote_changes() {
        servers.push(tokio::spawn(follow_other_nodes(
            changes,
            catalog.clone(),
            stop.subscribe(),
        )));
    }
    servers.push(tokio::spawn(reload_config(
        config.path.clone(),
        catalog.clone(),
        stop.subscribe(),
    )));
    ready.store(true, Ordering::Relaxed);

    Ok(Server {
        ingest_addr,
        admin_addr,
        store,
        catalog,
        deliverer,
        registry,
        stop,
        servers,
        _watch: watch,
        _lock: lock,
        grace: config.server.shutdown_grace,
    })
}

/// The OS error with what to do about the common ones.
fn bind_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::AddrInUse => {
            format!("{error} (another process listens there: stop it or choose another port)")
        }
        std::io::ErrorKind::PermissionDenied => {
            format!("{error} (ports below 1024 need privileges: choose a port above 1024)")
        }
        _ => error.to_string(),
    }
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|error| StartError::Bind { addr, error })?;
    let local = listener
        .local_addr()
        .map_err(|error| StartError::Bind { addr, error })?;
    Ok((listener, local))
}

/// With a shared store: another node's change to the stored catalog (an
/// endpoint created over its API, a 410 that disabled one) rebuilds this
/// node's snapshot, within a notification's time.
async fn follow_other_nodes(
    mut changes: watch::Receiver<u64>,
    catalog: Arc<Catalog>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = stop.changed() => return,
        }
        if let Err(e) = catalog.reload_stored().await {
            tracing::error!("reloading the catalog after another node's change failed: {e}");
        }
    }
}

/// How often retention runs, and how many events one step examines.
const RETENTION_EVERY: Duration = Duration::from_secs(600);
const RETENTION_STEP: usize = 1000;

/// Purges finished events past retention in small steps, so it never holds
/// up ingest or delivery for long.
async fn retention(
    store: Arc<dyn Store>,
    policy: RetentionPolicy,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(RETENTION_EVERY) => {}
            _ = stop.changed() => return,
        }
        let mut total = Purged::default();
        let mut after = None;
        loop {
            match store.purge(now_ms(), policy, after, RETENTION_STEP).await {
                Ok((purged, next)) => {
                    total.events += purged.events;
                    total.deliveries += purged.deliveries;
                    match next {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
                Err(e) => {
                    tracing::error!("retention pass failed: {e}");
                    break;
                }
            }
            if *stop.borrow() {
                return;
            }
        }
        if total.events > 0 {
            let size = store.size_on_disk().await.unwrap_or(0);
            tracing::info!(
                events = total.events,
                deliveries = total.deliveries,
                db_bytes = size,
                "retention purged old events"
            );
        }
    }
}

/// How often the config file's (and its scripts') times are looked at.
const RELOAD_POLL: Duration = Duration::from_secs(1);

/// Re-reads the config file on `SIGHUP` and when it (or a script it names)
/// changes: a valid file is applied like the API would apply it; an
/// invalid one changes nothing, and says why in the log and
/// `GET /v1/config`.
async fn reload_config(path: PathBuf, catalog: Arc<Catalog>, mut stop: watch::Receiver<bool>) {
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut seen = watched_times(&path, &catalog);
    loop {
        #[cfg(unix)]
        let hup = async {
            match hangup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let hup = std::future::pending::<()>();
        let why = tokio::select! {
            _ = hup => "SIGHUP",
            _ = tokio::time::sleep(RELOAD_POLL) => {
                let now = watched_times(&path, &catalog);
                if now == seen {
                    continue;
                }
                "the file changed"
            }
            _ = stop.changed() => return,
        };
        seen = watched_times(&path, &catalog);
        match Config::load(&path) {
            Ok(config) => match catalog.reload_file(&config).await {
                Ok(()) => {
                    for warning in &config.warnings {
                        tracing::warn!("{}: {warning}", path.display());
                    }
                    tracing::info!(file = %path.display(), why, "config reloaded");
                }
                Err(e) => {
                    tracing::error!(file = %path.display(), why, "config not reloaded, nothing changed: {e}");
                    catalog.reload_failed(&e);
                }
            },
            Err(e) => {
                let text = e.to_string();
                tracing::error!(file = %path.display(), why, "config not reloaded, nothing changed: {}", text.replace('\n', "; "));
                catalog.reload_failed(&text.replace('\n', "; "));
            }
        }
    }
}

/// The modification times of the config file and of the scripts its
/// endpoints name.
fn watched_times(path: &Path, catalog: &Catalog) -> Vec<Option<SystemTime>> {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut times = vec![modified(path)];
    for entry in catalog.snapshot().endpoints.values() {
        if let Some(file) = entry
            .endpoint
            .transformation
            .as_ref()
            .and_then(|t| t.file.as_ref())
        {
            times.push(modified(file));
        }
    }
    times
}

impl Server {
    /// Stops accepting, lets work in flight finish within the grace period,
    /// and flushes the store.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for server in self.servers {
            let _ = server.await;
        }
        self.deliverer.shutdown(self.grace).await;
        if let Err(e) = self.store.flush().await {
            tracing::error!("final flush failed: {e}");
        }
        tracing::info!("stopped");
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
