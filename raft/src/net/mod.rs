//! The Raft transport: openraft's network over gRPC (`tally.v1.Raft`, `raft.proto`).
//!
//! - [`client`]: [`RaftNetwork`], openraft's `RaftNetworkFactory`, and [`PeerClient`], its
//!   `RaftNetworkV2`: one lazily connected tonic `Channel` per peer and lane (appends,
//!   heartbeats, snapshots), reused for every RPC; every RPC has a deadline.
//! - [`server`]: [`RaftService`], the gRPC service that hands requests to the local
//!   `openraft::Raft`.
//! - `snapshot`: the snapshot stream, both ends.
//! - [`tls`]: TLS on the node port and mutual TLS between peers, reloadable.
//!
//! # Wire format
//!
//! The protobuf messages carry opaque bytes: postcard ([`crate::codec::to_bytes`]) of openraft's
//! request types, and of `Result<response, String>` for the answers, where `Err` is the text of
//! the receiver's Raft error (it only ever reports that the receiver's Raft has stopped). A
//! snapshot goes as one client-streaming `InstallSnapshot` call: a header (vote, the snapshot's
//! manifest, cluster id), then its files read from disk in chunks of at most
//! [`NetOptions::snapshot_chunk_bytes`]; the receiver checks every file's size and BLAKE3 sum
//! before it installs anything. Both ends must run the same Tally version.
//!
//! # Cluster id
//!
//! Every call carries the sender's [`NetOptions::cluster_id`] in the metadata entry
//! [`CLUSTER_ID_KEY`] (32 lowercase hex digits). The service refuses a call without it, or with
//! another cluster's, with `FAILED_PRECONDITION` naming the sender's id and never its own (the
//! id is all a stranger on the peer port would need to pass the check); the sender reports that as
//! unreachable, so openraft backs off instead of retrying in a loop. A node of another cluster
//! (a data directory reused, an address reassigned) thus never takes part, and never receives
//! or installs a snapshot that is not its cluster's (openraft panics on an inconsistent one).
//! The cluster id is not a credential: it is in every node's configuration and on the wire.
//!
//! # Peer authentication
//!
//! Before the cluster id, the service checks that the caller is a peer, and refuses the call
//! otherwise, whatever the RPC:
//!
//! - With TLS ([`NetOptions::tls`]), the connection must have presented a certificate that
//!   chains to the cluster CA: without one the answer is `UNAUTHENTICATED`, with one from
//!   another CA that the port accepts (a client CA) `PERMISSION_DENIED`. A certificate that
//!   chains to no configured CA does not get past the TLS handshake.
//! - With a cluster secret ([`NetOptions::cluster_secret`]), the call must carry it in
//!   [`CLUSTER_SECRET_KEY`]; it is compared in constant time, and a missing or different one
//!   is `UNAUTHENTICATED`. Every node sends its own secret on every call.
//!
//! With neither, any client that reaches the port can speak Raft: the port must then be
//! reachable only by the cluster's nodes. The sender reports an authentication refusal as
//! unreachable, like a cluster id mismatch.

pub mod client;
pub mod server;
mod snapshot;
pub mod tls;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::Status;

