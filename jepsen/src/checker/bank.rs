//! Bank conservation: money is only moved, never made or lost, and limits hold.
//!
//! Every `ok` read of the bank accounts (and the final state) must show: all accounts present;
//! posted credits minus posted debits summing to the funded total; pending debits equal to
//! pending credits; and on each account (all have `debits_must_not_exceed_credits`)
//! `debits_pending + debits_posted <= credits_posted`.

use super::{Anomaly, Expect, FinalState};
use crate::client::balance;
use crate::history::{Balance, Pair, Type, Value, F};

/// Checks every ok read and the final state.
pub fn check(pairs: &[Pair], fin: &FinalState, expect: &Expect) -> Vec<Anomaly> {
    let mut out = Vec::new();
    for p in pairs
        .iter()
        .filter(|p| p.f == F::Read && p.kind == Type::Ok)
    {
        if let Value::Read { balances: Some(bs) } = &p.result {
            out.extend(check_read(
                bs,
                expect,
                &format!("read at {} ns", p.invoke_ns),
            ));
        }
    }
    if !fin.accounts.is_empty() {
        let bank: Vec<Balance> = fin
            .accounts
            .iter()
            .map(balance)
            .filter(|b| expect.bank_ids.contains(&b.id))
            .collect();
        out.extend(check_read(&bank, expect, "final state"));
    }
    out
}

/// The anomalies in one snapshot of the bank accounts.
pub fn check_read(bs: &[Balance], expect: &Expect, at: &str) -> Vec<Anomaly> {
    let mut out = Vec::new();
    let mut ids: Vec<u128> = bs.iter().map(|b| b.id).collect();
    ids.sort_unstable();
    if ids != expect.bank_ids {
        out.push(Anomaly::new(
            "missing-accounts",
            format!("{at}: saw accounts {ids:?}"),
        ));
        return out;
    }
    let total: i128 = bs.iter().map(Balance::net_posted).sum();
    if total != expect.total() {
        out.push(Anomaly::new(
            "wrong-total",
            format!("{at}: bank holds {total}, expected {}", expect.total()),
        ));
    }
    let dp: u128 = bs.iter().map(|b| b.debits_pending).sum();
    let cp: u128 = bs.iter().map(|b| b.credits_pending).sum();
    if dp != cp {
        out.push(Anomaly::new(
            "unbalanced-pending",
            format!("{at}: pending debits {dp} != pending credits {cp}"),
        ));
    }
    for b in bs {
        if b.debits_pending + b.debits_posted > b.credits_posted {
            out.push(Anomaly::new(
                "negative-balance",
                format!("{at}: account {} over its limit: {b:?}", b.id),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::synth::{bal, read};

    fn expect() -> Expect {
        Expect {
            bank_ids: vec![101, 102],
            funding: 100,
        }
    }

    #[test]
    fn conserved_reads_pass() {
        let h = [read(vec![bal(101, 100, 30), bal(102, 130, 0)], (0, 1))];
        assert_eq!(check(&h, &FinalState::default(), &expect()), vec![]);
    }

    #[test]
    fn a_read_with_money_created_is_caught() {
        let h = [read(vec![bal(101, 100, 0), bal(102, 130, 0)], (0, 1))];
        let a = check(&h, &FinalState::default(), &expect());
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind, "wrong-total");
    }

    #[test]
    fn an_overdrawn_account_and_unbalanced_pending_are_caught() {
        let mut over = bal(101, 100, 120);
        over.debits_pending = 5;
        let h = [read(vec![over, bal(102, 220, 0)], (0, 1))];
        let kinds: Vec<String> = check(&h, &FinalState::default(), &expect())
            .into_iter()
            .map(|a| a.kind)
            .collect();
        assert_eq!(kinds, ["unbalanced-pending", "negative-balance"]);
    }

    #[test]
    fn a_read_missing_an_account_is_caught() {
        let h = [read(vec![bal(101, 200, 0)], (0, 1))];
        assert_eq!(
            check(&h, &FinalState::default(), &expect())[0].kind,
            "missing-accounts"
        );
    }
}
