//! `hookwasm store`: the store's maintenance — applying PostgreSQL's
//! schema migrations ahead of a rollout, and copying a whole store from one
//! backend to the other (the path for a user who outgrows sled).

use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use hookwasm::config::StoreSettings;
use hookwasm::store::{PgStore, SledStore, Store};

#[derive(Subcommand)]
pub enum StoreCommand {
    /// Apply the PostgreSQL schema migrations the database lacks (the
    /// server also applies them when it starts).
    Migrate(MigrateArgs),
    /// Copy sources, endpoints, events, deliveries with their attempts and
    /// the pending queue from one store to another: a data directory (sled)
    /// or a postgres:// URL, either way. Stop the servers first. Running it
    /// again resumes: what is already there is left as it is.
    Copy(CopyArgs),
}

#[derive(Args)]
pub struct CopyArgs {
    /// The store to read: a data directory, or a postgres:// URL.
    #[arg(long)]
    pub from: String,
    /// The store to write: a data directory, or a postgres:// URL.
    #[arg(long)]
    pub to: String,
    /// Events per transaction.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
}

#[derive(Args)]
pub struct MigrateArgs {
    /// The database (default: the config file's [store] url).
    #[arg(long, env = "DATABASE_URL")]
    pub url: Option<String>,
    /// The configuration file, for its [store] url.
    #[arg(long, short, default_value = "hookwasm.toml", env = "HOOKWASM_CONFIG")]
    pub config: PathBuf,
}

pub async fn run(command: StoreCommand) -> anyhow::Result<ExitCode> {
    match command {
        StoreCommand::Migrate(args) => migrate(args).await,
        StoreCommand::Copy(args) => copy(args).await,
    }
}

/// An opened store, and the lock that keeps a server off a data directory
/// while it is copied.
struct Opened {
    store: Arc<dyn Store>,
    _lock: Option<hookwasm::datadir::DataDirLock>,
    what: String,
}

async fn open(place: &str) -> anyhow::Result<Opened> {
    if place.starts_with("postgres://") || place.starts_with("postgresql://") {
        hookwasm::store::postgres_url(place).map_err(|e| super::usage(format!("{place:?} {e}")))?;
        let store = PgStore::open(place, 4, Duration::from_secs(30)).await?;
        return Ok(Opened {
            store: Arc::new(store),
            _lock: None,
            what: "PostgreSQL".into(),
        });
    }
    let dir = PathBuf::from(place);
    let lock = hookwasm::datadir::lock(&dir)?;
    let store = SledStore::open(&dir, hookwasm::server::STORE_CACHE_BYTES)?;
    Ok(Opened {
        store: Arc::new(store),
        _lock: Some(lock),
        what: format!("the data directory {}", dir.display()),
    })
}

async fn copy(args: CopyArgs) -> anyhow::Result<ExitCode> {
    if args.from == args.to {
        return Err(super::usage("--from and --to are the same store"));
    }
    let from = open(&args.from).await?;
    let to = open(&args.to).await?;
    let total = from.store.event_count().await?;
    let bar = indicatif::ProgressBar::new(total);
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} events ({per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }

    // Records first: the catalog the events' deliveries belong to.
    let records = from.store.export_records().await?;
    for (kind, key, value) in &records {
        to.store.put_record(kind, key, value).await?;
    }
    let states = from.store.endpoint_states().await?;
    for (endpoint, state) in &states {
        to.store.set_endpoint_state(endpoint, Some(state)).await?;
    }
    let (mut events, mut new, mut deliveries, mut pending) = (0u64, 0u64, 0u64, 0u64);
    let mut after = None;
    loop {
        let batch = from.store.export_events(after, args.batch.max(1)).await?;
        let Some(last) = batch.last() else { break };
        after = Some(last.event.id);
        new += to.store.import_events(&batch).await? as u64;
        events += batch.len() as u64;
        for dump in &batch {
            deliveries += dump.deliveries.len() as u64;
            pending += dump
                .deliveries
                .iter()
                .filter(|d| d.delivery.status == hookwasm::store::DeliveryStatus::Pending)
                .count() as u64;
        }
        bar.set_position(events);
    }
    // The audit log, oldest first (new entries keep their times).
    let mut audit = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = from.store.audit(before.as_deref(), 500).await?;
        audit.extend(page.items);
        match page.next_cursor {
            Some(cursor) => before = Some(cursor),
            None => break,
        }
    }
    if new > 0 {
        for entry in audit.iter().rev() {
            to.store.append_audit(entry).await?;
        }
    }
    to.store.flush().await?;
    bar.finish_and_clear();
    println!(
        "copied from {} to {}: {events} events ({new} new, {} already there), {deliveries} deliveries ({pending} pending), {} records, {} endpoint states, {} audit entries",
        from.what,
        to.what,
        events - new,
        records.len(),
        states.len(),
        if new > 0 { audit.len() } else { 0 },
    );
    if from.what.starts_with("the data directory") {
        println!(
            "stored secrets stay sealed with the source's key: give every node that uses the copy the same [server] secret_key (the source's, or the contents of {}/{})",
            args.from,
            hookwasm::catalog::seal::KEY_FILE
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let url = match args.url {
        Some(url) => url,
        None => match super::serve::load(&args.config)?.store {
            StoreSettings::Postgres { url, .. } => url,
            StoreSettings::Sled => {
                return Err(super::usage(format!(
                    "{}: [store] backend is sled, which needs no migrations; give --url postgres://… (or DATABASE_URL) to migrate a PostgreSQL database",
                    args.config.display()
                )));
            }
        },
    };
    hookwasm::store::postgres_url(&url).map_err(|e| super::usage(format!("--url {e}")))?;
    let applied = hookwasm::store::pg_store::migrate(&url).await?;
    let latest = hookwasm::store::pg_store::schema::LATEST;
    if applied.is_empty() {
        println!("the schema is up to date (version {latest})");
    } else {
        println!(
            "applied migration(s) {}; the schema is at version {latest}",
            applied
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
