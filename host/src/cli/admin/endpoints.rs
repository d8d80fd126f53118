//! `hookwasm endpoints`: the seed flow from a terminal — create an endpoint
//! for an integration with its credentials, edit it, push a JavaScript
//! transformation, test it on a sample or a recorded event, send a sample —
//! and state, counts, disable/enable, replay-missing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use hookwasm::admin::api::{
    CodeBody, EnabledView, EndpointView, IngestedView, JobView, List, RollbackRequest, TestRequest,
    TestResult, TransformationView, WindowRequest,
};
use hookwasm::catalog::TransformationVersion;
use hookwasm::catalog::spec::{AuthSpec, EndpointSpec, SettingValue, TransformationSpec};
use serde_json::{Value, json};

use super::AdminArgs;
use super::client::{Api, secret_from, seg};
use super::events::job_line;
use crate::cli::{table, usage};

#[derive(Subcommand)]
pub enum EndpointsCommand {
    /// Endpoints with their state and counts (the default).
    List,
    /// Create an endpoint (credentials from environment variables, or - for stdin).
    Create(CreateArgs),
    /// One endpoint's full definition and state.
    Show { id: String },
    /// Change an endpoint (only what is given changes).
    Edit(EditArgs),
    /// Delete an endpoint: its pending deliveries are cancelled.
    Delete { id: String },
    /// Stop delivering to an endpoint (its deliveries wait).
    Disable { id: String },
    /// Resume an endpoint.
    Enable { id: String },
    /// Sign with a new Standard Webhooks secret (generated and printed once,
    /// or read from --secret-env); the old one keeps signing alongside it
    /// until the next rotation.
    RotateSigningSecret {
        id: String,
        /// The variable holding the new `whsec_…` secret (`-`: stdin).
        #[arg(long, value_name = "VAR")]
        secret_env: Option<String>,
    },
    /// Create deliveries for events in a window that never had one for it.
    ReplayMissing {
        id: String,
        /// RFC 3339, unix seconds, or a time ago (2h, 7d).
        #[arg(long)]
        since: String,
        #[arg(long)]
        until: Option<String>,
    },
    /// A dry run on a sample, a recorded event or a payload file: the
    /// request it would send, or why not.
    Test {
        id: String,
        /// A built-in sample of this event type.
        #[arg(long, conflicts_with_all = ["event", "payload"])]
        sample: Option<String>,
        /// A recorded event: evt_… or the sender's webhook-id.
        #[arg(long, conflicts_with = "payload")]
        event: Option<String>,
        /// A payload file (JSON).
        #[arg(long)]
        payload: Option<PathBuf>,
        /// Try this JavaScript instead of the saved transformation.
        #[arg(long, value_name = "FILE")]
        js: Option<PathBuf>,
    },
    /// Deliver a sample event of TYPE to the endpoint, for real.
    SendSample { id: String, event_type: String },
    /// The endpoint's JavaScript transformation: push, versions, rollback.
    #[command(subcommand)]
    Transformation(TransformationCommand),
}

#[derive(Subcommand)]
pub enum TransformationCommand {
    /// Save FILE as the next version and make it current.
    Push {
        id: String,
        file: PathBuf,
    },
    /// The current code.
    Show {
        id: String,
    },
    Versions {
        id: String,
    },
    /// Make version N's code current again.
    Rollback {
        id: String,
        version: u32,
    },
}

