//! Model replay: the cluster's final state is what one single-threaded ledger makes of the
//! same transfers in the same (ledger timestamp) order; and every replica agrees.
//!
//! The accounts found at the end are created in timestamp order, then the transfers found at
//! the end are replayed in timestamp order through `tally_ledger` on a `MemStore`, each linked
//! chain as one command at its first event's timestamp, and finally a pulse far in the future
//! expires whatever is still pending (the harness waits for the cluster to do the same before it
//! reads the final state). Every replayed event must answer `Ok`, and every account's four
//! balances must equal the cluster's.
//!
//! - `replay-rejected`: an event the cluster kept is refused by the model.
//! - `replay-mismatch`: the model ends with other balances than the cluster.
//! - `replica-divergence`: a node's stale read after healing differs from the leader's state.

use std::collections::BTreeMap;

use tally_ledger::{Command, Context, CreateTransferResult, Ledger, MemStore, Outcome};
use tally_proto::u128_from_wire;

use super::{Anomaly, FinalState};
use crate::client::{balance, to_core_transfer};
use crate::history::Balance;

const LINKED: u16 = 1;
/// How far past the last event the final pulse runs: far beyond any pending timeout.
const FINAL_PULSE_NS: u64 = 1_000_000_000_000_000;

/// Replays the final state and compares; also compares the replicas.
pub fn check(fin: &FinalState) -> Vec<Anomaly> {
    let mut out = match replay(fin) {
        Ok(model) => compare(fin, &model),
        Err(a) => vec![a],
    };
    let want: BTreeMap<u128, Balance> = fin
        .accounts
        .iter()
        .map(|a| (u128_from_wire(a.id), balance(a)))
        .collect();
    for (node, bs) in &fin.replicas {
        let got: BTreeMap<u128, Balance> = bs.iter().map(|b| (b.id, *b)).collect();
        if got != want {
            out.push(Anomaly::new(
                "replica-divergence",
                format!("node {node}: {}", diff(&want, &got)),
            ));
        }
    }
    out
}

/// The model's balances after replaying `fin`.
fn replay(fin: &FinalState) -> Result<BTreeMap<u128, Balance>, Anomaly> {
    let fail = |e: String| Anomaly::new("replay-rejected", e);
    let mut ledger = Ledger::open(MemStore::new()).map_err(|e| fail(e.to_string()))?;
    let accounts = create_accounts(&mut ledger, fin)?;
    let mut ts: Vec<tally_ledger::Transfer> = fin.transfers.iter().map(to_core_transfer).collect();
    ts.sort_by_key(|t| t.timestamp);
    let mut last = 0;
    for chain in chains(&ts) {
        let ctx = Context {
            timestamp: chain[0].timestamp,
        };
        let batch: Vec<_> = chain
            .iter()
            .map(|t| tally_ledger::Transfer { timestamp: 0, ..*t })
            .collect();
        let r = ledger
            .create_transfers(&batch, &ctx)
            .map_err(|e| fail(e.to_string()))?;
        if r.iter().any(|r| *r != CreateTransferResult::Ok) {
            return Err(fail(format!(
                "chain {:?}: {r:?}",
                chain.iter().map(|t| t.id).collect::<Vec<_>>()
            )));
        }
        last = chain[chain.len() - 1].timestamp;
    }
    let pulse = Context {
        timestamp: last.saturating_add(FINAL_PULSE_NS),
    };
    match ledger.apply(&Command::Pulse, &pulse, None) {
        Ok(Outcome::Pulse { .. }) => {}
        other => return Err(fail(format!("final pulse: {other:?}"))),
    }
    let ids: Vec<u128> = accounts.iter().map(|a| a.id).collect();
    let got = tally_ledger::query::lookup_accounts(ledger.store(), &ids)
        .map_err(|e| fail(e.to_string()))?;
    Ok(got
        .iter()
        .map(|a| {
            let b = Balance {
                id: a.id,
                debits_pending: a.debits_pending,
                debits_posted: a.debits_posted,
                credits_pending: a.credits_pending,
                credits_posted: a.credits_posted,
            };
            (a.id, b)
        })
        .collect())
}

