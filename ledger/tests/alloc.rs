//! How the apply path uses the heap, counted with dhat's global allocator:
//!
//! - it allocates per batch, never per event: executing a batch 40 times larger must not take
//!   meaningfully more heap allocations (growth of the batch's own buffers is logarithmic);
//! - a `Ledger` reuses its executor's working memory: once a first batch has sized the overlay
//!   maps and buffers, a second batch of the same size allocates a small fraction of the bytes.
//!   Allocating them afresh per batch makes the kernel zero new pages on every batch (about 9%
//!   of the apply path).
//!
//! dhat allows one profiler at a time in a process, so the tests take turns ([`PROFILER`]).

use std::sync::{Mutex, MutexGuard};

use tally_ledger::{
    execute, Account, Cf, Command, Context, KvRead, KvStore, Ledger, MemStore, StoreError,
    Transfer, WriteBatch,
};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

static PROFILER: Mutex<()> = Mutex::new(());

/// Runs `f` with a dhat profiler, alone in the process.
fn profiled(f: impl FnOnce()) {
    let _turn: MutexGuard<'_, ()> = PROFILER.lock().unwrap_or_else(|e| e.into_inner());
    let _profiler = dhat::Profiler::builder().testing().build();
    f();
}

const ACCOUNTS: u128 = 1000;

fn accounts() -> Vec<Account> {
    (1..=ACCOUNTS)
        .map(|id| Account {
            id,
            ledger: 1,
            code: 1,
            ..Account::default()
        })
        .collect()
}

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
    profiled(|| {
        let mut ledger = Ledger::open(MemStore::new()).unwrap();
        ledger
            .create_accounts(&accounts(), &Context { timestamp: 1 })
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
    });
}

/// Reads a `MemStore`; drops writes once `frozen`, so that only the ledger's own allocations
/// are counted (a `MemStore` write allocates per key).
struct Frozen {
    inner: MemStore,
    frozen: bool,
}

impl KvRead for Frozen {
    fn get(&self, cf: Cf, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool, StoreError> {
        self.inner.get(cf, key, visit)
    }

    fn multi_get(
        &self,
        cf: Cf,
        keys: &[&[u8]],
        visit: &mut dyn FnMut(usize, &[u8]),
    ) -> Result<(), StoreError> {
        self.inner.multi_get(cf, keys, visit)
    }

    fn scan(
        &self,
        cf: Cf,
        lo: &[u8],
        hi: &[u8],
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.inner.scan(cf, lo, hi, reverse, visit)
    }
}

impl KvStore for Frozen {
    fn write(&mut self, batch: &WriteBatch) -> Result<(), StoreError> {
        if self.frozen {
            return Ok(());
        }
        self.inner.write(batch)
    }
}

/// Heap bytes allocated while applying `cmd`.
fn bytes(ledger: &mut Ledger<Frozen>, cmd: &Command, ts: u64) -> u64 {
    let ctx = Context { timestamp: ts };
    let before = dhat::HeapStats::get().total_bytes;
    ledger.apply(cmd, &ctx, Some(b"position")).unwrap();
    dhat::HeapStats::get().total_bytes - before
}

#[test]
fn a_ledger_reuses_its_working_memory_between_batches() {
    profiled(|| {
        let store = Frozen {
            inner: MemStore::new(),
            frozen: false,
        };
        let mut ledger = Ledger::open(store).unwrap();
        ledger
            .create_accounts(&accounts(), &Context { timestamp: 1 })
            .unwrap();
        let mut ledger = Ledger::open(Frozen {
            inner: ledger.into_store().inner,
            frozen: true,
        })
        .unwrap();
        // The first batch sizes the overlay maps, the buffers and the account cache.
        let first = bytes(
            &mut ledger,
            &Command::CreateTransfers(transfers(1 << 80, 4000)),
            2,
        );
        let second = bytes(
            &mut ledger,
            &Command::CreateTransfers(transfers(1 << 81, 4000)),
            3,
        );
        eprintln!("heap bytes allocated: first batch {first}, second batch {second}");
        // What a batch still allocates: its results, the id lookup's key references and the
        // records it encodes. The overlay maps alone (8,000 accounts and 4,000 transfers) are
        // more than a megabyte.
        assert!(
            second * 4 < first,
            "the second batch allocated {second} bytes, the first {first}: memory not reused"
        );
    });
}
