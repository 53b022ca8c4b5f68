//! Reads: lookups, an account's transfers and balance history, queries by field, the filter
//! checks, and the batch size limit on writes and lookups.

mod support;

use support::*;
use tally_ledger::query::{
    get_account_balances, get_account_transfers, lookup_accounts, lookup_transfers, query_accounts,
    query_transfers,
};
use tally_ledger::{
    Account, AccountBalance, AccountFilter, AccountFilterFlags as AFF, AccountFlags as AF, Command,
    CreateTransferResult as R, LedgerError, QueryFilter, QueryFilterFlags, Transfer,
    TransferFlags as F, BATCH_MAX,
};

const T0: u64 = 1_000_000_000_000;
/// Transfer `10 + i` of [`fixture`] has timestamp `T1 + i`.
const T1: u64 = T0 + 1_000_000;
/// Account 1 keeps history; 4 does not.
const HIST: u128 = 1;

/// Accounts 1..=4 and transfers 10..=15; account 1 is on the debit side of 10, 12 and 15
/// (pending, 1 s timeout) and on the credit side of 11 and 13.
fn fixture() -> L {
    let mut l = ledger();
    let a = |id, ledger, code, ud128| {
        acct(id, ledger, AF::empty()).with(|a| (a.code, a.user_data_128) = (code, ud128))
    };
    let accounts = [
        a(1, 1, 10, 100)
            .flag(AF::HISTORY)
            .with(|a| (a.user_data_64, a.user_data_32) = (64, 32)),
        a(2, 1, 20, 200),
        a(3, 2, 10, 100),
        a(4, 1, 10, 0),
    ];
    assert!(l
        .create_accounts(&accounts, &ctx(T0))
        .unwrap()
        .iter()
        .all(|r| r.as_u32() == 0));
    let t = |id, dr, cr, code| tr(id, dr, cr, id - 9).with(|t| t.code = code);
    let transfers = [
        t(10, 1, 2, 1).with(|t| t.user_data_128 = 7),
        t(11, 2, 1, 2).with(|t| t.user_data_64 = 8),
        t(12, 1, 4, 1).with(|t| t.user_data_32 = 9),
        t(13, 4, 1, 3).with(|t| (t.user_data_128, t.user_data_64) = (7, 8)),
        t(14, 2, 4, 1),
        t(15, 1, 2, 4).flag(F::PENDING).with(|t| t.timeout = 1),
    ];
    assert_eq!(
        l.create_transfers(&transfers, &ctx(T1)).unwrap(),
        [R::Ok; 6]
    );
    l
}

fn filter(account_id: u128, flags: AFF) -> AccountFilter {
    AccountFilter {
        account_id,
        limit: 100,
        flags: flags.bits(),
        ..AccountFilter::default()
    }
}

fn both() -> AFF {
    AFF::DEBITS | AFF::CREDITS
}

fn ids(ts: &[Transfer]) -> Vec<u128> {
    ts.iter().map(|t| t.id).collect()
}

fn account_ids(accounts: &[Account]) -> Vec<u128> {
    accounts.iter().map(|a| a.id).collect()
}

fn transfers_of(l: &L, f: AccountFilter) -> Vec<u128> {
    ids(&get_account_transfers(l.store(), &f).unwrap())
}

#[test]
fn lookups_keep_request_order_and_skip_missing() {
    let mut l = fixture();
    let found = lookup_accounts(l.store(), &[3, 99, 1, 0, u128::MAX]).unwrap();
    assert_eq!(account_ids(&found), [3, 1]);
    assert_eq!(found[0].ledger, 2);
    assert_eq!(
        ids(&lookup_transfers(l.store(), &[13, 99, 10]).unwrap()),
        [13, 10]
    );
    // A burned id names no transfer.
    let r = l.create_transfers(&[tr(16, 1, 99, 1)], &ctx(T1)).unwrap();
    assert_eq!(r, [R::CreditAccountNotFound]);
    assert!(lookup_transfers(l.store(), &[16]).unwrap().is_empty());
    assert!(lookup_accounts(l.store(), &[]).unwrap().is_empty());
}

