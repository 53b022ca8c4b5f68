//! Table test for `create_accounts`: one row per result code, in precedence order, plus rows
//! that violate two rules at once to prove the earlier-listed code wins. Every row runs on a
//! fresh ledger holding one account ([`existing`]); failed events must change nothing.

mod support;

use std::collections::BTreeSet;

use support::*;
use tally_ledger::{
    read_last_timestamp, Account, AccountFlags as AF, CreateAccountResult as R, TIMESTAMP_MAX,
};

/// Leader time when the fixture account is created.
const T0: u64 = 1_000_000_000_000;
/// Leader time of every row's batch.
const T1: u64 = T0 + 1_000_000;
/// A valid imported timestamp for a row's batch: after the fixture, not after `T1`.
const TI: u64 = T1 - 100;
const EXISTING: u128 = 1;

/// The account every row starts with.
fn existing() -> Account {
    acct(EXISTING, 1, AF::HISTORY).with(|a| {
        a.user_data_128 = 128;
        a.user_data_64 = 64;
        a.user_data_32 = 32;
    })
}

fn new(id: u128) -> Account {
    acct(id, 1, AF::empty())
}

fn imp(id: u128, ts: u64) -> Account {
    new(id).imported(ts)
}

struct Row {
    name: &'static str,
    batch: Vec<Account>,
    expect: Vec<R>,
}

fn row(name: &'static str, batch: Vec<Account>, expect: Vec<R>) -> Row {
    Row {
        name,
        batch,
        expect,
    }
}

fn one(name: &'static str, a: Account, code: R) -> Row {
    row(name, vec![a], vec![code])
}

fn reserved(a: Account) -> Account {
    a.with(|a| a.flags |= RESERVED_BIT)
}

fn both_limits() -> AF {
    AF::DEBITS_MUST_NOT_EXCEED_CREDITS | AF::CREDITS_MUST_NOT_EXCEED_DEBITS
}

fn rows_chains() -> Vec<Row> {
    let linked = |id| new(id).flag(AF::LINKED);
    vec![
        one("ok", new(10), R::Ok),
        one("closed at creation", new(10).flag(AF::CLOSED), R::Ok),
        row("linked ok", vec![linked(10), new(11)], vec![R::Ok, R::Ok]),
        row(
            "linked rollback",
            vec![linked(10), new(11).with(|a| a.ledger = 0)],
            vec![R::LinkedEventFailed, R::LedgerMustNotBeZero],
        ),
        row(
            "events after the failure are skipped, the next chain runs",
            vec![linked(10), linked(0), new(12), new(13)],
            vec![
                R::LinkedEventFailed,
                R::IdMustNotBeZero,
                R::LinkedEventFailed,
                R::Ok,
            ],
        ),
        row(
            "exists fails a chain",
            vec![linked(10), existing()],
            vec![R::LinkedEventFailed, R::Exists],
        ),
        one("chain open alone", linked(10), R::LinkedEventChainOpen),
        row(
            "chain open rolls back the chain",
            vec![new(9), linked(10), linked(11)],
            vec![R::Ok, R::LinkedEventFailed, R::LinkedEventChainOpen],
        ),
        row(
            "chain open beats chain already failed",
            vec![linked(10).with(|a| a.code = 0), linked(11)],
            vec![R::CodeMustNotBeZero, R::LinkedEventChainOpen],
        ),
    ]
}

fn rows_time() -> Vec<Row> {
    vec![
        row(
            "imported ok",
            vec![imp(10, TI), imp(11, TI + 1)],
            vec![R::Ok, R::Ok],
        ),
        row(
            "imported event expected",
            vec![imp(10, TI), new(11)],
            vec![R::Ok, R::ImportedEventExpected],
        ),
        row(
            "imported expected beats timestamp must be zero",
            vec![imp(10, TI), new(11).with(|a| a.timestamp = 5)],
            vec![R::Ok, R::ImportedEventExpected],
        ),
        row(
            "imported event not expected",
            vec![new(10), imp(11, TI)],
            vec![R::Ok, R::ImportedEventNotExpected],
        ),
        row(
            "not expected beats out of range",
            vec![new(10), imp(11, 0)],
            vec![R::Ok, R::ImportedEventNotExpected],
        ),
        one(
            "timestamp must be zero",
            new(10).with(|a| a.timestamp = 5),
            R::TimestampMustBeZero,
        ),
        one(
            "timestamp must be zero beats reserved flag",
            reserved(new(10).with(|a| a.timestamp = 5)),
            R::TimestampMustBeZero,
        ),
    ]
}

