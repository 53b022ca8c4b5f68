//! The money invariants stop the ledger on broken state instead of writing wrong balances:
//! each test corrupts one stored account (or ledger time) through the store, as a disk fault or
//! a bug in another version could, and runs a command that the corrupt state makes break an
//! invariant. Validation alone would let every one of these commands through.

mod support;

use support::*;
use tally_ledger::keys::{self, ACCOUNT_SIZE};
use tally_ledger::store::KEY_MAX;
use tally_ledger::{Account, AccountFlags, Cf, KvRead, KvStore, Ledger, WriteBatch};
use tally_ledger::{CreateAccountResult, CreateTransferResult};

const T: u64 = 1 << 40;

/// Reopens `l`'s store (with no account cache) after replacing the stored account `a.id` by
/// `a`. The account-log records are folded into `accounts` first, newest version first, so
/// that `accounts` alone holds every account.
fn with_account(l: L, a: Account) -> L {
    let mut store = l.into_store();
    let mut records = Vec::new();
    store
        .scan(Cf::AccountLog, &[], &KEY_MAX, true, &mut |k, v| {
            records.push((k.to_vec(), v.to_vec()));
            true
        })
        .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut b = WriteBatch::new();
    for (k, v) in &records {
        for image in v.chunks(ACCOUNT_SIZE) {
            let id = keys::decode_account(image).unwrap().id;
            if seen.insert(id) {
                b.put(Cf::Accounts, &keys::id_key(id), image);
            }
        }
        b.delete(Cf::AccountLog, k);
    }
    b.put(Cf::Meta, keys::META_ACCOUNT_LOG_COUNT, &0u64.to_le_bytes());
    b.put(Cf::Accounts, &keys::id_key(a.id), &keys::encode_account(&a));
    store.write(&b).unwrap();
    Ledger::with_cache(store, 0).unwrap()
}

/// Accounts 1 and 2 on ledger 1 (account 1 with `flags`), and a pending transfer 10 of 5 from
/// 1 to 2.
fn with_pending(flags: AccountFlags) -> L {
    let mut l = ledger();
    let r = l
        .create_accounts(
            &[acct(1, 1, flags), acct(2, 1, AccountFlags::empty())],
            &ctx(T),
        )
        .unwrap();
    assert_eq!(r, [CreateAccountResult::Ok; 2]);
    let r = l.create_transfers(&[pend(10, 1, 2, 5)], &ctx(T)).unwrap();
    assert_eq!(r, [CreateTransferResult::Ok]);
    l
}

#[test]
fn the_corruption_helper_keeps_a_sound_ledger_working() {
    let l = with_pending(AccountFlags::empty());
    let a = account(&l, 1).unwrap();
    let mut l = with_account(l, a);
    assert_eq!(account(&l, 2).unwrap().credits_pending, 5);
    let r = l.create_transfers(&[void(11, 10)], &ctx(T)).unwrap();
    assert_eq!(r, [CreateTransferResult::Ok]);
    assert_eq!(balances(&l, 1), (0, 0, 0, 0));
}

#[test]
#[should_panic(expected = "invariant: a pending transfer's amount is reserved on its debit")]
fn a_void_of_a_reservation_the_account_does_not_hold_stops_the_ledger() {
    let l = with_pending(AccountFlags::empty());
    let a = account(&l, 1).unwrap();
    let mut l = with_account(
        l,
        Account {
            debits_pending: 0,
            ..a
        },
    );
    let _ = l.create_transfers(&[void(11, 10)], &ctx(T));
}

#[test]
#[should_panic(expected = "debits moved by (pending")]
fn a_void_across_two_ledgers_breaks_double_entry_and_stops_the_ledger() {
    let l = with_pending(AccountFlags::empty());
    let a = account(&l, 2).unwrap();
    let mut l = with_account(l, Account { ledger: 2, ..a });
    let _ = l.create_transfers(&[void(11, 10)], &ctx(T));
}

#[test]
#[should_panic(expected = "invariant: account 1 debits 0+10 exceed its credits 1")]
fn a_credit_that_leaves_a_debit_limit_broken_stops_the_ledger() {
    let mut l = ledger();
    let limited = acct(1, 1, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS);
    let r = l
        .create_accounts(&[limited, acct(2, 1, AccountFlags::empty())], &ctx(T))
        .unwrap();
    assert_eq!(r, [CreateAccountResult::Ok; 2]);
    let a = account(&l, 1).unwrap();
    let mut l = with_account(
        l,
        Account {
            debits_posted: 10,
            ..a
        },
    );
    // Validation checks account 1's limit only when it is debited.
    let _ = l.create_transfers(&[tr(11, 2, 1, 1)], &ctx(T));
}

#[test]
#[should_panic(expected = "not after the newest before it")]
fn ledger_time_set_back_under_stored_transfers_stops_the_ledger() {
    let l = with_pending(AccountFlags::empty());
    let mut store = l.into_store();
    let mut b = WriteBatch::new();
    b.put(Cf::Meta, keys::META_LAST_TIMESTAMP, &0u64.to_le_bytes());
    store.write(&b).unwrap();
    let mut l = Ledger::with_cache(store, 0).unwrap();
    // The next transfer would get timestamp T again, in the bucket of the transfer at T + 2.
    let _ = l.create_transfers(&[tr(11, 1, 2, 1)], &ctx(T));
}
