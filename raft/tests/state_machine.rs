//! The ledger state machine: openraft's storage suite with the RocksDB log store, replay after a
//! real `kill -9` of a NoWal store, determinism across replicas, and whole-command rejections.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, BufReader};
use std::path::Path;
use std::process::{Command as Process, Stdio};

use openraft::alias::{EntryOf, LeaderIdOf, LogIdOf};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogStorage, RaftStateMachine};
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::type_config::TypeConfigExt;
use openraft::vote::RaftLeaderIdExt;
use openraft::{EntryPayload, Membership, StorageError, StorageHelper};
use tally_ledger::{Account, Command, Transfer, TransferFlags, BATCH_MAX};
use tally_raft::codec::from_bytes;
use tally_raft::{
    LedgerStateMachine, LogOptions, LogStore, Rejection, Request, Response, RocksOptions,
    StateMachineOptions, TallyNode, TypeConfig,
};

type C = TypeConfig;

// ---- the suite ---------------------------------------------------------------------------------

struct Builder;

fn storage_error(e: io::Error) -> StorageError<C> {
    StorageError::read(C::err_from_error(&e))
}

impl StoreBuilder<C, LogStore, LedgerStateMachine, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, LedgerStateMachine), StorageError<C>> {
        let dir = tempfile::tempdir().map_err(storage_error)?;
        let log = LogStore::open(dir.path().join("raft-log"), &LogOptions::default())
            .map_err(|e| storage_error(e.into()))?;
        let sm = LedgerStateMachine::open(dir.path(), &small()).map_err(storage_error)?;
        Ok((dir, log, sm))
    }
}

