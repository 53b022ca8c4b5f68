//! What the strategies generate: abstract commands, made concrete by the harness against the
//! model's state (so that retries, posts and voids name ids that exist).

use super::*;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Clock {
    Same,
    Forward(u64),
    Back(u64),
    JumpSeconds(u64),
    /// Just before (or at) the deadline of a pending transfer, so that a post or void in the
    /// batch lands exactly on it.
    Deadline(u64),
    /// This command only: a leader clock this far below 2^63-1 (`ClockOutOfRange`, or a
    /// ledger clock pushed near its end).
    NearMax(u64),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum AccountFault {
    Timestamp,
    DebitsPending,
    DebitsPosted,
    CreditsPending,
    CreditsPosted,
}

#[derive(Debug, Clone)]
pub(crate) enum AccountSpec {
    New {
        id: u128,
        /// `None`: the id's home ledger.
        ledger: Option<u32>,
        code: u16,
        flags: u16,
        user_data: u64,
        fault: Option<AccountFault>,
    },
    /// Resend an earlier account, maybe with one field changed (`Harness::account` says which).
    Retry(Index, Option<u8>),
}

/// A transfer id: a new one, or one from the small colliding space.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Id {
    Fresh,
    Given(u128),
}

#[derive(Debug, Clone)]
pub(crate) struct NewTransfer {
    pub(crate) id: Id,
    pub(crate) dr: u128,
    pub(crate) cr: u128,
    /// Move `cr` to an account on the debit account's ledger if there is one.
    pub(crate) same_ledger: bool,
    pub(crate) amount: u128,
    /// `None`: the debit account's ledger.
    pub(crate) ledger: Option<u32>,
    pub(crate) code: u16,
    pub(crate) user_data: u64,
    /// Used for pending transfers, and for others only if `odd_timeout`.
    pub(crate) timeout: u32,
    pub(crate) odd_timeout: bool,
    pub(crate) flags: u16,
    pub(crate) pending_id: u128,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum ResolveAmount {
    Zero,
    Full,
    Half,
    Max,
    Over,
    Raw(u128),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Field {
    Inherit,
    Same,
    Wrong,
}

/// Which pending transfer a post or void names (if there is none, any pending transfer sent).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// One still pending.
    Live(Index),
    /// The one still pending that times out first.
    Next,
    /// Any pending transfer sent so far, whatever became of it.
    Sent(Index),
    /// Any id.
    Stray(u128),
}

#[derive(Debug, Clone)]
pub(crate) struct Resolve {
    pub(crate) id: Id,
    pub(crate) target: Target,
    pub(crate) amount: ResolveAmount,
    pub(crate) fields: [Field; 4],
    pub(crate) user_data: u64,
    pub(crate) timeout: u32,
    pub(crate) flags: u16,
}

#[derive(Debug, Clone)]
pub(crate) enum TransferSpec {
    New(NewTransfer),
    Resolve(Resolve),
    /// Resend an earlier transfer, maybe with one field changed (`Harness::transfer` says
    /// which).
    Retry(Index, Option<u8>),
}

#[derive(Debug, Clone)]
pub(crate) enum Step {
    Accounts(Vec<AccountSpec>),
    Transfers(Vec<TransferSpec>),
    Pulse,
}

/// Imported-batch and timestamp mistakes applied to one event of a batch.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fault {
    Timestamp,
    FlipImported,
    Zero,
    Advance,
    Regress,
    TooBig,
}

#[derive(Debug, Clone)]
pub(crate) struct CmdSpec {
    pub(crate) clock: Clock,
    pub(crate) step: Step,
    pub(crate) imported: bool,
    pub(crate) faults: Vec<(Index, Fault)>,
}

