//! The admin API client: finds the server and its token, sends typed
//! requests, and turns every refusal into one clear line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::anyhow;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::AdminArgs;
use crate::cli::usage;
use hookwasm::config::AdminAccess;

pub struct Api {
    base: String,
    token: Option<String>,
    /// Where the address and token came from, for error messages.
    origin: String,
    pub json: bool,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Api {
    pub fn new(args: &AdminArgs) -> anyhow::Result<Api> {
        let config = match &args.config {
            Some(path) => Some((path.clone(), true)),
            None => {
                let here = PathBuf::from("hookwasm.toml");
                here.is_file().then_some((here, false))
            }
        };
        let access = match &config {
            Some((path, named)) => match AdminAccess::read(path) {
                Ok(access) => Some((path.clone(), access)),
                Err(e) if *named => return Err(usage(e.to_string())),
                Err(_) => None,
            },
            None => None,
        };
        let (base, origin) = match (&args.admin_url, &access) {
            (Some(url), _) => (url.clone(), "--admin-url / HOOKWASM_ADMIN_URL".to_string()),
            (None, Some((path, a))) => {
                let host = if a.listen.ip().is_unspecified() {
                    format!("127.0.0.1:{}", a.listen.port())
                } else {
                    a.listen.to_string()
                };
                (
                    format!("http://{host}"),
                    format!("[admin] listen in {}", path.display()),
                )
            }
            (None, None) => (
                "http://127.0.0.1:8081".to_string(),
                "the default".to_string(),
            ),
        };
        let base = base.trim_end_matches('/').to_string();
        if !base.starts_with("http://") {
            return Err(usage(format!(
                "--admin-url {base:?}: expected http://HOST:PORT (the admin API is plain HTTP; put TLS in front of it)"
            )));
        }
        let token = args.token.clone().filter(|t| !t.is_empty()).or_else(|| {
            let (_, a) = access.as_ref()?;
            a.token.clone().or_else(|| {
                std::fs::read_to_string(&a.token_file)
                    .ok()
                    .map(|t| t.trim().to_string())
            })
        });
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        Ok(Api {
            base,
            token,
            origin,
            json: args.json,
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.call(http::Method::GET, path, None).await
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: impl Serialize,
    ) -> anyhow::Result<T> {
        self.call(http::Method::POST, path, Some(serde_json::to_value(body)?))
            .await
    }

    pub async fn put<T: DeserializeOwned>(
        &self,
        path: &str,
        body: impl Serialize,
    ) -> anyhow::Result<T> {
        self.call(http::Method::PUT, path, Some(serde_json::to_value(body)?))
            .await
    }

    pub async fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        body: impl Serialize,
    ) -> anyhow::Result<T> {
        self.call(http::Method::PATCH, path, Some(serde_json::to_value(body)?))
            .await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<()> {
        let _: Value = self.call(http::Method::DELETE, path, None).await?;
        Ok(())
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<T> {
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
                    "cannot reach the admin API at {} (from {}): {} (is `hookwasm serve` running?)",
                    self.base,
                    self.origin,
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
        let error = || {
            serde_json::from_slice::<hookwasm::admin::api::ErrorBody>(&bytes)
                .map(|e| e.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).trim().to_string())
        };
        if status == http::StatusCode::UNAUTHORIZED {
            return Err(anyhow!(
                "the admin API at {} refused the token ({}): set HOOKWASM_ADMIN_TOKEN or --token, or name the server's config with --config",
                self.base,
                error()
            ));
        }
        if !status.is_success() {
            return Err(anyhow!("{}", error()));
        }
        let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(bytes).map_err(|e| {
            anyhow!(
                "the admin API at {} answered something unexpected: {e}",
                self.base
            )
        })
    }

    /// The answer as JSON with `--json`, else as `render` shows it.
    pub fn print<T: Serialize>(
        &self,
        answer: &T,
        render: impl FnOnce(&T) -> String,
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

/// A path segment, percent-encoded.
pub fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn with_query(path: &str, params: &[(&str, Option<String>)]) -> String {
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

/// A secret given as an environment variable's name (`--bearer-env`) or on
/// stdin (`-`): never on the command line itself.
pub fn secret_from(env_var: &str, flag: &str) -> anyhow::Result<String> {
    if env_var == "-" {
        let mut text = String::new();
        std::io::stdin().read_line(&mut text)?;
        let text = text.trim().to_string();
        if text.is_empty() {
            return Err(usage(format!("{flag} -: nothing was read from stdin")));
        }
        return Ok(text);
    }
    match std::env::var(env_var) {
        Ok(v) if !v.is_empty() => Ok(v),
        Ok(_) => Err(usage(format!(
            "{flag} {env_var}: the variable is set but empty"
        ))),
        Err(_) => Err(usage(format!(
            "{flag} {env_var}: the variable is not set (export {env_var}=… first, or pass - to read it from stdin)"
        ))),
    }
}
