//! [`LogStore`]: openraft's `RaftLogStorage` and `RaftLogReader` on a RocksDB of its own.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Instant;

use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::OptionalSend;
use rocksdb::{
    BlockBasedOptions, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, Direction,
    IteratorMode, Options, ReadOptions, WriteBatch, WriteOptions, DB,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::keys::{self, CF_ENTRIES, CF_META, META_COMMITTED, META_LAST_PURGED, META_VOTE};
use super::sync::{SyncFn, Syncer};
use crate::codec;
use crate::rocks::RocksFigures;
use crate::stats::LogStats;
use crate::types::{Entry, LogId, TypeConfig, Vote};

/// A failure of the log store. Through openraft's traits it becomes an `io::Error` (kind
/// `Other`, or `InvalidData` for corruption) with this error as its source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// RocksDB failed (I/O error, out of space, corruption it detected, lock held).
    #[error("raft log: {op}: {source}")]
    Backend {
        /// What the store was doing.
        op: &'static str,
        /// RocksDB's error.
        source: rocksdb::Error,
    },
    /// Stored bytes do not decode, or an entry sits under the wrong key.
    #[error("raft log: corrupt {what}: {detail}")]
    Corrupt {
        /// Which record.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// A value could not be encoded.
    #[error("raft log: encode: {0}")]
    Encode(codec::CodecError),
    /// The group-commit thread could not be started or has stopped.
    #[error("raft log: sync thread: {0}")]
    Syncer(io::Error),
}

impl From<LogError> for io::Error {
    fn from(e: LogError) -> Self {
        let kind = match &e {
            LogError::Corrupt { .. } => io::ErrorKind::InvalidData,
            LogError::Syncer(s) => s.kind(),
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

fn backend(op: &'static str) -> impl FnOnce(rocksdb::Error) -> LogError {
    move |source| LogError::Backend { op, source }
}

/// Tuning knobs of the log store.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Cap on the value bytes [`RaftLogReader::limited_get_log_entries`] returns at once (at
    /// least one entry is always returned). Bounds one replication RPC: an entry of 8,189
    /// transfers is about 1 MiB, and openraft may ask for hundreds of entries.
    pub max_read_bytes: usize,
    /// Memtable size of the entries column family in bytes.
    pub write_buffer_bytes: usize,
    /// WAL bytes past which RocksDB flushes the column family that holds the oldest WAL file,
    /// so that the file can be deleted. The `meta` column family takes a write in every WAL
    /// file and rarely fills its memtable: without this cap every WAL file stayed (measured:
    /// 260 MiB of them after 2M transfers on one node), and a restart replayed them all.
    pub max_wal_bytes: u64,
    /// Acknowledge appends without making them durable: the WAL fsync is skipped. Never in
    /// production. It exists so the fault harness can show that it catches a node that
    /// acknowledges before its fsync (`tally start --unsafe-skip-log-fsync`, power-loss faults).
    pub unsafe_skip_fsync: bool,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            max_read_bytes: 4 << 20,
            write_buffer_bytes: 32 << 20,
            max_wal_bytes: 96 << 20,
            unsafe_skip_fsync: false,
        }
    }
}

impl LogOptions {
    /// These options with the memtable size set apart by replica, as the state store's are
    /// ([`crate::rocks::RocksOptions::staggered`]): every replica appends the same entries, so
    /// with equal memtables all of them flush their log at the same instant. Such a flush
    /// writes ~32 MiB of entry bodies to a blob file, ~80-100 ms of one core here, and three
    /// at once on a shared machine made the slowest batches of a 3-node benchmark (their
    /// times matched the flushes in the nodes' RocksDB logs). Measured (docs/benchmarks.md):
    /// batch p99 78.9 ms mean over four 2M-transfer runs against 89.8 ms.
    pub fn staggered(mut self, node_id: u64) -> Self {
        self.write_buffer_bytes = crate::rocks::stagger(self.write_buffer_bytes, node_id);
        self
    }
}

/// The Raft log on its own RocksDB instance (`raft-log/` in a node's data dir).
///
/// Cheap to clone: clones share the database and serve as openraft's log readers. The database
/// closes when the last clone is dropped (after the sync thread finished its queue).
///
/// Calls into RocksDB run inline on the async caller. Writes without sync only touch the
/// memtable and the WAL's page cache; the one write that waits for a disk is `save_vote`, which
/// openraft calls rarely (once per election).
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<DB>,
    // Declared after `db` so it drops last: joining the thread drops its handle on the DB.
    syncer: Syncer<IOFlushed<TypeConfig>>,
    stats: Arc<LogStats>,
    opts: LogOptions,
    path: PathBuf,
}

