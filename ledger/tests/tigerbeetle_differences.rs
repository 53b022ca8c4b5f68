//! The behaviours where TigerBeetle and an earlier Tally could disagree, one test each, as
//! listed in docs/reference/differences-from-tigerbeetle.md (which names these tests). Each
//! asserts the code TigerBeetle's `src/state_machine.zig` returns, or, where Tally differs on
//! purpose, Tally's documented answer.

mod support;

use support::*;
use tally_ledger::query::{get_account_transfers, query_transfers};
use tally_ledger::{
    Account, AccountFilter, AccountFlags as AF, CreateAccountResult as AR,
    CreateTransferResult as R, LedgerError, QueryFilter, Transfer, TransferFlags as F, BATCH_MAX,
    TIMESTAMP_MAX,
};

const A: u128 = 1;
const B: u128 = 2;
const C: u128 = 3;
const T0: u64 = 1_000_000_000_000;
const MAX: u128 = u128::MAX;

/// A ledger with plain accounts A, B and C on ledger 1.
fn fixture() -> L {
    let mut l = ledger();
    let r = l
        .create_accounts(&accounts(), &ctx(T0))
        .expect("create the fixture accounts");
    assert!(r.iter().all(|r| *r == AR::Ok), "fixture: {r:?}");
    l
}

fn accounts() -> [Account; 3] {
    [
        acct(A, 1, AF::empty()),
        acct(B, 1, AF::empty()),
        acct(C, 1, AF::empty()),
    ]
}

/// Runs one batch of transfers at leader time `at`.
fn run(l: &mut L, at: u64, batch: &[Transfer]) -> Vec<R> {
    l.create_transfers(batch, &ctx(at))
        .expect("create_transfers")
}

fn closed(l: &L, id: u128) -> bool {
    let a = account(l, id).expect("account exists");
    AF::from_bits_retain(a.flags).contains(AF::CLOSED)
}

#[test]
fn void_of_another_pending_transfer_on_a_closed_account_succeeds() {
    let mut l = fixture();
    let pre = [
        pend(20, A, B, 5),
        pend(21, C, B, 7),
        pend(22, A, C, 0).flag(F::CLOSING_DEBIT),
        pend(23, C, B, 0).flag(F::CLOSING_CREDIT),
    ];
    assert_eq!(run(&mut l, T0 + 10, &pre), [R::Ok; 4]);
    assert!(closed(&l, A) && closed(&l, B));
    // Voids release the reservations of other pending transfers on closed accounts (debit side
    // closed, then credit side closed), and leave the accounts closed.
    assert_eq!(
        run(&mut l, T0 + 20, &[void(30, 20), void(31, 21)]),
        [R::Ok, R::Ok]
    );
    assert_eq!(balances(&l, A), (0, 0, 0, 0));
    assert_eq!(balances(&l, B), (0, 0, 0, 0));
    assert!(
        closed(&l, A) && closed(&l, B),
        "a void of another transfer keeps them closed"
    );
    // Posts stay refused, and burn their ids.
    let late = [pend(24, A, C, 3), pend(25, C, B, 3)];
    assert_eq!(
        run(&mut l, T0 + 25, &late),
        [R::DebitAccountAlreadyClosed, R::CreditAccountAlreadyClosed]
    );
}

#[test]
fn post_of_another_pending_transfer_on_a_closed_account_is_refused() {
    let mut l = fixture();
    let pre = [pend(20, A, B, 5), pend(21, A, C, 0).flag(F::CLOSING_DEBIT)];
    assert_eq!(run(&mut l, T0 + 10, &pre), [R::Ok; 2]);
    assert_eq!(
        run(&mut l, T0 + 20, &[post(30, 20, MAX)]),
        [R::DebitAccountAlreadyClosed]
    );
    assert_eq!(balances(&l, A), (5, 0, 0, 0), "nothing moved");
}

#[test]
fn post_of_the_closing_transfer_itself_is_refused() {
    let mut l = fixture();
    let pre = [
        pend(20, A, C, 4).flag(F::CLOSING_DEBIT),
        pend(21, C, B, 0).flag(F::CLOSING_CREDIT),
    ];
    assert_eq!(run(&mut l, T0 + 10, &pre), [R::Ok; 2]);
    assert_eq!(
        run(&mut l, T0 + 20, &[post(30, 20, MAX), post(31, 21, MAX)]),
        [R::DebitAccountAlreadyClosed, R::CreditAccountAlreadyClosed]
    );
    assert_eq!(balances(&l, A), (4, 0, 0, 0), "the reservation stays");
    // Transient: the ids are burned.
    assert_eq!(
        run(&mut l, T0 + 30, &[post(30, 20, MAX)]),
        [R::IdAlreadyFailed]
    );
    // Voiding it still reopens the account.
    assert_eq!(run(&mut l, T0 + 40, &[void(32, 20)]), [R::Ok]);
    assert!(!closed(&l, A));
    assert_eq!(balances(&l, A), (0, 0, 0, 0));
}

