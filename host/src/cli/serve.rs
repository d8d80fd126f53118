//! `hookwasm serve` and `hookwasm config check`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use hookwasm::config::Config;
use hookwasm::server;

#[derive(Args, Clone)]
pub struct ConfigArg {
    /// The configuration file.
    #[arg(long, short, default_value = "hookwasm.toml", env = "HOOKWASM_CONFIG")]
    pub config: PathBuf,
}

pub fn load(path: &Path) -> anyhow::Result<Config> {
    Config::load(path).map_err(|e| super::usage(e.to_string()))
}

pub async fn serve(args: ConfigArg) -> anyhow::Result<ExitCode> {
    let config = load(&args.config)?;
    let data_dir = config.server.data_dir.clone();
    let running = server::start(config).await?;
    tokio::select! {
        _ = server::shutdown_signal() => {}
        why = storage_watchdog(&running, &data_dir) => return restart(&why),
    }
    tracing::info!(
        "shutting down: no new webhooks; waiting up to {} s for {} attempt(s) in flight (a second Ctrl-C stops at once; what is cut off is retried after a restart)",
        running.grace.as_secs(),
        running.deliverer.in_flight()
    );
    tokio::spawn(async {
        server::shutdown_signal().await;
        // Everything acknowledged is on disk; attempts in flight are
        // simply due again after the restart.
        tracing::warn!("second signal: stopping now");
        std::process::exit(130);
    });
    running.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// How often a failed store checks whether the disk takes writes again.
const PROBE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
const PROBE_BYTES: usize = 4 << 20;

/// Resolves when the store has failed (disk full, I/O error: ingest answers
/// 503 meanwhile) and the data directory accepts a durable write again.
async fn storage_watchdog(running: &server::Server, data_dir: &Path) -> String {
    let mut told = false;
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        let Some(why) = running.store.failure() else {
            continue;
        };
        if !told {
            tracing::error!(
                "storage failed ({why}); answering 503 until {} accepts writes again, then restarting",
                data_dir.display()
            );
            told = true;
        }
        let probe = data_dir.join(".space-probe");
        let writable = tokio::task::spawn_blocking(move || {
            let result = (|| {
                use std::io::Write;
                let mut file = std::fs::File::create(&probe)?;
                file.write_all(&vec![0u8; PROBE_BYTES])?;
                file.sync_all()
            })();
            let _ = std::fs::remove_file(&probe);
            result
        })
        .await;
        if matches!(writable, Ok(Ok(()))) {
            return why;
        }
    }
}

/// sled cannot carry on after an I/O error, so a failed store is reopened
/// by starting afresh: the process replaces itself (same binary, same
/// arguments). Everything acknowledged is on disk; deliveries in flight are
/// attempted again (at least once).
fn restart(why: &str) -> anyhow::Result<ExitCode> {
    use std::os::unix::process::CommandExt;
    tracing::warn!(
        "the disk accepts writes again; restarting to reopen the database (it failed: {why})"
    );
    let exe = std::env::current_exe()?;
    let error = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .exec();
    Err(anyhow::anyhow!(
        "could not restart after a storage failure ({why}): {error}; start hookwasm again"
    ))
}

pub fn check(args: ConfigArg) -> anyhow::Result<ExitCode> {
    let config = load(&args.config)?;
    println!(
        "{}: ok ({} source(s), {} endpoint(s))",
        config.path.display(),
        config.sources.len(),
        config.endpoints.len()
    );
    for warning in &config.warnings {
        println!("warning: {warning}");
    }
    Ok(ExitCode::SUCCESS)
}