#[test]
fn account_transfers_by_side_and_order() {
    let l = fixture();
    assert_eq!(transfers_of(&l, filter(1, AFF::DEBITS)), [10, 12, 15]);
    assert_eq!(transfers_of(&l, filter(1, AFF::CREDITS)), [11, 13]);
    assert_eq!(transfers_of(&l, filter(1, both())), [10, 11, 12, 13, 15]);
    assert_eq!(
        transfers_of(&l, filter(1, both() | AFF::REVERSED)),
        [15, 13, 12, 11, 10]
    );
    assert_eq!(transfers_of(&l, filter(4, AFF::CREDITS)), [12, 14]);
    assert!(transfers_of(&l, filter(3, both())).is_empty());
    assert!(transfers_of(&l, filter(99, both())).is_empty());
}

#[test]
fn account_transfers_by_timestamp_range_and_limit() {
    let l = fixture();
    let f = |min, max| AccountFilter {
        timestamp_min: min,
        timestamp_max: max,
        ..filter(1, both())
    };
    assert_eq!(transfers_of(&l, f(T1 + 1, T1 + 3)), [11, 12, 13]);
    assert_eq!(
        transfers_of(&l, f(T1 + 3, 0)),
        [13, 15],
        "max 0 is unbounded"
    );
    assert_eq!(transfers_of(&l, f(0, T1 + 1)), [10, 11]);
    assert_eq!(transfers_of(&l, f(T1 + 2, T1 + 2)), [12]);
    assert!(transfers_of(&l, f(T1 + 6, 0)).is_empty());
    let limited = |flags| AccountFilter {
        limit: 2,
        ..filter(1, flags)
    };
    assert_eq!(transfers_of(&l, limited(both())), [10, 11]);
    assert_eq!(transfers_of(&l, limited(both() | AFF::REVERSED)), [15, 13]);
    assert_eq!(transfers_of(&l, limited(AFF::CREDITS)), [11, 13]);
}

/// The account index packs each command's transfers of an account into one entry keyed by the
/// newest; a window may start or end inside an entry, or fall between two. Every window over
/// transfers spread across four commands, every side selection, both orders and every limit
/// give what a brute-force filter over the transfers gives.
#[test]
fn account_transfers_every_window_across_commands() {
    let mut l = ledger();
    let accounts = [1, 2, 3].map(|id| acct(id, 1, AF::empty()));
    assert!(l
        .create_accounts(&accounts, &ctx(T0))
        .unwrap()
        .iter()
        .all(|r| r.as_u32() == 0));
    // Commands of 3, 1, 4 and 2 transfers; account 1 is in most, on either side, and some
    // transfers do not touch it at all.
    let mut id = 10;
    for (c, n) in [3, 1, 4, 2].into_iter().enumerate() {
        let batch: Vec<Transfer> = (0..n)
            .map(|i| {
                id += 1;
                let (dr, cr) = [(1, 2), (3, 1), (2, 3)][(id as usize + c + i) % 3];
                tr(id, dr, cr, 1)
            })
            .collect();
        let at = T1 + 100 * c as u64;
        assert!(l
            .create_transfers(&batch, &ctx(at))
            .unwrap()
            .iter()
            .all(|r| *r == R::Ok));
    }
    let all: Vec<Transfer> = lookup_transfers(l.store(), &(11..=id).collect::<Vec<_>>()).unwrap();
    let (lo, hi) = (all[0].timestamp - 1, all[all.len() - 1].timestamp + 1);
    let mut windows = 0;
    for min in lo..=hi {
        for max in (min..=hi).chain([0]) {
            for sides in [AFF::DEBITS, AFF::CREDITS, both()] {
                for reversed in [false, true] {
                    let mut want: Vec<u128> = all
                        .iter()
                        .filter(|t| t.timestamp >= min && (max == 0 || t.timestamp <= max))
                        .filter(|t| {
                            (sides.contains(AFF::DEBITS) && t.debit_account_id == 1)
                                || (sides.contains(AFF::CREDITS) && t.credit_account_id == 1)
                        })
                        .map(|t| t.id)
                        .collect();
                    if reversed {
                        want.reverse();
                    }
                    for limit in 1..=want.len().max(1) as u32 {
                        let flags = if reversed {
                            sides | AFF::REVERSED
                        } else {
                            sides
                        };
                        let f = AccountFilter {
                            timestamp_min: min,
                            timestamp_max: max,
                            limit,
                            ..filter(1, flags)
                        };
                        let expected = &want[..want.len().min(limit as usize)];
                        assert_eq!(transfers_of(&l, f), expected, "{f:?}");
                        windows += 1;
                    }
                }
            }
        }
    }
    assert!(windows > 1000, "{windows} windows checked");
}

