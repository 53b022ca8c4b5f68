//! `tally-benches`: workload generators shared by Tally's benchmarks.
//!
//! # Layout
//!
//! - this library: account id distributions and transfer batch generation for the apply
//!   benchmark, and [`load`], the cluster benchmark behind `tally benchmark`.
//! - `src/bin/apply.rs`: the ledger apply benchmark (state machine on the RocksDB store).
//!
//! Run `cargo run --release -p tally-benches --bin apply` for the default matrix.

#![forbid(unsafe_code)]

pub mod load;

use tally_ledger::{Account, AccountFlags, Transfer};

/// How transfers pick their accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Distribution {
    /// Every account equally likely.
    Uniform,
    /// 90% of transfers touch a hot set of 1% of the accounts (at least 2).
    Hot,
}

/// Generates accounts and transfer batches deterministically from a seed.
#[derive(Debug)]
pub struct Workload {
    rng: fastrand::Rng,
    accounts: u64,
    dist: Distribution,
    next_id: u128,
    /// The ledger every account and transfer uses.
    pub ledger: u32,
    /// Draw transfer ids at random instead of counting up: the worst case for the ledger's id
    /// index, whose entries hold 16 consecutive ids.
    pub random_ids: bool,
}

impl Workload {
    /// A workload over `accounts` accounts with ids `1..=accounts`.
    pub fn new(accounts: u64, dist: Distribution, seed: u64) -> Self {
        assert!(accounts >= 2, "a transfer needs two accounts");
        Self {
            rng: fastrand::Rng::with_seed(seed),
            accounts,
            dist,
            // Transfer ids are time-ordered (like the SDK's generator): above every account id.
            next_id: 1 << 64,
            ledger: 1,
            random_ids: false,
        }
    }

    /// The accounts to create, in batches of at most `batch` (ids `1..=accounts`).
    pub fn account_batches(&self, batch: usize) -> impl Iterator<Item = Vec<Account>> + '_ {
        let ledger = self.ledger;
        (1..=self.accounts)
            .collect::<Vec<_>>()
            .chunks(batch)
            .map(|ids| {
                ids.iter()
                    .map(|&id| Account {
                        id: u128::from(id),
                        ledger,
                        code: 1,
                        flags: AccountFlags::empty().bits(),
                        ..Account::default()
                    })
                    .collect()
            })
            .collect::<Vec<_>>()
            .into_iter()
    }

    fn pick(&mut self) -> u128 {
        let n = self.accounts;
        let id = match self.dist {
            Distribution::Uniform => self.rng.u64(1..=n),
            Distribution::Hot => {
                let hot = (n / 100).max(2);
                if self.rng.u8(0..10) < 9 {
                    self.rng.u64(1..=hot)
                } else {
                    self.rng.u64(1..=n)
                }
            }
        };
        u128::from(id)
    }

    /// One batch of `size` plain transfers between distinct accounts.
    pub fn transfer_batch(&mut self, size: usize) -> Vec<Transfer> {
        let mut out = Vec::with_capacity(size);
        for _ in 0..size {
            let dr = self.pick();
            let mut cr = self.pick();
            while cr == dr {
                cr = self.pick();
            }
            self.next_id += 1;
            let id = if self.random_ids {
                // Random 128-bit ids never repeat in practice; 0 and u128::MAX are reserved.
                self.rng.u128(1..u128::MAX)
            } else {
                self.next_id
            };
            out.push(Transfer {
                id,
                debit_account_id: dr,
                credit_account_id: cr,
                amount: u128::from(self.rng.u32(1..=1_000_000)),
                ledger: self.ledger,
                code: 1,
                ..Transfer::default()
            });
        }
        out
    }
}
