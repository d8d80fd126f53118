//! Sends one stored request: hyper with rustls (webpki roots plus an
//! optional extra CA), HTTP/1.1 and HTTP/2, pooled connections, no
//! redirects followed, the endpoint's timeout, and the host's own headers
//! (auth, user-agent) added last so a plugin can neither see nor forge them.
//!
//! The SSRF guard lives here too: unless allowed, a destination that is (or
//! resolves to) a loopback, private, link-local, multicast or unspecified
//! address is refused, checked on the addresses actually connected to, so
//! DNS rebinding cannot slip past a check made on the URL alone.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, USER_AGENT};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;

use crate::model::{ClientTls, OutboundRequest};

/// How much of a response body is kept with the attempt.
pub const EXCERPT_BYTES: usize = 4096;
/// How much of a response body is read at most (the rest is dropped with
/// the connection).
const READ_CAP: usize = 64 << 10;

pub const USER_AGENT_VALUE: &str = concat!("hookwasm/", env!("CARGO_PKG_VERSION"));

/// What came back.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    /// `Retry-After`, as sent.
    pub retry_after: Option<String>,
    /// The first headers, bounded (`headers_excerpt`).
    pub headers: Vec<(String, String)>,
    /// The first bytes of the body, lossily decoded.
    pub excerpt: String,
    pub duration: Duration,
}

/// Why nothing (usable) came back.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("timed out after {} s", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("refused by the SSRF guard: {0}")]
    Blocked(String),
    #[error("request failed: {0}")]
    Other(String),
}

#[derive(Clone)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>,
    allow_private: bool,
}

/// A client's TLS trust: webpki's roots, plus the PEM certificates in
/// `extra_ca` for self-hosted destinations with a private CA.
pub fn tls_config(extra_ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    Ok(Arc::new(builder(roots(extra_ca)?)?.with_no_client_auth()))
}

/// The host's TLS settings, and an endpoint's own on top (its client
/// certificate and CA: mutual TLS).
#[derive(Clone)]
pub struct Tls {
    base: Arc<rustls::ClientConfig>,
    extra_ca: Option<std::path::PathBuf>,
}

impl Tls {
    pub fn new(extra_ca: Option<&Path>) -> Result<Tls, String> {
        Ok(Tls {
            base: tls_config(extra_ca)?,
            extra_ca: extra_ca.map(Path::to_path_buf),
        })
    }

    /// The shared client config (no client certificate).
    pub fn base(&self) -> Arc<rustls::ClientConfig> {
        self.base.clone()
    }

    /// The client config for an endpoint: the shared one, or one with its
    /// certificate and CA.
    pub fn for_endpoint(
        &self,
        client: Option<&ClientTls>,
    ) -> Result<Arc<rustls::ClientConfig>, String> {
        match client {
            None => Ok(self.base.clone()),
            Some(client) => client_tls_config(self.extra_ca.as_deref(), client),
        }
    }
}

/// A client config with `client`'s certificate and CA: also what the
/// config check runs, so a bad PEM or a key that does not fit its
/// certificate is a config error, not a failed delivery.
pub fn client_tls_config(
    extra_ca: Option<&Path>,
    client: &ClientTls,
) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    let mut roots = roots(extra_ca)?;
    if let Some(ca) = &client.ca_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
            let cert = cert.map_err(|e| format!("tls.ca: {e}"))?;
            roots.add(cert).map_err(|e| format!("tls.ca: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err("tls.ca: no PEM certificate in it".into());
        }
    }
    let builder = builder(roots)?;
    let config = match (&client.cert_pem, &client.key_pem) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("tls.client_cert: {e}"))?;
            if chain.is_empty() {
                return Err("tls.client_cert: no PEM certificate in it".into());
            }
            // The key's own error could quote it: say only what is wrong.
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|_| {
                "tls.client_key: no PEM private key (PKCS#8, PKCS#1 or SEC1) in it".to_string()
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                format!("tls: the client certificate and key do not work together: {e}")
            })?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err("tls: client_cert and client_key go together".into()),
    };
    Ok(Arc::new(config))
}

/// [`client_tls_config`] as validation runs it (`validate::Context`).
pub fn check_client_tls(client: &ClientTls) -> Result<(), String> {
    client_tls_config(None, client).map(|_| ())
}

fn builder(
    roots: rustls::RootCertStore,
) -> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots))
}

fn roots(extra_ca: Option<&Path>) -> Result<rustls::RootCertStore, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("reading CA file {}: {e}", path.display()))?;
        let mut added = 0;
        for cert in certs {
            let cert = cert.map_err(|e| format!("CA file {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("CA file {}: {e}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!(
                "CA file {} holds no PEM certificates",
                path.display()
            ));
        }
    }
    Ok(roots)
}

