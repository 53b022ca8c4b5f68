//! What only a disk log store has: reopening keeps vote, committed, last_purged and entries;
//! the read byte cap; corrupt entries are errors. openraft's storage suite runs against this log
//! store together with the ledger's state machine in `tests/state_machine_suite.rs`.

use std::io;

use openraft::alias::{EntryOf, LeaderIdOf, LogIdOf, VoteOf};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogReader, RaftLogStorage};
use openraft::type_config::TypeConfigExt;
use openraft::vote::RaftLeaderIdExt;
use openraft::EntryPayload;
use tally_ledger::{Command, Transfer};
use tally_raft::{LogOptions, LogStore, Request, TypeConfig};

type C = TypeConfig;

// ---- what only a disk store has ----------------------------------------------------------------

fn log_id(term: u64, index: u64) -> LogIdOf<C> {
    LogIdOf::<C>::new(LeaderIdOf::<C>::new_committed(term, 1), index)
}

fn entry(term: u64, index: u64) -> EntryOf<C> {
    let cmd = Command::CreateTransfers(vec![
        Transfer {
            id: index as u128 + 1,
            amount: 10,
            ..Transfer::default()
        };
        3
    ]);
    EntryOf::<C>::new(
        log_id(term, index),
        EntryPayload::Normal(Request::new(index, &cmd)),
    )
}

/// Appends and waits until the group fsync reports the entries durable.
async fn append_durably(log: &mut LogStore, entries: Vec<EntryOf<C>>) {
    let (tx, rx) = C::oneshot();
    log.append(entries, IOFlushed::signal(tx)).await.unwrap();
    rx.await.expect("callback called").expect("fsync ok");
}

fn open(dir: &std::path::Path) -> LogStore {
    LogStore::open(dir, &LogOptions::default()).expect("open log")
}

#[tokio::test]
async fn reopen_keeps_vote_committed_last_purged_and_entries() {
    let dir = tempfile::tempdir().unwrap();
    let vote = VoteOf::<C>::new_committed(4, 2);
    {
        let mut log = open(dir.path());
        append_durably(&mut log, (1..=10).map(|i| entry(3, i)).collect()).await;
        log.save_vote(&vote).await.unwrap();
        log.save_committed(Some(log_id(3, 8))).await.unwrap();
        log.purge(log_id(3, 4)).await.unwrap();
        log.truncate_after(Some(log_id(3, 9))).await.unwrap();
        // Make the unsynced meta writes durable the way production does: by a later append.
        append_durably(&mut log, vec![entry(4, 10)]).await;
    }
    let mut log = open(dir.path());
    assert_eq!(log.read_vote().await.unwrap(), Some(vote));
    assert_eq!(log.read_committed().await.unwrap(), Some(log_id(3, 8)));
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(3, 4)));
    assert_eq!(state.last_log_id, Some(log_id(4, 10)));
    let got = log.try_get_log_entries(0..).await.unwrap();
    let want: Vec<_> = (5..=9).map(|i| entry(3, i)).chain([entry(4, 10)]).collect();
    assert_eq!(got, want);
    // A new log has nothing.
    let empty = tempfile::tempdir().unwrap();
    let mut fresh = open(empty.path());
    assert_eq!(fresh.read_vote().await.unwrap(), None);
    assert_eq!(fresh.read_committed().await.unwrap(), None);
    let state = fresh.get_log_state().await.unwrap();
    assert_eq!((state.last_purged_log_id, state.last_log_id), (None, None));
}

#[tokio::test]
async fn purge_everything_then_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut log = open(dir.path());
        append_durably(&mut log, (0..=5).map(|i| entry(1, i)).collect()).await;
        log.purge(log_id(1, 5)).await.unwrap();
        // save_vote syncs the WAL, which carries the purge before it.
        log.save_vote(&VoteOf::<C>::new(1, 1)).await.unwrap();
    }
    let mut log = open(dir.path());
    let state = log.get_log_state().await.unwrap();
    // No entries left: the last log id is the last purged one.
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 5)));
    assert_eq!(state.last_log_id, Some(log_id(1, 5)));
    assert!(log.try_get_log_entries(0..).await.unwrap().is_empty());
    // The log continues after the purged prefix.
    append_durably(&mut log, vec![entry(2, 6)]).await;
    assert_eq!(
        log.try_get_log_entries(6..7).await.unwrap(),
        vec![entry(2, 6)]
    );
}

