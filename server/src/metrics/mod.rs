//! Prometheus metrics, served as text at `/metrics` on the node's HTTP address (`--http-addr`,
//! alias `--metrics-addr`). docs/operating.md, "Metrics", lists every metric.
//!
//! Two kinds of figures:
//!
//! - **Counted on the request path** ([`Metrics`]): requests by RPC and gRPC code (counted in
//!   [`crate::framing::Framed`], so refusals made from the headers alone are counted too),
//!   request latency by RPC, events per write request, and the coalescer's entry sizes. Each
//!   is a fixed array of atomics indexed by a label resolved once ([`Rpc`], [`code_index`]):
//!   recording is a few relaxed atomic adds, with no lock and no allocation.
//! - **Read at scrape time** ([`collect::NodeCollector`], [`process::ProcessCollector`]):
//!   Raft's state (term, role, indexes, replication lag per peer), the stores' counters and
//!   histograms (`tally_raft::stats`), RocksDB's properties per column family, admission
//!   control's figures, the data directory's file system, and the process's own (`/proc/self`).
//!   They cost nothing between scrapes.
//!
//! The registry and the exposition format are `prometheus-client`'s (Prometheus text format
//! 0.0.4); the collectors encode their figures through its `Collector` trait.

pub mod collect;
mod encode;
pub mod process;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::registry::Registry;
use tally_raft::stats::Histogram;

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The RPCs counted apart, as `(label, path)`; requests to any other path count as `other`.
const RPCS: [(&str, &str); 13] = [
    ("CreateAccounts", "/tally.v1.Ledger/CreateAccounts"),
    ("CreateTransfers", "/tally.v1.Ledger/CreateTransfers"),
    ("LookupAccounts", "/tally.v1.Ledger/LookupAccounts"),
    ("LookupTransfers", "/tally.v1.Ledger/LookupTransfers"),
    (
        "GetAccountTransfers",
        "/tally.v1.Ledger/GetAccountTransfers",
    ),
    ("GetAccountBalances", "/tally.v1.Ledger/GetAccountBalances"),
    ("QueryAccounts", "/tally.v1.Ledger/QueryAccounts"),
    ("QueryTransfers", "/tally.v1.Ledger/QueryTransfers"),
    ("GetStatus", "/tally.v1.Admin/GetStatus"),
    ("AddLearner", "/tally.v1.Admin/AddLearner"),
    ("ChangeMembership", "/tally.v1.Admin/ChangeMembership"),
    ("TransferLeader", "/tally.v1.Admin/TransferLeader"),
    ("TriggerSnapshot", "/tally.v1.Admin/TriggerSnapshot"),
];

/// Label of the requests to a path not in [`RPCS`] (answered `UNIMPLEMENTED`).
const OTHER_RPC: &str = "other";

/// Number of [`Rpc`] values: [`RPCS`] and `other`.
const RPC_COUNT: usize = RPCS.len() + 1;

/// The gRPC status codes by number, as their canonical names.
pub const CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// Index of `UNKNOWN` in [`CODES`]: a status the server cannot read as a code.
const UNKNOWN: usize = 2;

/// An RPC, resolved once from the request's path ([`Rpc::from_path`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rpc(usize);

impl Rpc {
    /// `CreateAccounts`.
    pub const CREATE_ACCOUNTS: Self = Self(0);
    /// `CreateTransfers`.
    pub const CREATE_TRANSFERS: Self = Self(1);

    /// The RPC of a request to `path`.
    pub fn from_path(path: &str) -> Self {
        Self(
            RPCS.iter()
                .position(|(_, p)| *p == path)
                .unwrap_or(RPCS.len()),
        )
    }

    /// Whether it is a write (`CreateAccounts`, `CreateTransfers`), which admission control
    /// judges from its headers.
    pub fn is_write(self) -> bool {
        self == Self::CREATE_ACCOUNTS || self == Self::CREATE_TRANSFERS
    }

    /// Its `rpc` label.
    pub fn label(self) -> &'static str {
        RPCS.get(self.0).map_or(OTHER_RPC, |(l, _)| l)
    }
}

