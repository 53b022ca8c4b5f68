//! The RocksDB store against the storage conformance suite, plus what only a disk store has:
//! reopening, and equal state hashes with the in-memory store for the same commands.

use tally_ledger::store::conformance;
use tally_ledger::{
    Account, AccountFlags, Command, Context, CreateTransferResult, Ledger, MemStore, Transfer,
    TransferFlags,
};
use tally_raft::{Durability, RocksOptions, RocksStore};

fn open(dir: &std::path::Path, durability: Durability) -> RocksStore {
    let opts = RocksOptions {
        durability,
        ..RocksOptions::default()
    };
    RocksStore::open(dir, &opts).expect("open")
}

#[test]
fn rocks_store_conforms() {
    let mut dirs = Vec::new();
    conformance::run(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), Durability::Wal);
        dirs.push(dir);
        store
    });
}

fn commands() -> Vec<(Command, Context)> {
    let acct = |id, flags: AccountFlags| Account {
        id,
        ledger: 7,
        code: 1,
        flags: flags.bits(),
        ..Account::default()
    };
    let tr = |id, dr, cr, amount, flags: TransferFlags, timeout| Transfer {
        id,
        debit_account_id: dr,
        credit_account_id: cr,
        amount,
        ledger: 7,
        code: 2,
        flags: flags.bits(),
        timeout,
        ..Transfer::default()
    };
    let s = 1_000_000_000u64;
    vec![
        (
            Command::CreateAccounts(vec![
                acct(1, AccountFlags::HISTORY),
                acct(2, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
                acct(3, AccountFlags::empty()),
            ]),
            Context { timestamp: 10 * s },
        ),
        (
            Command::CreateTransfers(vec![
                tr(10, 1, 2, 500, TransferFlags::empty(), 0),
                tr(11, 2, 3, 200, TransferFlags::PENDING, 5),
                tr(12, 2, 3, 900, TransferFlags::empty(), 0),
                tr(13, 3, 1, 50, TransferFlags::LINKED, 0),
                tr(14, 1, 3, 60, TransferFlags::empty(), 0),
            ]),
            Context { timestamp: 11 * s },
        ),
        (Command::Pulse, Context { timestamp: 20 * s }),
    ]
}

#[test]
fn rocks_and_memory_stores_reach_the_same_state_hash() {
    let dir = tempfile::tempdir().unwrap();
    let mut rocks = Ledger::open(open(dir.path(), Durability::Sync)).unwrap();
    let mut mem = Ledger::open(MemStore::new()).unwrap();
    for (cmd, ctx) in commands() {
        let a = rocks.apply(&cmd, &ctx, Some(b"pos")).unwrap();
        let b = mem.apply(&cmd, &ctx, Some(b"pos")).unwrap();
        assert_eq!(a, b);
    }
    assert_eq!(rocks.state_hash().unwrap(), mem.state_hash().unwrap());
}

#[test]
fn state_and_applied_position_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let hash = {
        let mut ledger = Ledger::open(open(dir.path(), Durability::NoWal)).unwrap();
        for (i, (cmd, ctx)) in commands().into_iter().enumerate() {
            ledger.apply(&cmd, &ctx, Some(&[i as u8])).unwrap();
        }
        ledger.store().flush().unwrap();
        ledger.state_hash().unwrap()
    };
    let store = open(dir.path(), Durability::NoWal);
    assert_eq!(tally_ledger::read_applied(&store).unwrap(), Some(vec![2u8]));
    let mut ledger = Ledger::open(store).unwrap();
    assert_eq!(ledger.state_hash().unwrap(), hash);
    // The ids written before the restart still deduplicate after it.
    let retry = Transfer {
        id: 10,
        debit_account_id: 1,
        credit_account_id: 2,
        amount: 500,
        ledger: 7,
        code: 2,
        ..Transfer::default()
    };
    let r = ledger
        .create_transfers(&[retry], &Context { timestamp: 30 })
        .unwrap();
    assert_eq!(r, vec![CreateTransferResult::Exists]);
}

#[test]
fn checkpoint_opens_as_an_identical_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(open(dir.path(), Durability::Wal)).unwrap();
    for (cmd, ctx) in commands() {
        ledger.apply(&cmd, &ctx, None).unwrap();
    }
    let cp = tempfile::tempdir().unwrap();
    let target = cp.path().join("snap");
    ledger.store().checkpoint(&target).unwrap();
    let copy = Ledger::open(open(&target, Durability::Wal)).unwrap();
    assert_eq!(copy.state_hash().unwrap(), ledger.state_hash().unwrap());
}
