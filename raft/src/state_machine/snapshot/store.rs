//! The snapshot directories under `snapshots/`: names, publishing, leases, retention, reload.
//!
//! A complete snapshot is `snapshots/<last index:020>-<term>-<leader node>/` (or `none/` for a
//! snapshot of an empty store) holding the checkpoint's files and the manifest
//! ([`super::manifest::MANIFEST_FILE`]). Directories are only ever built under a staging name
//! (`tmp-*` for a build, `incoming-*` for a transfer or an import), fsynced, and renamed into
//! place, so a directory with a final name is complete. Staging directories left by a crash are deleted on open.
//!
//! **Leases.** A [`SnapshotData`] handle is a lease on its directory: retention never deletes a
//! directory while a handle to it lives (for example while it is being streamed to a peer).
//! The store keeps a weak reference per directory it handed out; handles for a directory are
//! only made under the store's lock, so the check and the delete cannot race.
//!
//! **Retention.** After each build or install the store keeps the current snapshot, the one
//! before it, and any leased one; the rest are deleted. A leased directory is deleted by the
//! first retention pass after its last handle drops.

use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::manifest::Manifest;
use super::{Snapshot, SnapshotMeta};
use crate::state_machine::applied::Applied;

/// A snapshot's data: a handle (and lease) on a complete snapshot directory. Cheap to clone.
#[derive(Clone)]
pub struct SnapshotData(Arc<SnapshotDir>);

struct SnapshotDir {
    path: PathBuf,
    manifest: Manifest,
}

impl SnapshotData {
    /// Opens the complete snapshot directory `dir`: reads its manifest and checks that the
    /// listed files are there with their sizes (sums are checked when it is imported). A handle
    /// made here is not a lease in any [`SnapshotStore`]; use it for directories outside one.
    pub fn open(dir: impl AsRef<Path>) -> io::Result<Self> {
        let path = dir.as_ref().to_path_buf();
        let manifest = Manifest::read(&path)?;
        manifest.check_sizes(&path)?;
        Ok(Self(Arc::new(SnapshotDir { path, manifest })))
    }

    /// The snapshot directory.
    pub fn path(&self) -> &Path {
        &self.0.path
    }

    /// Its manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.0.manifest
    }

    /// Bytes of the files (without the manifest).
    pub fn total_bytes(&self) -> u64 {
        self.0.manifest.total_bytes()
    }
}

impl fmt::Debug for SnapshotData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SnapshotData({}, {} files, {} bytes)",
            self.0.path.display(),
            self.0.manifest.files.len(),
            self.total_bytes()
        )
    }
}

/// The name of the directory of the snapshot with `meta`.
pub fn snapshot_name(meta: &SnapshotMeta) -> String {
    match &meta.last_log_id {
        Some(l) => {
            let leader = l.committed_leader_id();
            format!("{:020}-{}-{}", l.index, leader.term, leader.node_id)
        }
        None => "none".into(),
    }
}

/// A staging directory (`tmp-*`, `incoming-*`) that is deleted when dropped unless it was
/// published.
#[derive(Debug)]
pub struct Staging {
    path: Option<PathBuf>,
}

impl Staging {
    /// Its path.
    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("only taken by publish")
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            // Best effort: whatever is left is deleted on the next open.
            let _ = fs::remove_dir_all(p);
        }
    }
}

/// The snapshots of one node (`<data dir>/snapshots/`).
#[derive(Debug)]
pub struct SnapshotStore {
    dir: PathBuf,
    cluster_id: u128,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Every handle made by this store, by directory name; a live one is a lease.
    handed_out: HashMap<String, Weak<SnapshotDir>>,
    /// The current snapshot: the last installed, or the newest built since.
    current: Option<(SnapshotMeta, SnapshotData)>,
    /// The directory name of the snapshot that was current before it.
    previous: Option<String>,
}

fn is_staging(name: &str) -> bool {
    name.starts_with("tmp-") || name.starts_with("incoming-")
}

