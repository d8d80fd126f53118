//! `hookwasm serve`: opens the store, binds ingest (so webhooks are accepted
//! at once), loads the plugins, starts delivery and the admin API, and on
//! shutdown stops them in order: no new webhooks, attempts in flight finish
//! within the grace period, everything is flushed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::Admin;
use crate::config::Config;
use crate::delivery::Deliverer;
use crate::httpd;
use crate::ingest::{Clock, Ingest};
use crate::metrics::Metrics;
use crate::runtime::registry::{PluginRegistry, WatchHandle};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::store::{Purged, RetentionPolicy, SledStore, Store, now_ms};

/// sled's page cache: bounded, so memory stays flat as the database grows.
/// sled counts serialized bytes; in memory its pages take about three times
/// that (64 MiB here meant ~250 MB RSS under `hookwasm bench`, 16 MiB ~135).
/// The hot set is small: writes go to the newest pages of each tree (keys
/// are time-ordered), and first attempts read their work from memory (see
/// `store::sled_store::fresh`). Under `hookwasm bench`, 4 MiB ran as fast
/// as 8 and 16, with peak RSS 118-133 MB instead of 143-152 at 8 (20k
/// events) and 153 instead of 188 (60k); that was before `heap` fixed the
/// allocator's retention, after which 20k events peak at ~80 MB.
pub const STORE_CACHE_BYTES: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Plugins(String),
    #[error("{0}")]
    Delivery(String),
}

/// A running server.
pub struct Server {
    pub ingest_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub store: Arc<dyn Store>,
    pub deliverer: Arc<Deliverer>,
    pub registry: Arc<PluginRegistry>,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
    _watch: Option<WatchHandle>,
    grace: std::time::Duration,
}

pub async fn start(config: Config) -> Result<Server, StartError> {
    start_with_clock(config, Arc::new(SystemTime::now)).await
}

/// Like [`start`], with the clock that signature timestamps are checked
/// against (tests replay signed fixtures from the past).
pub async fn start_with_clock(config: Config, clock: Clock) -> Result<Server, StartError> {
    for warning in &config.warnings {
        tracing::warn!("{}: {warning}", config.path.display());
    }
    let store: Arc<dyn Store> =
        Arc::new(SledStore::open(&config.server.data_dir, STORE_CACHE_BYTES)?);
    let metrics = Arc::new(Metrics::new());

    let runtime = Runtime::new(RuntimeConfig {
        max_concurrent_calls: config.runtime.max_concurrent_calls,
        max_memory_bytes: config.runtime.max_memory_bytes,
        cache_dir: Some(config.server.cache_dir.clone()),
        threads: config.runtime.threads,
        ..RuntimeConfig::default()
    })
    .map_err(|e| StartError::Plugins(e.to_string()))?;
    let registry = PluginRegistry::new(runtime, config.server.plugins_dir.clone());
    let deliverer = Deliverer::new(&config, store.clone(), registry.clone(), metrics.clone())
        .map_err(StartError::Delivery)?;

    let (stop, _) = watch::channel(false);
    let ingest = Arc::new(Ingest::new(
        &config,
        store.clone(),
        deliverer.clone(),
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
    let admin = Arc::new(Admin::new(
        config.clone(),
        store.clone(),
        deliverer.clone(),
        registry.clone(),
        metrics.clone(),
        ready.clone(),
    ));
    let handler = move |req| {
        let admin = admin.clone();
        async move { admin.handle(req).await }
    };
    servers.push(tokio::spawn(httpd::serve(
        admin_listener,
        options,
        handler,
        stop.subscribe(),
    )));
    match &config.admin.token {
        Some(_) => tracing::info!("admin API on http://{admin_addr} (bearer token required)"),
        None => tracing::warn!(
            "admin API on http://{admin_addr} WITHOUT a token (loopback only); set admin.token"
        ),
    }

    // Plugins compile after ingest is up, in the background, only those
    // something uses: webhooks are stored meanwhile, and each endpoint
    // starts delivering once its own plugin is ready.
    let needed: Vec<String> = config.endpoints.iter().map(|e| e.plugin.clone()).collect();
    registry.start(&needed);
    let watch = registry.watch();
    deliverer.start();
    servers.push(tokio::spawn(retention(
        store.clone(),
        RetentionPolicy {
            done: Duration::from_secs(config.retention.days * 86_400),
            dead: Duration::from_secs(config.retention.dead_days * 86_400),
        },
        stop.subscribe(),
    )));
    ready.store(true, Ordering::Relaxed);

    Ok(Server {
        ingest_addr,
        admin_addr,
        store,
        deliverer,
        registry,
        stop,
        servers,
        _watch: watch,
        grace: config.server.shutdown_grace,
    })
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    Ok((listener, local))
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
            let store = store.clone();
            let step = tokio::task::spawn_blocking(move || {
                store.purge(now_ms(), policy, after, RETENTION_STEP)
            })
            .await;
            match step {
                Ok(Ok((purged, next))) => {
                    total.events += purged.events;
                    total.deliveries += purged.deliveries;
                    match next {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
                Ok(Err(e)) => {
                    tracing::error!("retention pass failed: {e}");
                    break;
                }
                Err(e) => {
                    tracing::error!("retention task failed: {e}");
                    break;
                }
            }
            if *stop.borrow() {
                return;
            }
        }
        if total.events > 0 {
            let size = store.size_on_disk().unwrap_or(0);
            tracing::info!(
                events = total.events,
                deliveries = total.deliveries,
                db_bytes = size,
                "retention purged old events"
            );
        }
    }
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
