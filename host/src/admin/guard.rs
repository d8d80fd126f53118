//! Who may use the admin API: every request but `GET /healthz`, the
//! dashboard's own files and its sign-in carries the bearer token or a
//! dashboard session's cookie (`session`), and a cookie's change also its
//! session's CSRF token (a cookie is sent by the browser on its own; the
//! token only by the dashboard's script); its `Host` is the listener's own
//! address or a configured name (a page on another origin that rebinds its
//! DNS name to 127.0.0.1 sends its own name, and is refused); every change
//! is `Content-Type: application/json` (a cross-origin page can only send
//! `text/plain` and forms without a preflight); failed attempts are logged
//! and rate-limited.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http::{HeaderValue, Method, StatusCode, header};
use subtle::ConstantTimeEq;

use super::session::{self, Sessions};
use super::{Admin, ApiError};

/// The file a generated admin token is kept in, in the data directory.
pub const TOKEN_FILE: &str = "admin.token";

/// Where the token came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    Config,
    /// Generated at first start and kept in this file.
    File(PathBuf),
}

#[derive(Clone)]
pub struct AdminToken {
    pub token: String,
    pub source: TokenSource,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminToken")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl AdminToken {
    /// The configured token, or the one kept in the data directory
    /// (generated now, owner-only, on the first start). `Ok((token, true))`
    /// when it was just generated.
    pub fn resolve(
        configured: Option<&str>,
        data_dir: &Path,
    ) -> Result<(AdminToken, bool), String> {
        if let Some(token) = configured {
            return Ok((
                AdminToken {
                    token: token.to_string(),
                    source: TokenSource::Config,
                },
                false,
            ));
        }
        let path = data_dir.join(TOKEN_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) if text.trim().len() >= 16 => Ok((
                AdminToken {
                    token: text.trim().to_string(),
                    source: TokenSource::File(path),
                },
                false,
            )),
            Ok(_) => Err(format!(
                "{} holds no usable token (16+ characters); delete it to generate one",
                path.display()
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let token = format!(
                    "hwa_{}{}",
                    ulid::Ulid::new().to_string().to_lowercase(),
                    ulid::Ulid::new().to_string().to_lowercase()
                );
                crate::catalog::seal::write_private(&path, token.as_bytes())
                    .map_err(|e| format!("writing {}: {e}", path.display()))?;
                Ok((
                    AdminToken {
                        token,
                        source: TokenSource::File(path),
                    },
                    true,
                ))
            }
            Err(e) => Err(format!("reading {}: {e}", path.display())),
        }
    }
}

pub struct Guard {
    token: String,
    /// `Host` values accepted, lower-case.
    hosts: Vec<String>,
    /// Accept any IP literal with the listener's port (a listener on all
    /// interfaces answers to each of the machine's addresses).
    any_ip_on: Option<u16>,
    failures: DefaultDirectRateLimiter,
    /// The dashboard's signed-in browsers.
    pub sessions: Sessions,
}

impl Guard {
    pub fn new(
        token: &AdminToken,
        listen: SocketAddr,
        names: &[String],
        session_ttl: std::time::Duration,
    ) -> Guard {
        let port = listen.port();
        let mut hosts = vec![host_of(listen)];
        if listen.ip().is_loopback() || listen.ip().is_unspecified() {
            hosts.push(format!("localhost:{port}"));
            hosts.push(format!("127.0.0.1:{port}"));
            hosts.push(format!("[::1]:{port}"));
        }
        for name in names {
            let name = name.to_ascii_lowercase();
            if name.contains(':') && !name.starts_with('[') {
                hosts.push(name);
            } else {
                hosts.push(format!("{name}:{port}"));
                hosts.push(name);
            }
        }
        let quota = Quota::per_second(NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN));
        Guard {
            token: token.token.clone(),
            hosts,
            any_ip_on: listen.ip().is_unspecified().then_some(port),
            failures: RateLimiter::direct(quota),
            sessions: Sessions::new(session_ttl),
        }
    }

    /// Counts a failed attempt (a wrong token, here or at sign-in): `true`
    /// when there have been too many lately.
    pub fn failed(&self) -> bool {
        self.failures.check().is_err()
    }

    /// Whether `given` is the admin token (in constant time).
    pub fn is_token(&self, given: &str) -> bool {
        bool::from(given.as_bytes().ct_eq(self.token.as_bytes()))
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        if self.hosts.contains(&host) {
            return true;
        }
        match self.any_ip_on {
            Some(port) => host
                .parse::<SocketAddr>()
                .is_ok_and(|addr| addr.port() == port),
            None => false,
        }
    }

    fn token_matches(&self, headers: &http::HeaderMap) -> bool {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        self.is_token(given)
    }
}

