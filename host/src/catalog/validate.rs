//! One validation for sources and endpoints, whether they come from the
//! config file or the admin API: a [`SourceSpec`] or [`EndpointSpec`] in, a
//! checked `Source` or `Endpoint` out, or every problem as `(key, message)`
//! — the file prefixes the key with where it is (`endpoints[2].events`),
//! the API answers `events: …`, and the message is the same.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::spec::{AuthSpec, EndpointSpec, RetrySpec, SourceSpec};
use crate::config::{ExpandError, expand_tracking};
use crate::model::{
    Auth, ClientTls, Endpoint, EventTypes, JS_ENGINE, Limits, OAuth2, Ordering, PluginInfo,
    RetryPolicy, Source, Transformation,
};
use crate::signature::{Secret, SourceKind, Verifier};

/// What a spec is checked against.
pub struct Context<'a> {
    /// `${VAR}` lookup for the config file; `None` for the API, whose values
    /// are taken as written.
    pub env: Option<&'a EnvLookup<'a>>,
    /// Where relative `script` paths start (the config file's directory).
    pub base_dir: &'a Path,
    /// The ids of the sources endpoints may name.
    pub sources: Vec<String>,
    /// The plugins an endpoint may run, described without compiling them.
    pub plugins: &'a [PluginInfo],
    /// `[server] allow_private_destinations`, an endpoint's default.
    pub allow_private_destinations: bool,
    /// `[runtime] max_memory_mb`, the ceiling for an endpoint's.
    pub max_memory_bytes: usize,
    /// Builds an endpoint's TLS client config (delivery's), so a bad
    /// certificate or key is a validation problem; `None`: not checked.
    pub check_tls: Option<TlsCheck>,
}

/// `${VAR}` lookup: the value of a variable, if set.
pub type EnvLookup<'a> = dyn Fn(&str) -> Option<String> + 'a;
/// Builds an endpoint's TLS client config, or says why it cannot.
pub type TlsCheck = fn(&ClientTls) -> Result<(), String>;

/// Everything wrong with one spec, and what deserves attention.
#[derive(Debug, Default)]
pub struct Report {
    /// (key within the spec, message)
    pub problems: Vec<(String, String)>,
    pub warnings: Vec<String>,
}

impl Report {
    pub fn problem(&mut self, key: &str, message: impl std::fmt::Display) {
        self.problems.push((key.to_string(), message.to_string()));
    }

    /// The problems as one line each: `key: message`.
    pub fn lines(&self) -> Vec<String> {
        self.problems
            .iter()
            .map(|(key, message)| format!("{key}: {message}"))
            .collect()
    }
}

/// Letters, digits, `-` and `_`, 1–64: source and endpoint ids.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// Expands `text` where the context has an environment; an unset variable
/// is returned as `Err(Unset)`.
fn expand(
    cx: &Context<'_>,
    text: &str,
    found: &mut Vec<(String, String)>,
) -> Result<String, ExpandError> {
    match cx.env {
        Some(env) => expand_tracking(text, env, found),
        None => Ok(text.to_string()),
    }
}

pub fn source(
    id: &str,
    spec: &SourceSpec,
    cx: &Context<'_>,
    report: &mut Report,
) -> Option<Source> {
    let before = report.problems.len();
    if !valid_id(id) {
        report.problem(
            "",
            "a source name may only use letters, digits, '-' and '_'",
        );
    }
    let kind = spec.kind.clone().unwrap_or_default();
    let mut secrets = Vec::new();
    let mut unset = Vec::new();
    for (i, text) in spec.secrets.iter().enumerate() {
        match expand(cx, text, &mut Vec::new()) {
            Ok(value) => match Secret::parse(&kind, &value) {
                Ok(secret) => secrets.push(secret),
                Err(e) => report.problem(&format!("secrets[{i}]"), e),
            },
            Err(ExpandError::Unset(var)) => unset.push(var),
            Err(e) => report.problem(&format!("secrets[{i}]"), e),
        }
    }
    let verify = spec.verify.unwrap_or(true);
    let disabled = if verify && secrets.is_empty() {
        Some(if unset.is_empty() {
            "it has no secrets (add `secrets = [\"${YOUR_SECRET_VAR}\"]`)".to_string()
        } else {
            unset_reason(cx, &unset)
        })
    } else {
        None
    };
    let tolerance = Duration::from_secs(spec.tolerance_secs.unwrap_or(300));
    if let Some(rate) = spec.rate_limit_per_sec
        && !(rate > 0.0 && rate.is_finite())
    {
        report.problem("rate_limit_per_sec", "must be a positive number");
    }
    if let Some(why) = &disabled {
        report
            .warnings
            .push(format!("source {id:?} is not accepting webhooks: {why}"));
    } else if !verify {
        report.warnings.push(format!(
            "source {id:?} has verify = false: it accepts UNSIGNED webhooks from anyone who can reach it"
        ));
    }
    if report.problems.len() > before {
        return None;
    }
    Some(Source {
        name: id.to_string(),
        verifier: Verifier::new(kind, secrets, tolerance),
        verify,
        disabled,
        rate_limit_per_sec: spec.rate_limit_per_sec,
    })
}

