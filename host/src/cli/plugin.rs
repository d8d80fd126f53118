//! `hookwasm plugin test|list`: try a plugin on a sample payload (the "test
//! it with a sample payload" step of the seed documents) and see what is
//! installed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use hookwasm::runtime::plugin::Script;
use hookwasm::runtime::registry::{self, JS_ENGINE, PluginInfo};
use hookwasm::runtime::{
    Limits, OutputPolicy, Plugin, PluginSource, Runtime, RuntimeConfig, TransformInput, builtin,
    report,
};
use serde_json::Value;

use super::usage;

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Run a plugin on a sample event and print the request it would send.
    Test(TestArgs),
    /// Write a new plugin from a template (Rust, JavaScript or Python).
    New(super::new::NewArgs),
    /// List the built-in plugins and those in the plugins directory.
    List {
        /// Directory of `*.wasm` plugins (they add to or override the built-ins).
        #[arg(long)]
        plugins_dir: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct TestArgs {
    /// A built-in plugin name, a plugin name in --plugins-dir, or a path to a
    /// `.wasm` component or a `.js` handler.
    plugin: String,
    /// The webhook body to transform (JSON; its `type` field is the event type).
    event: PathBuf,
    /// The sender's webhook id.
    #[arg(long, default_value = "msg_test")]
    id: String,
    /// The endpoint id (the delivery key is "{endpoint}:{id}").
    #[arg(long, default_value = "test")]
    endpoint: String,
    /// The endpoint URL passed to the plugin.
    #[arg(long)]
    url: Option<String>,
    /// A non-secret endpoint setting, KEY=VALUE (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_setting)]
    settings: Vec<(String, String)>,
    /// Fuel limit.
    #[arg(long)]
    fuel: Option<u64>,
    /// Memory limit in MiB.
    #[arg(long)]
    memory_mb: Option<usize>,
    /// Wall-time limit in milliseconds.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Directory of `*.wasm` plugins.
    #[arg(long)]
    plugins_dir: Option<PathBuf>,
}

fn parse_setting(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

pub async fn run(cmd: PluginCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PluginCommand::Test(args) => test(args).await,
        PluginCommand::New(args) => super::new::run(args),
        PluginCommand::List { plugins_dir, json } => {
            if let Some(dir) = &plugins_dir
                && !dir.is_dir()
            {
                return Err(usage(format!(
                    "--plugins-dir {}: not a directory",
                    dir.display()
                )));
            }
            print_list(&registry::discover(plugins_dir.as_deref()), json)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let payload = std::fs::read(&args.event)
        .map_err(|e| usage(format!("cannot read {}: {e}", args.event.display())))?;
    let parsed: Value = serde_json::from_slice(&payload)
        .map_err(|e| usage(format!("{} is not JSON: {e}", args.event.display())))?;
    let event_type = parsed
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            usage(format!(
                "{} has no string \"type\" field (the event type)",
                args.event.display()
            ))
        })?
        .to_string();
    // The JSON parsed, so the bytes are UTF-8.
    let payload = String::from_utf8(payload).context("event is not UTF-8")?;

    let (name, source, bytes, script) = resolve(&args.plugin, args.plugins_dir.as_deref())?;
    let mut limits = Limits::default();
    if let Some(fuel) = args.fuel {
        limits.fuel = fuel;
    }
    if let Some(mb) = args.memory_mb {
        limits.memory_bytes = mb << 20;
    }
    if let Some(ms) = args.timeout_ms {
        limits.timeout = Duration::from_millis(ms);
    }
    let runtime = Runtime::new(RuntimeConfig {
        max_concurrent_calls: 4,
        max_memory_bytes: limits
            .memory_bytes
            .max(RuntimeConfig::default().max_memory_bytes),
        cache_dir: default_cache_dir(),
        ..RuntimeConfig::default()
    })?;
    let plugin = match script {
        None => load(&runtime, name, source, bytes).await?,
        Some(script) => {
            let engine = load(&runtime, JS_ENGINE.into(), PluginSource::BuiltIn, bytes).await?;
            Arc::new(engine.with_script(&name, source, script))
        }
    };

    let mut settings = args.settings;
    settings.dedup_by(|a, b| a.0 == b.0);
    let base = args
        .url
        .clone()
        .or_else(|| plugin.meta().default_url.clone());
    let policy = OutputPolicy::for_base(base.as_deref(), OutputPolicy::DEFAULT_MAX_BODY);
    let input = TransformInput {
        delivery_key: format!("{}:{}", args.endpoint, args.id),
        id: args.id,
        event_type,
        payload,
        endpoint_url: args.url,
        settings,
    };
    let (result, stats) = plugin.transform(input, limits, policy).await;
    let report = report::report(result, stats)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

/// What to run: (name, source, component bytes, JavaScript handler).
type Resolved = (String, PluginSource, Vec<u8>, Option<Script>);

/// A plugin argument: a path to a `.wasm` or `.js` file, a file in the
/// plugins directory, or a built-in name. A `.js` handler runs on the
/// built-in JavaScript engine.
fn resolve(arg: &str, dir: Option<&Path>) -> anyhow::Result<Resolved> {
    let as_path = Path::new(arg);
    let file = if arg.ends_with(".wasm")
        || arg.ends_with(".js")
        || arg.contains(std::path::MAIN_SEPARATOR)
    {
        Some(as_path.to_path_buf())
    } else {
        dir.and_then(|d| {
            [format!("{arg}.wasm"), format!("{arg}.js")]
                .into_iter()
                .map(|f| d.join(f))
                .find(|p| p.is_file())
        })
    };
    if let Some(path) = file {
        let bytes = std::fs::read(&path)
            .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(arg)
            .to_string();
        if path.extension().is_some_and(|x| x == "js") {
            let source = String::from_utf8(bytes)
                .map_err(|_| usage(format!("{} is not UTF-8 text", path.display())))?;
            let engine = builtin::get(JS_ENGINE)
                .ok_or_else(|| usage("this build has no JavaScript engine plugin".to_string()))?;
            let script = Script {
                name: path.display().to_string(),
                source: source.into(),
            };
            return Ok((
                name,
                PluginSource::File(path),
                engine.to_vec(),
                Some(script),
            ));
        }
        return Ok((name, PluginSource::File(path), bytes, None));
    }
    match builtin::get(arg) {
        Some(bytes) => Ok((arg.to_string(), PluginSource::BuiltIn, bytes.to_vec(), None)),
        None => {
            let names: Vec<&str> = builtin::BUILTINS.iter().map(|(n, _)| *n).collect();
            let where_ = match dir {
                Some(d) => format!("no {arg}.wasm in {}", d.display()),
                None => "no --plugins-dir given".to_string(),
            };
            Err(usage(format!(
                "unknown plugin {arg:?}: not a built-in ({}) and {where_}",
                names.join(", ")
            )))
        }
    }
}

async fn load(
    runtime: &Arc<Runtime>,
    name: String,
    source: PluginSource,
    bytes: Vec<u8>,
) -> anyhow::Result<Arc<Plugin>> {
    let runtime = runtime.clone();
    let label = source.label();
    let plugin = tokio::task::spawn_blocking(move || runtime.load(&name, source, &bytes))
        .await
        .context("the compile task failed")?
        .with_context(|| format!("loading plugin {label}"))?;
    Ok(Arc::new(plugin))
}

/// `$HOOKWASM_CACHE_DIR`, else the user's cache directory.
pub(super) fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("HOOKWASM_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("hookwasm"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join("hookwasm"))
}

fn print_list(infos: &[PluginInfo], as_json: bool) -> anyhow::Result<()> {
    if as_json {
        println!("{}", serde_json::to_string_pretty(infos)?);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = infos
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.version.clone(),
                p.source.clone(),
                p.last_error
                    .clone()
                    .unwrap_or_else(|| p.description.clone()),
            ]
        })
        .collect();
    print!(
        "{}",
        super::table::render(&["NAME", "VERSION", "SOURCE", "DESCRIPTION"], &rows)
    );
    Ok(())
}
