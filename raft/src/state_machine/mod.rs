//! The state machine: openraft's `RaftStateMachine` over the ledger on RocksDB.
//!
//! - [`applied`]: [`Applied`], the applied position (log id and membership) stored in the
//!   ledger's `meta/applied` value.
//! - `apply`: one entry, one ledger write (`docs/internals/replication.md`, "State machine").
//! - [`snapshot`]: snapshots: RocksDB checkpoints in directories with a manifest, kept on
//!   disk across restarts and streamed file by file.
//!
//! # Durability
//!
//! The state store runs with [`Durability::NoWal`]: a write reaches disk only when RocksDB
//! flushes its memtables, atomically across column families. Each entry's effects and its
//! applied position are one `WriteBatch`, so after a crash the store holds the state after
//! some prefix of the log, tagged with that prefix's last log id. [`RaftStateMachine::applied_state`]
//! reads that position from the store, and openraft re-applies the rest of the committed log
//! before the node starts (`docs/internals/replication.md`, "Durability without a state WAL").
//! A snapshot is built only after a flush, so the log is never purged past the durable
//! position.
//!
//! Directory layout, inside the node's data directory: `state/` (the ledger's RocksDB),
//! `state.new/`, `state.old/` (during a snapshot install), `snapshots/<index>-<term>-<node>/`
//! (complete snapshots: the current one and the one before), `snapshots/tmp-*` (during a
//! build) and `snapshots/incoming-*` (during a transfer); staging leftovers are deleted on open.

pub mod applied;
mod apply;
pub mod snapshot;
mod writer;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Instant;

use futures_util::{Stream, TryStreamExt};
use openraft::alias::LogIdOf;
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};
use tally_ledger::{KvRead, Ledger};

pub use applied::{Applied, StoredMembership};
pub use snapshot::{
    Manifest, Snapshot, SnapshotBuilder, SnapshotData, SnapshotMeta, SnapshotStore, Staging,
};

use crate::rocks::{Durability, RocksFigures, RocksOptions, RocksReader, RocksStore};
use crate::stats::StateMachineStats;
use crate::types::{Entry, Response, TypeConfig};
use writer::{Slot, Writer};

/// Options of the state machine.
#[derive(Debug, Clone)]
pub struct StateMachineOptions {
    /// The state store's options. Its durability is always [`Durability::NoWal`]: the Raft
    /// log is the write-ahead log.
    pub rocks: RocksOptions,
    /// The cluster id written into every snapshot's manifest, and required of every snapshot
    /// installed or found on disk. [`crate::RaftNode`] sets it from
    /// [`crate::NetOptions::cluster_id`]; 0 is for tests only.
    pub cluster_id: u128,
    /// Accounts the ledger keeps in memory ([`tally_ledger::AccountCache`]; about 200 bytes
    /// each when full). Default [`tally_ledger::ACCOUNT_CACHE_DEFAULT`].
    pub account_cache: usize,
}

impl Default for StateMachineOptions {
    fn default() -> Self {
        Self {
            rocks: RocksOptions::default(),
            cluster_id: 0,
            account_cache: tally_ledger::ACCOUNT_CACHE_DEFAULT,
        }
    }
}

/// State shared by the state machine and its snapshot builders.
#[derive(Debug)]
pub(crate) struct Shared {
    /// `None` only after a failed snapshot install (the node must stop).
    ledger: Option<Ledger<RocksStore>>,
    /// The position of the last entry applied; what the store holds once the write in flight
    /// has landed (which [`lock`] waits for).
    applied: Applied,
    /// Writes each applied entry's batch behind the entry's answer (see [`writer`]).
    writer: Writer,
}

type SharedRef = Arc<Mutex<Shared>>;

/// The read handle on the current state store; `None` while a snapshot install has it closed.
/// Apart from [`Shared`] so that reads never wait for the command being applied.
pub(crate) type ReadHandle = Arc<RwLock<Option<RocksReader>>>;

/// Takes the state lock once the write in flight (if any) has landed, so that the holder sees
/// the store with every applied entry in it.
fn lock(shared: &SharedRef) -> io::Result<MutexGuard<'_, Shared>> {
    // A panic while the lock was held may have left the ledger mid-command.
    let g = shared
        .lock()
        .map_err(|_| io::Error::other("state machine lock poisoned by a panic"))?;
    g.writer.wait_written()?;
    Ok(g)
}

/// openraft's state machine over `Ledger<RocksStore>`.
#[derive(Debug)]
pub struct LedgerStateMachine {
    shared: SharedRef,
    read: ReadHandle,
    written: Arc<Slot>,
    state_dir: PathBuf,
    snapshots: Arc<SnapshotStore>,
    opts: StateMachineOptions,
    stats: Arc<StateMachineStats>,
}