#[derive(Debug, Clone)]
pub(crate) struct ReadSpec {
    pub(crate) account: u128,
    pub(crate) flags: u32,
    pub(crate) limit: u32,
    pub(crate) min: Bound,
    pub(crate) max: Bound,
    pub(crate) code: u16,
    /// Which user data field to match (128, 64 or 32 bits), and the value.
    pub(crate) user_data: Option<(u8, u64)>,
    /// For the queries.
    pub(crate) ledger: u32,
}

/// A timestamp bound of a read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bound {
    /// 0: unbounded.
    Open,
    /// Next to a timestamp the ledger assigned: one before, on it, or one after.
    Near(Index, i8),
    Max,
}

#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) base: u64,
    /// Flags of accounts `1..=SETUP`, created first, then `extra`.
    pub(crate) setup: Vec<u16>,
    pub(crate) extra: Vec<AccountSpec>,
    pub(crate) cmds: Vec<CmdSpec>,
    pub(crate) reads: Vec<ReadSpec>,
}

fn account_id() -> impl Strategy<Value = u128> {
    prop_oneof![
        40 => 1..=ACCOUNTS,
        1 => Just(0),
        1 => Just(u128::MAX),
        1 => Just(ACCOUNTS + 1),
    ]
}

fn transfer_id() -> impl Strategy<Value = u128> {
    prop_oneof![40 => 1..=TRANSFERS, 1 => Just(0), 1 => Just(u128::MAX)]
}

fn id() -> impl Strategy<Value = Id> {
    prop_oneof![3 => Just(Id::Fresh), 2 => transfer_id().prop_map(Id::Given)]
}

fn code() -> impl Strategy<Value = u16> {
    prop_oneof![30 => 1..=3u16, 1 => Just(0)]
}

fn amount() -> impl Strategy<Value = u128> {
    prop_oneof![
        10 => 0..=60u128,
        3 => 60..=1000u128,
        1 => Just(u128::MAX),
        1 => (u128::MAX - 1000)..u128::MAX,
    ]
}

fn bits(pairs: &[(bool, u16)]) -> u16 {
    pairs
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |acc, (_, bit)| acc | bit)
}

fn account_flags() -> impl Strategy<Value = u16> {
    use prop::bool::weighted as w;
    (w(0.15), w(0.2), w(0.2), w(0.5), w(0.04), w(0.02)).prop_map(|(l, d, c, h, x, r)| {
        use AccountFlags as F;
        bits(&[
            (l, F::LINKED.bits()),
            (d, F::DEBITS_MUST_NOT_EXCEED_CREDITS.bits()),
            (c, F::CREDITS_MUST_NOT_EXCEED_DEBITS.bits()),
            (h, F::HISTORY.bits()),
            (x, F::CLOSED.bits()),
            (r, RESERVED),
        ])
    })
}

fn account_spec() -> impl Strategy<Value = AccountSpec> {
    use prop::option::weighted as maybe;
    let faults = vec![
        AccountFault::Timestamp,
        AccountFault::DebitsPending,
        AccountFault::DebitsPosted,
        AccountFault::CreditsPending,
        AccountFault::CreditsPosted,
    ];
    let new = (
        account_id(),
        maybe(0.05, 0..=3u32),
        code(),
        account_flags(),
        0..3u64,
    )
        .prop_flat_map(move |t| (Just(t), maybe(0.04, select(faults.clone()))))
        .prop_map(
            |((id, ledger, code, flags, user_data), fault)| AccountSpec::New {
                id,
                ledger,
                code,
                flags,
                user_data,
                fault,
            },
        );
    let retry = (any::<Index>(), maybe(0.6, 0..7u8)).prop_map(|(i, c)| AccountSpec::Retry(i, c));
    prop_oneof![6 => new, 1 => retry]
}

