//! TLS termination for a relay exposed beyond loopback (`bidseal relay --tls-cert --tls-key`):
//! rustls with the ring provider, and a listener that hands axum finished TLS streams.
//!
//! Guarantees: every accepted TCP connection does its handshake in its own task with a time
//! limit, so a client that connects and says nothing (or speaks plain HTTP) cannot hold up
//! other clients; at most [`MAX_HANDSHAKES`] handshakes run at once; a failed handshake just
//! closes that connection. Protocol versions are rustls' safe defaults (TLS 1.2 and 1.3).
//! Does not do client certificates, OCSP stapling or certificate reloading (restart the relay).
//!
//! The co-signing service (`bidseal phone serve-cosign --tls-cert`) serves through the same
//! [`TlsListener`] and [`server_config`], with its own handshake limit.

use crate::RelayError;
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

/// Longest a client may take to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once (more connections wait in the kernel's backlog).
pub const MAX_HANDSHAKES: usize = 1024;

/// Server TLS settings from a PEM certificate chain (leaf first) and a PEM private key
/// (PKCS#8, PKCS#1 or SEC1).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, RelayError> {
    let bad = |path: &Path, detail: String| RelayError::Tls {
        path: path.display().to_string(),
        detail,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad(cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(bad(cert, "文件中没有证书".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| bad(key, format!("证书与私钥不匹配或无效：{e}")))?;
    Ok(Arc::new(config))
}

/// An axum listener yielding TLS streams whose handshake completed.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    acceptor: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `listener`; handshakes run in their own tasks, at most
    /// [`MAX_HANDSHAKES`] at once.
    pub fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> Self {
        Self::with_max_handshakes(listener, config, MAX_HANDSHAKES)
    }

    /// As [`TlsListener::new`], with at most `max_handshakes` handshakes at once.
    pub fn with_max_handshakes(
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
        max_handshakes: usize,
    ) -> Self {
        let local = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (tx, ready) = mpsc::channel(64);
        let tls = TlsAcceptor::from(config);
        let slots = Arc::new(Semaphore::new(max_handshakes));
        let acceptor = tokio::spawn(async move {
            loop {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (tcp, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(_) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
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
        TlsListener {
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
            // The acceptor task ended (cannot happen while the listener lives): wait for the
            // server's graceful shutdown to drop us instead of spinning.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
