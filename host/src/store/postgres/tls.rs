//! TLS to PostgreSQL, with rustls: used when the URL says `sslmode=require`,
//! and then always verified, as libpq's `verify-full` is: the server's
//! certificate must chain to a trusted root and name the host the URL names.
//! The roots are the certificates in the file `PGSSLROOTCERT` names (libpq's
//! own variable; a private CA's certificate, say), or else (unset, or
//! `system` as libpq 16 spells it) the Mozilla roots that public CAs chain to.
//!
//! Unverified encryption is not offered: it only hides traffic from a
//! listener who cannot also impersonate the server, and looks safe. So
//! `sslmode=prefer` (tokio-postgres's default when the URL says nothing)
//! connects without TLS, as it did before TLS existed here, unless
//! `PGSSLMODE` (libpq's variable) asks for TLS.

use std::path::Path;
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The environment variable naming a file of trusted root certificates (PEM).
pub const ROOT_CERTIFICATES_VARIABLE: &str = "PGSSLROOTCERT";
/// The environment variable that sets `sslmode` where the URL does not.
const MODE_VARIABLE: &str = "PGSSLMODE";

/// What connects the pool and the listener: TLS for `sslmode=require`
/// (trusting the PEM certificates in `roots`, or the Mozilla roots when
/// `None` or `system`); any other mode is set to `disable`, so the connector
/// goes unused and the roots are not read. `PGSSLMODE` applies when the URL
/// leaves the mode at its default (`prefer`). The error says what is wrong
/// with the roots file or the mode.
pub(super) fn connector(
    config: &mut tokio_postgres::Config,
    roots: Option<&Path>,
) -> Result<MakeRustlsConnect, String> {
    if config.get_ssl_mode() == SslMode::Prefer
        && let Some(mode) = std::env::var_os(MODE_VARIABLE)
    {
        match mode.to_str() {
            Some("require" | "verify-ca" | "verify-full") => config.ssl_mode(SslMode::Require),
            Some("disable" | "allow" | "prefer") => config.ssl_mode(SslMode::Disable),
            _ => {
                return Err(format!(
                    "{MODE_VARIABLE}={} is not an sslmode (use require or disable)",
                    mode.display()
                ));
            }
        };
    }
    if config.get_ssl_mode() != SslMode::Require {
        config.ssl_mode(SslMode::Disable);
    }
    let trusted = match roots.filter(|file| *file != Path::new("system")) {
        Some(file) if config.get_ssl_mode() == SslMode::Require => roots_from(file)?,
        _ => rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() },
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("setting up TLS: {e}"))?
        .with_root_certificates(trusted)
        .with_no_client_auth();
    // What PostgreSQL 17 asks of a client that opens with TLS directly
    // (`sslnegotiation=direct`); older servers ignore it.
    client.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(MakeRustlsConnect::new(client))
}

/// The root certificates in the PEM file `file`: at least one.
fn roots_from(file: &Path) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let problem = |what: String| {
        format!("the trusted root certificates in {} ({ROOT_CERTIFICATES_VARIABLE}) {what}", file.display())
    };
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
        .and_then(|certificates| certificates.collect::<Result<_, _>>())
        .map_err(|e| problem(format!("could not be read: {e}")))?;
    if certificates.is_empty() {
        return Err(problem("hold no PEM certificate".into()));
    }
    let mut store = rustls::RootCertStore::empty();
    for certificate in certificates {
        store.add(certificate).map_err(|e| problem(format!("hold a certificate rustls refuses: {e}")))?;
    }
    Ok(store)
}
