//! Helpers shared by the table tests: a fresh ledger, short event constructors, and a dump of
//! the stored state for "a failed event changes nothing" checks.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

pub mod queries;

use std::collections::BTreeMap;

use tally_ledger::query::{lookup_accounts, lookup_transfers};
use tally_ledger::store::KEY_MAX;
use tally_ledger::{
    keys, Account, AccountFlags, Cf, Context, KvRead, Ledger, MemStore, Transfer, TransferFlags,
};

/// The ledger under test.
pub type L = Ledger<MemStore>;

/// Nanoseconds per second (transfer timeouts are in seconds).
pub const NS: u64 = 1_000_000_000;

/// A flag bit no flag set defines.
pub const RESERVED_BIT: u16 = 1 << 15;

pub fn ctx(timestamp: u64) -> Context {
    Context { timestamp }
}

pub fn ledger() -> L {
    Ledger::open(MemStore::new()).expect("open an empty ledger")
}

/// An account on `ledger` with code 10.
pub fn acct(id: u128, ledger: u32, flags: AccountFlags) -> Account {
    Account {
        id,
        ledger,
        code: 10,
        flags: flags.bits(),
        ..Account::default()
    }
}

/// A plain transfer on ledger 1 with code 1.
pub fn tr(id: u128, dr: u128, cr: u128, amount: u128) -> Transfer {
    Transfer {
        id,
        debit_account_id: dr,
        credit_account_id: cr,
        amount,
        ledger: 1,
        code: 1,
        ..Transfer::default()
    }
}

/// A pending transfer on ledger 1 with code 1.
pub fn pend(id: u128, dr: u128, cr: u128, amount: u128) -> Transfer {
    tr(id, dr, cr, amount).flag(TransferFlags::PENDING)
}

/// A post of `pending_id` that inherits accounts, ledger and code (all zero).
pub fn post(id: u128, pending_id: u128, amount: u128) -> Transfer {
    Transfer {
        id,
        pending_id,
        amount,
        flags: TransferFlags::POST_PENDING_TRANSFER.bits(),
        ..Transfer::default()
    }
}

/// A void of `pending_id` with amount 0 (meaning "the pending amount").
pub fn void(id: u128, pending_id: u128) -> Transfer {
    Transfer {
        id,
        pending_id,
        flags: TransferFlags::VOID_PENDING_TRANSFER.bits(),
        ..Transfer::default()
    }
}

/// Small builders on events: `.with(|t| t.code = 0)`, `.flag(F::LINKED)`.
pub trait Build: Copy {
    /// The typed flags of the event.
    type Flags: Copy;

    fn with(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }

    /// Adds `flags` to the event's flags.
    fn flag(self, flags: Self::Flags) -> Self;

    /// Marks the event imported with this timestamp.
    fn imported(self, timestamp: u64) -> Self;
}

impl Build for Account {
    type Flags = AccountFlags;

    fn flag(mut self, flags: AccountFlags) -> Self {
        self.flags |= flags.bits();
        self
    }

    fn imported(self, timestamp: u64) -> Self {
        self.flag(AccountFlags::IMPORTED)
            .with(|a| a.timestamp = timestamp)
    }
}

impl Build for Transfer {
    type Flags = TransferFlags;

    fn flag(mut self, flags: TransferFlags) -> Self {
        self.flags |= flags.bits();
        self
    }

    fn imported(self, timestamp: u64) -> Self {
        self.flag(TransferFlags::IMPORTED)
            .with(|t| t.timestamp = timestamp)
    }
}

pub fn account(l: &L, id: u128) -> Option<Account> {
    lookup_accounts(l.store(), &[id]).unwrap().pop()
}

pub fn transfer(l: &L, id: u128) -> Option<Transfer> {
    lookup_transfers(l.store(), &[id]).unwrap().pop()
}

/// `(debits_pending, debits_posted, credits_pending, credits_posted)` of an existing account.
pub fn balances(l: &L, id: u128) -> (u128, u128, u128, u128) {
    let a = account(l, id).expect("account exists");
    (
        a.debits_pending,
        a.debits_posted,
        a.credits_pending,
        a.credits_posted,
    )
}

/// Every stored key and value, by column family, except `meta` (which holds the last assigned
/// timestamp: failed events consume timestamps but change nothing else).
pub type Dump = BTreeMap<(Cf, Vec<u8>), Vec<u8>>;

pub fn dump(l: &L) -> Dump {
    let mut out = Dump::new();
    for cf in Cf::ALL.into_iter().filter(|cf| *cf != Cf::Meta) {
        l.store()
            .scan(cf, &[], &KEY_MAX, false, &mut |k, v| {
                out.insert((cf, k.to_vec()), v.to_vec());
                true
            })
            .unwrap();
    }
    out
}

/// `dump` plus the record that burns transfer id `id` with result code `code`.
pub fn with_burned(mut d: Dump, id: u128, code: u32) -> Dump {
    let key = keys::id_bucket_key(keys::id_bucket(id)).to_vec();
    let old = d
        .remove(&(Cf::TransferIds, key.clone()))
        .unwrap_or_default();
    let mut value = Vec::new();
    keys::merge_id_bucket(&old, &[(id, keys::IdRecord::Failed(code))], &mut value).unwrap();
    d.insert((Cf::TransferIds, key), value);
    d
}

/// Whether event `i` of a batch with results `codes` ran and was then rolled back with its
/// linked chain: it failed as `linked_failed`, and a later event of its chain (`linked(j)` for
/// each event before the chain's end) failed with another code.
pub fn rolled_back<R: PartialEq>(
    linked: impl Fn(usize) -> bool,
    codes: &[R],
    linked_failed: &R,
    i: usize,
) -> bool {
    if codes[i] != *linked_failed {
        return false;
    }
    let mut j = i;
    while linked(j) && j + 1 < codes.len() {
        j += 1;
        if codes[j] != *linked_failed {
            return true;
        }
    }
    false
}
