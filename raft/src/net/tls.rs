//! TLS on the node port, and mutual TLS between peers: rustls (the `ring` provider) behind our
//! own acceptor and connector, so that certificates reload without a restart.
//!
//! A node with TLS has a certificate and key ([`TlsFiles::cert`], [`TlsFiles::key`]), the
//! cluster CA ([`TlsFiles::peer_ca`]) and optionally a client CA ([`TlsFiles::client_ca`]):
//!
//! - Its port speaks only TLS 1.2/1.3 with ALPN `h2`. A client certificate is verified against
//!   the client CA and the cluster CA together; it is required when a client CA is configured,
//!   optional otherwise (clients and peers share the port). A certificate that chains to
//!   neither fails the handshake.
//! - A connection whose certificate chains to the cluster CA is a cluster peer
//!   ([`TlsPeer::cluster_peer`]); the Raft service serves only those (see `server.rs`).
//!   [`TlsPeer`] is in every request's extensions, for services that want the verified
//!   certificate.
//! - Outgoing Raft connections verify the peer's server certificate against the cluster CA
//!   (its address, an IP, must be in the certificate's subject alternative names) and present
//!   the node's own certificate as the client certificate.
//!
//! [`NodeTls::reload`] reads the files again and swaps the configuration in one step; a file
//! that does not load leaves the current configuration in place. New connections (incoming
//! and outgoing) use the new one; open connections keep theirs.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use hyper_util::rt::TokioIo;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tonic::codegen::http::Uri;
use tonic::transport::server::Connected;

/// The longest a TLS handshake on the node port may take; a connection still shaking hands
/// then is closed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The PEM files of a node's TLS configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The node's certificate chain (leaf first). Used as the server certificate and, toward
    /// peers, as the client certificate, so it needs both the serverAuth and clientAuth
    /// extended key usages and the node's advertised IP among its subject alternative names.
    pub cert: PathBuf,
    /// The certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// With it, every client must present a certificate chained to this CA (or to the
    /// cluster CA).
    pub client_ca: Option<PathBuf>,
    /// The cluster CA: peers' certificates must chain to it, in both directions.
    pub peer_ca: PathBuf,
}

impl TlsFiles {
    fn paths(&self) -> Vec<&Path> {
        let mut p = vec![
            self.cert.as_path(),
            self.key.as_path(),
            self.peer_ca.as_path(),
        ];
        p.extend(self.client_ca.as_deref());
        p
    }
}

/// Why a TLS configuration did not load.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read, or holds no usable PEM item of the kind expected.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The files were read but do not make a configuration (a key that does not match the
    /// certificate, a CA certificate that does not parse).
    #[error("{0}")]
    Config(String),
}

/// What the node port knows of a TLS connection's client; in every request's extensions.
#[derive(Debug, Clone)]
pub struct TlsPeer {
    /// The client's address.
    pub remote_addr: Option<SocketAddr>,
    /// The client's certificate chain (leaf first) as verified during the handshake, if it
    /// presented one.
    pub certificates: Option<Arc<Vec<CertificateDer<'static>>>>,
    /// The client's certificate chains to the cluster CA: it may speak Raft.
    pub cluster_peer: bool,
}

/// One loaded configuration.
struct Loaded {
    server: Arc<ServerConfig>,
    peer_client: Arc<ClientConfig>,
    /// Checks a client certificate against the cluster CA alone.
    peer_verifier: Arc<dyn ClientCertVerifier>,
}

/// A node's TLS configuration, reloadable. Shared by the acceptor and the peer connector.
pub struct NodeTls {
    files: TlsFiles,
    current: RwLock<Arc<Loaded>>,
    /// The files' contents' hashes when last loaded or tried.
    stamps: Mutex<Vec<Option<blake3::Hash>>>,
}

