//! Crash tests with a real `kill -9`: a child process applies batches to a RocksDB store and
//! acknowledges each one on stdout; the parent kills it mid-stream, reopens the store and checks
//! that what is on disk is exactly the state after some prefix of the batches, with its applied
//! position, and (with `Durability::Sync`) that every acknowledged batch is in that prefix.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use tally_ledger::{
    read_applied, Account, Command as LedgerCommand, Context, Ledger, MemStore, Transfer,
    TransferFlags,
};
use tally_raft::{Durability, RocksOptions, RocksStore};

const CHILD_DIR: &str = "TALLY_CRASH_CHILD_DIR";
const CHILD_MODE: &str = "TALLY_CRASH_CHILD_MODE";
const ACCOUNTS: u64 = 64;

/// Batch `i` of a deterministic workload: accounts first, then transfers (some pending with
/// short timeouts so expiry runs too).
fn batch(i: u64) -> (LedgerCommand, Context) {
    let ctx = Context {
        timestamp: 1_000_000_000 * (i + 1),
    };
    if i == 0 {
        let accounts = (1..=ACCOUNTS)
            .map(|id| Account {
                id: u128::from(id),
                ledger: 1,
                code: 1,
                ..Account::default()
            })
            .collect();
        return (LedgerCommand::CreateAccounts(accounts), ctx);
    }
    let mut rng = fastrand::Rng::with_seed(i);
    let transfers = (0..500u64)
        .map(|j| {
            let dr = rng.u64(1..=ACCOUNTS);
            let cr = (dr % ACCOUNTS) + 1;
            let pending = rng.u8(0..4) == 0;
            Transfer {
                id: u128::from(i * 1_000_000 + j),
                debit_account_id: u128::from(dr),
                credit_account_id: u128::from(cr),
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
        .collect();
    (LedgerCommand::CreateTransfers(transfers), ctx)
}

fn durability(name: &str) -> Durability {
    match name {
        "sync" => Durability::Sync,
        _ => Durability::NoWal,
    }
}

/// The child: applies batches forever, acknowledging each after its write returned. Not a test
/// of its own: the tests below run it in a separate process (`--ignored --exact crash_child`).
#[test]
#[ignore = "child process of the crash tests"]
fn crash_child() {
    let dir = std::env::var(CHILD_DIR).expect("spawned by a crash test");
    let mode = std::env::var(CHILD_MODE).expect("spawned by a crash test");
    let opts = RocksOptions {
        durability: durability(&mode),
        // Small memtables so that, without a WAL, flushes happen during the run.
        write_buffer_bytes: 1 << 20,
        ..RocksOptions::default()
    };
    let mut ledger = Ledger::open(RocksStore::open(&dir, &opts).unwrap()).unwrap();
    for i in 0.. {
        let (cmd, ctx) = batch(i);
        ledger.apply(&cmd, &ctx, Some(&i.to_le_bytes())).unwrap();
        println!("ack {i}");
    }
}

/// Replays batches `0..=last` into memory and returns the state hash.
fn replay_hash(last: Option<u64>) -> [u8; 32] {
    let mut ledger = Ledger::open(MemStore::new()).unwrap();
    if let Some(last) = last {
        for i in 0..=last {
            let (cmd, ctx) = batch(i);
            ledger.apply(&cmd, &ctx, Some(&i.to_le_bytes())).unwrap();
        }
    }
    ledger.state_hash().unwrap()
}

fn crash_and_check(mode: &str, kill_after: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .env(CHILD_MODE, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = None;
    let out = BufReader::new(child.stdout.take().unwrap());
    for line in out.lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("ack ") {
            let n: u64 = n.trim().parse().unwrap();
            acked = Some(n);
            if n >= kill_after {
                break;
            }
        }
    }
    // SIGKILL: no destructor, no flush, no chance to finish the current write.
    child.kill().unwrap();
    child.wait().unwrap();
    let acked = acked.expect("child acknowledged batches before the kill");

    let opts = RocksOptions {
        durability: durability(mode),
        ..RocksOptions::default()
    };
    let store = RocksStore::open(dir.path(), &opts).unwrap();
    let applied = read_applied(&store)
        .unwrap()
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()));
    if mode == "sync" {
        assert!(
            applied.is_some_and(|a| a >= acked),
            "acknowledged batch {acked} lost: applied position on disk is {applied:?}"
        );
    }
    let ledger = Ledger::open(store).unwrap();
    assert_eq!(
        ledger.state_hash().unwrap(),
        replay_hash(applied),
        "state on disk is not exactly batches 0..={applied:?} ({mode}, acked {acked})"
    );
}

#[test]
fn kill_9_loses_no_acknowledged_batch_with_sync_durability() {
    for kill_after in [3, 25] {
        crash_and_check("sync", kill_after);
    }
}

#[test]
fn kill_9_without_wal_leaves_a_consistent_prefix_and_its_position() {
    for kill_after in [5, 60] {
        crash_and_check("nowal", kill_after);
    }
}
