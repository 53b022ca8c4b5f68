//! `tally-raft`: Tally's storage and replication layer.
//!
//! It holds [`RocksStore`], the RocksDB implementation of the ledger's storage trait
//! ([`tally_ledger::KvStore`]), and the openraft glue: the type configuration, the Raft log
//! store and the state machine over the ledger. The network joins it here
//! (`docs/internals/replication.md`).
//!
//! # Layout
//!
//! - [`rocks`]: the RocksDB state store: column families, durability modes, flush, checkpoints.
//! - [`types`]: openraft's [`TypeConfig`] and what goes in it: [`Request`] (one ledger command
//!   and the leader's time), [`Response`], [`TallyNode`], [`NodeId`].
//! - [`codec`]: the command's byte layout inside an entry, and postcard for openraft's types.
//! - [`log`]: [`LogStore`], the Raft log on its own RocksDB, with group-commit fsync.
//! - [`state_machine`]: [`LedgerStateMachine`], openraft's state machine over
//!   `Ledger<RocksStore>` without a RocksDB WAL: one ledger write per entry, carrying the applied
//!   log id and membership ([`state_machine::applied`]), so a crash leaves an exact prefix that
//!   the log replays. Snapshots ([`state_machine::snapshot`]) are RocksDB checkpoints in
//!   directories with a checksummed manifest, kept on disk across restarts.
//! - [`net`]: the Raft transport over gRPC (`tally.v1.Raft`): [`net::RaftNetwork`] sends,
//!   [`net::RaftService`] receives; snapshots are streamed file by file, and every call carries
//!   the cluster id ([`NetOptions::cluster_id`]).
//! - [`raft_node`]: [`RaftNode`], a node put together: stores under one data directory, openraft's
//!   [`Raft`] and its gRPC server.
//! - [`stats`]: lock-free counters and histograms the log store and the state machine keep
//!   (fsync and apply latency, snapshots, membership changes), read by the server's metrics.
//! - [`consensus`]: what the server asks of a [`RaftNode`] (propose, read barrier, status,
//!   membership, leadership), with openraft's errors and metrics translated to ours.
//!
//! # Boundary
//!
//! Depends on `tally-ledger` and storage/replication crates; never on the gRPC server or the
//! client. The ledger's key layout is owned by `tally_ledger::keys`, not by this crate; the
//! ledger knows nothing of serde or openraft, so commands are encoded here ([`codec`]).
//! openraft is an exactly pinned alpha: its types (`Entry`, `Vote`, `LogId`, `Raft`) stay inside
//! this crate, and what the server and client see is ours ([`Request`], [`Response`],
//! [`TallyNode`], the ledger's types), so an openraft upgrade is one change here.
//!
//! # Example
//!
//! ```
//! use tally_ledger::{Account, Context, Ledger};
//! use tally_raft::{RocksOptions, RocksStore};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = RocksStore::open(dir.path(), &RocksOptions::default()).unwrap();
//! let mut ledger = Ledger::open(store).unwrap();
//! let a = Account { id: 1, ledger: 1, code: 1, ..Account::default() };
//! ledger.create_accounts(&[a], &Context { timestamp: 1 }).unwrap();
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod codec;
pub mod consensus;
pub mod log;
pub mod net;
pub mod raft_node;
pub mod rocks;
pub mod state_machine;
pub mod stats;
pub mod types;

pub use consensus::{LeaderContact, LeaderHint, Member, NodeStatus, ProposeError, Role};
pub use log::{LogError, LogOptions, LogStore};
pub use net::{ClusterSecret, NetOptions, NodeTls, TlsError, TlsFiles, TlsPeer};
pub use raft_node::{NodeError, NodeOptions, NodeStats, Raft, RaftNode};
pub use rocks::{Durability, RocksFigures, RocksOptions, RocksReader, RocksStore};
pub use state_machine::{LedgerStateMachine, StateMachineOptions, StateReader};
pub use types::{NodeId, Rejection, Request, Response, TallyNode, TypeConfig, WireResults};
