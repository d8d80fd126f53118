//! OAuth 2.0 client credentials (RFC 6749 §4.4) for an endpoint's `auth`:
//! fetches a token from the token endpoint, caches it until shortly before
//! it expires, and hands out its `Authorization: Bearer` header. The token
//! and the client secret stay in the host: never in the sandbox, the stored
//! request or a log line.

use std::time::{Duration, Instant};

use base64::Engine as _;
use http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use serde_json::Value;
use tokio::sync::Mutex;

use super::client::{EXCERPT_BYTES, HttpClient, SendError};
use crate::model::{OAuth2, OutboundRequest};

/// A token without `expires_in` is used this long before a new one is
/// fetched.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// A token is replaced this long before it expires (or at 90 % of a short
/// lifetime), so a request never leaves with one about to lapse.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

pub struct TokenSource {
    config: OAuth2,
    client: HttpClient,
    cached: Mutex<Option<Token>>,
}

struct Token {
    header: HeaderValue,
    refresh_at: Instant,
}

impl TokenSource {
    pub fn new(config: OAuth2, client: HttpClient) -> TokenSource {
        TokenSource {
            config,
            client,
            cached: Mutex::new(None),
        }
    }

    /// The `Authorization` header: the cached token, or a new one. Callers
    /// waiting while one is fetched share it.
    pub async fn header(&self, timeout: Duration) -> Result<(HeaderName, HeaderValue), SendError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok((AUTHORIZATION, token.header.clone()));
        }
        let token = self.fetch(timeout).await?;
        let header = token.header.clone();
        *cached = Some(token);
        Ok((AUTHORIZATION, header))
    }

    /// Drops the cached token (the destination answered 401 with it).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn fetch(&self, timeout: Duration) -> Result<Token, SendError> {
        let c = &self.config;
        let form = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            if let Some(scope) = &c.scope {
                form.append_pair("scope", scope);
            }
            if let Some(audience) = &c.audience {
                form.append_pair("audience", audience);
            }
            form.finish()
        };
        // RFC 6749 §2.3.1: the client authenticates with HTTP Basic, its id
        // and secret form-urlencoded first.
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            encode(&c.client_id),
            encode(&c.client_secret)
        ));
        let mut authorization = HeaderValue::from_str(&format!("Basic {basic}")).map_err(|_| {
            SendError::Other("OAuth2: the client id or secret is not usable".into())
        })?;
        authorization.set_sensitive(true);
        let request = OutboundRequest {
            method: "POST".into(),
            url: c.token_url.clone(),
            headers: vec![
                (
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
                ("accept".into(), "application/json".into()),
            ],
            body: form.into_bytes(),
        };
        let started = Instant::now();
        let response = self
            .client
            .send(&request, &[(AUTHORIZATION, authorization)], timeout)
            .await
            .map_err(|e| SendError::Other(format!("OAuth2 token endpoint: {e}")))?;
        let json: Option<Value> = serde_json::from_str(&response.excerpt).ok();
        if !(200..300).contains(&response.status) {
            // Only the standard error fields: the body could echo anything.
            let error = json
                .as_ref()
                .map(|j| {
                    [j.get("error"), j.get("error_description")]
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(|s| s.chars().take(200).collect::<String>())
                        .collect::<Vec<_>>()
                        .join(": ")
                })
                .filter(|e| !e.is_empty())
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            return Err(SendError::Other(format!(
                "OAuth2 token endpoint answered {}{error}",
                response.status
            )));
        }
        let Some(json) = json else {
            return Err(SendError::Other(format!(
                "OAuth2 token endpoint: the answer is not a JSON object (or is over {EXCERPT_BYTES} bytes)"
            )));
        };
        let Some(token) = json.get("access_token").and_then(Value::as_str) else {
            return Err(SendError::Other(
                "OAuth2 token endpoint: the answer has no access_token".into(),
            ));
        };
        if let Some(kind) = json.get("token_type").and_then(Value::as_str)
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(SendError::Other(format!(
                "OAuth2 token endpoint: token_type {kind:?} is not supported (only Bearer)"
            )));
        }
        let mut header = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            SendError::Other("OAuth2 token endpoint: the access_token is not a header value".into())
        })?;
        header.set_sensitive(true);
        let lifetime = json
            .get("expires_in")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_LIFETIME);
        let early = REFRESH_MARGIN.min(lifetime / 10);
        Ok(Token {
            header,
            refresh_at: started + lifetime.saturating_sub(early),
        })
    }
}
