//! A node's configuration: command-line flags, then `TALLY_*` environment variables, then a
//! TOML file (`--config`), then defaults, in that order of precedence.
//!
//! ```toml
//! # tally.toml
//! node_id = 1
//! cluster_id = "7f3a..."            # 32 hex digits; the same on every node of a cluster
//! listen = "127.0.0.1:7101"
//! data_dir = "/var/lib/tally/node-1"
//! peers = ["1=127.0.0.1:7101", "2=127.0.0.1:7102", "3=127.0.0.1:7103"]
//! request_timeout_ms = 10000
//! tls_cert = "/etc/tally/n1.pem"     # TLS: the node's certificate and key, and the cluster CA
//! tls_key = "/etc/tally/n1.key"
//! tls_peer_ca = "/etc/tally/ca.pem"
//! log_format = "json"               # or "human"
//! log_level = "info,tally_server::coalesce=debug"
//! slow_request_ms = 1000
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use tally_raft::{ClusterSecret, TlsFiles};

use crate::admission::AdmissionOptions;
use crate::coalesce::CoalesceOptions;
use crate::logging::{self, LogFormat, LogOptions};

/// The address `tally start` listens on when none is given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7100";
/// The data directory `tally start` uses when none is given (relative to the working dir).
pub const DEFAULT_DATA_DIR: &str = "tally-data";

