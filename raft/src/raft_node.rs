//! [`RaftNode`]: one node's Raft put together: the log store and the state machine under one
//! data directory, openraft's `Raft`, and the gRPC `Raft` service on a TCP address.
//!
//! Directory layout: `raft-log/` ([`LogStore`]), `state/` and `snapshots/`
//! ([`LedgerStateMachine`]).

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use openraft::errors::{Fatal, InitializeError, RaftError};
use openraft::{Config, ConfigError, SnapshotPolicy};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;

use crate::consensus::LeaderContact;
use crate::log::{LogError, LogFigures, LogOptions, LogStore};
use crate::net::{NetOptions, RaftNetwork, RaftService};
use crate::rocks::RocksFigures;
use crate::state_machine::{LedgerStateMachine, StateMachineOptions, StateReader};
use crate::stats::{LogStats, StateMachineStats};
use crate::types::{NodeId, TallyNode, TypeConfig};

/// openraft's Raft over our state machine.
pub type Raft = openraft::Raft<TypeConfig, LedgerStateMachine>;

/// Options of a node. `tally start` overrides the Raft timings with its own defaults
/// (`docs/internals/replication.md`, "Configuration").
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// The Raft log store's options.
    pub log: LogOptions,
    /// The state machine's options.
    pub sm: StateMachineOptions,
    /// The transport's options.
    pub net: NetOptions,
    /// Leader heartbeat period, in ms.
    pub heartbeat_ms: u64,
    /// A follower starts an election after a random time in `election_ms` without a leader.
    pub election_ms: (u64, u64),
    /// Build a snapshot after this many entries applied since the last one.
    pub snapshot_every: u64,
    /// Entries kept in the log behind a snapshot, so that followers a little behind catch up
    /// from the log rather than a snapshot.
    pub logs_kept_behind_snapshot: u64,
    /// Most entries in one append RPC.
    pub max_payload_entries: u64,
}

impl Default for NodeOptions {
    fn default() -> Self {
        Self {
            log: LogOptions::default(),
            sm: StateMachineOptions::default(),
            net: NetOptions::default(),
            heartbeat_ms: 100,
            election_ms: (500, 1000),
            snapshot_every: 10_000,
            logs_kept_behind_snapshot: 1000,
            max_payload_entries: 64,
        }
    }
}

impl NodeOptions {
    /// openraft's config for these options.
    pub fn raft_config(&self) -> Result<Config, NodeError> {
        let config = Config {
            cluster_name: "tally".into(),
            heartbeat_interval: self.heartbeat_ms,
            election_timeout_min: self.election_ms.0,
            election_timeout_max: self.election_ms.1,
            enable_pre_vote: Some(true),
            // openraft defaults this to true. We persist `committed` and want standard Raft
            // after a restart: replay to `committed`, then a normal election (design §5.4).
            enable_leader_restore: Some(false),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_every),
            max_in_snapshot_log_to_keep: self.logs_kept_behind_snapshot,
            max_payload_entries: self.max_payload_entries,
            ..Config::default()
        };
        Ok(config.validate()?)
    }
}

