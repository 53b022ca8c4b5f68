//! Rows for plain and pending transfers: account ids, ledgers, closed accounts, overflows and
//! balance limits.

use super::*;

pub(crate) fn rows() -> Vec<Row> {
    [
        fields(),
        fields_pending(),
        accounts(),
        closed(),
        closing(),
        overflows(),
        limits(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn t10() -> Transfer {
    tr(10, A, B, 5)
}

fn fields() -> Vec<Row> {
    vec![
        one(
            "debit account zero",
            tr(10, 0, B, 5),
            R::DebitAccountIdMustNotBeZero,
        ),
        one(
            "debit zero beats credit zero",
            tr(10, 0, 0, 5),
            R::DebitAccountIdMustNotBeZero,
        ),
        one(
            "debit account int max",
            tr(10, MAX, B, 5),
            R::DebitAccountIdMustNotBeIntMax,
        ),
        one(
            "debit int max beats credit zero",
            tr(10, MAX, 0, 5),
            R::DebitAccountIdMustNotBeIntMax,
        ),
        one(
            "credit account zero",
            tr(10, A, 0, 5),
            R::CreditAccountIdMustNotBeZero,
        ),
        one(
            "credit zero beats ledger zero",
            tr(10, A, 0, 5).with(|t| t.ledger = 0),
            R::CreditAccountIdMustNotBeZero,
        ),
        one(
            "credit account int max",
            tr(10, A, MAX, 5),
            R::CreditAccountIdMustNotBeIntMax,
        ),
        one(
            "credit int max beats pending id",
            tr(10, A, MAX, 5).with(|t| t.pending_id = 20),
            R::CreditAccountIdMustNotBeIntMax,
        ),
        one(
            "accounts must be different",
            tr(10, A, A, 5),
            R::AccountsMustBeDifferent,
        ),
        one(
            "accounts must be different beats pending id",
            tr(10, A, A, 5).with(|t| t.pending_id = 20),
            R::AccountsMustBeDifferent,
        ),
    ]
}

fn fields_pending() -> Vec<Row> {
    let w = |f: fn(&mut Transfer)| t10().with(f);
    vec![
        one(
            "pending id must be zero",
            w(|t| t.pending_id = 20),
            R::PendingIdMustBeZero,
        ),
        one(
            "pending id must be zero beats timeout",
            w(|t| (t.pending_id, t.timeout) = (20, 1)),
            R::PendingIdMustBeZero,
        ),
        one(
            "timeout without pending",
            w(|t| t.timeout = 1),
            R::TimeoutReservedForPendingTransfer,
        ),
        one(
            "timeout beats closing must be pending",
            timeout(t10().flag(F::CLOSING_DEBIT), 1),
            R::TimeoutReservedForPendingTransfer,
        ),
        one(
            "closing debit not pending",
            t10().flag(F::CLOSING_DEBIT),
            R::ClosingTransferMustBePending,
        ),
        one(
            "closing credit not pending",
            t10().flag(F::CLOSING_CREDIT),
            R::ClosingTransferMustBePending,
        ),
        one(
            "closing must be pending beats ledger zero",
            t10().flag(F::CLOSING_CREDIT).with(|t| t.ledger = 0),
            R::ClosingTransferMustBePending,
        ),
        one("ledger zero", w(|t| t.ledger = 0), R::LedgerMustNotBeZero),
        one(
            "ledger zero beats code zero",
            w(|t| (t.ledger, t.code) = (0, 0)),
            R::LedgerMustNotBeZero,
        ),
        one("code zero", w(|t| t.code = 0), R::CodeMustNotBeZero),
        one(
            "code zero beats debit account not found",
            tr(10, MISSING, B, 5).with(|t| t.code = 0),
            R::CodeMustNotBeZero,
        ),
    ]
}

fn accounts() -> Vec<Row> {
    vec![
        one(
            "debit account not found",
            tr(10, MISSING, B, 5),
            R::DebitAccountNotFound,
        ),
        one(
            "debit beats credit not found",
            tr(10, MISSING, 98, 5),
            R::DebitAccountNotFound,
        ),
        one(
            "credit account not found",
            tr(10, A, MISSING, 5),
            R::CreditAccountNotFound,
        ),
        one(
            "accounts on two ledgers",
            tr(10, A, L2, 5),
            R::AccountsMustHaveTheSameLedger,
        ),
        one(
            "two ledgers beats the transfer's ledger",
            tr(10, L2, A, 5).with(|t| t.ledger = 3),
            R::AccountsMustHaveTheSameLedger,
        ),
        one(
            "transfer on another ledger",
            tr(10, A, B, 5).with(|t| t.ledger = 2),
            R::TransferMustHaveTheSameLedgerAsAccounts,
        ),
        one(
            "transfer ledger beats debit account closed",
            tr(10, SHUT, B, 5).with(|t| t.ledger = 2),
            R::TransferMustHaveTheSameLedgerAsAccounts,
        ),
    ]
}

fn close_a(flag: F) -> Vec<Transfer> {
    vec![pend(20, A, B, 1).flag(flag)]
}

fn closed() -> Vec<Row> {
    let dr_closed = R::DebitAccountAlreadyClosed;
    let cr_closed = R::CreditAccountAlreadyClosed;
    vec![
        one(
            "debit account created closed",
            tr(10, SHUT, B, 5),
            dr_closed,
        ),
        one(
            "credit account created closed",
            tr(10, A, SHUT, 5),
            cr_closed,
        ),
        one(
            "debit closed beats credit closed",
            tr(10, A, SHUT, 5),
            dr_closed,
        )
        .pre(close_a(F::CLOSING_DEBIT)),
        one(
            "credit closed beats exceeds credits",
            tr(10, DLIM, SHUT, 5),
            cr_closed,
        ),
        one(
            "closing debit closes the debit account",
            tr(10, A, C, 1),
            dr_closed,
        )
        .pre(close_a(F::CLOSING_DEBIT)),
        one(
            "closing debit closes it for credits too",
            tr(10, C, A, 1),
            cr_closed,
        )
        .pre(close_a(F::CLOSING_DEBIT)),
        one(
            "closing credit closes the credit account",
            tr(10, C, B, 1),
            cr_closed,
        )
        .pre(close_a(F::CLOSING_CREDIT)),
        one(
            "closing a closed account",
            pend(10, SHUT, B, 0).flag(F::CLOSING_DEBIT),
            dr_closed,
        ),
    ]
}

fn closing() -> Vec<Row> {
    let dr_closed = R::DebitAccountAlreadyClosed;
    let cr_closed = R::CreditAccountAlreadyClosed;
    vec![
        one(
            "void of the closing transfer reopens",
            tr(10, A, C, 1),
            R::Ok,
        )
        .pre([close_a(F::CLOSING_DEBIT), vec![void(21, 20)]].concat()),
        one(
            "void of another pending transfer keeps it closed",
            tr(10, A, C, 1),
            dr_closed,
        )
        .pre(vec![
            pend(20, A, B, 5),
            pend(21, A, C, 0).flag(F::CLOSING_DEBIT),
            void(22, 20),
        ]),
        one(
            "expiry of the closing transfer reopens",
            tr(10, A, C, 1),
            R::Ok,
        )
        .pre(vec![timeout(pend(20, A, B, 1).flag(F::CLOSING_DEBIT), 1)])
        .at(T1 + NS),
        one(
            "the closing transfer itself cannot be posted",
            post(21, 20, MAX),
            dr_closed,
        )
        .pre(close_a(F::CLOSING_DEBIT | F::CLOSING_CREDIT)),
        one(
            "the closing credit transfer itself cannot be posted",
            post(21, 20, MAX),
            cr_closed,
        )
        .pre(close_a(F::CLOSING_CREDIT)),
        one(
            "the closing transfer itself may be voided",
            void(21, 20),
            R::Ok,
        )
        .pre(close_a(F::CLOSING_CREDIT)),
        one(
            "post into a debit account closed since",
            post(22, 20, MAX),
            dr_closed,
        )
        .pre(vec![
            pend(20, A, B, 5),
            pend(21, A, C, 0).flag(F::CLOSING_DEBIT),
        ]),
        one(
            "void into a debit account closed since",
            void(22, 20),
            R::Ok,
        )
        .pre(vec![
            pend(20, A, B, 5),
            pend(21, A, C, 0).flag(F::CLOSING_DEBIT),
        ]),
        one(
            "void into a credit account closed since",
            void(22, 20),
            R::Ok,
        )
        .pre(vec![
            pend(20, A, B, 5),
            pend(21, C, B, 0).flag(F::CLOSING_CREDIT),
        ]),
        one(
            "post into a credit account closed since",
            post(22, 20, MAX),
            cr_closed,
        )
        .pre(vec![
            pend(20, A, B, 5),
            pend(21, C, B, 0).flag(F::CLOSING_CREDIT),
        ]),
        one(
            "post: debit closed beats credit closed",
            post(23, 20, MAX),
            dr_closed,
        )
        .pre(vec![
            pend(20, A, B, 5),
            pend(21, A, C, 0).flag(F::CLOSING_DEBIT),
            pend(22, C, B, 0).flag(F::CLOSING_CREDIT),
        ]),
        one("closed beats overflows", pend(10, A, SHUT, 1), cr_closed)
            .pre(vec![pend(20, A, B, MAX)]),
    ]
}

fn overflows() -> Vec<Row> {
    let full_pending = || vec![pend(20, A, B, MAX)];
    let full_posted = || vec![tr(20, A, B, MAX)];
    vec![
        one("a transfer of u128::MAX", tr(10, A, B, MAX), R::Ok),
        one(
            "debits_pending",
            pend(10, A, C, 1),
            R::OverflowsDebitsPending,
        )
        .pre(full_pending()),
        one(
            "debits_pending beats credits_pending",
            pend(10, A, B, 1),
            R::OverflowsDebitsPending,
        )
        .pre(full_pending()),
        one(
            "credits_pending",
            pend(10, C, B, 1),
            R::OverflowsCreditsPending,
        )
        .pre(full_pending()),
        one(
            "credits_pending beats debits",
            pend(10, A, D, 1),
            R::OverflowsCreditsPending,
        )
        .pre(vec![tr(20, A, B, MAX), pend(21, C, D, MAX)]),
        one("debits_posted", tr(10, A, C, 1), R::OverflowsDebitsPosted).pre(full_posted()),
        one(
            "debits_posted beats credits_posted",
            tr(10, A, B, 1),
            R::OverflowsDebitsPosted,
        )
        .pre(full_posted()),
        one("credits_posted", tr(10, C, B, 1), R::OverflowsCreditsPosted).pre(full_posted()),
        one(
            "pending: debits_posted",
            pend(10, A, C, 1),
            R::OverflowsDebitsPosted,
        )
        .pre(full_posted()),
        one(
            "pending: credits_posted",
            pend(10, C, B, 1),
            R::OverflowsCreditsPosted,
        )
        .pre(full_posted()),
        one(
            "credits_posted beats debits",
            tr(10, C, B, 1),
            R::OverflowsCreditsPosted,
        )
        .pre(vec![tr(20, A, B, MAX), pend(21, C, D, MAX)]),
        one("debits", tr(10, A, C, 1), R::OverflowsDebits).pre(full_pending()),
        one("debits beats credits", tr(10, A, B, 1), R::OverflowsDebits).pre(full_pending()),
        one("credits", tr(10, C, B, 1), R::OverflowsCredits).pre(full_pending()),
        one(
            "credits beats timeout",
            timeout(pend(10, D, B, 1), 2),
            R::OverflowsCredits,
        )
        .pre(vec![pend(20, A, B, 1), tr(21, C, B, MAX - 1)])
        .at(LATE),
        one(
            "balancing clamps before the overflow checks",
            tr(10, A, C, 5).flag(F::BALANCING_DEBIT),
            R::Ok,
        )
        .pre(full_pending()),
        one(
            "timeout",
            timeout(pend(10, A, B, 1), 2),
            R::OverflowsTimeout,
        )
        .at(LATE),
        one(
            "timeout ending at 2^63-1",
            timeout(pend(10, A, B, 1), 1),
            R::Ok,
        )
        .at(LATE),
        one(
            "timeout beats exceeds credits",
            timeout(pend(10, DLIM, B, 1), 2),
            R::OverflowsTimeout,
        )
        .at(LATE),
    ]
}

fn limits() -> Vec<Row> {
    let credit_dlim = || vec![tr(20, A, DLIM, 5)];
    let debit_clim = || vec![tr(20, CLIM, A, 5)];
    vec![
        one("exceeds credits", tr(10, DLIM, B, 1), R::ExceedsCredits),
        one(
            "exceeds credits when pending",
            pend(10, DLIM, B, 1),
            R::ExceedsCredits,
        ),
        one(
            "exceeds credits beats exceeds debits",
            tr(10, DLIM, CLIM, 1),
            R::ExceedsCredits,
        ),
        one("debits up to the credits", tr(10, DLIM, B, 5), R::Ok).pre(credit_dlim()),
        one(
            "one over the credits",
            tr(10, DLIM, B, 6),
            R::ExceedsCredits,
        )
        .pre(credit_dlim()),
        one(
            "pending debits count",
            tr(10, DLIM, B, 3),
            R::ExceedsCredits,
        )
        .pre([credit_dlim(), vec![pend(21, DLIM, B, 3)]].concat()),
        one("exceeds debits", tr(10, A, CLIM, 1), R::ExceedsDebits),
        one(
            "exceeds debits when pending",
            pend(10, A, CLIM, 1),
            R::ExceedsDebits,
        ),
        one("credits up to the debits", tr(10, B, CLIM, 5), R::Ok).pre(debit_clim()),
        one(
            "pending credits count",
            tr(10, B, CLIM, 3),
            R::ExceedsDebits,
        )
        .pre([debit_clim(), vec![pend(21, B, CLIM, 3)]].concat()),
        one(
            "balancing debit clamps to the credits",
            tr(10, DLIM, B, 100).flag(F::BALANCING_DEBIT),
            R::Ok,
        )
        .pre(credit_dlim()),
        one(
            "balancing debit clamps to 0",
            tr(10, DLIM, B, 100).flag(F::BALANCING_DEBIT),
            R::Ok,
        ),
        one(
            "balancing credit clamps to the debits",
            tr(10, A, CLIM, 100).flag(F::BALANCING_CREDIT),
            R::Ok,
        )
        .pre(debit_clim()),
        one("a post is not limit-checked", post(22, 21, MAX), R::Ok)
            .pre([credit_dlim(), vec![pend(21, DLIM, B, 5)]].concat()),
    ]
}