/// Credentials and settings shared by create and edit.
#[derive(Args, Default)]
pub struct Fields {
    /// The destination URL.
    #[arg(long)]
    url: Option<String>,
    /// Event types, comma-separated (payment.succeeded,dispute.*).
    #[arg(long, value_delimiter = ',')]
    events: Option<Vec<String>>,
    /// A bearer token from this environment variable (`-`: stdin).
    #[arg(long, value_name = "VAR", conflicts_with_all = ["basic_env", "header"])]
    bearer_env: Option<String>,
    /// Basic auth: USER_VAR:PASSWORD_VAR (environment variables).
    #[arg(long, value_name = "USER_VAR:PASS_VAR")]
    basic_env: Option<String>,
    /// A custom auth header, NAME=VAR (the value from the environment).
    #[arg(long, value_name = "NAME=VAR")]
    header: Option<String>,
    /// OAuth2 client credentials: the token endpoint (with
    /// --oauth2-client-id and --oauth2-secret-env).
    #[arg(long, value_name = "URL", conflicts_with_all = ["bearer_env", "basic_env", "header"], requires_all = ["oauth2_client_id", "oauth2_secret_env"])]
    oauth2_token_url: Option<String>,
    #[arg(long, value_name = "ID", requires = "oauth2_token_url")]
    oauth2_client_id: Option<String>,
    /// The variable holding the OAuth2 client secret (`-`: stdin).
    #[arg(long, value_name = "VAR", requires = "oauth2_token_url")]
    oauth2_secret_env: Option<String>,
    #[arg(long, value_name = "SCOPE", requires = "oauth2_token_url")]
    oauth2_scope: Option<String>,
    /// A plugin setting, KEY=VALUE (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    settings: Vec<String>,
    /// A JavaScript handler file: the endpoint runs it on the `js` plugin.
    #[arg(long, value_name = "FILE")]
    js: Option<PathBuf>,
    #[arg(long)]
    concurrency: Option<u32>,
    #[arg(long)]
    rate_limit_per_sec: Option<f64>,
}

#[derive(Args)]
pub struct CreateArgs {
    /// The endpoint's id (default: a generated ep_…).
    #[arg(long)]
    id: Option<String>,
    /// Sign requests with the `whsec_…` secret in this variable (`-`:
    /// stdin). The webhook plugin gets a generated one without it.
    #[arg(long, value_name = "VAR")]
    signing_secret_env: Option<String>,
    #[arg(long)]
    source: String,
    /// loops, customerio, windmill, inngest, slack, … (default with --js: js).
    #[arg(long)]
    plugin: Option<String>,
    /// Create it disabled.
    #[arg(long)]
    disabled: bool,
    #[command(flatten)]
    fields: Fields,
}

#[derive(Args)]
pub struct EditArgs {
    id: String,
    #[arg(long)]
    plugin: Option<String>,
    /// A setting to remove (repeatable).
    #[arg(long, value_name = "KEY")]
    unset: Vec<String>,
    #[command(flatten)]
    fields: Fields,
}

impl Fields {
    fn auth(&self) -> anyhow::Result<Option<AuthSpec>> {
        if let Some(var) = &self.bearer_env {
            return Ok(Some(AuthSpec::Bearer(secret_from(var, "--bearer-env")?)));
        }
        if let Some(pair) = &self.basic_env {
            let (user, pass) = pair.split_once(':').ok_or_else(|| {
                usage(format!("--basic-env {pair:?}: expected USER_VAR:PASS_VAR"))
            })?;
            let username = secret_from(user, "--basic-env")?;
            let password = if pass.is_empty() {
                String::new()
            } else {
                secret_from(pass, "--basic-env")?
            };
            return Ok(Some(AuthSpec::Basic { username, password }));
        }
        if let (Some(token_url), Some(client_id), Some(var)) = (
            &self.oauth2_token_url,
            &self.oauth2_client_id,
            &self.oauth2_secret_env,
        ) {
            return Ok(Some(AuthSpec::Oauth2 {
                token_url: token_url.clone(),
                client_id: client_id.clone(),
                client_secret: secret_from(var, "--oauth2-secret-env")?,
                scope: self.oauth2_scope.clone(),
                audience: None,
            }));
        }
        if let Some(pair) = &self.header {
            let (name, var) = pair
                .split_once('=')
                .ok_or_else(|| usage(format!("--header {pair:?}: expected NAME=VAR")))?;
            return Ok(Some(AuthSpec::Header {
                name: name.to_string(),
                value: secret_from(var, "--header")?,
            }));
        }
        Ok(None)
    }

    fn settings(&self) -> anyhow::Result<BTreeMap<String, SettingValue>> {
        let mut settings = BTreeMap::new();
        for pair in &self.settings {
            let (k, v) = pair
                .split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| usage(format!("--set {pair:?}: expected KEY=VALUE")))?;
            settings.insert(k.to_string(), SettingValue::String(v.to_string()));
        }
        Ok(settings)
    }

    fn code(&self) -> anyhow::Result<Option<String>> {
        self.js
            .as_ref()
            .map(|path| {
                std::fs::read_to_string(path)
                    .map_err(|e| usage(format!("--js {}: {e}", path.display())))
            })
            .transpose()
    }
}

