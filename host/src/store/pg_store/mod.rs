//! The shared `Store`: PostgreSQL, so that several hookwasm nodes work one
//! queue. Ingests are group-committed (`ingest`); a claim (the schema's
//! `claim` function, one round trip) takes an endpoint's due deliveries
//! within its cluster-wide limits and leases them to this node (the
//! `leases` table), committed at once — no transaction stays open across
//! an HTTP call — and the node renews its leases while the attempts run; a
//! dead node's leases expire and another node takes the work. Finished
//! attempts are batched (`finish`). `LISTEN/NOTIFY` wakes idle lanes on
//! every node, with a slow poll as backstop (`notify`). The schema is in
//! `migrations/`.
//!
//! Two pools: `durable` (ingests, catalog records, operators' actions:
//! `synchronous_commit` on, so `Ok` means on the primary's disk) and
//! `lazy` (claims, leases, finished attempts, with `synchronous_commit`
//! off: a crash of PostgreSQL may roll back the last fraction of a second
//! of delivery bookkeeping, which redelivers — at least once, as sled's
//! 500 ms flush does — but never loses an acknowledged event).

mod batch;
mod finish;
mod ingest;
mod notify;
mod rows;
pub mod schema;
#[doc(hidden)]
pub mod testdb;
#[cfg(test)]
mod tests;
mod tls;
mod transfer;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::*;
use rows::ms;

/// How far ahead a claim of a rate-limited endpoint books send times: about
/// one second of its rate, so that nodes share the rate as they share work.
const RATE_HORIZON: Duration = Duration::from_secs(1);

/// Where ingests and requeues tell every node's lanes that `endpoint` has
/// work (the payload).
const WORK_CHANNEL: &str = "hookwasm_work";
/// Where a change to the catalog's records or an endpoint's state is
/// announced (the payload: the node that made it).
const CATALOG_CHANNEL: &str = "hookwasm_catalog";

/// The schema hookwasm's tables live in.
pub const SCHEMA: &str = "hookwasm";

/// Parses a `postgres://` URL, libpq's TLS options included (`tls`), for
/// config checks: the error never repeats the URL, which may hold a
/// password.
pub fn postgres_url(url: &str) -> Result<tokio_postgres::Config, String> {
    tls::parse(url).map(|t| t.config)
}

/// `url`'s connection settings and its TLS connector.
fn target(url: &str) -> Result<(tokio_postgres::Config, MakeRustlsConnect)> {
    let target = tls::parse(url).map_err(|e| StoreError::Storage(format!("store.url {e}")))?;
    let connector = tls::connector(&target).map_err(StoreError::Storage)?;
    Ok((target.config, connector))
}

/// One connection to `url` outside any store (the benchmark's readings),
/// driven in the background until the client is dropped.
pub async fn connect(url: &str) -> Result<tokio_postgres::Client> {
    let (config, tls) = target(url)?;
    let (client, connection) = config.connect(tls).await.map_err(pg_error)?;
    tokio::spawn(connection);
    Ok(client)
}

pub struct PgStore {
    durable: Pool,
    lazy: Pool,
    ingests: mpsc::UnboundedSender<ingest::IngestJob>,
    finishes: mpsc::UnboundedSender<finish::FinishJob>,
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    lease: Option<Duration>,
}

/// What the store's tasks share with it.
pub(crate) struct Shared {
    /// This node's name in its leases and in catalog notifications.
    node: String,
    signals: Mutex<HashMap<String, Arc<Notify>>>,
    /// Deliveries this node holds leases on, and for how long a lease runs.
    held: Mutex<HashSet<DeliveryId>>,
    lease_ms: AtomicU64,
    /// How often every lane is woken without a notification.
    backstop: Duration,
    /// Why PostgreSQL cannot be reached, while it cannot.
    down: Mutex<Option<String>>,
    /// Bumped when another node changed the catalog's records.
    catalog: watch::Sender<u64>,
    /// Whether the LISTEN connection is up (and its catch-up wake-up sent).
    listening: watch::Sender<bool>,
}

impl Shared {
    fn signal(&self, endpoint: &str) {
        if let Some(s) = self
            .signals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(endpoint)
        {
            s.notify_one();
        }
    }

