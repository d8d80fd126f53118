//! `hookwasm store`: the store's maintenance — applying PostgreSQL's
//! schema migrations ahead of a rollout.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use hookwasm::config::StoreSettings;

#[derive(Subcommand)]
pub enum StoreCommand {
    /// Apply the PostgreSQL schema migrations the database lacks (the
    /// server also applies them when it starts).
    Migrate(MigrateArgs),
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
    }
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