/// `tally start`'s flags. Every one also reads a `TALLY_*` environment variable and a key of
/// the same name (with `_`) in the config file.
#[derive(Debug, Clone, Default, Args)]
pub struct StartArgs {
    /// TOML config file.
    #[arg(long, env = "TALLY_CONFIG")]
    pub config: Option<PathBuf>,
    /// This node's id, non-zero, fixed for the life of its data dir [default: 1].
    #[arg(long, env = "TALLY_NODE_ID")]
    pub node_id: Option<u64>,
    /// The cluster's id (decimal or 0x-hex u128), the same on every node. Required to create
    /// the data dir of a multi-node cluster's node; a single node generates one.
    #[arg(long, env = "TALLY_CLUSTER_ID")]
    pub cluster_id: Option<String>,
    /// Address to listen on for clients and peers [default: 127.0.0.1:7100, or this node's
    /// address in --peers].
    #[arg(long, env = "TALLY_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Address peers and clients reach this node at, if not the listen address.
    #[arg(long, env = "TALLY_ADVERTISE")]
    pub advertise: Option<String>,
    /// Data directory [default: ./tally-data/node-<id>].
    #[arg(long, env = "TALLY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The initial voters of a new cluster, `id=host:port`, comma-separated, this node
    /// included; the same list on every node. The node with the lowest id creates the cluster
    /// on its first start. Without --peers (and without --join) the node is a single-node
    /// cluster.
    #[arg(long, env = "TALLY_PEERS", value_delimiter = ',')]
    pub peers: Option<Vec<String>>,
    /// Start without creating a cluster: wait to be added with `tally admin add-learner`.
    #[arg(long, env = "TALLY_JOIN")]
    pub join: bool,
    /// Deadline of a request that names none, and the most any request gets, in ms.
    #[arg(long, env = "TALLY_REQUEST_TIMEOUT_MS")]
    pub request_timeout_ms: Option<u64>,
    /// Most events queued or being proposed at once on this node (at least 8189); a write
    /// that would exceed it is refused at once with RESOURCE_EXHAUSTED [default: 65512].
    #[arg(long, env = "TALLY_MAX_QUEUED_EVENTS")]
    pub max_queued_events: Option<usize>,
    /// Longest estimated wait, in ms, before a new write's Raft entry starts: a write that
    /// would wait longer (or longer than its own deadline) is refused at once with
    /// RESOURCE_EXHAUSTED and a retry-after hint. 0 refuses every write that finds another
    /// pending [default: 25].
    #[arg(long, env = "TALLY_MAX_QUEUE_DELAY_MS")]
    pub max_queue_delay_ms: Option<u64>,
    /// Read requests served at once; more are refused with RESOURCE_EXHAUSTED. Writes have
    /// their own limit (the two above), so neither class takes from the other [default: 256].
    #[arg(long, env = "TALLY_MAX_CONCURRENT_READS")]
    pub max_concurrent_reads: Option<usize>,
    /// Address of the HTTP endpoint for probes and monitoring: `/healthz` (alive), `/readyz`
    /// (knows a leader, applied log caught up) and `/metrics` (Prometheus); `--metrics-addr`
    /// is the same flag [default: none, not served].
    #[arg(long, visible_alias = "metrics-addr", env = "TALLY_HTTP_ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// A node is ready (`/readyz`, gRPC health) only while its applied index is within this
    /// many entries of the commit index it knows [default: 1000].
    #[arg(long, env = "TALLY_READY_MAX_LAG")]
    pub ready_max_lag: Option<u64>,
    /// Raft entries proposed and not yet applied at once [default: 2].
    #[arg(long, env = "TALLY_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,
    /// Raft heartbeat period in ms [default: 50].
    #[arg(long, env = "TALLY_HEARTBEAT_MS")]
    pub heartbeat_ms: Option<u64>,
    /// Election timeout range in ms, `min,max` [default: 250,500]. A follower that hears no
    /// leader for this long stands for election; failover takes about two of these.
    #[arg(long, env = "TALLY_ELECTION_TIMEOUT_MS", value_delimiter = ',')]
    pub election_timeout_ms: Option<Vec<u64>>,
    /// Build a snapshot after this many log entries [default: 10000].
    #[arg(long, env = "TALLY_SNAPSHOT_EVERY")]
    pub snapshot_every: Option<u64>,
    /// Log entries kept behind a snapshot, so slightly lagging followers catch up from the log
    /// [default: 1000].
    #[arg(long, env = "TALLY_SNAPSHOT_KEEP_LOG")]
    pub snapshot_keep_log: Option<u64>,
    /// Accounts kept in memory, about 200 bytes each when full; emptied when full, so size it
    /// above the number of accounts in use [default: 1048576].
    #[arg(long, env = "TALLY_ACCOUNT_CACHE")]
    pub account_cache: Option<usize>,
    /// PEM certificate chain of this node: with it (and --tls-key) the port speaks only TLS.
    /// The same certificate is this node's client certificate toward its peers, so it needs
    /// the serverAuth and clientAuth key usages and the advertised IP among its names
    /// (`tally certs node` makes one).
    #[arg(long, env = "TALLY_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "TALLY_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificate(s): every client must present a certificate chained to it (or to the
    /// cluster CA). Without it client certificates are optional.
    #[arg(long, env = "TALLY_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// PEM CA certificate(s) of the cluster: peers' certificates must chain to it, and only
    /// connections with such a client certificate may speak Raft [default: --tls-client-ca].
    /// Required with --tls-cert.
    #[arg(long, env = "TALLY_TLS_PEER_CA")]
    pub tls_peer_ca: Option<PathBuf>,
    /// File holding the cluster secret (at least 16 visible ASCII characters, the same on
    /// every node): every Raft call carries it, and a call without it is refused. For
    /// clusters without TLS; `tally certs secret` writes one.
    #[arg(long, env = "TALLY_CLUSTER_SECRET_FILE")]
    pub cluster_secret_file: Option<PathBuf>,
    /// Log line format: `human` (text) or `json` (one object per line) [default: human].
    #[arg(long, env = "TALLY_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Which log lines to write: a filter such as `info,openraft=warn,tally_server=debug`
    /// (a level, then `module=level` overrides) [default: `RUST_LOG`, else `info` with
    /// openraft, h2, tonic, hyper and tower at `warn`].
    #[arg(long, env = "TALLY_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Log a warning with its phases for each request that takes longer than this many ms;
    /// 0 logs none [default: 1000].
    #[arg(long, env = "TALLY_SLOW_REQUEST_MS")]
    pub slow_request_ms: Option<u64>,
    /// Testing only: dial peer ID at HOST:PORT instead of its membership address
    /// (`ID=HOST:PORT`, comma-separated); fault tests route each link through a proxy.
    #[arg(long, env = "TALLY_PEER_VIA", value_delimiter = ',', hide = true)]
    pub peer_via: Option<Vec<String>>,
    /// Testing only: milliseconds added to this node's clock when it stamps entries as leader.
    #[arg(
        long,
        env = "TALLY_CLOCK_OFFSET_MS",
        allow_hyphen_values = true,
        hide = true
    )]
    pub clock_offset_ms: Option<i64>,
    /// Testing only, and unsafe: acknowledge log appends without fsyncing the log, so a power
    /// loss can lose acknowledged writes. Flag only (no variable, no file key); the fault
    /// harness's `--broken skip-log-fsync` uses it to show that it catches such a node.
    #[arg(long, hide = true)]
    pub unsafe_skip_log_fsync: bool,
}

