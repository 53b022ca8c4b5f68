//! `tally certs`: a development CA, node and client certificates signed by it, and a cluster
//! secret, so that a secured cluster needs no other tool.
//!
//! Files (PEM; keys and the secret are written with mode 0600, and no file is overwritten):
//! - `ca`: `DIR/ca.pem`, `DIR/ca.key` (ECDSA P-256, valid 10 years by default).
//! - `node`: `DIR/NAME.pem`, `DIR/NAME.key`: serverAuth and clientAuth, the `--host` names and
//!   IPs as subject alternative names (a node's certificate is also its client certificate
//!   toward its peers).
//! - `client`: `DIR/NAME.pem`, `DIR/NAME.key`: clientAuth, common name NAME.
//! - `secret`: a file with 64 random hex digits, for `--cluster-secret-file`.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// The common name of every CA `tally certs ca` makes; certificates it signs name it as their
/// issuer.
const CA_NAME: &str = "Tally development CA";

/// `tally certs` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum CertsCmd {
    /// Make a CA: DIR/ca.pem (give it to nodes and clients) and DIR/ca.key (keep it private).
    Ca {
        /// Directory to write to (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 3650)]
        days: u32,
    },
    /// Make a node certificate signed by the CA in --ca-dir: OUT/NAME.pem and OUT/NAME.key.
    Node {
        /// Directory holding ca.pem and ca.key.
        #[arg(long)]
        ca_dir: PathBuf,
        /// The node's name (file names and common name), e.g. n1.
        #[arg(long)]
        name: String,
        /// An IP address or DNS name peers and clients reach the node at; repeat for each.
        /// Peers dial the IP in the cluster membership, so list it.
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        /// Directory to write to [default: --ca-dir].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// Make a client certificate signed by the CA in --ca-dir: OUT/NAME.pem and OUT/NAME.key.
    Client {
        /// Directory holding ca.pem and ca.key.
        #[arg(long)]
        ca_dir: PathBuf,
        /// The client's name (file names and common name), e.g. alice.
        #[arg(long)]
        name: String,
        /// Directory to write to [default: --ca-dir].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// Write a random cluster secret (64 hex digits) to FILE, for --cluster-secret-file.
    Secret {
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

impl CertsCmd {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        match self {
            CertsCmd::Ca { out, days } => make_ca(&out, days),
            CertsCmd::Node {
                ca_dir,
                name,
                hosts,
                out,
                days,
            } => {
                let out = out.unwrap_or_else(|| ca_dir.clone());
                make_leaf(&ca_dir, &out, &name, &hosts, true, days)
            }
            CertsCmd::Client {
                ca_dir,
                name,
                out,
                days,
            } => {
                let out = out.unwrap_or_else(|| ca_dir.clone());
                make_leaf(&ca_dir, &out, &name, &[], false, days)
            }
            CertsCmd::Secret { out } => {
                let mut bytes = [0u8; 32];
                std::fs::File::open("/dev/urandom")
                    .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
                    .context("read /dev/urandom")?;
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                write_new(&out, format!("{hex}\n").as_bytes(), true)?;
                println!("wrote {}", out.display());
                Ok(())
            }
        }
    }
}

/// A certificate valid from an hour ago (clocks differ) for `days` days.
fn validity(params: &mut CertificateParams, days: u32) -> Result<()> {
    if days == 0 {
        bail!("--days must be at least 1");
    }
    let now = SystemTime::now();
    params.not_before = (now - Duration::from_secs(3600)).into();
    params.not_after = (now + Duration::from_secs(u64::from(days) * 86_400)).into();
    Ok(())
}

/// The CA's parameters: also what its certificates name as their issuer.
fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p
}

fn make_ca(out: &Path, days: u32) -> Result<()> {
    let mut params = ca_params();
    validity(&mut params, days)?;
    let key = KeyPair::generate().context("generate the CA key")?;
    let cert = params.self_signed(&key).context("sign the CA")?;
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let (pem, key_path) = (out.join("ca.pem"), out.join("ca.key"));
    refuse_existing(&[&pem, &key_path])?;
    write_new(&key_path, key.serialize_pem().as_bytes(), true)?;
    write_new(&pem, cert.pem().as_bytes(), false)?;
    println!("wrote {} and {}", pem.display(), key_path.display());
    Ok(())
}

fn make_leaf(
    ca_dir: &Path,
    out: &Path,
    name: &str,
    hosts: &[String],
    node: bool,
    days: u32,
) -> Result<()> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        bail!("--name {name:?}: use letters, digits, '-', '_' and '.' only");
    }
    let ca_key_path = ca_dir.join("ca.key");
    let ca_key = std::fs::read_to_string(&ca_key_path).with_context(|| {
        format!(
            "read {} (make it with `tally certs ca`)",
            ca_key_path.display()
        )
    })?;
    let ca_key = KeyPair::from_pem(&ca_key)
        .with_context(|| format!("{}: not a key", ca_key_path.display()))?;
    let issuer = Issuer::new(ca_params(), ca_key);
    let mut params = CertificateParams::new(hosts.to_vec())
        .with_context(|| format!("--host {hosts:?}: not an IP address or DNS name"))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = if node {
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ]
    } else {
        vec![ExtendedKeyUsagePurpose::ClientAuth]
    };
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, days)?;
    let key = KeyPair::generate().context("generate the key")?;
    let cert = params
        .signed_by(&key, &issuer)
        .context("sign the certificate")?;
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let (pem, key_path) = (
        out.join(format!("{name}.pem")),
        out.join(format!("{name}.key")),
    );
    refuse_existing(&[&pem, &key_path])?;
    write_new(&key_path, key.serialize_pem().as_bytes(), true)?;
    write_new(&pem, cert.pem().as_bytes(), false)?;
    println!("wrote {} and {}", pem.display(), key_path.display());
    Ok(())
}

fn refuse_existing(paths: &[&Path]) -> Result<()> {
    if let Some(p) = paths.iter().find(|p| p.exists()) {
        bail!("{} exists; remove it first to make a new one", p.display());
    }
    Ok(())
}

/// Writes a new file (never an existing one), mode 0600 if `private`.
fn write_new(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("write {}", path.display()))
}