/// Small caches: the suite opens about fifty stores.
fn small() -> StateMachineOptions {
    StateMachineOptions {
        rocks: RocksOptions {
            block_cache_bytes: 1 << 20,
            write_buffer_bytes: 1 << 20,
            ..RocksOptions::default()
        },
        ..StateMachineOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_machine_passes_openraft_suite() -> Result<(), StorageError<C>> {
    tokio::time::timeout(
        std::time::Duration::from_secs(120),
        Suite::test_all(Builder),
    )
    .await
    .expect("suite finishes in time")
}

// ---- a deterministic log -----------------------------------------------------------------------

const ACCOUNTS: u64 = 64;

fn log_id(term: u64, index: u64) -> LogIdOf<C> {
    LogIdOf::<C>::new(LeaderIdOf::<C>::new_committed(term, 1), index)
}

fn normal(index: u64, cmd: &Command) -> EntryOf<C> {
    let leader_time = 1_000_000_000 * index;
    EntryOf::<C>::new(
        log_id(1, index),
        EntryPayload::Normal(Request::new(leader_time, cmd)),
    )
}

fn membership() -> Membership<u64, TallyNode> {
    let voters: BTreeSet<u64> = [1].into();
    let nodes: BTreeMap<u64, TallyNode> = [(
        1,
        TallyNode {
            addr: "127.0.0.1:1".into(),
        },
    )]
    .into();
    Membership::new(vec![voters], nodes).unwrap()
}

/// Entry `index` of a deterministic log (openraft's logs start at 0): a blank, a membership,
/// the accounts, then transfers (a quarter pending with short timeouts, so expiry runs too)
/// with a pulse every tenth entry.
fn entry(index: u64) -> EntryOf<C> {
    match index {
        0 => EntryOf::<C>::new_blank(log_id(1, 0)),
        1 => EntryOf::<C>::new(log_id(1, 1), EntryPayload::Membership(membership())),
        2 => {
            let accounts = (1..=ACCOUNTS)
                .map(|id| Account {
                    id: u128::from(id),
                    ledger: 1,
                    code: 1,
                    ..Account::default()
                })
                .collect();
            normal(index, &Command::CreateAccounts(accounts))
        }
        i if i % 10 == 0 => normal(i, &Command::Pulse),
        i => normal(i, &Command::CreateTransfers(transfers(i))),
    }
}

fn transfers(i: u64) -> Vec<Transfer> {
    let mut rng = fastrand::Rng::with_seed(i);
    (0..500u64)
        .map(|j| {
            let dr = rng.u64(1..=ACCOUNTS);
            let pending = rng.u8(0..4) == 0;
            Transfer {
                id: u128::from(i * 1_000_000 + j),
                debit_account_id: u128::from(dr),
                credit_account_id: u128::from(dr % ACCOUNTS + 1),
                amount: u128::from(rng.u32(1..1000)),
                ledger: 1,
                code: 1,
                flags: if pending {
                    TransferFlags::PENDING.bits()
                } else {
                    0
                },
                timeout: if pending { rng.u32(1..3) } else { 0 },
                ..Transfer::default()
            }
        })
        .collect()
}

/// A state machine in a new directory that applied the first `count` entries.
fn reference(count: u64) -> (tempfile::TempDir, LedgerStateMachine) {
    let dir = tempfile::tempdir().unwrap();
    let mut sm = LedgerStateMachine::open(dir.path(), &small()).unwrap();
    for i in 0..count {
        sm.apply_entry(&entry(i)).unwrap();
    }
    (dir, sm)
}

// ---- determinism -------------------------------------------------------------------------------

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
    let Response::Transfers(codes) = a.apply_entry(&entry(41)).unwrap() else {
        panic!("entry 41 is a transfer batch")
    };
    assert!(codes.contains(&0), "{codes:?}");
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

// ---- whole-command rejections ------------------------------------------------------------------

/// A normal entry whose command bytes do not decode: postcard of (leader time 5, 3 bytes).
fn malformed(index: u64) -> EntryOf<C> {
    let req: Request = from_bytes(&[5, 3, 9, 9, 9]).unwrap();
    assert!(req.command().is_err());
    EntryOf::<C>::new(log_id(1, index), EntryPayload::Normal(req))
}

#[tokio::test]
async fn rejected_entries_change_nothing_but_advance_the_position() {
    let (_dir, mut sm) = reference(6);
    let before = sm.state_hash().unwrap();
    let oversized = Command::CreateTransfers(vec![Transfer::default(); BATCH_MAX + 1]);
    let clock = EntryOf::<C>::new(
        log_id(1, 8),
        EntryPayload::Normal(Request::new(u64::MAX, &Command::Pulse)),
    );
    let cases = [
        (malformed(6), "malformed"),
        (normal(7, &oversized), "oversized"),
        (clock, "clock"),
    ];
    for (e, what) in cases {
        let r = sm.apply_entry(&e).unwrap();
        let Response::Rejected(why) = &r else {
            panic!("{what}: {r:?}")
        };
        match what {
            "malformed" => assert!(matches!(why, Rejection::Malformed(_)), "{why:?}"),
            "oversized" => assert_eq!(
                why,
                &Rejection::BatchTooLarge {
                    len: BATCH_MAX as u64 + 1,
                    max: BATCH_MAX as u64
                }
            ),
            _ => assert!(matches!(why, Rejection::ClockOutOfRange { .. }), "{why:?}"),
        }
        assert_eq!(
            sm.state_hash().unwrap(),
            before,
            "{what} changed the ledger"
        );
        let (applied, membership) = sm.applied_state().await.unwrap();
        assert_eq!(
            applied,
            Some(e.log_id),
            "{what} did not advance the position"
        );
        assert_eq!(membership.log_id(), &Some(log_id(1, 1)), "{what}");
    }
    // The same entries through openraft's stream path give the same result.
    let (_dir2, mut other) = reference(6);
    let stream = (6..=7)
        .map(|i| {
            if i == 6 {
                malformed(6)
            } else {
                normal(7, &oversized)
            }
        })
        .map(|e| Ok((e, None)));
    other
        .apply(futures_util::stream::iter(stream))
        .await
        .unwrap();
    assert_eq!(other.applied_state().await.unwrap().0, Some(log_id(1, 7)));
    assert_eq!(other.state_hash().unwrap(), before);
    // An entry at or below the position is refused, not applied twice.
    let e = sm.apply_entry(&entry(4)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    assert_eq!(sm.state_hash().unwrap(), before);
}

// ---- replay after kill -9 ----------------------------------------------------------------------

const CHILD_DIR: &str = "TALLY_SM_CRASH_DIR";
const CHILD_BUFFER: &str = "TALLY_SM_CRASH_BUFFER";
/// Index of the last entry in the crash test's log; all of them are committed.
const COMMITTED: u64 = 59;

fn crash_opts(write_buffer_bytes: usize) -> StateMachineOptions {
    StateMachineOptions {
        rocks: RocksOptions {
            write_buffer_bytes,
            ..small().rocks
        },
        ..StateMachineOptions::default()
    }
}

/// The child: writes the whole log (durably, all committed), then applies its entries to a
/// NoWal state machine, acknowledging each on stdout, and waits to be killed. Not a test of
/// its own: the tests below run it in a separate process.
#[tokio::test]
#[ignore = "child process of the replay tests"]
async fn sm_crash_child() {
    let dir = std::env::var(CHILD_DIR).expect("spawned by a replay test");
    let buffer: usize = std::env::var(CHILD_BUFFER).unwrap().parse().unwrap();
    let dir = Path::new(&dir);
    let mut log = LogStore::open(dir.join("raft-log"), &LogOptions::default()).unwrap();
    let (tx, rx) = C::oneshot();
    let entries: Vec<_> = (0..=COMMITTED).map(entry).collect();
    log.append(entries, IOFlushed::signal(tx)).await.unwrap();
    rx.await.unwrap().unwrap();
    log.save_committed(Some(log_id(1, COMMITTED)))
        .await
        .unwrap();
    // save_vote syncs the WAL, and with it `committed`.
    log.save_vote(&openraft::alias::VoteOf::<C>::new_committed(1, 1))
        .await
        .unwrap();
    let mut sm = LedgerStateMachine::open(dir, &crash_opts(buffer)).unwrap();
    for i in 0..=COMMITTED {
        sm.apply_entry(&entry(i)).unwrap();
        println!("ack {i}");
    }
    println!("done");
    std::thread::sleep(std::time::Duration::from_secs(600));
}

/// Runs the child until it acknowledged entry `kill_after`, kills it, and checks the replay.
/// Returns the durable position found after the kill.
async fn kill_and_replay(buffer: usize, kill_after: u64) -> Option<u64> {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Process::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "sm_crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .env(CHILD_BUFFER, buffer.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = 0;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if let Some(n) = line.unwrap().strip_prefix("ack ") {
            acked = n.trim().parse().unwrap();
            if acked >= kill_after {
                break;
            }
        }
    }
    // SIGKILL: no destructor, so RocksDB gets no chance to flush its memtables on close.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(acked >= kill_after, "child stopped at {acked}");

    let mut log = LogStore::open(dir.path().join("raft-log"), &LogOptions::default()).unwrap();
    let mut sm = LedgerStateMachine::open(dir.path(), &crash_opts(buffer)).unwrap();
    let durable = sm.applied_state().await.unwrap().0.map(|l| l.index);
    // What is on disk is exactly the state after the entries up to the durable position.
    let (_p_dir, prefix) = reference(durable.map_or(0, |d| d + 1));
    assert_eq!(
        sm.state_hash().unwrap(),
        prefix.state_hash().unwrap(),
        "state on disk is not the prefix up to {durable:?}"
    );
    // Startup re-applies (durable, committed] from the log, as a restarting node does.
    StorageHelper::new(&mut log, &mut sm)
        .with_id(1)
        .get_initial_state()
        .await
        .unwrap();
    assert_eq!(
        sm.applied_state().await.unwrap().0,
        Some(log_id(1, COMMITTED))
    );
    let (_r_dir, all) = reference(COMMITTED + 1);
    assert_eq!(
        sm.state_hash().unwrap(),
        all.state_hash().unwrap(),
        "replayed state differs from a store that never crashed (durable {durable:?})"
    );
    durable
}

#[tokio::test]
async fn kill_9_then_replay_rebuilds_the_same_state() {
    // Memtables far larger than the data: nothing is flushed before the kill, so everything
    // applied is lost and all of it is replayed.
    let durable = kill_and_replay(256 << 20, 30).await;
    assert!(
        durable.is_none_or(|d| d < 30),
        "no flush ran, yet {durable:?} is durable"
    );
    // Small memtables: flushes run while applying, so a non-empty prefix is durable and the
    // replay starts in the middle of the log.
    let durable = kill_and_replay(256 << 10, 50).await;
    assert!(durable.is_some(), "no flush ran with 256 KiB memtables");
}

// ---- snapshots on disk --------------------------------------------------------------------------

async fn build(sm: &mut LedgerStateMachine) -> tally_raft::state_machine::Snapshot {
    use openraft::storage::RaftSnapshotBuilder;
    sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap()
}

/// The names in `dir/snapshots`, sorted.
fn snapshot_dirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Copies snapshot directory `src` to a new directory `dst` (no links: it will be modified).
fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
}

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