impl LedgerStateMachine {
    /// Opens (creating if missing) the state under the node's data directory `data_dir`
    /// (`state/`, `snapshots/`), finishing or discarding an interrupted snapshot install, and
    /// loads the newest snapshot on disk that the state contains as the current one.
    pub fn open(data_dir: impl AsRef<Path>, opts: &StateMachineOptions) -> io::Result<Self> {
        let data_dir = data_dir.as_ref();
        let state_dir = data_dir.join("state");
        let snapshots_dir = data_dir.join("snapshots");
        let mut opts = opts.clone();
        opts.rocks.durability = Durability::NoWal;
        snapshot::recover(&state_dir)?;
        let (ledger, applied) = snapshot::open_ledger(&state_dir, &opts)?;
        let snapshots = SnapshotStore::open(&snapshots_dir, opts.cluster_id, &applied)?;
        let read = Arc::new(RwLock::new(Some(ledger.store().reader())));
        let writer = Writer::spawn()?;
        let written = writer.slot();
        Ok(Self {
            read,
            written,
            shared: Arc::new(Mutex::new(Shared {
                ledger: Some(ledger),
                applied,
                writer,
            })),
            state_dir,
            snapshots: Arc::new(snapshots),
            opts,
            stats: Arc::default(),
        })
    }

    /// Runs `f` on the ledger (reads, tests). It holds the state lock: keep it short.
    pub fn with_ledger<T>(&self, f: impl FnOnce(&Ledger<RocksStore>) -> T) -> io::Result<T> {
        Ok(f(lock(&self.shared)?.ledger()?))
    }

    /// A read handle on this state machine that stays usable after the state machine itself
    /// has been handed to openraft.
    pub fn reader(&self) -> StateReader {
        StateReader {
            shared: self.shared.clone(),
            read: self.read.clone(),
            written: self.written.clone(),
        }
    }

    /// The ledger's state hash (see [`Ledger::state_hash`]): equal on replicas that applied the
    /// same entries.
    pub fn state_hash(&self) -> io::Result<[u8; 32]> {
        self.with_ledger(|l| l.state_hash())?
            .map_err(io::Error::other)
    }

    /// Flushes the state store, making everything applied so far durable.
    pub fn flush(&self) -> io::Result<()> {
        self.with_ledger(|l| l.store().flush())?
            .map_err(io::Error::other)
    }

    /// Applies one entry and returns its response: what [`RaftStateMachine::apply`] does for
    /// each entry of its stream (exposed because openraft's responders cannot be built outside
    /// openraft). The entry's batch is written by the writer thread after this returns; the
    /// next call, and anything else that takes the state lock, waits for that write. On error
    /// nothing was written and the node must stop; a failed write is returned by the next call.
    pub fn apply_entry(&mut self, entry: &Entry) -> io::Result<Response> {
        let started = Instant::now();
        let mut g = lock(&self.shared)?;
        let Shared {
            ledger,
            applied,
            writer,
        } = &mut *g;
        let ledger = ledger.as_mut().ok_or_else(snapshot::closed)?;
        let mut batch = writer.take_spare();
        let (next, mut response) = apply::apply_entry(ledger, applied, entry, &mut batch)?;
        if let Response::Accounts(r) | Response::Transfers(r) = &mut response {
            r.apply_started = Some(started);
        }
        writer.submit(ledger.store().writer(), batch);
        *applied = next;
        if matches!(entry.payload, EntryPayload::Membership(_)) {
            self.stats.membership_changes.inc();
        }
        self.stats.apply.observe_duration(started.elapsed());
        Ok(response)
    }

    /// The state machine's figures for monitoring (apply latency, snapshots, membership
    /// changes), shared with its snapshot builders.
    pub fn stats(&self) -> Arc<StateMachineStats> {
        self.stats.clone()
    }

    /// The node's snapshot directories (the Raft service receives snapshots into it).
    pub fn snapshot_store(&self) -> Arc<SnapshotStore> {
        self.snapshots.clone()
    }

    fn builder(&self) -> SnapshotBuilder {
        SnapshotBuilder {
            shared: self.shared.clone(),
            snapshots: self.snapshots.clone(),
            stats: self.stats.clone(),
        }
    }
}