pub fn endpoint(spec: &EndpointSpec, cx: &Context<'_>, report: &mut Report) -> Option<Endpoint> {
    let before = report.problems.len();
    let id = spec.id.clone().unwrap_or_default();
    if !valid_id(&id) {
        report.problem(
            "id",
            format!("{id:?}: use letters, digits, '-' and '_' (1–64)"),
        );
    }
    if !cx.sources.contains(&spec.source) {
        let known: Vec<&str> = cx.sources.iter().map(String::as_str).collect();
        report.problem(
            "source",
            format!(
                "no source named {:?} (configured: {})",
                spec.source,
                list_or_none(&known)
            ),
        );
    }
    let plugin_name = match (&spec.plugin, &spec.transformation) {
        (Some(p), _) => p.clone(),
        (None, Some(_)) => JS_ENGINE.to_string(),
        (None, None) => {
            report.problem(
                "plugin",
                "name the plugin (e.g. \"loops\"), or give a JavaScript transformation",
            );
            String::new()
        }
    };
    let plugin = cx.plugins.iter().find(|p| p.name == plugin_name);
    if plugin.is_none() && !plugin_name.is_empty() {
        let known: Vec<&str> = cx.plugins.iter().map(|p| p.name.as_str()).collect();
        report.problem(
            "plugin",
            format!(
                "unknown plugin {plugin_name:?} (available: {})",
                list_or_none(&known)
            ),
        );
    }
    let events = EventTypes::parse(&spec.events).unwrap_or_else(|e| {
        report.problem("events", e);
        EventTypes(Vec::new())
    });

    // Values that may hold secrets: an unset variable disables the endpoint
    // (so the example config starts anywhere) instead of failing.
    let mut unset: Vec<String> = Vec::new();
    let mut from_env: Vec<(String, String)> = Vec::new();
    let mut soft = |report: &mut Report, field: &str, text: &str| -> Option<String> {
        match expand(cx, text, &mut from_env) {
            Ok(v) => Some(v),
            Err(ExpandError::Unset(var)) => {
                unset.push(var);
                None
            }
            Err(e) => {
                report.problem(field, e);
                None
            }
        }
    };
    let url = spec.url.as_deref().and_then(|u| soft(report, "url", u));
    if let Some(u) = &url {
        match url::Url::parse(u) {
            Ok(parsed)
                if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() =>
            {
                let allowed = spec
                    .allow_private_destinations
                    .unwrap_or(cx.allow_private_destinations);
                if !allowed && let Some(host) = private_host(&parsed) {
                    report.warnings.push(format!(
                        "endpoint {id:?}: {host} is a private address, which deliveries refuse (every attempt would be a dead letter); set allow_private_destinations = true on the endpoint (or in [server]) for a destination on your own network"
                    ));
                }
            }
            _ => report.problem("url", format!("{u:?} is not an absolute http(s) URL")),
        }
    }
    let default_url = plugin.and_then(|p| p.default_url.clone());
    if spec.url.is_none() && default_url.is_none() && plugin.is_some() {
        report.problem(
            "url",
            format!(
                "plugin {plugin_name:?} has no default destination, so the endpoint needs a url"
            ),
        );
    }
    let auth = match &spec.auth {
        None => None,
        Some(AuthSpec::Bearer(token)) => soft(report, "auth.bearer", token).map(Auth::Bearer),
        Some(AuthSpec::Basic { username, password }) => match (
            soft(report, "auth.basic.username", username),
            soft(report, "auth.basic.password", password),
        ) {
            (Some(username), Some(password)) => Some(Auth::Basic { username, password }),
            _ => None,
        },
        Some(AuthSpec::Header { name, value }) => {
            let parsed = http::HeaderName::from_bytes(name.as_bytes());
            match (parsed, soft(report, "auth.header.value", value)) {
                (Err(_), _) => {
                    report.problem("auth.header.name", format!("{name:?} is not a header name"));
                    None
                }
                (Ok(name), Some(value)) => Some(Auth::Header { name, value }),
                (Ok(_), None) => None,
            }
        }
        Some(AuthSpec::Oauth2 {
            token_url,
            client_id,
            client_secret,
            scope,
            audience,
        }) => {
            let token_url = soft(report, "auth.oauth2.token_url", token_url);
            let client_id = soft(report, "auth.oauth2.client_id", client_id);
            let client_secret = soft(report, "auth.oauth2.client_secret", client_secret);
            let private = spec
                .allow_private_destinations
                .unwrap_or(cx.allow_private_destinations);
            if let Some(u) = &token_url {
                match url::Url::parse(u) {
                    // The client secret travels in it: TLS, except to a
                    // token endpoint on the operator's own network.
                    Ok(parsed) if parsed.scheme() == "https" || (parsed.scheme() == "http" && private) => {}
                    Ok(parsed) if parsed.scheme() == "http" => report.problem(
                        "auth.oauth2.token_url",
                        "must be https (the client secret is sent to it); http only with allow_private_destinations",
                    ),
                    _ => report.problem(
                        "auth.oauth2.token_url",
                        format!("{u:?} is not an absolute https URL"),
                    ),
                }
            }
            match (token_url, client_id, client_secret) {
                (Some(token_url), Some(client_id), Some(client_secret)) => {
                    Some(Auth::OAuth2(OAuth2 {
                        token_url,
                        client_id,
                        client_secret,
                        scope: scope.clone(),
                        audience: audience.clone(),
                    }))
                }
                _ => None,
            }
        }
    };
    if let Some(auth) = &auth {
        let text = match auth {
            Auth::Bearer(t) => t.clone(),
            Auth::Basic { username, password } => format!("{username}{password}"),
            Auth::Header { value, .. } => value.clone(),
            Auth::OAuth2(o) => format!("{}{}", o.client_id, o.client_secret),
        };
        if http::HeaderValue::from_str(&text).is_err() || text.is_empty() {
            report.problem("auth", "the credential is empty or has control characters");
        }
    }
    let tls = spec.tls.as_ref().map(|t| {
        let mut pem =
            |report: &mut Report, field: &str, value: &Option<String>| -> Option<String> {
                let text = soft(report, field, value.as_deref()?)?;
                if text.contains("-----BEGIN") {
                    return Some(text);
                }
                let path = resolve(cx.base_dir, &text);
                match std::fs::read_to_string(&path) {
                    Ok(pem) => Some(pem),
                    Err(e) => {
                        report.problem(field, format!("{}: {e}", path.display()));
                        None
                    }
                }
            };
        let client = ClientTls {
            cert_pem: pem(report, "tls.client_cert", &t.client_cert),
            key_pem: pem(report, "tls.client_key", &t.client_key),
            ca_pem: pem(report, "tls.ca", &t.ca),
        };
        // Where a value is missing (an unset variable disables the
        // endpoint; a bad path is reported above) there is nothing to check.
        let read_all = t.client_cert.is_some() == client.cert_pem.is_some()
            && t.client_key.is_some() == client.key_pem.is_some()
            && t.ca.is_some() == client.ca_pem.is_some();
        if read_all
            && let Some(check) = cx.check_tls
            && let Err(e) = check(&client)
        {
            report.problem("tls", e);
        }
        client
    });
    let mut signing_secrets = Vec::new();
    let signing = spec
        .signing_secret
        .iter()
        .map(|t| ("signing_secret".to_string(), t))
        .chain(
            spec.previous_signing_secrets
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("previous_signing_secrets[{i}]"), t)),
        );
    for (field, text) in signing {
        if let Some(value) = soft(report, &field, text) {
            match Secret::parse(&SourceKind::StandardWebhooks, &value) {
                Ok(secret) => signing_secrets.push(secret),
                Err(e) => report.problem(&field, format!("{e} (expected whsec_ and base64)")),
            }
        }
    }
    if spec.signing_secret.is_none() && !spec.previous_signing_secrets.is_empty() {
        report.problem(
            "previous_signing_secrets",
            "only with a signing_secret (the current one)",
        );
    }
    if plugin_name == "webhook" && spec.signing_secret.is_none() {
        report.problem(
            "signing_secret",
            "the webhook plugin signs every request: give it signing_secret = \"whsec_…\" (the API generates one when it is left out)",
        );
    }
    let mut settings = Vec::new();
    for (name, value) in &spec.settings {
        if let Some(v) = soft(report, &format!("settings.{name}"), &value.text()) {
            settings.push((name.clone(), v));
        }
    }

    let defaults = Limits::default();
    let limits = Limits {
        fuel: spec.limits.fuel.unwrap_or(defaults.fuel),
        memory_bytes: spec
            .limits
            .memory_mb
            .map(|mb| mb << 20)
            .unwrap_or(defaults.memory_bytes),
        timeout: spec
            .limits
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(defaults.timeout),
    };
    if limits.fuel == 0 || limits.memory_bytes == 0 || limits.timeout.is_zero() {
        report.problem(
            "limits",
            "fuel, memory_mb and timeout_ms must be at least 1",
        );
    }
    if limits.memory_bytes > cx.max_memory_bytes {
        report.problem(
            "limits.memory_mb",
            format!(
                "{} MiB is above runtime.max_memory_mb ({} MiB)",
                limits.memory_bytes >> 20,
                cx.max_memory_bytes >> 20
            ),
        );
    }
    let retry = retry(&spec.retry, report);
    // Bounded so that the schedule's times stay exact integers of
    // milliseconds (one request per 1000 s at the slowest).
    if let Some(rate) = spec.rate_limit_per_sec
        && !(0.001..=1_000_000.0).contains(&rate)
    {
        report.problem(
            "rate_limit_per_sec",
            "must be a number between 0.001 and 1000000",
        );
    }
    let concurrency = spec.concurrency.unwrap_or(8);
    if concurrency == 0 || concurrency > 1024 {
        report.problem("concurrency", "must be between 1 and 1024");
    }
    let timeout = Duration::from_secs(spec.timeout_secs.unwrap_or(15));
    if timeout.is_zero() || timeout > Duration::from_secs(300) {
        report.problem("timeout_secs", "must be between 1 and 300");
    }
    let transformation = transformation(spec, &plugin_name, cx, report);
    let ordering = match (spec.ordering.as_deref(), &spec.ordering_key) {
        (None | Some("none"), None) => Ordering::Unordered,
        (None | Some("none"), Some(_)) => {
            report.problem("ordering_key", "needs ordering = \"fifo\"");
            Ordering::Unordered
        }
        (Some("fifo"), key) => {
            if let Some(k) = key
                && !k.starts_with('/')
            {
                report.problem(
                    "ordering_key",
                    format!("{k:?} is not a JSON pointer; it starts with /, e.g. \"/data/customer/customer_id\""),
                );
            }
            Ordering::Fifo { key: key.clone() }
        }
        (Some(other), _) => {
            report.problem(
                "ordering",
                format!("{other:?} is not an ordering (\"fifo\" or \"none\")"),
            );
            Ordering::Unordered
        }
    };

    let disabled = if spec.enabled == Some(false) {
        Some("enabled = false in the config".to_string())
    } else if !unset.is_empty() {
        unset.dedup();
        Some(unset_reason(cx, &unset))
    } else {
        None
    };
    if let Some(why) = &disabled {
        report
            .warnings
            .push(format!("endpoint {id:?} is disabled: {why}"));
    }
    if report.problems.len() > before {
        return None;
    }
    Some(Endpoint {
        id,
        source: spec.source.clone(),
        plugin: plugin_name,
        events,
        url,
        default_url,
        auth,
        settings,
        limits,
        retry,
        rate_limit_per_sec: spec.rate_limit_per_sec,
        concurrency,
        timeout,
        allow_private_destinations: spec
            .allow_private_destinations
            .unwrap_or(cx.allow_private_destinations),
        transformation,
        signing_secrets,
        tls,
        ordering,
        disabled,
        from_env: from_env
            .into_iter()
            .filter(|(value, _)| value.len() >= 4)
            .collect(),
    })
}

