//! Reads across folds: an account's transfers and the accounts themselves read the same from
//! log records and from folded entries.

mod support;

use support::queries::*;
use support::*;
use tally_ledger::query::lookup_accounts;
use tally_ledger::{
    Account, AccountFilterFlags as AFF, AccountFlags as AF, CreateTransferResult as R,
};

/// An account's transfers spread over more commands than the account-index log holds before a fold
/// (`keys::INDEX_FOLD`), so some are in folded `account_transfers` entries and some in log
/// records: every page, forward and reversed, at every limit and around every range bound,
/// must be the same as the plain list of its transfers.
#[test]
fn history_pages_read_folded_and_logged_items_as_one_list() {
    let mut l = ledger();
    let accounts: Vec<Account> = (1..=3).map(|id| acct(id, 1, AF::empty())).collect();
    l.create_accounts(&accounts, &ctx(T0)).unwrap();
    // (id, timestamp) of account 1's transfers, oldest first.
    let mut mine: Vec<(u128, u64)> = Vec::new();
    let commands = 2 * tally_ledger::keys::INDEX_FOLD + 3;
    let mut id = 100u128;
    for c in 0..commands as u64 {
        let at = T1 + c * 1_000;
        // Each command: account 1 debited, then credited, then a transfer it is not in.
        let batch = [tr(id, 1, 2, 1), tr(id + 1, 3, 1, 1), tr(id + 2, 2, 3, 1)];
        assert_eq!(l.create_transfers(&batch, &ctx(at)).unwrap(), [R::Ok; 3]);
        mine.extend([(id, at), (id + 1, at + 1)]);
        id += 3;
        index_log_floor_holds(&l);
    }
    let all: Vec<u128> = mine.iter().map(|m| m.0).collect();
    for limit in [1, 2, 5, 7, 100] {
        for reversed in [false, true] {
            // Bounds at, just before and just after a few of the account's timestamps.
            for &(lo, hi) in &[
                (0, 0),
                (mine[3].1, mine[20].1),
                (mine[15].1 + 1, mine[17].1 - 1),
            ] {
                let mut f = filter(
                    1,
                    if reversed {
                        both() | AFF::REVERSED
                    } else {
                        both()
                    },
                );
                // (0, 0) is "no bounds".
                (f.limit, f.timestamp_min, f.timestamp_max) = (limit, lo, hi);
                let hi = if hi == 0 { u64::MAX } else { hi };
                let mut want: Vec<u128> = mine
                    .iter()
                    .filter(|m| m.1 >= lo && m.1 <= hi)
                    .map(|m| m.0)
                    .collect();
                if reversed {
                    want.reverse();
                }
                want.truncate(limit as usize);
                assert_eq!(
                    transfers_of(&l, f),
                    want,
                    "limit {limit} reversed {reversed} [{lo}, {hi}]"
                );
            }
        }
    }
    // Debits only: the first of each command's pair.
    let debits: Vec<u128> = all.iter().copied().step_by(2).collect();
    assert_eq!(transfers_of(&l, filter(1, AFF::DEBITS)), debits);
}

/// Reads of the account-index log records start at the floor in `meta`
/// (`keys::META_INDEX_LOG_FLOOR`), so it must sit at or below every stored record's key,
/// and above every folded item (the newest of each `account_transfers` entry).
fn index_log_floor_holds(l: &L) {
    use tally_ledger::keys;
    use tally_ledger::store::{Cf, KvRead, KEY_MAX};
    let s = l.store();
    let mut floor = 0;
    s.get(Cf::Meta, keys::META_INDEX_LOG_FLOOR, &mut |v| {
        floor = u64::from_le_bytes(v.try_into().expect("8 bytes"))
    })
    .unwrap();
    s.scan(Cf::AccountIndexLog, &[], &KEY_MAX, false, &mut |k, _| {
        assert!(
            k >= &keys::ts_key(floor)[..],
            "record {k:?} below the floor {floor}"
        );
        true
    })
    .unwrap();
    s.scan(Cf::AccountTransfers, &[], &KEY_MAX, false, &mut |k, _| {
        let newest = keys::decode_account_ts_key(k).unwrap();
        assert!(
            newest < floor,
            "folded item {newest} at or above the floor {floor}"
        );
        true
    })
    .unwrap();
}