/// Why a node failed to start, initialize or stop.
///
/// A variant that wraps another error names the step and leaves the cause to
/// [`std::error::Error::source`], so that a chain printed whole (`{:#}` in `anyhow`) says the
/// cause once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// Binding the listen address, or opening the state machine.
    #[error("i/o")]
    Io(#[from] io::Error),
    /// Opening the Raft log store.
    #[error("log store")]
    Log(#[from] LogError),
    /// The Raft options are invalid.
    #[error("raft config")]
    Config(#[from] ConfigError),
    /// openraft stopped (on start, or while serving a call).
    #[error("raft")]
    Fatal(#[from] Fatal<TypeConfig>),
    /// `initialize` was refused (for example, the node is already part of a cluster).
    #[error("initialize")]
    Initialize(#[from] RaftError<TypeConfig, InitializeError<TypeConfig>>),
    /// A Raft task panicked while shutting down.
    #[error("shutdown: {0}")]
    Shutdown(String),
}

/// How many streams a connection may hold that the caller reset before the server took them.
/// A caller that gives up (its deadline passes, it cancels) resets its stream; under overload
/// the server takes new streams late, so a burst of callers giving up leaves many reset streams
/// waiting at once. Past this bound HTTP/2's protection against rapid resets ends the whole
/// connection (GOAWAY `ENHANCE_YOUR_CALM`) and every other call on it fails without an answer;
/// the library's default, 20, is reached by ordinary clients of an overloaded node. Each
/// waiting stream costs a few hundred bytes, so the bound still caps a connection's memory.
const PENDING_RESET_STREAMS_MAX: usize = 8_192;

/// The figures a node's stores count as they work ([`RaftNode::stats`]).
#[derive(Debug, Clone)]
pub struct NodeStats {
    /// The Raft log store's.
    pub log: Arc<LogStats>,
    /// The state machine's.
    pub state_machine: Arc<StateMachineStats>,
}

/// One running node: its Raft and its gRPC server. Stop it with [`RaftNode::shutdown`].
#[derive(Debug)]
pub struct RaftNode {
    id: NodeId,
    addr: SocketAddr,
    raft: Raft,
    state: StateReader,
    net: NetOptions,
    /// The bound listener until [`RaftNode::serve`] takes it.
    listener: Mutex<Option<TcpListener>>,
    /// When this node last accepted an append from a leader.
    contact: Arc<LeaderContact>,
    /// The stores' figures for monitoring.
    stats: NodeStats,
    /// Reads the log database's RocksDB figures without keeping it open.
    log_figures: LogFigures,
    server: Mutex<Option<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

impl RaftNode {
    /// Opens the stores under `data_dir` (creating them if missing), starts Raft as node `id`
    /// and serves the Raft service on `listen` (port 0 picks a free port; see
    /// [`RaftNode::addr`]).
    pub async fn start(
        id: NodeId,
        data_dir: &Path,
        listen: SocketAddr,
        opts: &NodeOptions,
    ) -> Result<Self, NodeError> {
        let listener = TcpListener::bind(listen).await?;
        let node = Self::open(id, data_dir, listener, opts).await?;
        node.serve(Routes::default());
        Ok(node)
    }

    /// Like [`RaftNode::start`] on an already bound `listener`, but serves nothing yet: call
    /// [`RaftNode::serve`] with the other services that share the node's address (the server
    /// puts the Ledger and Admin services there). Outgoing Raft traffic works meanwhile.
    pub async fn open(
        id: NodeId,
        data_dir: &Path,
        listener: TcpListener,
        opts: &NodeOptions,
    ) -> Result<Self, NodeError> {
        let config = Arc::new(opts.raft_config()?);
        let addr = listener.local_addr()?;
        let log_opts = opts.log.clone().staggered(id);
        let log = while_closing(|| LogStore::open(data_dir.join("raft-log"), &log_opts)).await?;
        // One cluster id for the wire and the snapshots' manifests: the transport's.
        let sm_opts = StateMachineOptions {
            cluster_id: opts.net.cluster_id,
            rocks: opts.sm.rocks.clone().staggered(id),
            ..opts.sm.clone()
        };
        let sm = while_closing(|| LedgerStateMachine::open(data_dir, &sm_opts)).await?;
        let state = sm.reader();
        let stats = NodeStats {
            log: log.stats(),
            state_machine: sm.stats(),
        };
        let log_figures = log.figures_handle();
        let network = RaftNetwork::new(id, opts.net.clone());
        let raft = Raft::new(id, config, network, log, sm).await?;
        Ok(Self {
            id,
            addr,
            raft,
            state,
            net: opts.net.clone(),
            listener: Mutex::new(Some(listener)),
            contact: Arc::default(),
            stats,
            log_figures,
            server: Mutex::new(None),
        })
    }

    /// Serves `routes` plus the Raft service on the node's listener, until
    /// [`RaftNode::shutdown`]. Does nothing if the node already serves.
    pub fn serve(&self, routes: Routes) {
        let Some(listener) = lock(&self.listener).take() else {
            return;
        };
        let id = self.id;
        let raft = RaftService::new(self.raft.clone(), self.net.clone())
            .with_contact(self.contact.clone())
            .into_server();
        let routes = routes.add_service(raft);
        let (stop, stopped) = oneshot::channel::<()>();
        let tls = self.net.tls.clone();
        let server = tokio::spawn(async move {
            let stopped = async {
                let _ = stopped.await;
            };
            let server = Server::builder()
                .http2_max_pending_accept_reset_streams(Some(PENDING_RESET_STREAMS_MAX))
                .add_routes(routes);
            let r = match tls {
                Some(tls) => {
                    let incoming = crate::net::tls::incoming(listener, tls);
                    server.serve_with_incoming_shutdown(incoming, stopped).await
                }
                None => {
                    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                    server.serve_with_incoming_shutdown(incoming, stopped).await
                }
            };
            if let Err(e) = r {
                tracing::error!(node = id, "gRPC server failed: {e}");
            }
        });
        *lock(&self.server) = Some((stop, server));
    }

    /// When this node last accepted an append from a leader.
    pub(crate) fn contact(&self) -> &LeaderContact {
        &self.contact
    }

    /// The figures the log store and the state machine count, for monitoring.
    pub fn stats(&self) -> &NodeStats {
        &self.stats
    }

    /// RocksDB's figures for each column family of the state store and the log store, read
    /// now (in-memory properties; cheap enough for every metrics scrape).
    pub fn rocks_figures(&self) -> Vec<RocksFigures> {
        let mut v = self.state.rocks_figures();
        v.extend(self.log_figures.figures());
        v
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The address the Raft service listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// This node as a cluster member.
    pub fn node(&self) -> TallyNode {
        TallyNode {
            addr: self.addr.to_string(),
        }
    }

    /// openraft's handle (client writes, metrics, membership).
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// Reads of the local state machine.
    pub fn state(&self) -> &StateReader {
        &self.state
    }

    /// Whether the node has Raft state (a log or a vote): false only before it first joins or
    /// creates a cluster.
    pub async fn is_initialized(&self) -> Result<bool, NodeError> {
        Ok(self.raft.is_initialized().await?)
    }

    /// Bootstraps a new cluster with `members` as its voters. Call it on one node only, once;
    /// it fails on a node that already has a log or a vote.
    pub async fn initialize(&self, members: BTreeMap<NodeId, TallyNode>) -> Result<(), NodeError> {
        Ok(self.raft.initialize(members).await?)
    }

    /// Stops the gRPC server (peers then see this node as unreachable), then Raft. The stores
    /// close when the last handle on this node is dropped.
    pub async fn shutdown(&self) -> Result<(), NodeError> {
        self.stop_serving().await;
        self.raft
            .shutdown()
            .await
            .map_err(|e| NodeError::Shutdown(e.to_string()))
    }

    /// Stops the gRPC server: open calls get up to 5 s to finish. Raft keeps running (its
    /// outgoing traffic still works) until [`RaftNode::shutdown`].
    pub async fn stop_serving(&self) {
        lock(&self.listener).take();
        let server = lock(&self.server).take();
        if let Some((stop, mut server)) = server {
            let _ = stop.send(());
            // A graceful HTTP/2 shutdown waits for the open calls; do not wait forever.
            if tokio::time::timeout(Duration::from_secs(5), &mut server)
                .await
                .is_err()
            {
                server.abort();
                let _ = server.await;
            }
        }
    }
}

/// How long [`RaftNode::open`] waits for an earlier node of this process on the same data dir
/// to finish closing its stores.
const CLOSING_WAIT: Duration = Duration::from_secs(5);

/// Runs `open` until it succeeds, fails for another reason, or [`CLOSING_WAIT`] has passed,
/// while it fails only because this process still holds the database's lock. A node stopped
/// in this process (a restart in tests or in an embedding program) releases its stores when
/// openraft's last task holding them is dropped, which can be a moment after
/// [`RaftNode::shutdown`] returns; reopening at once then failed with RocksDB's "lock hold by
/// current process". Another process's lock is not waited for.
async fn while_closing<T, E: std::fmt::Display>(
    mut open: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let until = tokio::time::Instant::now() + CLOSING_WAIT;
    loop {
        match open() {
            Err(e)
                if e.to_string().contains("lock hold by current process")
                    && tokio::time::Instant::now() < until =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            r => return r,
        }
    }
}

/// Locks `m`; these mutexes guard plain handles, so a poisoned one is still consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (a flaky restart in `snapshot_transfer.rs`): reopening a data dir whose
    /// stores an earlier node of this process is still closing waits for them instead of
    /// failing with "lock hold by current process".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restart_in_process_waits_for_the_stores_still_closing() {
        let dir = tempfile::tempdir().unwrap();
        let held = LogStore::open(dir.path().join("raft-log"), &LogOptions::default()).unwrap();
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            drop(held);
        });
        let localhost: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let node = RaftNode::start(1, dir.path(), localhost, &NodeOptions::default())
            .await
            .expect("opens once the earlier store is closed");
        release.await.unwrap();
        node.shutdown().await.unwrap();
    }
}