/// The config file's keys (the same as the flags).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    node_id: Option<u64>,
    cluster_id: Option<String>,
    listen: Option<SocketAddr>,
    advertise: Option<String>,
    data_dir: Option<PathBuf>,
    peers: Option<Vec<String>>,
    join: Option<bool>,
    request_timeout_ms: Option<u64>,
    max_queued_events: Option<usize>,
    max_queue_delay_ms: Option<u64>,
    max_concurrent_reads: Option<usize>,
    #[serde(alias = "metrics_addr")]
    http_addr: Option<SocketAddr>,
    ready_max_lag: Option<u64>,
    max_in_flight: Option<usize>,
    heartbeat_ms: Option<u64>,
    election_timeout_ms: Option<Vec<u64>>,
    clock_offset_ms: Option<i64>,
    snapshot_every: Option<u64>,
    snapshot_keep_log: Option<u64>,
    account_cache: Option<usize>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_client_ca: Option<PathBuf>,
    tls_peer_ca: Option<PathBuf>,
    cluster_secret_file: Option<PathBuf>,
    peer_via: Option<Vec<String>>,
    log_format: Option<LogFormat>,
    log_level: Option<String>,
    slow_request_ms: Option<u64>,
}

/// A node's resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// This node's id.
    pub node_id: u64,
    /// The configured cluster id, if any.
    pub cluster_id: Option<u128>,
    /// Listen address.
    pub listen: SocketAddr,
    /// Address others reach this node at.
    pub advertise: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Initial voters (empty: single node, unless `join`).
    pub peers: BTreeMap<u64, String>,
    /// Never create a cluster; wait to be added.
    pub join: bool,
    /// Request deadline cap.
    pub request_timeout: Duration,
    /// Raft heartbeat in ms.
    pub heartbeat_ms: u64,
    /// Raft election timeout range in ms.
    pub election_ms: (u64, u64),
    /// Coalescer tuning (includes the test clock offset).
    pub coalesce: CoalesceOptions,
    /// Admission control of writes and the read limit.
    pub admission: AdmissionOptions,
    /// Where `/healthz`, `/readyz` and `/metrics` are served, if anywhere.
    pub http_addr: Option<SocketAddr>,
    /// Apply lag (entries) beyond which the node is not ready.
    pub ready_max_lag: u64,
    /// Build a snapshot after this many entries.
    pub snapshot_every: u64,
    /// Entries kept in the log behind a snapshot.
    pub snapshot_keep_log: u64,
    /// Accounts the ledger keeps in memory.
    pub account_cache: usize,
    /// Testing only: per-peer dial addresses (see `--peer-via`).
    pub peer_via: BTreeMap<u64, String>,
    /// How often the leader checks for pending transfers due to expire.
    pub pulse_interval: Duration,
    /// Testing only: skip the log's fsync (see `--unsafe-skip-log-fsync`).
    pub unsafe_skip_log_fsync: bool,
    /// TLS files, if the port speaks TLS.
    pub tls: Option<TlsFiles>,
    /// The cluster secret peers must present, if any.
    pub cluster_secret: Option<ClusterSecret>,
    /// Log format and filter.
    pub log: LogOptions,
    /// Requests slower than this are logged with their phases; `None`: not logged.
    pub slow_request: Option<Duration>,
}

/// A configuration error, with the flag or key at fault.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// Parses a u128 in decimal or `0x` hex (or bare 32-digit hex, as `tally.id` writes it).
pub fn parse_u128(s: &str) -> Result<u128, ConfigError> {
    let s = s.trim();
    let r = if let Some(h) = s.strip_prefix("0x") {
        u128::from_str_radix(h, 16)
    } else if s.len() == 32 {
        u128::from_str_radix(s, 16)
    } else {
        s.parse()
    };
    r.map_err(|e| ConfigError(format!("cluster id {s:?}: {e}")))
}

/// Parses `id=host:port` entries.
pub fn parse_peers(list: &[String]) -> Result<BTreeMap<u64, String>, ConfigError> {
    let mut peers = BTreeMap::new();
    for p in list.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let Some((id, addr)) = p.split_once('=') else {
            return err(format!("peer {p:?}: expected id=host:port"));
        };
        let id: u64 = id
            .parse()
            .map_err(|e| ConfigError(format!("peer {p:?}: id: {e}")))?;
        if id == 0 {
            return err(format!("peer {p:?}: node id 0 is reserved"));
        }
        if addr.parse::<SocketAddr>().is_err() {
            return err(format!("peer {p:?}: address must be ip:port"));
        }
        if peers.insert(id, addr.to_string()).is_some() {
            return err(format!("peer id {id} is listed twice"));
        }
    }
    Ok(peers)
}

