//! Snapshot retention: the two newest are kept, and so is any snapshot a handle still leases.

mod common;

use common::*;
use openraft::storage::RaftStateMachine;

#[tokio::test]
async fn retention_keeps_two_snapshots_and_any_leased_one() {
    let (dir, mut sm) = reference(10);
    let mut built = vec![];
    for round in 0..4u64 {
        let snap = build(&mut sm).await;
        built.push(tally_raft::state_machine::snapshot::store::snapshot_name(
            &snap.meta,
        ));
        for i in 0..3 {
            sm.apply_entry(&entry(10 + round * 3 + i)).unwrap();
        }
    }
    assert_eq!(snapshot_dirs(dir.path()), built[2..].to_vec());
    // A handle is a lease: the snapshot it names outlives retention until it is dropped.
    let leased = sm.get_current_snapshot().await.unwrap().unwrap();
    for i in 22..25 {
        sm.apply_entry(&entry(i)).unwrap();
    }
    let b5 = build(&mut sm).await;
    for i in 25..28 {
        sm.apply_entry(&entry(i)).unwrap();
    }
    let b6 = build(&mut sm).await;
    let name = |s: &tally_raft::state_machine::Snapshot| {
        tally_raft::state_machine::snapshot::store::snapshot_name(&s.meta)
    };
    assert_eq!(
        snapshot_dirs(dir.path()),
        vec![name(&leased), name(&b5), name(&b6)]
    );
    leased
        .snapshot
        .manifest()
        .verify(leased.snapshot.path())
        .unwrap();
    // `b5` is a lease too, until it goes.
    drop((leased, b5));
    for i in 28..31 {
        sm.apply_entry(&entry(i)).unwrap();
    }
    let b7 = build(&mut sm).await;
    assert_eq!(snapshot_dirs(dir.path()), vec![name(&b6), name(&b7)]);
}