#[test]
fn account_transfers_by_field() {
    let l = fixture();
    let f = |g: fn(&mut AccountFilter)| {
        let mut f = filter(1, both());
        g(&mut f);
        f
    };
    assert_eq!(transfers_of(&l, f(|f| f.user_data_128 = 7)), [10, 13]);
    assert_eq!(transfers_of(&l, f(|f| f.user_data_64 = 8)), [11, 13]);
    assert_eq!(transfers_of(&l, f(|f| f.user_data_32 = 9)), [12]);
    assert_eq!(transfers_of(&l, f(|f| f.code = 1)), [10, 12]);
    assert_eq!(
        transfers_of(&l, f(|f| (f.user_data_128, f.code) = (7, 3))),
        [13]
    );
    assert!(transfers_of(&l, f(|f| (f.user_data_128, f.code) = (7, 2))).is_empty());
    let debits_code_1 = AccountFilter {
        code: 1,
        ..filter(1, AFF::DEBITS)
    };
    assert_eq!(transfers_of(&l, debits_code_1), [10, 12]);
    // The limit counts matches, not transfers scanned.
    let first_ud = AccountFilter {
        user_data_128: 7,
        limit: 1,
        ..filter(1, both())
    };
    assert_eq!(transfers_of(&l, first_ud), [10]);
}

#[test]
fn account_transfers_page_by_timestamp() {
    let l = fixture();
    let mut pages = Vec::new();
    let mut f = AccountFilter {
        limit: 2,
        ..filter(1, both())
    };
    loop {
        let page = get_account_transfers(l.store(), &f).unwrap();
        let Some(last) = page.last() else { break };
        f.timestamp_min = last.timestamp + 1;
        pages.push(ids(&page));
    }
    assert_eq!(pages, [vec![10, 11], vec![12, 13], vec![15]]);

    let mut pages = Vec::new();
    let mut f = AccountFilter {
        limit: 2,
        ..filter(1, both() | AFF::REVERSED)
    };
    loop {
        let page = get_account_transfers(l.store(), &f).unwrap();
        let Some(last) = page.last() else { break };
        f.timestamp_max = last.timestamp - 1;
        pages.push(ids(&page));
    }
    assert_eq!(pages, [vec![15, 13], vec![12, 11], vec![10]]);
}

fn history(l: &L, f: AccountFilter) -> Vec<(u64, (u128, u128, u128, u128))> {
    let b = get_account_balances(l.store(), &f).unwrap();
    let four = |b: &AccountBalance| {
        (
            b.debits_pending,
            b.debits_posted,
            b.credits_pending,
            b.credits_posted,
        )
    };
    b.iter().map(|b| (b.timestamp, four(b))).collect()
}

