//! `hookwasm events`, `deliveries`, `dlq` and `jobs`: what arrived, what
//! became of it, and the repairs.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use hookwasm::admin::api::{
    DeliveryDetail, DeliveryView, EndpointView, EventDetail, EventView, JobView, List,
    WindowRequest,
};
use serde_json::json;

use super::AdminArgs;
use super::client::{Api, seg, with_query};
use crate::cli::table;

#[derive(Subcommand)]
pub enum EventsCommand {
    /// Events, newest first.
    List(EventQuery),
    /// One event (its id or the sender's webhook-id), with its deliveries.
    Show { id: String },
}

#[derive(Args, Default, Clone)]
pub struct EventQuery {
    #[arg(long)]
    source: Option<String>,
    /// The event type, e.g. payment.succeeded.
    #[arg(long = "type")]
    event_type: Option<String>,
    /// RFC 3339 time, unix seconds, or a time ago (2h, 7d).
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
    /// Deliveries, newest first (the default; the same options work without `list`).
    List(DeliveryQuery),
    /// One delivery: attempts, stored request, responses, next attempt.
    Show { id: String },
    /// Send the stored request again now.
    Retry { id: String },
    /// Run the endpoint's current plugin again, then send.
    Replay { id: String },
}

#[derive(Args, Default, Clone)]
pub struct DeliveryQuery {
    #[arg(long)]
    endpoint: Option<String>,
    /// pending, delivered, skipped, dead or cancelled.
    #[arg(long)]
    status: Option<String>,
    /// RFC 3339 time, unix seconds, or a time ago (2h, 7d).
    #[arg(long)]
    since: Option<String>,
    #[arg(long)]
    limit: Option<u32>,
    #[arg(long)]
    cursor: Option<String>,
}

#[derive(Subcommand)]
pub enum DlqCommand {
    /// Dead letters, newest first (the default).
    List {
        #[arg(long)]
        endpoint: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Re-queue the dead letters of ENDPOINT (or of every endpoint, --all)
    /// in a time window.
    Recover {
        /// The endpoint (or --all).
        #[arg(required_unless_present = "all")]
        endpoint: Option<String>,
        /// Every endpoint.
        #[arg(long, conflicts_with = "endpoint")]
        all: bool,
        /// RFC 3339 time, unix seconds, or a time ago (2h, 7d).
        #[arg(long)]
        since: String,
        #[arg(long)]
        until: Option<String>,
        /// Wait for the job(s) to finish, with progress.
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Subcommand)]
pub enum JobsCommand {
    /// A job's progress.
    Show {
        id: String,
        /// Wait until it is done, with a progress bar on a terminal.
        #[arg(long)]
        wait: bool,
    },
}

pub async fn events(admin: AdminArgs, cmd: Option<EventsCommand>) -> anyhow::Result<ExitCode> {
    let api = Api::new(&admin)?;
    match cmd.unwrap_or(EventsCommand::List(EventQuery::default())) {
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
            let list: List<EventView> = api.get(&path).await?;
            api.print(&list, |l| {
                let rows = l
                    .items
                    .iter()
                    .map(|e| {
                        vec![
                            e.id.clone(),
                            e.received_at.clone(),
                            e.source.clone(),
                            e.event_type.clone(),
                            e.webhook_id.clone(),
                        ]
                    })
                    .collect::<Vec<_>>();
                table::render(&["ID", "RECEIVED", "SOURCE", "TYPE", "WEBHOOK ID"], &rows)
                    + &more(&l.next_cursor)
            })
        }
        EventsCommand::Show { id } => {
            let e: EventDetail = api.get(&format!("/v1/events/{}", seg(&id))).await?;
            api.print(&e, |e| {
                let mut out = format!(
                    "event {}  {}  {}  webhook-id {}  received {}\n\n",
                    e.event.id,
                    e.event.source,
                    e.event.event_type,
                    e.event.webhook_id,
                    e.event.received_at
                );
                out += &deliveries_table(&e.deliveries);
                out
            })
        }
    }
}

