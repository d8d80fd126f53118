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

#[derive(Args, Clone)]
pub struct CheckArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Treat warnings as problems (exit non-zero): for CI.
    #[arg(long)]
    pub strict: bool,
    /// Do not run the JavaScript handlers' top-level code (skips compiling
    /// the JavaScript engine on a machine that has not cached it).
    #[arg(long)]
    pub no_scripts: bool,
}

#[derive(Args, Clone)]
pub struct InitArgs {
    /// Where to write it.
    #[arg(long, short, default_value = "hookwasm.toml", env = "HOOKWASM_CONFIG")]
    pub config: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
}

/// The starter file `config init` writes: the example config every clone
/// serves, so the two never drift apart.
const STARTER: &str = include_str!("../../../hookwasm.toml");

pub fn load(path: &Path) -> anyhow::Result<Config> {
    if !path.exists() {
        return Err(super::usage(format!(
            "{}: no such configuration file (`hookwasm config init` writes a commented starter file; -c FILE or HOOKWASM_CONFIG names another)",
            path.display()
        )));
    }
    Config::load(path).map_err(|e| super::usage(e.to_string()))
}

pub fn init(args: InitArgs) -> anyhow::Result<ExitCode> {
    if args.config.exists() && !args.force {
        return Err(super::usage(format!(
            "{} exists; --force replaces it",
            args.config.display()
        )));
    }
    std::fs::write(&args.config, STARTER)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", args.config.display()))?;
    println!(
        "wrote {}: a source for Dodo Payments and endpoints for Loops, Customer.io, Windmill and Inngest.\nnext: set the variables it names (e.g. DODO_WEBHOOK_SECRET), `hookwasm config check`, then `hookwasm serve`",
        args.config.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `config check`: every problem (exit 2), then the warnings: the file's
/// own, destinations the SSRF guard will refuse, and JavaScript handlers
/// that do not run. With `--strict` a warning fails the check (exit 1).
pub async fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let config = load(&args.config.config)?;
    let mut warnings = config.warnings.clone();
    warnings.extend(private_destinations(&config).await);
    if !args.no_scripts {
        warnings.extend(check_scripts(&config).await?);
    }
    println!(
        "{}: ok ({} source(s), {} endpoint(s))",
        config.path.display(),
        config.sources.len(),
        config.endpoints.len()
    );
    for warning in &warnings {
        println!("warning: {warning}");
    }
    if args.strict && !warnings.is_empty() {
        eprintln!(
            "error: {} warning(s), and --strict treats warnings as problems",
            warnings.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Endpoints whose URL names a host that resolves to a private address,
/// which deliveries refuse unless `allow_private_destinations` is set. (IP
/// literals and `localhost` are warned about by the config's own checks;
/// names are resolved here, where a lookup may take a moment.)
async fn private_destinations(config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    for endpoint in &config.endpoints {
        if endpoint.allow_private_destinations {
            continue;
        }
        let Some(url) = endpoint.url.as_ref().or(endpoint.default_url.as_ref()) else {
            continue;
        };
        let Ok(parsed) = url::Url::parse(url) else {
            continue;
        };
        let Some(url::Host::Domain(host)) = parsed.host() else {
            continue;
        };
        let port = parsed.port_or_known_default().unwrap_or(443);
        let lookup = tokio::net::lookup_host((host, port));
        let Ok(Ok(addrs)) = tokio::time::timeout(std::time::Duration::from_secs(3), lookup).await
        else {
            continue;
        };
        if let Some(addr) = addrs
            .into_iter()
            .find(|a| hookwasm::delivery::client::is_private(a.ip()))
        {
            warnings.push(format!(
                "endpoint {:?}: {host} resolves to the private address {}, which deliveries refuse; set allow_private_destinations = true on the endpoint (or in [server]) for a destination on your own network",
                endpoint.id,
                addr.ip()
            ));
        }
    }
    warnings
}

/// Runs the top-level code of every JavaScript handler the config uses
/// (endpoint scripts and `*.js` in the plugins directory) on the engine, as
/// a reload would before swapping one in.
async fn check_scripts(config: &Config) -> anyhow::Result<Vec<String>> {
    use hookwasm::model::Transformation;
    let mut scripts: Vec<(String, String, Transformation)> = Vec::new();
    let mut warnings = Vec::new();
    for endpoint in &config.endpoints {
        if let Some(t) = &endpoint.transformation {
            scripts.push((
                format!("endpoint {:?}", endpoint.id),
                endpoint.plugin.clone(),
                (**t).clone(),
            ));
        }
    }
    if let Some(dir) = &config.server.plugins_dir
        && let Ok(entries) = std::fs::read_dir(dir)
    {
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "js") && p.is_file())
            .collect();
        files.sort();
        for path in files {
            let name = path.display().to_string();
            match std::fs::read_to_string(&path) {
                Ok(code) => scripts.push((
                    name.clone(),
                    hookwasm::model::JS_ENGINE.to_string(),
                    Transformation::new(
                        path.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or(name),
                        code,
                        Some(path.clone()),
                    ),
                )),
                Err(e) => warnings.push(format!("{name}: cannot read: {e}")),
            }
        }
    }
    if scripts.is_empty() {
        return Ok(warnings);
    }
    let runtime = hookwasm::runtime::Runtime::new(hookwasm::runtime::RuntimeConfig {
        cache_dir: Some(config.server.cache_dir.clone()),
        max_memory_bytes: config.runtime.max_memory_bytes,
        ..hookwasm::runtime::RuntimeConfig::default()
    })
    .map_err(|e| anyhow::anyhow!("starting the plugin runtime: {e}"))?;
    let registry = hookwasm::runtime::registry::PluginRegistry::new(
        runtime,
        config.server.plugins_dir.clone(),
    );
    for (what, plugin, t) in &scripts {
        if let Err(e) = registry.check_transformation(plugin, t).await {
            warnings.push(format!("{what}: the JavaScript handler does not run: {e}"));
        }
    }
    Ok(warnings)
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