fn host_of(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

pub async fn check(State(admin): State<Arc<Admin>>, request: Request, next: Next) -> Response {
    let guard = &admin.guard;
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    if !host.is_some_and(|h| guard.host_allowed(h)) {
        tracing::warn!(host = host.unwrap_or("-"), path = %request.uri().path(), "admin request refused: unexpected Host");
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "this Host is not the admin listener's address; add the name to [admin] hosts to allow it",
        )
        .into_response();
    }
    let path = request.uri().path();
    let reads = matches!(*request.method(), Method::GET | Method::HEAD);
    let open = (reads && (path == "/healthz" || super::dashboard::is_page(path)))
        // Signing in checks the token in its body itself.
        || (request.method() == Method::POST && path == super::routes::session::PATH);
    if !open && !guard.token_matches(request.headers()) {
        match guard.sessions.of(request.headers()) {
            Some(active) => {
                // The browser sends the cookie with any request to this
                // origin; only the dashboard's script knows the CSRF token.
                if !reads && !session::csrf_matches(&active, request.headers()) {
                    tracing::warn!(path = %path, "admin request refused: session cookie without its CSRF token");
                    return ApiError::new(
                        StatusCode::FORBIDDEN,
                        "missing or wrong X-CSRF-Token for this session",
                    )
                    .into_response();
                }
            }
            None => {
                let limited = guard.failed();
                tracing::warn!(path = %path, limited, "admin request refused: missing or wrong bearer token");
                let mut response = if limited {
                    ApiError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "too many failed attempts; wait a moment",
                    )
                    .into_response()
                } else if session::has_cookie(request.headers()) {
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "the dashboard session expired or ended: sign in again",
                    )
                    .into_response()
                } else {
                    ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token")
                        .into_response()
                };
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return response;
            }
        }
    }
    let changes = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH
    );
    if changes && !is_json(request.headers()) {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send Content-Type: application/json",
        )
        .into_response();
    }
    next.run(request).await
}

fn is_json(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            let t = t.trim().to_ascii_lowercase();
            t == "application/json" || t == "application/merge-patch+json"
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(listen: &str, names: &[&str]) -> Guard {
        let token = AdminToken {
            token: "t".repeat(20),
            source: TokenSource::Config,
        };
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        Guard::new(
            &token,
            listen.parse().unwrap(),
            &names,
            std::time::Duration::from_secs(60),
        )
    }

    #[test]
    fn only_the_listeners_own_address_and_configured_names_are_hosts() {
        let g = guard("127.0.0.1:8081", &["admin.example.com"]);
        for ok in [
            "127.0.0.1:8081",
            "localhost:8081",
            "LOCALHOST:8081",
            "admin.example.com",
            "admin.example.com:8081",
            "[::1]:8081",
        ] {
            assert!(g.host_allowed(ok), "{ok}");
        }
        for refused in [
            "evil.example:8081",
            "127.0.0.1:9999",
            "attacker.test",
            "127.0.0.2:8081",
            "",
        ] {
            assert!(!g.host_allowed(refused), "{refused}");
        }
        let all = guard("0.0.0.0:8081", &[]);
        assert!(all.host_allowed("10.1.2.3:8081"));
        assert!(!all.host_allowed("rebound.example:8081"));
    }

    #[test]
    fn a_token_is_generated_once_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = AdminToken::resolve(None, dir.path()).unwrap();
        assert!(created && first.token.len() >= 32);
        let (again, created) = AdminToken::resolve(None, dir.path()).unwrap();
        assert!(!created);
        assert_eq!(first.token, again.token);
        let (configured, _) =
            AdminToken::resolve(Some("configured-token-123"), dir.path()).unwrap();
        assert_eq!(configured.source, TokenSource::Config);
    }

    #[test]
    fn json_content_types() {
        let mut h = http::HeaderMap::new();
        assert!(!is_json(&h));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(!is_json(&h));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(is_json(&h));
    }
}