pub async fn deliveries(
    admin: AdminArgs,
    cmd: Option<DeliveriesCommand>,
    query: DeliveryQuery,
) -> anyhow::Result<ExitCode> {
    let api = Api::new(&admin)?;
    match cmd.unwrap_or(DeliveriesCommand::List(query)) {
        DeliveriesCommand::List(f) => list_deliveries(&api, f).await,
        DeliveriesCommand::Show { id } => {
            let d: DeliveryDetail = api.get(&format!("/v1/deliveries/{}", seg(&id))).await?;
            api.print(&d, delivery_report)
        }
        DeliveriesCommand::Retry { id } => {
            let _: DeliveryView = api
                .post(&format!("/v1/deliveries/{}/retry", seg(&id)), json!({}))
                .await?;
            if !api.json {
                println!("delivery {id} queued to be sent again");
            }
            Ok(ExitCode::SUCCESS)
        }
        DeliveriesCommand::Replay { id } => {
            let _: DeliveryView = api
                .post(&format!("/v1/deliveries/{}/replay", seg(&id)), json!({}))
                .await?;
            if !api.json {
                println!("delivery {id} queued to be transformed and sent again");
            }
            Ok(ExitCode::SUCCESS)
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
        } => {
            list_deliveries(
                &api,
                DeliveryQuery {
                    endpoint,
                    status: Some("dead".into()),
                    limit,
                    cursor,
                    since: None,
                },
            )
            .await
        }
        DlqCommand::Recover {
            endpoint,
            all,
            since,
            until,
            wait,
        } => {
            let targets = match (endpoint, all) {
                (Some(id), _) => vec![id],
                (None, _) => {
                    let list: List<EndpointView> = api.get("/v1/endpoints").await?;
                    list.items.into_iter().map(|e| e.id).collect()
                }
            };
            let mut jobs = Vec::new();
            for id in targets {
                let job: JobView = api
                    .post(
                        &format!("/v1/endpoints/{}/recover", seg(&id)),
                        WindowRequest {
                            since: since.clone(),
                            until: until.clone(),
                        },
                    )
                    .await?;
                if !wait {
                    api.print(&job, job_line)?;
                }
                jobs.push(job.id);
            }
            if wait {
                for id in jobs {
                    wait_for_job(&api, &id).await?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub async fn jobs(admin: AdminArgs, cmd: JobsCommand) -> anyhow::Result<ExitCode> {
    let api = Api::new(&admin)?;
    match cmd {
        JobsCommand::Show { id, wait: false } => {
            let job: JobView = api.get(&format!("/v1/jobs/{}", seg(&id))).await?;
            api.print(&job, job_status)
        }
        JobsCommand::Show { id, wait: true } => wait_for_job(&api, &id).await,
    }
}

/// Polls a job until it is done: a progress bar on a terminal, else one
/// line at the end.
async fn wait_for_job(api: &Api, id: &str) -> anyhow::Result<ExitCode> {
    let bar = (std::io::stderr().is_terminal() && !api.json).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    loop {
        let job: JobView = api.get(&format!("/v1/jobs/{}", seg(id))).await?;
        if let Some(bar) = &bar {
            bar.set_message(format!(
                "{} {}: {} examined, {} changed",
                job.kind, job.endpoint, job.examined, job.changed
            ));
        }
        if job.state != "running" {
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            api.print(&job, job_status)?;
            return Ok(if job.state == "done" {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn list_deliveries(api: &Api, f: DeliveryQuery) -> anyhow::Result<ExitCode> {
    let path = with_query(
        "/v1/deliveries",
        &[
            ("endpoint", f.endpoint),
            ("status", f.status),
            ("since", f.since),
            ("limit", f.limit.map(|n| n.to_string())),
            ("cursor", f.cursor),
        ],
    );
    let list: List<DeliveryDetail> = api.get(&path).await?;
    api.print(&list, |l| {
        deliveries_table(&l.items) + &more(&l.next_cursor)
    })
}

fn deliveries_table(items: &[DeliveryDetail]) -> String {
    let rows = items
        .iter()
        .map(|d| {
            let v = &d.delivery;
            vec![
                v.id.clone(),
                v.endpoint.clone(),
                table::cell(d.event_type.as_ref()),
                v.status.clone(),
                v.attempt_count.to_string(),
                table::cell(v.last_status),
                v.updated_at.clone(),
                table::clip(v.reason.as_deref().unwrap_or("-"), 60),
            ]
        })
        .collect::<Vec<_>>();
    table::render(
        &[
            "DELIVERY",
            "ENDPOINT",
            "TYPE",
            "STATUS",
            "ATTEMPTS",
            "LAST HTTP",
            "UPDATED",
            "REASON",
        ],
        &rows,
    )
}

/// `deliveries show`: everything the JSON has, readable.
fn delivery_report(d: &DeliveryDetail) -> String {
    let v = &d.delivery;
    let mut out = format!(
        "delivery {}  event {} ({})  endpoint {}\n  status       {}{}\n  attempts     {}\n",
        v.id,
        v.event_id,
        d.event_type.as_deref().unwrap_or("-"),
        v.endpoint,
        v.status,
        v.reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default(),
        v.attempt_count
    );
    if let Some(next) = &v.next_attempt_at {
        out += &format!("  next attempt {next}\n");
    }
    if let Some(by) = &v.transformed_by {
        out += &format!("  made by      {by}\n");
    }
    if !d.attempts.is_empty() {
        let rows: Vec<Vec<String>> = d
            .attempts
            .iter()
            .map(|a| {
                vec![
                    a.n.to_string(),
                    a.at.clone(),
                    table::cell(a.status),
                    format!("{} ms", a.duration_ms),
                    table::clip(
                        a.error.as_deref().or(a.response.as_deref()).unwrap_or("-"),
                        70,
                    ),
                ]
            })
            .collect();
        out += "\n";
        out += &table::render(
            &["ATTEMPT", "AT", "STATUS", "DURATION", "ERROR / RESPONSE"],
            &rows,
        );
    }
    if let Some(request) = &d.request {
        out += &format!(
            "\nstored request: {} {}\n{}\n",
            request.method,
            request.url,
            serde_json::to_string_pretty(
                &json!({ "headers": request.headers, "body": request.body })
            )
            .unwrap_or_default()
        );
    }
    out
}

pub fn job_line(job: &JobView) -> String {
    format!(
        "job {} started ({} {}); follow it with: hookwasm jobs show {} --wait\n",
        job.id, job.kind, job.endpoint, job.id
    )
}

fn job_status(job: &JobView) -> String {
    format!(
        "job {} ({} {}): {}, {} examined, {} changed{}\n",
        job.id,
        job.kind,
        job.endpoint,
        job.state,
        job.examined,
        job.changed,
        job.error
            .as_deref()
            .map(|e| format!("; {e}"))
            .unwrap_or_default()
    )
}

fn more(cursor: &Option<String>) -> String {
    match cursor {
        Some(cursor) => format!("(more: --cursor {cursor})\n"),
        None => String::new(),
    }
}
