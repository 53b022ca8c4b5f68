//! Exactly-once: no id applied twice, every acknowledged transfer kept as acknowledged.
//!
//! - `balance-mismatch`: an account's final posted debits or credits differ from the sum of the
//!   transfers found at the end (a transfer applied twice, or a lost effect).
//! - `lost-ack` / `ack-mismatch`: an attempt answered `Ok` or `Exists`, but the id is missing
//!   at the end, or stored with other fields.
//! - `double-ok`: two attempts of one id both answered `Ok` (the second must say `Exists`).
//! - `exists-without-prior-attempt`: `Exists` for an id that no earlier attempt may have applied.
//! - `failed-but-applied`: found at the end although an attempt answered a failure code, or
//!   every attempt certainly failed.
//! - `partial-chain`: some events of one request found, others not (requests are atomic).

use std::collections::{BTreeMap, HashMap};

use tally_proto::u128_from_wire;

use super::{Anomaly, FinalState};
use crate::client::balance;
use crate::history::{Pair, Type, Value, Xfer};
use crate::workload::{RESULT_EXISTS, RESULT_OK};

const POST: u32 = 4;
const PENDING: u32 = 2;
const VOID: u32 = 8;
const LINKED_EVENT_FAILED: u32 = 1;

/// One attempt of one id: its kind, the code answered (on ok), the id's Xfer.
struct Attempt {
    kind: Type,
    code: Option<u32>,
    /// Another event of the same response answered `Exists` (a resent chain).
    chain_exists: bool,
    sent: Xfer,
}

/// Checks the history against the final state.
pub fn check(pairs: &[Pair], fin: &FinalState) -> Vec<Anomaly> {
    let found: HashMap<u128, &tally_proto::v1::Transfer> = fin
        .transfers
        .iter()
        .map(|t| (u128_from_wire(t.id), t))
        .collect();
    let mut out = balances(fin, &found);
    let mut attempts: BTreeMap<u128, Vec<Attempt>> = BTreeMap::new();
    for p in pairs {
        let (Value::Transfers { transfers, .. }, Value::Transfers { results, .. }) =
            (&p.invoke, &p.result)
        else {
            continue;
        };
        let present = transfers
            .iter()
            .filter(|x| found.contains_key(&x.id))
            .count();
        if present != 0 && present != transfers.len() {
            out.push(Anomaly::new(
                "partial-chain",
                format!(
                    "{present} of {} events found: {transfers:?}",
                    transfers.len()
                ),
            ));
        }
        let codes = results.as_ref().filter(|_| p.kind == Type::Ok);
        let chain_exists = codes.is_some_and(|c| c.contains(&RESULT_EXISTS));
        for (i, x) in transfers.iter().enumerate() {
            attempts.entry(x.id).or_default().push(Attempt {
                kind: p.kind,
                code: codes.and_then(|c| c.get(i).copied()),
                chain_exists,
                sent: *x,
            });
        }
    }
    for (id, tries) in &attempts {
        out.extend(check_id(*id, tries, found.get(id).copied()));
    }
    out
}

fn check_id(
    id: u128,
    tries: &[Attempt],
    found: Option<&tally_proto::v1::Transfer>,
) -> Vec<Anomaly> {
    let mut out = Vec::new();
    let mut may_have_applied = false;
    let mut oks = 0;
    for a in tries {
        match a.code {
            Some(RESULT_OK) | Some(RESULT_EXISTS) => {
                if a.code == Some(RESULT_OK) {
                    oks += 1;
                } else if !may_have_applied {
                    out.push(Anomaly::new(
                        "exists-without-prior-attempt",
                        format!("id {id}"),
                    ));
                }
                match found {
                    None => out.push(Anomaly::new(
                        "lost-ack",
                        format!("id {id} acknowledged, missing at the end"),
                    )),
                    Some(t) if !same(&a.sent, t) => out.push(Anomaly::new(
                        "ack-mismatch",
                        format!("id {id}: sent {:?}, stored {t:?}", a.sent),
                    )),
                    Some(_) => {}
                }
            }
            Some(LINKED_EVENT_FAILED) if a.chain_exists => {}
            Some(code) if found.is_some() => out.push(Anomaly::new(
                "failed-but-applied",
                format!("id {id} answered code {code} but exists at the end"),
            )),
            _ => {}
        }
        may_have_applied |= a.kind != Type::Fail;
    }
    if oks > 1 {
        out.push(Anomaly::new(
            "double-ok",
            format!("id {id} answered Ok {oks} times"),
        ));
    }
    if !may_have_applied && found.is_some() {
        out.push(Anomaly::new(
            "failed-but-applied",
            format!("id {id}: every attempt failed, yet it exists at the end"),
        ));
    }
    out
}

/// Whether the stored transfer is the one sent. A void sent with amount 0 is stored with the
/// pending transfer's amount (as in TigerBeetle), so its amount is not compared.
fn same(x: &Xfer, t: &tally_proto::v1::Transfer) -> bool {
    let void_any_amount = x.flags & VOID != 0 && x.amount == 0;
    u128_from_wire(t.debit_account_id) == x.debit
        && u128_from_wire(t.credit_account_id) == x.credit
        && (void_any_amount || u128_from_wire(t.amount) == x.amount)
        && u128_from_wire(t.pending_id) == x.pending_id
        && t.flags == x.flags
        && t.ledger == x.ledger
}

