//! The ledger's state on RocksDB: one column family per [`Cf`], one atomic write per command.
//!
//! Durability is a choice ([`Durability`]): with Raft the log is the write-ahead log, so the
//! state machine can skip RocksDB's WAL and rely on atomic flushes across column families
//! (`atomic_flush`) plus the applied position stored in the same batch; on restart it replays the
//! log from that position. Alone (tests, benchmarks, tools) it can sync every write instead.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType,
    FlushOptions, Options, ReadOptions, SnapshotWithThreadMode, WriteOptions, DB,
};
use tally_ledger::store::{Cf, KvRead, KvStore, StoreError, WriteBatch};
use tally_ledger::{sorted_ops, IndexedBatch};

/// How a write reaches the disk before [`KvStore::write`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Write RocksDB's WAL and fsync it on every batch: durable on its own.
    Sync,
    /// Write RocksDB's WAL without fsync: survives a process crash, not a power loss.
    Wal,
    /// No WAL: state reaches disk only when memtables flush (atomically across column
    /// families). Safe only when something else (the Raft log) can replay what was lost; the
    /// applied position read after a restart tells where to resume.
    NoWal,
}

/// Tuning knobs of the state store.
#[derive(Debug, Clone)]
pub struct RocksOptions {
    /// See [`Durability`].
    pub durability: Durability,
    /// Shared block cache size in bytes.
    pub block_cache_bytes: usize,
    /// Memtable size per column family in bytes.
    pub write_buffer_bytes: usize,
}

impl Default for RocksOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Sync,
            block_cache_bytes: 256 << 20,
            // Measured (benches `apply`, 2M transfers, 10k accounts): smaller memtables make
            // every skiplist insert cheaper; 8 MiB sustained the most transfers/s, below that
            // flush and compaction churn takes over.
            write_buffer_bytes: 8 << 20,
        }
    }
}

impl RocksOptions {
    /// These options with the memtable size set apart by replica: 90%, 100% or 110% of
    /// `write_buffer_bytes` by `node_id` modulo 3 (node 1 keeps 100%).
    ///
    /// Replicas apply identical batches, so with identical memtables they flush, and then
    /// compact, at the same instants: a majority is slow at once and so is every commit, and
    /// replicas sharing a machine (a test cluster) stack their compaction bursts on the same
    /// cores. Memtables of different sizes drift their flushes and compactions apart.
    /// Measured (docs/benchmarks.md): a 3-node cluster on one machine, batch p99
    /// 81.6 ms mean over eight runs against 87.1 ms.
    pub fn staggered(mut self, node_id: u64) -> Self {
        self.write_buffer_bytes = stagger(self.write_buffer_bytes, node_id);
        self
    }
}

/// `bytes` set apart by replica: 90%, 100% or 110% by `node_id` modulo 3 (node 1 keeps 100%).
/// See [`RocksOptions::staggered`] and [`crate::log::LogOptions::staggered`].
pub(crate) fn stagger(bytes: usize, node_id: u64) -> usize {
    let percent = match node_id % 3 {
        0 => 90,
        1 => 100,
        _ => 110,
    };
    bytes.saturating_mul(percent) / 100
}

/// The RocksDB-backed ledger store.
pub struct RocksStore {
    /// Shared with the [`RocksReader`]s handed out, which read without the writer.
    db: Arc<DB>,
    path: PathBuf,
    durability: Durability,
    write_opts: WriteOptions,
}

