//! Installing a snapshot: it carries the ledger to a node that is behind, a corrupted copy is
//! refused, and an install swap cut by a crash resolves to one whole state.

mod common;

use std::path::Path;

use common::*;
use openraft::storage::RaftStateMachine;
use tally_raft::LedgerStateMachine;

#[tokio::test]
async fn a_snapshot_carries_the_ledger_to_a_node_that_is_behind() {
    let (_a_dir, mut a) = reference(30);
    let snap = build(&mut a).await;
    assert_eq!(snap.meta.last_log_id, Some(log_id(1, 29)));
    assert_eq!(snap.meta.last_membership.log_id(), &Some(log_id(1, 1)));
    let m = snap.snapshot.manifest();
    assert_eq!(m.meta, snap.meta);
    assert!(m.files.iter().any(|f| f.name.ends_with(".sst")), "{m:?}");
    assert!(m.files.iter().all(|f| !f.name.starts_with("LOG")), "{m:?}");
    m.verify(snap.snapshot.path()).unwrap();

    let (b_dir, mut b) = reference(10);
    // A copy with one flipped byte in its biggest file is refused before the store is touched.
    let bad_dir = tempfile::tempdir().unwrap();
    copy_dir(snap.snapshot.path(), bad_dir.path());
    let big = m.files.iter().max_by_key(|f| f.size).unwrap();
    let mut bytes = std::fs::read(bad_dir.path().join(&big.name)).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(bad_dir.path().join(&big.name), bytes).unwrap();
    let bad = tally_raft::state_machine::SnapshotData::open(bad_dir.path()).unwrap();
    let e = b.install_snapshot(&snap.meta, bad).await.unwrap_err();
    assert!(e.to_string().contains("BLAKE3"), "{e}");
    assert_eq!(
        b.state_hash().unwrap(),
        reference(10).1.state_hash().unwrap()
    );
    assert!(b.get_current_snapshot().await.unwrap().is_none());
    assert!(snapshot_dirs(b_dir.path()).is_empty());

    b.install_snapshot(&snap.meta, snap.snapshot.clone())
        .await
        .unwrap();
    assert_eq!(b.state_hash().unwrap(), a.state_hash().unwrap());
    assert_eq!(
        b.applied_state().await.unwrap(),
        a.applied_state().await.unwrap()
    );
    let current = b.get_current_snapshot().await.unwrap().expect("installed");
    assert_eq!(current.meta, snap.meta);
    // The installed snapshot was imported into b's own directory.
    assert_eq!(
        current.snapshot.path().parent(),
        Some(&*b_dir.path().join("snapshots"))
    );
    // Both continue from the snapshot's position alike, and the snapshot is unchanged by
    // the writes to the store that was built from it (its MANIFEST was copied, not linked).
    for i in 30..40 {
        let e = entry(i);
        assert_eq!(a.apply_entry(&e).unwrap(), b.apply_entry(&e).unwrap());
    }
    assert_eq!(b.state_hash().unwrap(), a.state_hash().unwrap());
    b.flush().unwrap();
    current
        .snapshot
        .manifest()
        .verify(current.snapshot.path())
        .unwrap();
    // The installed store is the one found on reopen, and so is the snapshot.
    drop((b, current));
    let mut b = LedgerStateMachine::open(b_dir.path(), &small()).unwrap();
    assert_eq!(b.applied_state().await.unwrap().0, Some(log_id(1, 39)));
    assert_eq!(b.state_hash().unwrap(), a.state_hash().unwrap());
    let again = b
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("kept on disk");
    assert_eq!(again.meta, snap.meta);
}

/// The install swap interrupted by a crash at each step: `open` either completes it (the new
/// state was complete and fsynced before the first rename) or discards it, and the store is
/// always one of the two whole states, never a mix.
#[tokio::test]
async fn an_install_swap_cut_by_a_crash_resolves_to_one_whole_state() {
    let (_a_dir, mut a) = reference(30);
    let snap = build(&mut a).await;
    let ahead = a.state_hash().unwrap();
    let behind = reference(10).1.state_hash().unwrap();
    // What `install` stages as `state.new`: the snapshot's files, minus the manifest.
    let stage = |data_dir: &Path| {
        let new = data_dir.join("state.new");
        copy_dir(snap.snapshot.path(), &new);
        std::fs::remove_file(
            new.join(tally_raft::state_machine::snapshot::manifest::MANIFEST_FILE),
        )
        .unwrap();
    };
    // (crash point, expected state after reopen, expected applied index)
    for (step, want, index) in [
        ("staged", behind, 9),
        ("old moved aside", ahead, 29),
        ("new moved in", ahead, 29),
    ] {
        let (dir, sm) = reference(10);
        sm.flush().unwrap();
        drop(sm);
        let d = dir.path();
        stage(d);
        if step != "staged" {
            std::fs::rename(d.join("state"), d.join("state.old")).unwrap();
        }
        if step == "new moved in" {
            std::fs::rename(d.join("state.new"), d.join("state")).unwrap();
        }
        let mut sm = LedgerStateMachine::open(d, &small()).unwrap();
        assert_eq!(sm.state_hash().unwrap(), want, "{step}");
        assert_eq!(
            sm.applied_state().await.unwrap().0,
            Some(log_id(1, index)),
            "{step}"
        );
        assert!(!d.join("state.new").exists() && !d.join("state.old").exists());
    }
}