impl StartArgs {
    /// Resolves flags, environment (already merged into the flags by clap), the config file
    /// and defaults.
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        let file = match &self.config {
            Some(p) => read_file(p)?,
            None => FileConfig::default(),
        };
        let admission = self.admission(&file)?;
        let tls = self.tls(&file)?;
        let cluster_secret = self
            .cluster_secret_file
            .clone()
            .or(file.cluster_secret_file.clone())
            .map(|p| read_secret(&p))
            .transpose()?;
        let log = self.log(&file)?;
        let slow_request = match self
            .slow_request_ms
            .or(file.slow_request_ms)
            .unwrap_or(1000)
        {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        };
        let node_id = self.node_id.or(file.node_id).unwrap_or(1);
        if node_id == 0 {
            return err("node id 0 is reserved");
        }
        let cluster_id = self
            .cluster_id
            .clone()
            .or(file.cluster_id)
            .map(|c| parse_u128(&c))
            .transpose()?;
        if cluster_id == Some(0) {
            return err("cluster id 0 is reserved");
        }
        let peers = parse_peers(&self.peers.clone().or(file.peers).unwrap_or_default())?;
        let own = peers.get(&node_id);
        if !peers.is_empty() && own.is_none() {
            return err(format!("--peers does not list this node ({node_id})"));
        }
        let listen = match (self.listen.or(file.listen), own) {
            (Some(l), _) => l,
            (None, Some(a)) => a
                .parse()
                .map_err(|e| ConfigError(format!("peer address {a}: {e}")))?,
            (None, None) => DEFAULT_LISTEN.parse().expect("valid default"),
        };
        let advertise = self
            .advertise
            .clone()
            .or(file.advertise)
            .or_else(|| own.cloned())
            .unwrap_or_else(|| listen.to_string());
        let data_dir = self
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| Path::new(DEFAULT_DATA_DIR).join(format!("node-{node_id}")));
        let election = self
            .election_timeout_ms
            .clone()
            .or(file.election_timeout_ms)
            .unwrap_or_else(|| vec![250, 500]);
        let election_ms = match election[..] {
            [lo, hi] if lo > 0 && lo < hi => (lo, hi),
            _ => return err("election timeout must be two values min,max with 0 < min < max"),
        };
        let heartbeat_ms = self.heartbeat_ms.or(file.heartbeat_ms).unwrap_or(50);
        if heartbeat_ms == 0 || heartbeat_ms >= election_ms.0 {
            return err("heartbeat must be non-zero and below the election timeout");
        }
        let request_timeout_ms = self
            .request_timeout_ms
            .or(file.request_timeout_ms)
            .unwrap_or(10_000);
        if request_timeout_ms == 0 {
            return err("request timeout must be non-zero");
        }
        let snapshot_every = self
            .snapshot_every
            .or(file.snapshot_every)
            .unwrap_or(10_000);
        let defaults = CoalesceOptions::default();
        if self.max_in_flight.or(file.max_in_flight) == Some(0) {
            return err("max in flight must be at least 1");
        }

        Ok(Config {
            node_id,
            cluster_id,
            listen,
            advertise,
            data_dir,
            peers,
            join: self.join || file.join.unwrap_or(false),
            request_timeout: Duration::from_millis(request_timeout_ms),
            heartbeat_ms,
            election_ms,
            coalesce: CoalesceOptions {
                clock_offset_ms: self.clock_offset_ms.or(file.clock_offset_ms).unwrap_or(0),
                max_in_flight: self
                    .max_in_flight
                    .or(file.max_in_flight)
                    .unwrap_or(defaults.max_in_flight),
                ..defaults
            },
            admission,
            http_addr: self.http_addr.or(file.http_addr),
            ready_max_lag: self.ready_max_lag.or(file.ready_max_lag).unwrap_or(1_000),
            pulse_interval: Duration::from_millis(200),
            peer_via: parse_peers(&self.peer_via.clone().or(file.peer_via).unwrap_or_default())?,
            snapshot_every: snapshot_every.max(1),
            snapshot_keep_log: self
                .snapshot_keep_log
                .or(file.snapshot_keep_log)
                .unwrap_or(1000),
            account_cache: self
                .account_cache
                .or(file.account_cache)
                .unwrap_or(tally_ledger::ACCOUNT_CACHE_DEFAULT),
            unsafe_skip_log_fsync: self.unsafe_skip_log_fsync,
            tls,
            cluster_secret,
            log,
            slow_request,
        })
    }

    /// The TLS files: cert and key together, and a cluster CA (--tls-peer-ca, else
    /// --tls-client-ca) whenever TLS is on. The files are read when the node starts.
    fn tls(&self, file: &FileConfig) -> Result<Option<TlsFiles>, ConfigError> {
        let pick = |flag: &Option<PathBuf>, key: &Option<PathBuf>| flag.clone().or(key.clone());
        let cert = pick(&self.tls_cert, &file.tls_cert);
        let key = pick(&self.tls_key, &file.tls_key);
        let client_ca = pick(&self.tls_client_ca, &file.tls_client_ca);
        let peer_ca = pick(&self.tls_peer_ca, &file.tls_peer_ca);
        let (cert, key) = match (cert, key) {
            (Some(c), Some(k)) => (c, k),
            (None, None) => {
                if client_ca.is_some() || peer_ca.is_some() {
                    return err("--tls-client-ca and --tls-peer-ca need --tls-cert and --tls-key");
                }
                return Ok(None);
            }
            _ => return err("--tls-cert and --tls-key go together"),
        };
        let Some(peer_ca) = peer_ca.or(client_ca.clone()) else {
            return err(
                "TLS needs the cluster CA: --tls-peer-ca (or --tls-client-ca), so that nodes \
                 verify each other",
            );
        };
        Ok(Some(TlsFiles {
            cert,
            key,
            client_ca,
            peer_ca,
        }))
    }
}

