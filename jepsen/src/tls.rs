//! TLS for a run (`--tls`): the harness makes a CA and one node certificate for 127.0.0.1 with
//! `tally certs`, starts every node with them (mutual TLS between nodes, peers authenticated by
//! the CA), and speaks TLS to the nodes. Every node shares the one certificate: they all listen
//! on 127.0.0.1.
//!
//! The setting is process-wide, chosen once by `main` before the run starts; without it every
//! connection is plaintext.

use std::fmt::Display;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

static CLIENT: OnceLock<ClientTlsConfig> = OnceLock::new();

/// Makes (or reuses) the CA and node certificate in `dir` with `bin certs`, makes every later
/// connection of the harness speak TLS with that CA, and returns the `tally start` flags of
/// the nodes.
pub fn setup(bin: &Path, dir: &Path) -> Result<Vec<String>> {
    let d = dir.to_str().context("the output directory is not UTF-8")?;
    let certs = |args: &[&str]| -> Result<()> {
        let out = Command::new(bin).arg("certs").args(args).output()?;
        if !out.status.success() {
            bail!(
                "tally certs {args:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    };
    if !dir.join("ca.pem").exists() {
        certs(&["ca", "--out", d])?;
    }
    if !dir.join("node.pem").exists() {
        certs(&[
            "node",
            "--ca-dir",
            d,
            "--name",
            "node",
            "--host",
            "127.0.0.1",
        ])?;
    }
    let ca = std::fs::read(dir.join("ca.pem")).context("read the CA")?;
    let config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
    if CLIENT.set(config).is_err() {
        bail!("TLS is already set up");
    }
    let path = |f: &str| dir.join(f).display().to_string();
    Ok(vec![
        format!("--tls-cert={}", path("node.pem")),
        format!("--tls-key={}", path("node.key")),
        format!("--tls-peer-ca={}", path("ca.pem")),
    ])
}

/// The endpoint of the node at `addr`: TLS if [`setup`] ran, else plaintext.
pub fn endpoint(addr: impl Display) -> Result<Endpoint> {
    Ok(match CLIENT.get() {
        Some(tls) => Endpoint::from_shared(format!("https://{addr}"))?.tls_config(tls.clone())?,
        None => Endpoint::from_shared(format!("http://{addr}"))?,
    })
}
