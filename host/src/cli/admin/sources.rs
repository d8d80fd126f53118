//! `hookwasm sources`: where webhooks come from.

use std::process::ExitCode;

use clap::Subcommand;
use hookwasm::admin::api::{List, RotateRequest, SourceView};
use hookwasm::catalog::spec::SourceSpec;

use super::AdminArgs;
use super::client::{Api, secret_from, seg};
use crate::cli::table;

#[derive(Subcommand)]
pub enum SourcesCommand {
    /// Sources, with their ingest path (the default).
    List,
    /// Create a source; its secret from an environment variable or stdin.
    Create {
        id: String,
        /// standard-webhooks (Dodo, Svix), stripe, github, shopify, slack.
        #[arg(long, default_value = "standard-webhooks")]
        kind: String,
        /// The environment variable holding the signing secret (`-`: stdin).
        #[arg(long, value_name = "VAR")]
        secret_env: String,
        #[arg(long)]
        tolerance_secs: Option<u64>,
        #[arg(long)]
        rate_limit_per_sec: Option<f64>,
    },
    Show {
        id: String,
    },
    /// A new signing secret; the old ones verify for the grace period.
    Rotate {
        id: String,
        #[arg(long, value_name = "VAR")]
        secret_env: String,
        /// How long the old secrets keep verifying (default 86400).
        #[arg(long)]
        grace_secs: Option<u64>,
    },
    Delete {
        id: String,
    },
}

pub async fn sources(admin: AdminArgs, cmd: Option<SourcesCommand>) -> anyhow::Result<ExitCode> {
    let api = Api::new(&admin)?;
    match cmd.unwrap_or(SourcesCommand::List) {
        SourcesCommand::List => {
            let list: List<SourceView> = api.get("/v1/sources").await?;
            api.print(&list, |l| table_of(&l.items))
        }
        SourcesCommand::Create {
            id,
            kind,
            secret_env,
            tolerance_secs,
            rate_limit_per_sec,
        } => {
            let spec = SourceSpec {
                id: Some(id),
                kind: Some(
                    serde_json::from_value(serde_json::Value::String(kind.clone()))
                        .map_err(|_| crate::cli::usage(format!("--kind {kind:?}: use standard-webhooks, stripe, github, shopify or slack (hmac sources go in the config file or the API)")))?,
                ),
                secrets: vec![secret_from(&secret_env, "--secret-env")?],
                tolerance_secs,
                verify: None,
                rate_limit_per_sec,
            };
            let created: SourceView = api.post("/v1/sources", spec).await?;
            api.print(&created, |s| {
                format!(
                    "source {} created: senders post to {}\n",
                    s.id, s.ingest_path
                )
            })
        }
        SourcesCommand::Show { id } => {
            let source: SourceView = api.get(&format!("/v1/sources/{}", seg(&id))).await?;
            api.print(&source, |s| table_of(std::slice::from_ref(s)))
        }
        SourcesCommand::Rotate {
            id,
            secret_env,
            grace_secs,
        } => {
            let body = RotateRequest {
                secret: secret_from(&secret_env, "--secret-env")?,
                grace_secs,
            };
            let source: SourceView = api
                .post(&format!("/v1/sources/{}/rotate", seg(&id)), body)
                .await?;
            api.print(&source, |s| {
                format!(
                    "source {} signs with the new secret; {} old one(s) verify until {}\n",
                    s.id,
                    s.retired.len(),
                    s.retired.first().map(|r| r.until.as_str()).unwrap_or("-")
                )
            })
        }
        SourcesCommand::Delete { id } => {
            api.delete(&format!("/v1/sources/{}", seg(&id))).await?;
            if !api.json {
                println!("source {id} deleted");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn table_of(items: &[SourceView]) -> String {
    let rows = items
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                s.kind.clone(),
                format!("{:?}", s.managed_by).to_lowercase(),
                s.ingest_path.clone(),
                if s.accepting {
                    "yes".into()
                } else {
                    format!(
                        "no: {}",
                        table::clip(s.disabled_reason.as_deref().unwrap_or("-"), 60)
                    )
                },
                s.secrets.len().to_string(),
            ]
        })
        .collect::<Vec<_>>();
    table::render(
        &[
            "SOURCE",
            "KIND",
            "MANAGED BY",
            "INGEST PATH",
            "ACCEPTING",
            "SECRETS",
        ],
        &rows,
    )
}