fn read_secret(p: &Path) -> Result<ClusterSecret, ConfigError> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| ConfigError(format!("cluster secret file {}: {e}", p.display())))?;
    ClusterSecret::new(&text)
        .map_err(|e| ConfigError(format!("cluster secret file {}: {e}", p.display())))
}

impl StartArgs {
    /// The log options: flags, then the file, then `RUST_LOG` (filter only), then defaults.
    fn log(&self, file: &FileConfig) -> Result<LogOptions, ConfigError> {
        let filter = self
            .log_level
            .clone()
            .or_else(|| file.log_level.clone())
            .or_else(|| {
                std::env::var("RUST_LOG")
                    .ok()
                    .filter(|v| !v.trim().is_empty())
            })
            .unwrap_or_else(|| logging::DEFAULT_FILTER.into());
        logging::check_filter(&filter).map_err(ConfigError)?;
        Ok(LogOptions {
            format: self.log_format.or(file.log_format).unwrap_or_default(),
            filter,
        })
    }

    /// The admission options: flags, then the file, then defaults.
    fn admission(&self, file: &FileConfig) -> Result<AdmissionOptions, ConfigError> {
        let defaults = AdmissionOptions::default();
        let max_queued_events = self
            .max_queued_events
            .or(file.max_queued_events)
            .unwrap_or(defaults.max_queued_events);
        if max_queued_events < tally_ledger::BATCH_MAX {
            return err(format!(
                "max queued events must be at least {} (one full request)",
                tally_ledger::BATCH_MAX
            ));
        }
        let max_concurrent_reads = self
            .max_concurrent_reads
            .or(file.max_concurrent_reads)
            .unwrap_or(defaults.max_concurrent_reads);
        if max_concurrent_reads == 0 {
            return err("max concurrent reads must be at least 1");
        }
        let max_queue_delay = self
            .max_queue_delay_ms
            .or(file.max_queue_delay_ms)
            .map_or(defaults.max_queue_delay, Duration::from_millis);
        Ok(AdmissionOptions {
            max_queue_delay,
            max_queued_events,
            max_concurrent_reads,
        })
    }
}