#[test]
fn last_linked_event_of_a_failed_chain_is_chain_open() {
    let mut l = fixture();
    let batch = [
        tr(10, A, B, 1).flag(F::LINKED),
        tr(11, A, B, 1).flag(F::LINKED).with(|t| t.code = 0),
        tr(12, A, B, 1).flag(F::LINKED),
        tr(13, A, B, 1).flag(F::LINKED),
    ];
    assert_eq!(
        run(&mut l, T0 + 10, &batch),
        [
            R::LinkedEventFailed,
            R::CodeMustNotBeZero,
            R::LinkedEventFailed,
            R::LinkedEventChainOpen
        ]
    );
    assert_eq!(balances(&l, A), (0, 0, 0, 0));
    // The same for accounts.
    let batch = [
        acct(40, 0, AF::LINKED),
        acct(41, 1, AF::LINKED),
        acct(42, 1, AF::LINKED),
    ];
    assert_eq!(
        l.create_accounts(&batch, &ctx(T0 + 20)).unwrap(),
        [
            AR::LedgerMustNotBeZero,
            AR::LinkedEventFailed,
            AR::LinkedEventChainOpen
        ]
    );
    assert!(account(&l, 41).is_none());
}

#[test]
fn void_for_more_than_the_pending_amount_exceeds_it() {
    let mut l = fixture();
    assert_eq!(run(&mut l, T0 + 10, &[pend(20, A, B, 5)]), [R::Ok]);
    let with = |id, amount| void(id, 20).with(|t| t.amount = amount);
    assert_eq!(
        run(&mut l, T0 + 20, &[with(30, 6), with(31, MAX), with(32, 4)]),
        [
            R::ExceedsPendingTransferAmount,
            R::ExceedsPendingTransferAmount,
            R::PendingTransferHasDifferentAmount
        ]
    );
    assert_eq!(balances(&l, A), (5, 0, 0, 0));
    assert_eq!(run(&mut l, T0 + 30, &[with(33, 5)]), [R::Ok]);
}

#[test]
fn pending_transfer_that_would_overflow_posted_balances() {
    let mut l = fixture();
    // A's debits_posted and B's credits_posted at 2^128-1; C has room everywhere.
    assert_eq!(run(&mut l, T0 + 10, &[tr(20, A, B, MAX)]), [R::Ok]);
    assert_eq!(
        run(&mut l, T0 + 20, &[pend(30, A, C, 1), pend(31, C, B, 1)]),
        [R::OverflowsDebitsPosted, R::OverflowsCreditsPosted]
    );
    assert_eq!(balances(&l, C), (0, 0, 0, 0));
    // A pending transfer of 0 overflows nothing.
    assert_eq!(run(&mut l, T0 + 30, &[pend(32, A, C, 0)]), [R::Ok]);
}

#[test]
fn resent_post_with_zero_user_data_after_an_override_differs() {
    let mut l = fixture();
    let p = pend(20, A, B, 5).with(|t| {
        t.user_data_128 = 1;
        t.user_data_64 = 2;
        t.user_data_32 = 3;
    });
    let overriding = post(30, 20, MAX).with(|t| {
        t.user_data_128 = 11;
        t.user_data_64 = 12;
        t.user_data_32 = 13;
    });
    let inheriting = void(31, 21);
    let pre = [p, p.with(|t| t.id = 21), overriding, inheriting];
    assert_eq!(run(&mut l, T0 + 10, &pre), [R::Ok; 4]);
    // The post stored its own user data: a resend with 0 no longer names the same transfer.
    let resend = [
        overriding.with(|t| t.user_data_128 = 0),
        overriding.with(|t| t.user_data_64 = 0),
        overriding.with(|t| t.user_data_32 = 0),
        overriding,
    ];
    assert_eq!(
        run(&mut l, T0 + 20, &resend),
        [
            R::ExistsWithDifferentUserData128,
            R::ExistsWithDifferentUserData64,
            R::ExistsWithDifferentUserData32,
            R::Exists
        ]
    );
    // The void inherited the pending transfer's user data: 0 or the inherited value both match.
    let inherited = inheriting.with(|t| {
        t.user_data_128 = 1;
        t.user_data_64 = 2;
        t.user_data_32 = 3;
    });
    assert_eq!(
        run(&mut l, T0 + 30, &[inheriting, inherited]),
        [R::Exists, R::Exists]
    );
}