/// Final posted debits and credits of every account against the transfers found.
fn balances(fin: &FinalState, found: &HashMap<u128, &tally_proto::v1::Transfer>) -> Vec<Anomaly> {
    let mut debits: HashMap<u128, u128> = HashMap::new();
    let mut credits: HashMap<u128, u128> = HashMap::new();
    for t in found.values() {
        if t.flags & (PENDING | VOID) != 0 {
            continue;
        }
        let (mut d, mut c) = (
            u128_from_wire(t.debit_account_id),
            u128_from_wire(t.credit_account_id),
        );
        if t.flags & POST != 0 && (d == 0 || c == 0) {
            let Some(p) = found.get(&u128_from_wire(t.pending_id)) else {
                continue;
            };
            (d, c) = (
                u128_from_wire(p.debit_account_id),
                u128_from_wire(p.credit_account_id),
            );
        }
        *debits.entry(d).or_default() += u128_from_wire(t.amount);
        *credits.entry(c).or_default() += u128_from_wire(t.amount);
    }
    let mut out = Vec::new();
    for b in fin.accounts.iter().map(balance) {
        let (d, c) = (
            debits.get(&b.id).copied().unwrap_or(0),
            credits.get(&b.id).copied().unwrap_or(0),
        );
        if (b.debits_posted, b.credits_posted) != (d, c) {
            out.push(Anomaly::new(
                "balance-mismatch",
                format!(
                    "account {}: posted debits/credits {}/{}, transfers found sum to {d}/{c}",
                    b.id, b.debits_posted, b.credits_posted
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::synth::{account, bal, transfer, wire, xfer};

    fn fin(accounts: Vec<(u128, u128, u128)>, found: Vec<tally_proto::v1::Transfer>) -> FinalState {
        FinalState {
            accounts: accounts
                .into_iter()
                .map(|(id, c, d)| account(id, bal(id, c, d), 0, 1))
                .collect(),
            transfers: found,
            ..FinalState::default()
        }
    }

    #[test]
    fn a_retried_transfer_applied_once_passes() {
        let x = xfer(7, 1, 2, 50);
        let h = [
            transfer(Type::Info, vec![x], None, (0, None)),
            transfer(Type::Ok, vec![x], Some(vec![RESULT_EXISTS]), (10, Some(20))),
        ];
        assert_eq!(
            check(&h, &fin(vec![(1, 0, 50), (2, 50, 0)], vec![wire(&x, 5)])),
            vec![]
        );
    }

    #[test]
    fn a_transfer_applied_twice_is_caught() {
        let x = xfer(7, 1, 2, 50);
        let h = [
            transfer(Type::Info, vec![x], None, (0, None)),
            transfer(Type::Ok, vec![x], Some(vec![RESULT_OK]), (10, Some(20))),
        ];
        // The cluster credited the account twice.
        let kinds: Vec<String> = check(&h, &fin(vec![(1, 0, 100), (2, 100, 0)], vec![wire(&x, 5)]))
            .into_iter()
            .map(|a| a.kind)
            .collect();
        assert_eq!(kinds, ["balance-mismatch", "balance-mismatch"]);
    }

    #[test]
    fn a_void_stored_with_the_pending_amount_matches_but_another_amount_does_not() {
        let mut void = xfer(7, 1, 2, 0);
        void.flags = VOID;
        void.pending_id = 6;
        let h = [transfer(
            Type::Ok,
            vec![void],
            Some(vec![RESULT_OK]),
            (0, Some(1)),
        )];
        let stored = xfer(7, 1, 2, 40);
        let mut stored_void = wire(&void, 5);
        stored_void.amount = wire(&stored, 5).amount;
        assert_eq!(check(&h, &fin(vec![], vec![stored_void])), vec![]);
        let mut plain = xfer(8, 1, 2, 10);
        let h = [transfer(
            Type::Ok,
            vec![plain],
            Some(vec![RESULT_OK]),
            (0, Some(1)),
        )];
        plain.amount = 11;
        assert_eq!(
            check(&h, &fin(vec![], vec![wire(&plain, 5)]))[0].kind,
            "ack-mismatch"
        );
    }

    #[test]
    fn a_lost_acknowledged_transfer_is_caught() {
        let x = xfer(7, 1, 2, 50);
        let h = [transfer(
            Type::Ok,
            vec![x],
            Some(vec![RESULT_OK]),
            (0, Some(1)),
        )];
        let a = check(&h, &fin(vec![(1, 0, 0), (2, 0, 0)], vec![]));
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind, "lost-ack");
    }

    #[test]
    fn exists_with_no_earlier_attempt_and_double_ok_are_caught() {
        let x = xfer(7, 1, 2, 50);
        let h = [
            transfer(Type::Ok, vec![x], Some(vec![RESULT_EXISTS]), (0, Some(1))),
            transfer(Type::Ok, vec![x], Some(vec![RESULT_OK]), (2, Some(3))),
            transfer(Type::Ok, vec![x], Some(vec![RESULT_OK]), (4, Some(5))),
        ];
        let kinds: Vec<String> = check(&h, &fin(vec![(1, 0, 50), (2, 50, 0)], vec![wire(&x, 5)]))
            .into_iter()
            .map(|a| a.kind)
            .collect();
        assert_eq!(kinds, ["exists-without-prior-attempt", "double-ok"]);
    }

    #[test]
    fn a_failed_transfer_found_and_a_partial_chain_are_caught() {
        let x = xfer(7, 1, 2, 50);
        let y = xfer(8, 2, 1, 50);
        let h = [
            transfer(Type::Fail, vec![x], None, (0, Some(1))),
            transfer(Type::Info, vec![y, xfer(9, 1, 2, 1)], None, (2, None)),
        ];
        let kinds: Vec<String> = check(
            &h,
            &fin(
                vec![(1, 50, 50), (2, 50, 50)],
                vec![wire(&x, 5), wire(&y, 6)],
            ),
        )
        .into_iter()
        .map(|a| a.kind)
        .collect();
        assert_eq!(kinds, ["partial-chain", "failed-but-applied"]);
    }
}
