//! Linearizability of posted balances, per account, by Wing-Gong-Lowe search.
//!
//! Model: each bank account is an object whose state is its net posted balance (credits posted
//! minus debits posted), starting at the funding. A transfer request that applied is one
//! operation adding its net effect on that account (plain and linked transfers and posts move
//! posted money; pending transfers, voids and expiries move only pending money, so they are no
//! operation here). A read is an operation that returns the balance it saw. If the whole history
//! is linearizable, so is its projection on each account, so a non-linearizable projection is a
//! real anomaly; the per-account split keeps the search small.
//!
//! Which requests applied: `ok` ones, by their per-event results; `info` ones whose ids exist at
//! the end (they may take effect at any time after their invocation); never `fail` ones.
//!
//! The search (Lowe, "Testing for linearizability", 2017): walk the list of call and return
//! events; linearize a pending call whose effect is allowed, backtrack when a return is reached
//! whose call is not yet linearized; memoise (set of linearized ops, state) so no configuration
//! is explored twice. A search that exceeds its step budget is `Unknown`, reported as a note.

use std::collections::{HashMap, HashSet};

use tally_proto::u128_from_wire;

use super::{Anomaly, Expect, FinalState};
use crate::history::{Pair, Type, Value, Xfer, F};
use crate::workload::RESULT_OK;

const PENDING: u32 = 2;
const VOID: u32 = 8;

/// Bounds on the search.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most operations per account; larger histories are not checked (a note says so).
    pub max_ops: usize,
    /// Most search steps per account.
    pub max_steps: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_ops: 200_000,
            max_steps: 20_000_000,
        }
    }
}

/// One operation on one account.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    /// Adds this to the balance.
    Add(i128),
    /// Saw this balance.
    Read(i128),
}

/// An operation with its window; `done == u64::MAX` for one that never returned.
#[derive(Debug, Clone, Copy)]
struct Timed {
    op: Op,
    call: u64,
    done: u64,
}

/// Result of one account's search.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Linearizable,
    NotLinearizable,
    Unknown(String),
}

/// Checks every bank account; anomalies for the non-linearizable ones, notes for the rest.
pub fn check(
    pairs: &[Pair],
    fin: &FinalState,
    expect: &Expect,
    lim: Limits,
) -> (Vec<Anomaly>, Vec<String>) {
    let found: HashSet<u128> = fin.transfers.iter().map(|t| u128_from_wire(t.id)).collect();
    let (mut anomalies, mut notes) = (Vec::new(), Vec::new());
    for &account in &expect.bank_ids {
        let ops = project(pairs, account, &found);
        match search(&ops, expect.funding as i128, lim) {
            Verdict::Linearizable => {}
            Verdict::NotLinearizable => anomalies.push(Anomaly::new(
                "nonlinearizable",
                format!(
                    "account {account}: no order of its {} operations explains the reads",
                    ops.len()
                ),
            )),
            Verdict::Unknown(why) => {
                notes.push(format!("account {account}: linearizability unknown: {why}"))
            }
        }
    }
    (anomalies, notes)
}

/// The operations of `pairs` on `account`.
fn project(pairs: &[Pair], account: u128, found: &HashSet<u128>) -> Vec<Timed> {
    let mut out = Vec::new();
    for p in pairs {
        let done = p.done_ns.unwrap_or(u64::MAX);
        let op = match (p.f, p.kind, &p.result) {
            (F::Read, Type::Ok, Value::Read { balances: Some(bs) }) => bs
                .iter()
                .find(|b| b.id == account)
                .map(|b| Op::Read(b.net_posted())),
            (
                F::Transfer,
                Type::Ok,
                Value::Transfers {
                    transfers,
                    results: Some(rs),
                },
            ) => {
                let applied = transfers
                    .iter()
                    .zip(rs)
                    .filter(|(_, r)| **r == RESULT_OK)
                    .map(|(x, _)| x);
                Some(Op::Add(effect(applied, account)))
            }
            (F::Transfer, Type::Info, Value::Transfers { transfers, .. })
                if transfers.first().is_some_and(|x| found.contains(&x.id)) =>
            {
                Some(Op::Add(effect(transfers.iter(), account)))
            }
            _ => None,
        };
        match op {
            Some(Op::Add(0)) | None => {}
            Some(op) => out.push(Timed {
                op,
                call: p.invoke_ns,
                done,
            }),
        }
    }
    out
}