impl std::fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn backend(e: rocksdb::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl RocksStore {
    /// Opens (creating if missing) the store at `path`.
    pub fn open(path: impl AsRef<Path>, opts: &RocksOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let cache = Cache::new_lru_cache(opts.block_cache_bytes);
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        // The applied position lives in `meta`; flushing every column family at once keeps
        // what is on disk a consistent prefix of the applied commands even without a WAL.
        db_opts.set_atomic_flush(true);
        db_opts.increase_parallelism(2);
        // Two compactions at a time (RocksDB's low-priority pool has two threads) rather than
        // one: with `atomic_flush` every family gets an L0 file at each flush, and the small
        // ones (`transfers`, `transfer_ids`) reached RocksDB's 20-file write slowdown while the
        // only compaction was busy rewriting `accounts` (apply bench, 1M accounts uniform:
        // batches of 240-270 ms, writes delayed to 16 MiB/s). Measured (docs/benchmarks.md):
        // that case's p99 269 -> 82 ms; three nodes, eight pairs, +3% transfers/s.
        db_opts.set_max_background_jobs(4);
        let cfs = Cf::ALL
            .iter()
            .map(|cf| {
                Ok(ColumnFamilyDescriptor::new(
                    cf.name(),
                    cf_options(*cf, opts, &cache)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let db = Arc::new(DB::open_cf_descriptors(&db_opts, &path, cfs).map_err(backend)?);
        delay_bottommost_compactions(&db)?;
        Ok(Self {
            db,
            path,
            durability: opts.durability,
            write_opts: write_options(opts.durability),
        })
    }

    /// Opens the store at `path` read-only (a checkpoint, to read it without changing its
    /// files); RocksDB's info log goes to `log_dir`. Writes fail.
    pub fn open_read_only(path: impl AsRef<Path>, log_dir: &Path) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let mut db_opts = Options::default();
        db_opts.set_db_log_dir(log_dir);
        let names = Cf::ALL.iter().map(|cf| cf.name());
        let db =
            Arc::new(DB::open_cf_for_read_only(&db_opts, &path, names, false).map_err(backend)?);
        Ok(Self {
            db,
            path,
            durability: Durability::Sync,
            write_opts: write_options(Durability::Sync),
        })
    }

    fn cf(&self, cf: Cf) -> &ColumnFamily {
        cf_handle(&self.db, cf)
    }

    /// A handle that reads this store from any thread, each read on a consistent snapshot,
    /// without waiting for writes. It keeps the database open while it lives.
    pub fn reader(&self) -> RocksReader {
        RocksReader {
            db: self.db.clone(),
        }
    }

    /// A handle that writes batches to this store from another thread, with the store's
    /// durability. It keeps the database open while it lives.
    pub fn writer(&self) -> RocksWriter {
        RocksWriter {
            db: self.db.clone(),
            durability: self.durability,
        }
    }

    /// The directory of the database.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes every column family's memtable to disk in one atomic flush, so that everything
    /// written so far (including the applied position) survives a crash without a WAL.
    pub fn flush(&self) -> Result<(), StoreError> {
        let cfs: Vec<&ColumnFamily> = Cf::ALL.iter().map(|c| self.cf(*c)).collect();
        let mut fo = FlushOptions::default();
        fo.set_wait(true);
        self.db.flush_cfs_opt(&cfs, &fo).map_err(backend)
    }

    /// Writes a consistent point-in-time copy of the database to `dir` (hard links where
    /// possible): the unit of snapshots and online backups.
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<(), StoreError> {
        let cp = rocksdb::checkpoint::Checkpoint::new(&self.db).map_err(backend)?;
        cp.create_checkpoint(dir).map_err(backend)
    }

    /// Approximate bytes on disk (SST files plus live memtables), for reports.
    pub fn approximate_size(&self) -> u64 {
        Cf::ALL
            .iter()
            .map(|c| {
                let prop = |name| {
                    self.db
                        .property_int_value_cf(self.cf(*c), name)
                        .ok()
                        .flatten()
                        .unwrap_or(0)
                };
                prop("rocksdb.total-sst-files-size") + prop("rocksdb.cur-size-all-mem-tables")
            })
            .sum()
    }
}

/// How old (seconds) a file in the last level must be before RocksDB rewrites it only to zero
/// its sequence numbers (a "BottommostFiles" compaction): a week.
const BOTTOMMOST_FILE_COMPACTION_DELAY_SECS: &str = "604800";

/// Level-style column families flush files that RocksDB moves to the last level untouched
/// (their keys are time-ordered), and by default it then rewrites each of them once more, at
/// once, just to zero the sequence numbers inside: measured (RocksDB's LOG, 3M transfers on
/// one node), 142 such compactions of `transfers` and `transfer_ids` were a third of all
/// compaction CPU. Delaying them by a week leaves that rewrite to files that stay around that
/// long. The option is not in the C API's options setters, so it is set on the open database
/// (it is a dynamic option, and RocksDB records it in the OPTIONS file).
fn delay_bottommost_compactions(db: &DB) -> Result<(), StoreError> {
    for cf in Cf::ALL {
        if !account_indexed(cf) {
            db.set_options_cf(
                cf_handle(db, cf),
                &[(
                    "bottommost_file_compaction_delay",
                    BOTTOMMOST_FILE_COMPACTION_DELAY_SECS,
                )],
            )
            .map_err(backend)?;
        }
    }
    Ok(())
}

fn write_options(durability: Durability) -> WriteOptions {
    let mut o = WriteOptions::default();
    match durability {
        Durability::Sync => o.set_sync(true),
        Durability::Wal => o.set_sync(false),
        Durability::NoWal => o.disable_wal(true),
    }
    o
}

/// Writes batches to a [`RocksStore`] from any thread ([`RocksStore::writer`]): what
/// [`KvStore::write`] does, without the store itself.
#[derive(Clone)]
pub struct RocksWriter {
    db: Arc<DB>,
    durability: Durability,
}

impl std::fmt::Debug for RocksWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksWriter")
            .field("path", &self.db.path())
            .field("durability", &self.durability)
            .finish()
    }
}

impl RocksWriter {
    /// Applies `batch` all or nothing, like [`KvStore::write`] on the store.
    pub fn write(&self, batch: &IndexedBatch) -> Result<(), StoreError> {
        let opts = write_options(self.durability);
        write_ops(&self.db, &opts, batch.batch(), batch.ops())
    }
}

/// Whether reads of a column family are point lookups (rather than range scans only).
fn point_lookups(cf: Cf) -> bool {
    matches!(
        cf,
        Cf::Meta | Cf::Accounts | Cf::Transfers | Cf::TransferIds | Cf::Pending
    )
}

/// Whether a column family is keyed by (account id, timestamp): every batch writes keys
/// spread over the whole key space, so every level-style compaction of its L0 files rewrites
/// most of L1. Its records are tiny (24-byte key, a few bytes of value), so compaction is paid
/// per record.
fn account_indexed(cf: Cf) -> bool {
    matches!(cf, Cf::AccountTransfers | Cf::AccountBalances)
}

fn cf_options(cf: Cf, opts: &RocksOptions, cache: &Cache) -> Result<Options, StoreError> {
    let mut o = Options::default();
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    if point_lookups(cf) {
        // Column families read only by range scans get no bloom filter: it would never be
        // consulted, and building it costs a hash per key at every flush and compaction.
        table.set_bloom_filter(10.0, false);
    }
    table.set_cache_index_and_filter_blocks(true);
    o.set_block_based_table_factory(&table);
    o.set_compression_type(match cf {
        // Records that live a few commands (deleted at the next fold): flushes that compress
        // them spend CPU on every replica at once for bytes that are soon gone. Measured
        // (docs/benchmarks.md): three nodes 2M, five pairs, mean 211k -> 221k/s,
        // batch p99 mean 95 -> 69 ms; the apply bench did not change.
        Cf::AccountIndexLog | Cf::AccountLog => DBCompressionType::None,
        _ => DBCompressionType::Lz4,
    });
    o.set_write_buffer_size(opts.write_buffer_bytes);
    // Room for two memtables to flush while the writer fills the next one.
    o.set_max_write_buffer_number(4);
    if cf == Cf::TransferIds {
        // A bloom filter over memtable keys: the idempotency check of every new transfer is a
        // miss, and a miss should not walk the skiplist. Only here: the other column families'
        // point reads find what they look for (or come after an account-cache miss), so their
        // filter would be paid on every insert and never save a search (measured: apply bench,
        // 10k accounts uniform, +4% without it on `accounts`, `transfers` and `pending`).
        o.set_memtable_whole_key_filtering(true);
        o.set_memtable_prefix_bloom_ratio(0.1);
    }
    if cf == Cf::Accounts {
        // Merge 16 L0 files at a time rather than 4. Every atomic flush gives `accounts` an
        // L0 file, and with a million accounts each of those spans the whole key space, so
        // every L0 -> L1 compaction rewrote all of L1 to merge a few thousand accounts. Reads
        // barely notice more L0 files: the executor reads accounts through its cache, and a
        // point read skips most files by their bloom filters. Measured (docs/benchmarks.md):
        // apply bench, 3M transfers, 1M hot 605k -> 710k/s, 1M uniform 259k ->
        // 295k/s, 10k rows unchanged; three nodes with 1M accounts, two pairs, 71k-73k ->
        // 79k-85k/s, p99 255-265 -> 227-231 ms.
        o.set_level_zero_file_num_compaction_trigger(16);
        o.set_level_zero_slowdown_writes_trigger(40);
        o.set_level_zero_stop_writes_trigger(60);
    }
    if account_indexed(cf) {
        // Measured (benches `apply`, 2M transfers, 10k accounts, uniform): the account index
        // was the one column family whose compaction mattered, 7.5 s of CPU for 2M transfers
        // (write amplification 4.7); universal compaction (with no bloom filter) took 4.2 s,
        // and the whole run's CPU fell by a fifth. The price is space amplification up to 2x
        // of this column family during a full merge. The column families keyed by timestamp
        // or by time-ordered id stay level-style: their flushes do not overlap and move down
        // without being rewritten.
        o.set_compaction_style(rocksdb::DBCompactionStyle::Universal);
        // Merge when 8 sorted runs have piled up rather than 4: measured (3M transfers on one
        // node, RocksDB's LOG) this CF's compaction CPU fell from 2.3 s to 1.2 s and the node's
        // whole CPU by 8%; account-history reads after the load did not get slower (apply
        // bench, p50 41-63 µs either way). 12 saved little more and stalled a write once.
        o.set_level_zero_file_num_compaction_trigger(8);
    }
    // Every batch is written in key order (`sorted_ops`), but a plain memtable insert searches
    // the skiplist from its top level each time. With an insert hint (one per memtable here:
    // the prefix of every key is the empty prefix) RocksDB starts from the previous insert's
    // position and fixes only the levels that no longer bracket the key, which for keys in
    // order is a few of the lowest. Measured (docs/benchmarks.md): apply bench +2-12%,
    // one node's CPU per transfer -6%. Not in the C API, hence the options string.
    o.get_options_from_string("memtable_insert_with_hint_prefix_extractor=rocksdb.FixedPrefix.0")
        .map_err(backend)
}

/// One column family's RocksDB figures, for monitoring: memory, disk and compaction debt, read
/// from RocksDB's properties (`property_int_value_cf`) at the moment of the call. A property
/// RocksDB does not answer reads as 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RocksFigures {
    /// Which database: `state` (the ledger) or `log` (the Raft log).
    pub db: &'static str,
    /// The column family.
    pub cf: &'static str,
    /// Bytes in its memtables, active and immutable (`rocksdb.cur-size-all-mem-tables`).
    pub memtable_bytes: u64,
    /// Bytes compaction still has to rewrite to bring levels within their targets
    /// (`rocksdb.estimate-pending-compaction-bytes`).
    pub pending_compaction_bytes: u64,
    /// Bytes of its SST files on disk, including files kept only by snapshots or
    /// checkpoints' links (`rocksdb.total-sst-files-size`).
    pub sst_bytes: u64,
    /// Bytes of the SST files in the current version (`rocksdb.live-sst-files-size`).
    pub live_sst_bytes: u64,
    /// Bytes of its blob files (`rocksdb.total-blob-file-size`; the log keeps entry bodies
    /// there).
    pub blob_bytes: u64,
    /// Files in level 0 (`rocksdb.num-files-at-level0`): RocksDB slows writes when they pile up.
    pub l0_files: u64,
    /// Whether RocksDB stops writes to this database now (`rocksdb.is-write-stopped`).
    pub write_stopped: bool,
    /// The rate RocksDB holds writes to while it delays them, bytes per second; 0 when writes
    /// are not delayed (`rocksdb.actual-delayed-write-rate`).
    pub delayed_write_rate: u64,
}

impl RocksFigures {
    /// Reads the figures of `cf` (named `name`) in `db` (named `db_name`).
    pub(crate) fn read(
        db: &DB,
        cf: &ColumnFamily,
        db_name: &'static str,
        name: &'static str,
    ) -> Self {
        let prop = |p: &str| db.property_int_value_cf(cf, p).ok().flatten().unwrap_or(0);
        let db_prop = |p: &str| db.property_int_value(p).ok().flatten().unwrap_or(0);
        Self {
            db: db_name,
            cf: name,
            memtable_bytes: prop("rocksdb.cur-size-all-mem-tables"),
            pending_compaction_bytes: prop("rocksdb.estimate-pending-compaction-bytes"),
            sst_bytes: prop("rocksdb.total-sst-files-size"),
            live_sst_bytes: prop("rocksdb.live-sst-files-size"),
            blob_bytes: prop("rocksdb.total-blob-file-size"),
            l0_files: prop("rocksdb.num-files-at-level0"),
            write_stopped: db_prop("rocksdb.is-write-stopped") != 0,
            delayed_write_rate: db_prop("rocksdb.actual-delayed-write-rate"),
        }
    }
}

fn cf_handle(db: &DB, cf: Cf) -> &ColumnFamily {
    db.cf_handle(cf.name())
        .expect("every column family is created at open")
}

/// Reads of `db`, at `snap` when given (else the latest state).
struct View<'a> {
    db: &'a DB,
    snap: Option<&'a SnapshotWithThreadMode<'a, DB>>,
}

