//! Snapshots on disk (`docs/internals/replication.md`, "Snapshots").
//!
//! A snapshot is a directory `snapshots/<last index:020>-<term>-<leader node>/` holding a
//! RocksDB checkpoint of the state store and its [`Manifest`] (`tally-snapshot.meta`: format
//! version, cluster id, openraft's meta, every file with its size and BLAKE3 sum).
//! [`SnapshotData`] is a handle on such a directory (and a lease: it is not deleted while a
//! handle lives). Nothing holds a whole snapshot in memory: it is built, sent, received and
//! installed file by file.
//!
//! - [`manifest`]: the manifest and the file checks.
//! - [`store`]: [`SnapshotStore`]: names, staging, publishing, leases, retention (the current
//!   and the previous snapshot are kept), and loading the current snapshot on open.
//! - `install`: replacing the state store with a snapshot.
//!
//! **Build** ([`SnapshotBuilder`]): under the state lock, flush the store and checkpoint it into
//! `snapshots/tmp-*` (the checkpoint's SSTs are hard links to the live store's); release the
//! lock; open the checkpoint read-only and read the applied position and membership from it:
//! that is the snapshot's meta, so it names exactly the prefix the checkpoint holds, and the
//! flush made it durable in the live store first (`docs/internals/replication.md`, "Durability
//! without a state WAL", point 2). Then hash the files, write the manifest, fsync, rename into
//! place, and apply retention.

mod install;
pub mod manifest;
pub mod store;

use std::io;
use std::path::Path;
use std::sync::Arc;

use openraft::alias::{SnapshotMetaOf, SnapshotOf};
use openraft::storage::RaftSnapshotBuilder;
use tally_ledger::Ledger;

pub use manifest::Manifest;
pub use store::{SnapshotData, SnapshotStore, Staging};

pub(super) use install::{install, open_ledger, recover};

use super::applied::Applied;
use super::{lock, Shared, SharedRef};
use crate::rocks::RocksStore;
use crate::stats::StateMachineStats;
use crate::types::TypeConfig;

/// openraft's snapshot metadata for our type config.
pub type SnapshotMeta = SnapshotMetaOf<TypeConfig>;
/// A snapshot: its metadata and its data.
pub type Snapshot = SnapshotOf<TypeConfig, SnapshotData>;

/// Builds snapshots off the apply task; holds only handles.
#[derive(Debug)]
pub struct SnapshotBuilder {
    pub(super) shared: SharedRef,
    pub(super) snapshots: Arc<SnapshotStore>,
    pub(super) stats: Arc<StateMachineStats>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let (shared, snapshots) = (self.shared.clone(), self.snapshots.clone());
        let started = std::time::Instant::now();
        // Flush, checkpoint, hashing and fsyncs block: keep them off the async workers.
        let built = tokio::task::spawn_blocking(move || build(&shared, &snapshots))
            .await
            .map_err(io::Error::other)
            .and_then(|r| r);
        match &built {
            Ok(_) => {
                self.stats.snapshot_builds.inc();
                self.stats
                    .snapshot_build
                    .observe_duration(started.elapsed());
            }
            Err(_) => self.stats.snapshot_build_failures.inc(),
        }
        built
    }
}

fn build(shared: &SharedRef, snapshots: &SnapshotStore) -> io::Result<Snapshot> {
    let staging = snapshots.staging("tmp")?;
    // RocksDB creates the checkpoint directory itself; the guard still removes it on failure.
    std::fs::remove_dir(staging.path())?;
    {
        let g = lock(shared)?;
        let store = g.ledger()?.store();
        store.flush().map_err(io::Error::other)?;
        store.checkpoint(staging.path()).map_err(io::Error::other)?;
    }
    let applied = read_checkpoint(staging.path())?;
    let meta = SnapshotMeta {
        last_log_id: applied.log_id,
        last_membership: applied.membership,
    };
    let manifest = Manifest::scan(staging.path(), snapshots.cluster_id(), meta.clone())?;
    for f in &manifest.files {
        std::fs::File::open(staging.path().join(&f.name))?.sync_all()?;
    }
    let data = snapshots.publish(staging, manifest)?;
    snapshots.built(&meta, &data)?;
    Ok(Snapshot {
        meta,
        snapshot: data,
    })
}

/// Reads the applied position of the checkpoint at `dir`, opened read-only. RocksDB's info log
/// goes to a sibling directory, deleted after, so the checkpoint's files stay as they were.
fn read_checkpoint(dir: &Path) -> io::Result<Applied> {
    let mut log_dir = dir.as_os_str().to_os_string();
    log_dir.push(".log");
    let log_dir = std::path::PathBuf::from(log_dir);
    std::fs::create_dir_all(&log_dir)?;
    let applied = RocksStore::open_read_only(dir, &log_dir)
        .map_err(io::Error::other)
        .and_then(|s| Applied::read(&s));
    std::fs::remove_dir_all(&log_dir)?;
    applied
}

impl Shared {
    pub(super) fn ledger(&self) -> io::Result<&Ledger<RocksStore>> {
        self.ledger.as_ref().ok_or_else(closed)
    }
}

/// The error after a failed install left the store closed.
pub(super) fn closed() -> io::Error {
    io::Error::other("state store is closed after a failed snapshot install; restart the node")
}