/// Net posted effect of applied transfers on `account`.
fn effect<'a>(xs: impl Iterator<Item = &'a Xfer>, account: u128) -> i128 {
    xs.filter(|x| x.flags & (PENDING | VOID) == 0)
        .map(|x| {
            let a = x.amount as i128;
            (if x.credit == account { a } else { 0 }) - (if x.debit == account { a } else { 0 })
        })
        .sum()
}

/// Lowe's search over the call/return event list of `ops`.
fn search(ops: &[Timed], init: i128, lim: Limits) -> Verdict {
    if ops.len() > lim.max_ops {
        return Verdict::Unknown(format!("{} operations, limit {}", ops.len(), lim.max_ops));
    }
    // Events: (time, is_return, op). Calls sort before returns at equal times, so operations
    // that touch are concurrent (the conservative choice).
    let mut ev: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * ops.len());
    for (i, o) in ops.iter().enumerate() {
        ev.push((o.call, false, i));
        ev.push((o.done, true, i));
    }
    ev.sort();
    let n = ev.len();
    // Doubly linked list over event indexes, with a head sentinel at n.
    let (mut next, mut prev) = (vec![0usize; n + 1], vec![0usize; n + 1]);
    let mut ret_of = vec![0usize; ops.len()];
    for i in 0..n {
        next[i] = if i + 1 < n { i + 1 } else { n };
        prev[i] = if i == 0 { n } else { i - 1 };
        if ev[i].1 {
            ret_of[ev[i].2] = i;
        }
    }
    next[n] = if n == 0 { n } else { 0 };
    prev[n] = n.saturating_sub(1);
    let unlink = |e: usize, next: &mut Vec<usize>, prev: &mut Vec<usize>| {
        next[prev[e]] = next[e];
        prev[next[e]] = prev[e];
    };
    let relink = |e: usize, next: &mut Vec<usize>, prev: &mut Vec<usize>| {
        next[prev[e]] = e;
        prev[next[e]] = e;
    };
    // The set of linearized operations is memoised by its Zobrist hash (the XOR of a random
    // 128-bit key per member), updated in O(1) per step: storing the sets themselves costs
    // O(n) memory per configuration, too much for histories of 50k operations. A collision
    // (probability about configurations^2 / 2^128) could only prune a branch.
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let keys: Vec<u128> = (0..ops.len()).map(|_| rng.u128(..)).collect();
    let mut lin: u128 = 0;
    let mut seen: HashSet<(u128, i128)> = HashSet::new();
    let mut stack: Vec<(usize, i128)> = Vec::new();
    let mut state = init;
    let mut cur = next[n];
    let mut steps = 0u64;
    while next[n] != n {
        steps += 1;
        if steps > lim.max_steps {
            return Verdict::Unknown(format!("more than {} search steps", lim.max_steps));
        }
        let (_, is_return, op) = ev[cur];
        if !is_return {
            let new_state = match ops[op].op {
                Op::Add(d) => Some(state + d),
                Op::Read(v) => (v == state).then_some(state),
            };
            if let Some(s) = new_state {
                lin ^= keys[op];
                if seen.insert((lin, s)) {
                    stack.push((cur, state));
                    state = s;
                    unlink(cur, &mut next, &mut prev);
                    unlink(ret_of[op], &mut next, &mut prev);
                    cur = next[n];
                    continue;
                }
                lin ^= keys[op];
            }
            cur = next[cur];
        } else {
            let Some((call, s)) = stack.pop() else {
                return Verdict::NotLinearizable;
            };
            let op = ev[call].2;
            state = s;
            lin ^= keys[op];
            relink(ret_of[op], &mut next, &mut prev);
            relink(call, &mut next, &mut prev);
            cur = next[call];
        }
    }
    Verdict::Linearizable
}

