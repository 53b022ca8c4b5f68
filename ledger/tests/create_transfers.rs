//! Table test for `create_transfers`: one row or more per result code, in precedence order,
//! plus rows that violate two rules at once to prove the earlier-listed code wins.
//!
//! Every row runs on a fresh ledger holding the accounts of [`fixture`]. The row's `pre`
//! transfers are applied first, in one batch at [`T1`] (so `pre[i]` gets timestamp `T1 + i`),
//! and must all succeed; then the row's batch runs at `at` (default [`T2`]). A batch in which
//! no event succeeds must change nothing but burn the ids of its transient failures.
//! Scenarios that need more than a code (balances, stored fields, timestamps) follow the table.

mod support;

#[path = "create_transfers/rows_ids.rs"]
mod rows_ids;
#[path = "create_transfers/rows_pending.rs"]
mod rows_pending;
#[path = "create_transfers/rows_plain.rs"]
mod rows_plain;
#[path = "create_transfers/scenarios.rs"]
mod scenarios;

use std::collections::BTreeSet;

use support::*;
use tally_ledger::{
    read_last_timestamp, AccountFlags as AF, Command, CreateTransferResult as R, Transfer,
    TransferFlags as F, TIMESTAMP_MAX,
};

/// Plain accounts on ledger 1.
const A: u128 = 1;
const B: u128 = 2;
const C: u128 = 3;
const D: u128 = 4;
/// `debits_must_not_exceed_credits`.
const DLIM: u128 = 5;
/// `credits_must_not_exceed_debits`.
const CLIM: u128 = 6;
/// `history`.
const HIST: u128 = 7;
/// The only account on ledger 2.
const L2: u128 = 8;
/// Created closed.
const SHUT: u128 = 9;
/// Created later than the others, at `T0 + 100`, and the one after it at `T0 + 101`.
const LATER: u128 = 10;
const LATER2: u128 = 11;
/// No such account (and no such transfer).
const MISSING: u128 = 99;

/// Leader time of the fixture accounts: account `n` gets `T0 + n - 1`, up to [`SHUT`];
/// [`LATER`] and [`LATER2`] get `T0 + 100` and `T0 + 101`.
const T0: u64 = 1_000_000_000_000;
/// Leader time of a row's `pre` batch: `pre[i]` gets `T1 + i`.
const T1: u64 = T0 + 1_000_000;
/// Default leader time of a row's batch.
const T2: u64 = T1 + 1_000_000;
/// A valid imported timestamp for a row's batch at `T2`.
const TI: u64 = T2 - 100;
/// Leader time so late that a 2-second timeout passes 2^63.
const LATE: u64 = TIMESTAMP_MAX - NS;
const MAX: u128 = u128::MAX;

fn fixture() -> L {
    let mut l = ledger();
    let accounts = [
        acct(A, 1, AF::empty()),
        acct(B, 1, AF::empty()),
        acct(C, 1, AF::empty()),
        acct(D, 1, AF::empty()),
        acct(DLIM, 1, AF::DEBITS_MUST_NOT_EXCEED_CREDITS),
        acct(CLIM, 1, AF::CREDITS_MUST_NOT_EXCEED_DEBITS),
        acct(HIST, 1, AF::HISTORY),
        acct(L2, 2, AF::empty()),
        acct(SHUT, 1, AF::CLOSED),
    ];
    let r = l.create_accounts(&accounts, &ctx(T0)).unwrap();
    assert!(r.iter().all(|r| r.as_u32() == 0), "fixture: {r:?}");
    let later = [acct(LATER, 1, AF::empty()), acct(LATER2, 1, AF::empty())];
    let r = l.create_accounts(&later, &ctx(T0 + 100)).unwrap();
    assert!(r.iter().all(|r| r.as_u32() == 0), "fixture: {r:?}");
    l
}

/// A transfer with every user data field set, to compare retries against.
fn full(id: u128) -> Transfer {
    tr(id, A, B, 5).with(|t| {
        t.user_data_128 = 128;
        t.user_data_64 = 64;
        t.user_data_32 = 32;
    })
}

fn reserved(t: Transfer) -> Transfer {
    t.with(|t| t.flags |= RESERVED_BIT)
}

fn linked(t: Transfer) -> Transfer {
    t.flag(F::LINKED)
}