fn transfer_flags() -> impl Strategy<Value = u16> {
    use prop::bool::weighted as w;
    use TransferFlags as F;
    let odd = prop::option::weighted(
        0.04,
        select(vec![
            F::POST_PENDING_TRANSFER.bits(),
            F::VOID_PENDING_TRANSFER.bits(),
            RESERVED,
        ]),
    );
    (w(0.2), w(0.4), w(0.2), w(0.2), w(0.04), w(0.04), odd).prop_map(|(l, p, bd, bc, cd, cc, o)| {
        bits(&[
            (l, F::LINKED.bits()),
            (p, F::PENDING.bits()),
            (bd, F::BALANCING_DEBIT.bits()),
            (bc, F::BALANCING_CREDIT.bits()),
            (cd, F::CLOSING_DEBIT.bits()),
            (cc, F::CLOSING_CREDIT.bits()),
        ]) | o.unwrap_or(0)
    })
}

fn new_transfer() -> impl Strategy<Value = NewTransfer> {
    use prop::option::weighted as maybe;
    let timeout = prop_oneof![4 => Just(0), 6 => 1..=3u32, 1 => Just(u32::MAX)];
    let pending_id = prop_oneof![30 => Just(0), 1 => transfer_id()];
    (
        (id(), account_id(), account_id(), prop::bool::weighted(0.8)),
        (amount(), maybe(0.05, 0..=3u32), code(), 0..3u64),
        (
            timeout,
            prop::bool::weighted(0.05),
            transfer_flags(),
            pending_id,
        ),
    )
        .prop_map(
            |((id, dr, cr, same_ledger), (amount, ledger, code, user_data), rest)| {
                let (timeout, odd_timeout, flags, pending_id) = rest;
                NewTransfer {
                    id,
                    dr,
                    cr,
                    same_ledger,
                    amount,
                    ledger,
                    code,
                    user_data,
                    timeout,
                    odd_timeout,
                    flags,
                    pending_id,
                }
            },
        )
}

fn resolve() -> impl Strategy<Value = Resolve> {
    use prop::option::weighted as maybe;
    use TransferFlags as F;
    let amount = prop_oneof![
        3 => Just(ResolveAmount::Full),
        2 => Just(ResolveAmount::Zero),
        2 => Just(ResolveAmount::Max),
        2 => Just(ResolveAmount::Half),
        1 => Just(ResolveAmount::Over),
        1 => amount().prop_map(ResolveAmount::Raw),
    ];
    let field =
        || prop_oneof![8 => Just(Field::Inherit), 3 => Just(Field::Same), 1 => Just(Field::Wrong)];
    let odd = maybe(
        0.05,
        select(vec![
            F::PENDING.bits(),
            F::POST_PENDING_TRANSFER.bits() | F::VOID_PENDING_TRANSFER.bits(),
            F::BALANCING_DEBIT.bits(),
            F::CLOSING_CREDIT.bits(),
            RESERVED,
        ]),
    );
    let timeout = prop_oneof![20 => Just(0), 1 => 1..=3u32];
    let target = prop_oneof![
        12 => any::<Index>().prop_map(Target::Live),
        8 => Just(Target::Next),
        4 => any::<Index>().prop_map(Target::Sent),
        1 => transfer_id().prop_map(Target::Stray),
    ];
    (
        (id(), target, prop::bool::weighted(0.6)),
        (amount, [field(), field(), field(), field()], 0..3u64),
        (timeout, prop::bool::weighted(0.2), odd),
    )
        .prop_map(|((id, target, post), (amount, fields, user_data), rest)| {
            let (timeout, linked, odd) = rest;
            let kind = if post {
                F::POST_PENDING_TRANSFER
            } else {
                F::VOID_PENDING_TRANSFER
            };
            let linked = if linked { F::LINKED.bits() } else { 0 };
            Resolve {
                id,
                target,
                amount,
                fields,
                user_data,
                timeout,
                flags: kind.bits() | linked | odd.unwrap_or(0),
            }
        })
}