fn rows_time_rest() -> Vec<Row> {
    vec![
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
            imp(10, T1 + 1),
            R::ImportedEventTimestampMustNotAdvance,
        ),
        one(
            "must not advance beats reserved flag",
            reserved(imp(10, T1 + 1)),
            R::ImportedEventTimestampMustNotAdvance,
        ),
        one("imported at the leader's time", imp(10, T1), R::Ok),
        row(
            "a rolled-back imported chain gives its timestamps back",
            vec![
                imp(10, TI).flag(AF::LINKED),
                imp(11, TI + 1).with(|a| a.code = 0),
                imp(12, TI),
            ],
            vec![R::LinkedEventFailed, R::CodeMustNotBeZero, R::Ok],
        ),
    ]
}

fn rows_ids() -> Vec<Row> {
    vec![
        one("reserved flag", reserved(new(10)), R::ReservedFlag),
        one(
            "reserved flag beats id zero",
            reserved(new(0)),
            R::ReservedFlag,
        ),
        one("id zero", new(0), R::IdMustNotBeZero),
        one(
            "id zero beats ledger zero",
            new(0).with(|a| a.ledger = 0),
            R::IdMustNotBeZero,
        ),
        one("id int max", new(u128::MAX), R::IdMustNotBeIntMax),
        one(
            "id int max beats mutually exclusive flags",
            new(u128::MAX).flag(both_limits()),
            R::IdMustNotBeIntMax,
        ),
    ]
}

fn rows_exists() -> Vec<Row> {
    let e = existing;
    vec![
        one(
            "different flags",
            e().with(|a| a.flags = 0),
            R::ExistsWithDifferentFlags,
        ),
        row(
            "different flags (linked)",
            vec![e().flag(AF::LINKED), new(11)],
            vec![R::ExistsWithDifferentFlags, R::LinkedEventFailed],
        ),
        one(
            "different flags beats user_data_128",
            e().with(|a| (a.flags, a.user_data_128) = (0, 9)),
            R::ExistsWithDifferentFlags,
        ),
        one(
            "different user_data_128",
            e().with(|a| a.user_data_128 = 9),
            R::ExistsWithDifferentUserData128,
        ),
        one(
            "user_data_128 beats user_data_64",
            e().with(|a| (a.user_data_128, a.user_data_64) = (9, 9)),
            R::ExistsWithDifferentUserData128,
        ),
        one(
            "different user_data_64",
            e().with(|a| a.user_data_64 = 9),
            R::ExistsWithDifferentUserData64,
        ),
        one(
            "user_data_64 beats user_data_32",
            e().with(|a| (a.user_data_64, a.user_data_32) = (9, 9)),
            R::ExistsWithDifferentUserData64,
        ),
        one(
            "different user_data_32",
            e().with(|a| a.user_data_32 = 9),
            R::ExistsWithDifferentUserData32,
        ),
        one(
            "user_data_32 beats ledger",
            e().with(|a| (a.user_data_32, a.ledger) = (9, 9)),
            R::ExistsWithDifferentUserData32,
        ),
        one(
            "different ledger",
            e().with(|a| a.ledger = 9),
            R::ExistsWithDifferentLedger,
        ),
    ]
}

fn rows_exists_rest() -> Vec<Row> {
    let e = existing;
    vec![
        one(
            "ledger beats code",
            e().with(|a| (a.ledger, a.code) = (9, 9)),
            R::ExistsWithDifferentLedger,
        ),
        one(
            "different code",
            e().with(|a| a.code = 9),
            R::ExistsWithDifferentCode,
        ),
        one("exists", e(), R::Exists),
        one(
            "exists compares the closed flag",
            e().flag(AF::CLOSED),
            R::ExistsWithDifferentFlags,
        ),
        one(
            "exists beats nonzero balances",
            e().with(|a| a.debits_pending = 5),
            R::Exists,
        ),
        row(
            "exists within the batch",
            vec![new(10), new(10)],
            vec![R::Ok, R::Exists],
        ),
        row(
            "exists beats imported must not regress",
            vec![imp(10, TI), imp(10, TI)],
            vec![R::Ok, R::Exists],
        ),
    ]
}

