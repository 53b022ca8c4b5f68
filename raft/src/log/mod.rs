//! The Raft log: openraft's `RaftLogStorage` on a RocksDB instance of its own.
//!
//! The log lives apart from the ledger's state store (`state/`, no WAL, atomic flushes): it
//! needs the opposite trade-off, a WAL with fsync, and sharing one database would put the log's
//! fsyncs into the state's write path.
//!
//! - [`keys`]: column families and key layout.
//! - [`store`]: [`LogStore`], the trait implementations.
//! - `sync`: group commit, one WAL fsync for every append queued behind it.
//!
//! # Durability
//!
//! | call | write | durable when |
//! |---|---|---|
//! | `append` | WAL, no sync | its `IOFlushed` callback fires (group fsync) |
//! | `save_vote` | WAL, sync | it returns |
//! | `save_committed` | WAL, no sync | the next fsync |
//! | `truncate_after`, `purge` | WAL, no sync | the next fsync |
//!
//! The WAL is one sequential file, so any fsync makes every earlier write durable, and writes
//! become durable in the order openraft issued them.
//!
//! `save_committed` is implemented so that a restarted node replays its state machine up to
//! the committed index before serving. openraft's `Config::enable_leader_restore` must then be
//! `Some(false)` (openraft defaults it to true): a restarted node goes through a normal
//! election instead of resuming leadership from its stored vote.

pub mod keys;
pub mod store;
mod sync;

pub use store::{LogError, LogFigures, LogOptions, LogStore};