#[test]
fn account_balances_for_history_accounts_only_with_expiry_releases() {
    let mut l = fixture();
    let expired = l.apply(&Command::Pulse, &ctx(T1 + 5 + NS), None).unwrap();
    assert_eq!(format!("{expired:?}"), "Pulse { expired: 1 }");
    let want = vec![
        (T1, (0, 1, 0, 0)),
        (T1 + 1, (0, 1, 0, 2)),
        (T1 + 2, (0, 4, 0, 2)),
        (T1 + 3, (0, 4, 0, 6)),
        (T1 + 5, (6, 4, 0, 6)),
        (T1 + 5 + NS, (0, 4, 0, 6)),
    ];
    assert_eq!(history(&l, filter(HIST, both())), want);
    let reversed: Vec<_> = want.iter().rev().copied().collect();
    assert_eq!(history(&l, filter(HIST, both() | AFF::REVERSED)), reversed);
    let range = AccountFilter {
        timestamp_min: T1 + 2,
        timestamp_max: T1 + 3,
        ..filter(HIST, both())
    };
    assert_eq!(history(&l, range), want[2..4]);
    let limited = AccountFilter {
        limit: 2,
        ..filter(HIST, both())
    };
    assert_eq!(history(&l, limited), want[..2]);
    // Accounts without history have none, whatever their transfers.
    assert!(history(&l, filter(4, both())).is_empty());
    assert!(history(&l, filter(2, both())).is_empty());
    assert!(history(&l, filter(99, both())).is_empty());
}

/// Implementation choice (not spelled out in the spec): a snapshot is selected through the
/// transfer made at its timestamp, so side and field filters drop expiry releases.
#[test]
fn account_balances_follow_the_transfer_filters() {
    let mut l = fixture();
    l.apply(&Command::Pulse, &ctx(T1 + 5 + NS), None).unwrap();
    let stamps = |f| {
        history(&l, f)
            .iter()
            .map(|(ts, _)| *ts - T1)
            .collect::<Vec<_>>()
    };
    assert_eq!(stamps(filter(HIST, AFF::DEBITS)), [0, 2, 5]);
    assert_eq!(stamps(filter(HIST, AFF::CREDITS)), [1, 3]);
    assert_eq!(
        stamps(AccountFilter {
            user_data_128: 7,
            ..filter(HIST, both())
        }),
        [0, 3]
    );
    assert_eq!(
        stamps(AccountFilter {
            code: 1,
            ..filter(HIST, AFF::DEBITS)
        }),
        [0, 2]
    );
}

fn query(g: fn(&mut QueryFilter)) -> QueryFilter {
    let mut f = QueryFilter {
        limit: 100,
        ..QueryFilter::default()
    };
    g(&mut f);
    f
}

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

fn assert_invalid<T: std::fmt::Debug>(what: &str, r: Result<T, LedgerError>) {
    assert!(
        matches!(r, Err(LedgerError::InvalidFilter(_))),
        "{what}: {r:?}"
    );
}

#[test]
fn invalid_account_filters_are_errors() {
    let l = fixture();
    let bad: [(&str, AccountFilter); 9] = [
        (
            "limit 0",
            AccountFilter {
                limit: 0,
                ..filter(1, both())
            },
        ),
        (
            "limit over max",
            AccountFilter {
                limit: BATCH_MAX as u32 + 1,
                ..filter(1, both())
            },
        ),
        ("account 0", filter(0, both())),
        ("account int max", filter(u128::MAX, both())),
        (
            "min > max",
            AccountFilter {
                timestamp_min: T1 + 1,
                timestamp_max: T1,
                ..filter(1, both())
            },
        ),
        ("no side", filter(1, AFF::empty())),
        ("only reversed", filter(1, AFF::REVERSED)),
        (
            "unknown flag",
            AccountFilter {
                flags: (1 << 3) | both().bits(),
                ..filter(1, both())
            },
        ),
        (
            "max 2^64-1",
            AccountFilter {
                timestamp_max: u64::MAX,
                ..filter(1, both())
            },
        ),
    ];
    for (what, f) in bad {
        assert_invalid(what, get_account_transfers(l.store(), &f));
        assert_invalid(what, get_account_balances(l.store(), &f));
    }
    let edge = AccountFilter {
        limit: BATCH_MAX as u32,
        timestamp_min: T1,
        timestamp_max: T1,
        ..filter(1, both())
    };
    assert_eq!(transfers_of(&l, edge), [10]);
}

