//! An account's balance history: kept for history accounts only, with expiry releases, and
//! selected by the same filters as its transfers.

mod support;

use support::queries::*;
use support::*;
use tally_ledger::query::get_account_balances;
use tally_ledger::{AccountBalance, AccountFilter, AccountFilterFlags as AFF, Command};

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
