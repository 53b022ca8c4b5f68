//! TLS settings of a client: the CA that signed the nodes' certificates, an optional client
//! certificate (for a cluster that requires one), and an optional server name.

use std::path::Path;

use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use crate::Error;

/// How a client verifies the nodes and, optionally, proves who it is. Set it in
/// [`ClientOptions::tls`](crate::ClientOptions::tls); the client then speaks only TLS.
///
/// ```no_run
/// use tally_client::{ClientOptions, TlsOptions};
///
/// # fn run() -> std::io::Result<()> {
/// let tls = TlsOptions::from_ca_file("certs/ca.pem")?
///     .with_client_files("certs/alice.pem", "certs/alice.key")?;
/// let options = ClientOptions { tls: Some(tls), ..ClientOptions::default() };
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM of the CA certificate(s) the nodes' certificates must chain to.
    pub ca_pem: Vec<u8>,
    /// PEM of the client's certificate chain and of its private key, presented to nodes that
    /// ask for one (`--tls-client-ca` on the node).
    pub client_identity: Option<(Vec<u8>, Vec<u8>)>,
    /// The name checked against the node's certificate instead of the host of the address
    /// dialled (an IP address or a DNS name).
    pub server_name: Option<String>,
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("ca_pem", &format_args!("{} bytes", self.ca_pem.len()))
            .field("client_identity", &self.client_identity.is_some())
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl TlsOptions {
    /// Trust the CA certificate(s) in the PEM `ca_pem`.
    pub fn new(ca_pem: impl Into<Vec<u8>>) -> Self {
        Self {
            ca_pem: ca_pem.into(),
            client_identity: None,
            server_name: None,
        }
    }

    /// Trust the CA certificate(s) in the PEM file at `path`.
    pub fn from_ca_file(path: impl AsRef<Path>) -> std::io::Result<Self> {
        Ok(Self::new(read(path.as_ref())?))
    }

    /// The same, presenting the certificate chain and key in these PEM files.
    pub fn with_client_files(
        self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> std::io::Result<Self> {
        let identity = (read(cert.as_ref())?, read(key.as_ref())?);
        Ok(Self {
            client_identity: Some(identity),
            ..self
        })
    }

    /// The settings a tool's `--tls-ca`, `--tls-cert` and `--tls-key` flags give: none without
    /// a CA; the client certificate only when both its files are given.
    pub fn from_files(
        ca: Option<&Path>,
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> std::io::Result<Option<Self>> {
        let Some(ca) = ca else { return Ok(None) };
        let tls = Self::from_ca_file(ca)?;
        Ok(Some(match (cert, key) {
            (Some(cert), Some(key)) => tls.with_client_files(cert, key)?,
            _ => tls,
        }))
    }

    /// The same, checking the nodes' certificates for `name` instead of the dialled host.
    pub fn with_server_name(self, name: impl Into<String>) -> Self {
        Self {
            server_name: Some(name.into()),
            ..self
        }
    }

    /// tonic's configuration for these settings, for a raw tonic `Endpoint` (tools that
    /// bypass the [`Client`](crate::Client)).
    pub fn tonic_config(&self) -> ClientTlsConfig {
        self.config()
    }

    /// tonic's configuration for these settings.
    pub(crate) fn config(&self) -> ClientTlsConfig {
        let mut c = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&self.ca_pem));
        if let Some((cert, key)) = &self.client_identity {
            c = c.identity(Identity::from_pem(cert, key));
        }
        if let Some(name) = &self.server_name {
            c = c.domain_name(name.clone());
        }
        c
    }

    /// Checks that the settings make a usable configuration (the PEM parses, the key fits).
    pub(crate) fn check(&self) -> Result<(), Error> {
        if !self
            .ca_pem
            .windows(27)
            .any(|w| w == b"-----BEGIN CERTIFICATE-----")
        {
            return Err(Error::Tls("the CA PEM holds no CERTIFICATE".into()));
        }
        tonic::transport::Endpoint::from_static("https://127.0.0.1:1")
            .tls_config(self.config())
            .map(|_| ())
            .map_err(|e| Error::Tls(tls_reason(&e)))
    }
}

fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// A tonic transport error's whole chain of causes, which says what was wrong with the PEM.
pub(crate) fn tls_reason(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_settings_are_a_tls_error() {
        let e = TlsOptions::new("no certificate here").check().unwrap_err();
        assert!(
            matches!(&e, Error::Tls(m) if m.contains("no CERTIFICATE")),
            "{e}"
        );
        let e = crate::transport::Transport::new(
            ["127.0.0.1:1"],
            crate::ClientOptions {
                tls: Some(TlsOptions::new(Vec::new())),
                ..crate::ClientOptions::default()
            },
        )
        .unwrap_err();
        assert!(matches!(e, Error::Tls(_)), "{e}");
        assert!(TlsOptions::from_ca_file("/nonexistent/ca.pem").is_err());
        let debug = format!(
            "{:?}",
            TlsOptions {
                client_identity: Some((b"cert".to_vec(), b"SECRET KEY".to_vec())),
                ..TlsOptions::new("ca")
            }
        );
        assert!(!debug.contains("SECRET"), "{debug}");
    }
}