impl std::fmt::Debug for NodeTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeTls")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl NodeTls {
    /// Loads `files`.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let stamps = stamps(&files);
        let loaded = build(&files)?;
        Ok(Self {
            files,
            current: RwLock::new(Arc::new(loaded)),
            stamps: Mutex::new(stamps),
        })
    }

    /// The files this configuration reads.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// Reads the files again and, if they load, uses them for every new connection. On an
    /// error the current configuration stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        *lock(&self.stamps) = stamps(&self.files);
        let loaded = build(&self.files)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(loaded);
        Ok(())
    }

    /// [`NodeTls::reload`] if any file's contents changed since the last load or attempt (the
    /// files are small: they are read and hashed, which no timestamp granularity can fool); `Ok(true)` if it reloaded. A file that fails is not tried again until
    /// it changes again.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        if *lock(&self.stamps) == stamps(&self.files) {
            return Ok(false);
        }
        self.reload().map(|()| true)
    }

    fn current(&self) -> Arc<Loaded> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A connector for outgoing Raft connections with the current configuration at each
    /// connect.
    pub(crate) fn connector(self: &Arc<Self>) -> PeerConnector {
        PeerConnector { tls: self.clone() }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn stamps(files: &TlsFiles) -> Vec<Option<blake3::Hash>> {
    files
        .paths()
        .iter()
        .map(|p| std::fs::read(p).ok().map(|b| blake3::hash(&b)))
        .collect()
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// The certificates in the PEM file at `path` (at least one).
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|e| file_error(path, e))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(file_error(path, "no CERTIFICATE in the file"));
    }
    Ok(certs)
}

/// The private key in the PEM file at `path`.
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = std::fs::read(path).map_err(|e| file_error(path, e))?;
    PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| file_error(path, format!("no usable private key: {e}")))
}

fn add_roots(store: &mut RootCertStore, path: &Path) -> Result<(), TlsError> {
    for c in read_certs(path)? {
        store
            .add(c)
            .map_err(|e| file_error(path, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(())
}

/// rustls with `ring`: the `aws-lc-rs` provider needs extra C tooling to build. rustls marks
/// `ring`'s provider deprecated because it lacks post-quantum key exchange; classical ECDHE
/// (X25519, P-256) is what it offers.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config_error(what: &str, e: impl std::fmt::Display) -> TlsError {
    TlsError::Config(format!("{what}: {e}"))
}

const ALPN_H2: &[u8] = b"h2";

fn build(files: &TlsFiles) -> Result<Loaded, TlsError> {
    let certs = read_certs(&files.cert)?;
    let key = read_key(&files.key)?;
    let mut peer_roots = RootCertStore::empty();
    add_roots(&mut peer_roots, &files.peer_ca)?;
    let peer_roots = Arc::new(peer_roots);
    let mut all_roots = (*peer_roots).clone();
    if let Some(ca) = &files.client_ca {
        add_roots(&mut all_roots, ca)?;
    }
    let clients = WebPkiClientVerifier::builder_with_provider(Arc::new(all_roots), provider());
    let clients = match files.client_ca {
        Some(_) => clients.build(),
        None => clients.allow_unauthenticated().build(),
    }
    .map_err(|e| config_error("client certificate verifier", e))?;
    let mut server = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error("server config", e))?
        .with_client_cert_verifier(clients)
        .with_single_cert(certs.clone(), key.clone_key())
        .map_err(|e| config_error("the node's certificate and key", e))?;
    server.alpn_protocols = vec![ALPN_H2.to_vec()];
    let peer_verifier = WebPkiClientVerifier::builder_with_provider(peer_roots.clone(), provider())
        .build()
        .map_err(|e| config_error("peer certificate verifier", e))?;
    let mut peer_client = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error("peer client config", e))?
        .with_root_certificates(peer_roots)
        .with_client_auth_cert(certs, key)
        .map_err(|e| config_error("the node's certificate and key", e))?;
    peer_client.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Loaded {
        server: Arc::new(server),
        peer_client: Arc::new(peer_client),
        peer_verifier,
    })
}

/// A TLS connection accepted on the node port.
#[derive(Debug)]
pub struct TlsConn {
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    peer: TlsPeer,
}

impl Connected for TlsConn {
    type ConnectInfo = TlsPeer;

