//! Replay after a real `kill -9` of a NoWal store: what is on disk is an exact prefix, and
//! startup re-applies the rest of the committed log to the same state as a store that never
//! crashed.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command as Process, Stdio};

use common::*;
use openraft::storage::{IOFlushed, RaftLogStorage, RaftStateMachine};
use openraft::type_config::TypeConfigExt;
use openraft::StorageHelper;
use tally_raft::{LedgerStateMachine, LogOptions, LogStore, RocksOptions, StateMachineOptions};

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
