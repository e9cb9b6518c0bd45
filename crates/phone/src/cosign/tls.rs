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
//! The relay has the same listener shape (crates/relay, `bidseal relay --tls-cert`).

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Longest a client may take to complete the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
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

/// Server settings from a PEM chain (leaf first) and a PEM private key.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsFileError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad(cert, e))?;
    if chain.is_empty() {
        return Err(bad(cert, "文件中没有证书"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(cert, e))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| bad(key, format!("证书与私钥不匹配或无效：{e}")))?;
    Ok(Arc::new(config))
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

/// An axum listener yielding TLS streams whose handshake completed.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    acceptor: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `listener`.
    pub fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> Self {
        let local = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (tx, ready) = mpsc::channel(64);
        let tls = TlsAcceptor::from(config);
        let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        let acceptor = tokio::spawn(async move {
            loop {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (tcp, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (tls, tx) = (tls.clone(), tx.clone());
                tokio::spawn(async move {
                    let done = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(tcp)).await;
                    drop(permit);
                    if let Ok(Ok(stream)) = done {
                        let _ = tx.send((stream, peer)).await;
                    }
                });
            }
        });
        Self {
            ready,
            local,
            acceptor,
        }
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