impl View<'_> {
    fn read_opts(&self) -> ReadOptions {
        let mut ro = ReadOptions::default();
        if let Some(snap) = self.snap {
            ro.set_snapshot(snap);
        }
        ro
    }
}

impl KvRead for View<'_> {
    fn get(&self, cf: Cf, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool, StoreError> {
        let h = cf_handle(self.db, cf);
        let found = match self.snap {
            None => self.db.get_pinned_cf(h, key),
            Some(_) => self.db.get_pinned_cf_opt(h, key, &self.read_opts()),
        };
        match found.map_err(backend)? {
            Some(v) => {
                visit(&v);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn multi_get(
        &self,
        cf: Cf,
        keys: &[&[u8]],
        visit: &mut dyn FnMut(usize, &[u8]),
    ) -> Result<(), StoreError> {
        // The caller promises sorted keys, which lets RocksDB skip its own sort.
        let found = self.db.batched_multi_get_cf_opt(
            cf_handle(self.db, cf),
            keys.iter().copied(),
            true,
            &self.read_opts(),
        );
        for (i, r) in found.into_iter().enumerate() {
            if let Some(v) = r.map_err(backend)? {
                visit(i, &v);
            }
        }
        Ok(())
    }

    fn scan(
        &self,
        cf: Cf,
        lo: &[u8],
        hi: &[u8],
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        if lo > hi {
            return Ok(());
        }
        let mut ro = self.read_opts();
        ro.set_iterate_lower_bound(lo.to_vec());
        // The smallest key above `hi` is `hi` followed by a zero byte: an exclusive bound.
        let mut upper = hi.to_vec();
        upper.push(0);
        ro.set_iterate_upper_bound(upper);
        let mut it = self.db.raw_iterator_cf_opt(cf_handle(self.db, cf), ro);
        if reverse {
            it.seek_for_prev(hi);
        } else {
            it.seek(lo);
        }
        while it.valid() {
            let (Some(k), Some(v)) = (it.key(), it.value()) else {
                break;
            };
            if !visit(k, v) {
                break;
            }
            if reverse {
                it.prev();
            } else {
                it.next();
            }
        }
        it.status().map_err(backend)
    }
}

impl KvRead for RocksStore {
    fn get(&self, cf: Cf, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool, StoreError> {
        self.view().get(cf, key, visit)
    }

    fn multi_get(
        &self,
        cf: Cf,
        keys: &[&[u8]],
        visit: &mut dyn FnMut(usize, &[u8]),
    ) -> Result<(), StoreError> {
        self.view().multi_get(cf, keys, visit)
    }

    fn scan(
        &self,
        cf: Cf,
        lo: &[u8],
        hi: &[u8],
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.view().scan(cf, lo, hi, reverse, visit)
    }
}

impl RocksStore {
    fn view(&self) -> View<'_> {
        View {
            db: &self.db,
            snap: None,
        }
    }
}

/// Reads a [`RocksStore`] from any thread without waiting for its writer
/// ([`RocksStore::reader`]).
///
/// Each [`RocksReader::read`] runs on one RocksDB snapshot: every get and scan inside it sees
/// the store as of one instant, which (since every command is one atomic write) is between two
/// commands. So a read spanning several keys (both sides of a transfer, an index entry and the
/// transfer it names) is never torn by a command applied meanwhile.
#[derive(Clone)]
pub struct RocksReader {
    db: Arc<DB>,
}

impl std::fmt::Debug for RocksReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksReader")
            .field("path", &self.db.path())
            .finish_non_exhaustive()
    }
}

impl RocksReader {
    /// The store's RocksDB figures, one per column family (in-memory properties only).
    pub fn figures(&self) -> Vec<RocksFigures> {
        Cf::ALL
            .iter()
            .map(|cf| RocksFigures::read(&self.db, cf_handle(&self.db, *cf), "state", cf.name()))
            .collect()
    }

    /// Runs `f` on a snapshot of the store taken now.
    pub fn read<T>(&self, f: impl FnOnce(&dyn KvRead) -> T) -> T {
        self.snapshot().read(None, f)
    }

    /// A snapshot of the store taken now, to read later ([`RocksSnapshot::read`]).
    pub fn snapshot(&self) -> RocksSnapshot<'_> {
        RocksSnapshot {
            db: &self.db,
            snap: self.db.snapshot(),
        }
    }
}