/// The endpoint's JavaScript: an inline `transformation` (API) or a
/// `script` file (config), read now so that a change is a new version the
/// catalog can check before it replaces the working one.
fn transformation(
    spec: &EndpointSpec,
    plugin: &str,
    cx: &Context<'_>,
    report: &mut Report,
) -> Option<Arc<Transformation>> {
    match (&spec.script, &spec.transformation, plugin) {
        (Some(_), Some(_), _) => {
            report.problem(
                "script",
                "give a script file or an inline transformation, not both",
            );
            None
        }
        (Some(_), None, p) | (None, Some(_), p) if p != JS_ENGINE => {
            let key = if spec.script.is_some() {
                "script"
            } else {
                "transformation"
            };
            report.problem(
                key,
                format!("a JavaScript transformation runs on plugin = \"js\", not {p:?}"),
            );
            None
        }
        (None, None, JS_ENGINE) => {
            report.problem(
                "script",
                "plugin = \"js\" needs the handler file: script = \"transforms/handler.js\"",
            );
            None
        }
        (Some(script), None, _) => {
            let path = resolve(cx.base_dir, script);
            match std::fs::read_to_string(&path) {
                Ok(code) => Some(Arc::new(Transformation::new(
                    path.display().to_string(),
                    code,
                    Some(path),
                ))),
                Err(_) => {
                    report.problem(
                        "script",
                        format!("{} is not a readable file", path.display()),
                    );
                    None
                }
            }
        }
        (None, Some(t), _) => {
            if t.code.trim().is_empty() {
                report.problem("transformation.code", "is empty");
                return None;
            }
            let name = format!("{}.js", spec.id.as_deref().unwrap_or("transformation"));
            Some(Arc::new(Transformation::new(name, t.code.clone(), None)))
        }
        (None, None, _) => None,
    }
}

