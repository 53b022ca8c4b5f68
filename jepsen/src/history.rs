//! The history: every operation's invocation and completion, as Jepsen records them.
//!
//! One JSON object per line: `{"process", "type", "f", "value", "time_ns", "error"?}`.
//! `type` is `invoke` when a client starts an operation, then exactly one of `ok` (it happened,
//! and `value` holds what it returned), `fail` (it certainly did not happen) or `info` (it may
//! or may not have happened: a timeout, a dropped connection, a leader that changed after the
//! proposal). An `info` operation stays concurrent with everything after its invocation.
//! Process 0 is the nemesis; clients are 1, 2, ... and each runs one operation at a time.
//! `time_ns` counts from the start of the run on a monotonic clock.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// The process id of the nemesis.
pub const NEMESIS: u64 = 0;

/// What an event says about its operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Type {
    /// The operation started.
    Invoke,
    /// It happened.
    Ok,
    /// It certainly did not happen.
    Fail,
    /// Unknown whether it happened.
    Info,
}

/// The operation's function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum F {
    /// One `CreateTransfers` request (one transfer or a linked chain).
    Transfer,
    /// One linearizable `LookupAccounts` of every bank account.
    Read,
    /// A fault started or healed (process 0).
    Nemesis,
}

/// A transfer as the client sent it (the fields the checkers need).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Xfer {
    /// Transfer id (the idempotency key).
    pub id: u128,
    /// Account debited (0 on post/void: taken from the pending transfer).
    pub debit: u128,
    /// Account credited (0 on post/void).
    pub credit: u128,
    /// Amount (on post: the amount posted).
    pub amount: u128,
    /// For post/void: the pending transfer.
    pub pending_id: u128,
    /// `TransferFlag` bits.
    pub flags: u32,
    /// Seconds until a pending transfer expires.
    pub timeout: u32,
    /// Ledger of both accounts.
    pub ledger: u32,
}

impl Xfer {
    /// A transfer of `amount` from `debit` to `credit` on `ledger` with `flags`, no pending id
    /// and no timeout (set those fields afterwards where needed).
    pub fn new(id: u128, debit: u128, credit: u128, amount: u128, flags: u32, ledger: u32) -> Xfer {
        Xfer {
            id,
            debit,
            credit,
            amount,
            pending_id: 0,
            flags,
            timeout: 0,
            ledger,
        }
    }
}

/// An account's four balances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Balance {
    /// Account id.
    pub id: u128,
    /// Pending debits.
    pub debits_pending: u128,
    /// Posted debits.
    pub debits_posted: u128,
    /// Pending credits.
    pub credits_pending: u128,
    /// Posted credits.
    pub credits_posted: u128,
}

impl Balance {
    /// Posted credits minus posted debits.
    pub fn net_posted(&self) -> i128 {
        self.credits_posted as i128 - self.debits_posted as i128
    }
}

/// What an operation carried or returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    /// A transfer request; `results` (one code per transfer) only on `ok`.
    Transfers {
        /// The events, in request order.
        transfers: Vec<Xfer>,
        /// `CreateTransferResult` codes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        results: Option<Vec<u32>>,
    },
    /// A read; `balances` only on `ok`.
    Read {
        /// Balances of every account asked for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        balances: Option<Vec<Balance>>,
    },
    /// A fault (`kind` says which) or its heal.
    Fault {
        /// e.g. `kill`, `partition-leader`, `heal`.
        kind: String,
        /// The nodes or links affected.
        detail: String,
    },
}

/// One line of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// Who ran it.
    pub process: u64,
    /// invoke / ok / fail / info.
    #[serde(rename = "type")]
    pub kind: Type,
    /// What it does.
    pub f: F,
    /// Its argument or result.
    pub value: Value,
    /// When, in ns since the run started.
    pub time_ns: u64,
    /// Why it failed or is indeterminate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A thread-safe, append-only history shared by clients and the nemesis.
#[derive(Debug, Clone)]
pub struct Recorder {
    start: Instant,
    ops: Arc<Mutex<Vec<Op>>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// An empty history whose clock starts now.
    pub fn new() -> Recorder {
        Recorder {
            start: Instant::now(),
            ops: Arc::default(),
        }
    }

