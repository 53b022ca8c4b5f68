//! `tally-raft`: Tally's storage and replication layer.
//!
//! Today it holds [`RocksStore`], the RocksDB implementation of the ledger's storage trait
//! ([`tally_ledger::KvStore`]). The openraft glue (log store, state-machine adapter, network)
//! joins it here.
//!
//! # Layout
//!
//! - [`rocks`]: the RocksDB state store: column families, durability modes, flush, checkpoints.
//!
//! # Boundary
//!
//! Depends on `tally-ledger` and storage/replication crates; never on the gRPC server or the
//! client. The ledger's key layout is owned by `tally_ledger::keys`, not by this crate.
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

pub mod rocks;

pub use rocks::{Durability, RocksOptions, RocksStore};
