//! Accounts and transfers from a seed. The sequence of transfers is a pure function of the
//! seed and the run's id bases, so validation regenerates it instead of keeping a copy.

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};
use tally_client::{Account, Transfer, TransferFlags};

use super::BenchArgs;

/// How transfers choose their accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dist {
    /// Every account equally likely.
    Uniform,
    /// Zipfian (exponent 0.99, like YCSB): a few accounts take most transfers.
    Zipfian,
    /// 90% of transfers touch a hot set of 1% of the accounts (at least 2).
    Hot,
}

/// The ledger every account and transfer uses.
pub const LEDGER: u32 = 1;

/// A deterministic generator of one run's accounts and transfers.
#[derive(Debug, Clone)]
pub struct Gen {
    rng: StdRng,
    zipf: Option<Zipf<f64>>,
    accounts: u64,
    dist: Dist,
    pending_share: f64,
    pending_timeout: u32,
    /// Account `i` (1-based) has id `account_base + i`.
    pub account_base: u128,
    /// Transfer `k` (0-based) has id `transfer_base + k`.
    pub transfer_base: u128,
    next: u128,
    seed: u64,
}

impl Gen {
    /// A generator for `args`, with fresh id bases (time-ordered, so runs against the same
    /// cluster never collide).
    pub fn new(args: &BenchArgs) -> Self {
        let account_base = tally_client::id();
        let transfer_base = tally_client::id() + (1 << 40);
        Self::with_bases(args, account_base, transfer_base)
    }

    fn with_bases(args: &BenchArgs, account_base: u128, transfer_base: u128) -> Self {
        let zipf = (args.distribution == Dist::Zipfian)
            .then(|| Zipf::new(args.accounts as f64, 0.99).expect("valid zipf parameters"));
        Self {
            rng: StdRng::seed_from_u64(args.seed),
            zipf,
            accounts: args.accounts,
            dist: args.distribution,
            pending_share: args.pending_share,
            pending_timeout: args.pending_timeout,
            account_base,
            transfer_base,
            next: 0,
            seed: args.seed,
        }
    }

    /// A fresh generator that yields the same sequence again from the start.
    pub fn replay(&self) -> Self {
        let mut g = self.clone();
        g.rng = StdRng::seed_from_u64(self.seed);
        g.next = 0;
        g
    }

    /// Every account to create.
    pub fn accounts(&self) -> Vec<Account> {
        (1..=self.accounts)
            .map(|i| Account::new(self.account_base + u128::from(i), LEDGER, 1))
            .collect()
    }

    /// Ids of every account, in order.
    pub fn account_ids(&self) -> Vec<u128> {
        (1..=self.accounts)
            .map(|i| self.account_base + u128::from(i))
            .collect()
    }

    fn pick(&mut self) -> u128 {
        let n = self.accounts;
        let i = match (self.dist, &self.zipf) {
            (Dist::Zipfian, Some(z)) => (z.sample(&mut self.rng) as u64).clamp(1, n),
            (Dist::Hot, _) => {
                let hot = (n / 100).max(2);
                if self.rng.random_range(0..10) < 9 {
                    self.rng.random_range(1..=hot)
                } else {
                    self.rng.random_range(1..=n)
                }
            }
            _ => self.rng.random_range(1..=n),
        };
        self.account_base + u128::from(i)
    }

    /// The next transfer of the sequence.
    pub fn transfer(&mut self) -> Transfer {
        let dr = self.pick();
        let mut cr = self.pick();
        while cr == dr {
            cr = self.pick();
        }
        let amount = u128::from(self.rng.random_range(1..=1_000_000u32));
        let pending = self.pending_share > 0.0 && self.rng.random_bool(self.pending_share);
        let id = self.transfer_base + self.next;
        self.next += 1;
        let t = Transfer::new(id, dr, cr, amount, LEDGER, 1);
        if pending {
            t.pending(self.pending_timeout)
        } else {
            t
        }
    }

    /// The next `n` transfers.
    pub fn batch(&mut self, n: usize) -> Vec<Transfer> {
        (0..n).map(|_| self.transfer()).collect()
    }
}

/// Expected balances of every account after the first `count` transfers of `gen`'s sequence,
/// leaving out the ids in `failed`: `(debits_pending, debits_posted, credits_pending,
/// credits_posted)` per account, indexed like [`Gen::account_ids`].
pub fn expected_balances(
    gen: &Gen,
    count: u64,
    failed: &HashSet<u128>,
    pending: Pending,
) -> Vec<[u128; 4]> {
    let mut g = gen.replay();
    let mut out = vec![[0u128; 4]; g.accounts as usize];
    for _ in 0..count {
        let t = g.transfer();
        if failed.contains(&t.id) {
            continue;
        }
        if pending == Pending::Expired && t.flags.contains(TransferFlags::PENDING) {
            // Expiry released its reservation and posted nothing.
            continue;
        }
        let dr = (t.debit_account_id - g.account_base - 1) as usize;
        let cr = (t.credit_account_id - g.account_base - 1) as usize;
        let (d, c) = if t.flags.contains(TransferFlags::PENDING) {
            (0, 2)
        } else {
            (1, 3)
        };
        out[dr][d] += t.amount;
        out[cr][c] += t.amount;
    }
    out
}

/// What the pending transfers of a run are expected to be when it is validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// Still pending: their timeouts run past the end of the validation.
    Held,
    /// Expired: validation waited past their timeouts.
    Expired,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct A {
        #[command(flatten)]
        a: BenchArgs,
    }

    fn args(extra: &[&str]) -> BenchArgs {
        let mut v = vec!["x"];
        v.extend_from_slice(extra);
        A::parse_from(v).a
    }

    #[test]
    fn replay_yields_the_same_sequence() {
        let a = args(&["--distribution", "zipfian", "--pending-share", "0.3"]);
        let mut g = Gen::new(&a);
        let first = g.batch(1000);
        let again = g.replay().batch(1000);
        assert_eq!(first, again);
        assert!(first
            .iter()
            .all(|t| t.debit_account_id != t.credit_account_id));
        let pending = first
            .iter()
            .filter(|t| t.flags.contains(TransferFlags::PENDING))
            .count();
        assert!((200..400).contains(&pending), "{pending} pending of 1000");
    }

    #[test]
    fn hot_and_zipfian_skew_and_uniform_does_not() {
        let top_share = |d: &str| {
            let mut g = Gen::new(&args(&["--distribution", d, "--accounts", "10000"]));
            let base = g.account_base;
            let hits = (0..10_000).filter(|_| g.pick() - base <= 100).count();
            hits as f64 / 10_000.0
        };
        assert!(top_share("uniform") < 0.05);
        assert!(top_share("hot") > 0.8);
        assert!(top_share("zipfian") > 0.3);
    }

    #[test]
    fn expected_balances_balance() {
        let a = args(&["--accounts", "50", "--pending-share", "0.5"]);
        let g = Gen::new(&a);
        let b = expected_balances(&g, 500, &HashSet::new(), Pending::Held);
        let debits: u128 = b.iter().map(|x| x[0] + x[1]).sum();
        let credits: u128 = b.iter().map(|x| x[2] + x[3]).sum();
        assert_eq!(debits, credits);
        assert!(debits > 0);
        assert!(b.iter().any(|x| x[0] > 0), "some transfers are pending");
        // Expired, the pending amounts are gone and the posted ones stay.
        let e = expected_balances(&g, 500, &HashSet::new(), Pending::Expired);
        for (held, expired) in b.iter().zip(&e) {
            assert_eq!([0, held[1], 0, held[3]], *expired);
        }
    }
}
