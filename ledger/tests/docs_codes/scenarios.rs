//! One scenario per documented result code: setup commands, then one batch whose last event is
//! expected to get the code. Run against the real ledger core by `every_documented_code_is_produced`.

use super::support::*;
use tally_ledger::{
    Account, AccountFlags as AF, Command, CreateAccountResult as AR, CreateTransferResult as TR,
    Transfer, TransferFlags as F, TIMESTAMP_MAX,
};

/// Fixture accounts on ledger 1 unless said otherwise; account `n` gets timestamp `T0 + n - 1`.
pub const A: u128 = 1;
pub const B: u128 = 2;
pub const C: u128 = 3;
/// `debits_must_not_exceed_credits`.
pub const DLIM: u128 = 4;
/// `credits_must_not_exceed_debits`.
pub const CLIM: u128 = 5;
/// On ledger 2.
pub const L2: u128 = 6;
/// Created closed.
pub const SHUT: u128 = 7;
/// Created later than the others, at `T0 + 100`.
pub const LATE: u128 = 8;
pub const MISSING: u128 = 99;
const MAX: u128 = u128::MAX;

/// Leader time of the fixture, of the setup commands and (default) of the batch.
pub const T0: u64 = 1_000_000_000_000;
pub const T1: u64 = T0 + 1_000_000;
pub const T2: u64 = T1 + 1_000_000;
/// A valid imported timestamp for a batch at `T2`.
const TI: u64 = T2 - 100;

/// The fixture every scenario starts from.
pub fn fixture() -> L {
    let mut l = ledger();
    let accounts = [
        acct(A, 1, AF::empty()),
        acct(B, 1, AF::empty()),
        acct(C, 1, AF::empty()),
        acct(DLIM, 1, AF::DEBITS_MUST_NOT_EXCEED_CREDITS),
        acct(CLIM, 1, AF::CREDITS_MUST_NOT_EXCEED_DEBITS),
        acct(L2, 2, AF::empty()),
        acct(SHUT, 1, AF::CLOSED),
    ];
    let r = l.create_accounts(&accounts, &ctx(T0)).unwrap();
    assert!(r.iter().all(|r| *r == AR::Ok), "fixture: {r:?}");
    let r = l
        .create_accounts(&[acct(LATE, 1, AF::empty())], &ctx(T0 + 100))
        .unwrap();
    assert_eq!(r, [AR::Ok]);
    l
}

/// A scenario: `setup` runs at `T1`, then `batch` at `at`; the batch's last event must get
/// `expect` (the wire number of an account or a transfer code).
pub struct Scenario {
    pub setup: Vec<Command>,
    pub batch: Command,
    pub at: u64,
    pub expect: u32,
}

fn accounts(batch: Vec<Account>, code: AR) -> Scenario {
    Scenario {
        setup: Vec::new(),
        batch: Command::CreateAccounts(batch),
        at: T2,
        expect: code.as_u32(),
    }
}

fn transfers(setup: Vec<Transfer>, batch: Vec<Transfer>, code: TR) -> Scenario {
    Scenario {
        setup: match setup.is_empty() {
            true => Vec::new(),
            false => vec![Command::CreateTransfers(setup)],
        },
        batch: Command::CreateTransfers(batch),
        at: T2,
        expect: code.as_u32(),
    }
}

fn one(t: Transfer, code: TR) -> Scenario {
    transfers(Vec::new(), vec![t], code)
}

fn at(mut s: Scenario, at: u64) -> Scenario {
    s.at = at;
    s
}