/// fsyncs a directory, making the entries created or renamed in it durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl SnapshotStore {
    /// Opens `dir` (creating it), deletes staging leftovers, and loads as current the newest
    /// complete snapshot that the state store already contains (`applied`): a snapshot that was
    /// received but not installed before a crash is not current, and is deleted by retention.
    /// A snapshot of another cluster is an error: the data directory belongs to another cluster.
    pub fn open(dir: impl AsRef<Path>, cluster_id: u128, applied: &Applied) -> io::Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir)?;
        let mut found = Vec::new();
        for e in fs::read_dir(&dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if is_staging(&name) {
                remove_entry(&e.path())?;
                continue;
            }
            let Ok(data) = SnapshotData::open(e.path()) else {
                // Not a complete snapshot (never happens with the staging protocol): junk.
                remove_entry(&e.path())?;
                continue;
            };
            let m = data.manifest();
            if m.cluster_id != cluster_id {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "snapshot {} belongs to cluster {:032x}, this node is in cluster {:032x}",
                        e.path().display(),
                        m.cluster_id,
                        cluster_id
                    ),
                ));
            }
            if snapshot_name(&m.meta) == name && contained(&m.meta, applied) {
                found.push(data);
            }
        }
        found.sort_by(|a, b| {
            a.manifest()
                .meta
                .last_log_id
                .cmp(&b.manifest().meta.last_log_id)
        });
        let store = Self {
            dir,
            cluster_id,
            inner: Mutex::new(Inner::default()),
        };
        {
            let mut inner = store.lock()?;
            let mut newest = found.into_iter().rev();
            if let Some(cur) = newest.next() {
                let name = file_name(cur.path());
                inner.handed_out.insert(name, Arc::downgrade(&cur.0));
                inner.current = Some((cur.manifest().meta.clone(), cur));
            }
            inner.previous = newest.next().map(|p| file_name(p.path()));
            store.retain(&mut inner)?;
        }
        Ok(store)
    }

    fn lock(&self) -> io::Result<MutexGuard<'_, Inner>> {
        self.inner
            .lock()
            .map_err(|_| io::Error::other("snapshot store lock poisoned by a panic"))
    }

    /// The directory of the snapshots.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cluster id written into, and required of, every snapshot.
    pub fn cluster_id(&self) -> u128 {
        self.cluster_id
    }

    /// A new, empty staging directory `<kind>-<pid>-<n>` (kind `tmp` or `incoming`).
    pub fn staging(&self, kind: &str) -> io::Result<Staging> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.join(format!("{kind}-{}-{n}", std::process::id()));
        debug_assert!(is_staging(&file_name(&path)));
        fs::create_dir(&path)?;
        Ok(Staging { path: Some(path) })
    }

    /// Whether `data` is one of this store's directories (rather than another node's).
    pub fn owns(&self, data: &SnapshotData) -> bool {
        data.path().parent() == Some(self.dir.as_path())
    }

    /// Makes a complete staging directory a snapshot: writes `manifest` into it, fsyncs the
    /// directory, renames it to its final name and fsyncs `snapshots/`. The caller has fsynced
    /// the files. If a leased snapshot of the same log id exists, that one is returned (a log
    /// id names one state) and the staging directory is dropped.
    pub fn publish(&self, mut staging: Staging, manifest: Manifest) -> io::Result<SnapshotData> {
        let src = staging.path().to_path_buf();
        manifest.write(&src)?;
        sync_dir(&src)?;
        let name = snapshot_name(&manifest.meta);
        let path = self.dir.join(&name);
        let mut inner = self.lock()?;
        if let Some(h) = inner.handed_out.get(&name).and_then(Weak::upgrade) {
            return Ok(SnapshotData(h));
        }
        if path.exists() {
            fs::remove_dir_all(&path)?;
        }
        fs::rename(&src, &path)?;
        staging.path = None;
        sync_dir(&self.dir)?;
        let h = Arc::new(SnapshotDir { path, manifest });
        inner.handed_out.insert(name, Arc::downgrade(&h));
        Ok(SnapshotData(h))
    }

    /// Copies another store's snapshot into this one (hard links where possible), checking
    /// every file's size and BLAKE3 sum, and publishes it.
    pub fn import(&self, foreign: &SnapshotData) -> io::Result<SnapshotData> {
        let staging = self.staging("incoming")?;
        for f in &foreign.manifest().files {
            let dst = staging.path().join(&f.name);
            link_or_copy(&foreign.path().join(&f.name), &dst, true)?;
        }
        foreign.manifest().verify(staging.path())?;
        self.publish(staging, foreign.manifest().clone())
    }

    /// The current snapshot.
    pub fn current(&self) -> io::Result<Option<Snapshot>> {
        Ok(self
            .lock()?
            .current
            .clone()
            .map(|(meta, snapshot)| Snapshot { meta, snapshot }))
    }

    /// Records a snapshot just built: it becomes current if it is newer than the current one.
    /// Then applies retention.
    pub fn built(&self, meta: &SnapshotMeta, data: &SnapshotData) -> io::Result<()> {
        let mut inner = self.lock()?;
        let newer = match &inner.current {
            Some((m, _)) => meta.last_log_id > m.last_log_id,
            None => true,
        };
        if newer {
            Self::replace_current(&mut inner, meta, data);
        }
        self.retain(&mut inner)
    }

    /// Records a snapshot just installed: it is now current, whatever was before (the state
    /// store holds exactly it). Then applies retention.
    pub fn installed(&self, meta: &SnapshotMeta, data: &SnapshotData) -> io::Result<()> {
        let mut inner = self.lock()?;
        Self::replace_current(&mut inner, meta, data);
        self.retain(&mut inner)
    }

    fn replace_current(inner: &mut Inner, meta: &SnapshotMeta, data: &SnapshotData) {
        let name = file_name(data.path());
        if let Some((_, old)) = inner.current.take() {
            let old = file_name(old.path());
            if old != name {
                inner.previous = Some(old);
            }
        }
        inner.current = Some((meta.clone(), data.clone()));
    }

    /// Deletes every complete snapshot that is neither current, previous, nor leased.
    fn retain(&self, inner: &mut Inner) -> io::Result<()> {
        inner.handed_out.retain(|_, w| w.strong_count() > 0);
        let current = inner.current.as_ref().map(|(_, d)| file_name(d.path()));
        for e in fs::read_dir(&self.dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let keep = is_staging(&name)
                || Some(&name) == current.as_ref()
                || Some(&name) == inner.previous.as_ref()
                || inner.handed_out.contains_key(&name);
            if !keep {
                remove_entry(&e.path())?;
            }
        }
        Ok(())
    }
}