/// Accounts changed by a command wait in an account-log record until every
/// [`tally_ledger::keys::ACCOUNT_FOLD`]th command writes them to `accounts`: lookups, the
/// executor's own reads (no account cache) and balance limits must see the newest version
/// whichever of the two holds it, and a fold must leave each account once, in `accounts`.
#[test]
fn accounts_read_the_same_from_account_log_records_and_folded_entries() {
    use tally_ledger::keys::{self, ACCOUNT_FOLD};
    use tally_ledger::{Cf, KvRead, Ledger, MemStore};
    // No account cache: every read of an account goes to the store.
    let mut l = Ledger::with_cache(MemStore::new(), 0).unwrap();
    // Account 1 may not go below zero; 2..=5 are plain; 6 is created half way.
    let mut accounts: Vec<Account> = (1..=5).map(|id| acct(id, 1, AF::empty())).collect();
    accounts[0] = accounts[0].flag(AF::DEBITS_MUST_NOT_EXCEED_CREDITS);
    assert!(l
        .create_accounts(&accounts, &ctx(T0))
        .unwrap()
        .iter()
        .all(|r| r.as_u32() == 0));
    let mut want: std::collections::BTreeMap<u128, (u128, u128)> =
        (1..=5).map(|id| (id, (0, 0))).collect();
    let records = |l: &Ledger<MemStore>| {
        let mut n = 0;
        l.store()
            .scan(Cf::AccountLog, &[0; 8], &[0xff; 8], false, &mut |_, _| {
                n += 1;
                true
            })
            .unwrap();
        n
    };
    let folded = |l: &Ledger<MemStore>, id: u128| {
        let mut a = None;
        l.store()
            .get(Cf::Accounts, &keys::id_key(id), &mut |v| {
                a = Some(keys::decode_account(v).unwrap())
            })
            .unwrap();
        a
    };
    let mut id = 100u128;
    let commands = 3 * ACCOUNT_FOLD as u64 + 2;
    for c in 0..commands {
        let at = T1 + c * 1_000;
        if c == 10 {
            l.create_accounts(&[acct(6, 1, AF::empty())], &ctx(at - 500))
                .unwrap();
            want.insert(6, (0, 0));
        }
        // Account 1 is credited 2 every command and tries to spend 3 every other one: the
        // limit decides from its balance, so a stale read changes the answer.
        let k = 2 + (c as u128 % if c >= 10 { 5 } else { 4 });
        let mut batch = vec![tr(id, k, 1, 2)];
        let mut expect = vec![R::Ok];
        *want.get_mut(&k).unwrap() = (want[&k].0 + 2, want[&k].1);
        *want.get_mut(&1).unwrap() = (want[&1].0, want[&1].1 + 2);
        if c % 2 == 1 {
            batch.push(tr(id + 1, 1, k, 3));
            let (dr, cr) = want[&1];
            if dr + 3 <= cr {
                expect.push(R::Ok);
                *want.get_mut(&1).unwrap() = (dr + 3, cr);
                *want.get_mut(&k).unwrap() = (want[&k].0, want[&k].1 + 3);
            } else {
                expect.push(R::ExceedsCredits);
            }
        }
        id += 2;
        assert_eq!(
            l.create_transfers(&batch, &ctx(at)).unwrap(),
            expect,
            "command {c}"
        );
        let ids: Vec<u128> = want.keys().copied().collect();
        let got: Vec<(u128, u128, u128)> = lookup_accounts(l.store(), &ids)
            .unwrap()
            .iter()
            .map(|a| (a.id, a.debits_posted, a.credits_posted))
            .collect();
        let expected: Vec<(u128, u128, u128)> =
            want.iter().map(|(&id, &(d, c))| (id, d, c)).collect();
        assert_eq!(got, expected, "after command {c}");
        let stored = records(&l);
        assert!(stored < ACCOUNT_FOLD, "{stored} records after command {c}");
        if stored == 0 {
            // Just folded: every account is in `accounts`, at its newest version.
            for (&id, &(d, c)) in &want {
                let a = folded(&l, id).unwrap();
                assert_eq!((a.debits_posted, a.credits_posted), (d, c), "account {id}");
            }
        }
    }
    assert_eq!(records(&l), (commands as usize + 2) % ACCOUNT_FOLD);
}