pub async fn endpoints(
    admin: AdminArgs,
    cmd: Option<EndpointsCommand>,
) -> anyhow::Result<ExitCode> {
    let api = Api::new(&admin)?;
    match cmd.unwrap_or(EndpointsCommand::List) {
        EndpointsCommand::List => {
            let list: List<EndpointView> = api.get("/v1/endpoints").await?;
            api.print(&list, |l| list_table(&l.items))
        }
        EndpointsCommand::Create(args) => {
            let code = args.fields.code()?;
            let spec = EndpointSpec {
                id: args.id,
                source: args.source,
                plugin: args.plugin,
                events: args
                    .fields
                    .events
                    .clone()
                    .unwrap_or_else(|| vec!["*".into()]),
                url: args.fields.url.clone(),
                auth: args.fields.auth()?,
                settings: args.fields.settings()?,
                concurrency: args.fields.concurrency,
                rate_limit_per_sec: args.fields.rate_limit_per_sec,
                enabled: args.disabled.then_some(false),
                transformation: code.map(|code| TransformationSpec { code }),
                signing_secret: args
                    .signing_secret_env
                    .as_deref()
                    .map(|var| secret_from(var, "--signing-secret-env"))
                    .transpose()?,
                ..EndpointSpec::default()
            };
            let created: EndpointView = api.post("/v1/endpoints", spec).await?;
            api.print(&created, |e| {
                let mut text = format!(
                    "endpoint {} created: {} events of source {} through {}\n",
                    e.id,
                    e.events.join(", "),
                    e.source,
                    e.plugin.name
                );
                if let Some(secret) = &e.new_signing_secret {
                    text.push_str(&format!(
                        "its requests are signed (Standard Webhooks) with this secret, shown only now; give it to the receiver:\n{secret}\n"
                    ));
                }
                text
            })
        }
        EndpointsCommand::Show { id } => {
            let e: EndpointView = api.get(&format!("/v1/endpoints/{}", seg(&id))).await?;
            api.print(&e, show)
        }
        EndpointsCommand::Edit(args) => {
            let mut patch = serde_json::Map::new();
            let f = &args.fields;
            if let Some(plugin) = &args.plugin {
                patch.insert("plugin".into(), json!(plugin));
            }
            if let Some(url) = &f.url {
                patch.insert("url".into(), json!(url));
            }
            if let Some(events) = &f.events {
                patch.insert("events".into(), json!(events));
            }
            if let Some(auth) = f.auth()? {
                patch.insert("auth".into(), serde_json::to_value(auth)?);
            }
            let mut settings = serde_json::Map::new();
            for (k, v) in f.settings()? {
                settings.insert(k, serde_json::to_value(v)?);
            }
            for k in &args.unset {
                settings.insert(k.clone(), Value::Null);
            }
            if !settings.is_empty() {
                patch.insert("settings".into(), Value::Object(settings));
            }
            if let Some(n) = f.concurrency {
                patch.insert("concurrency".into(), json!(n));
            }
            if let Some(r) = f.rate_limit_per_sec {
                patch.insert("rate_limit_per_sec".into(), json!(r));
            }
            if let Some(code) = f.code()? {
                patch.insert("plugin".into(), json!("js"));
                patch.insert("transformation".into(), json!({ "code": code }));
            }
            if patch.is_empty() {
                return Err(usage(
                    "nothing to change: give --events, --url, --set, --bearer-env, --js, …",
                ));
            }
            let e: EndpointView = api
                .patch(
                    &format!("/v1/endpoints/{}", seg(&args.id)),
                    Value::Object(patch),
                )
                .await?;
            api.print(&e, |e| format!("endpoint {} changed\n", e.id))
        }
        EndpointsCommand::Delete { id } => {
            api.delete(&format!("/v1/endpoints/{}", seg(&id))).await?;
            if !api.json {
                println!("endpoint {id} deleted; its pending deliveries were cancelled");
            }
            Ok(ExitCode::SUCCESS)
        }
        EndpointsCommand::Disable { id } => {
            let answer: EnabledView = api
                .post(&format!("/v1/endpoints/{}/disable", seg(&id)), json!({}))
                .await?;
            api.print(&answer, |_| {
                format!("endpoint {id} disabled; its deliveries wait\n")
            })
        }
        EndpointsCommand::Enable { id } => {
            let answer: EnabledView = api
                .post(&format!("/v1/endpoints/{}/enable", seg(&id)), json!({}))
                .await?;
            api.print(&answer, |_| format!("endpoint {id} enabled\n"))
        }
        EndpointsCommand::RotateSigningSecret { id, secret_env } => {
            let secret = secret_env
                .map(|var| secret_from(&var, "--secret-env"))
                .transpose()?;
            let answer: EndpointView = api
                .post(
                    &format!("/v1/endpoints/{}/signing-secret/rotate", seg(&id)),
                    json!({ "secret": secret }),
                )
                .await?;
            api.print(&answer, |e| match &e.new_signing_secret {
                Some(secret) => format!(
                    "endpoint {id} signs with a new secret (shown only now; give it to the receiver):\n{secret}\nthe old one keeps signing alongside it until the next rotation\n"
                ),
                None => format!(
                    "endpoint {id} signs with the given secret; the old one keeps signing alongside it until the next rotation\n"
                ),
            })
        }
        EndpointsCommand::ReplayMissing { id, since, until } => {
            let job: JobView = api
                .post(
                    &format!("/v1/endpoints/{}/replay-missing", seg(&id)),
                    WindowRequest { since, until },
                )
                .await?;
            api.print(&job, job_line)
        }
        EndpointsCommand::Test {
            id,
            sample,
            event,
            payload,
            js,
        } => {
            let payload = payload
                .map(|path| -> anyhow::Result<Value> {
                    let bytes = std::fs::read(&path)
                        .map_err(|e| usage(format!("--payload {}: {e}", path.display())))?;
                    serde_json::from_slice(&bytes)
                        .map_err(|e| usage(format!("--payload {}: not JSON: {e}", path.display())))
                })
                .transpose()?;
            let code = js
                .map(|path| {
                    std::fs::read_to_string(&path)
                        .map_err(|e| usage(format!("--js {}: {e}", path.display())))
                })
                .transpose()?;
            let body = TestRequest {
                code,
                event_type: sample,
                payload,
                event_id: event,
            };
            let result: TestResult = api
                .post(&format!("/v1/endpoints/{}/test", seg(&id)), body)
                .await?;
            let failed = result.outcome == "error";
            api.print(&result, test_report)?;
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        EndpointsCommand::SendSample { id, event_type } => {
            let sent: IngestedView = api
                .post(
                    &format!("/v1/endpoints/{}/send-sample", seg(&id)),
                    json!({ "event_type": event_type }),
                )
                .await?;
            api.print(&sent, |s| {
                format!(
                    "sample {event_type} stored as {}; its delivery to {id} is queued\n",
                    s.id
                )
            })
        }
        EndpointsCommand::Transformation(cmd) => transformation(&api, cmd).await,
    }
}

async fn transformation(api: &Api, cmd: TransformationCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TransformationCommand::Push { id, file } => {
            let code = std::fs::read_to_string(&file)
                .map_err(|e| usage(format!("{}: {e}", file.display())))?;
            let saved: TransformationVersion = api
                .put(
                    &format!("/v1/endpoints/{}/transformation", seg(&id)),
                    CodeBody { code },
                )
                .await?;
            api.print(&saved, |v| {
                format!(
                    "endpoint {id} now runs transformation v{} ({})\n",
                    v.version,
                    &v.sha256[..12.min(v.sha256.len())]
                )
            })
        }
        TransformationCommand::Show { id } => {
            let t: TransformationView = api
                .get(&format!("/v1/endpoints/{}/transformation", seg(&id)))
                .await?;
            api.print(&t, |t| t.code.clone())
        }
        TransformationCommand::Versions { id } => {
            let list: List<TransformationView> = api
                .get(&format!(
                    "/v1/endpoints/{}/transformation/versions",
                    seg(&id)
                ))
                .await?;
            api.print(&list, |l| {
                let rows = l
                    .items
                    .iter()
                    .map(|v| {
                        vec![
                            v.version.to_string(),
                            table::cell(v.created_at.as_ref()),
                            v.sha256.chars().take(12).collect(),
                        ]
                    })
                    .collect::<Vec<_>>();
                table::render(&["VERSION", "CREATED", "SHA256"], &rows)
            })
        }
        TransformationCommand::Rollback { id, version } => {
            let saved: TransformationVersion = api
                .post(
                    &format!("/v1/endpoints/{}/transformation/rollback", seg(&id)),
                    RollbackRequest { version },
                )
                .await?;
            api.print(&saved, |v| {
                format!(
                    "endpoint {id} runs version {version}'s code again, saved as v{}\n",
                    v.version
                )
            })
        }
    }
}

