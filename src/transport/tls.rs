//! The one TLS client configuration berth uses for the connections it
//! opens itself (the endpoint's and Session Manager's websockets, the
//! address echo): the system's trusted roots, plus the CA bundle of
//! `AWS_CA_BUNDLE` or the profile's `ca_bundle` when there is one, and
//! rustls' aws-lc provider. The system's roots are read once per run.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::aws::ca_bundle::CaBundle;

/// Why a TLS connection failed: no configuration could be made, or the
/// handshake failed (an untrusted certificate, a name that does not
/// match, a peer that speaks no TLS).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("{0}")]
    Setup(String),
    #[error("TLS: {0}")]
    Handshake(String),
}

/// The system's roots, read once.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// The configuration: the system's roots and `extra`'s certificates, or
/// why there is none (no trusted root at all).
pub fn client_config(extra: Option<&CaBundle>) -> Result<Arc<rustls::ClientConfig>, String> {
    static SYSTEM_ONLY: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    match extra {
        None => SYSTEM_ONLY.get_or_init(|| build(None)).clone(),
        Some(bundle) => build(Some(bundle)),
    }
}

/// TLS over `stream` to `host`, checked against the trusted roots (and
/// `extra`'s).
pub async fn connect<S>(
    host: &str,
    stream: S,
    extra: Option<&CaBundle>,
) -> Result<tokio_rustls::client::TlsStream<S>, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = client_config(extra).map_err(TlsError::Setup)?;
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| TlsError::Setup(format!("`{host}` is not a name TLS can check: {e}")))?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|e| TlsError::Handshake(e.to_string()))
}

fn build(extra: Option<&CaBundle>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let (mut added, _) = roots.add_parsable_certificates(system_roots().iter().cloned());
    if let Some(bundle) = extra {
        let (from_bundle, _) =
            roots.add_parsable_certificates(bundle.certificates().iter().cloned());
        added += from_bundle;
    }
    if added == 0 {
        return Err("no trusted root certificates found on this system".to_owned());
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}
