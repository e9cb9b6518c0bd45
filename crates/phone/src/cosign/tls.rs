//! TLS for the co-signing service: `serve-cosign --tls-cert FILE --tls-key FILE` serves
//! https (rustls, ring provider), and the phone's client trusts the roots given with
//! `--cosign-ca FILE` (e.g. the dev CA made by scripts/setup.sh).
//!
//! Guarantees: each TCP connection does its handshake in its own task with a time limit
//! ([`HANDSHAKE_TIMEOUT`]), at most [`MAX_HANDSHAKES`] at once, so a silent or plain-HTTP
//! client holds up nobody; a failed handshake closes only that connection. TLS 1.2 and 1.3
//! (rustls' safe defaults). Does not: client certificates (the phone proves itself with its
//! device key, [`super::device`]), certificate reloading.
//!
//! The listener and the server settings are the relay's (`bidseal_relay::tls`), with the
//! service's own handshake limit.

use bidseal_relay::RelayError;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;

pub use bidseal_relay::tls::{TlsListener, HANDSHAKE_TIMEOUT};

/// Handshakes in progress at once.
pub const MAX_HANDSHAKES: usize = 256;

/// A certificate or key file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("E_COSIGN_TLS：TLS 证书或私钥 {path} 无法使用（{detail}），请检查 --tls-cert / --tls-key / --cosign-ca 参数")]
pub struct TlsFileError {
    /// File.
    pub path: String,
    /// Why.
    pub detail: String,
}

fn bad(path: &Path, detail: impl std::fmt::Display) -> TlsFileError {
    TlsFileError {
        path: path.display().to_string(),
        detail: detail.to_string(),
    }
}

/// Server settings from a PEM chain (leaf first) and a PEM private key (the relay's loader).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsFileError> {
    bidseal_relay::tls::server_config(cert, key).map_err(|e| match e {
        RelayError::Tls { path, detail } => TlsFileError { path, detail },
        other => bad(cert, other),
    })
}

/// The service's listener: TLS streams whose handshake completed, at most
/// [`MAX_HANDSHAKES`] handshakes at once.
pub fn listener(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> TlsListener {
    TlsListener::with_max_handshakes(listener, config, MAX_HANDSHAKES)
}

/// Reads one or more PEM root certificates for the client.
pub fn client_roots(ca: &Path) -> Result<Vec<reqwest::Certificate>, TlsFileError> {
    let pem = std::fs::read(ca).map_err(|e| bad(ca, e))?;
    let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(ca, e))?;
    if roots.is_empty() {
        return Err(bad(ca, "文件中没有证书"));
    }
    Ok(roots)
}
