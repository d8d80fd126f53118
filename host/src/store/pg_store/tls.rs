//! TLS to PostgreSQL, as libpq's `sslmode` in the URL says: `disable`;
//! `prefer` (the default: TLS if the server offers it) and `require` (TLS
//! or no connection), encrypted without checking the server's certificate
//! — libpq's meaning of both; `verify-ca`, the certificate signed by a
//! trusted root; `verify-full`, and issued for the host connected to. The
//! roots: `sslrootcert=<PEM file>`, else the Mozilla roots (webpki-roots).
//! tokio-postgres knows only the first three modes, so the others and
//! `sslrootcert` are taken out of the URL here.

use std::sync::Arc;

use rustls::DigitallySignedStruct;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How much of the server's certificate is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verify {
    /// Encrypted, whoever the server is (`prefer`, `require`).
    Nothing,
    /// Signed by a trusted root (`verify-ca`).
    Chain,
    /// Signed by a trusted root, for this host (`verify-full`).
    Host,
}

/// A parsed `[store] url`: what tokio-postgres connects to, and how.
pub struct Target {
    pub config: tokio_postgres::Config,
    pub verify: Verify,
    pub root_file: Option<String>,
}

/// Parses `url`; the error never repeats it (it may hold a password).
/// The options tokio-postgres lacks are taken out of the query as they
/// are written: every other option keeps its own encoding, and a
/// multi-host URL passes through.
pub fn parse(url: &str) -> Result<Target, String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(
            "must be a postgres:// URL, e.g. postgres://hookwasm@127.0.0.1/hookwasm".into(),
        );
    }
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut verify = Verify::Nothing;
    let mut mode_given = false;
    let mut system_roots = false;
    let mut root_file = None;
    let mut kept: Vec<&str> = Vec::new();
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .map_err(|_| format!("has a value of {key:?} that is not UTF-8"))?;
        match (key, value.as_ref()) {
            ("sslmode", "verify-ca") => {
                verify = Verify::Chain;
                kept.push("sslmode=require");
            }
            ("sslmode", "verify-full") => {
                verify = Verify::Host;
                kept.push("sslmode=require");
            }
            ("sslmode", _) => {
                mode_given = true;
                kept.push(pair);
            }
            // PostgreSQL 16's "the system's roots" (ours are webpki's),
            // which makes verify-full the default.
            ("sslrootcert", "system") => system_roots = true,
            ("sslrootcert", path) => root_file = Some(path.to_string()),
            _ => kept.push(pair),
        }
    }
    if verify == Verify::Nothing && (system_roots || root_file.is_some()) {
        if mode_given || root_file.is_some() {
            return Err(
                "gives sslrootcert without sslmode=verify-ca or verify-full, which would not check it"
                    .into(),
            );
        }
        verify = Verify::Host;
        kept.push("sslmode=require");
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let config = rest
        .parse::<tokio_postgres::Config>()
        .map_err(|e| format!("is not a valid PostgreSQL URL: {e}"))?;
    Ok(Target {
        config,
        verify,
        root_file,
    })
}

/// The TLS connector for `target` (every connection is offered TLS unless
/// the URL says `sslmode=disable`; tokio-postgres then never asks).
pub fn connector(target: &Target) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS to PostgreSQL: {e}"))?;
    let config = match target.verify {
        Verify::Nothing => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
            .with_no_client_auth(),
        verify => {
            let mut roots = rustls::RootCertStore::empty();
            match &target.root_file {
                Some(path) => {
                    let pem = std::fs::read(path)
                        .map_err(|e| format!("reading sslrootcert {path}: {e}"))?;
                    let mut found = 0;
                    for cert in pem_certs(&pem, path)? {
                        roots
                            .add(cert)
                            .map_err(|e| format!("sslrootcert {path}: {e}"))?;
                        found += 1;
                    }
                    if found == 0 {
                        return Err(format!("sslrootcert {path} holds no PEM certificate"));
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("TLS to PostgreSQL: {e}"))?;
            let verifier: Arc<dyn ServerCertVerifier> = if verify == Verify::Chain {
                Arc::new(AnyName(webpki))
            } else {
                webpki
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth()
        }
    };
    Ok(MakeRustlsConnect::new(config))
}

/// The certificates of a PEM file.
fn pem_certs(pem: &[u8], path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls_pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("sslrootcert {path}: {e}"))
}

/// `sslmode=prefer` and `require`: any certificate, as libpq accepts —
/// but the handshake's signatures are still checked, so the session is
/// with whoever holds the certificate's key.
#[derive(Debug)]
struct AnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `sslmode=verify-ca`: the chain is checked, the host name is not.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_modes_are_read_and_taken_out_of_the_url() {
        let t = parse("postgres://u:p@db.internal/hw?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x")
            .unwrap();
        assert_eq!(t.verify, Verify::Host);
        assert_eq!(t.root_file.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(
            t.config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        assert_eq!(t.config.get_application_name(), Some("x"));
        let t = parse("postgres://u@db/hw?sslmode=verify-ca").unwrap();
        assert_eq!(t.verify, Verify::Chain);
        let t = parse("postgres://u@db/hw?sslmode=require").unwrap();
        assert_eq!(t.verify, Verify::Nothing);
        let t = parse("postgres://u@db/hw?host=/run/postgresql").unwrap();
        assert_eq!(
            t.config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Prefer
        );
        let e = parse("postgres://u:secret@db/hw?sslrootcert=/ca.pem")
            .err()
            .unwrap();
        assert!(e.contains("verify-ca"), "{e}");
        assert!(!e.contains("secret"), "{e}");
        let e = parse("postgres://u:secret@db/hw?sslmode=sometimes")
            .err()
            .unwrap();
        assert!(!e.contains("secret"), "{e}");
        assert!(parse("mysql://db").is_err());
    }
}