impl HttpClient {
    pub fn new(tls: Arc<rustls::ClientConfig>, allow_private: bool) -> HttpClient {
        let mut http = HttpConnector::new_with_resolver(GuardedResolver { allow_private });
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .build(https);
        HttpClient {
            client,
            allow_private,
        }
    }

    /// Sends `request` with `extra` headers (replacing any the plugin set
    /// under the same names) within `timeout`.
    pub async fn send(
        &self,
        request: &OutboundRequest,
        extra: &[(HeaderName, HeaderValue)],
        timeout: Duration,
    ) -> Result<Response, SendError> {
        let started = Instant::now();
        let uri: http::Uri = request
            .url
            .parse()
            .map_err(|e| SendError::Other(format!("invalid URL: {e}")))?;
        // IP literals never reach the resolver.
        if !self.allow_private
            && let Some(host) = uri.host()
            && let Ok(ip) = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            && is_private(ip)
        {
            return Err(SendError::Blocked(format!(
                "{ip} is a private address (set allow_private_destinations = true to allow it)"
            )));
        }

        let mut builder = http::Request::builder()
            .method(request.method.as_str())
            .uri(uri);
        if let Some(headers) = builder.headers_mut() {
            for (name, value) in &request.headers {
                let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(value),
                ) else {
                    continue; // validated when stored
                };
                headers.append(name, value);
            }
            for (name, value) in extra {
                headers.insert(name.clone(), value.clone());
            }
            headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        }
        let http_request = builder
            .body(Full::new(Bytes::from(request.body.clone())))
            .map_err(|e| SendError::Other(e.to_string()))?;

        let exchange = async {
            let response = self.client.request(http_request).await.map_err(classify)?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let headers = headers_excerpt(response.headers());
            let excerpt = read_excerpt(response.into_body()).await;
            Ok::<_, SendError>((status, retry_after, headers, excerpt))
        };
        let (status, retry_after, headers, excerpt) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| SendError::Timeout(timeout))??;
        Ok(Response {
            status,
            retry_after,
            headers,
            excerpt,
            duration: started.elapsed(),
        })
    }
}

/// How many of a response's headers an attempt keeps, and how many bytes of
/// them: enough to see a rate limit's or a request id's, never a flood.
const HEADERS_KEPT: usize = 24;
const HEADER_BYTES_KEPT: usize = 2048;

/// The response's first headers (lower-case names), values cut to 256
/// characters; `set-cookie` is left out (it may be a credential).
pub fn headers_excerpt(headers: &http::HeaderMap) -> Vec<(String, String)> {
    let mut kept = Vec::new();
    let mut bytes = 0;
    for (name, value) in headers {
        if name == http::header::SET_COOKIE {
            continue;
        }
        let value: String = String::from_utf8_lossy(value.as_bytes())
            .chars()
            .take(256)
            .collect();
        bytes += name.as_str().len() + value.len();
        if kept.len() == HEADERS_KEPT || bytes > HEADER_BYTES_KEPT {
            break;
        }
        kept.push((name.as_str().to_string(), value));
    }
    kept
}

async fn read_excerpt(mut body: hyper::body::Incoming) -> String {
    let mut kept = Vec::new();
    let mut read = 0;
    while read < READ_CAP {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    read += data.len();
                    let room = EXCERPT_BYTES.saturating_sub(kept.len());
                    kept.extend_from_slice(&data[..room.min(data.len())]);
                }
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

fn classify(e: hyper_util::client::legacy::Error) -> SendError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if let Some(blocked) = err.downcast_ref::<BlockedAddress>() {
            return SendError::Blocked(blocked.0.clone());
        }
        // An io::Error's `source()` skips the error it wraps (the resolver's
        // BlockedAddress): look inside it too.
        if let Some(blocked) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<BlockedAddress>())
        {
            return SendError::Blocked(blocked.0.clone());
        }
        source = err.source();
    }
    let detail = error_chain(&e);
    if e.is_connect() {
        SendError::Connect(detail)
    } else {
        SendError::Other(detail)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(err) = source {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = err.source();
    }
    parts.join(": ")
}

pub use crate::model::is_private;

#[derive(Debug)]
struct BlockedAddress(String);

impl std::fmt::Display for BlockedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BlockedAddress {}

/// Resolves names with the system resolver, then drops the addresses the
/// SSRF guard forbids; only what is left is connected to.
#[derive(Clone)]
struct GuardedResolver {
    allow_private: bool,
}

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if allow_private {
                return Ok(addrs.into_iter());
            }
            let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
                addrs.into_iter().partition(|a| !is_private(a.ip()));
            if allowed.is_empty() && !refused.is_empty() {
                return Err(std::io::Error::other(BlockedAddress(format!(
                    "{host} resolves to private address {} (set allow_private_destinations = true to allow it)",
                    refused[0].ip()
                ))));
            }
            Ok(allowed.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }
}