fn transfer_spec() -> impl Strategy<Value = TransferSpec> {
    let retry = (any::<Index>(), prop::option::weighted(0.6, 0..13u8));
    prop_oneof![
        5 => new_transfer().prop_map(TransferSpec::New),
        3 => resolve().prop_map(TransferSpec::Resolve),
        2 => retry.prop_map(|(i, c)| TransferSpec::Retry(i, c)),
    ]
}

fn cmd_spec() -> impl Strategy<Value = CmdSpec> {
    let clock = prop_oneof![
        16 => Just(Clock::Same),
        32 => (1..=1000u64).prop_map(Clock::Forward),
        8 => (1..=2 * NS).prop_map(Clock::Back),
        24 => (1..=5u64).prop_map(Clock::JumpSeconds),
        16 => (0..=2u64).prop_map(Clock::Deadline),
        // Around the room a command needs below 2^63: its events plus the most expiries.
        1 => (0..=3 * BATCH_MAX as u64).prop_map(Clock::NearMax),
    ];
    let step = prop_oneof![
        6 => prop::collection::vec(transfer_spec(), 0..=40).prop_map(Step::Transfers),
        2 => prop::collection::vec(account_spec(), 0..=8).prop_map(Step::Accounts),
        1 => Just(Step::Pulse),
    ];
    let fault = select(vec![
        Fault::Timestamp,
        Fault::FlipImported,
        Fault::Zero,
        Fault::Advance,
        Fault::Regress,
        Fault::TooBig,
    ]);
    let faults = prop_oneof![
        3 => Just(vec![]),
        1 => prop::collection::vec((any::<Index>(), fault), 1..=3),
    ];
    (clock, step, prop::bool::weighted(0.2), faults).prop_map(|(clock, step, imported, faults)| {
        CmdSpec {
            clock,
            step,
            imported,
            faults,
        }
    })
}

fn bound() -> impl Strategy<Value = Bound> {
    prop_oneof![
        12 => Just(Bound::Open),
        8 => (any::<Index>(), -1..=1i8).prop_map(|(i, d)| Bound::Near(i, d)),
        1 => Just(Bound::Max),
    ]
}

fn read_spec() -> impl Strategy<Value = ReadSpec> {
    use prop::option::weighted as maybe;
    let flags =
        prop_oneof![1 => Just(0u32), 3 => Just(1), 3 => Just(2), 6 => Just(3), 1 => Just(8)];
    let limit = prop_oneof![
        1 => Just(0u32),
        6 => 1..=6u32,
        3 => Just(BATCH_MAX as u32),
        1 => Just(BATCH_MAX as u32 + 1),
    ];
    (
        account_id(),
        flags,
        prop::bool::ANY,
        limit,
        (bound(), bound()),
        (
            maybe(0.2, 1..=3u16),
            maybe(0.2, (0..3u8, 1..=2u64)),
            maybe(0.2, 1..=3u32),
        ),
    )
        .prop_map(
            |(account, flags, reversed, limit, (min, max), (code, user_data, ledger))| ReadSpec {
                account,
                flags: flags | if reversed { 4 } else { 0 },
                limit,
                min,
                max,
                code: code.unwrap_or(0),
                user_data,
                ledger: ledger.unwrap_or(0),
            },
        )
}

pub(crate) fn case() -> impl Strategy<Value = Case> {
    // 5e18 ns plus the largest timeout passes 2^63: overflows_timeout.
    let base = prop_oneof![
        8 => Just(1_700_000_000 * NS),
        1 => Just(5_000_000_000 * NS),
        1 => Just(0),
    ];
    (
        base,
        prop::collection::vec(account_flags(), SETUP as usize),
        prop::collection::vec(account_spec(), 0..=3),
        prop::collection::vec(cmd_spec(), 0..=11),
        prop::collection::vec(read_spec(), 1..=6),
    )
        .prop_map(|(base, setup, extra, cmds, reads)| Case {
            base,
            setup,
            extra,
            cmds,
            reads,
        })
}
