//! RocksDB on a faultfs mount: writes acknowledged with a synced WAL survive a power cut, the
//! database opens again afterwards, and writes that were never synced are gone.

mod common;

use common::Mount;
use rocksdb::{Options, WriteOptions, DB};

fn key(i: u32) -> [u8; 4] {
    i.to_be_bytes()
}

#[test]
fn synced_writes_survive_a_power_cut_and_unsynced_ones_are_lost() {
    let base = tempfile::tempdir().unwrap();
    let disk = base.path().join("disk");
    let m = Mount::start(base.path(), &disk, &[]);
    let mut opts = Options::default();
    opts.create_if_missing(true);
    let db = DB::open(&opts, m.path("db")).unwrap();
    let mut synced = WriteOptions::default();
    synced.set_sync(true);
    for i in 0..200 {
        db.put_opt(key(i), b"synced", &synced).unwrap();
    }
    let unsynced = WriteOptions::default();
    for i in 200..400 {
        db.put_opt(key(i), b"unsynced", &unsynced).unwrap();
    }
    // Never closed, as if the process were killed: a close would sync.
    std::mem::forget(db);
    let summary = m.power_loss();
    assert!(summary.starts_with("power-loss "), "{summary}");

    let m = Mount::start(base.path(), &disk, &[]);
    let db = DB::open(&opts, m.path("db")).expect("RocksDB opens after a power cut");
    for i in 0..200 {
        assert_eq!(
            db.get(key(i)).unwrap().as_deref(),
            Some(&b"synced"[..]),
            "key {i}"
        );
    }
    let survived = (200..400)
        .filter(|&i| db.get(key(i)).unwrap().is_some())
        .count();
    assert_eq!(survived, 0, "unsynced writes reached the disk");
    drop(db);
    m.stop_clean();
}
