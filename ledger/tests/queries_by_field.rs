//! Queries of accounts and transfers by field, timestamp range, limit and order, and reads of
//! accounts across chunks of the index.

mod support;

use support::queries::*;
use support::*;
use tally_ledger::query::{lookup_accounts, query_accounts, query_transfers};
use tally_ledger::{
    Account, AccountFlags as AF, CreateTransferResult as R, QueryFilterFlags, Transfer,
};

#[test]
fn query_accounts_by_field_range_limit_and_order() {
    let l = fixture();
    let q = |g| account_ids(&query_accounts(l.store(), &query(g)).unwrap());
    assert_eq!(q(|_| {}), [1, 2, 3, 4]);
    assert_eq!(q(|f| f.ledger = 1), [1, 2, 4]);
    assert_eq!(q(|f| f.code = 10), [1, 3, 4]);
    assert_eq!(q(|f| f.user_data_128 = 100), [1, 3]);
    assert_eq!(q(|f| f.user_data_64 = 64), [1]);
    assert_eq!(q(|f| f.user_data_32 = 32), [1]);
    assert_eq!(q(|f| (f.ledger, f.code) = (1, 10)), [1, 4]);
    assert_eq!(q(|f| (f.ledger, f.code) = (2, 20)), [] as [u128; 0]);
    assert_eq!(
        q(|f| (f.timestamp_min, f.timestamp_max) = (T0 + 1, T0 + 2)),
        [2, 3]
    );
    assert_eq!(q(|f| f.timestamp_min = T0 + 2), [3, 4]);
    assert_eq!(q(|f| f.limit = 2), [1, 2]);
    assert_eq!(
        q(|f| (f.limit, f.flags) = (3, QueryFilterFlags::REVERSED.bits())),
        [4, 3, 2]
    );
    assert_eq!(
        q(|f| (f.code, f.limit) = (10, 2)),
        [1, 3],
        "the limit counts matches"
    );
}

/// `query_accounts` reads accounts a chunk of index entries at a time: filters that match a
/// third of them, limits and ranges that end inside a chunk, and both orders must give what a
/// brute-force filter gives. Some accounts are changed after they are created, so their
/// newest version is in an account-log record and others' in `accounts`.
#[test]
fn query_accounts_across_chunks_of_the_index() {
    let mut l = ledger();
    let accounts: Vec<Account> = (1..=700u128)
        .map(|id| acct(id, 1, AF::empty()).with(|a| a.user_data_64 = u64::from(id % 3 == 0) * 7))
        .collect();
    // Six commands, so that the seventh (the transfers) leaves a record rather than folding.
    for (n, part) in accounts.chunks(120).enumerate() {
        let results = l
            .create_accounts(part, &ctx(T0 + 1_000 * n as u64))
            .unwrap();
        assert!(results.iter().all(|r| r.as_u32() == 0));
    }
    let moves: Vec<Transfer> = (0..40)
        .map(|i| tr(1_000 + i, 1 + i * 17, 2 + i * 17, 5))
        .collect();
    assert_eq!(
        l.create_transfers(&moves, &ctx(T1)).unwrap(),
        vec![R::Ok; 40]
    );
    let all = lookup_accounts(l.store(), &(1..=700).collect::<Vec<_>>()).unwrap();
    assert_eq!(all.len(), 700);
    assert_eq!((all[0].debits_posted, all[1].credits_posted), (5, 5));
    let (t_lo, t_hi) = (all[150].timestamp, all[610].timestamp);
    for ud64 in [0, 7] {
        for limit in [1, 63, 64, 65, 80, 500, 8189] {
            for reversed in [false, true] {
                for (lo, hi) in [(0, 0), (t_lo, t_hi)] {
                    let mut f = query(|_| {});
                    (f.user_data_64, f.limit, f.timestamp_min, f.timestamp_max) =
                        (ud64, limit, lo, hi);
                    if reversed {
                        f.flags = QueryFilterFlags::REVERSED.bits();
                    }
                    let hi = if hi == 0 { u64::MAX } else { hi };
                    let mut want: Vec<Account> = all
                        .iter()
                        .filter(|a| a.timestamp >= lo && a.timestamp <= hi)
                        .filter(|a| ud64 == 0 || a.user_data_64 == ud64)
                        .copied()
                        .collect();
                    if reversed {
                        want.reverse();
                    }
                    want.truncate(limit as usize);
                    assert_eq!(
                        query_accounts(l.store(), &f).unwrap(),
                        want,
                        "user_data_64 {ud64} limit {limit} reversed {reversed} [{lo}, {hi}]"
                    );
                }
            }
        }
    }
}

#[test]
fn query_transfers_by_field_range_limit_and_order() {
    let l = fixture();
    let q = |g| ids(&query_transfers(l.store(), &query(g)).unwrap());
    assert_eq!(q(|_| {}), [10, 11, 12, 13, 14, 15]);
    assert_eq!(q(|f| f.code = 1), [10, 12, 14]);
    assert_eq!(q(|f| f.user_data_128 = 7), [10, 13]);
    assert_eq!(q(|f| f.user_data_64 = 8), [11, 13]);
    assert_eq!(q(|f| f.user_data_32 = 9), [12]);
    assert_eq!(q(|f| f.ledger = 1), [10, 11, 12, 13, 14, 15]);
    assert_eq!(q(|f| f.ledger = 2), [] as [u128; 0]);
    assert_eq!(q(|f| (f.user_data_128, f.code) = (7, 3)), [13]);
    assert_eq!(
        q(|f| (f.timestamp_min, f.timestamp_max) = (T1 + 4, 0)),
        [14, 15]
    );
    assert_eq!(
        q(|f| (f.limit, f.flags) = (2, QueryFilterFlags::REVERSED.bits())),
        [15, 14]
    );
    assert_eq!(q(|f| (f.code, f.limit) = (1, 2)), [10, 12]);
}
