//! `tally-ledger`: the deterministic double-entry state machine at the heart of Tally.
//!
//! Every transfer debits one account and credits another on the same ledger, atomically, with
//! balance limits, two-phase (pending, post, void, expiry) transfers, linked all-or-nothing
//! chains, and idempotency forever: an id is never applied twice.
//!
//! # Boundary
//!
//! This crate is the pure core. It depends on no storage engine, runtime, network or
//! serialisation framework: no rocksdb, tokio, tonic, openraft or prost (a test enforces it).
//! It reads state through the small [`store::KvRead`] trait and describes its changes as one
//! [`store::WriteBatch`] per command. It never reads a clock: time arrives from the Raft leader
//! in [`Context`], and each event gets `max(previous + 1, leader time)`. The same commands in the
//! same order give byte-identical state on any machine ([`store::state_hash`] proves it).
//!
//! # Layout
//!
//! From the bottom up; a module uses only those above it in this list, never one below, so
//! the layers read one way:
//!
//! - [`types`], [`results`], `error`: accounts, transfers, flags and filters; the result codes
//!   of each operation, in precedence order; [`LedgerError`] and [`StoreError`].
//! - [`keys`]: every key and value layout, one file per on-disk structure, and the column
//!   families ([`Cf`]). Encodes and decodes; never reads a store.
//! - [`store`]: the storage trait, the write batch, the in-memory store, the state hash and the
//!   storage conformance suite. [`overlay`]: a write batch indexed by key, read as if written.
//! - `read`: point reads of committed state (meta values, a transfer by timestamp).
//! - `ids`: the transfer-id index. `account_index`: account -> transfers, a per-command log
//!   folded into per-account entries every 8th command. `account_log`: changed accounts, one
//!   record per command, folded into `accounts` every 8th. [`AccountCache`]: hot accounts in
//!   memory. `invariants`: the money invariants the executor asserts.
//! - `exec`: the executor (committed state plus the command's overlay, encoded to one write
//!   batch), over `journal`, its maps with savepoints.
//! - `ops/`: one module per operation (`create_account`, `create_transfer`, `expire`).
//! - `ledger`: [`execute`] and [`Ledger`], the command interface. [`query`]: lookups and
//!   filtered reads.
//!
//! # Invariants
//!
//! The executor asserts the money invariants where they hold: balance limits on every account
//! version it writes, a post never above its pending amount, post, void and expiry releasing
//! exactly the pending amount, and ledger time only growing. A broken one stops the node (a
//! panic) rather than write a wrong balance. Per-ledger double entry over each command's
//! changed accounts also runs in debug builds and with the `invariants` feature, which this
//! crate's tests enable.
//!
//! # Example
//!
//! ```
//! use tally_ledger::{Account, Context, CreateTransferResult, Ledger, MemStore, Transfer};
//!
//! let mut ledger = Ledger::open(MemStore::new()).unwrap();
//! let ctx = Context { timestamp: 1_700_000_000_000_000_000 };
//! let account = |id| Account { id, ledger: 1, code: 10, ..Account::default() };
//! ledger.create_accounts(&[account(1), account(2)], &ctx).unwrap();
//!
//! let t = Transfer {
//!     id: 100, debit_account_id: 1, credit_account_id: 2, amount: 250, ledger: 1, code: 1,
//!     ..Transfer::default()
//! };
//! assert_eq!(ledger.create_transfers(&[t], &ctx).unwrap(), vec![CreateTransferResult::Ok]);
//! // Resubmitting the same id never applies it twice.
//! assert_eq!(ledger.create_transfers(&[t], &ctx).unwrap(), vec![CreateTransferResult::Exists]);
//!
//! let accounts = tally_ledger::query::lookup_accounts(ledger.store(), &[1, 2]).unwrap();
//! assert_eq!((accounts[0].debits_posted, accounts[1].credits_posted), (250, 250));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod account_index;
mod account_log;
mod cache;
mod error;
mod exec;
mod ids;
mod invariants;
mod journal;
pub mod keys;
mod ledger;
mod ops;
pub mod overlay;
pub mod query;
mod read;
pub mod results;
pub mod store;
pub mod types;

pub use cache::{AccountCache, ACCOUNT_CACHE_DEFAULT};
pub use error::LedgerError;
pub use exec::Context;
pub use ledger::{execute, stage_applied, Command, Ledger, Outcome};
pub use ops::expire::EXPIRE_MAX;
pub use overlay::{sorted_ops, IndexedBatch, Overlay};
pub use read::{read_applied, read_last_timestamp};
pub use results::{CreateAccountResult, CreateTransferResult, EventResults};
pub use store::{state_hash, Cf, KvRead, KvStore, MemStore, StoreError, WriteBatch};
pub use types::*;