/// Reads a [`LogStore`]'s RocksDB figures while the store is open ([`LogStore::figures_handle`]).
#[derive(Clone)]
pub struct LogFigures(Weak<Inner>);

impl Debug for LogFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogFigures")
    }
}

impl LogFigures {
    /// The figures of each column family of the log database; empty once it has closed.
    pub fn figures(&self) -> Vec<RocksFigures> {
        let Some(inner) = self.0.upgrade() else {
            return Vec::new();
        };
        [CF_ENTRIES, CF_META]
            .into_iter()
            .filter_map(|name| {
                let cf = inner.db.cf_handle(name)?;
                Some(RocksFigures::read(&inner.db, cf, "log", name))
            })
            .collect()
    }
}

impl Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore")
            .field("path", &self.inner.path)
            .field("fsyncs", &self.fsync_count())
            .finish_non_exhaustive()
    }
}

impl LogStore {
    /// Opens (creating if missing) the log database in directory `path`.
    pub fn open(path: impl AsRef<Path>, opts: &LogOptions) -> Result<Self, LogError> {
        Self::open_with(path.as_ref(), opts, |f| f)
    }

    /// Opens the store with its sync function wrapped by `wrap` (tests gate or fail it).
    pub(crate) fn open_with(
        path: &Path,
        opts: &LogOptions,
        wrap: impl FnOnce(SyncFn) -> SyncFn,
    ) -> Result<Self, LogError> {
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_max_total_wal_size(opts.max_wal_bytes);
        let cfs = [
            ColumnFamilyDescriptor::new(CF_ENTRIES, entries_cf_options(opts)),
            ColumnFamilyDescriptor::new(CF_META, Options::default()),
        ];
        let db = Arc::new(DB::open_cf_descriptors(&db_opts, path, cfs).map_err(backend("open"))?);
        let sync_db = db.clone();
        let skip = opts.unsafe_skip_fsync;
        let stats = Arc::new(LogStats::default());
        let sync_stats = stats.clone();
        let sync: SyncFn = Box::new(move || {
            if skip {
                return Ok(());
            }
            let started = Instant::now();
            let r = sync_db
                .flush_wal(true)
                .map_err(|e| io::Error::other(backend("fsync wal")(e)));
            sync_stats.fsync.observe_duration(started.elapsed());
            if r.is_err() {
                sync_stats.fsync_failures.inc();
            }
            r
        });
        let syncer = Syncer::spawn(wrap(sync)).map_err(LogError::Syncer)?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                syncer,
                stats,
                opts: opts.clone(),
                path: path.to_path_buf(),
            }),
        })
    }

    /// The directory of the database.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// WAL fsyncs made by the group-commit thread so far (`save_vote`'s own syncs not counted).
    /// Fewer fsyncs than appends means appends were grouped.
    pub fn fsync_count(&self) -> u64 {
        self.inner.syncer.fsyncs()
    }

    /// A handle that reads the log database's RocksDB figures without keeping it open.
    pub fn figures_handle(&self) -> LogFigures {
        LogFigures(Arc::downgrade(&self.inner))
    }

    /// The store's figures for monitoring (fsync latency), shared with the sync thread.
    pub fn stats(&self) -> Arc<LogStats> {
        self.inner.stats.clone()
    }

    fn db(&self) -> &DB {
        &self.inner.db
    }

    fn cf(&self, name: &'static str) -> Result<&ColumnFamily, LogError> {
        self.db().cf_handle(name).ok_or(LogError::Corrupt {
            what: "column family",
            detail: format!("{name} is missing"),
        })
    }

    fn get_meta<T: DeserializeOwned>(
        &self,
        key: &'static [u8],
        what: &'static str,
    ) -> Result<Option<T>, LogError> {
        let Some(bytes) = self
            .db()
            .get_pinned_cf(self.cf(CF_META)?, key)
            .map_err(backend("read meta"))?
        else {
            return Ok(None);
        };
        codec::from_bytes(&bytes)
            .map(Some)
            .map_err(|e| corrupt(what, e))
    }

    fn put_meta<T: Serialize>(
        &self,
        key: &'static [u8],
        value: &T,
        sync: bool,
    ) -> Result<(), LogError> {
        let bytes = codec::to_bytes(value).map_err(LogError::Encode)?;
        let mut wo = WriteOptions::default();
        wo.set_sync(sync);
        self.db()
            .put_cf_opt(self.cf(CF_META)?, key, bytes, &wo)
            .map_err(backend("write meta"))
    }

    /// Writes `batch` to the WAL and memtable without waiting for the disk: readable at once,
    /// durable at the next group fsync (or any later synced write: the WAL is sequential).
    fn write_unsynced(&self, batch: WriteBatch, op: &'static str) -> Result<(), LogError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(false);
        self.db().write_opt(batch, &wo).map_err(backend(op))
    }

    /// Entries with index in `[start, end)` (`end = None`: to the last), in index order,
    /// stopping before the value bytes would pass `max_bytes` (but returning at least one).
    fn read_entries(
        &self,
        start: u64,
        end: Option<u64>,
        max_bytes: usize,
    ) -> Result<Vec<Entry>, LogError> {
        if end.is_some_and(|e| e <= start) {
            return Ok(Vec::new());
        }
        let mut ro = ReadOptions::default();
        if let Some(end) = end {
            ro.set_iterate_upper_bound(keys::entry_key(end));
        }
        let from = keys::entry_key(start);
        let it = self.db().iterator_cf_opt(
            self.cf(CF_ENTRIES)?,
            ro,
            IteratorMode::From(&from, Direction::Forward),
        );
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for item in it {
            let (k, v) = item.map_err(backend("read entries"))?;
            if !out.is_empty() && bytes.saturating_add(v.len()) > max_bytes {
                break;
            }
            bytes = bytes.saturating_add(v.len());
            out.push(decode_entry(&k, &v)?);
        }
        Ok(out)
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, LogError> {
        let mut it = self
            .db()
            .iterator_cf(self.cf(CF_ENTRIES)?, IteratorMode::End);
        match it.next() {
            None => Ok(None),
            Some(item) => {
                let (k, v) = item.map_err(backend("read last entry"))?;
                Ok(Some(decode_entry(&k, &v)?.log_id))
            }
        }
    }
}

