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
    let running = server::start(config).await?;
    server::shutdown_signal().await;
    tracing::info!("shutting down: no new webhooks; finishing deliveries in flight");
    running.shutdown().await;
    Ok(ExitCode::SUCCESS)
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