/// One point in time of a [`RocksStore`] ([`RocksReader::snapshot`]).
pub struct RocksSnapshot<'a> {
    db: &'a DB,
    snap: SnapshotWithThreadMode<'a, DB>,
}

impl std::fmt::Debug for RocksSnapshot<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksSnapshot")
            .field("path", &self.db.path())
            .finish_non_exhaustive()
    }
}

impl RocksSnapshot<'_> {
    /// Runs `f` on this snapshot, seen through `over` (a batch being written: see
    /// [`IndexedBatch::over`]) when given.
    pub fn read<T>(&self, over: Option<&IndexedBatch>, f: impl FnOnce(&dyn KvRead) -> T) -> T {
        let view = View {
            db: self.db,
            snap: Some(&self.snap),
        };
        match over {
            Some(batch) => f(&batch.over(&view)),
            None => f(&view),
        }
    }
}

impl KvStore for RocksStore {
    fn write(&mut self, batch: &WriteBatch) -> Result<(), StoreError> {
        write_ops(&self.db, &self.write_opts, batch, sorted_ops(batch))
    }
}

/// Writes `ops`, the operations of `batch` that count, in one atomic RocksDB write.
///
/// They come in (column family, key) order, one per key ([`sorted_ops`]): memtable inserts in
/// key order reuse the skiplist's last insert position, which is much cheaper than random
/// inserts, and keeping only a key's final operation has the same effect as all of them.
fn write_ops<'a>(
    db: &DB,
    opts: &WriteOptions,
    batch: &WriteBatch,
    ops: impl IntoIterator<Item = (Cf, &'a [u8], Option<&'a [u8]>)>,
) -> Result<(), StoreError> {
    let handles = Cf::ALL.map(|c| cf_handle(db, c));
    // Sized up front: RocksDB's batch is one growing string, and growing it by doubling
    // copied a full batch's megabyte several times (measured with perf in the apply path).
    // Each record adds a tag, a column family id and two length varints to its bytes.
    let mut wb = rocksdb::WriteBatch::with_capacity_bytes(
        WRITE_BATCH_HEADER + batch.byte_len() + WRITE_BATCH_RECORD_OVERHEAD * batch.len(),
    );
    for (cf, key, value) in ops {
        let h = handles[cf as usize];
        match value {
            Some(v) => wb.put_cf(h, key, v),
            None => wb.delete_cf(h, key),
        }
    }
    db.write_opt(wb, opts).map_err(backend)
}

