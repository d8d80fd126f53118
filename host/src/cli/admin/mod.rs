//! The operator commands (`sources`, `endpoints`, `events`, `deliveries`,
//! `dlq`, `jobs`, `plugins`): thin clients of the admin API that speak its
//! typed models (`hookwasm::admin::api`), printing tables by default and
//! the API's JSON with `--json`. Where the server is and its token come
//! from the flags, the environment, or the config file (`[admin] listen`,
//! `token`, or the token generated in the data directory).

mod client;
mod endpoints;
mod events;
mod sources;

use clap::Args;

pub use client::Api;
pub use endpoints::{EndpointsCommand, endpoints};
pub use events::{
    DeliveriesCommand, DeliveryQuery, DlqCommand, EventsCommand, JobsCommand, deliveries, dlq,
    events, jobs,
};
pub use sources::{SourcesCommand, sources};

/// How to reach the admin API; shared by every operator command.
#[derive(Args, Clone, Default)]
pub struct AdminArgs {
    /// The admin API's base URL (default: the config file's [admin] listen,
    /// else http://127.0.0.1:8081).
    #[arg(long, env = "HOOKWASM_ADMIN_URL", global = true)]
    pub admin_url: Option<String>,
    /// The admin token (prefer the environment variable; default: the
    /// config file's, or the one generated in its data directory).
    #[arg(
        long,
        env = "HOOKWASM_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,
    /// The config file to read the admin address and token from (default:
    /// ./hookwasm.toml when it exists).
    #[arg(long, short = 'c', env = "HOOKWASM_CONFIG", global = true)]
    pub config: Option<std::path::PathBuf>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

pub async fn plugins(admin: AdminArgs) -> anyhow::Result<std::process::ExitCode> {
    use hookwasm::admin::api::List;
    use hookwasm::runtime::registry::PluginInfo;
    let api = Api::new(&admin)?;
    let answer: List<PluginInfo> = api.get("/v1/plugins").await?;
    api.print(&answer, |list| {
        let rows = list
            .items
            .iter()
            .map(|p| {
                let mut note = match (&p.last_error, &p.snapshot) {
                    (Some(error), _) => format!("last error: {error}"),
                    (None, Some(snapshot)) => format!("{} (snapshot: {snapshot})", p.description),
                    (None, None) => p.description.clone(),
                };
                if let Some(warning) = &p.warning {
                    note = format!("WARNING: {warning}; {note}");
                }
                vec![
                    p.name.clone(),
                    p.version.clone(),
                    p.state.clone().unwrap_or_else(|| "-".into()),
                    p.source.clone(),
                    super::table::clip(&note, 100),
                ]
            })
            .collect::<Vec<_>>();
        super::table::render(
            &[
                "NAME",
                "VERSION",
                "STATE",
                "SOURCE",
                "DESCRIPTION / LAST ERROR",
            ],
            &rows,
        )
    })
}