#[test]
fn invalid_query_filters_are_errors() {
    let l = fixture();
    let bad: [(&str, QueryFilter); 4] = [
        ("limit 0", query(|f| f.limit = 0)),
        ("limit over max", query(|f| f.limit = BATCH_MAX as u32 + 1)),
        (
            "min > max",
            query(|f| (f.timestamp_min, f.timestamp_max) = (T1 + 1, T1)),
        ),
        ("unknown flag", query(|f| f.flags = 1 << 1)),
    ];
    for (what, f) in bad {
        assert_invalid(what, query_accounts(l.store(), &f));
        assert_invalid(what, query_transfers(l.store(), &f));
    }
    let edge = query(|f| f.limit = BATCH_MAX as u32);
    assert_eq!(query_transfers(l.store(), &edge).unwrap().len(), 6);
}

fn assert_too_large<T: std::fmt::Debug>(r: Result<T, LedgerError>) {
    let want = (BATCH_MAX + 1, BATCH_MAX);
    assert!(
        matches!(r, Err(LedgerError::BatchTooLarge { len, max }) if (len, max) == want),
        "{r:?}"
    );
}

#[test]
fn batches_over_batch_max_are_rejected_whole() {
    let mut l = fixture();
    let hash = l.state_hash().unwrap();
    let accounts: Vec<Account> = (0..=BATCH_MAX as u128)
        .map(|i| acct(100 + i, 1, AF::empty()))
        .collect();
    assert_too_large(l.create_accounts(&accounts, &ctx(T1 + 2 * NS)));
    let transfers: Vec<Transfer> = (0..=BATCH_MAX as u128)
        .map(|i| tr(100 + i, 1, 2, 1))
        .collect();
    assert_too_large(l.create_transfers(&transfers, &ctx(T1 + 2 * NS)));
    // Nothing changed, not even the expiry that a valid batch at that time would have run.
    assert_eq!(l.state_hash().unwrap(), hash);
    assert_eq!(balances(&l, 1), (6, 4, 0, 6));
    let ids: Vec<u128> = (0..=BATCH_MAX as u128).collect();
    assert_too_large(lookup_accounts(l.store(), &ids));
    assert_too_large(lookup_transfers(l.store(), &ids));
    // Exactly BATCH_MAX is fine.
    let r = l
        .create_accounts(&accounts[..BATCH_MAX], &ctx(T1 + 2 * NS))
        .unwrap();
    assert!(r.iter().all(|r| r.as_u32() == 0));
    let created = account_ids(&accounts[..BATCH_MAX]);
    assert_eq!(
        lookup_accounts(l.store(), &created).unwrap().len(),
        BATCH_MAX
    );
}

mod applied_position {
    use tally_ledger::{
        read_applied, Account, Command, Context, Ledger, LedgerError, MemStore, BATCH_MAX,
    };

    #[test]
    fn deterministic_rejection_still_records_the_applied_position() {
        let mut ledger = Ledger::open(MemStore::new()).unwrap();
        let before = ledger.state_hash().unwrap();
        let too_many = Command::CreateAccounts(vec![Account::default(); BATCH_MAX + 1]);
        let err = ledger
            .apply(&too_many, &Context { timestamp: 5 }, Some(b"entry-7"))
            .unwrap_err();
        assert!(matches!(err, LedgerError::BatchTooLarge { .. }));
        assert!(err.is_deterministic());
        assert_eq!(
            ledger.state_hash().unwrap(),
            before,
            "no ledger state changed"
        );
        assert_eq!(
            read_applied(ledger.store()).unwrap(),
            Some(b"entry-7".to_vec())
        );

        let late = Context {
            timestamp: u64::MAX,
        };
        let err = ledger
            .apply(&Command::Pulse, &late, Some(b"entry-8"))
            .unwrap_err();
        assert!(matches!(err, LedgerError::ClockOutOfRange { .. }));
        assert_eq!(
            read_applied(ledger.store()).unwrap(),
            Some(b"entry-8".to_vec())
        );
        assert_eq!(ledger.state_hash().unwrap(), before);
    }