#[test]
fn resent_full_post_with_a_larger_amount_is_exists() {
    let mut l = fixture();
    let pre = [
        pend(20, A, B, 5),
        pend(21, A, B, 5),
        post(30, 20, MAX),
        post(31, 21, 3),
    ];
    assert_eq!(run(&mut l, T0 + 10, &pre), [R::Ok; 4]);
    // The full post: any amount at least the pending amount names it (TigerBeetle's reference;
    // its state machine takes only 5 or 2^128-1).
    assert_eq!(
        run(
            &mut l,
            T0 + 20,
            &[post(30, 20, 6), post(30, 20, 5), post(30, 20, 4)]
        ),
        [R::Exists, R::Exists, R::ExistsWithDifferentAmount]
    );
    // The partial post: only its own amount.
    assert_eq!(
        run(
            &mut l,
            T0 + 30,
            &[post(31, 21, 3), post(31, 21, 5), post(31, 21, MAX)]
        ),
        [
            R::Exists,
            R::ExistsWithDifferentAmount,
            R::ExistsWithDifferentAmount
        ]
    );
}

#[test]
fn resent_account_closed_by_a_closing_transfer_differs_in_flags() {
    let mut l = fixture();
    let close = pend(20, A, B, 0).flag(F::CLOSING_DEBIT);
    assert_eq!(run(&mut l, T0 + 10, &[close]), [R::Ok]);
    let a = accounts()[0];
    let retry = |l: &mut L, a: Account, at| l.create_accounts(&[a], &ctx(at)).unwrap();
    assert_eq!(retry(&mut l, a, T0 + 20), [AR::ExistsWithDifferentFlags]);
    assert_eq!(retry(&mut l, a.flag(AF::CLOSED), T0 + 30), [AR::Exists]);
    // Reopened by the void: the original event matches again.
    assert_eq!(run(&mut l, T0 + 40, &[void(21, 20)]), [R::Ok]);
    assert_eq!(retry(&mut l, a, T0 + 50), [AR::Exists]);
    assert_eq!(
        retry(&mut l, a.flag(AF::CLOSED), T0 + 60),
        [AR::ExistsWithDifferentFlags]
    );
}

#[test]
fn query_limit_above_the_batch_maximum_is_an_invalid_filter() {
    let mut l = fixture();
    assert_eq!(run(&mut l, T0 + 10, &[tr(20, A, B, 1)]), [R::Ok]);
    let over = BATCH_MAX as u32 + 1;
    let filter = AccountFilter {
        account_id: A,
        limit: over,
        flags: 3,
        ..AccountFilter::default()
    };
    let r = get_account_transfers(l.store(), &filter);
    assert!(
        matches!(&r, Err(LedgerError::InvalidFilter(m)) if m.contains("8189")),
        "{r:?}"
    );
    let query = QueryFilter {
        limit: over,
        ..QueryFilter::default()
    };
    let r = query_transfers(l.store(), &query);
    assert!(matches!(r, Err(LedgerError::InvalidFilter(_))), "{r:?}");
    let at_max = QueryFilter {
        limit: BATCH_MAX as u32,
        ..query
    };
    assert_eq!(query_transfers(l.store(), &at_max).unwrap().len(), 1);
}

#[test]
fn invalid_filters_are_errors_not_empty_results() {
    let l = fixture();
    let good = AccountFilter {
        account_id: A,
        limit: 10,
        flags: 3,
        ..AccountFilter::default()
    };
    let past_time = TIMESTAMP_MAX + 1;
    let bad = [
        AccountFilter { limit: 0, ..good },
        AccountFilter {
            account_id: 0,
            ..good
        },
        AccountFilter { flags: 4, ..good },
        AccountFilter {
            flags: 8 | 3,
            ..good
        },
        AccountFilter {
            timestamp_min: 5,
            timestamp_max: 4,
            ..good
        },
        AccountFilter {
            timestamp_min: past_time,
            ..good
        },
        AccountFilter {
            timestamp_max: past_time,
            ..good
        },
    ];
    for f in bad {
        let r = get_account_transfers(l.store(), &f);
        assert!(
            matches!(r, Err(LedgerError::InvalidFilter(_))),
            "{f:?}: {r:?}"
        );
    }
    let edge = AccountFilter {
        timestamp_min: TIMESTAMP_MAX,
        timestamp_max: TIMESTAMP_MAX,
        ..good
    };
    assert_eq!(get_account_transfers(l.store(), &edge).unwrap(), []);
    let query = QueryFilter {
        limit: 10,
        ..QueryFilter::default()
    };
    for f in [
        QueryFilter {
            timestamp_max: past_time,
            ..query
        },
        QueryFilter { flags: 2, ..query },
    ] {
        let r = query_transfers(l.store(), &f);
        assert!(
            matches!(r, Err(LedgerError::InvalidFilter(_))),
            "{f:?}: {r:?}"
        );
    }
}