/// Scenarios whose batch is `create_accounts`.
pub fn account_scenarios() -> Vec<Scenario> {
    let n = || acct(10, 1, AF::empty());
    let imp = |ts| n().imported(ts);
    // Account `A` as it exists, to resend with one field changed.
    let a = || acct(A, 1, AF::empty());
    vec![
        accounts(vec![n()], AR::Ok),
        accounts(
            vec![
                n().flag(AF::LINKED),
                acct(11, 1, AF::empty()).with(|a| a.code = 0),
            ],
            AR::LinkedEventFailed,
        )
        .first_of_two(),
        accounts(vec![n().flag(AF::LINKED)], AR::LinkedEventChainOpen),
        accounts(
            vec![imp(TI), acct(11, 1, AF::empty())],
            AR::ImportedEventExpected,
        ),
        accounts(
            vec![n(), acct(11, 1, AF::empty()).imported(TI)],
            AR::ImportedEventNotExpected,
        ),
        accounts(vec![n().with(|a| a.timestamp = 5)], AR::TimestampMustBeZero),
        accounts(vec![imp(0)], AR::ImportedEventTimestampOutOfRange),
        accounts(vec![imp(T2 + 1)], AR::ImportedEventTimestampMustNotAdvance),
        accounts(
            vec![n().with(|a| a.flags |= RESERVED_BIT)],
            AR::ReservedFlag,
        ),
        accounts(vec![acct(0, 1, AF::empty())], AR::IdMustNotBeZero),
        accounts(vec![acct(MAX, 1, AF::empty())], AR::IdMustNotBeIntMax),
        accounts(vec![a().flag(AF::HISTORY)], AR::ExistsWithDifferentFlags),
        accounts(
            vec![a().with(|a| a.user_data_128 = 1)],
            AR::ExistsWithDifferentUserData128,
        ),
        accounts(
            vec![a().with(|a| a.user_data_64 = 1)],
            AR::ExistsWithDifferentUserData64,
        ),
        accounts(
            vec![a().with(|a| a.user_data_32 = 1)],
            AR::ExistsWithDifferentUserData32,
        ),
        accounts(vec![acct(A, 2, AF::empty())], AR::ExistsWithDifferentLedger),
        accounts(vec![a().with(|a| a.code = 11)], AR::ExistsWithDifferentCode),
        accounts(vec![a()], AR::Exists),
        accounts(
            vec![n().flag(AF::DEBITS_MUST_NOT_EXCEED_CREDITS | AF::CREDITS_MUST_NOT_EXCEED_DEBITS)],
            AR::FlagsAreMutuallyExclusive,
        ),
        accounts(
            vec![n().with(|a| a.debits_pending = 1)],
            AR::DebitsPendingMustBeZero,
        ),
        accounts(
            vec![n().with(|a| a.debits_posted = 1)],
            AR::DebitsPostedMustBeZero,
        ),
        accounts(
            vec![n().with(|a| a.credits_pending = 1)],
            AR::CreditsPendingMustBeZero,
        ),
        accounts(
            vec![n().with(|a| a.credits_posted = 1)],
            AR::CreditsPostedMustBeZero,
        ),
        accounts(vec![acct(10, 0, AF::empty())], AR::LedgerMustNotBeZero),
        accounts(vec![n().with(|a| a.code = 0)], AR::CodeMustNotBeZero),
        // After every transfer but not after the newest account.
        accounts(vec![imp(T0 + 50)], AR::ImportedEventTimestampMustNotRegress),
    ]
}

impl Scenario {
    /// Expects the code on the first event instead of the last (a chain failed by a later one).
    fn first_of_two(mut self) -> Self {
        self.expect |= FIRST;
        self
    }
}

/// Set in [`Scenario::expect`]: the code is the first event's, not the last's.
pub const FIRST: u32 = 1 << 31;