    #[test]
    fn record_applied_moves_only_the_position() {
        let mut ledger = Ledger::open(MemStore::new()).unwrap();
        let before = ledger.state_hash().unwrap();
        ledger.record_applied(b"blank-entry-3").unwrap();
        assert_eq!(ledger.state_hash().unwrap(), before);
        assert_eq!(
            read_applied(ledger.store()).unwrap(),
            Some(b"blank-entry-3".to_vec())
        );
    }
}

/// Transfers are stored in buckets of 32 consecutive timestamps; a command whose first
/// timestamps fall in the bucket the previous command ended in must add to that bucket, and
/// reads must find every transfer whichever bucket, and however a range cuts through buckets.
#[test]
fn transfers_sharing_a_storage_bucket_across_commands() {
    use tally_ledger::keys::TRANSFER_BUCKET_SPAN;
    let span = TRANSFER_BUCKET_SPAN as u64;
    let mut l = ledger();
    let accounts = [acct(1, 1, AF::empty()), acct(2, 1, AF::empty())];
    assert!(l
        .create_accounts(&accounts, &ctx(T0))
        .unwrap()
        .iter()
        .all(|r| r.as_u32() == 0));
    // Command 1 starts two timestamps before a bucket boundary and crosses it; command 2 runs at
    // the same leader time, so it continues in command 1's last bucket; command 3 is later and
    // spans several buckets; command 4 posts a pending transfer stored in the shared bucket.
    let start = (T0 / span + 10) * span - 2;
    let run = |l: &mut L, ids: std::ops::Range<u128>, at: u64| {
        let events: Vec<Transfer> = ids
            .map(|id| {
                let t = tr(id, 1, 2, id);
                if id == 104 {
                    t.flag(F::PENDING)
                } else {
                    t
                }
            })
            .collect();
        let n = events.len();
        assert_eq!(
            l.create_transfers(&events, &ctx(at)).unwrap(),
            vec![R::Ok; n]
        );
    };
    run(&mut l, 100..104, start);
    run(&mut l, 104..107, start);
    run(&mut l, 200..270, start + 1_000);
    assert_eq!(
        l.create_transfers(&[post(300, 104, 50)], &ctx(start + 5_000))
            .unwrap(),
        [R::Ok]
    );
    let all: Vec<u128> = (100..107).chain(200..270).chain([300]).collect();
    let found = lookup_transfers(l.store(), &all).unwrap();
    assert_eq!(ids(&found), all);
    let ts: Vec<u64> = found.iter().map(|t| t.timestamp).collect();
    assert_eq!(ts[0], start);
    assert_eq!(
        ts[4],
        start + 4,
        "command 2 continues in command 1's bucket"
    );
    assert!(ts.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(transfer(&l, 300).unwrap().amount, 50);
    let q = |min, max, limit, reversed: bool| {
        let f = QueryFilter {
            timestamp_min: min,
            timestamp_max: max,
            limit,
            flags: if reversed {
                QueryFilterFlags::REVERSED.bits()
            } else {
                0
            },
            ..QueryFilter::default()
        };
        ids(&query_transfers(l.store(), &f).unwrap())
    };
    assert_eq!(q(0, 0, 1000, false), all);
    let mut rev = all.clone();
    rev.reverse();
    assert_eq!(q(0, 0, 1000, true), rev);
    // A range that starts and ends inside buckets.
    assert_eq!(q(ts[1], ts[5], 1000, false), all[1..=5]);
    assert_eq!(
        q(ts[1], ts[5], 1000, true),
        rev[rev.len() - 6..rev.len() - 1]
    );
    assert_eq!(q(ts[3], 0, 3, false), all[3..6]);
    assert_eq!(q(0, ts[40], 2, true), [all[40], all[39]]);
    assert_eq!(q(ts[6] + 1, ts[7] - 1, 1000, false), [] as [u128; 0]);
}

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
