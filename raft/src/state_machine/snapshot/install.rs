//! Installing a snapshot: the state store is replaced by the snapshot's checkpoint.
//!
//! 1. Build `state.new/` from the snapshot directory: hard-link the SST files (immutable) and
//!    COPY every other file (`MANIFEST-*`, `CURRENT`, `OPTIONS-*`, WAL files). RocksDB appends
//!    to its MANIFEST when it opens a database, so a hard link would let the reopened store
//!    write into the snapshot. fsync the copies and the directory.
//! 2. Under the state lock, close the store, rename `state` → `state.old` and `state.new` →
//!    `state`, fsync the parent, delete `state.old`.
//! 3. Reopen and check that the store's applied position and membership are the snapshot's.
//!
//! The swap is durable before `install` returns: openraft purges the log behind the snapshot
//! right after. [`recover`] finishes a swap interrupted by a crash.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use tally_ledger::Ledger;

use super::store::{link_or_copy, sync_dir, SnapshotData, SnapshotStore};
use super::SnapshotMeta;
use crate::rocks::{RocksReader, RocksStore};
use crate::state_machine::applied::Applied;
use crate::state_machine::{lock, ReadHandle, SharedRef, StateMachineOptions};

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Replaces the state store with the snapshot's and reopens it; see the module docs. A snapshot
/// of another store (not under `snapshots`) is first imported, which checks its sums.
pub(crate) fn install(
    shared: &SharedRef,
    read: &ReadHandle,
    state_dir: &Path,
    opts: &StateMachineOptions,
    snapshots: &SnapshotStore,
    meta: &SnapshotMeta,
    data: SnapshotData,
) -> io::Result<()> {
    let data = if snapshots.owns(&data) {
        data
    } else {
        snapshots.import(&data)?
    };
    let m = data.manifest();
    if m.cluster_id != snapshots.cluster_id() {
        return Err(invalid(format!(
            "snapshot of cluster {:032x} refused: this node is in cluster {:032x}",
            m.cluster_id,
            snapshots.cluster_id()
        )));
    }
    if m.meta != *meta {
        return Err(invalid(format!(
            "snapshot directory holds {:?}, openraft asked to install {meta:?}",
            m.meta
        )));
    }
    let new = sibling(state_dir, "new");
    stage_state(&data, &new)?;
    let mut g = lock(shared)?;
    // Close the store: RocksDB releases its lock and files when the ledger and the read
    // handle drop (a read still running keeps the old database open until it ends; it reads
    // through open files, or fails). If anything below fails, the ledger stays closed and
    // every later call errors: the node stops.
    set_reader(read, None)?;
    drop(g.ledger.take());
    let old = sibling(state_dir, "old");
    if old.exists() {
        fs::remove_dir_all(&old)?;
    }
    fs::rename(state_dir, &old)?;
    fs::rename(&new, state_dir)?;
    sync_parent(state_dir)?;
    fs::remove_dir_all(&old)?;
    let (ledger, applied) = open_ledger(state_dir, opts)?;
    if applied.log_id != meta.last_log_id || applied.membership != meta.last_membership {
        return Err(invalid(format!(
            "installed snapshot holds position {:?}, its meta says {:?}",
            applied.log_id, meta.last_log_id
        )));
    }
    set_reader(read, Some(ledger.store().reader()))?;
    g.ledger = Some(ledger);
    g.applied = applied;
    drop(g);
    snapshots.installed(meta, &data)
}

fn set_reader(read: &ReadHandle, to: Option<RocksReader>) -> io::Result<()> {
    *read
        .write()
        .map_err(|_| io::Error::other("state read handle poisoned by a panic"))? = to;
    Ok(())
}

/// Builds `new` (a fresh directory) from snapshot `data`: SSTs linked, the rest copied.
fn stage_state(data: &SnapshotData, new: &Path) -> io::Result<()> {
    if new.exists() {
        fs::remove_dir_all(new)?;
    }
    fs::create_dir_all(new)?;
    for f in &data.manifest().files {
        let immutable = f.name.ends_with(".sst") || f.name.ends_with(".blob");
        link_or_copy(&data.path().join(&f.name), &new.join(&f.name), immutable)?;
    }
    sync_dir(new)
}

/// Opens the ledger on the state store at `dir` and reads its applied position.
pub(crate) fn open_ledger(
    dir: &Path,
    opts: &StateMachineOptions,
) -> io::Result<(Ledger<RocksStore>, Applied)> {
    let store = RocksStore::open(dir, &opts.rocks).map_err(io::Error::other)?;
    let applied = Applied::read(&store)?;
    let ledger = Ledger::with_cache(store, opts.account_cache).map_err(io::Error::other)?;
    Ok((ledger, applied))
}

/// Finishes or discards an install interrupted by a crash: if `state` is missing but a
/// complete `state.new` exists (it was fsynced before the swap began), the swap completes;
/// leftovers are removed.
pub(crate) fn recover(state_dir: &Path) -> io::Result<()> {
    let new = sibling(state_dir, "new");
    let old = sibling(state_dir, "old");
    if !state_dir.exists() && new.exists() {
        fs::rename(&new, state_dir)?;
        sync_parent(state_dir)?;
    }
    for dir in [new, old] {
        if dir.exists() {
            fs::remove_dir_all(dir)?;
        }
    }
    Ok(())
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    dir.with_file_name(name)
}

fn sync_parent(dir: &Path) -> io::Result<()> {
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => sync_dir(p),
        _ => Ok(()),
    }
}
