//! Snapshots across a restart: the current one is loaded on open, and leftovers of a build or a
//! transfer cut off by a crash are never taken for one.

mod common;

use common::*;
use openraft::storage::RaftStateMachine;
use tally_raft::{LedgerStateMachine, StateMachineOptions};

#[tokio::test]
async fn the_current_snapshot_survives_a_restart() {
    let (dir, mut sm) = reference(20);
    assert!(sm.get_current_snapshot().await.unwrap().is_none());
    let snap = build(&mut sm).await;
    for i in 20..25 {
        sm.apply_entry(&entry(i)).unwrap();
    }
    drop((sm, snap.snapshot.clone()));
    let mut sm = LedgerStateMachine::open(dir.path(), &small()).unwrap();
    let cur = sm
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("loaded on open");
    assert_eq!(cur.meta, snap.meta);
    assert_eq!(cur.snapshot.manifest(), snap.snapshot.manifest());
    cur.snapshot.manifest().verify(cur.snapshot.path()).unwrap();
    // A snapshot of another cluster's data directory is refused on open.
    drop((sm, cur));
    let other = StateMachineOptions {
        cluster_id: 9,
        ..small()
    };
    let e = LedgerStateMachine::open(dir.path(), &other).unwrap_err();
    assert!(e.to_string().contains("cluster"), "{e}");
}

/// Staging directories left by a crash (a build, or a stream cut off) are deleted on open and
/// never taken for a snapshot, even one that looks complete; so is a received snapshot that
/// was never installed.
#[tokio::test]
async fn leftovers_of_an_interrupted_transfer_are_not_snapshots_after_restart() {
    let (_a_dir, mut a) = reference(30);
    let newer = build(&mut a).await;
    let (dir, mut sm) = reference(10);
    let own = build(&mut sm).await;
    drop(sm);
    let snaps = dir.path().join("snapshots");
    copy_dir(newer.snapshot.path(), &snaps.join("incoming-1-1"));
    copy_dir(newer.snapshot.path(), &snaps.join("tmp-1-2"));
    std::fs::write(snaps.join("incoming-1-3"), b"partial").unwrap();
    // Published (renamed into place) but not installed when the node crashed.
    let name = tally_raft::state_machine::snapshot::store::snapshot_name(&newer.meta);
    copy_dir(newer.snapshot.path(), &snaps.join(&name));
    let mut sm = LedgerStateMachine::open(dir.path(), &small()).unwrap();
    let cur = sm
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("own snapshot");
    assert_eq!(cur.meta, own.meta);
    assert_eq!(
        snapshot_dirs(dir.path()),
        vec![tally_raft::state_machine::snapshot::store::snapshot_name(
            &own.meta
        )]
    );
    assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(1, 9)));
}
