//! Helpers shared by the `state_machine_*` tests: a deterministic log, reference state machines
//! that applied a prefix of it, and snapshot builds and directories.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use openraft::alias::{EntryOf, LeaderIdOf, LogIdOf};
use openraft::entry::RaftEntry;
use openraft::storage::RaftStateMachine;
use openraft::vote::RaftLeaderIdExt;
use openraft::{EntryPayload, Membership};
use tally_ledger::{Account, Command, Transfer, TransferFlags};
use tally_raft::{
    LedgerStateMachine, Request, RocksOptions, StateMachineOptions, TallyNode, TypeConfig,
};

pub type C = TypeConfig;

/// Small caches: the suite opens about fifty stores.
pub fn small() -> StateMachineOptions {
    StateMachineOptions {
        rocks: RocksOptions {
            block_cache_bytes: 1 << 20,
            write_buffer_bytes: 1 << 20,
            ..RocksOptions::default()
        },
        ..StateMachineOptions::default()
    }
}

// ---- a deterministic log -----------------------------------------------------------------------

pub const ACCOUNTS: u64 = 64;

pub fn log_id(term: u64, index: u64) -> LogIdOf<C> {
    LogIdOf::<C>::new(LeaderIdOf::<C>::new_committed(term, 1), index)
}

pub fn normal(index: u64, cmd: &Command) -> EntryOf<C> {
    let leader_time = 1_000_000_000 * index;
    EntryOf::<C>::new(
        log_id(1, index),
        EntryPayload::Normal(Request::new(leader_time, cmd)),
    )
}

pub fn membership() -> Membership<u64, TallyNode> {
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
pub fn entry(index: u64) -> EntryOf<C> {
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

pub fn transfers(i: u64) -> Vec<Transfer> {
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
pub fn reference(count: u64) -> (tempfile::TempDir, LedgerStateMachine) {
    let dir = tempfile::tempdir().unwrap();
    let mut sm = LedgerStateMachine::open(dir.path(), &small()).unwrap();
    for i in 0..count {
        sm.apply_entry(&entry(i)).unwrap();
    }
    (dir, sm)
}

// ---- snapshots on disk -------------------------------------------------------------------------

pub async fn build(sm: &mut LedgerStateMachine) -> tally_raft::state_machine::Snapshot {
    use openraft::storage::RaftSnapshotBuilder;
    sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap()
}

/// The names in `dir/snapshots`, sorted.
pub fn snapshot_dirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Copies snapshot directory `src` to a new directory `dst` (no links: it will be modified).
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
}
