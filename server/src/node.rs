//! A running Tally node: the data dir's identity checked, Raft opened, the Ledger, Admin and
//! Raft services on one address, the coalescer, the expiry pulse, bootstrap of a new cluster,
//! and graceful shutdown.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tally_ledger::query;
use tally_raft::{NodeError, NodeOptions, NodeTls, RaftNode, Role, TallyNode, TlsError};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::service::Routes;

use crate::admission::{Admission, ReadLimit};
use crate::coalesce::{leader_time_ns, Coalescer};
use crate::config::Config;
use crate::health;
use crate::identity::{self, Identity, IdentityError};
use crate::metrics::{self, collect::NodeCollector, Metrics};
use crate::service::admin::AdminService;
use crate::service::ledger::LedgerService;
use crate::service::Ctx;

/// Why a node failed to start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The data directory belongs elsewhere or cannot be used.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Binding the listen address failed.
    #[error("listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Raft failed to open or to create the cluster.
    #[error(transparent)]
    Raft(#[from] NodeError),
    /// The TLS files did not load.
    #[error("TLS")]
    Tls(#[from] TlsError),
    /// Starting would be unsafe; the message says why and what to do.
    #[error("refusing to start: {0}")]
    Refused(String),
}

/// A running node. Stop it with [`Node::shutdown`].
#[derive(Debug)]
pub struct Node {
    raft: Arc<RaftNode>,
    identity: Identity,
    addr: SocketAddr,
    /// Where `/healthz`, `/readyz` and `/metrics` are served, if anywhere.
    http_addr: Option<SocketAddr>,
    /// The port's TLS configuration, if it speaks TLS.
    tls: Option<Arc<NodeTls>>,
    tasks: Vec<JoinHandle<()>>,
}

/// How often a node with TLS checks its certificate, key and CA files for changes.
const TLS_POLL: Duration = Duration::from_secs(2);

impl Node {
    /// Starts a node as configured: checks (or creates) the data dir's identity, opens Raft,
    /// serves the Ledger, Admin and Raft services on `config.listen`, and creates the cluster if
    /// this node is the one to do it (see [`Node::bootstrap`]).
    pub async fn start(config: &Config) -> Result<Self, StartError> {
        let single = config.peers.is_empty() && !config.join;
        let tls = match &config.tls {
            Some(files) => Some(Arc::new(NodeTls::load(files.clone())?)),
            None => None,
        };
        let (identity, _new) =
            identity::check_or_create(&config.data_dir, config.node_id, config.cluster_id, single)?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let http = match config.http_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Bind { addr, source })?,
            ),
            None => None,
        };
        let mut opts = node_options(config);
        // Every Raft call and snapshot carries the cluster id; peers of another cluster are
        // refused (FAILED_PRECONDITION) and their snapshots never installed.
        opts.net.cluster_id = identity.cluster_id;
        opts.net.tls = tls.clone();
        opts.net.cluster_secret = config.cluster_secret.clone();
        let raft =
            Arc::new(RaftNode::open(config.node_id, &config.data_dir, listener, &opts).await?);
        let admission = Admission::new(&config.admission);
        let metrics = Arc::new(Metrics::default());
        let (coalescer, coalesce_task) = Coalescer::start(
            raft.clone(),
            config.coalesce.clone(),
            admission.clone(),
            metrics.clone(),
        );
        let ctx = Ctx {
            node: raft.clone(),
            coalescer,
            reads: ReadLimit::new(config.admission.max_concurrent_reads),
            request_timeout: config.request_timeout,
            metrics: metrics.clone(),
            slow_request: config.slow_request,
        };
        let registry = Arc::new(metrics::registry(NodeCollector {
            raft: raft.clone(),
            metrics,
            admission,
            reads: ctx.reads.clone(),
            ready: ready_rule(config),
            data_dir: config.data_dir.clone(),
        }));
        let (reporter, health) = tonic_health::server::health_reporter();
        let routes = Routes::new(LedgerService::new(ctx.clone()).into_server())
            .add_service(AdminService::new(ctx).into_server())
            .add_service(health);
        raft.serve(routes);
        let pulse = tokio::spawn(pulse(raft.clone(), config.clone()));
        let mut tasks = vec![
            coalesce_task,
            pulse,
            health::track(raft.clone(), reporter, ready_rule(config)),
        ];
        if let Some(tls) = &tls {
            tasks.push(tokio::spawn(watch_tls(tls.clone())));
        }
        let http_addr = http.as_ref().and_then(|l| l.local_addr().ok());
        if let Some(http) = http {
            tasks.push(health::serve_http(
                http,
                raft.clone(),
                ready_rule(config),
                registry,
            ));
        }
        let node = Self {
            raft,
            identity,
            addr,
            http_addr,
            tls,
            tasks,
        };
        if let Err(e) = node.bootstrap(config).await {
            let _ = node.halt().await;
            return Err(e);
        }
        Ok(node)
    }

    /// Creates the cluster on its first start if this node is the one to: a single node
    /// (no `peers`, no `join`) creates a cluster of itself; with `peers`, the peer with the
    /// lowest id creates a cluster of all of them. A node that already has Raft state, or
    /// runs with `join`, does nothing.
    async fn bootstrap(&self, config: &Config) -> Result<(), StartError> {
        if config.join || self.raft.is_initialized().await? {
            return Ok(());
        }
        let members: BTreeMap<u64, TallyNode> = if config.peers.is_empty() {
            let addr = if config.listen.port() == 0 {
                self.addr.to_string()
            } else {
                config.advertise.clone()
            };
            BTreeMap::from([(config.node_id, TallyNode { addr })])
        } else if config.peers.keys().next() == Some(&config.node_id) {
            if let Some((id, addr)) = clustered_peer(config).await {
                return Err(StartError::Refused(format!(
                    "this node's data dir is empty, but peer {id} ({addr}) already belongs to \
                     the cluster: a wiped voter must not create the cluster again. Start it \
                     with --join and a new node id, then add it (docs/operating.md, \
                     'Replacing a node')"
                )));
            }
            config
                .peers
                .iter()
                .map(|(id, a)| (*id, TallyNode { addr: a.clone() }))
                .collect()
        } else {
            return Ok(());
        };
        self.raft.initialize(members).await?;
        Ok(())
    }

    /// The address the node serves on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address `/healthz`, `/readyz` and `/metrics` are served on, if `--http-addr`
    /// (alias `--metrics-addr`) was given.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Reads the TLS certificate, key and CA files again; new connections use them. On an
    /// error the current ones stay. `Ok(false)`: the node has no TLS. The node also reloads
    /// by itself when the files change (checked every 2 s).
    pub fn reload_tls(&self) -> Result<bool, TlsError> {
        match &self.tls {
            Some(tls) => tls.reload().map(|()| true),
            None => Ok(false),
        }
    }

    /// The data dir's identity.
    pub fn identity(&self) -> Identity {
        self.identity
    }

    /// Waits until Raft fails by itself (a storage failure or a panic) and returns why; see
    /// [`RaftNode::failure`]. `tally start` exits on it.
    pub async fn failure(&self) -> String {
        self.raft.failure().await
    }

    /// The Raft node.
    pub fn raft(&self) -> &Arc<RaftNode> {
        &self.raft
    }

    /// Stops the node gracefully: a leader first hands leadership to a caught-up voter (so
    /// the cluster keeps a leader), then the services stop taking requests and finish the open
    /// ones (up to 5 s), then Raft stops and the state is flushed, so a restart replays little.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        handover(&self.raft).await;
        self.raft.stop_serving().await;
        stop_tasks(self.tasks).await;
        self.raft.shutdown().await?;
        let _ = self
            .raft
            .state()
            .with_ledger(|l| l.store().flush().map_err(|e| e.to_string()));
        Ok(())
    }
}

