//! Rows for post and void transfers: the pending-transfer checks and expiry.

use super::*;

pub(crate) fn rows() -> Vec<Row> {
    [ids(), mismatches(), states(), expiry(), imported()]
        .into_iter()
        .flatten()
        .collect()
}

/// The pending transfer 20 that most rows resolve.
fn p20() -> Vec<Transfer> {
    vec![pend(20, A, B, 5)]
}

/// Pending transfer 20 that expires at `T1 + NS` (it is `pre[0]`, so it has timestamp `T1`).
fn p20_expiring() -> Vec<Transfer> {
    vec![timeout(pend(20, A, B, 5), 1)]
}

fn ids() -> Vec<Row> {
    vec![
        one("post in full", post(21, 20, MAX), R::Ok).pre(p20()),
        one("post in part", post(21, 20, 3), R::Ok).pre(p20()),
        one("post nothing", post(21, 20, 0), R::Ok).pre(p20()),
        one("void", void(21, 20), R::Ok).pre(p20()),
        one(
            "post naming the pending transfer's fields",
            post(21, 20, 5).with(|t| (t.debit_account_id, t.credit_account_id) = (A, B)),
            R::Ok,
        )
        .pre(vec![pend(20, A, B, 5)]),
        row(
            "pending, void and post in one batch",
            vec![pend(20, A, B, 5), void(21, 20), post(22, 20, MAX)],
            vec![R::Ok, R::Ok, R::PendingTransferAlreadyVoided],
        ),
        row(
            "pending and post in one batch",
            vec![pend(20, A, B, 5), post(21, 20, MAX)],
            vec![R::Ok, R::Ok],
        ),
        one("pending id zero", post(21, 0, 5), R::PendingIdMustNotBeZero),
        one(
            "void with pending id zero",
            void(21, 0),
            R::PendingIdMustNotBeZero,
        ),
        one(
            "pending id zero beats timeout",
            timeout(post(21, 0, 5), 1),
            R::PendingIdMustNotBeZero,
        ),
        one(
            "pending id int max",
            post(21, MAX, 5),
            R::PendingIdMustNotBeIntMax,
        ),
        one(
            "pending id int max beats timeout",
            timeout(void(21, MAX), 1),
            R::PendingIdMustNotBeIntMax,
        ),
        one(
            "pending id is the id",
            post(21, 21, 5),
            R::PendingIdMustBeDifferent,
        ),
        one(
            "pending id is the id beats timeout",
            timeout(post(21, 21, 5), 1),
            R::PendingIdMustBeDifferent,
        ),
        one(
            "post with a timeout",
            timeout(post(21, 20, 5), 1),
            R::TimeoutReservedForPendingTransfer,
        )
        .pre(p20()),
        one(
            "timeout beats pending not found",
            timeout(void(21, 50), 1),
            R::TimeoutReservedForPendingTransfer,
        ),
        one(
            "pending transfer not found",
            post(21, 50, 5),
            R::PendingTransferNotFound,
        ),
        one(
            "void of a missing transfer",
            void(21, 50),
            R::PendingTransferNotFound,
        ),
        one(
            "pending transfer not pending",
            post(21, 20, MAX),
            R::PendingTransferNotPending,
        )
        .pre(vec![tr(20, A, B, 5)]),
        one(
            "a post is not pending",
            void(22, 21),
            R::PendingTransferNotPending,
        )
        .pre(vec![pend(20, A, B, 5), post(21, 20, MAX)]),
        one(
            "not pending beats different debit account",
            post(21, 20, MAX).with(|t| t.debit_account_id = C),
            R::PendingTransferNotPending,
        )
        .pre(vec![tr(20, A, B, 5)]),
    ]
}

fn mismatches() -> Vec<Row> {
    let p = |f: fn(&mut Transfer)| post(21, 20, MAX).with(f);
    vec![
        one(
            "different debit account",
            p(|t| t.debit_account_id = C),
            R::PendingTransferHasDifferentDebitAccountId,
        ),
        one(
            "debit beats credit account",
            p(|t| (t.debit_account_id, t.credit_account_id) = (C, C)),
            R::PendingTransferHasDifferentDebitAccountId,
        ),
        one(
            "different credit account",
            p(|t| t.credit_account_id = C),
            R::PendingTransferHasDifferentCreditAccountId,
        ),
        one(
            "credit account beats ledger",
            p(|t| (t.credit_account_id, t.ledger) = (C, 2)),
            R::PendingTransferHasDifferentCreditAccountId,
        ),
        one(
            "different ledger",
            p(|t| t.ledger = 2),
            R::PendingTransferHasDifferentLedger,
        ),
        one(
            "ledger beats code",
            p(|t| (t.ledger, t.code) = (2, 2)),
            R::PendingTransferHasDifferentLedger,
        ),
        one(
            "different code",
            p(|t| t.code = 2),
            R::PendingTransferHasDifferentCode,
        ),
        one(
            "code beats exceeds pending amount",
            post(21, 20, 6).with(|t| t.code = 2),
            R::PendingTransferHasDifferentCode,
        ),
        one(
            "code beats void amount",
            void(21, 20).with(|t| (t.code, t.amount) = (2, 4)),
            R::PendingTransferHasDifferentCode,
        ),
        one(
            "post more than pending",
            post(21, 20, 6),
            R::ExceedsPendingTransferAmount,
        ),
        one(
            "void another amount",
            void(21, 20).with(|t| t.amount = 4),
            R::PendingTransferHasDifferentAmount,
        ),
        one(
            "void more than pending",
            void(21, 20).with(|t| t.amount = 6),
            R::ExceedsPendingTransferAmount,
        ),
        one(
            "void with the pending amount",
            void(21, 20).with(|t| t.amount = 5),
            R::Ok,
        ),
        one(
            "void with amount MAX",
            void(21, 20).with(|t| t.amount = MAX),
            R::ExceedsPendingTransferAmount,
        ),
    ]
    .into_iter()
    .map(|r| if r.pre.is_empty() { r.pre(p20()) } else { r })
    .collect()
}