fn rows_fields() -> Vec<Row> {
    let n = || new(10);
    vec![
        one(
            "mutually exclusive flags",
            n().flag(both_limits()),
            R::FlagsAreMutuallyExclusive,
        ),
        one(
            "mutually exclusive beats debits_pending",
            n().flag(both_limits()).with(|a| a.debits_pending = 1),
            R::FlagsAreMutuallyExclusive,
        ),
        one(
            "debits_pending",
            n().with(|a| a.debits_pending = 1),
            R::DebitsPendingMustBeZero,
        ),
        one(
            "debits_pending beats debits_posted",
            n().with(|a| (a.debits_pending, a.debits_posted) = (1, 1)),
            R::DebitsPendingMustBeZero,
        ),
        one(
            "debits_posted",
            n().with(|a| a.debits_posted = 1),
            R::DebitsPostedMustBeZero,
        ),
        one(
            "debits_posted beats credits_pending",
            n().with(|a| (a.debits_posted, a.credits_pending) = (1, 1)),
            R::DebitsPostedMustBeZero,
        ),
    ]
}

fn rows_fields_rest() -> Vec<Row> {
    let n = || new(10);
    vec![
        one(
            "credits_pending",
            n().with(|a| a.credits_pending = 1),
            R::CreditsPendingMustBeZero,
        ),
        one(
            "credits_pending beats credits_posted",
            n().with(|a| (a.credits_pending, a.credits_posted) = (1, 1)),
            R::CreditsPendingMustBeZero,
        ),
        one(
            "credits_posted",
            n().with(|a| a.credits_posted = 1),
            R::CreditsPostedMustBeZero,
        ),
        one(
            "credits_posted beats ledger zero",
            n().with(|a| (a.credits_posted, a.ledger) = (1, 0)),
            R::CreditsPostedMustBeZero,
        ),
        one(
            "ledger zero",
            n().with(|a| a.ledger = 0),
            R::LedgerMustNotBeZero,
        ),
        one(
            "ledger zero beats code zero",
            n().with(|a| (a.ledger, a.code) = (0, 0)),
            R::LedgerMustNotBeZero,
        ),
        one("code zero", n().with(|a| a.code = 0), R::CodeMustNotBeZero),
        one(
            "code zero beats must not regress",
            imp(10, T0).with(|a| a.code = 0),
            R::CodeMustNotBeZero,
        ),
        one(
            "imported at the last timestamp",
            imp(10, T0),
            R::ImportedEventTimestampMustNotRegress,
        ),
        row(
            "imported must not regress within the batch",
            vec![imp(10, TI), imp(11, TI - 1)],
            vec![R::Ok, R::ImportedEventTimestampMustNotRegress],
        ),
    ]
}

