//! An account's transfers: by side and order, timestamp range and limit, every window across
//! commands, by field, and paging by timestamp.

mod support;

use support::queries::*;
use support::*;
use tally_ledger::query::{get_account_transfers, lookup_transfers};
use tally_ledger::{
    AccountFilter, AccountFilterFlags as AFF, AccountFlags as AF, CreateTransferResult as R,
    Transfer,
};

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
