//! The Raft transport: openraft's network over gRPC (`tally.v1.Raft`, `raft.proto`).
//!
//! - [`client`]: [`RaftNetwork`], openraft's `RaftNetworkFactory`, and [`PeerClient`], its
//!   `RaftNetworkV2`: one lazily connected tonic `Channel` per peer and lane (appends,
//!   heartbeats, snapshots), reused for every RPC; every RPC has a deadline.
//! - [`server`]: [`RaftService`], the gRPC service that hands requests to the local
//!   `openraft::Raft`.
//!
//! # Wire format
//!
//! The protobuf messages carry opaque bytes: postcard ([`crate::codec::to_bytes`]) of openraft's
//! request types, and of `Result<response, String>` for the answers, where `Err` is the text of
//! the receiver's Raft error (it only ever reports that the receiver's Raft has stopped). A
//! snapshot goes as a run of `InstallSnapshot` calls of at most
//! [`NetOptions::snapshot_chunk_bytes`] each; the first and every later chunk carries the
//! postcard of `(vote, snapshot meta)`. Both ends must run the same Tally version.

pub mod client;
pub mod server;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use client::{PeerClient, RaftNetwork};
pub use server::RaftService;

use crate::codec;
use crate::types::NodeId;

/// Options of the Raft transport, shared by both ends.
#[derive(Debug, Clone)]
pub struct NetOptions {
    /// Floor of every append/vote/pre-vote/transfer deadline. openraft's hint
    /// (`RPCOption::hard_ttl`) for an append is the heartbeat interval, too tight for a
    /// megabyte of entries on a loaded machine; the deadline used is the larger of the two.
    pub rpc_timeout: Duration,
    /// How long to wait for a TCP connection to a peer before the RPC fails as unreachable.
    pub connect_timeout: Duration,
    /// Largest gRPC message either end sends or accepts. tonic's default decode limit is
    /// 4 MiB; one append carries up to `max_payload_entries` commands of up to about 1 MiB each
    /// (8189 transfers of 128 bytes), so the default is 128 MiB.
    pub max_message_bytes: usize,
    /// Bytes of snapshot data per `InstallSnapshot` call.
    pub snapshot_chunk_bytes: usize,
    /// Slowest snapshot transfer accepted, in bytes per second: a chunk's deadline is
    /// `rpc_timeout + chunk / min_snapshot_bytes_per_sec`, and the last chunk's also covers the
    /// install on the receiver.
    pub min_snapshot_bytes_per_sec: u64,
    /// Extra time the last chunk gets for the receiver to unpack and install the snapshot.
    pub snapshot_install_timeout: Duration,
    /// Largest snapshot the receiver buffers (the whole snapshot is held in memory until the
    /// snapshots on disk of the design's §4.6 replace the interim archive).
    pub max_snapshot_bytes: u64,
    /// Addresses that replace a peer's membership address when this node dials it: a
    /// fault-injection harness routes each directed link through its own proxy this way (the
    /// membership holds one address per node, so it cannot express per-link routes). Empty in
    /// production.
    pub peer_via: BTreeMap<NodeId, String>,
}

impl Default for NetOptions {
    fn default() -> Self {
        Self {
            rpc_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_millis(500),
            max_message_bytes: 128 << 20,
            snapshot_chunk_bytes: 1 << 20,
            min_snapshot_bytes_per_sec: 1 << 20,
            snapshot_install_timeout: Duration::from_secs(60),
            max_snapshot_bytes: 1 << 30,
            peer_via: BTreeMap::new(),
        }
    }
}

/// What one side of the wire failed to encode or decode.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub(crate) struct WireError {
    /// The message that failed.
    what: &'static str,
    /// Why.
    source: codec::CodecError,
}

pub(crate) fn encode<T: Serialize>(what: &'static str, v: &T) -> Result<Vec<u8>, WireError> {
    codec::to_bytes(v).map_err(|source| WireError { what, source })
}

pub(crate) fn decode<T: DeserializeOwned>(what: &'static str, b: &[u8]) -> Result<T, WireError> {
    codec::from_bytes(b).map_err(|source| WireError { what, source })
}