    fn connect_info(&self) -> TlsPeer {
        self.peer.clone()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The node port's connections after their TLS handshake, for tonic's
/// `serve_with_incoming`. Each handshake runs in its own task (bounded by
/// [`HANDSHAKE_TIMEOUT`]), so a slow or silent client delays no one; a failed handshake (a
/// plaintext client, an untrusted certificate) just closes that connection. Accepting stops
/// when the stream is dropped.
pub fn incoming(
    listener: TcpListener,
    tls: Arc<NodeTls>,
) -> impl Stream<Item = Result<TlsConn, io::Error>> + Send + 'static {
    let (tx, mut rx) = mpsc::channel::<TlsConn>(64);
    tokio::spawn(async move {
        loop {
            let (tcp, remote) = tokio::select! {
                _ = tx.closed() => return,
                r = listener.accept() => match r {
                    Ok(c) => c,
                    // Out of file descriptors, say: wait rather than spin.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let (tx, tls) = (tx.clone(), tls.clone());
            tokio::spawn(async move {
                let loaded = tls.current();
                let accept = TlsAcceptor::from(loaded.server.clone()).accept(tcp);
                let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await else {
                    return;
                };
                let certificates = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .filter(|c| !c.is_empty())
                    .map(|c| Arc::new(c.iter().map(|c| c.clone().into_owned()).collect()));
                let cluster_peer = certificates.as_ref().is_some_and(|c: &Arc<Vec<_>>| {
                    loaded
                        .peer_verifier
                        .verify_client_cert(&c[0], &c[1..], UnixTime::now())
                        .is_ok()
                });
                let peer = TlsPeer {
                    remote_addr: Some(remote),
                    certificates,
                    cluster_peer,
                };
                let _ = tx.send(TlsConn { stream, peer }).await;
            });
        }
    });
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|c| c.map(Ok)))
}

/// Opens outgoing Raft connections: TCP, then TLS with the node's current configuration.
#[derive(Debug, Clone)]
pub(crate) struct PeerConnector {
    tls: Arc<NodeTls>,
}

type Connecting = Pin<
    Box<
        dyn Future<Output = io::Result<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>>> + Send,
    >,
>;

impl tower_service::Service<Uri> for PeerConnector {
    type Response = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;
    type Error = io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Connecting {
        let config = self.tls.current().peer_client.clone();
        Box::pin(async move {
            let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidInput, m);
            let authority = uri
                .authority()
                .ok_or_else(|| invalid(format!("no host in {uri}")))?
                .clone();
            let host = authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']');
            let name = ServerName::try_from(host.to_owned())
                .map_err(|e| invalid(format!("peer host {host:?}: {e}")))?;
            let tcp = TcpStream::connect(authority.as_str()).await?;
            tcp.set_nodelay(true)?;
            let stream = TlsConnector::from(config).connect(name, tcp).await?;
            Ok(TokioIo::new(stream))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

    /// A CA and a node certificate for 127.0.0.1 signed by it, as PEM: (ca, cert, key).
    fn pki() -> (String, String, String) {
        let mut ca = CertificateParams::default();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        (ca_pem, cert.pem(), key.serialize_pem())
    }

    fn write(dir: &Path, (ca, cert, key): &(String, String, String)) -> TlsFiles {
        let files = TlsFiles {
            cert: dir.join("node.pem"),
            key: dir.join("node.key"),
            client_ca: None,
            peer_ca: dir.join("ca.pem"),
        };
        std::fs::write(&files.peer_ca, ca).unwrap();
        std::fs::write(&files.cert, cert).unwrap();
        std::fs::write(&files.key, key).unwrap();
        files
    }

    #[test]
    fn a_file_that_does_not_load_keeps_the_current_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let files = write(dir.path(), &pki());
        let tls = NodeTls::load(files.clone()).unwrap();
        let before = tls.current();
        assert!(!tls.reload_if_changed().unwrap(), "nothing changed");

        std::fs::write(&files.cert, "not a certificate\n").unwrap();
        let e = tls.reload_if_changed().unwrap_err();
        assert!(e.to_string().contains("node.pem"), "{e}");
        assert!(Arc::ptr_eq(&before, &tls.current()), "the old one stays");
        assert!(
            !tls.reload_if_changed().unwrap(),
            "not tried again until it changes"
        );

        // A key of another certificate does not load either.
        let other = pki();
        std::fs::write(&files.cert, &other.1).unwrap();
        assert!(tls.reload().is_err());
        assert!(Arc::ptr_eq(&before, &tls.current()));

        std::fs::write(&files.key, &other.2).unwrap();
        std::fs::write(&files.peer_ca, &other.0).unwrap();
        assert!(tls.reload_if_changed().unwrap());
        assert!(
            !Arc::ptr_eq(&before, &tls.current()),
            "the new one is in use"
        );
    }

    #[test]
    fn missing_and_empty_files_are_refused_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let files = write(dir.path(), &pki());
        std::fs::write(&files.peer_ca, "").unwrap();
        let e = NodeTls::load(files.clone()).unwrap_err();
        assert!(e.to_string().contains("ca.pem") && e.to_string().contains("no CERTIFICATE"));
        let e = NodeTls::load(TlsFiles {
            key: dir.path().join("absent.key"),
            ..files
        })
        .unwrap_err();
        assert!(e.to_string().contains("absent.key"), "{e}");
    }
}