fn entries_cf_options(opts: &LogOptions) -> Options {
    let mut o = Options::default();
    // Reads are range scans from a known index; no bloom filter needed.
    o.set_block_based_table_factory(&BlockBasedOptions::default());
    o.set_write_buffer_size(opts.write_buffer_bytes);
    // Entry bodies (up to ~1 MiB each) go to blob files when the memtable flushes, so
    // compaction moves only keys and blob references and never rewrites a body; purged entries'
    // blobs are dropped by blob GC. Bodies are not compressed: the ids and amounts in them
    // compress poorly, and LZ4 on every flushed byte cost more CPU than it saved (measured in
    // docs/benchmarks.md).
    o.set_compression_type(DBCompressionType::None);
    o.set_enable_blob_files(true);
    o.set_min_blob_size(4096);
    o.set_blob_file_size(256 << 20);
    o.set_blob_compression_type(DBCompressionType::None);
    o.set_enable_blob_gc(true);
    o
}

fn corrupt(what: &'static str, e: impl std::fmt::Display) -> LogError {
    LogError::Corrupt {
        what,
        detail: e.to_string(),
    }
}

fn decode_entry(k: &[u8], v: &[u8]) -> Result<Entry, LogError> {
    let index = keys::decode_entry_key(k).ok_or_else(|| corrupt("entry key", "not 8 bytes"))?;
    let entry: Entry = codec::from_bytes(v).map_err(|e| corrupt("entry", e))?;
    if entry.log_id.index != index {
        return Err(corrupt(
            "entry",
            format!("entry {} stored under index {index}", entry.log_id),
        ));
    }
    Ok(entry)
}