impl Node {
    /// Stops the node the way a crash looks to its peers: no leadership handover, no flush.
    /// For tests and fault injection in one process; `kill -9` of the binary is the real thing.
    pub async fn halt(self) -> Result<(), NodeError> {
        self.raft.stop_serving().await;
        stop_tasks(self.tasks).await;
        self.raft.shutdown().await
    }
}

/// When the node counts as ready (`crate::health`): word from a leader within twice the
/// longest election timeout, the apply lag within `--ready-max-lag`.
fn ready_rule(config: &Config) -> health::ReadyRule {
    health::ReadyRule {
        max_lag: config.ready_max_lag,
        max_silence: Duration::from_millis(2 * config.election_ms.1),
    }
}

/// Reloads `tls` whenever its files change; a reload that fails is logged and the current
/// configuration kept.
async fn watch_tls(tls: Arc<NodeTls>) {
    let mut tick = tokio::time::interval(TLS_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match tls.reload_if_changed() {
            Ok(true) => eprintln!("tally: TLS files changed: reloaded"),
            Ok(false) => {}
            Err(e) => {
                eprintln!("tally: TLS files changed but do not load, keeping the current ones: {e}")
            }
        }
    }
}

/// How this node speaks to its peers' client API: TLS with its own certificate and the
/// cluster CA when it has TLS.
fn peer_client_tls(config: &Config) -> Option<tally_client::TlsOptions> {
    let f = config.tls.as_ref()?;
    tally_client::TlsOptions::from_ca_file(&f.peer_ca)
        .and_then(|t| t.with_client_files(&f.cert, &f.key))
        .ok()
}