#[tokio::test]
async fn limited_reads_stop_at_the_byte_cap() {
    let dir = tempfile::tempdir().unwrap();
    let one = tally_raft::codec::to_bytes(&entry(1, 1)).unwrap().len();
    let opts = LogOptions {
        // Room for two and a half entries.
        max_read_bytes: one * 5 / 2,
        ..LogOptions::default()
    };
    let mut log = LogStore::open(dir.path(), &opts).unwrap();
    append_durably(&mut log, (1..=10).map(|i| entry(1, i)).collect()).await;
    let got = log.limited_get_log_entries(1, 11).await.unwrap();
    assert_eq!(got, vec![entry(1, 1), entry(1, 2)]);
    // At least one entry, even when one alone passes the cap.
    let tiny = LogOptions {
        max_read_bytes: 1,
        ..LogOptions::default()
    };
    drop(log);
    let mut log = LogStore::open(dir.path(), &tiny).unwrap();
    assert_eq!(
        log.limited_get_log_entries(4, 11).await.unwrap(),
        vec![entry(1, 4)]
    );
    assert!(log.limited_get_log_entries(4, 4).await.unwrap().is_empty());
    // try_get_log_entries is not capped.
    assert_eq!(log.try_get_log_entries(1..=10).await.unwrap().len(), 10);
}

#[tokio::test]
async fn a_corrupt_entry_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut log = open(dir.path());
        append_durably(&mut log, (1..=3).map(|i| entry(1, i)).collect()).await;
    }
    // Overwrite entry 2 with garbage through RocksDB directly.
    {
        let cfs = ["entries", "meta"];
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), cfs).unwrap();
        let cf = db.cf_handle("entries").unwrap();
        db.put_cf(cf, 2u64.to_be_bytes(), [0xff, 0xff]).unwrap();
        // An entry under the wrong key is corrupt too.
        let moved = tally_raft::codec::to_bytes(&entry(1, 1)).unwrap();
        db.put_cf(cf, 3u64.to_be_bytes(), moved).unwrap();
    }
    let mut log = open(dir.path());
    let e = log.try_get_log_entries(1..=2).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    let e = log.get_log_state().await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    assert_eq!(
        log.try_get_log_entries(1..2).await.unwrap(),
        vec![entry(1, 1)]
    );
}

#[tokio::test]
async fn opening_a_locked_log_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(dir.path());
    let e = LogStore::open(dir.path(), &LogOptions::default()).unwrap_err();
    assert!(e.to_string().contains("open"), "{e}");
}

/// Bytes of the WAL files (`*.log`) in `dir`.
fn wal_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension() == Some("log".as_ref()))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

/// Regression: `meta` takes a write in every WAL file and almost never fills its memtable, so
/// no WAL file could be deleted and they all piled up (260 MiB after 2M transfers on one node,
/// all replayed by a restart).
#[tokio::test]
async fn wal_files_are_deleted_once_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LogOptions {
        write_buffer_bytes: 256 << 10,
        max_wal_bytes: 1 << 20,
        ..LogOptions::default()
    };
    let big = |i: u64| {
        let t = Transfer {
            id: i as u128,
            amount: 10,
            ..Transfer::default()
        };
        // About 36 KB per entry.
        let cmd = Command::CreateTransfers(vec![t; 600]);
        EntryOf::<C>::new(log_id(1, i), EntryPayload::Normal(Request::new(i, &cmd)))
    };
    let mut log = LogStore::open(dir.path(), &opts).unwrap();
    for i in 1..=200 {
        append_durably(&mut log, vec![big(i)]).await;
        log.save_committed(Some(log_id(1, i))).await.unwrap();
    }
    // 200 entries: about 7 MB went through the WAL.
    let wal = wal_bytes(dir.path());
    assert!(wal < 3 << 20, "{wal} bytes of WAL kept");
    drop(log);
    let mut log = LogStore::open(dir.path(), &opts).unwrap();
    let got = log.try_get_log_entries(1..=200).await.unwrap();
    assert_eq!(got.len(), 200);
    assert_eq!(got[199], big(200));
}