fn list_table(items: &[EndpointView]) -> String {
    let rows = items
        .iter()
        .map(|e| {
            vec![
                e.id.clone(),
                format!(
                    "{}@{}",
                    e.plugin.name,
                    e.plugin.version.as_deref().unwrap_or(&e.plugin.state)
                ),
                if e.enabled {
                    "yes".into()
                } else {
                    format!(
                        "no: {}",
                        table::clip(e.disabled_reason.as_deref().unwrap_or("-"), 40)
                    )
                },
                e.counts.pending.to_string(),
                e.due.to_string(),
                e.counts.delivered.to_string(),
                e.counts.dead.to_string(),
                table::cell(e.last_success.as_ref()),
                e.last_failure
                    .as_ref()
                    .map(|f| format!("{} {}", f.at, table::clip(&f.reason, 50)))
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect::<Vec<_>>();
    table::render(
        &[
            "ENDPOINT",
            "PLUGIN",
            "ENABLED",
            "PENDING",
            "DUE",
            "DELIVERED",
            "DEAD",
            "LAST SUCCESS",
            "LAST FAILURE",
        ],
        &rows,
    )
}

fn show(e: &EndpointView) -> String {
    let mut out = format!(
        "endpoint {} ({})\n  source     {}\n  plugin     {} ({})\n  events     {}\n  url        {}\n  enabled    {}\n",
        e.id,
        format!("{:?}", e.managed_by).to_lowercase(),
        e.source,
        e.plugin.name,
        e.plugin.state,
        e.events.join(", "),
        e.url.as_deref().unwrap_or("(the plugin's default)"),
        if e.enabled {
            "yes".to_string()
        } else {
            format!("no: {}", e.disabled_reason.as_deref().unwrap_or("-"))
        }
    );
    if let Some(secret) = &e.signing_secret {
        out += &format!(
            "  signing    Standard Webhooks, secret …{}{}\n",
            secret.last4,
            match e.previous_signing_secrets {
                0 => String::new(),
                n => format!(" (+{n} previous, still signing)"),
            }
        );
    }
    if let Some(t) = &e.transformation {
        out += &format!(
            "  transform  v{} {}\n",
            t.version,
            t.file.as_deref().unwrap_or("")
        );
    }
    out += &format!(
        "  counts     pending {} (due {}), delivered {}, skipped {}, dead {}, cancelled {}\n",
        e.counts.pending,
        e.due,
        e.counts.delivered,
        e.counts.skipped,
        e.counts.dead,
        e.counts.cancelled
    );
    out
}

/// What `plugin test` prints, for a dry run.
fn test_report(r: &TestResult) -> String {
    let mut out = match r.outcome.as_str() {
        "deliver" => match &r.request {
            Some(req) => format!(
                "would send {} {}\n{}\n",
                req.method,
                req.url,
                serde_json::to_string_pretty(&json!({ "headers": req.headers, "body": req.body }))
                    .unwrap_or_default()
            ),
            None => "would send a request\n".into(),
        },
        "skip" => format!("would skip: {}\n", r.reason.as_deref().unwrap_or("-")),
        _ => format!("error: {}\n", r.error.as_deref().unwrap_or("-")),
    };
    if !r.console.is_empty() {
        out += &format!("console:\n{}\n", r.console.trim_end());
    }
    out += &format!(
        "({} on {}; {} fuel, {} µs, {} KiB peak memory)\n",
        r.outcome,
        r.event_id.as_deref().unwrap_or(&r.event_type),
        r.stats.fuel,
        r.stats.micros,
        r.stats.peak_memory_bytes / 1024
    );
    out
}