/// RocksDB's write batch header: sequence number (8) and count (4).
const WRITE_BATCH_HEADER: usize = 12;
/// Upper bound of a record's bytes besides its key and value: tag (1), column family id
/// (varint, 1 for ours), key and value lengths (varints, at most 3 each for ours).
const WRITE_BATCH_RECORD_OVERHEAD: usize = 8;

#[cfg(test)]
mod tests {
    use super::RocksOptions;

    #[test]
    fn replicas_get_memtables_of_three_sizes() {
        let base = RocksOptions::default().write_buffer_bytes;
        let sizes: Vec<usize> = (1..=6)
            .map(|id| RocksOptions::default().staggered(id).write_buffer_bytes)
            .collect();
        assert_eq!(sizes[0], base, "a single node keeps the default");
        assert_eq!(sizes[..3], sizes[3..]);
        let mut three = sizes[..3].to_vec();
        three.sort();
        three.dedup();
        assert_eq!(three.len(), 3, "{sizes:?}");
        assert!(sizes
            .iter()
            .all(|&s| s >= base * 9 / 10 && s <= base * 11 / 10));
    }

    /// The Raft log's memtable is set apart the same way, so replicas' log flushes drift apart.
    #[test]
    fn replicas_get_log_memtables_of_three_sizes() {
        use crate::log::LogOptions;
        let base = LogOptions::default().write_buffer_bytes;
        let sizes: Vec<usize> = (1..=3)
            .map(|id| LogOptions::default().staggered(id).write_buffer_bytes)
            .collect();
        assert_eq!(sizes, vec![base, base * 11 / 10, base * 9 / 10]);
    }
}
