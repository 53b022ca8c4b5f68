//! The apply path allocates per batch, never per event: executing a batch 40 times larger must
//! not take meaningfully more heap allocations (growth of the batch's own buffers is
//! logarithmic). Counted with dhat's global allocator; this file holds only this test.

use tally_ledger::{execute, Account, Command, Context, Ledger, MemStore, Transfer, WriteBatch};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const ACCOUNTS: u128 = 1000;

fn transfers(first_id: u128, n: usize) -> Vec<Transfer> {
    (0..n as u128)
        .map(|i| Transfer {
            id: first_id + i,
            debit_account_id: 1 + i % ACCOUNTS,
            credit_account_id: 1 + (i * 7 + 3) % ACCOUNTS,
            amount: 10,
            ledger: 1,
            code: 1,
            ..Transfer::default()
        })
        .filter(|t| t.debit_account_id != t.credit_account_id)
        .collect()
}

/// Heap blocks allocated while executing `cmd` against `store`.
fn blocks(store: &MemStore, cmd: &Command) -> u64 {
    let mut out = WriteBatch::new();
    let ctx = Context { timestamp: 1 << 40 };
    let before = dhat::HeapStats::get().total_blocks;
    execute(store, cmd, &ctx, &mut out, Some(b"position")).unwrap();
    let after = dhat::HeapStats::get().total_blocks;
    assert!(out.len() > 4, "the batch wrote something");
    after - before
}

#[test]
fn executing_a_batch_allocates_per_batch_not_per_event() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let mut ledger = Ledger::open(MemStore::new()).unwrap();
    let accounts: Vec<Account> = (1..=ACCOUNTS)
        .map(|id| Account {
            id,
            ledger: 1,
            code: 1,
            ..Account::default()
        })
        .collect();
    ledger
        .create_accounts(&accounts, &Context { timestamp: 1 })
        .unwrap();
    // Some committed transfers so that idempotency lookups hit a non-empty store.
    ledger
        .create_transfers(&transfers(1 << 64, 500), &Context { timestamp: 2 })
        .unwrap();
    let store = ledger.into_store();
    let small = blocks(&store, &Command::CreateTransfers(transfers(1 << 80, 100)));
    let large = blocks(&store, &Command::CreateTransfers(transfers(1 << 81, 4000)));
    eprintln!("allocations: {small} for 100 events, {large} for 4,000 events");
    assert!(
        large <= small + 64,
        "4,000 events took {large} allocations, 100 events took {small}: allocation per event"
    );
}
