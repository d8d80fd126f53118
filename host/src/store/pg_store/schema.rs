//! The schema's migrations: numbered SQL files applied in order, each in its
//! own transaction, under an advisory lock so that nodes starting together
//! apply each once.

use tokio_postgres::Client;

use super::pg_error;
use crate::store::Result;

/// (version, SQL), in order. A released migration is never edited: a change
/// is a new file.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_cluster_limits.sql")),
];

/// The newest schema version this build knows.
pub const LATEST: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Any number, the same on every node: the advisory lock's key.
const LOCK_KEY: i64 = 0x686f_6f6b_7761_736d; // "hookwasm"

/// Creates `schema` if needed and applies the migrations it lacks; returns
/// the versions applied now. A database migrated by a newer hookwasm is
/// refused rather than used.
pub async fn migrate(client: &mut Client, schema: &str) -> Result<Vec<i32>> {
    let quoted = quote_ident(schema);
    let tx = client.transaction().await.map_err(pg_error)?;
    // (IF NOT EXISTS notices would show as log lines on every start.)
    tx.batch_execute("SET LOCAL client_min_messages = warning")
        .await
        .map_err(pg_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(pg_error)?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {quoted};
         CREATE TABLE IF NOT EXISTS {quoted}.migrations (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await
    .map_err(pg_error)?;
    let newest: Option<i32> = tx
        .query_one(
            &format!("SELECT max(version) FROM {quoted}.migrations"),
            &[],
        )
        .await
        .map_err(pg_error)?
        .get(0);
    let newest = newest.unwrap_or(0);
    if newest > LATEST {
        return Err(crate::store::StoreError::Storage(format!(
            "the database's schema is version {newest}, newer than this hookwasm knows ({LATEST}): upgrade hookwasm"
        )));
    }
    let mut applied = Vec::new();
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > newest) {
        tx.batch_execute(&format!("SET LOCAL search_path TO {quoted}; {sql}"))
            .await
            .map_err(|e| {
                crate::store::StoreError::Storage(format!(
                    "applying migration {version}: {}",
                    pg_error(e)
                ))
            })?;
        tx.execute(
            &format!("INSERT INTO {quoted}.migrations (version) VALUES ($1)"),
            &[version],
        )
        .await
        .map_err(pg_error)?;
        applied.push(*version);
    }
    tx.commit().await.map_err(pg_error)?;
    Ok(applied)
}

/// `name` as an SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
