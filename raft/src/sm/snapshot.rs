//! Snapshots, the simplest correct version (step 5 of the plan replaces it with checkpoint
//! directories streamed file by file; `docs/internals/replication-design.md` §4.6).
//!
//! - **Build**: under the state lock (no entry is applied meanwhile), flush the store, read the
//!   applied position, and checkpoint it into `snapshots/tmp-*`. The snapshot's meta is that
//!   position, so it names exactly the prefix the checkpoint holds. Then pack the checkpoint's
//!   files into one in-memory [`SnapshotData`] archive and delete the checkpoint.
//! - **Install**: unpack into `state.new/` and fsync it; under the lock, close the store, swap
//!   `state.new` in for `state`, fsync the parent, reopen and check that the reopened position
//!   is the snapshot's.
//!
//! The whole snapshot is held in memory, so it is bounded by `max_snapshot_bytes`; a bigger
//! store fails to build with a clear error. The current snapshot is kept in memory only: after
//! a restart there is none, and openraft builds a new one when it needs it.

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use openraft::alias::{SnapshotMetaOf, SnapshotOf};
use openraft::storage::RaftSnapshotBuilder;
use serde::{Deserialize, Serialize};
use tally_ledger::Ledger;

use super::applied::Applied;
use super::{lock, Shared, SharedRef};
use crate::codec;
use crate::rocks::{RocksOptions, RocksStore};
use crate::types::TypeConfig;

/// openraft's snapshot metadata for our type config.
pub type SnapshotMeta = SnapshotMetaOf<TypeConfig>;
/// A snapshot: its metadata and its data.
pub type Snapshot = SnapshotOf<TypeConfig, SnapshotData>;

/// Format version of the archive; bump on any change of [`Archive`].
const ARCHIVE_VERSION: u32 = 1;

/// A snapshot's data: the state store's checkpoint files in one postcard archive.
#[derive(Clone)]
pub struct SnapshotData(Arc<Vec<u8>>);

impl SnapshotData {
    /// Wraps archive bytes (as received from another node).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(Arc::new(bytes))
    }

    /// The archive bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SnapshotData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SnapshotData({} bytes)", self.0.len())
    }
}

#[derive(Serialize, Deserialize)]
struct Archive {
    version: u32,
    files: Vec<ArchiveFile>,
}

#[derive(Serialize, Deserialize)]
struct ArchiveFile {
    name: String,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

/// Builds snapshots off the apply task; holds only handles.
#[derive(Debug)]
pub struct SnapshotBuilder {
    pub(super) shared: SharedRef,
    pub(super) snapshots_dir: PathBuf,
    pub(super) max_bytes: u64,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let tmp = self.snapshots_dir.join(format!(
            "tmp-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let applied = {
            let g = lock(&self.shared)?;
            let store = g.ledger()?.store();
            store.flush().map_err(io::Error::other)?;
            let applied = Applied::read(store)?;
            store.checkpoint(&tmp).map_err(io::Error::other)?;
            applied
        };
        let packed = pack(&tmp, self.max_bytes);
        fs::remove_dir_all(&tmp)?;
        let data = SnapshotData::from_bytes(packed?);
        let meta = SnapshotMeta {
            last_log_id: applied.log_id,
            last_membership: applied.membership,
        };
        lock(&self.shared)?.current = Some((meta.clone(), data.clone()));
        Ok(Snapshot {
            meta,
            snapshot: data,
        })
    }
}

/// Packs the files of checkpoint `dir` (RocksDB checkpoints are flat) into an archive.
fn pack(dir: &Path, max_bytes: u64) -> io::Result<Vec<u8>> {
    let mut entries = Vec::new();
    let mut total = 0u64;
    for e in fs::read_dir(dir)? {
        let e = e?;
        let meta = e.metadata()?;
        let name = e
            .file_name()
            .into_string()
            .map_err(|n| io::Error::new(io::ErrorKind::InvalidData, format!("file name {n:?}")))?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("checkpoint holds a non-file {name:?}"),
            ));
        }
        total = total.saturating_add(meta.len());
        if total > max_bytes {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!(
                    "state store is over {max_bytes} bytes, too big for an in-memory snapshot \
                     (snapshots streamed from disk are not implemented yet)"
                ),
            ));
        }
        entries.push(name);
    }
    // Sorted: the same checkpoint always packs to the same bytes.
    entries.sort();
    let mut files = Vec::with_capacity(entries.len());
    for name in entries {
        let data = fs::read(dir.join(&name))?;
        files.push(ArchiveFile { name, data });
    }
    let archive = Archive {
        version: ARCHIVE_VERSION,
        files,
    };
    Ok(codec::to_bytes(&archive)?)
}

