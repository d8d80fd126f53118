//! The command line: clap definitions and dispatch. This is the only place
//! that uses `anyhow`; everything below it returns typed errors.

mod admin;
mod bench;
mod logging;
mod new;
mod plugin;
mod send;
mod serve;
mod store;
mod table;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "hookwasm",
    version,
    about = "Receive signed webhooks, transform them in a WebAssembly sandbox, deliver them with durable retries"
)]
struct Cli {
    /// Log output format (logs go to stderr).
    #[arg(long, global = true, value_enum, default_value_t = logging::Format::Human)]
    log_format: logging::Format,

    /// What to do (default: `serve`).
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Receive, transform and deliver webhooks (the default command).
    Serve(serve::ConfigArg),
    /// Check the configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Sign a payload with a source's secret and post it (a test event).
    Send(send::SendArgs),
    /// Test, list and create plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Sources of a running server: create, list, show, rotate, delete.
    Sources {
        #[command(subcommand)]
        command: Option<admin::SourcesCommand>,
        #[command(flatten)]
        admin: admin::AdminArgs,
    },
    /// Endpoints of a running server: create, edit, test, transformation,
    /// disable, enable, delete; state and counts.
    Endpoints {
        #[command(subcommand)]
        command: Option<admin::EndpointsCommand>,
        #[command(flatten)]
        admin: admin::AdminArgs,
    },
    /// Events received by a running server (list, show).
    Events {
        #[command(subcommand)]
        command: Option<admin::EventsCommand>,
        #[command(flatten)]
        admin: admin::AdminArgs,
    },
    /// Deliveries (list, show, retry, replay).
    Deliveries {
        #[command(subcommand)]
        command: Option<admin::DeliveriesCommand>,
        #[command(flatten)]
        query: admin::DeliveryQuery,
        #[command(flatten)]
        admin: admin::AdminArgs,
    },
    /// Dead letters (list, recover over a time window).
    Dlq {
        #[command(subcommand)]
        command: Option<admin::DlqCommand>,
        #[command(flatten)]
        admin: admin::AdminArgs,
    },
    /// Background jobs (recover, replay-missing): progress.
    Jobs {
        #[command(subcommand)]
        command: admin::JobsCommand,
        #[command(flatten)]
        admin: admin::AdminArgs,
    },
    /// Load-test: post signed events to a fresh server and report throughput.
    Bench(bench::BenchArgs),
    /// The store's maintenance (PostgreSQL migrations).
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Plugins loaded by a running server.
    Plugins {
        #[command(flatten)]
        admin: admin::AdminArgs,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Parse and check the file; print every problem and exit non-zero on any.
    Check(serve::CheckArgs),
    /// Write a commented starter configuration (the example config, with
    /// the four Dodo Payments integrations) to the file.
    Init(serve::InitArgs),
}

/// An error in how the command was invoked (exit status 2), as opposed to a
/// failure of the work itself (exit status 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The error and its causes on one line, each cause once: many errors
/// already include their source in their own message, and anyhow's `{:#}`
/// would repeat it (`Address already in use: Address already in use`).
pub fn error_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

pub fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

pub fn main() -> ExitCode {
    hookwasm::heap::limit_retained_memory();
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let default_serve = || {
            Command::Serve(serve::ConfigArg {
                config: std::env::var_os("HOOKWASM_CONFIG")
                    .map(Into::into)
                    .unwrap_or_else(|| "hookwasm.toml".into()),
            })
        };
        match cli.command.unwrap_or_else(default_serve) {
            Command::Serve(args) => serve::serve(args).await,
            Command::Config(ConfigCommand::Check(args)) => serve::check(args).await,
            Command::Config(ConfigCommand::Init(args)) => serve::init(args),
            Command::Send(args) => send::run(args).await,
            Command::Plugin(cmd) => plugin::run(cmd).await,
            Command::Sources { command, admin } => admin::sources(admin, command).await,
            Command::Endpoints { command, admin } => admin::endpoints(admin, command).await,
            Command::Events { command, admin } => admin::events(admin, command).await,
            Command::Deliveries {
                command,
                query,
                admin,
            } => admin::deliveries(admin, command, query).await,
            Command::Dlq { command, admin } => admin::dlq(admin, command).await,
            Command::Jobs { command, admin } => admin::jobs(admin, command).await,
            Command::Plugins { admin } => admin::plugins(admin).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Store(cmd) => store::run(cmd).await,
        }
    });
    // Plugin threads and the like must not delay the exit.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_line(&e));
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::error_line;

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::AddrInUse, "Address already in use");
        let e = anyhow::Error::new(io)
            .context("could not listen on 0.0.0.0:80: Address already in use");
        assert_eq!(
            error_line(&e),
            "could not listen on 0.0.0.0:80: Address already in use"
        );
        let e = anyhow::anyhow!("disk full").context("writing the cache");
        assert_eq!(error_line(&e), "writing the cache: disk full");
    }
}
