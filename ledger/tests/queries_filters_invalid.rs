//! Invalid account filters and query filters are errors; the edges of the valid ranges are not.

mod support;

use support::queries::*;
use tally_ledger::query::{
    get_account_balances, get_account_transfers, query_accounts, query_transfers,
};
use tally_ledger::{AccountFilter, AccountFilterFlags as AFF, LedgerError, QueryFilter, BATCH_MAX};

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