/// `range` as `[start, end)`; `end = None` means no upper bound. `None` overall: empty.
fn to_half_open(range: &impl RangeBounds<u64>) -> Option<(u64, Option<u64>)> {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.checked_add(1)?,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.checked_add(1),
        Bound::Excluded(&e) => Some(e),
        Bound::Unbounded => None,
    };
    Some((start, end))
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let Some((start, end)) = to_half_open(&range) else {
            return Ok(Vec::new());
        };
        Ok(self.read_entries(start, end, usize::MAX)?)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(self.get_meta(META_VOTE, "vote")?)
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, io::Error> {
        Ok(self.read_entries(start, Some(end), self.inner.opts.max_read_bytes)?)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_purged: Option<LogId> = self.get_meta(META_LAST_PURGED, "last_purged")?;
        let last = self.last_entry_id()?.or(last_purged);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        // Durable before returning (openraft's contract). The synced write also makes every
        // earlier append durable, since the WAL is one sequential file.
        Ok(self.put_meta(META_VOTE, vote, true)?)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // No fsync: the next group fsync carries it. Losing it in a crash only means the state
        // machine replays less of the log at startup, never that it replays an uncommitted entry.
        Ok(self.put_meta(META_COMMITTED, &committed, false)?)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        let c: Option<Option<LogId>> = self.get_meta(META_COMMITTED, "committed")?;
        Ok(c.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let cf = self.cf(CF_ENTRIES)?;
        let mut batch = WriteBatch::default();
        for e in entries {
            let value = codec::to_bytes(&e).map_err(LogError::Encode)?;
            batch.put_cf(cf, keys::entry_key(e.log_id.index), value);
        }
        // Readable when this returns (openraft's contract); durable when the callback fires.
        self.write_unsynced(batch, "append")?;
        self.inner
            .syncer
            .submit(callback)
            .map_err(LogError::Syncer)?;
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = match &last_log_id {
            None => 0,
            Some(l) => match l.index.checked_add(1) {
                Some(i) => i,
                None => return Ok(()),
            },
        };
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(
            self.cf(CF_ENTRIES)?,
            keys::entry_key(from).as_slice(),
            keys::ENTRY_KEY_END.as_slice(),
        );
        // One range tombstone is atomic, so no hole can appear. No fsync: if it is lost in a
        // crash the node comes back with the log it had before the truncation, a state it
        // really had; every append after this waits for an fsync that covers the truncation
        // too (the WAL is sequential), so nothing acknowledged later can sit on top of the
        // entries that came back.
        Ok(self.write_unsynced(batch, "truncate")?)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let bytes = codec::to_bytes(&log_id).map_err(LogError::Encode)?;
        let mut batch = WriteBatch::default();
        // `last_purged` and the deletion in one batch: after a crash either both happened or
        // neither did, so `get_log_state` never reports entries that are gone.
        batch.put_cf(self.cf(CF_META)?, META_LAST_PURGED, bytes);
        let end = log_id.index.checked_add(1).map(keys::entry_key);
        let cf = self.cf(CF_ENTRIES)?;
        match end {
            Some(end) => batch.delete_range_cf(cf, keys::entry_key(0).as_slice(), end.as_slice()),
            None => batch.delete_range_cf(
                cf,
                keys::entry_key(0).as_slice(),
                keys::ENTRY_KEY_END.as_slice(),
            ),
        }
        Ok(self.write_unsynced(batch, "purge")?)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use openraft::entry::RaftEntry;
    use openraft::type_config::TypeConfigExt;
    use openraft::vote::RaftLeaderIdExt;
    use openraft::EntryPayload;

    use super::*;

    fn entry(index: u64) -> Entry {
        let id = LogId::new(
            openraft::alias::LeaderIdOf::<TypeConfig>::new_committed(1, 1),
            index,
        );
        Entry::new(id, EntryPayload::Blank)
    }

    /// Opens a store whose first group fsync blocks until `release` is sent, and which reports
    /// when that fsync has started.
    fn gated(dir: &Path) -> (LogStore, mpsc::Sender<()>, mpsc::Receiver<()>) {
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (entered_tx, entered_rx) = mpsc::channel::<()>();
        let mut first = true;
        let store = LogStore::open_with(dir, &LogOptions::default(), |mut real| {
            Box::new(move || {
                let _ = entered_tx.send(());
                if std::mem::take(&mut first) {
                    let _ = release_rx.recv_timeout(Duration::from_secs(10));
                }
                real()
            })
        })
        .unwrap();
        (store, release_tx, entered_rx)
    }

    #[tokio::test]
    async fn appends_queued_behind_an_fsync_share_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, release, entered) = gated(dir.path());
        const N: u64 = 50;
        let mut waits = Vec::new();
        for i in 0..N {
            let (tx, rx) = TypeConfig::oneshot();
            log.append([entry(i)], IOFlushed::signal(tx)).await.unwrap();
            waits.push(rx);
            if i == 0 {
                // The sync thread is now inside the first fsync (for append 0 only).
                entered.recv_timeout(Duration::from_secs(10)).unwrap();
            }
        }
        // Readable before durable: openraft's contract for `append`.
        assert_eq!(
            log.try_get_log_entries(0..N).await.unwrap().len(),
            N as usize
        );
        release.send(()).unwrap();
        for rx in waits {
            tokio::time::timeout(Duration::from_secs(10), rx)
                .await
                .expect("callback in time")
                .expect("callback called")
                .expect("fsync ok");
        }
        // One fsync for append 0, one for the 49 queued behind it.
        assert_eq!(log.fsync_count(), 2);
    }

    #[tokio::test]
    async fn a_failed_fsync_fails_every_waiting_append() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogStore::open_with(dir.path(), &LogOptions::default(), |_| {
            Box::new(|| Err(io::Error::other("injected EIO")))
        });
        let mut log = log.unwrap();
        let mut waits = Vec::new();
        for i in 0..5 {
            let (tx, rx) = TypeConfig::oneshot();
            log.append([entry(i)], IOFlushed::signal(tx)).await.unwrap();
            waits.push(rx);
        }
        for rx in waits {
            let e = rx.await.expect("callback called").unwrap_err();
            assert!(e.to_string().contains("injected EIO"), "{e}");
        }
    }

    #[tokio::test]
    async fn entry_bodies_flushed_to_blob_files_read_back_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let t = tally_ledger::Transfer {
            id: 1,
            debit_account_id: 2,
            credit_account_id: 3,
            amount: 4,
            ledger: 5,
            code: 6,
            ..Default::default()
        };
        // 200 transfers: an entry body above the 4 KiB that sends it to a blob file.
        let cmd = tally_ledger::Command::CreateTransfers(vec![t; 200]);
        let entries: Vec<Entry> = (1..=20)
            .map(|i| {
                let mut e = entry(i);
                e.payload = EntryPayload::Normal(crate::types::Request::new(i, &cmd));
                e
            })
            .collect();
        {
            let mut log = LogStore::open(dir.path(), &LogOptions::default()).unwrap();
            let (tx, rx) = TypeConfig::oneshot();
            log.append(entries.clone(), IOFlushed::signal(tx))
                .await
                .unwrap();
            rx.await.unwrap().unwrap();
            let db = log.db();
            db.flush_cf(log.cf(CF_ENTRIES).unwrap()).unwrap();
        }
        let blobs = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension() == Some("blob".as_ref()))
            .count();
        assert_eq!(blobs, 1, "the flush wrote the bodies to a blob file");
        let mut log = LogStore::open(dir.path(), &LogOptions::default()).unwrap();
        assert_eq!(log.try_get_log_entries(1..=20).await.unwrap(), entries);
    }

    #[test]
    fn ranges_convert_to_half_open() {
        assert_eq!(to_half_open(&(..)), Some((0, None)));
        assert_eq!(to_half_open(&(3..7)), Some((3, Some(7))));
        assert_eq!(to_half_open(&(3..=7)), Some((3, Some(8))));
        assert_eq!(to_half_open(&(3..=u64::MAX)), Some((3, None)));
        let excl = (Bound::Excluded(u64::MAX), Bound::Unbounded);
        assert_eq!(to_half_open(&excl), None);
        let excl = (Bound::Excluded(4), Bound::Excluded(6));
        assert_eq!(to_half_open(&excl), Some((5, Some(6))));
    }
}