/// "X is not set", or "X is empty" for a variable set to "" (which counts as
/// unset, as `${X:-default}` does in a shell).
fn unset_reason(cx: &Context<'_>, vars: &[String]) -> String {
    let (empty, unset): (Vec<&String>, Vec<&String>) = vars
        .iter()
        .partition(|v| cx.env.and_then(|env| env(v)).is_some_and(|x| x.is_empty()));
    let join = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    match (unset.is_empty(), empty.is_empty()) {
        (false, true) => format!("{} is not set", join(&unset)),
        (true, false) => format!("{} is set but empty", join(&empty)),
        _ => format!(
            "{} is not set; {} is set but empty",
            join(&unset),
            join(&empty)
        ),
    }
}

/// The URL's host if the SSRF guard refuses it without a lookup: a private,
/// loopback or link-local IP literal, or `localhost`.
fn private_host(url: &url::Url) -> Option<String> {
    match url.host()? {
        url::Host::Ipv4(ip) => crate::model::is_private(ip.into()).then(|| ip.to_string()),
        url::Host::Ipv6(ip) => crate::model::is_private(ip.into()).then(|| ip.to_string()),
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            (d == "localhost" || d.ends_with(".localhost")).then_some(d)
        }
    }
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn retry(spec: &RetrySpec, report: &mut Report) -> RetryPolicy {
    let mut policy = RetryPolicy::default();
    if let Some(schedule) = &spec.schedule_secs {
        if schedule.len() > 100 {
            report.problem("retry.schedule_secs", "at most 100 retries");
        }
        if schedule
            .iter()
            .any(|s| !(s.is_finite() && *s >= 0.0 && *s <= 30.0 * 86400.0))
        {
            report.problem(
                "retry.schedule_secs",
                "each delay must be between 0 and 2592000 seconds (30 days)",
            );
        } else {
            policy.schedule = schedule
                .iter()
                .copied()
                .map(Duration::from_secs_f64)
                .collect();
        }
    }
    if let Some(statuses) = &spec.delivered_statuses {
        if statuses.iter().any(|s| !(100..=599).contains(s)) {
            report.problem("retry.delivered_statuses", "statuses are 100–599");
        }
        policy.delivered_statuses = statuses.clone();
    }
    if let Some(jitter) = spec.jitter {
        if !(0.0..=1.0).contains(&jitter) {
            report.problem("retry.jitter", "must be between 0 and 1");
        }
        policy.jitter = jitter;
    }
    if let Some(max) = spec.max_retry_after_secs {
        policy.max_retry_after = Duration::from_secs(max);
    }
    policy
}
