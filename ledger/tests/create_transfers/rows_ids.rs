//! Rows for the codes checked before the transfer's kind matters: linked chains, imported
//! events and time, flags and ids, the exists comparison and burned ids.

use super::*;

pub(crate) fn rows() -> Vec<Row> {
    [
        chains(),
        time(),
        imported_order(),
        ids(),
        exists(),
        exists_user_data(),
        resolve_exists(),
        void_and_balancing_exists(),
        burned(),
        flags(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn chains() -> Vec<Row> {
    vec![
        one("ok", tr(10, A, B, 5), R::Ok),
        row(
            "linked ok",
            vec![linked(tr(10, A, B, 5)), tr(11, B, C, 5)],
            vec![R::Ok, R::Ok],
        ),
        row(
            "linked rollback (balances unchanged)",
            vec![
                linked(tr(10, A, B, 5)),
                linked(pend(11, A, B, 5)),
                tr(12, A, MISSING, 5),
            ],
            vec![
                R::LinkedEventFailed,
                R::LinkedEventFailed,
                R::CreditAccountNotFound,
            ],
        ),
        row(
            "events after the failure are skipped, the next chain runs",
            vec![
                linked(tr(10, A, B, 5)),
                linked(tr(11, A, A, 5)),
                tr(12, A, B, 5),
                linked(tr(13, A, B, 5)),
                tr(14, A, B, 5),
            ],
            vec![
                R::LinkedEventFailed,
                R::AccountsMustBeDifferent,
                R::LinkedEventFailed,
                R::Ok,
                R::Ok,
            ],
        ),
        row(
            "exists fails a chain",
            vec![linked(tr(11, A, B, 5)), tr(10, A, B, 5)],
            vec![R::LinkedEventFailed, R::Exists],
        )
        .pre(vec![tr(10, A, B, 5)]),
        one(
            "chain open alone",
            linked(tr(10, A, B, 5)),
            R::LinkedEventChainOpen,
        ),
        row(
            "chain open rolls back the chain",
            vec![
                tr(9, A, B, 1),
                linked(tr(10, A, B, 5)),
                linked(tr(11, A, B, 5)),
            ],
            vec![R::Ok, R::LinkedEventFailed, R::LinkedEventChainOpen],
        ),
        row(
            "chain open beats chain already failed",
            vec![
                linked(tr(10, A, B, 5).with(|t| t.code = 0)),
                linked(tr(11, A, B, 5)),
            ],
            vec![R::CodeMustNotBeZero, R::LinkedEventChainOpen],
        ),
    ]
}

fn time() -> Vec<Row> {
    let imp = |id, ts| tr(id, A, B, 5).imported(ts);
    let ts5 = |t: Transfer| t.with(|t| t.timestamp = 5);
    vec![
        row(
            "imported ok",
            vec![imp(10, TI), imp(11, TI + 1)],
            vec![R::Ok, R::Ok],
        ),
        one("imported at the leader's time", imp(10, T2), R::Ok),
        row(
            "a rolled-back imported chain gives its timestamps back",
            vec![
                linked(imp(10, TI)),
                imp(11, TI + 1).with(|t| t.code = 0),
                imp(12, TI),
            ],
            vec![R::LinkedEventFailed, R::CodeMustNotBeZero, R::Ok],
        ),
        row(
            "imported event expected",
            vec![imp(10, TI), tr(11, A, B, 5)],
            vec![R::Ok, R::ImportedEventExpected],
        ),
        row(
            "imported expected beats timestamp must be zero",
            vec![imp(10, TI), ts5(tr(11, A, B, 5))],
            vec![R::Ok, R::ImportedEventExpected],
        ),
        row(
            "imported event not expected",
            vec![tr(10, A, B, 5), imp(11, TI)],
            vec![R::Ok, R::ImportedEventNotExpected],
        ),
        row(
            "not expected beats out of range",
            vec![tr(10, A, B, 5), imp(11, 0)],
            vec![R::Ok, R::ImportedEventNotExpected],
        ),
        one(
            "timestamp must be zero",
            ts5(tr(10, A, B, 5)),
            R::TimestampMustBeZero,
        ),
        one(
            "timestamp must be zero beats reserved flag",
            reserved(ts5(tr(10, A, B, 5))),
            R::TimestampMustBeZero,
        ),
        one(
            "imported timestamp 0",
            imp(10, 0),
            R::ImportedEventTimestampOutOfRange,
        ),
        one(
            "imported timestamp 2^63 (also ahead) is out of range",
            imp(10, TIMESTAMP_MAX + 1),
            R::ImportedEventTimestampOutOfRange,
        ),
        one(
            "out of range beats reserved flag",
            reserved(imp(10, 0)),
            R::ImportedEventTimestampOutOfRange,
        ),
        one(
            "imported ahead of the leader",
            imp(10, T2 + 1),
            R::ImportedEventTimestampMustNotAdvance,
        ),
        one(
            "must not advance beats reserved flag",
            reserved(imp(10, T2 + 1)),
            R::ImportedEventTimestampMustNotAdvance,
        ),
    ]
}

fn imported_order() -> Vec<Row> {
    let imp = |id, ts| tr(id, A, B, 5).imported(ts);
    vec![
        one(
            "imported at an account's timestamp",
            imp(10, T0 + 8),
            R::ImportedEventTimestampMustNotRegress,
        ),
        one(
            "imported before the newest account but after both of its own",
            imp(10, T0 + 50),
            R::Ok,
        ),
        one(
            "imported at the newest transfer",
            imp(10, T1),
            R::ImportedEventTimestampMustNotRegress,
        )
        .pre(vec![tr(20, C, D, 1)]),
        one(
            "imported before the newest transfer",
            imp(10, T1 - 1),
            R::ImportedEventTimestampMustNotRegress,
        )
        .pre(vec![tr(20, C, D, 1)]),
        one("imported after the newest transfer", imp(10, T1 + 1), R::Ok)
            .pre(vec![tr(20, C, D, 1)]),
        row(
            "imported must not regress within the batch",
            vec![imp(10, TI), imp(11, TI)],
            vec![R::Ok, R::ImportedEventTimestampMustNotRegress],
        ),
        one(
            "must not regress beats must postdate debit account",
            tr(10, B, A, 5).imported(T0 + 1),
            R::ImportedEventTimestampMustNotRegress,
        ),
        one(
            "must not regress beats must postdate credit account",
            tr(10, A, B, 5).imported(T0 + 1),
            R::ImportedEventTimestampMustNotRegress,
        ),
        one(
            "imported before its debit account",
            tr(10, LATER, A, 5).imported(T0 + 50),
            R::ImportedEventTimestampMustPostdateDebitAccount,
        ),
        one(
            "must postdate debit account beats must postdate credit account",
            tr(10, LATER, LATER2, 5).imported(T0 + 50),
            R::ImportedEventTimestampMustPostdateDebitAccount,
        ),
        one(
            "imported before its credit account",
            tr(10, A, LATER, 5).imported(T0 + 50),
            R::ImportedEventTimestampMustPostdateCreditAccount,
        ),
        one(
            "must postdate credit account beats timeout must be zero",
            timeout(pend(10, A, LATER, 5), 1).imported(T0 + 50),
            R::ImportedEventTimestampMustPostdateCreditAccount,
        ),
        one(
            "imported timeout must be zero",
            timeout(pend(10, A, B, 5), 1).imported(TI),
            R::ImportedEventTimeoutMustBeZero,
        ),
        one(
            "imported timeout beats debit account closed",
            timeout(pend(10, SHUT, B, 5), 1).imported(TI),
            R::ImportedEventTimeoutMustBeZero,
        ),
        one(
            "must not regress beats debit account closed",
            tr(10, SHUT, B, 5).imported(T0 + 8),
            R::ImportedEventTimestampMustNotRegress,
        ),
    ]
}

fn ids() -> Vec<Row> {
    vec![
        one("reserved flag", reserved(tr(10, A, B, 5)), R::ReservedFlag),
        one(
            "reserved flag beats id zero",
            reserved(tr(0, A, B, 5)),
            R::ReservedFlag,
        ),
        one("id zero", tr(0, A, B, 5), R::IdMustNotBeZero),
        one(
            "id zero beats debit account zero",
            tr(0, 0, B, 5),
            R::IdMustNotBeZero,
        ),
        one("id int max", tr(MAX, A, B, 5), R::IdMustNotBeIntMax),
        one(
            "id int max beats mutually exclusive flags",
            tr(MAX, A, B, 5).flag(F::PENDING | F::POST_PENDING_TRANSFER),
            R::IdMustNotBeIntMax,
        ),
    ]
}

/// A retry of `full(10)` with `f` applied gets `code`.
fn retry(name: &'static str, f: impl FnOnce(&mut Transfer), code: R) -> Row {
    one(name, full(10).with(f), code).pre(vec![full(10)])
}

fn exists() -> Vec<Row> {
    vec![
        retry(
            "different flags",
            |t| t.flags = F::PENDING.bits(),
            R::ExistsWithDifferentFlags,
        ),
        retry(
            "flags beat pending_id",
            |t| (t.flags, t.pending_id) = (F::PENDING.bits(), 7),
            R::ExistsWithDifferentFlags,
        ),
        retry(
            "different pending_id",
            |t| t.pending_id = 7,
            R::ExistsWithDifferentPendingId,
        ),
        retry(
            "pending_id beats timeout",
            |t| (t.pending_id, t.timeout) = (7, 1),
            R::ExistsWithDifferentPendingId,
        ),
        retry(
            "different timeout",
            |t| t.timeout = 1,
            R::ExistsWithDifferentTimeout,
        ),
        retry(
            "timeout beats debit account",
            |t| (t.timeout, t.debit_account_id) = (1, C),
            R::ExistsWithDifferentTimeout,
        ),
        retry(
            "different debit account",
            |t| t.debit_account_id = C,
            R::ExistsWithDifferentDebitAccountId,
        ),
        retry(
            "debit beats credit account",
            |t| (t.debit_account_id, t.credit_account_id) = (C, D),
            R::ExistsWithDifferentDebitAccountId,
        ),
        retry(
            "different credit account",
            |t| t.credit_account_id = C,
            R::ExistsWithDifferentCreditAccountId,
        ),
        retry(
            "credit account beats amount",
            |t| (t.credit_account_id, t.amount) = (C, 6),
            R::ExistsWithDifferentCreditAccountId,
        ),
        retry(
            "different amount",
            |t| t.amount = 6,
            R::ExistsWithDifferentAmount,
        ),
        retry(
            "amount beats user_data_128",
            |t| (t.amount, t.user_data_128) = (6, 9),
            R::ExistsWithDifferentAmount,
        ),
    ]
}

fn exists_user_data() -> Vec<Row> {
    vec![
        retry(
            "different user_data_128",
            |t| t.user_data_128 = 9,
            R::ExistsWithDifferentUserData128,
        ),
        retry(
            "a plain transfer's zero user_data_128 differs",
            |t| t.user_data_128 = 0,
            R::ExistsWithDifferentUserData128,
        ),
        retry(
            "user_data_128 beats user_data_64",
            |t| (t.user_data_128, t.user_data_64) = (9, 9),
            R::ExistsWithDifferentUserData128,
        ),
        retry(
            "different user_data_64",
            |t| t.user_data_64 = 9,
            R::ExistsWithDifferentUserData64,
        ),
        retry(
            "user_data_64 beats user_data_32",
            |t| (t.user_data_64, t.user_data_32) = (9, 9),
            R::ExistsWithDifferentUserData64,
        ),
        retry(
            "different user_data_32",
            |t| t.user_data_32 = 9,
            R::ExistsWithDifferentUserData32,
        ),
        retry(
            "user_data_32 beats ledger",
            |t| (t.user_data_32, t.ledger) = (9, 2),
            R::ExistsWithDifferentUserData32,
        ),
        retry(
            "different ledger",
            |t| t.ledger = 2,
            R::ExistsWithDifferentLedger,
        ),
        retry(
            "ledger beats code",
            |t| (t.ledger, t.code) = (2, 2),
            R::ExistsWithDifferentLedger,
        ),
        retry("different code", |t| t.code = 2, R::ExistsWithDifferentCode),
        retry("exists", |_| {}, R::Exists),
        row(
            "exists within the batch",
            vec![full(10), full(10)],
            vec![R::Ok, R::Exists],
        ),
        retry(
            "exists beats a closed account",
            |t| t.debit_account_id = A,
            R::Exists,
        )
        .pre(vec![full(10), pend(20, A, B, 0).flag(F::CLOSING_DEBIT)]),
    ]
}

fn balancing(id: u128, amount: u128) -> Transfer {
    tr(id, A, C, amount).flag(F::BALANCING_DEBIT)
}

/// Pending transfer 20 (with user data) and its resolution 21.
fn resolved(resolution: Transfer) -> Vec<Transfer> {
    vec![full(20).flag(F::PENDING), resolution]
}

fn resolve_exists() -> Vec<Row> {
    let posted = || resolved(post(21, 20, MAX));
    let p = |f: fn(&mut Transfer)| post(21, 20, MAX).with(f);
    vec![
        one("post retry inheriting zeros", post(21, 20, MAX), R::Exists).pre(posted()),
        one(
            "post retry naming the inherited fields",
            full(21).with(|t| {
                (t.amount, t.pending_id, t.flags) = (MAX, 20, F::POST_PENDING_TRANSFER.bits())
            }),
            R::Exists,
        )
        .pre(posted()),
        one(
            "full post retried with the amount",
            post(21, 20, 5),
            R::Exists,
        )
        .pre(posted()),
        one("full post retried with more", post(21, 20, 6), R::Exists).pre(posted()),
        one(
            "full post retried with less",
            post(21, 20, 4),
            R::ExistsWithDifferentAmount,
        )
        .pre(posted()),
        one(
            "partial post retried with MAX",
            post(21, 20, MAX),
            R::ExistsWithDifferentAmount,
        )
        .pre(resolved(post(21, 20, 3))),
        one(
            "post: other pending id",
            post(21, 22, MAX),
            R::ExistsWithDifferentPendingId,
        )
        .pre(posted()),
        one(
            "post: other debit account",
            p(|t| t.debit_account_id = C),
            R::ExistsWithDifferentDebitAccountId,
        )
        .pre(posted()),
        one(
            "post: other credit account",
            p(|t| t.credit_account_id = C),
            R::ExistsWithDifferentCreditAccountId,
        )
        .pre(posted()),
        one(
            "post: other user_data_128",
            p(|t| t.user_data_128 = 9),
            R::ExistsWithDifferentUserData128,
        )
        .pre(posted()),
        one(
            "post: other user_data_64",
            p(|t| t.user_data_64 = 9),
            R::ExistsWithDifferentUserData64,
        )
        .pre(posted()),
        one(
            "post: other user_data_32",
            p(|t| t.user_data_32 = 9),
            R::ExistsWithDifferentUserData32,
        )
        .pre(posted()),
        one(
            "post: other ledger",
            p(|t| t.ledger = 2),
            R::ExistsWithDifferentLedger,
        )
        .pre(posted()),
        one(
            "post: other code",
            p(|t| t.code = 2),
            R::ExistsWithDifferentCode,
        )
        .pre(posted()),
    ]
}

fn void_and_balancing_exists() -> Vec<Row> {
    let voided = || resolved(void(21, 20));
    let posted = || resolved(post(21, 20, MAX));
    vec![
        one(
            "post retried as void",
            void(21, 20),
            R::ExistsWithDifferentFlags,
        )
        .pre(posted()),
        one("void retry with amount 0", void(21, 20), R::Exists).pre(voided()),
        one(
            "void retry with the amount",
            void(21, 20).with(|t| t.amount = 5),
            R::Exists,
        )
        .pre(voided()),
        one(
            "void retry with another amount",
            void(21, 20).with(|t| t.amount = 4),
            R::ExistsWithDifferentAmount,
        )
        .pre(voided()),
        one(
            "balancing retry with the request",
            balancing(10, 100),
            R::Exists,
        )
        .pre(vec![tr(9, B, A, 10), balancing(10, 100)]),
        one(
            "balancing retry with the clamped amount",
            balancing(10, 10),
            R::Exists,
        )
        .pre(vec![tr(9, B, A, 10), balancing(10, 100)]),
        one(
            "balancing retry below the clamp",
            balancing(10, 9),
            R::ExistsWithDifferentAmount,
        )
        .pre(vec![tr(9, B, A, 10), balancing(10, 100)]),
    ]
}

/// A transient failure of id 10 followed by a retry that would otherwise succeed.
fn burn(name: &'static str, failing: Transfer, code: R) -> Row {
    row(
        name,
        vec![failing, tr(10, A, B, 5)],
        vec![code, R::IdAlreadyFailed],
    )
}

fn burned() -> Vec<Row> {
    vec![
        burn(
            "burned by debit_account_not_found",
            tr(10, MISSING, B, 5),
            R::DebitAccountNotFound,
        ),
        burn(
            "burned by credit_account_not_found",
            tr(10, A, MISSING, 5),
            R::CreditAccountNotFound,
        ),
        burn(
            "burned by pending_transfer_not_found",
            post(10, 50, MAX),
            R::PendingTransferNotFound,
        ),
        burn(
            "burned by exceeds_credits",
            tr(10, DLIM, B, 5),
            R::ExceedsCredits,
        ),
        burn(
            "burned by exceeds_debits",
            tr(10, A, CLIM, 5),
            R::ExceedsDebits,
        ),
        burn(
            "burned by debit_account_already_closed",
            tr(10, SHUT, B, 5),
            R::DebitAccountAlreadyClosed,
        ),
        burn(
            "burned by credit_account_already_closed",
            tr(10, A, SHUT, 5),
            R::CreditAccountAlreadyClosed,
        ),
        row(
            "a non-transient failure does not burn",
            vec![tr(10, A, B, 5).with(|t| t.code = 0), tr(10, A, B, 5)],
            vec![R::CodeMustNotBeZero, R::Ok],
        ),
        row(
            "burned after the chain's rollback",
            vec![
                linked(tr(10, A, B, 5)),
                tr(11, A, MISSING, 5),
                tr(10, A, B, 5),
                tr(11, A, B, 5),
            ],
            vec![
                R::LinkedEventFailed,
                R::CreditAccountNotFound,
                R::Ok,
                R::IdAlreadyFailed,
            ],
        ),
        row(
            "id_already_failed beats mutually exclusive flags",
            vec![
                tr(10, A, MISSING, 5),
                tr(10, A, B, 5).flag(F::PENDING | F::VOID_PENDING_TRANSFER),
            ],
            vec![R::CreditAccountNotFound, R::IdAlreadyFailed],
        ),
        row(
            "a burned id is no pending transfer",
            vec![pend(10, A, MISSING, 5), post(11, 10, MAX)],
            vec![R::CreditAccountNotFound, R::PendingTransferNotFound],
        ),
    ]
}

fn flags() -> Vec<Row> {
    let bad = |f: F| tr(10, A, B, 5).flag(f);
    let x = R::FlagsAreMutuallyExclusive;
    vec![
        one(
            "pending and post",
            bad(F::PENDING | F::POST_PENDING_TRANSFER),
            x,
        ),
        one(
            "pending and void",
            bad(F::PENDING | F::VOID_PENDING_TRANSFER),
            x,
        ),
        one(
            "post and void",
            bad(F::POST_PENDING_TRANSFER | F::VOID_PENDING_TRANSFER),
            x,
        ),
        one(
            "post and balancing debit",
            bad(F::POST_PENDING_TRANSFER | F::BALANCING_DEBIT),
            x,
        ),
        one(
            "void and balancing credit",
            bad(F::VOID_PENDING_TRANSFER | F::BALANCING_CREDIT),
            x,
        ),
        one(
            "post and closing debit",
            bad(F::POST_PENDING_TRANSFER | F::CLOSING_DEBIT),
            x,
        ),
        one(
            "void and closing credit",
            bad(F::VOID_PENDING_TRANSFER | F::CLOSING_CREDIT),
            x,
        ),
        one(
            "mutually exclusive beats debit account zero",
            tr(10, 0, B, 5).flag(F::PENDING | F::VOID_PENDING_TRANSFER),
            x,
        ),
        one(
            "mutually exclusive beats pending id zero",
            post(10, 0, 5).flag(F::BALANCING_DEBIT),
            x,
        ),
    ]
}