/// Unpacks an archive into a new directory `dir` and makes it durable.
fn unpack(data: &SnapshotData, dir: &Path) -> io::Result<()> {
    let archive: Archive = codec::from_bytes(data.as_bytes())?;
    if archive.version != ARCHIVE_VERSION {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("snapshot archive version {}", archive.version),
        ));
    }
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    fs::create_dir_all(dir)?;
    for f in &archive.files {
        let plain = !f.name.is_empty()
            && f.name != "."
            && f.name != ".."
            && !f.name.contains(['/', '\\', '\0']);
        if !plain {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("snapshot archive holds a bad file name {:?}", f.name),
            ));
        }
        fs::write(dir.join(&f.name), &f.data)?;
        File::open(dir.join(&f.name))?.sync_all()?;
    }
    File::open(dir)?.sync_all()
}

/// Replaces the state store with the snapshot's and reopens it; see the module docs.
pub(super) fn install(
    shared: &SharedRef,
    state_dir: &Path,
    opts: &RocksOptions,
    meta: &SnapshotMeta,
    data: SnapshotData,
) -> io::Result<()> {
    let new = sibling(state_dir, "new");
    let old = sibling(state_dir, "old");
    unpack(&data, &new)?;
    let mut g = lock(shared)?;
    // Close the store: RocksDB releases its lock and files when the ledger drops. If anything
    // below fails, the ledger stays closed and every later call errors: the node stops.
    drop(g.ledger.take());
    if old.exists() {
        fs::remove_dir_all(&old)?;
    }
    fs::rename(state_dir, &old)?;
    fs::rename(&new, state_dir)?;
    sync_parent(state_dir)?;
    fs::remove_dir_all(&old)?;
    let (ledger, applied) = open_ledger(state_dir, opts)?;
    if applied.log_id != meta.last_log_id || applied.membership != meta.last_membership {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "installed snapshot holds position {:?}, its meta says {:?}",
                applied.log_id, meta.last_log_id
            ),
        ));
    }
    g.ledger = Some(ledger);
    g.applied = applied;
    g.current = Some((meta.clone(), data));
    Ok(())
}

/// Opens the ledger on the state store at `dir` and reads its applied position.
pub(super) fn open_ledger(
    dir: &Path,
    opts: &RocksOptions,
) -> io::Result<(Ledger<RocksStore>, Applied)> {
    let store = RocksStore::open(dir, opts).map_err(io::Error::other)?;
    let applied = Applied::read(&store)?;
    let ledger = Ledger::open(store).map_err(io::Error::other)?;
    Ok((ledger, applied))
}

/// Finishes or discards an install interrupted by a crash: if `state` is missing but a
/// complete `state.new` exists (it was fsynced before the swap began), the swap completes;
/// leftovers are removed.
pub(super) fn recover(state_dir: &Path, snapshots_dir: &Path) -> io::Result<()> {
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
    if snapshots_dir.exists() {
        for e in fs::read_dir(snapshots_dir)? {
            let e = e?;
            if e.file_name().to_string_lossy().starts_with("tmp-") {
                fs::remove_dir_all(e.path())?;
            }
        }
    }
    fs::create_dir_all(snapshots_dir)
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    dir.with_file_name(name)
}

fn sync_parent(dir: &Path) -> io::Result<()> {
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => File::open(p)?.sync_all(),
        _ => Ok(()),
    }
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