/// Whether the state at `applied` contains the snapshot with `meta`.
fn contained(meta: &SnapshotMeta, applied: &Applied) -> bool {
    match (&meta.last_log_id, &applied.log_id) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(s), Some(a)) => s.index <= a.index && s <= a,
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn remove_entry(p: &Path) -> io::Result<()> {
    let r = if p.is_dir() {
        fs::remove_dir_all(p)
    } else {
        fs::remove_file(p)
    };
    match r {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Puts a copy of `src` at `dst`: a hard link if `link` (for immutable files: SSTs, and any
/// file of a snapshot, which nothing modifies) and the file system allows it, else a copy,
/// fsynced.
pub(crate) fn link_or_copy(src: &Path, dst: &Path, link: bool) -> io::Result<()> {
    if link && fs::hard_link(src, dst).is_ok() {
        return Ok(());
    }
    fs::copy(src, dst)?;
    File::open(dst)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::super::manifest::MANIFEST_FILE;
    use super::*;

    #[test]
    fn staging_is_removed_unless_published() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::open(dir.path(), 3, &Applied::default()).unwrap();
        let s = store.staging("incoming").unwrap();
        let p = s.path().to_path_buf();
        assert!(p.is_dir());
        drop(s);
        assert!(!p.exists());
        // A crash leaves one behind: the next open deletes it.
        fs::create_dir(dir.path().join("incoming-1-1")).unwrap();
        fs::write(dir.path().join("incoming-1-1/x"), b"x").unwrap();
        let _ = SnapshotStore::open(dir.path(), 3, &Applied::default()).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_snapshot_of_another_cluster_is_an_error_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::open(dir.path(), 3, &Applied::default()).unwrap();
        let s = store.staging("tmp").unwrap();
        let m = Manifest::scan(s.path(), 3, SnapshotMeta::default()).unwrap();
        store.publish(s, m).unwrap();
        assert!(dir.path().join("none").join(MANIFEST_FILE).is_file());
        drop(store);
        SnapshotStore::open(dir.path(), 3, &Applied::default()).unwrap();
        let e = SnapshotStore::open(dir.path(), 4, &Applied::default()).unwrap_err();
        assert!(e.to_string().contains("belongs to cluster"), "{e}");
    }
}