pub use client::{PeerClient, RaftNetwork};
pub use server::RaftService;
pub use tls::{NodeTls, TlsError, TlsFiles, TlsPeer};

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
    /// Largest `data` of one snapshot stream message.
    pub snapshot_chunk_bytes: usize,
    /// Slowest snapshot transfer accepted, in bytes per second: a snapshot stream's deadline is
    /// `rpc_timeout + size / min_snapshot_bytes_per_sec + snapshot_install_timeout`.
    pub min_snapshot_bytes_per_sec: u64,
    /// Extra time a snapshot stream gets for the receiver to fsync, check and install it.
    pub snapshot_install_timeout: Duration,
    /// Largest snapshot the receiver accepts, in bytes on disk as its manifest declares: a
    /// sanity limit against a bogus manifest filling the disk (nothing is held in memory).
    pub max_snapshot_bytes: u64,
    /// Addresses that replace a peer's membership address when this node dials it: a
    /// fault-injection harness routes each directed link through its own proxy this way (the
    /// membership holds one address per node, so it cannot express per-link routes). Empty in
    /// production.
    pub peer_via: BTreeMap<NodeId, String>,
    /// The cluster this node belongs to, sent with every Raft call and required of every call
    /// and snapshot received (see the module docs). Pick a random value when the cluster is
    /// created and keep it with every node's configuration. The default, 0, is for tests only.
    pub cluster_id: u128,
    /// TLS on the node port and toward peers; peers authenticate with certificates from the
    /// cluster CA (see the module docs). `None`: plaintext.
    pub tls: Option<Arc<NodeTls>>,
    /// The secret every Raft call must carry (see the module docs). `None`: none required.
    pub cluster_secret: Option<ClusterSecret>,
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
            max_snapshot_bytes: 1 << 40,
            peer_via: BTreeMap::new(),
            cluster_id: 0,
            tls: None,
            cluster_secret: None,
        }
    }
}

/// The metadata entry that carries the sender's cluster id on every Raft call.
pub const CLUSTER_ID_KEY: &str = "tally-cluster-id";

/// The metadata entry that carries the cluster secret on every Raft call.
pub const CLUSTER_SECRET_KEY: &str = "tally-cluster-secret";

/// A cluster's shared secret: the same on every node, sent on every Raft call and required of
/// every call received. Its `Debug` never shows it.
#[derive(Clone)]
pub struct ClusterSecret {
    value: tonic::metadata::AsciiMetadataValue,
    /// BLAKE3 of the secret: comparing two `blake3::Hash`es takes the same time wherever they
    /// differ, and hashing first makes the time independent of the length presented.
    hash: blake3::Hash,
}

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

impl ClusterSecret {
    /// The shortest secret accepted, in bytes.
    pub const MIN_LEN: usize = 16;

    /// A secret from its text: at least [`ClusterSecret::MIN_LEN`] visible ASCII characters
    /// (no spaces), as `tally certs secret` writes. Surrounding whitespace is ignored.
    pub fn new(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.len() < Self::MIN_LEN {
            return Err(format!(
                "the cluster secret must be at least {} characters",
                Self::MIN_LEN
            ));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the cluster secret must be visible ASCII without spaces".into());
        }
        let value = text
            .parse()
            .map_err(|_| "the cluster secret is not valid metadata".to_string())?;
        Ok(Self {
            value,
            hash: blake3::hash(text.as_bytes()),
        })
    }

    /// Whether `md` carries this secret.
    fn matches(&self, md: &MetadataMap) -> bool {
        md.get(CLUSTER_SECRET_KEY)
            .is_some_and(|v| blake3::hash(v.as_bytes()) == self.hash)
    }
}

/// Checks that a received Raft call comes from a peer (module docs, "Peer authentication").
pub(crate) fn check_peer<T>(request: &tonic::Request<T>, opts: &NetOptions) -> Result<(), Status> {
    if opts.tls.is_some() {
        match request.extensions().get::<TlsPeer>() {
            Some(p) if p.cluster_peer => {}
            Some(p) if p.certificates.is_some() => {
                return Err(Status::permission_denied(
                    "the Raft service serves only cluster peers: this connection's client \
                     certificate does not chain to the cluster CA (--tls-peer-ca)",
                ))
            }
            _ => {
                return Err(Status::unauthenticated(
                    "the Raft service serves only cluster peers: present a client certificate \
                     from the cluster CA (--tls-peer-ca)",
                ))
            }
        }
    }
    if let Some(secret) = &opts.cluster_secret {
        if !secret.matches(request.metadata()) {
            return Err(Status::unauthenticated(format!(
                "the Raft service serves only cluster peers: missing or wrong {CLUSTER_SECRET_KEY}"
            )));
        }
    }
    Ok(())
}

/// A cluster id as it goes in [`CLUSTER_ID_KEY`]: 32 lowercase hex digits.
pub(crate) fn cluster_id_value(id: u128) -> AsciiMetadataValue {
    format!("{id:032x}")
        .parse()
        .expect("hex digits are valid metadata")
}