/// A peer of `config` that already has a Raft log (so the cluster exists), if any answers.
async fn clustered_peer(config: &Config) -> Option<(u64, String)> {
    let tls = peer_client_tls(config);
    for (id, addr) in config.peers.iter().filter(|(id, _)| **id != config.node_id) {
        let status =
            tally_client::node_status_with(addr, Duration::from_millis(500), tls.as_ref()).await;
        if let Ok(s) = status {
            if s.last_log_index.is_some() {
                return Some((*id, addr.clone()));
            }
        }
    }
    None
}

/// Aborts `tasks` and waits until they are gone, so the handles on the node they hold are
/// dropped (the stores close with the last one).
async fn stop_tasks(tasks: Vec<JoinHandle<()>>) {
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// The Raft options for `config`.
fn node_options(config: &Config) -> NodeOptions {
    let mut opts = NodeOptions {
        heartbeat_ms: config.heartbeat_ms,
        election_ms: config.election_ms,
        snapshot_every: config.snapshot_every,
        logs_kept_behind_snapshot: config.snapshot_keep_log,
        ..NodeOptions::default()
    };
    opts.net.peer_via = config.peer_via.clone();
    opts.sm.account_cache = config.account_cache;
    opts.log.unsafe_skip_fsync = config.unsafe_skip_log_fsync;
    opts
}

/// If this node leads and another voter is caught up, hands leadership to it and waits (up to
/// about one election timeout) for it to take over.
async fn handover(raft: &RaftNode) {
    let s = raft.status();
    if s.role != Role::Leader {
        return;
    }
    let target = s
        .members
        .iter()
        .filter(|m| m.voter && m.id != s.id)
        .find(|m| s.replication.get(&m.id).copied().flatten() >= s.last_log_index);
    let Some(t) = target else { return };
    if raft.transfer_leader(t.id).await.is_err() {
        return;
    }
    let until = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < until {
        if raft.status().leader.is_some_and(|l| l != s.id) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// On the leader, proposes a pulse whenever a pending transfer's timeout has passed, so
/// reservations are released even when no other command arrives to run the expiry.
async fn pulse(raft: Arc<RaftNode>, config: Config) {
    let mut tick = tokio::time::interval(config.pulse_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !raft.is_leader() {
            continue;
        }
        let reader = raft.state().clone();
        let next = tokio::task::spawn_blocking(move || reader.read(query::next_expiry)).await;
        let now = leader_time_ns(config.coalesce.clock_offset_ms);
        let due = matches!(next, Ok(Ok(Ok(Some(at)))) if at <= now);
        if due {
            // A failure (lost leadership) is retried on the next tick by whoever leads.
            let _ = raft
                .propose(now, &tally_ledger::Command::Pulse, Duration::ZERO)
                .await;
        }
    }
}