fn timeout(t: Transfer, seconds: u32) -> Transfer {
    t.with(|t| t.timeout = seconds)
}

struct Row {
    name: &'static str,
    pre: Vec<Transfer>,
    at: u64,
    batch: Vec<Transfer>,
    expect: Vec<R>,
}

fn row(name: &'static str, batch: Vec<Transfer>, expect: Vec<R>) -> Row {
    Row {
        name,
        pre: Vec::new(),
        at: T2,
        batch,
        expect,
    }
}

fn one(name: &'static str, t: Transfer, code: R) -> Row {
    row(name, vec![t], vec![code])
}

impl Row {
    fn pre(mut self, pre: Vec<Transfer>) -> Self {
        self.pre = pre;
        self
    }

    fn at(mut self, at: u64) -> Self {
        self.at = at;
        self
    }
}

fn rows() -> Vec<Row> {
    [rows_ids::rows(), rows_plain::rows(), rows_pending::rows()]
        .into_iter()
        .flatten()
        .collect()
}

/// Runs `pre` at `T1`, then expiry at the row's time (as the batch itself would), and returns
/// the ledger ready for the row's batch.
fn prepare(row: &Row) -> L {
    let mut l = fixture();
    if !row.pre.is_empty() {
        let r = l.create_transfers(&row.pre, &ctx(T1)).unwrap();
        assert!(
            r.iter().all(|r| *r == R::Ok),
            "row {:?} pre: {r:?}",
            row.name
        );
    }
    if !row.batch[0].flags().contains(F::IMPORTED) {
        l.apply(&Command::Pulse, &ctx(row.at), None).unwrap();
    }
    l
}

fn run(row: &Row) {
    let mut l = prepare(row);
    let before = dump(&l);
    let first = row.at.max(read_last_timestamp(l.store()).unwrap() + 1);
    let timed = l.create_transfers_timed(&row.batch, &ctx(row.at)).unwrap();
    let got = timed.codes;
    assert_eq!(got, row.expect, "row {:?}", row.name);
    // `ok`: the stored timestamp; `exists`: the original's; else the validation time, one
    // tick per event. A rolled-back imported event keeps its own timestamp.
    let linked = |j: usize| row.batch[j].flags().contains(F::LINKED);
    for (i, (t, r)) in row.batch.iter().zip(&got).enumerate() {
        let imported = t.flags().contains(F::IMPORTED);
        let want = match r {
            R::Ok | R::Exists => transfer(&l, t.id).map_or(0, |s| s.timestamp),
            _ if imported && rolled_back(linked, &got, &R::LinkedEventFailed, i) => t.timestamp,
            _ => first + i as u64,
        };
        assert_eq!(
            timed.timestamps[i], want,
            "row {:?}: timestamp of event {i} ({r})",
            row.name
        );
    }
    let created: BTreeSet<u128> = (row.pre.iter().map(|t| t.id))
        .chain(
            row.batch
                .iter()
                .zip(&got)
                .filter(|(_, r)| **r == R::Ok)
                .map(|(t, _)| t.id),
        )
        .collect();
    for (t, r) in row.batch.iter().zip(&got) {
        let stored = transfer(&l, t.id);
        if *r == R::Ok {
            assert!(stored.is_some(), "row {:?}: {} missing", row.name, t.id);
        } else if !created.contains(&t.id) {
            assert_eq!(stored, None, "row {:?}: failed {} stored", row.name, t.id);
        }
    }
    if got.iter().all(|r| *r != R::Ok) {
        let mut want = before;
        for (t, r) in row.batch.iter().zip(&got).filter(|(_, r)| r.is_transient()) {
            want = with_burned(want, t.id, r.as_u32());
        }
        assert!(
            dump(&l) == want,
            "row {:?} changed more than burned ids",
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
fn fixture_timestamps_are_as_documented() {
    let row = row("timing", vec![tr(10, A, B, 1)], vec![R::Ok])
        .pre(vec![tr(20, A, B, 1), tr(21, A, B, 1)]);
    let l = prepare(&row);
    assert_eq!(account(&l, A).unwrap().timestamp, T0);
    assert_eq!(account(&l, SHUT).unwrap().timestamp, T0 + 8);
    assert_eq!(transfer(&l, 20).unwrap().timestamp, T1);
    assert_eq!(transfer(&l, 21).unwrap().timestamp, T1 + 1);
}
