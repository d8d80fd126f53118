//! Destination auth beyond fixed headers, against local servers that demand
//! it: OAuth2 client credentials (a token endpoint that issues tokens, a
//! destination that accepts only a valid one) and mutual TLS (a rustls
//! server that requires a client certificate from its CA).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::support::{Hookwasm, Sink, admin_get, eventually, fixture};

/// The reason of the endpoint's first delivery once it has one.
async fn first_reason(server: &Hookwasm, endpoint: &str) -> String {
    eventually(
        "a delivery with a reason",
        Duration::from_secs(60),
        async || {
            let (_, list) = admin_get(server, &format!("/v1/deliveries?endpoint={endpoint}")).await;
            list["items"]
                .as_array()?
                .first()?
                .get("reason")?
                .as_str()
                .map(str::to_string)
        },
    )
    .await
}

#[tokio::test]
async fn oauth2_tokens_are_fetched_cached_refreshed_on_401_and_never_shown() {
    let issued = Arc::new(AtomicUsize::new(0));
    let counter = issued.clone();
    let tokens = Sink::start(move |_, _| {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        (
            200,
            vec![("content-type".into(), "application/json".into())],
            format!(r#"{{"access_token":"tok-{n}","token_type":"Bearer","expires_in":3600}}"#),
        )
    })
    .await;
    // Accepts the first token once, then only the second (as if the first
    // had been revoked early).
    let destination = Sink::start(|r, n| {
        let auth = r.headers.get("authorization").cloned().unwrap_or_default();
        let ok = (n == 0 && auth == "Bearer tok-1") || auth == "Bearer tok-2";
        if ok {
            (200, vec![], "{}".into())
        } else {
            (401, vec![], r#"{"error":"token revoked"}"#.into())
        }
    })
    .await;
    let refused = Sink::start(|_, _| {
        (
            401,
            vec![("content-type".into(), "application/json".into())],
            r#"{"error":"invalid_client","error_description":"unknown client"}"#.into(),
        )
    })
    .await;
    let config = format!(
        r#"
[[endpoints]]
id = "oauth"
source = "dodo"
plugin = "inngest"
events = ["*"]
url = "{dest}"
auth = {{ oauth2 = {{ token_url = "{token}", client_id = "hookwasm", client_secret = "s3cret-client-value", scope = "events:write" }} }}

[[endpoints]]
id = "bad-client"
source = "dodo"
plugin = "inngest"
events = ["*"]
url = "{dest}"
auth = {{ oauth2 = {{ token_url = "{refused}", client_id = "nobody", client_secret = "wrong-secret-value" }} }}
"#,
        dest = destination.url("/e/key"),
        token = tokens.url("/oauth/token"),
        refused = refused.url("/oauth/token"),
    );
    let server = Hookwasm::start(&config).await;

    let (id, body) = fixture("payment.succeeded");
    assert_eq!(server.post_signed("dodo", &id, &body).await.0, 200);
    destination.wait_for(1, Duration::from_secs(60)).await;
    let (id2, body2) = fixture("payment.failed");
    assert_eq!(server.post_signed("dodo", &id2, &body2).await.0, 200);
    let got = destination.wait_for(3, Duration::from_secs(60)).await;
    let auths: Vec<&str> = got
        .iter()
        .map(|r| r.headers["authorization"].as_str())
        .collect();
    assert_eq!(auths, ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]);
    // Two token requests: one for the first event (the second reused it),
    // one after the 401.
    let asked = tokens.received();
    assert_eq!(asked.len(), 2);
    let form = String::from_utf8_lossy(&asked[0].body).to_string();
    assert_eq!(form, "grant_type=client_credentials&scope=events%3Awrite");
    assert_eq!(
        asked[0].headers["authorization"],
        format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                "hookwasm:s3cret-client-value"
            )
        )
    );
    assert_eq!(
        asked[0].headers["content-type"],
        "application/x-www-form-urlencoded"
    );

    // A token endpoint that refuses: the delivery waits with a clear reason.
    let reason = first_reason(&server, "bad-client").await;
    assert!(
        reason.contains("OAuth2 token endpoint answered 401 (invalid_client: unknown client)"),
        "{reason}"
    );

    // Neither the tokens nor the client secrets show anywhere.
    let (_, endpoint) = admin_get(&server, "/v1/endpoints/oauth").await;
    let (_, deliveries) = admin_get(&server, "/v1/deliveries?endpoint=oauth").await;
    let mut shown = format!("{endpoint}{deliveries}{}", server.logs());
    for item in deliveries["items"].as_array().unwrap() {
        let (_, detail) = admin_get(
            &server,
            &format!("/v1/deliveries/{}", item["id"].as_str().unwrap()),
        )
        .await;
        shown.push_str(&detail.to_string());
    }
    for secret in [
        "tok-1",
        "tok-2",
        "s3cret-client-value",
        "wrong-secret-value",
    ] {
        assert!(!shown.contains(secret), "{secret} is shown: {shown}");
    }
    assert_eq!(
        endpoint["auth"]["oauth2"]["client_id"], "hookwasm",
        "{endpoint}"
    );
}