    /// Appends an event stamped now.
    pub fn record(&self, process: u64, kind: Type, f: F, value: Value, error: Option<String>) {
        let mut ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        // Stamped under the lock, so times never go backwards along the history.
        let time_ns = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        ops.push(Op {
            process,
            kind,
            f,
            value,
            time_ns,
            error,
        });
    }

    /// A copy of the history so far.
    pub fn snapshot(&self) -> Vec<Op> {
        self.ops.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Writes `ops` as JSON lines.
pub fn write_jsonl(path: &Path, ops: &[Op]) -> anyhow::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    for op in ops {
        serde_json::to_writer(&mut w, op)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(())
}

/// Reads a history written by [`write_jsonl`].
pub fn read_jsonl(path: &Path) -> anyhow::Result<Vec<Op>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Ok(serde_json::from_str(l)?))
        .collect()
}

/// An invocation with its completion. `done_ns` is `None` for `info` (and for an operation
/// still open when the history ends): it may take effect at any time after `invoke_ns`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    /// Who ran it.
    pub process: u64,
    /// What it does.
    pub f: F,
    /// ok / fail / info.
    pub kind: Type,
    /// The argument.
    pub invoke: Value,
    /// The completion's value (results, balances), same as `invoke` for fail/info.
    pub result: Value,
    /// Invocation time.
    pub invoke_ns: u64,
    /// Completion time, if it is known to be over.
    pub done_ns: Option<u64>,
}

/// Matches each client invocation with its process's next completion. Nemesis events are left
/// out.
pub fn pairs(ops: &[Op]) -> Vec<Pair> {
    let mut open: std::collections::HashMap<u64, &Op> = Default::default();
    let mut out = Vec::new();
    for op in ops.iter().filter(|o| o.process != NEMESIS) {
        if op.kind == Type::Invoke {
            if let Some(prev) = open.insert(op.process, op) {
                out.push(unfinished(prev));
            }
            continue;
        }
        let Some(inv) = open.remove(&op.process) else {
            continue;
        };
        out.push(Pair {
            process: op.process,
            f: inv.f,
            kind: op.kind,
            invoke: inv.value.clone(),
            result: op.value.clone(),
            invoke_ns: inv.time_ns,
            done_ns: (op.kind != Type::Info).then_some(op.time_ns),
        });
    }
    out.extend(open.into_values().map(unfinished));
    out.sort_by_key(|p| p.invoke_ns);
    out
}

fn unfinished(inv: &Op) -> Pair {
    Pair {
        process: inv.process,
        f: inv.f,
        kind: Type::Info,
        invoke: inv.value.clone(),
        result: inv.value.clone(),
        invoke_ns: inv.time_ns,
        done_ns: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(balances: Option<Vec<Balance>>) -> Value {
        Value::Read { balances }
    }

    #[test]
    fn jsonl_round_trips_and_uses_jepsen_field_names() {
        let r = Recorder::new();
        r.record(1, Type::Invoke, F::Read, read(None), None);
        r.record(1, Type::Info, F::Read, read(None), Some("timeout".into()));
        let ops = r.snapshot();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h.jsonl");
        write_jsonl(&p, &ops).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["type"], "invoke");
        assert_eq!(first["f"], "read");
        assert_eq!(first["process"], 1);
        assert_eq!(read_jsonl(&p).unwrap(), ops);
    }

    #[test]
    fn pairs_match_completions_and_leave_info_open() {
        let r = Recorder::new();
        r.record(1, Type::Invoke, F::Read, read(None), None);
        r.record(2, Type::Invoke, F::Read, read(None), None);
        r.record(2, Type::Info, F::Read, read(None), None);
        r.record(1, Type::Ok, F::Read, read(Some(vec![])), None);
        r.record(3, Type::Invoke, F::Read, read(None), None);
        let p = pairs(&r.snapshot());
        assert_eq!(p.len(), 3);
        assert_eq!((p[0].process, p[0].kind), (1, Type::Ok));
        assert!(p[0].done_ns.is_some());
        assert_eq!(p[0].result, read(Some(vec![])));
        assert_eq!(
            (p[1].process, p[1].kind, p[1].done_ns),
            (2, Type::Info, None)
        );
        assert_eq!(
            (p[2].process, p[2].kind, p[2].done_ns),
            (3, Type::Info, None)
        );
    }
}