/// Creates the accounts found at the end, in timestamp order, each at its own timestamp.
fn create_accounts(
    ledger: &mut Ledger<MemStore>,
    fin: &FinalState,
) -> Result<Vec<tally_ledger::Account>, Anomaly> {
    let fail = |e: String| Anomaly::new("replay-rejected", e);
    let mut accounts: Vec<tally_ledger::Account> = fin
        .accounts
        .iter()
        .map(|a| tally_ledger::Account {
            id: u128_from_wire(a.id),
            user_data_128: u128_from_wire(a.user_data_128),
            user_data_64: a.user_data_64,
            user_data_32: a.user_data_32,
            ledger: a.ledger,
            code: u16::try_from(a.code).unwrap_or(u16::MAX),
            flags: u16::try_from(a.flags).unwrap_or(u16::MAX),
            timestamp: a.timestamp,
            ..Default::default()
        })
        .collect();
    accounts.sort_by_key(|a| a.timestamp);
    for a in &accounts {
        let ctx = Context {
            timestamp: a.timestamp,
        };
        let r = ledger
            .create_accounts(&[tally_ledger::Account { timestamp: 0, ..*a }], &ctx)
            .map_err(|e| fail(e.to_string()))?;
        if r.iter().any(|r| *r as u32 != 0) {
            return Err(fail(format!("account {}: {r:?}", a.id)));
        }
    }
    Ok(accounts)
}

/// Splits timestamp-ordered transfers into linked chains (a chain ends at an unlinked event).
fn chains(ts: &[tally_ledger::Transfer]) -> Vec<&[tally_ledger::Transfer]> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, t) in ts.iter().enumerate() {
        if t.flags & LINKED == 0 {
            out.push(&ts[start..=i]);
            start = i + 1;
        }
    }
    if start < ts.len() {
        out.push(&ts[start..]);
    }
    out
}

fn compare(fin: &FinalState, model: &BTreeMap<u128, Balance>) -> Vec<Anomaly> {
    let got: BTreeMap<u128, Balance> = fin
        .accounts
        .iter()
        .map(|a| (u128_from_wire(a.id), balance(a)))
        .collect();
    if &got == model {
        return vec![];
    }
    vec![Anomaly::new("replay-mismatch", diff(model, &got))]
}

/// The accounts where `got` differs from `want`.
fn diff(want: &BTreeMap<u128, Balance>, got: &BTreeMap<u128, Balance>) -> String {
    let mut s = Vec::new();
    for (id, w) in want {
        match got.get(id) {
            Some(g) if g == w => {}
            g => s.push(format!("account {id}: expected {w:?}, got {g:?}")),
        }
    }
    for id in got.keys().filter(|id| !want.contains_key(id)) {
        s.push(format!("unexpected account {id}"));
    }
    s.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::synth::{account, bal, wire, xfer};

    const T0: u64 = 1_700_000_000_000_000_000;

    fn state(found: Vec<tally_proto::v1::Transfer>, b1: Balance, b2: Balance) -> FinalState {
        FinalState {
            accounts: vec![account(1, b1, 0, T0), account(2, b2, 0, T0 + 1)],
            transfers: found,
            replicas: BTreeMap::new(),
        }
    }

    #[test]
    fn the_cluster_state_of_its_transfers_replays_exactly() {
        let mut pending = xfer(11, 1, 2, 5);
        pending.flags = 2;
        pending.timeout = 1;
        let mut linked = xfer(12, 1, 2, 30);
        linked.flags = 1;
        let found = vec![
            wire(&xfer(10, 1, 2, 40), T0 + 10),
            wire(&pending, T0 + 20),
            wire(&linked, T0 + 30),
            wire(&xfer(13, 2, 1, 5), T0 + 31),
        ];
        // The pending transfer expired: only posted amounts remain.
        let mut fin = state(found, bal(1, 5, 70), bal(2, 70, 5));
        assert_eq!(check(&fin), vec![]);
        fin.replicas.insert(3, vec![bal(1, 5, 70), bal(2, 70, 5)]);
        assert_eq!(check(&fin), vec![]);
    }

    #[test]
    fn a_balance_the_transfers_do_not_explain_is_caught() {
        let found = vec![wire(&xfer(10, 1, 2, 40), T0 + 10)];
        let a = check(&state(found, bal(1, 0, 40), bal(2, 80, 0)));
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind, "replay-mismatch");
        assert!(a[0].detail.contains("account 2"), "{}", a[0].detail);
    }

    #[test]
    fn a_lagging_replica_is_caught() {
        let found = vec![wire(&xfer(10, 1, 2, 40), T0 + 10)];
        let mut fin = state(found, bal(1, 0, 40), bal(2, 40, 0));
        fin.replicas.insert(2, vec![bal(1, 0, 0), bal(2, 0, 0)]);
        let a = check(&fin);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind, "replica-divergence");
    }
}