/// The index in [`CODES`] of a `grpc-status` value (`UNKNOWN` for one that is not a code).
pub fn code_index(grpc_status: &[u8]) -> usize {
    std::str::from_utf8(grpc_status)
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|c| *c < CODES.len())
        .unwrap_or(UNKNOWN)
}

/// The figures counted on the request path. One per node; shared by `Arc`.
#[derive(Debug)]
pub struct Metrics {
    /// Requests answered, by RPC and gRPC code.
    requests: [[AtomicU64; CODES.len()]; RPC_COUNT],
    /// Time from the request's headers to the response's, by RPC.
    latency: [Histogram; RPC_COUNT],
    /// Events per `CreateAccounts` / `CreateTransfers` request.
    events: [Histogram; 2],
    /// Events per Raft entry the coalescer proposes.
    batch_events: Histogram,
    /// Requests per Raft entry the coalescer proposes.
    batch_requests: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            latency: std::array::from_fn(|_| Histogram::latency()),
            events: std::array::from_fn(|_| Histogram::sizes()),
            batch_events: Histogram::sizes(),
            batch_requests: Histogram::sizes(),
        }
    }
}

impl Metrics {
    /// Counts a request to `rpc` answered with code `code` (an index in [`CODES`]) after
    /// `took`.
    pub fn request(&self, rpc: Rpc, code: usize, took: Duration) {
        self.requests[rpc.0][code.min(CODES.len() - 1)].fetch_add(1, Ordering::Relaxed);
        self.latency[rpc.0].observe_duration(took);
    }

    /// Requests to `rpc` answered with code `code` so far.
    pub fn requests_of(&self, rpc: Rpc, code: usize) -> u64 {
        self.requests[rpc.0][code].load(Ordering::Relaxed)
    }

    /// Records a write request of `n` events (`rpc` is `CreateAccounts` or `CreateTransfers`).
    pub fn write_events(&self, rpc: Rpc, n: usize) {
        if let Some(h) = self.events.get(rpc.0) {
            h.observe(n as u64);
        }
    }

    /// Records an entry the coalescer proposes: `requests` requests, `events` events.
    pub fn batch(&self, requests: usize, events: usize) {
        self.batch_requests.observe(requests as u64);
        self.batch_events.observe(events as u64);
    }
}

/// The registry of a node: the process collector at the root, Tally's under `tally_`.
pub fn registry(node: collect::NodeCollector) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(process::ProcessCollector));
    registry
        .sub_registry_with_prefix("tally")
        .register_collector(Box::new(node));
    registry
}

/// The exposition of `registry` in Prometheus text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::with_capacity(32 << 10);
    // Writing to a String cannot fail; a collector's error would only cut the text short.
    let _ = prometheus_text::encode(&mut out, registry);
    out
}

/// A shared handle on a node's [`Metrics`].
pub type SharedMetrics = Arc<Metrics>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_their_rpc_and_others_to_other() {
        assert_eq!(
            Rpc::from_path("/tally.v1.Ledger/CreateTransfers"),
            Rpc::CREATE_TRANSFERS
        );
        assert_eq!(
            Rpc::from_path("/tally.v1.Ledger/CreateAccounts"),
            Rpc::CREATE_ACCOUNTS
        );
        assert_eq!(
            Rpc::from_path("/tally.v1.Admin/GetStatus").label(),
            "GetStatus"
        );
        assert_eq!(Rpc::from_path("/tally.v1.Ledger/Nope").label(), "other");
        for (label, path) in RPCS {
            assert_eq!(Rpc::from_path(path).label(), label);
        }
    }

    #[test]
    fn grpc_status_values_map_to_codes() {
        assert_eq!(CODES[code_index(b"0")], "OK");
        assert_eq!(CODES[code_index(b"8")], "RESOURCE_EXHAUSTED");
        assert_eq!(CODES[code_index(b"16")], "UNAUTHENTICATED");
        assert_eq!(CODES[code_index(b"17")], "UNKNOWN");
        assert_eq!(CODES[code_index(b"x")], "UNKNOWN");
    }
}
