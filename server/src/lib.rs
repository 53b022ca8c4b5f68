//! `tally-server`: Tally's gRPC server and the `tally` binary.
//!
//! A node serves three gRPC services on one address: `tally.v1.Ledger` (the public API),
//! `tally.v1.Admin` (cluster administration) and `tally.v1.Raft` (node to node). Writes go
//! through the [`coalesce`] queue into Raft entries; reads come from the local state after a
//! read-index round (linearizable, the default) or directly (stale, on request).
//!
//! # Layout
//!
//! - [`config`]: flags, `TALLY_*` environment variables and the TOML file, resolved.
//! - [`identity`]: the data dir's `tally.id` (cluster id and node id), checked on every start.
//! - [`node`]: [`Node`], a running node put together: bootstrap, expiry pulse, shutdown.
//! - [`admission`]: admission control: refuses at once the writes the node cannot start within
//!   its queue-delay budget, and limits reads apart.
//! - [`coalesce`]: merges concurrent write requests into one Raft entry.
//! - [`service`]: the Ledger and Admin services, one file each.
//! - [`convert`]: wire records to core records and back, one file per record.
//! - [`framing`]: checks each request's gRPC framing (message size limit, truncation).
//! - [`health`]: the gRPC health service's statuses and HTTP `/healthz`, `/readyz` and
//!   `/metrics`.
//! - [`metrics`]: Prometheus metrics: the request path's counters and histograms, and the
//!   collectors that read Raft, RocksDB and the process at scrape time.
//! - [`logging`]: log format and filters, and the request id each request carries.
//! - [`grpc_error`]: the one place failures become gRPC statuses (and the leader hint metadata).
//! - `main.rs`: the `tally` binary (`start`, `status`, `dev-cluster`).
//!
//! # Boundary
//!
//! Depends on `tally-ledger` (records, queries), `tally-raft` (the replicated node, through
//! its `consensus` module: no openraft type appears here) and `tally-proto` (the wire format).
//! Nothing depends on this crate except the binary and tests.
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use tally_server::config::StartArgs;
//! use tally_server::Node;
//!
//! let config = StartArgs::default().resolve()?; // one node on 127.0.0.1:7100
//! let node = Node::start(&config).await?;
//! println!("serving on {}", node.addr());
//! node.shutdown().await?;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admission;
pub mod coalesce;
pub mod config;
pub mod convert;
pub mod framing;
pub mod grpc_error;
pub mod health;
pub mod identity;
pub mod logging;
pub mod metrics;
pub mod node;
pub mod service;

pub use node::{Node, StartError};
