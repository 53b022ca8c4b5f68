//! A power cut keeps exactly what was made durable: fsynced file data and directory changes
//! followed by a directory fsync. Everything else is gone when the backing directory is read
//! (or mounted again).

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;

use common::{sync_dir, Mount};

#[test]
fn unsynced_data_is_lost_and_synced_data_survives() {
    let base = tempfile::tempdir().unwrap();
    let m = Mount::start(base.path(), &base.path().join("disk"), &[]);

    let mut f = fs::File::create(m.path("log")).unwrap();
    f.write_all(b"durable").unwrap();
    f.sync_all().unwrap();
    sync_dir(&m.mnt);
    f.write_all(b" and volatile").unwrap();
    f.write_all_at(b"D", 0).unwrap();
    drop(f);
    // The mount itself shows every write.
    assert_eq!(fs::read(m.path("log")).unwrap(), b"Durable and volatile");
    let summary = m.power_loss();
    assert!(summary.starts_with("power-loss "), "{summary}");

    assert_eq!(fs::read(base.path().join("disk/log")).unwrap(), b"durable");
}

#[test]
fn directory_changes_need_a_directory_fsync() {
    let base = tempfile::tempdir().unwrap();
    let disk = base.path().join("disk");
    fs::create_dir_all(disk.join("old")).unwrap();
    fs::write(disk.join("old/kept"), b"k").unwrap();
    fs::write(disk.join("CURRENT"), b"v1").unwrap();
    let m = Mount::start(base.path(), &disk, &[]);

    // Committed: a new file, fsynced, then its directory fsynced.
    let mut f = fs::File::create(m.path("committed")).unwrap();
    f.write_all(b"c").unwrap();
    f.sync_all().unwrap();
    sync_dir(&m.mnt);
    // Not committed: a file fsynced but its directory not; a removal; an atomic-replace rename;
    // a new directory; a hard link.
    let mut g = fs::File::create(m.path("uncommitted")).unwrap();
    g.write_all(b"u").unwrap();
    g.sync_all().unwrap();
    fs::remove_file(m.path("old/kept")).unwrap();
    fs::write(m.path("CURRENT.tmp"), b"v2").unwrap();
    OpenOptions::new()
        .write(true)
        .open(m.path("CURRENT.tmp"))
        .unwrap()
        .sync_all()
        .unwrap();
    fs::rename(m.path("CURRENT.tmp"), m.path("CURRENT")).unwrap();
    fs::create_dir(m.path("newdir")).unwrap();
    fs::hard_link(m.path("committed"), m.path("newdir/link")).unwrap();
    assert_eq!(fs::read(m.path("CURRENT")).unwrap(), b"v2");

    let summary = m.power_loss();
    assert!(summary.contains("dir_changes_undone=7"), "{summary}");

    let mut names: Vec<_> = fs::read_dir(&disk)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["CURRENT", "committed", "old"]);
    assert_eq!(fs::read(disk.join("CURRENT")).unwrap(), b"v1");
    assert_eq!(fs::read(disk.join("old/kept")).unwrap(), b"k");
    assert_eq!(fs::read(disk.join("committed")).unwrap(), b"c");
    assert_eq!(
        fs::read_dir(base.path().join("disk.trash"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn a_clean_stop_keeps_everything() {
    let base = tempfile::tempdir().unwrap();
    let disk = base.path().join("disk");
    let m = Mount::start(base.path(), &disk, &[]);
    fs::create_dir(m.path("d")).unwrap();
    fs::write(m.path("d/f"), b"never synced").unwrap();
    fs::write(m.path("gone"), b"x").unwrap();
    fs::remove_file(m.path("gone")).unwrap();
    let summary = m.stop_clean();
    assert!(summary.starts_with("clean "), "{summary}");
    assert_eq!(fs::read(disk.join("d/f")).unwrap(), b"never synced");
    assert!(!disk.join("gone").exists());
}

#[test]
fn a_torn_write_keeps_a_prefix_of_the_last_write() {
    let base = tempfile::tempdir().unwrap();
    let disk = base.path().join("disk");
    fs::create_dir_all(&disk).unwrap();
    fs::write(disk.join("wal"), b"").unwrap();
    let m = Mount::start(base.path(), &disk, &["--torn-seed", "7"]);
    let f = OpenOptions::new().write(true).open(m.path("wal")).unwrap();
    // One page: the kernel hands it over as one write.
    let record = vec![0xABu8; 4096];
    f.write_all_at(&record, 0).unwrap();
    drop(f);
    let summary = m.power_loss();
    let torn: u64 = summary
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("torn_bytes="))
        .expect("summary names torn bytes")
        .parse()
        .unwrap();
    assert!((1..=4096).contains(&torn), "{summary}");
    let on_disk = fs::read(disk.join("wal")).unwrap();
    assert_eq!(
        on_disk.len() as u64,
        torn,
        "only the torn prefix reached the disk"
    );
    assert!(on_disk.iter().all(|&b| b == 0xAB));
}

#[test]
fn a_new_mount_after_a_power_cut_sees_the_durable_state() {
    let base = tempfile::tempdir().unwrap();
    let disk = base.path().join("disk");
    let m = Mount::start(base.path(), &disk, &[]);
    let mut f = fs::File::create(m.path("a")).unwrap();
    f.write_all(b"1").unwrap();
    f.sync_all().unwrap();
    sync_dir(&m.mnt);
    f.write_all(b"2").unwrap();
    drop(f);
    m.power_loss();

    let m = Mount::start(base.path(), &disk, &[]);
    assert_eq!(fs::read(m.path("a")).unwrap(), b"1");
    fs::write(m.path("a"), b"3").unwrap();
    assert_eq!(fs::read(m.path("a")).unwrap(), b"3");
    m.power_loss();
    assert_eq!(fs::read(disk.join("a")).unwrap(), b"1");
}

/// A directory keeps its inode across a rename, in the kernel as here: a file in it, closed
/// and clean, opens again through the new name. RocksDB checkpoints are built in `<dir>.tmp`
/// and renamed, then opened.
#[test]
fn a_synced_file_in_a_renamed_directory_opens_after_the_rename() {
    let base = tempfile::tempdir().unwrap();
    let m = Mount::start(base.path(), &base.path().join("disk"), &[]);
    fs::create_dir(m.path("ckpt.tmp")).unwrap();
    let mut f = fs::File::create(m.path("ckpt.tmp/CURRENT")).unwrap();
    f.write_all(b"MANIFEST-000005\n").unwrap();
    f.sync_all().unwrap();
    drop(f);
    sync_dir(&m.path("ckpt.tmp"));
    fs::rename(m.path("ckpt.tmp"), m.path("ckpt")).unwrap();
    assert_eq!(
        fs::read(m.path("ckpt/CURRENT")).unwrap(),
        b"MANIFEST-000005\n"
    );
    sync_dir(&m.mnt);
    let summary = m.power_loss();
    assert!(summary.contains("dir_changes_undone=0"), "{summary}");
    assert_eq!(
        fs::read(base.path().join("disk/ckpt/CURRENT")).unwrap(),
        b"MANIFEST-000005\n"
    );
}