    fn signal_all(&self) {
        for s in self
            .signals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            s.notify_one();
        }
    }

    /// Records whether PostgreSQL answered: an error that is not the
    /// database refusing a statement means it is unreachable.
    fn note(&self, error: Option<&StoreError>) {
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        match error {
            Some(StoreError::Storage(why)) if is_unreachable(why) => {
                if down.is_none() {
                    tracing::error!("{why}");
                }
                *down = Some(why.clone());
            }
            Some(_) => {}
            None => {
                if down.take().is_some() {
                    tracing::info!("PostgreSQL answers again");
                }
            }
        }
    }
}

/// How the message of an error that is PostgreSQL's absence starts.
const UNREACHABLE: &str = "PostgreSQL is unreachable";

/// Whether a storage error's message says PostgreSQL is absent rather
/// than refusing a statement.
fn is_unreachable(why: &str) -> bool {
    why.starts_with(UNREACHABLE)
}

fn pg_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Storage(format!(
            "PostgreSQL: {} ({})",
            db.message(),
            db.code().code()
        )),
        None => {
            let cause = std::error::Error::source(&e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            StoreError::Storage(format!("{UNREACHABLE}: {e}{cause}"))
        }
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg_error(e),
        other => StoreError::Storage(format!("{UNREACHABLE}: {other}")),
    }
}

fn is_foreign_key_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION)
}