/// Per-account counts of operations, for the summary.
pub fn sizes(pairs: &[Pair], fin: &FinalState, expect: &Expect) -> HashMap<u128, usize> {
    let found: HashSet<u128> = fin.transfers.iter().map(|t| u128_from_wire(t.id)).collect();
    expect
        .bank_ids
        .iter()
        .map(|&a| (a, project(pairs, a, &found).len()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::synth::{bal, read, transfer, wire, xfer};

    fn expect() -> Expect {
        Expect {
            bank_ids: vec![1, 2],
            funding: 100,
        }
    }

    fn run(h: &[Pair], fin: &FinalState) -> (Vec<Anomaly>, Vec<String>) {
        check(h, fin, &expect(), Limits::default())
    }

    #[test]
    fn a_stale_read_after_an_acknowledged_transfer_is_rejected() {
        let h = [
            transfer(
                Type::Ok,
                vec![xfer(9, 1, 2, 30)],
                Some(vec![RESULT_OK]),
                (0, Some(10)),
            ),
            // Starts after the transfer was acknowledged, yet sees the old balances.
            read(vec![bal(1, 100, 0), bal(2, 100, 0)], (20, 30)),
        ];
        let (a, notes) = run(&h, &FinalState::default());
        assert_eq!(notes, Vec::<String>::new());
        assert_eq!(a.len(), 2, "{a:?}");
        assert!(a.iter().all(|a| a.kind == "nonlinearizable"));
    }

    #[test]
    fn a_read_concurrent_with_a_transfer_may_see_either_state() {
        for seen in [0, 30] {
            let h = [
                transfer(
                    Type::Ok,
                    vec![xfer(9, 1, 2, 30)],
                    Some(vec![RESULT_OK]),
                    (0, Some(10)),
                ),
                read(vec![bal(1, 100, seen), bal(2, 100 + seen, 0)], (5, 30)),
                read(vec![bal(1, 100, 30), bal(2, 130, 0)], (40, 50)),
            ];
            assert_eq!(run(&h, &FinalState::default()), (vec![], vec![]));
        }
    }

    #[test]
    fn an_indeterminate_transfer_counts_only_if_it_exists_at_the_end() {
        let x = xfer(9, 1, 2, 30);
        let h = [
            transfer(Type::Info, vec![x], None, (0, None)),
            read(vec![bal(1, 100, 30), bal(2, 130, 0)], (50, 60)),
        ];
        let applied = FinalState {
            transfers: vec![wire(&x, 1)],
            ..FinalState::default()
        };
        assert_eq!(run(&h, &applied), (vec![], vec![]));
        // Not found at the end: the read saw a transfer that never happened.
        assert_eq!(run(&h, &FinalState::default()).0.len(), 2);
    }

    #[test]
    fn reads_going_back_in_time_are_rejected() {
        let h = [
            transfer(
                Type::Ok,
                vec![xfer(9, 1, 2, 30)],
                Some(vec![RESULT_OK]),
                (0, Some(100)),
            ),
            read(vec![bal(1, 100, 30), bal(2, 130, 0)], (10, 20)),
            read(vec![bal(1, 100, 0), bal(2, 100, 0)], (30, 40)),
        ];
        assert_eq!(run(&h, &FinalState::default()).0.len(), 2);
    }

    #[test]
    fn a_long_concurrent_history_is_decided_within_the_budget() {
        // 60k operations from 4 overlapping processes; each takes effect in its middle.
        let mut rng = fastrand::Rng::with_seed(3);
        let (mut ops, mut balance, mut t) = (Vec::new(), 0i128, 10u64);
        while ops.len() < 60_000 {
            t += 1;
            let op = if rng.bool() {
                let d = i128::from(rng.i32(-50..50));
                balance += d;
                Op::Add(d)
            } else {
                Op::Read(balance)
            };
            ops.push(Timed {
                op,
                call: 10 * t - rng.u64(0..25),
                done: 10 * t + rng.u64(1..25),
            });
        }
        assert_eq!(search(&ops, 0, Limits::default()), Verdict::Linearizable);
        // One read of a value nobody could have seen.
        ops[30_001] = Timed {
            op: Op::Read(1 << 40),
            ..ops[30_001]
        };
        assert_eq!(search(&ops, 0, Limits::default()), Verdict::NotLinearizable);
    }

    #[test]
    fn the_step_budget_turns_a_big_search_into_unknown() {
        let h: Vec<Pair> = (0..30)
            .map(|i| {
                transfer(
                    Type::Ok,
                    vec![xfer(i, 1, 2, 1)],
                    Some(vec![RESULT_OK]),
                    (0, Some(1000)),
                )
            })
            .chain([read(vec![bal(1, 100, 31), bal(2, 131, 0)], (2000, 2001))])
            .collect();
        let lim = Limits {
            max_ops: 100,
            max_steps: 1000,
        };
        let (a, notes) = check(&h, &FinalState::default(), &expect(), lim);
        assert_eq!(a, vec![]);
        assert_eq!(notes.len(), 2, "{notes:?}");
    }
}
