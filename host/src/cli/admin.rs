//! The operator commands (`endpoints`, `events`, `deliveries`, `dlq`,
//! `plugins`): thin clients of the admin API, printing tables by default and
//! the API's JSON with `--json`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::anyhow;
use bytes::Bytes;
use clap::{Args, Subcommand};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use super::table;
use super::usage;

/// How to reach the admin API; shared by every operator command.
#[derive(Args, Clone)]
pub struct AdminArgs {
    /// The admin API's base URL.
    #[arg(
        long,
        env = "HOOKWASM_ADMIN_URL",
        default_value = "http://127.0.0.1:8081",
        global = true
    )]
    admin_url: String,
    /// The admin token (prefer the environment variable).
    #[arg(
        long,
        env = "HOOKWASM_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
pub enum EventsCommand {
    /// Events, newest first.
    List(EventFilter),
    /// One event (its id or the sender's webhook-id), with its deliveries.
    Show { id: String },
}

#[derive(Args, Default)]
pub struct EventFilter {
    #[arg(long)]
    source: Option<String>,
    /// The event type, e.g. payment.succeeded.
    #[arg(long = "type")]
    event_type: Option<String>,
    /// RFC 3339 time or unix seconds.
    #[arg(long)]
    since: Option<String>,
    #[arg(long)]
    until: Option<String>,
    #[arg(long)]
    limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    #[arg(long)]
    cursor: Option<String>,
}

#[derive(Subcommand)]
pub enum DeliveriesCommand {
    /// Deliveries, newest first.
    List(DeliveryFilter),
    /// One delivery with its attempts and stored request.
    Show { id: String },
    /// Send the stored request again now.
    Retry { id: String },
    /// Run the endpoint's current plugin again, then send.
    Replay { id: String },
}

#[derive(Args, Default)]
pub struct DeliveryFilter {
    #[arg(long)]
    endpoint: Option<String>,
    /// pending, delivered, skipped or dead.
    #[arg(long)]
    status: Option<String>,
    #[arg(long)]
    since: Option<String>,
    #[arg(long)]
    limit: Option<u32>,
    #[arg(long)]
    cursor: Option<String>,
}