fn states() -> Vec<Row> {
    let posted = || vec![pend(20, A, B, 5), post(22, 20, 3)];
    let voided = || vec![pend(20, A, B, 5), void(22, 20)];
    let expiring_then = |t: Transfer| vec![timeout(pend(20, A, B, 5), 1), t];
    vec![
        one(
            "exceeds amount beats already posted",
            post(21, 20, 6),
            R::ExceedsPendingTransferAmount,
        )
        .pre(posted()),
        one(
            "already posted",
            post(21, 20, MAX),
            R::PendingTransferAlreadyPosted,
        )
        .pre(posted()),
        one(
            "void after post",
            void(21, 20),
            R::PendingTransferAlreadyPosted,
        )
        .pre(posted()),
        one(
            "void amount beats already voided",
            void(21, 20).with(|t| t.amount = 4),
            R::PendingTransferHasDifferentAmount,
        )
        .pre(voided()),
        one(
            "already voided",
            void(21, 20),
            R::PendingTransferAlreadyVoided,
        )
        .pre(voided()),
        one(
            "post after void",
            post(21, 20, MAX),
            R::PendingTransferAlreadyVoided,
        )
        .pre(voided()),
        row(
            "post after void in one batch",
            vec![void(21, 20), post(22, 20, MAX)],
            vec![R::Ok, R::PendingTransferAlreadyVoided],
        )
        .pre(p20()),
        one(
            "already posted beats expired",
            post(21, 20, MAX),
            R::PendingTransferAlreadyPosted,
        )
        .pre(expiring_then(post(22, 20, MAX)))
        .at(T1 + 2 * NS),
        one(
            "already voided beats expired",
            post(21, 20, MAX),
            R::PendingTransferAlreadyVoided,
        )
        .pre(expiring_then(void(22, 20)))
        .at(T1 + 2 * NS),
    ]
}

fn expiry() -> Vec<Row> {
    vec![
        one("post one ns before expiry", post(21, 20, MAX), R::Ok)
            .pre(p20_expiring())
            .at(T1 + NS - 1),
        one(
            "expired by the expiry pass",
            post(21, 20, MAX),
            R::PendingTransferExpired,
        )
        .pre(p20_expiring())
        .at(T1 + NS),
        one("void after expiry", void(21, 20), R::PendingTransferExpired)
            .pre(p20_expiring())
            .at(T1 + 5 * NS),
        // The first event takes T1 + NS - 1 (not yet due, so no expiry ran); the second takes
        // T1 + NS, when the deadline has passed.
        row(
            "expired by the deadline check",
            vec![post(21, 50, 1), post(22, 20, MAX)],
            vec![R::PendingTransferNotFound, R::PendingTransferExpired],
        )
        .pre(p20_expiring())
        .at(T1 + NS - 1),
        one(
            "expired beats debit account closed",
            post(22, 20, MAX),
            R::PendingTransferExpired,
        )
        .pre(
            [
                p20_expiring(),
                vec![pend(21, A, C, 0).flag(F::CLOSING_DEBIT)],
            ]
            .concat(),
        )
        .at(T1 + NS),
    ]
}

fn imported() -> Vec<Row> {
    let imp_post = |ts| post(21, 20, MAX).imported(ts);
    vec![
        one("imported post", imp_post(TI), R::Ok).pre(p20()),
        // Imported batches run no expiry pass: only the deadline check catches this.
        one(
            "imported post after the deadline",
            imp_post(T1 + NS),
            R::PendingTransferExpired,
        )
        .pre(p20_expiring())
        .at(T1 + 2 * NS),
        one(
            "imported post before the deadline",
            imp_post(T1 + NS - 1),
            R::Ok,
        )
        .pre(p20_expiring())
        .at(T1 + 2 * NS),
        one(
            "imported post must not regress",
            imp_post(T1),
            R::ImportedEventTimestampMustNotRegress,
        )
        .pre(p20()),
        one(
            "imported post: must not regress beats debit account closed",
            post(22, 20, MAX).imported(T1 + 1),
            R::ImportedEventTimestampMustNotRegress,
        )
        .pre(vec![
            pend(20, A, B, 5),
            pend(21, A, C, 0).flag(F::CLOSING_DEBIT),
        ]),
        one(
            "imported void: must not regress beats must postdate",
            void(21, 20).imported(T0),
            R::ImportedEventTimestampMustNotRegress,
        )
        .pre(p20()),
    ]
}
