//! Applying entries: two replicas fed the same entries end identical, and reads do not wait for
//! the entry being applied.

mod common;

use common::*;
use tally_raft::Response;

#[test]
fn two_state_machines_fed_the_same_entries_end_identical() {
    let (_a_dir, mut a) = reference(0);
    let (_b_dir, mut b) = reference(0);
    let empty = a.state_hash().unwrap();
    for i in 0..40 {
        let e = entry(i);
        assert_eq!(a.apply_entry(&e).unwrap(), b.apply_entry(&e).unwrap());
    }
    assert_eq!(a.state_hash().unwrap(), b.state_hash().unwrap());
    assert_ne!(
        a.state_hash().unwrap(),
        empty,
        "the entries changed the ledger"
    );
    // The transfers were really executed: a transfer entry's codes are not all failures.
    let Response::Transfers(r) = a.apply_entry(&entry(41)).unwrap() else {
        panic!("entry 41 is a transfer batch")
    };
    assert!(r.codes.contains(&0), "{:?}", r.codes);
}

/// Reads run on a RocksDB snapshot, not under the state lock that applying an entry holds: a
/// read made while another thread holds that lock (as `apply` does for the length of an entry)
/// finishes anyway, and sees everything applied before it. Under the lock it would wait.
#[test]
fn reads_do_not_wait_for_the_entry_being_applied() {
    use std::sync::mpsc;
    use std::time::Duration;
    use tally_ledger::query::lookup_accounts;

    let (_dir, sm) = reference(30);
    let reader = sm.reader();
    let ids: Vec<u128> = (1..=u128::from(ACCOUNTS)).collect();
    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let holder = {
        let reader = reader.clone();
        std::thread::spawn(move || {
            reader.with_ledger(|_| {
                held_tx.send(()).unwrap();
                let _ = release_rx.recv_timeout(Duration::from_secs(30));
            })
        })
    };
    held_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    {
        let (reader, ids) = (reader.clone(), ids.clone());
        std::thread::spawn(move || {
            let _ = done_tx.send(reader.read(|kv| lookup_accounts(kv, &ids)));
        });
    }
    let during = done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the read finished while the state lock was held")
        .unwrap()
        .unwrap();
    release_tx.send(()).unwrap();
    holder.join().unwrap().unwrap();
    let locked = reader
        .with_ledger(|l| lookup_accounts(l.store(), &ids))
        .unwrap()
        .unwrap();
    assert_eq!(during.len(), ACCOUNTS as usize);
    assert_eq!(during, locked, "the snapshot read saw every applied entry");
    assert!(
        during.iter().any(|a| a.debits_posted > 0),
        "the transfers were applied"
    );
}