#[derive(Subcommand)]
pub enum DlqCommand {
    /// Dead letters, newest first.
    List {
        #[arg(long)]
        endpoint: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Re-queue every dead delivery of ENDPOINT in a time window.
    Recover {
        endpoint: String,
        /// RFC 3339 time or unix seconds.
        #[arg(long)]
        since: String,
        #[arg(long)]
        until: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum EndpointsCommand {
    /// Endpoints with their state and counts (the default).
    List,
    /// Stop delivering to an endpoint (its deliveries wait).
    Disable { id: String },
    /// Resume an endpoint.
    Enable { id: String },
    /// Create deliveries for events in a window that never had one for it.
    ReplayMissing {
        id: String,
        #[arg(long)]
        since: String,
        #[arg(long)]
        until: Option<String>,
    },
}

pub async fn endpoints(
    admin: AdminArgs,
    cmd: Option<EndpointsCommand>,
) -> anyhow::Result<ExitCode> {
    let api = Api::new(&admin)?;
    match cmd.unwrap_or(EndpointsCommand::List) {
        EndpointsCommand::List => {
            let answer = api.get("/v1/endpoints").await?;
            api.print(&answer, |v| {
                let rows = items(v)
                    .iter()
                    .map(|e| {
                        let c = &e["counts"];
                        vec![
                            text(&e["id"]),
                            format!(
                                "{}@{}",
                                text(&e["plugin"]["name"]),
                                text(&e["plugin"]["version"])
                            ),
                            if e["enabled"] == true {
                                "yes".into()
                            } else {
                                format!("no: {}", text(&e["disabled_reason"]))
                            },
                            text(&c["pending"]),
                            text(&e["due"]),
                            text(&c["delivered"]),
                            text(&c["skipped"]),
                            text(&c["dead"]),
                            text(&e["last_success"]),
                            text(&e["last_failure"]["reason"]),
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
                        "SKIPPED",
                        "DEAD",
                        "LAST SUCCESS",
                        "LAST FAILURE",
                    ],
                    &rows,
                )
            })
        }
        EndpointsCommand::Disable { id } => {
            let answer = api
                .post(&format!("/v1/endpoints/{}/disable", seg(&id)), json!({}))
                .await?;
            api.print(&answer, |_| format!("endpoint {id} disabled\n"))
        }
        EndpointsCommand::Enable { id } => {
            let answer = api
                .post(&format!("/v1/endpoints/{}/enable", seg(&id)), json!({}))
                .await?;
            api.print(&answer, |_| format!("endpoint {id} enabled\n"))
        }
        EndpointsCommand::ReplayMissing { id, since, until } => {
            let answer = api
                .post(
                    &format!("/v1/endpoints/{}/replay-missing", seg(&id)),
                    window(&since, until.as_deref()),
                )
                .await?;
            api.print(&answer, job_line)
        }
    }
}

pub async fn events(admin: AdminArgs, cmd: Option<EventsCommand>) -> anyhow::Result<ExitCode> {
    let api = Api::new(&admin)?;
    match cmd.unwrap_or(EventsCommand::List(EventFilter::default())) {
        EventsCommand::List(f) => {
            let path = with_query(
                "/v1/events",
                &[
                    ("source", f.source),
                    ("type", f.event_type),
                    ("since", f.since),
                    ("until", f.until),
                    ("limit", f.limit.map(|n| n.to_string())),
                    ("cursor", f.cursor),
                ],
            );
            let answer = api.get(&path).await?;
            api.print(&answer, |v| {
                let rows = items(v)
                    .iter()
                    .map(|e| {
                        vec![
                            text(&e["id"]),
                            text(&e["received_at"]),
                            text(&e["source"]),
                            text(&e["type"]),
                            text(&e["webhook_id"]),
                        ]
                    })
                    .collect::<Vec<_>>();
                table::render(&["ID", "RECEIVED", "SOURCE", "TYPE", "WEBHOOK ID"], &rows) + &more(v)
            })
        }
        EventsCommand::Show { id } => {
            let answer = api.get(&format!("/v1/events/{}", seg(&id))).await?;
            api.print(&answer, |e| {
                let mut out = format!(
                    "event {}  {}  {}  webhook-id {}  received {}\n\n",
                    text(&e["id"]),
                    text(&e["source"]),
                    text(&e["type"]),
                    text(&e["webhook_id"]),
                    text(&e["received_at"])
                );
                out += &deliveries_table(
                    e["deliveries"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or_default(),
                );
                out
            })
        }
    }
}

pub async fn deliveries(
    admin: AdminArgs,
    cmd: Option<DeliveriesCommand>,
) -> anyhow::Result<ExitCode> {
    let api = Api::new(&admin)?;
    match cmd.unwrap_or(DeliveriesCommand::List(DeliveryFilter::default())) {
        DeliveriesCommand::List(f) => {
            list_deliveries(&api, f.endpoint, f.status, f.since, f.limit, f.cursor).await
        }
        DeliveriesCommand::Show { id } => {
            let answer = api.get(&format!("/v1/deliveries/{}", seg(&id))).await?;
            api.print(&answer, |d| {
                let mut out = deliveries_table(std::slice::from_ref(d));
                let rows: Vec<Vec<String>> = d["attempts"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|a| {
                        vec![
                            text(&a["n"]),
                            text(&a["at"]),
                            text(&a["status"]),
                            format!("{} ms", text(&a["duration_ms"])),
                            text(&a["error"]),
                        ]
                    })
                    .collect();
                if !rows.is_empty() {
                    out += "\n";
                    out += &table::render(&["ATTEMPT", "AT", "STATUS", "DURATION", "ERROR"], &rows);
                }
                out
            })
        }
        DeliveriesCommand::Retry { id } => {
            let answer = api
                .post(&format!("/v1/deliveries/{}/retry", seg(&id)), json!({}))
                .await?;
            api.print(&answer, |_| {
                format!("delivery {id} queued to be sent again\n")
            })
        }
        DeliveriesCommand::Replay { id } => {
            let answer = api
                .post(&format!("/v1/deliveries/{}/replay", seg(&id)), json!({}))
                .await?;
            api.print(&answer, |_| {
                format!("delivery {id} queued to be transformed and sent again\n")
            })
        }
    }
}

pub async fn dlq(admin: AdminArgs, cmd: Option<DlqCommand>) -> anyhow::Result<ExitCode> {
    let api = Api::new(&admin)?;
    match cmd.unwrap_or(DlqCommand::List {
        endpoint: None,
        limit: None,
        cursor: None,
    }) {
        DlqCommand::List {
            endpoint,
            limit,
            cursor,
        } => list_deliveries(&api, endpoint, Some("dead".into()), None, limit, cursor).await,
        DlqCommand::Recover {
            endpoint,
            since,
            until,
        } => {
            let answer = api
                .post(
                    &format!("/v1/endpoints/{}/recover", seg(&endpoint)),
                    window(&since, until.as_deref()),
                )
                .await?;
            api.print(&answer, job_line)
        }
    }
}

pub async fn plugins(admin: AdminArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&admin)?;
    let answer = api.get("/v1/plugins").await?;
    api.print(&answer, |v| {
        let rows = items(v)
            .iter()
            .map(|p| {
                vec![
                    text(&p["name"]),
                    text(&p["version"]),
                    text(&p["source"]),
                    text(&p["loaded_at"]),
                    p["last_error"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| match p["snapshot"].as_str() {
                            Some(snapshot) => {
                                format!("{} (snapshot: {snapshot})", text(&p["description"]))
                            }
                            None => text(&p["description"]),
                        }),
                ]
            })
            .collect::<Vec<_>>();
        table::render(
            &[
                "NAME",
                "VERSION",
                "SOURCE",
                "LOADED",
                "DESCRIPTION / LAST ERROR",
            ],
            &rows,
        )
    })
}

async fn list_deliveries(
    api: &Api,
    endpoint: Option<String>,
    status: Option<String>,
    since: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
) -> anyhow::Result<ExitCode> {
    let path = with_query(
        "/v1/deliveries",
        &[
            ("endpoint", endpoint),
            ("status", status),
            ("since", since),
            ("limit", limit.map(|n| n.to_string())),
            ("cursor", cursor),
        ],
    );
    let answer = api.get(&path).await?;
    api.print(&answer, |v| deliveries_table(items(v)) + &more(v))
}

fn deliveries_table(items: &[Value]) -> String {
    let rows = items
        .iter()
        .map(|d| {
            vec![
                text(&d["id"]),
                text(&d["endpoint"]),
                text(&d["status"]),
                text(&d["attempt_count"]),
                text(&d["last_status"]),
                text(&d["updated_at"]),
                text(&d["reason"]),
            ]
        })
        .collect::<Vec<_>>();
    table::render(
        &[
            "DELIVERY",
            "ENDPOINT",
            "STATUS",
            "ATTEMPTS",
            "LAST HTTP",
            "UPDATED",
            "REASON",
        ],
        &rows,
    )
}

fn job_line(job: &Value) -> String {
    format!(
        "job {} started ({}); see GET /v1/jobs/{}\n",
        text(&job["id"]),
        text(&job["kind"]),
        text(&job["id"])
    )
}

fn window(since: &str, until: Option<&str>) -> Value {
    match until {
        Some(until) => json!({ "since": since, "until": until }),
        None => json!({ "since": since }),
    }
}

fn items(v: &Value) -> &[Value] {
    v["items"].as_array().map(Vec::as_slice).unwrap_or_default()
}

fn more(v: &Value) -> String {
    match v["next_cursor"].as_str() {
        Some(cursor) => format!("(more: --cursor {cursor})\n"),
        None => String::new(),
    }
}

/// A cell: strings bare, null as "-", anything else as JSON.
fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A path segment, percent-encoded.
fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn with_query(path: &str, params: &[(&str, Option<String>)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        if let Some(v) = v {
            query.append_pair(k, v);
        }
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

struct Api {
    base: String,
    token: Option<String>,
    json: bool,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Api {
    fn new(args: &AdminArgs) -> anyhow::Result<Api> {
        let base = args.admin_url.trim_end_matches('/').to_string();
        if !base.starts_with("http://") {
            return Err(usage(format!(
                "--admin-url {base:?}: expected http://HOST:PORT (the admin API is plain HTTP; put TLS in front of it)"
            )));
        }
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        Ok(Api {
            base,
            token: args.token.clone().filter(|t| !t.is_empty()),
            json: args.json,
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(http::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(http::Method::POST, path, Some(body)).await
    }

    async fn call(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut request = http::Request::builder().method(method).uri(&url);
        if let Some(token) = &self.token {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(v) => {
                request = request.header(http::header::CONTENT_TYPE, "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(body))
            .map_err(|e| usage(format!("--admin-url {}: {e}", self.base)))?;
        let response = tokio::time::timeout(Duration::from_secs(60), self.client.request(request))
            .await
            .map_err(|_| anyhow!("the admin API at {} did not answer within 60 s", self.base))?
            .map_err(|e| {
                anyhow!(
                    "cannot reach the admin API at {}: {} (is `hookwasm serve` running? set --admin-url or HOOKWASM_ADMIN_URL)",
                    self.base,
                    root_cause(&e)
                )
            })?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| anyhow!("reading the admin API's answer: {e}"))?
            .to_bytes();
        let value: Value = serde_json::from_slice(&bytes).unwrap_or_else(
            |_| json!({ "error": String::from_utf8_lossy(&bytes).trim().to_string() }),
        );
        if status == http::StatusCode::UNAUTHORIZED {
            return Err(anyhow!(
                "the admin API refused the token ({}): set HOOKWASM_ADMIN_TOKEN or --token to the server's [admin] token",
                text(&value["error"])
            ));
        }
        if !status.is_success() {
            return Err(anyhow!(
                "{} {path}: HTTP {}: {}",
                "admin API",
                status.as_u16(),
                text(&value["error"])
            ));
        }
        Ok(value)
    }

    fn print(
        &self,
        answer: &Value,
        render: impl FnOnce(&Value) -> String,
    ) -> anyhow::Result<ExitCode> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(answer)?);
        } else {
            print!("{}", render(answer));
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The innermost error, which says what went wrong ("Connection refused").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
