//! `tally-jepsen`: a Jepsen-style harness that runs a real Tally cluster (real `tally`
//! processes on 127.0.0.1), injects faults while clients work, records the history and checks
//! it. See `jepsen/README.md` for how to run it and how to read a failure.
//!
//! # Layout
//!
//! - [`proxy`]: a TCP proxy per directed node-to-node link (pass, cut, delay, lossy, one-way).
//! - [`cluster`]: start, kill -9, restart, pause, partition and watch the nodes.
//! - [`client`]: a thin gRPC client that reports each operation as ok / fail / info.
//! - [`history`]: the operations as Jepsen records them, written as JSON lines.
//! - [`workload`]: the `bank` and `idempotency` clients.
//! - [`nemesis`]: the fault schedule.
//! - [`checker`]: pure checkers over the history and the final state.
//! - [`run`]: one whole test run, and its summary.
//! - [`tls`]: `--tls`: certificates for the nodes, and TLS to them.
//!
//! # Boundary
//!
//! The harness drives the `tally` binary and depends on `tally-proto` (the wire format) and
//! `tally-ledger` (the pure core, as the reference model of the replay checker) only: never on
//! `tally-raft`, `tally-server` or RocksDB, so it builds in seconds. A test below enforces it.
//!
//! # Example
//!
//! A checker is a pure function of the history and the final state:
//!
//! ```
//! use tally_jepsen::checker::{bank, Expect};
//! use tally_jepsen::history::Balance;
//!
//! let expect = Expect { bank_ids: vec![101, 102], funding: 100 };
//! let read = [
//!     Balance { id: 101, credits_posted: 100, debits_posted: 40, ..Balance::default() },
//!     Balance { id: 102, credits_posted: 140, ..Balance::default() },
//! ];
//! assert!(bank::check_read(&read, &expect, "a read").is_empty());
//! let created = [read[0], Balance { credits_posted: 141, ..read[1] }];
//! assert_eq!(bank::check_read(&created, &expect, "a read")[0].kind, "wrong-total");
//! ```

#![forbid(unsafe_code)]

pub mod checker;
pub mod client;
pub mod cluster;
pub mod history;
pub mod membership;
pub mod nemesis;
pub mod proxy;
pub mod run;
pub mod tls;
pub mod workload;

#[cfg(test)]
mod tests {
    #[test]
    fn the_harness_never_depends_on_the_server_raft_or_rocksdb() {
        let manifest = include_str!("../Cargo.toml");
        let deps = manifest
            .split("[dependencies]")
            .nth(1)
            .and_then(|s| s.split("\n[").next())
            .expect("a [dependencies] table");
        for banned in ["tally-raft", "tally-server", "rocksdb", "openraft"] {
            assert!(!deps.contains(banned), "jepsen depends on {banned}");
        }
        assert!(deps.contains("tally-proto") && deps.contains("tally-ledger"));
    }
}
