//! The store's background work on PostgreSQL: one connection that LISTENs
//! (other nodes' ingests wake this node's lanes; their catalog changes
//! reach this node's catalog), a slow poll that wakes every lane as a
//! backstop (a lost notification, a dead node's expired leases, a retry
//! another node scheduled), and the renewal of this node's leases while its
//! attempts run.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::rows::ms;
use super::{CATALOG_CHANNEL, Shared, WORK_CHANNEL, pg_error};
use crate::store::*;

/// How often every lane looks at the queue even without a notification.
pub const BACKSTOP: Duration = Duration::from_secs(2);

/// Keeps a LISTEN connection open (reconnecting with a pause when it
/// drops), and wakes lanes every `shared.backstop` (`BACKSTOP`).
pub async fn listen(config: tokio_postgres::Config, tls: MakeRustlsConnect, shared: Arc<Shared>) {
    let backstop = {
        let shared = shared.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(shared.backstop).await;
                shared.signal_all();
            }
        })
    };
    let _stop_backstop = AbortOnDrop(backstop);
    loop {
        let listened = listen_once(&config, &tls, &shared).await;
        shared.listening.send_replace(false);
        match listened {
            Ok(()) => {
                tracing::warn!("PostgreSQL: the notification connection closed; reconnecting")
            }
            Err(e) => tracing::debug!("PostgreSQL notifications: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn listen_once(
    config: &tokio_postgres::Config,
    tls: &MakeRustlsConnect,
    shared: &Shared,
) -> Result<(), String> {
    let (client, mut connection) = config
        .connect(tls.clone())
        .await
        .map_err(|e| e.to_string())?;
    let (messages_tx, mut messages) = tokio::sync::mpsc::unbounded_channel();
    // The connection must be polled for the LISTEN to complete, and for
    // notifications to arrive.
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(message)) => {
                    if messages_tx.send(message).is_err() {
                        return;
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!("PostgreSQL notification connection: {e}");
                    return;
                }
                None => return,
            }
        }
    });
    let _driver = AbortOnDrop(driver);
    client
        .batch_execute(&format!("LISTEN {WORK_CHANNEL}; LISTEN {CATALOG_CHANNEL};"))
        .await
        .map_err(|e| e.to_string())?;
    // Anything sent while we were not listening is looked at now.
    shared.signal_all();
    shared.catalog.send_modify(|v| *v += 1);
    shared.listening.send_replace(true);
    while let Some(message) = messages.recv().await {
        let AsyncMessage::Notification(n) = message else {
            continue;
        };
        if n.channel() == WORK_CHANNEL {
            shared.signal(n.payload());
        } else if n.channel() == CATALOG_CHANNEL && n.payload() != shared.node {
            shared.catalog.send_modify(|v| *v += 1);
        }
    }
    Ok(())
}

/// Renews the leases this node holds, a third of a lease apart, so that
/// they outlive any attempt that is still running and expire soon after
/// this node dies.
pub async fn keep_leases(pool: Pool, shared: Arc<Shared>) {
    loop {
        let lease = Duration::from_millis(shared.lease_ms.load(Ordering::Relaxed).max(3_000));
        tokio::time::sleep(lease / 3).await;
        let ids: Vec<DeliveryId> = shared
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect();
        if ids.is_empty() {
            continue;
        }
        let renewed = match pool.get().await {
            Ok(client) => renew(&client, &shared.node, &ids, lease).await,
            Err(e) => Err(super::pool_error(e)),
        };
        if let Err(e) = renewed {
            tracing::warn!("renewing {} lease(s) failed: {e}", ids.len());
        }
    }
}

pub async fn renew(
    client: &tokio_postgres::Client,
    node: &str,
    ids: &[DeliveryId],
    lease: Duration,
) -> Result<()> {
    let until = ms(now_ms().saturating_add(lease.as_millis() as u64));
    let ids: Vec<[u8; 16]> = ids.iter().map(|d| d.bytes()).collect();
    let refs: Vec<&[u8]> = ids.iter().map(|b| &b[..]).collect();
    client
        .execute(
            "UPDATE leases SET until = $1 WHERE delivery_id = ANY($2) AND node = $3",
            &[&until, &refs, &node],
        )
        .await
        .map_err(pg_error)?;
    Ok(())
}