struct Pki {
    ca_pem: String,
    server: tokio_rustls::TlsAcceptor,
    client_cert: String,
    client_key: String,
}

fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "hookwasm test CA");
    let ca = ca.self_signed(&ca_key).unwrap();

    let server_key = KeyPair::generate().unwrap();
    let mut server = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server = server.signed_by(&server_key, &ca, &ca_key).unwrap();

    let client_key = KeyPair::generate().unwrap();
    let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
    client
        .distinguished_name
        .push(DnType::CommonName, "hookwasm");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = client.signed_by(&client_key, &ca, &ca_key).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![server.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
        )
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        server: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        client_cert: client.pem(),
        client_key: client_key.serialize_pem(),
    }
}

#[tokio::test]
async fn mutual_tls_presents_the_endpoints_client_certificate() {
    let pki = pki();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let (acceptor, ok, bad) = (pki.server.clone(), served.clone(), refused.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, ok, bad) = (acceptor.clone(), ok.clone(), bad.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    bad.fetch_add(1, Ordering::SeqCst);
                    return;
                };
                let service = service_fn(move |_req| {
                    let ok = ok.clone();
                    async move {
                        ok.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("{}"))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });

    let url = format!("https://localhost:{port}/e/key");
    let config = format!(
        r#"
[[endpoints]]
id = "mtls"
source = "dodo"
plugin = "inngest"
events = ["*"]
url = "{url}"
tls = {{ client_cert = "client.pem", client_key = "${{TEST_CLIENT_KEY}}", ca = "ca.pem" }}

[[endpoints]]
id = "no-cert"
source = "dodo"
plugin = "inngest"
events = ["*"]
url = "{url}"
tls = {{ ca = "ca.pem" }}
"#
    );
    let server = Hookwasm::start_with_env(
        &config,
        |plugins| {
            let dir = plugins.parent().unwrap();
            std::fs::write(dir.join("client.pem"), &pki.client_cert).unwrap();
            std::fs::write(dir.join("ca.pem"), &pki.ca_pem).unwrap();
        },
        &[("TEST_CLIENT_KEY", pki.client_key.as_str())],
    )
    .await;
    let (id, body) = fixture("payment.succeeded");
    assert_eq!(server.post_signed("dodo", &id, &body).await.0, 200);
    eventually("the mTLS delivery", Duration::from_secs(60), async || {
        let (_, list) = admin_get(&server, "/v1/deliveries?endpoint=mtls&status=delivered").await;
        (!list["items"].as_array()?.is_empty()).then_some(())
    })
    .await;
    assert_eq!(served.load(Ordering::SeqCst), 1);
    // Without a certificate the server ends the handshake: a retried
    // failure with the TLS reason, never a request.
    let reason = first_reason(&server, "no-cert").await;
    assert!(reason.contains("CertificateRequired"), "{reason}");
    assert!(refused.load(Ordering::SeqCst) >= 1);
    let (_, endpoint): (u16, Value) = admin_get(&server, "/v1/endpoints/mtls").await;
    assert_eq!(endpoint["client_certificate"], true, "{endpoint}");
    assert!(!server.logs().contains("PRIVATE KEY"));
}

#[tokio::test]
async fn a_key_that_does_not_fit_or_a_plain_http_token_url_is_a_config_error() {
    let pki = pki();
    let other = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let (code, _, stderr) = super::support::config_check(
        r#"
[sources.dodo]
secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]

[[endpoints]]
id = "mtls"
source = "dodo"
plugin = "inngest"
events = ["*"]
url = "https://inn.gs/e/key"
tls = { client_cert = "client.pem", client_key = "other.key" }

[[endpoints]]
id = "oauth"
source = "dodo"
plugin = "inngest"
events = ["*"]
url = "https://inn.gs/e/key"
auth = { oauth2 = { token_url = "http://auth.example.com/token", client_id = "a", client_secret = "b" } }
"#,
        &[("client.pem", &pki.client_cert), ("other.key", &other)],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("endpoints[0].tls"), "{stderr}");
    assert!(
        stderr.contains("endpoints[1].auth.oauth2.token_url: must be https"),
        "{stderr}"
    );
    assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
}
