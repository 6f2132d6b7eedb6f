//! TLS to PostgreSQL. Managed servers (Azure Database for PostgreSQL among them) require it.
//!
//! The URL says what to do, the libpq way: `sslmode=require`, `verify-ca` or `verify-full` asks
//! for TLS, and the server's certificate is always verified, against the Mozilla roots and, when
//! the URL names one with `sslrootcert=/path/ca.pem`, that CA too (for a private CA or a
//! development server). `sslmode=disable`, `prefer` or none connects as diesel-async does on its
//! own. tokio-postgres knows neither `sslrootcert` nor the `verify-*` modes, so the URL it gets is
//! rewritten without them.

use diesel::ConnectionError;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::sync::Arc;

/// What a database URL asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The URL as tokio-postgres accepts it.
    pub url: String,
    pub tls: bool,
    pub root_cert: Option<String>,
}

impl Target {
    pub fn parse(url: &str) -> Target {
        let Some((base, query)) = url.split_once('?') else {
            return Target { url: url.to_owned(), tls: false, root_cert: None };
        };
        let mut tls = false;
        let mut root_cert = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslrootcert" => root_cert = Some(value.to_owned()),
                "sslmode" => match value {
                    "require" | "verify-ca" | "verify-full" => {
                        tls = true;
                        kept.push("sslmode=require".to_owned());
                    }
                    _ => kept.push(pair.to_owned()),
                },
                _ => kept.push(pair.to_owned()),
            }
        }
        let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
        Target { url, tls, root_cert }
    }
}

/// Opens one connection as the URL asks.
pub(crate) async fn establish(url: &str) -> Result<AsyncPgConnection, ConnectionError> {
    let target = Target::parse(url);
    if !target.tls {
        return AsyncPgConnection::establish(&target.url).await;
    }
    let config = client_config(target.root_cert.as_deref())?;
    let (client, connection) =
        tokio_postgres::connect(&target.url, tokio_postgres_rustls::MakeRustlsConnect::new(config))
            .await
            .map_err(|error| ConnectionError::BadConnection(with_causes(&error)))?;
    AsyncPgConnection::try_from_client_and_connection(client, connection).await
}

/// "error performing TLS handshake: invalid peer certificate: UnknownIssuer", not just the first
/// part: the cause is what tells an operator which certificate to fix.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

fn client_config(root_cert: Option<&str>) -> Result<rustls::ClientConfig, ConnectionError> {
    let bad = |what: String| ConnectionError::BadConnection(what);
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = root_cert {
        let certificates = CertificateDer::pem_file_iter(path)
            .map_err(|error| bad(format!("sslrootcert {path}: {error}")))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| bad(format!("sslrootcert {path}: {error}")))?;
        if certificates.is_empty() {
            return Err(bad(format!("sslrootcert {path} holds no certificate")));
        }
        for certificate in certificates {
            roots.add(certificate).map_err(|error| bad(format!("sslrootcert {path}: {error}")))?;
        }
    }
    // The provider is named rather than taken from a process default: more than one may be
    // compiled in.
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|error| bad(error.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_says_whether_to_use_tls() {
        assert_eq!(
            Target::parse("postgres://u:p@db:5432/tocsin"),
            Target { url: "postgres://u:p@db:5432/tocsin".into(), tls: false, root_cert: None }
        );
        assert_eq!(
            Target::parse("postgres://u:p@db/tocsin?sslmode=verify-full&sslrootcert=/etc/ca.pem&application_name=x"),
            Target {
                url: "postgres://u:p@db/tocsin?sslmode=require&application_name=x".into(),
                tls: true,
                root_cert: Some("/etc/ca.pem".into())
            }
        );
        assert!(!Target::parse("postgres://db/tocsin?sslmode=prefer").tls);
        assert!(Target::parse("postgres://db/tocsin?sslmode=require").tls);
    }
}