/// Scenarios whose batch is `create_transfers`.
pub fn transfer_scenarios() -> Vec<Scenario> {
    let t = || tr(10, A, B, 1);
    let imp = |ts| t().imported(ts);
    // A stored transfer (`20`) and its resends with one field changed.
    let stored = || tr(20, A, B, 1);
    let resend =
        |f: fn(&mut Transfer), code| transfers(vec![stored()], vec![stored().with(f)], code);
    // A pending transfer (`21`, A to B, 10) to post or void.
    let pending = || pend(21, A, B, 10);
    let resolve = |t: Transfer, code| transfers(vec![pending()], vec![t], code);
    vec![
        one(t(), TR::Ok),
        transfers(
            Vec::new(),
            vec![t().flag(F::LINKED), tr(11, A, B, 1).with(|t| t.code = 0)],
            TR::LinkedEventFailed,
        )
        .first_of_two(),
        one(t().flag(F::LINKED), TR::LinkedEventChainOpen),
        transfers(
            Vec::new(),
            vec![imp(TI), tr(11, A, B, 1)],
            TR::ImportedEventExpected,
        ),
        transfers(
            Vec::new(),
            vec![t(), tr(11, A, B, 1).imported(TI)],
            TR::ImportedEventNotExpected,
        ),
        one(t().with(|t| t.timestamp = 5), TR::TimestampMustBeZero),
        one(imp(0), TR::ImportedEventTimestampOutOfRange),
        one(imp(T2 + 1), TR::ImportedEventTimestampMustNotAdvance),
        one(t().with(|t| t.flags |= RESERVED_BIT), TR::ReservedFlag),
        one(tr(0, A, B, 1), TR::IdMustNotBeZero),
        one(tr(MAX, A, B, 1), TR::IdMustNotBeIntMax),
        resend(
            |t| t.flags = F::PENDING.bits(),
            TR::ExistsWithDifferentFlags,
        ),
        resend(|t| t.pending_id = 5, TR::ExistsWithDifferentPendingId),
        resend(|t| t.timeout = 1, TR::ExistsWithDifferentTimeout),
        resend(
            |t| t.debit_account_id = C,
            TR::ExistsWithDifferentDebitAccountId,
        ),
        resend(
            |t| t.credit_account_id = C,
            TR::ExistsWithDifferentCreditAccountId,
        ),
        resend(|t| t.amount = 2, TR::ExistsWithDifferentAmount),
        resend(|t| t.user_data_128 = 1, TR::ExistsWithDifferentUserData128),
        resend(|t| t.user_data_64 = 1, TR::ExistsWithDifferentUserData64),
        resend(|t| t.user_data_32 = 1, TR::ExistsWithDifferentUserData32),
        resend(|t| t.ledger = 2, TR::ExistsWithDifferentLedger),
        resend(|t| t.code = 2, TR::ExistsWithDifferentCode),
        resend(|_| {}, TR::Exists),
        // The setup's transfer fails transiently and burns id 20.
        transfers(
            vec![tr(20, A, MISSING, 1)],
            vec![stored()],
            TR::IdAlreadyFailed,
        ),
        one(
            t().flag(F::PENDING | F::POST_PENDING_TRANSFER),
            TR::FlagsAreMutuallyExclusive,
        ),
        one(tr(10, 0, B, 1), TR::DebitAccountIdMustNotBeZero),
        one(tr(10, MAX, B, 1), TR::DebitAccountIdMustNotBeIntMax),
        one(tr(10, A, 0, 1), TR::CreditAccountIdMustNotBeZero),
        one(tr(10, A, MAX, 1), TR::CreditAccountIdMustNotBeIntMax),
        one(tr(10, A, A, 1), TR::AccountsMustBeDifferent),
        one(t().with(|t| t.pending_id = 5), TR::PendingIdMustBeZero),
        one(post(10, 0, 1), TR::PendingIdMustNotBeZero),
        one(post(10, MAX, 1), TR::PendingIdMustNotBeIntMax),
        one(post(10, 10, 1), TR::PendingIdMustBeDifferent),
        one(
            t().with(|t| t.timeout = 1),
            TR::TimeoutReservedForPendingTransfer,
        ),
        one(t().flag(F::CLOSING_DEBIT), TR::ClosingTransferMustBePending),
        one(t().with(|t| t.ledger = 0), TR::LedgerMustNotBeZero),
        one(t().with(|t| t.code = 0), TR::CodeMustNotBeZero),
        one(tr(10, MISSING, B, 1), TR::DebitAccountNotFound),
        one(tr(10, A, MISSING, 1), TR::CreditAccountNotFound),
        one(tr(10, A, L2, 1), TR::AccountsMustHaveTheSameLedger),
        one(
            t().with(|t| t.ledger = 2),
            TR::TransferMustHaveTheSameLedgerAsAccounts,
        ),
        one(post(10, 77, 1), TR::PendingTransferNotFound),
        transfers(
            vec![stored()],
            vec![post(10, 20, 1)],
            TR::PendingTransferNotPending,
        ),
        resolve(
            post(10, 21, 1).with(|t| t.debit_account_id = C),
            TR::PendingTransferHasDifferentDebitAccountId,
        ),
        resolve(
            post(10, 21, 1).with(|t| t.credit_account_id = C),
            TR::PendingTransferHasDifferentCreditAccountId,
        ),
        resolve(
            post(10, 21, 1).with(|t| t.ledger = 2),
            TR::PendingTransferHasDifferentLedger,
        ),
        resolve(
            post(10, 21, 1).with(|t| t.code = 2),
            TR::PendingTransferHasDifferentCode,
        ),
        resolve(post(10, 21, 11), TR::ExceedsPendingTransferAmount),
        resolve(
            void(10, 21).with(|t| t.amount = 5),
            TR::PendingTransferHasDifferentAmount,
        ),
        transfers(
            vec![pending(), post(22, 21, 10)],
            vec![post(10, 21, 1)],
            TR::PendingTransferAlreadyPosted,
        ),
        transfers(
            vec![pending(), void(22, 21)],
            vec![post(10, 21, 1)],
            TR::PendingTransferAlreadyVoided,
        ),
        // The batch runs after the pending transfer's deadline: its expiry comes first.
        at(
            transfers(
                vec![pending().with(|t| t.timeout = 1)],
                vec![post(10, 21, 1)],
                TR::PendingTransferExpired,
            ),
            T1 + 2 * NS,
        ),
        // At account `B`'s timestamp.
        one(imp(T0 + 1), TR::ImportedEventTimestampMustNotRegress),
        // After accounts `A` and `B`, before `LATE`.
        one(
            tr(10, LATE, A, 1).imported(T0 + 50),
            TR::ImportedEventTimestampMustPostdateDebitAccount,
        ),
        one(
            tr(10, A, LATE, 1).imported(T0 + 50),
            TR::ImportedEventTimestampMustPostdateCreditAccount,
        ),
        one(
            pend(10, A, B, 1).with(|t| t.timeout = 1).imported(TI),
            TR::ImportedEventTimeoutMustBeZero,
        ),
        one(tr(10, SHUT, B, 1), TR::DebitAccountAlreadyClosed),
        one(tr(10, A, SHUT, 1), TR::CreditAccountAlreadyClosed),
        transfers(
            vec![pend(20, A, B, MAX)],
            vec![pend(10, A, C, 1)],
            TR::OverflowsDebitsPending,
        ),
        transfers(
            vec![pend(20, C, B, MAX)],
            vec![pend(10, A, B, 1)],
            TR::OverflowsCreditsPending,
        ),
        transfers(
            vec![tr(20, A, B, MAX)],
            vec![tr(10, A, C, 1)],
            TR::OverflowsDebitsPosted,
        ),
        transfers(
            vec![tr(20, C, B, MAX)],
            vec![tr(10, A, B, 1)],
            TR::OverflowsCreditsPosted,
        ),
        transfers(
            vec![pend(20, A, B, MAX)],
            vec![tr(10, A, C, 1)],
            TR::OverflowsDebits,
        ),
        transfers(
            vec![pend(20, C, B, MAX)],
            vec![tr(10, A, B, 1)],
            TR::OverflowsCredits,
        ),
        at(
            one(
                pend(10, A, B, 1).with(|t| t.timeout = 2),
                TR::OverflowsTimeout,
            ),
            TIMESTAMP_MAX - NS,
        ),
        one(tr(10, DLIM, B, 1), TR::ExceedsCredits),
        one(tr(10, A, CLIM, 1), TR::ExceedsDebits),
    ]
}