fn read_file(p: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| ConfigError(format!("config file {}: {e}", p.display())))?;
    toml::from_str(&text).map_err(|e| ConfigError(format!("config file {}: {e}", p.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_a_single_local_node() {
        let c = StartArgs::default().resolve().unwrap();
        assert_eq!(c.node_id, 1);
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.advertise, DEFAULT_LISTEN);
        assert!(c.peers.is_empty());
        assert_eq!(c.data_dir, Path::new("tally-data/node-1"));
        assert_eq!(c.account_cache, tally_ledger::ACCOUNT_CACHE_DEFAULT);
        assert_eq!(c.admission.max_queue_delay, Duration::from_millis(25));
        assert_eq!(c.admission.max_queued_events, 8 * tally_ledger::BATCH_MAX);
        assert_eq!(c.admission.max_concurrent_reads, 256);
    }

    #[test]
    fn peers_give_the_listen_address_and_flags_beat_the_file() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("t.toml");
        std::fs::write(
            &f,
            "node_id = 2\ncluster_id = \"0x2a\"\npeers = [\"1=127.0.0.1:7101\", \"2=127.0.0.1:7102\"]\nheartbeat_ms = 50\naccount_cache = 5000\n",
        )
        .unwrap();
        let args = StartArgs {
            config: Some(f),
            heartbeat_ms: Some(60),
            ..StartArgs::default()
        };
        let c = args.resolve().unwrap();
        assert_eq!(c.node_id, 2);
        assert_eq!(c.account_cache, 5000);
        assert_eq!(c.cluster_id, Some(42));
        assert_eq!(c.listen.to_string(), "127.0.0.1:7102");
        assert_eq!(c.heartbeat_ms, 60);
        assert_eq!(c.peers.len(), 2);
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        let bad = |a: StartArgs| a.resolve().unwrap_err().to_string();
        let peers = |p: &[&str]| Some(p.iter().map(|s| s.to_string()).collect());
        assert!(bad(StartArgs {
            peers: peers(&["2=127.0.0.1:1"]),
            ..Default::default()
        })
        .contains("does not list this node"));
        assert!(bad(StartArgs {
            peers: peers(&["1=localhost"]),
            ..Default::default()
        })
        .contains("ip:port"));
        assert!(bad(StartArgs {
            cluster_id: Some("zz".into()),
            ..Default::default()
        })
        .contains("cluster id"));
        assert!(bad(StartArgs {
            election_timeout_ms: Some(vec![500]),
            ..Default::default()
        })
        .contains("election"));
        assert!(bad(StartArgs {
            max_queued_events: Some(100),
            ..Default::default()
        })
        .contains("at least 8189"));
        assert!(bad(StartArgs {
            max_concurrent_reads: Some(0),
            ..Default::default()
        })
        .contains("reads"));
        assert!(bad(StartArgs {
            log_level: Some("info,openraft=loud".into()),
            ..Default::default()
        })
        .contains("log level"));
    }

    #[test]
    fn log_options_come_from_flags_or_the_file() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("t.toml");
        std::fs::write(
            &f,
            "log_format = \"json\"\nlog_level = \"debug\"\nslow_request_ms = 0\n",
        )
        .unwrap();
        let c = StartArgs {
            config: Some(f.clone()),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.log.filter, "debug");
        assert_eq!(c.slow_request, None);
        let c = StartArgs {
            config: Some(f),
            log_level: Some("warn".into()),
            slow_request_ms: Some(5),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(c.log.filter, "warn");
        assert_eq!(c.slow_request, Some(Duration::from_millis(5)));
    }

    #[test]
    fn tls_flags_go_together_and_need_a_cluster_ca() {
        let p = |s: &str| Some(PathBuf::from(s));
        let bad = |a: StartArgs| a.resolve().unwrap_err().to_string();
        assert!(bad(StartArgs {
            tls_cert: p("n.pem"),
            ..Default::default()
        })
        .contains("go together"));
        assert!(bad(StartArgs {
            tls_cert: p("n.pem"),
            tls_key: p("n.key"),
            ..Default::default()
        })
        .contains("cluster CA"));
        assert!(bad(StartArgs {
            tls_peer_ca: p("ca.pem"),
            ..Default::default()
        })
        .contains("need --tls-cert"));
        let c = StartArgs {
            tls_cert: p("n.pem"),
            tls_key: p("n.key"),
            tls_client_ca: p("clients.pem"),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        let tls = c.tls.unwrap();
        assert_eq!(
            tls.peer_ca,
            PathBuf::from("clients.pem"),
            "defaults to the client CA"
        );
        assert!(StartArgs::default().resolve().unwrap().tls.is_none());
    }

    #[test]
    fn a_short_cluster_secret_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("secret");
        std::fs::write(&f, "short\n").unwrap();
        let e = StartArgs {
            cluster_secret_file: Some(f.clone()),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(e.to_string().contains("at least 16"), "{e}");
        std::fs::write(&f, "0123456789abcdef0123\n").unwrap();
        let c = StartArgs {
            cluster_secret_file: Some(f),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert!(c.cluster_secret.is_some());
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("t.toml");
        std::fs::write(&f, "nodeid = 2\n").unwrap();
        let e = StartArgs {
            config: Some(f),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(e.to_string().contains("nodeid"), "{e}");
    }
}
