//! Checkers: pure functions from the history (and the final state) to a list of anomalies.
//!
//! - [`bank`]: conservation of money in every successful read, and balance limits.
//! - [`idempotency`]: no id applied twice; every acknowledged transfer present with its
//!   acknowledged outcome; no transfer whose every attempt certainly failed is present.
//! - [`replay`]: the final state equals a single-threaded replay of every transfer found at the
//!   end, in ledger-timestamp order, through `tally_ledger` on a `MemStore`; every replica ends
//!   with the same balances.
//! - [`linear`]: Wing-Gong-Lowe linearizability search, per account, over posted balances read
//!   and transfers applied.
//!
//! An `info` operation is indeterminate: checkers may resolve it only from the final state
//! (was its id found?), never assume either outcome.

use std::collections::BTreeMap;

use serde::Serialize;
use tally_proto::v1;

use crate::history::{Balance, Pair};

pub mod bank;
pub mod idempotency;
pub mod linear;
pub mod replay;

/// One violation found by a checker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    /// Short machine-readable name, e.g. `wrong-total`, `lost-ack`, `nonlinearizable`.
    pub kind: String,
    /// What exactly was seen.
    pub detail: String,
}

impl Anomaly {
    /// An anomaly of `kind`.
    pub fn new(kind: &str, detail: impl Into<String>) -> Anomaly {
        Anomaly {
            kind: kind.into(),
            detail: detail.into(),
        }
    }
}

/// What the cluster holds once every fault is healed and every pending transfer resolved.
#[derive(Debug, Clone, Default)]
pub struct FinalState {
    /// Every account of the run, from a linearizable read.
    pub accounts: Vec<v1::Account>,
    /// Every transfer id the run ever sent that exists at the end (linearizable lookup).
    pub transfers: Vec<v1::Transfer>,
    /// Each node's balances of every account, from a stale read of that node.
    pub replicas: BTreeMap<u64, Vec<Balance>>,
}

/// What the checkers need to know about the workload.
#[derive(Debug, Clone)]
pub struct Expect {
    /// The bank's accounts.
    pub bank_ids: Vec<u128>,
    /// What each bank account was funded with.
    pub funding: u128,
}

impl Expect {
    /// The money in the bank.
    pub fn total(&self) -> i128 {
        self.funding as i128 * self.bank_ids.len() as i128
    }
}

/// Runs every checker; `Unknown` results of the linearizability search are reported as
/// `notes`, not anomalies.
pub fn check_all(pairs: &[Pair], fin: &FinalState, expect: &Expect) -> (Vec<Anomaly>, Vec<String>) {
    let mut anomalies = bank::check(pairs, fin, expect);
    anomalies.extend(idempotency::check(pairs, fin));
    anomalies.extend(replay::check(fin));
    let (lin, notes) = linear::check(pairs, fin, expect, linear::Limits::default());
    anomalies.extend(lin);
    (anomalies, notes)
}

#[cfg(test)]
pub(crate) mod synth {
    //! Builders of synthetic histories for the checkers' tests.
    use super::*;
    use crate::history::{Type, Value, Xfer, F};

    pub fn xfer(id: u128, debit: u128, credit: u128, amount: u128) -> Xfer {
        Xfer::new(id, debit, credit, amount, 0, 1)
    }

    pub fn transfer(
        kind: Type,
        xs: Vec<Xfer>,
        results: Option<Vec<u32>>,
        t: (u64, Option<u64>),
    ) -> Pair {
        Pair {
            process: 1,
            f: F::Transfer,
            kind,
            invoke: Value::Transfers {
                transfers: xs.clone(),
                results: None,
            },
            result: Value::Transfers {
                transfers: xs,
                results,
            },
            invoke_ns: t.0,
            done_ns: t.1,
        }
    }

    pub fn read(balances: Vec<Balance>, t: (u64, u64)) -> Pair {
        Pair {
            process: 2,
            f: F::Read,
            kind: Type::Ok,
            invoke: Value::Read { balances: None },
            result: Value::Read {
                balances: Some(balances),
            },
            invoke_ns: t.0,
            done_ns: Some(t.1),
        }
    }

    pub fn bal(id: u128, credits: u128, debits: u128) -> Balance {
        Balance {
            id,
            credits_posted: credits,
            debits_posted: debits,
            ..Balance::default()
        }
    }

    pub fn wire(x: &Xfer, timestamp: u64) -> v1::Transfer {
        let mut t = crate::client::to_wire(x);
        t.timestamp = timestamp;
        t
    }

    pub fn account(id: u128, b: Balance, flags: u32, timestamp: u64) -> v1::Account {
        v1::Account {
            id: Some(v1::U128::new(id)),
            credits_posted: tally_proto::u128_to_wire(b.credits_posted),
            debits_posted: tally_proto::u128_to_wire(b.debits_posted),
            credits_pending: tally_proto::u128_to_wire(b.credits_pending),
            debits_pending: tally_proto::u128_to_wire(b.debits_pending),
            ledger: 1,
            code: 1,
            flags,
            timestamp,
            ..Default::default()
        }
    }
}