/// Parses [`cluster_id_value`]'s form, and nothing else (no uppercase, no short forms).
fn parse_cluster_id(s: &str) -> Option<u128> {
    let hex = s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    hex.then(|| u128::from_str_radix(s, 16).ok()).flatten()
}

/// The refusal of a call or snapshot from cluster `theirs`. It never names this node's own
/// cluster id: the id is what a stranger on the peer port would need to get past this check.
pub(crate) fn cluster_mismatch(theirs: u128) -> Status {
    Status::failed_precondition(format!(
        "cluster id mismatch: the sender is in cluster {theirs:032x}, which is not this node's"
    ))
}

/// Checks a received call's [`CLUSTER_ID_KEY`] against ours (`ours` never goes into the answer).
pub(crate) fn check_cluster_id(md: &MetadataMap, ours: u128) -> Result<(), Status> {
    let Some(v) = md.get(CLUSTER_ID_KEY) else {
        return Err(Status::failed_precondition(format!(
            "the call carries no {CLUSTER_ID_KEY}"
        )));
    };
    match v.to_str().ok().and_then(parse_cluster_id) {
        Some(theirs) if theirs == ours => Ok(()),
        Some(theirs) => Err(cluster_mismatch(theirs)),
        None => Err(Status::failed_precondition(format!(
            "malformed {CLUSTER_ID_KEY} (32 lowercase hex digits expected)"
        ))),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_secret_matches_only_itself() {
        assert!(ClusterSecret::new("too-short").is_err());
        assert!(ClusterSecret::new("0123456789abcdef with spaces").is_err());
        let s = ClusterSecret::new("  0123456789abcdef\n").unwrap();
        assert_eq!(format!("{s:?}"), "ClusterSecret(..)");
        let with = |v: &str| {
            let mut md = MetadataMap::new();
            md.insert(CLUSTER_SECRET_KEY, v.parse().unwrap());
            md
        };
        assert!(s.matches(&with("0123456789abcdef")));
        for other in [
            "0123456789abcdeF",
            "0123456789abcdef0",
            "0123456789abcde",
            "",
        ] {
            assert!(!s.matches(&with(other)), "{other:?}");
        }
        assert!(!s.matches(&MetadataMap::new()));
    }

    #[test]
    fn cluster_id_metadata_round_trips_and_is_strict() {
        for id in [0, 1, u128::MAX, 0xabc << 100] {
            let v = cluster_id_value(id);
            assert_eq!(v.to_str().unwrap().len(), 32);
            assert_eq!(parse_cluster_id(v.to_str().unwrap()), Some(id));
            let mut md = MetadataMap::new();
            md.insert(CLUSTER_ID_KEY, v);
            check_cluster_id(&md, id).unwrap();
            let ours = id ^ 1;
            let e = check_cluster_id(&md, ours).unwrap_err();
            assert_eq!(e.code(), tonic::Code::FailedPrecondition);
            assert!(e.message().contains(&format!("{id:032x}")), "{e}");
            assert!(!e.message().contains(&format!("{ours:032x}")), "{e}");
        }
        for bad in [
            "",
            "1",
            &"A".repeat(32),
            &"0".repeat(31),
            &"0".repeat(33),
            &"g".repeat(32),
        ] {
            assert_eq!(parse_cluster_id(bad), None, "{bad:?}");
        }
        let ours = 0xfeed_u128 << 64;
        let e = check_cluster_id(&MetadataMap::new(), ours).unwrap_err();
        assert_eq!(e.code(), tonic::Code::FailedPrecondition);
        assert!(!e.message().contains(&format!("{ours:032x}")), "{e}");
        let mut md = MetadataMap::new();
        md.insert(CLUSTER_ID_KEY, "nothex".parse().unwrap());
        let e = check_cluster_id(&md, ours).unwrap_err();
        assert_eq!(e.code(), tonic::Code::FailedPrecondition);
        assert!(!e.message().contains(&format!("{ours:032x}")), "{e}");
    }
}