fn pool(config: &tokio_postgres::Config, tls: &MakeRustlsConnect, size: usize) -> Result<Pool> {
    let manager = Manager::from_config(
        config.clone(),
        tls.clone(),
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()
        .map_err(|e| StoreError::Storage(format!("PostgreSQL pool: {e}")))
}

/// `config` with `-c name=value` settings added to its startup options.
fn with_settings(
    config: &tokio_postgres::Config,
    settings: &[(&str, &str)],
) -> tokio_postgres::Config {
    let mut options = config.get_options().unwrap_or_default().to_string();
    for (name, value) in settings {
        options.push_str(&format!(" -c {name}={value}"));
    }
    let mut config = config.clone();
    config.options(options.trim());
    config
}

impl PgStore {
    /// Connects, applies missing migrations, and starts the store's tasks.
    /// Claims are leased for `lease` (the configured `[store] lease_secs`,
    /// which wins over the lanes' default).
    pub async fn open(url: &str, pool_size: usize, lease: Duration) -> Result<PgStore> {
        let mut store = PgStore::open_in(url, pool_size, SCHEMA, notify::BACKSTOP).await?;
        store.lease = Some(lease);
        Ok(store)
    }

    /// As `open`, with the tables in `schema` (tests: one schema per case)
    /// and lanes woken every `backstop` without a notification.
    pub async fn open_in(
        url: &str,
        pool_size: usize,
        schema: &str,
        backstop: Duration,
    ) -> Result<PgStore> {
        let (mut config, tls) = target(url)?;
        if config.get_application_name().is_none() {
            config.application_name("hookwasm");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        migrate_with(&config, &tls, schema).await?;
        let search_path = schema::quote_ident(schema);
        // READ COMMITTED whatever the server's default: the `claim`
        // function's statements must each see what the claim before it
        // committed (a database defaulting to REPEATABLE READ would give
        // them the snapshot taken before its advisory lock).
        let isolation = ("default_transaction_isolation", "read\\ committed");
        let durable = with_settings(&config, &[("search_path", &search_path), isolation]);
        let lazy = with_settings(
            &config,
            &[
                ("search_path", &search_path),
                ("synchronous_commit", "off"),
                isolation,
            ],
        );
        let node = format!(
            "{}-{}-{:04x}",
            hostname(),
            std::process::id(),
            fastrand::u16(..)
        );
        let shared = Arc::new(Shared {
            node,
            signals: Default::default(),
            held: Default::default(),
            lease_ms: AtomicU64::new(90_000),
            backstop,
            down: Default::default(),
            catalog: watch::channel(0).0,
            listening: watch::channel(false).0,
        });
        let durable_pool = pool(&durable, &tls, pool_size.max(2))?;
        let lazy_pool = pool(&lazy, &tls, pool_size.max(2))?;
        // Fail now, with the reason, rather than at the first webhook.
        drop(durable_pool.get().await.map_err(pool_error)?);
        let ingests = ingest::start(durable_pool.clone(), shared.clone());
        let finishes = finish::start(lazy_pool.clone(), shared.clone());
        let tasks = vec![
            tokio::spawn(notify::listen(durable.clone(), tls, shared.clone())),
            tokio::spawn(notify::keep_leases(lazy_pool.clone(), shared.clone())),
        ];
        Ok(PgStore {
            durable: durable_pool,
            lazy: lazy_pool,
            ingests,
            finishes,
            shared,
            tasks,
            lease: None,
        })
    }

    /// Up to `limit + 1` rows of `table` with ids in `[lo, hi)`, newest
    /// first, where each `(column, Some(value))` of `filters` matches. The
    /// SQL is built for the filters given, so that each combination is
    /// planned on its own index.
    async fn newest_first(
        &self,
        table: &str,
        columns: &str,
        (lo, hi): ([u8; 16], [u8; 16]),
        filters: &[(&str, Option<String>)],
        limit: usize,
    ) -> Result<Vec<tokio_postgres::Row>> {
        let mut sql = format!("SELECT {columns} FROM {table} WHERE id >= $1 AND id < $2");
        let mut params: Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>> =
            vec![Box::new(lo.to_vec()), Box::new(hi.to_vec())];
        for (column, value) in filters {
            if let Some(value) = value {
                params.push(Box::new(value.clone()));
                sql.push_str(&format!(" AND {column} = ${}", params.len()));
            }
        }
        params.push(Box::new((limit.max(1) + 1) as i64));
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", params.len()));
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            params.iter().map(|p| p.as_ref() as _).collect();
        let client = self.lazy().await?;
        let found = client.query(&sql, &refs).await.map_err(pg_error);
        self.track(found)
    }

    /// Resolves once this node listens for other nodes' notifications.
    pub async fn listening(&self) {
        let _ = self.shared.listening.subscribe().wait_for(|up| *up).await;
    }

    /// This node's name, as its leases show it.
    pub fn node(&self) -> &str {
        &self.shared.node
    }

    fn track<T>(&self, result: Result<T>) -> Result<T> {
        self.shared.note(result.as_ref().err());
        result
    }

    async fn durable(&self) -> Result<deadpool_postgres::Object> {
        let got = self.durable.get().await.map_err(pool_error);
        self.track(got)
    }

    async fn lazy(&self) -> Result<deadpool_postgres::Object> {
        let got = self.lazy.get().await.map_err(pool_error);
        self.track(got)
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Applies the migrations `url`'s database lacks (`hookwasm store migrate`).
pub async fn migrate(url: &str) -> Result<Vec<i32>> {
    let (config, tls) = target(url)?;
    migrate_with(&config, &tls, SCHEMA).await
}

async fn migrate_with(
    config: &tokio_postgres::Config,
    tls: &MakeRustlsConnect,
    schema: &str,
) -> Result<Vec<i32>> {
    let (mut client, connection) = config.connect(tls.clone()).await.map_err(pg_error)?;
    let driver = tokio::spawn(connection);
    let applied = schema::migrate(&mut client, schema).await;
    drop(client);
    let _ = driver.await;
    let applied = applied?;
    if !applied.is_empty() {
        tracing::info!("PostgreSQL: applied schema migration(s) {applied:?} in schema {schema:?}");
    }
    Ok(applied)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into())
}

/// A statement prepared once per connection: PostgreSQL parses and plans
/// the hot path's statements once, not on every call.
async fn cached(
    client: &deadpool_postgres::Object,
    sql: &str,
) -> Result<tokio_postgres::Statement> {
    client.prepare_cached(sql).await.map_err(pg_error)
}

/// A page from `newest_first`'s rows: the cursor is the last item's id
/// when there was one row more than `limit`.
fn page_of<T>(
    found: Vec<tokio_postgres::Row>,
    limit: usize,
    read: fn(&tokio_postgres::Row, usize) -> Result<T>,
    id: fn(&T) -> String,
) -> Result<Page<T>> {
    let limit = limit.max(1);
    let mut items = found
        .iter()
        .map(|r| read(r, 0))
        .collect::<Result<Vec<_>>>()?;
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = if more { items.last().map(id) } else { None };
    Ok(Page { items, next_cursor })
}

/// `columns` (as `rows` lists them), each qualified by `alias`.
fn prefixed(alias: &str, columns: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn status_str(next: &Next) -> (&'static str, Option<Millis>, Option<&str>) {
    match next {
        Next::Delivered => ("delivered", None, None),
        Next::Retry { at, reason } => ("pending", Some(*at), Some(reason)),
        Next::Dead { reason } => ("dead", None, Some(reason)),
        Next::Skipped { reason } => ("skipped", None, Some(reason)),
        Next::Cancelled { reason } => ("cancelled", None, Some(reason)),
    }
}

#[async_trait::async_trait]
impl EventLog for PgStore {
    async fn ingest(
        &self,
        event: Event,
        payload: &[u8],
        endpoints: &[Route],
        dedupe_window: Duration,
    ) -> Result<Ingested> {
        let (reply, answer) = oneshot::channel();
        let job = ingest::IngestJob {
            event,
            payload: payload.to_vec(),
            endpoints: endpoints.to_vec(),
            window_ms: dedupe_window.as_millis() as u64,
            reply,
        };
        self.ingests
            .send(job)
            .map_err(|_| StoreError::Storage("the ingest batcher has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Storage("the ingest batcher has stopped".into()))?
    }

    async fn flush(&self) -> Result<()> {
        // Every write through `durable` is committed synchronously; the
        // lazy ones are flushed by a synchronous commit of anything.
        let client = self.durable().await?;
        let done = client
            .batch_execute("SELECT txid_current()")
            .await
            .map_err(pg_error);
        self.track(done)
    }

    async fn event(&self, id: EventId) -> Result<Option<Event>> {
        let client = self.lazy().await?;
        let row = client
            .query_opt(
                &cached(
                    &client,
                    &format!("SELECT {} FROM events WHERE id = $1", rows::EVENT),
                )
                .await?,
                &[&&id.bytes()[..]],
            )
            .await
            .map_err(pg_error);
        self.track(row)?.map(|r| rows::event(&r, 0)).transpose()
    }

    async fn event_by_webhook_id(&self, source: &str, webhook_id: &str) -> Result<Option<EventId>> {
        let client = self.lazy().await?;
        let row = client
            .query_opt(
                &cached(
                    &client,
                    "SELECT event_id FROM webhooks WHERE source = $1 AND webhook_id = $2",
                )
                .await?,
                &[&source, &webhook_id],
            )
            .await
            .map_err(pg_error);
        match self.track(row)? {
            Some(r) => Ok(Some(rows::event_id(r.try_get(0).map_err(pg_error)?)?)),
            None => Ok(None),
        }
    }

    async fn payload(&self, id: EventId) -> Result<Option<Vec<u8>>> {
        let client = self.lazy().await?;
        let row = client
            .query_opt(
                &cached(&client, "SELECT payload FROM events WHERE id = $1").await?,
                &[&&id.bytes()[..]],
            )
            .await
            .map_err(pg_error);
        match self.track(row)? {
            Some(r) => Ok(Some(r.try_get(0).map_err(pg_error)?)),
            None => Ok(None),
        }
    }

    async fn events(&self, query: &EventQuery) -> Result<Page<Event>> {
        let lo = EventId::bound(query.since.unwrap_or(0), false).bytes();
        let mut hi = EventId::bound(query.until.unwrap_or(u64::MAX >> 16), true).bytes();
        if let Some(cursor) = query.cursor {
            hi = hi.min(cursor.bytes());
        }
        let filters = [
            ("source", query.source.clone()),
            ("event_type", query.event_type.clone()),
        ];
        let page = self
            .newest_first("events", rows::EVENT, (lo, hi), &filters, query.limit)
            .await?;
        page_of(page, query.limit, rows::event, |e| e.id.to_string())
    }

    async fn purge(
        &self,
        now: Millis,
        policy: RetentionPolicy,
        after: Option<EventId>,
        budget: usize,
    ) -> Result<(Purged, Option<EventId>)> {
        let done = purge::Cutoffs::new(now, policy);
        let mut client = self.durable().await?;
        // A pass begins only if no other node began one lately: the nodes
        // share the work rather than each repeating it.
        if after.is_none() {
            let mine = purge::take_turn(&client, &self.shared.node, now).await;
            if !self.track(mine)? {
                return Ok((Purged::default(), None));
            }
        }
        let purged = purge::run(&mut client, done, after, budget).await;
        self.track(purged)
    }

    async fn size_on_disk(&self) -> Result<u64> {
        let client = self.lazy().await?;
        let row = client
            .query_one("SELECT pg_database_size(current_database())", &[])
            .await
            .map_err(pg_error);
        let size: i64 = self.track(row)?.try_get(0).map_err(pg_error)?;
        Ok(size.max(0) as u64)
    }

    fn failure(&self) -> Option<String> {
        // PostgreSQL recovers by itself (see `unavailable`): nothing here
        // needs a restart of the node.
        None
    }

    fn unavailable(&self) -> Option<String> {
        self.shared
            .down
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

mod purge;

#[async_trait::async_trait]
impl Queue for PgStore {
    async fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>> {
        let client = self.lazy().await?;
        let row = client
            .query_opt(
                &cached(
                    &client,
                    &format!("SELECT {} FROM deliveries WHERE id = $1", rows::DELIVERY),
                )
                .await?,
                &[&&id.bytes()[..]],
            )
            .await
            .map_err(pg_error);
        self.track(row)?.map(|r| rows::delivery(&r, 0)).transpose()
    }

    async fn deliveries_of(&self, event: EventId) -> Result<Vec<Delivery>> {
        let client = self.lazy().await?;
        let found = client
            .query(
                &cached(
                    &client,
                    &format!(
                        "SELECT {} FROM deliveries WHERE event_id = $1 ORDER BY endpoint",
                        rows::DELIVERY
                    ),
                )
                .await?,
                &[&&event.bytes()[..]],
            )
            .await
            .map_err(pg_error);
        self.track(found)?
            .iter()
            .map(|r| rows::delivery(r, 0))
            .collect()
    }

    async fn deliveries(&self, query: &DeliveryQuery) -> Result<Page<Delivery>> {
        let lo = DeliveryId::bound(query.since.unwrap_or(0), false).bytes();
        let mut hi = DeliveryId::bound(query.until.unwrap_or(u64::MAX >> 16), true).bytes();
        if let Some(cursor) = query.cursor {
            hi = hi.min(cursor.bytes());
        }
        let filters = [
            ("endpoint", query.endpoint.clone()),
            ("status", query.status.map(|s| s.as_str().to_string())),
        ];
        let page = self
            .newest_first(
                "deliveries",
                rows::DELIVERY,
                (lo, hi),
                &filters,
                query.limit,
            )
            .await?;
        page_of(page, query.limit, rows::delivery, |d| d.id.to_string())
    }

    async fn request(&self, id: DeliveryId) -> Result<Option<OutboundRequest>> {
        let client = self.lazy().await?;
        let row = client
            .query_opt(
                &cached(
                    &client,
                    "SELECT request::text FROM deliveries WHERE id = $1",
                )
                .await?,
                &[&&id.bytes()[..]],
            )
            .await
            .map_err(pg_error);
        match self.track(row)? {
            Some(r) => rows::request(&r, 0),
            None => Ok(None),
        }
    }

    async fn attempts(&self, id: DeliveryId) -> Result<Vec<Attempt>> {
        let client = self.lazy().await?;
        let found = client
            .query(
                &cached(
                    &client,
                    "SELECT attempt::text FROM attempts WHERE delivery_id = $1 ORDER BY n",
                )
                .await?,
                &[&&id.bytes()[..]],
            )
            .await
            .map_err(pg_error);
        self.track(found)?
            .iter()
            .map(|r| rows::from_json(r.try_get(0).map_err(pg_error)?, "attempt"))
            .collect()
    }

    async fn counts(&self, endpoint: &str) -> Result<Counts> {
        let client = self.lazy().await?;
        let found = client
            .query(
                &cached(
                    &client,
                    "SELECT status, count(*) FROM deliveries WHERE endpoint = $1 GROUP BY status",
                )
                .await?,
                &[&endpoint],
            )
            .await
            .map_err(pg_error);
        let mut counts = Counts::default();
        for row in self.track(found)? {
            let status: &str = row.try_get(0).map_err(pg_error)?;
            let n: i64 = row.try_get(1).map_err(pg_error)?;
            if let Ok(status) = status.parse::<DeliveryStatus>() {
                counts.add(status, n);
            }
        }
        Ok(counts)
    }

    async fn due_count(&self, endpoint: &str, now: Millis) -> Result<u64> {
        let client = self.lazy().await?;
        let row = client
            .query_one(
                &cached(
                    &client,
                    "SELECT count(*) FROM deliveries
                 WHERE endpoint = $1 AND status = 'pending' AND next_attempt_at <= $2",
                )
                .await?,
                &[&endpoint, &ms(now)],
            )
            .await
            .map_err(pg_error);
        let n: i64 = self.track(row)?.try_get(0).map_err(pg_error)?;
        Ok(n.max(0) as u64)
    }

    async fn claim(
        &self,
        endpoint: &str,
        now: Millis,
        max: usize,
        lease: Duration,
        limits: Limits,
    ) -> Result<Claim> {
        let lease_ms = self.lease.unwrap_or(lease).as_millis() as u64;
        self.shared.lease_ms.store(lease_ms, Ordering::Relaxed);
        let concurrency = limits.concurrency.min(i32::MAX as u32) as i32;
        let interval = limits
            .rate_per_sec
            .filter(|r| *r > 0.0)
            .map(|r| 1_000.0 / r);
        let client = self.lazy().await?;
        // One round trip: the schema's `claim` function applies the
        // cluster-wide limits, leases what they allow, and returns it with
        // the events to transform and when to look again.
        let claimed = client
            .query(
                &cached(
                    &client,
                    &format!(
                        "SELECT {}, (c.delivery).request::text, c.send_at, {}, (c.event).payload
                         FROM claim($1, $2, $3, $4, $5, $6, $7, $8) c",
                        prefixed("(c.delivery)", rows::DELIVERY),
                        prefixed("(c.event)", rows::EVENT)
                    ),
                )
                .await?,
                &[
                    &endpoint,
                    &ms(now),
                    &(max.min(i32::MAX as usize) as i32),
                    &self.shared.node,
                    &ms(now.saturating_add(lease_ms)),
                    &concurrency,
                    &interval,
                    &(RATE_HORIZON.as_millis() as i64),
                ],
            )
            .await
            .map_err(pg_error);
        let claimed = self.track(claimed)?;
        let paced = interval.is_some();
        let mut claim = Claim::default();
        for row in &claimed {
            let send_at = row.try_get::<_, i64>(14).map_err(pg_error)?.max(0) as u64;
            if row
                .try_get::<_, Option<Vec<u8>>>(0)
                .map_err(pg_error)?
                .is_none()
            {
                // No delivery: when to look again.
                claim.next_at = Some(send_at);
                continue;
            }
            let delivery = rows::delivery(row, 0)?;
            let input = match rows::request(row, 13)? {
                Some(r) => WorkInput::Request(r),
                None if row
                    .try_get::<_, Option<Vec<u8>>>(15)
                    .map_err(pg_error)?
                    .is_some() =>
                {
                    let event = rows::event(row, 15)?;
                    let payload: Vec<u8> = row.try_get(21).map_err(pg_error)?;
                    WorkInput::Event(Arc::new(event), Bytes::from(payload))
                }
                None => WorkInput::EventGone,
            };
            claim.work.push(Work {
                delivery,
                input,
                send_at: paced.then_some(send_at),
            });
        }
        claim
            .work
            .sort_by_key(|w| (w.delivery.next_attempt_at, w.delivery.id));
        // Renewed from now on: only once the whole claim succeeded, since
        // the caller gets none of it otherwise (its leases then expire).
        self.shared
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(claim.work.iter().map(|w| w.delivery.id));
        Ok(claim)
    }

    async fn renew(&self, ids: &[DeliveryId], lease: Duration) -> Result<()> {
        let client = self.lazy().await?;
        let renewed = notify::renew(&client, &self.shared.node, ids, lease).await;
        self.track(renewed)
    }

    async fn release(&self, id: DeliveryId) -> Result<()> {
        self.shared
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        let client = self.lazy().await?;
        let done = client
            .execute(
                &cached(
                    &client,
                    "DELETE FROM leases WHERE delivery_id = $1 AND node = $2",
                )
                .await?,
                &[&&id.bytes()[..], &self.shared.node],
            )
            .await
            .map_err(pg_error);
        self.track(done).map(|_| ())
    }

    fn work_signal(&self, endpoint: &str) -> Arc<Notify> {
        self.shared
            .signals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(endpoint.to_string())
            .or_default()
            .clone()
    }

    async fn finish(
        &self,
        id: DeliveryId,
        request: Option<NewRequest<'_>>,
        attempt: Option<Attempt>,
        next: Next,
        now: Millis,
    ) -> Result<Delivery> {
        let (status, next_at, reason) = status_str(&next);
        let (reply, answer) = oneshot::channel();
        let job = finish::FinishJob {
            id,
            n: attempt.as_ref().map_or(0, |a| a.n as i32),
            last_status: attempt.as_ref().and_then(|a| a.status.map(i32::from)),
            attempt: attempt.as_ref().map(rows::json).transpose()?,
            request: request.map(|r| rows::json(r.request)).transpose()?,
            made_for: request.map_or(0, |r| ms(r.made_for)),
            transformed_by: request.map(|r| r.transformed_by.to_string()),
            status,
            next_at: next_at.map(ms),
            reason: reason.map(str::to_string),
            now: ms(now),
            reply,
        };
        let stopped = || StoreError::Storage("the finish batcher has stopped".into());
        self.finishes.send(job).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    async fn requeue(&self, id: DeliveryId, replay: bool, now: Millis) -> Result<Delivery> {
        let client = self.durable().await?;
        let row = client
            .query_opt(
                &cached(
                    &client,
                    &format!(
                        "WITH l AS (DELETE FROM leases WHERE delivery_id = $1),
                     u AS (
                        UPDATE deliveries SET status = 'pending', next_attempt_at = $2,
                            updated_at = $2, schedule_from = attempts,
                            request = CASE WHEN $3 THEN NULL ELSE request END,
                            transformed_by = CASE WHEN $3 THEN NULL ELSE transformed_by END
                        WHERE id = $1
                        RETURNING {})
                     SELECT u.*, pg_notify($4, u.endpoint) FROM u",
                        rows::DELIVERY
                    ),
                )
                .await?,
                &[&&id.bytes()[..], &ms(now), &replay, &WORK_CHANNEL],
            )
            .await
            .map_err(pg_error);
        let Some(row) = self.track(row)? else {
            return Err(StoreError::NotFound(id.to_string()));
        };
        let delivery = rows::delivery(&row, 0)?;
        self.shared.signal(&delivery.endpoint);
        Ok(delivery)
    }

    async fn add_delivery(
        &self,
        event: EventId,
        route: &Route,
        now: Millis,
    ) -> Result<Option<DeliveryId>> {
        let endpoint = route.endpoint.as_str();
        let id = DeliveryId::new();
        let client = self.durable().await?;
        let created = client
            .query(
                &cached(
                    &client,
                    "WITH i AS (
                    INSERT INTO deliveries (id, event_id, endpoint, status, created_at, updated_at,
                                            next_attempt_at, ordering_key)
                    VALUES ($1, $2, $3, 'pending', $4, $4, $4, $6)
                    ON CONFLICT (event_id, endpoint) DO NOTHING
                    RETURNING endpoint)
                 SELECT pg_notify($5, endpoint) FROM i",
                )
                .await?,
                &[
                    &&id.bytes()[..],
                    &&event.bytes()[..],
                    &endpoint,
                    &ms(now),
                    &WORK_CHANNEL,
                    &route.ordering_key,
                ],
            )
            .await;
        match created {
            Err(e) if is_foreign_key_violation(&e) => Err(StoreError::NotFound(event.to_string())),
            other => {
                let rows = self.track(other.map_err(pg_error))?;
                if rows.is_empty() {
                    Ok(None)
                } else {
                    self.shared.signal(endpoint);
                    Ok(Some(id))
                }
            }
        }
    }

    async fn cancel_pending(&self, endpoint: &str, reason: &str, now: Millis) -> Result<u64> {
        let client = self.durable().await?;
        let n = client
            .execute(
                &cached(
                    &client,
                    "UPDATE deliveries SET status = 'cancelled', reason = $2, updated_at = $3,
                    next_attempt_at = NULL
                 WHERE endpoint = $1 AND status = 'pending'",
                )
                .await?,
                &[&endpoint, &reason, &ms(now)],
            )
            .await
            .map_err(pg_error);
        self.track(n)
    }
}

#[async_trait::async_trait]
impl Records for PgStore {
    async fn records(&self, kind: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let client = self.lazy().await?;
        let found = client
            .query(
                &cached(&client, "SELECT key, value FROM records WHERE kind = $1 AND starts_with(key, $2) ORDER BY key").await?,
                &[&kind, &prefix],
            )
            .await
            .map_err(pg_error);
        self.track(found)?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(pg_error)?,
                    r.try_get(1).map_err(pg_error)?,
                ))
            })
            .collect()
    }

    async fn put_record(&self, kind: &str, key: &str, value: &[u8]) -> Result<()> {
        let client = self.durable().await?;
        let done = client
            .query(
                &cached(
                    &client,
                    "WITH u AS (
                    INSERT INTO records (kind, key, value) VALUES ($1, $2, $3)
                    ON CONFLICT (kind, key) DO UPDATE SET value = EXCLUDED.value
                    RETURNING 1)
                 SELECT pg_notify($4, $5) FROM u",
                )
                .await?,
                &[&kind, &key, &value, &CATALOG_CHANNEL, &self.shared.node],
            )
            .await
            .map_err(pg_error);
        self.track(done).map(|_| ())
    }

    async fn delete_record(&self, kind: &str, key: &str) -> Result<()> {
        let client = self.durable().await?;
        let done = client
            .query(
                &cached(
                    &client,
                    "WITH d AS (DELETE FROM records WHERE kind = $1 AND key = $2 RETURNING 1)
                 SELECT pg_notify($3, $4) FROM d",
                )
                .await?,
                &[&kind, &key, &CATALOG_CHANNEL, &self.shared.node],
            )
            .await
            .map_err(pg_error);
        self.track(done).map(|_| ())
    }

    async fn endpoint_state(&self, endpoint: &str) -> Result<Option<EndpointState>> {
        let client = self.lazy().await?;
        let row = client
            .query_opt(
                &cached(
                    &client,
                    "SELECT state::text FROM endpoint_states WHERE endpoint = $1",
                )
                .await?,
                &[&endpoint],
            )
            .await
            .map_err(pg_error);
        match self.track(row)? {
            Some(r) => Ok(Some(rows::from_json(
                r.try_get(0).map_err(pg_error)?,
                "endpoint state",
            )?)),
            None => Ok(None),
        }
    }

    async fn set_endpoint_state(
        &self,
        endpoint: &str,
        state: Option<&EndpointState>,
    ) -> Result<()> {
        let client = self.durable().await?;
        let done = match state {
            Some(state) => {
                let json = rows::json(state)?;
                client
                    .query(
                        &cached(&client, "WITH u AS (
                            INSERT INTO endpoint_states (endpoint, state) VALUES ($1, $2::text::jsonb)
                            ON CONFLICT (endpoint) DO UPDATE SET state = EXCLUDED.state
                            RETURNING 1)
                         SELECT pg_notify($3, $4) FROM u").await?,
                        &[&endpoint, &json, &CATALOG_CHANNEL, &self.shared.node],
                    )
                    .await
            }
            None => client
                .query(
                    &cached(
                        &client,
                        "WITH d AS (DELETE FROM endpoint_states WHERE endpoint = $1 RETURNING 1)
                         SELECT pg_notify($2, $3) FROM d",
                    )
                    .await?,
                    &[&endpoint, &CATALOG_CHANNEL, &self.shared.node],
                )
                .await,
        };
        self.track(done.map_err(pg_error)).map(|_| ())
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<()> {
        let id = ulid::Ulid::from_parts(entry.at, fastrand::u128(..)).to_bytes();
        let json = rows::json(entry)?;
        let client = self.durable().await?;
        let done = client
            .execute(
                &cached(
                    &client,
                    "INSERT INTO audit (id, entry) VALUES ($1, $2::text::jsonb)",
                )
                .await?,
                &[&&id[..], &json],
            )
            .await
            .map_err(pg_error);
        self.track(done).map(|_| ())
    }

    async fn audit(&self, before: Option<&str>, limit: usize) -> Result<Page<AuditEntry>> {
        let hi = match before {
            Some(cursor) => ulid::Ulid::from_string(cursor)
                .map_err(|_| StoreError::NotFound(format!("audit cursor {cursor:?}")))?
                .to_bytes(),
            None => [0xff; 16],
        };
        let limit = limit.max(1);
        let client = self.lazy().await?;
        let found = client
            .query(
                &cached(
                    &client,
                    "SELECT id, entry::text FROM audit WHERE id < $1 ORDER BY id DESC LIMIT $2",
                )
                .await?,
                &[&&hi[..], &((limit + 1) as i64)],
            )
            .await
            .map_err(pg_error);
        let found = self.track(found)?;
        let mut items = Vec::new();
        let mut next_cursor = None;
        for row in found.iter().take(limit) {
            let id: &[u8] = row.try_get(0).map_err(pg_error)?;
            items.push(rows::from_json::<AuditEntry>(
                row.try_get(1).map_err(pg_error)?,
                "audit entry",
            )?);
            if found.len() > limit {
                next_cursor = <[u8; 16]>::try_from(id)
                    .ok()
                    .map(|k| ulid::Ulid::from_bytes(k).to_string());
            }
        }
        Ok(Page { items, next_cursor })
    }

    fn remote_changes(&self) -> Option<watch::Receiver<u64>> {
        Some(self.shared.catalog.subscribe())
    }
}