fn rows() -> Vec<Row> {
    [
        rows_chains(),
        rows_time(),
        rows_time_rest(),
        rows_ids(),
        rows_exists(),
        rows_exists_rest(),
        rows_fields(),
        rows_fields_rest(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn run(row: &Row) {
    let mut l = ledger();
    assert_eq!(l.create_accounts(&[existing()], &ctx(T0)).unwrap(), [R::Ok]);
    let before = dump(&l);
    let timed = l.create_accounts_timed(&row.batch, &ctx(T1)).unwrap();
    let got = timed.codes;
    assert_eq!(got, row.expect, "row {:?}", row.name);
    let ok_ids: BTreeSet<u128> = (row.batch.iter().zip(&got))
        .filter(|(_, r)| **r == R::Ok)
        .map(|(a, _)| a.id)
        .collect();
    for (a, r) in row.batch.iter().zip(&got) {
        let stored = account(&l, a.id);
        if *r == R::Ok {
            let s = stored.unwrap_or_else(|| panic!("row {:?}: {} missing", row.name, a.id));
            let want = Account {
                timestamp: s.timestamp,
                ..*a
            };
            assert_eq!(s, want, "row {:?}", row.name);
        } else if a.id != EXISTING && !ok_ids.contains(&a.id) {
            assert_eq!(stored, None, "row {:?}: failed {} stored", row.name, a.id);
        }
    }
    if ok_ids.is_empty() {
        assert_eq!(dump(&l), before, "row {:?} changed state", row.name);
    }
    // Every event takes one tick of ledger time, whatever its outcome.
    let n = row.batch.len() as u64;
    assert_eq!(
        read_last_timestamp(l.store()).unwrap(),
        T1 + n - 1,
        "row {:?}: clock",
        row.name
    );
    // `ok`: the stored timestamp; `exists`: the original's; else the validation time. A
    // rolled-back event keeps the timestamp it was given (its own, if imported).
    let linked = |j: usize| row.batch[j].flags().contains(AF::LINKED);
    for (i, (a, (r, ts))) in row
        .batch
        .iter()
        .zip(got.iter().zip(&timed.timestamps))
        .enumerate()
    {
        let imported = a.flags().contains(AF::IMPORTED);
        let want = match r {
            R::Ok | R::Exists => account(&l, a.id).unwrap().timestamp,
            _ if imported && rolled_back(linked, &got, &R::LinkedEventFailed, i) => a.timestamp,
            _ => T1 + i as u64,
        };
        assert_eq!(
            *ts, want,
            "row {:?}: timestamp of event {i} ({r})",
            row.name
        );
    }
}

#[test]
fn every_row_gives_its_code() {
    // Run every row even if one fails, so that one report lists them all.
    let rows = rows();
    let failed: Vec<&str> = (rows.iter())
        .filter(|row| std::panic::catch_unwind(|| run(row)).is_err())
        .map(|row| row.name)
        .collect();
    assert!(failed.is_empty(), "failed rows: {failed:?}");
}

#[test]
fn every_code_has_a_row() {
    let covered: BTreeSet<R> = rows().iter().flat_map(|r| r.expect.clone()).collect();
    let missing: Vec<_> = R::ALL.iter().filter(|c| !covered.contains(c)).collect();
    assert!(missing.is_empty(), "codes without a row: {missing:?}");
}

#[test]
fn events_get_increasing_timestamps_even_when_leader_time_goes_back() {
    let mut l = ledger();
    let r = l.create_accounts(&[new(1), new(2).with(|a| a.code = 0), new(3)], &ctx(T1));
    assert_eq!(r.unwrap(), [R::Ok, R::CodeMustNotBeZero, R::Ok]);
    // The failed event consumed T1 + 1.
    assert_eq!(account(&l, 1).unwrap().timestamp, T1);
    assert_eq!(account(&l, 3).unwrap().timestamp, T1 + 2);
    assert_eq!(l.create_accounts(&[new(4)], &ctx(T0)).unwrap(), [R::Ok]);
    assert_eq!(account(&l, 4).unwrap().timestamp, T1 + 3);
    assert_eq!(
        l.create_accounts(&[new(5)], &ctx(T1 + 50)).unwrap(),
        [R::Ok]
    );
    assert_eq!(account(&l, 5).unwrap().timestamp, T1 + 50);
}

#[test]
fn events_rejected_before_their_timestamp_still_take_a_tick() {
    let mut l = ledger();
    let batch = [new(1).with(|a| a.timestamp = 9), new(2)];
    let r = l.create_accounts_timed(&batch, &ctx(T1)).unwrap();
    assert_eq!(r.codes, [R::TimestampMustBeZero, R::Ok]);
    assert_eq!(r.timestamps, [T1, T1 + 1]);
    assert_eq!(account(&l, 2).unwrap().timestamp, T1 + 1);
}

#[test]
fn imported_accounts_keep_their_timestamps_and_move_ledger_time() {
    let mut l = ledger();
    let r = l
        .create_accounts(&[imp(1, T0), imp(2, T0 + 7)], &ctx(T1))
        .unwrap();
    assert_eq!(r, [R::Ok, R::Ok]);
    assert_eq!(account(&l, 1).unwrap().timestamp, T0);
    assert_eq!(account(&l, 2).unwrap().timestamp, T0 + 7);
    // The imported batch took two ticks of ledger time from the leader's clock, which is not
    // before any imported timestamp; later events continue after them, even at an earlier
    // leader time.
    assert_eq!(l.create_accounts(&[new(3)], &ctx(T0)).unwrap(), [R::Ok]);
    assert_eq!(account(&l, 3).unwrap().timestamp, T1 + 2);
}