/// A read handle on a [`LedgerStateMachine`] ([`LedgerStateMachine::reader`]).
///
/// [`StateReader::read`] runs on a RocksDB snapshot without the state lock: it sees the state
/// between two entries (each entry is one atomic write) and never waits for the entry being
/// applied. [`StateReader::with_ledger`] takes the lock, for what needs the ledger itself.
#[derive(Debug, Clone)]
pub struct StateReader {
    shared: SharedRef,
    read: ReadHandle,
    written: Arc<Slot>,
}

impl StateReader {
    /// Runs `f` on a consistent snapshot of the applied state, without waiting for the entry
    /// being applied. Everything applied before the call is visible, including an entry whose
    /// state write is still in flight (its client may have been answered already). Same as
    /// `read_after(write_mark(), f)`.
    pub fn read<T>(&self, f: impl FnOnce(&dyn KvRead) -> T) -> io::Result<T> {
        self.read_after(self.write_mark(), f)
    }

    /// A mark of the entries applied so far, for [`StateReader::read_after`]. A linearizable
    /// read takes it when it starts, before its read barrier: every write acknowledged before
    /// then is inside the mark, because an entry is answered only after it is applied.
    pub fn write_mark(&self) -> u64 {
        self.written.mark()
    }

    /// Runs `f` on a consistent snapshot of the applied state that holds every entry inside
    /// `mark` ([`StateReader::write_mark`]); a mark of 0 asks for nothing (a stale read). An
    /// entry whose state write is still in flight is read through its batch (see
    /// `writer.rs`), so this waits at most for the writer thread to index that batch, never
    /// for the write itself or for the entry being applied.
    pub fn read_after<T>(&self, mark: u64, f: impl FnOnce(&dyn KvRead) -> T) -> io::Result<T> {
        let current = self
            .read
            .read()
            .map_err(|_| io::Error::other("state read handle poisoned by a panic"))?
            .clone();
        let reader = match current {
            Some(r) => r,
            // A snapshot install has the store closed and holds the state lock until the new
            // store is open: wait for it there (or get its error if it failed).
            None => self.with_ledger(|l| l.store().reader())?,
        };
        // The snapshot is taken while the writer cannot start a later batch (see
        // `Slot::hold`): seen through the batch in flight, it is the state after it.
        let (snapshot, in_flight) = self.written.hold(mark, |b| (reader.snapshot(), b))?;
        Ok(snapshot.read(in_flight.as_deref(), f))
    }

    /// Runs `f` on the ledger under the state lock: keep it short.
    pub fn with_ledger<T>(&self, f: impl FnOnce(&Ledger<RocksStore>) -> T) -> io::Result<T> {
        Ok(f(lock(&self.shared)?.ledger()?))
    }

    /// The state store's RocksDB figures, one per column family; empty while a snapshot
    /// install has the store closed. Reads in-memory properties only, without the state lock.
    pub fn rocks_figures(&self) -> Vec<RocksFigures> {
        let current = match self.read.read() {
            Ok(r) => r.clone(),
            Err(_) => None,
        };
        current.map(|r| r.figures()).unwrap_or_default()
    }

    /// The ledger's state hash and the applied log id it belongs to, read together.
    pub fn state_hash(&self) -> io::Result<([u8; 32], Option<LogIdOf<TypeConfig>>)> {
        let g = lock(&self.shared)?;
        let hash = g.ledger()?.state_hash().map_err(io::Error::other)?;
        Ok((hash, g.applied.log_id))
    }
}

impl RaftStateMachine<TypeConfig> for LedgerStateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogIdOf<TypeConfig>>, StoredMembership), io::Error> {
        let g = lock(&self.shared)?;
        let a = Applied::read(g.ledger()?.store())?;
        Ok((a.log_id, a.membership))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            let response = self.apply_entry(&entry)?;
            // Only the leader that proposed the entry has a responder; its client_write waits
            // for this.
            if let Some(r) = responder {
                r.send(response);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        self.builder()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let (shared, read, state_dir) = (
            self.shared.clone(),
            self.read.clone(),
            self.state_dir.clone(),
        );
        let (opts, snapshots, meta) = (self.opts.clone(), self.snapshots.clone(), meta.clone());
        // Links, copies, fsyncs and the reopen block: keep them off the async workers.
        let installed = tokio::task::spawn_blocking(move || {
            snapshot::install(
                &shared, &read, &state_dir, &opts, &snapshots, &meta, snapshot,
            )
        })
        .await
        .map_err(io::Error::other)
        .and_then(|r| r);
        match &installed {
            Ok(()) => self.stats.snapshot_installs.inc(),
            Err(_) => self.stats.snapshot_install_failures.inc(),
        }
        installed
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        self.snapshots.current()
    }
}
