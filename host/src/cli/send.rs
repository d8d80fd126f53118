//! `hookwasm send`: signs a payload with a source's secret and posts it, as
//! Dodo's "send test event" would, so the whole path can be tried in one
//! line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use hookwasm::delivery::client::{HttpClient, tls_config};
use hookwasm::model::OutboundRequest;
use hookwasm::signature::{Secret, SourceKind};

use super::serve::{ConfigArg, load};
use super::usage;

#[derive(Args)]
pub struct SendArgs {
    /// The webhook body (sent byte for byte).
    event: PathBuf,
    /// The source whose secret signs it.
    #[arg(long, default_value = "dodo")]
    source: String,
    /// Where to post (default: this config's ingest address).
    #[arg(long)]
    to: Option<String>,
    /// Sign with this secret instead of the source's.
    #[arg(long, env = "HOOKWASM_SEND_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// The webhook id (default: a new unique one).
    #[arg(long)]
    id: Option<String>,
    /// The event type header for senders that put it in a header
    /// (GitHub's `X-GitHub-Event`, Shopify's `X-Shopify-Topic`).
    #[arg(long)]
    event_type: Option<String>,
    #[command(flatten)]
    config: ConfigArg,
}

pub async fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    let body = std::fs::read(&args.event)
        .map_err(|e| usage(format!("cannot read {}: {e}", args.event.display())))?;
    let (kind, secret, to) = match (&args.secret, &args.to) {
        (Some(secret), Some(to)) => {
            let kind = SourceKind::StandardWebhooks;
            let secret =
                Secret::parse(&kind, secret).map_err(|e| usage(format!("--secret: {e}")))?;
            (kind, secret, to.clone())
        }
        _ => {
            let config = load(&args.config.config)?;
            let (kind, secret) = match &args.secret {
                Some(s) => {
                    let kind = source_kind(&config, &args.source)?;
                    let secret =
                        Secret::parse(&kind, s).map_err(|e| usage(format!("--secret: {e}")))?;
                    (kind, secret)
                }
                None => (
                    source_kind(&config, &args.source)?,
                    signing_secret(&config, &args.source)?,
                ),
            };
            let to = args.to.clone().unwrap_or_else(|| {
                format!("http://{}/webhooks/{}", config.server.listen, args.source)
            });
            (kind, secret, to)
        }
    };
    let id = args
        .id
        .unwrap_or_else(|| format!("msg_{}", ulid::Ulid::new()));
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    for (name, value) in secret.signed_headers(&kind, &id, timestamp, &body).iter() {
        headers.push((
            name.as_str().to_string(),
            value.to_str().unwrap_or_default().to_string(),
        ));
    }
    let type_header = match kind {
        SourceKind::Github => Some("x-github-event"),
        SourceKind::Shopify => Some("x-shopify-topic"),
        _ => None,
    };
    if let (Some(name), Some(event_type)) = (type_header, &args.event_type) {
        headers.push((name.to_string(), event_type.clone()));
    }
    let request = OutboundRequest {
        method: "POST".into(),
        url: to.clone(),
        headers,
        body,
    };
    let client = HttpClient::new(tls_config(None).map_err(anyhow::Error::msg)?, true);
    let response = client
        .send(&request, &[], Duration::from_secs(30))
        .await
        .map_err(|e| anyhow::anyhow!("posting to {to}: {e}"))?;
    println!("HTTP {} {}", response.status, response.excerpt.trim());
    Ok(if (200..300).contains(&response.status) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// How the source's sender signs.
fn source_kind(config: &hookwasm::config::Config, source: &str) -> anyhow::Result<SourceKind> {
    config
        .sources
        .get(source)
        .map(|s| s.verifier.kind().clone())
        .ok_or_else(|| usage(format!("no source {source:?} in {}", config.path.display())))
}

/// The source's first secret, read again from the environment (the checked
/// config keeps only decoded keys).
fn signing_secret(config: &hookwasm::config::Config, source: &str) -> anyhow::Result<Secret> {
    let Some(src) = config.sources.get(source) else {
        let known: Vec<&str> = config.sources.keys().map(String::as_str).collect();
        return Err(usage(format!(
            "no source {source:?} in {} (configured: {})",
            config.path.display(),
            known.join(", ")
        )));
    };
    if let Some(why) = &src.disabled {
        return Err(usage(format!(
            "source {source:?} has no secret to sign with: {why}"
        )));
    }
    src.signing_secret().cloned().ok_or_else(|| {
        usage(format!(
            "source {source:?} has verify = false and no secret; pass --secret"
        ))
    })
}
