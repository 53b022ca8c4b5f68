//! The workloads: what the clients do while the nemesis works.
//!
//! - `bank`: accounts `BANK_BASE + 1 ..= BANK_BASE + n` on ledger 1, each with
//!   `debits_must_not_exceed_credits`, funded with [`FUNDING`] from the unlimited source account
//!   [`SOURCE`] before the clients start. Clients move money between them at random: single
//!   transfers, linked pairs (a -> b -> c, all or nothing), and pending transfers with a 1-2 s
//!   timeout that the same client later posts (in full) or voids, or lets expire. Other clients
//!   read every balance with one linearizable `LookupAccounts`. An indeterminate transfer is
//!   never retried: the checkers resolve it from the final state.
//! - `idempotency`: accounts `IDEM_BASE + 1 ..= IDEM_BASE + n` on ledger 2, no limits, so every
//!   transfer can apply. A client retries every indeterminate request later with the identical
//!   ids and fields; `Exists` then means an earlier attempt applied.
//! - `burst` (the overload nemesis's extra clients): back to back, with no pause, one-transfer
//!   requests on the idempotency accounts, or (readers) linearizable reads of every bank
//!   balance. Recorded like every other client's operations, so the checkers cover them; a
//!   refused transfer (`RESOURCE_EXHAUSTED`, not applied) is `fail`, and is not retried.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use tally_proto::v1;

use crate::client::{to_wire, Client, Outcome};
use crate::history::{Recorder, Type, Value, Xfer, F};

/// The unlimited account that funds the bank.
pub const SOURCE: u128 = 1;
/// Bank account ids start after this.
pub const BANK_BASE: u128 = 100;
/// Idempotency account ids start after this.
pub const IDEM_BASE: u128 = 1000;
/// What each bank account starts with.
pub const FUNDING: u128 = 1_000;
/// Ledger of the bank accounts.
pub const BANK_LEDGER: u32 = 1;
/// Ledger of the idempotency accounts.
pub const IDEM_LEDGER: u32 = 2;
/// `CreateTransferResult::Ok`.
pub const RESULT_OK: u32 = 0;
/// `CreateTransferResult::Exists`.
pub const RESULT_EXISTS: u32 = 22;
/// Setup transfers (funding) use ids below this; workload ids start here.
pub const FIRST_WORKLOAD_ID: u64 = 1_000_000;

const LINKED: u32 = 1;
const PENDING: u32 = 2;
const POST: u32 = 4;
const VOID: u32 = 8;
const DEBITS_MUST_NOT_EXCEED_CREDITS: u32 = 2;

/// The shape of the workload.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Bank accounts.
    pub bank_accounts: u128,
    /// Idempotency accounts.
    pub idem_accounts: u128,
}

impl Shape {
    /// Ids of the bank accounts.
    pub fn bank_ids(&self) -> Vec<u128> {
        (1..=self.bank_accounts).map(|i| BANK_BASE + i).collect()
    }

    /// Ids of the idempotency accounts.
    pub fn idem_ids(&self) -> Vec<u128> {
        (1..=self.idem_accounts).map(|i| IDEM_BASE + i).collect()
    }

    /// What the bank accounts hold together.
    pub fn total(&self) -> u128 {
        FUNDING * self.bank_accounts
    }

    /// Ids of the funding transfers (setup).
    pub fn funding_ids(&self) -> Vec<u128> {
        self.bank_ids().iter().map(|a| 10_000 + a).collect()
    }
}

fn account(id: u128, ledger: u32, flags: u32) -> v1::Account {
    v1::Account {
        id: Some(v1::U128::new(id)),
        ledger,
        code: 1,
        flags,
        ..Default::default()
    }
}

/// Creates the accounts and funds the bank, retrying (same ids) until everything applied.
pub async fn setup(client: &mut Client, shape: Shape, timeout: Duration) -> Result<()> {
    let mut accounts = vec![account(SOURCE, BANK_LEDGER, 0)];
    let limited = DEBITS_MUST_NOT_EXCEED_CREDITS;
    accounts.extend(
        shape
            .bank_ids()
            .iter()
            .map(|&a| account(a, BANK_LEDGER, limited)),
    );
    accounts.extend(shape.idem_ids().iter().map(|&a| account(a, IDEM_LEDGER, 0)));
    let funding: Vec<v1::Transfer> = shape
        .bank_ids()
        .iter()
        .zip(shape.funding_ids())
        .map(|(&a, id)| to_wire(&Xfer::new(id, SOURCE, a, FUNDING, 0, BANK_LEDGER)))
        .collect();
    let deadline = Instant::now() + timeout;
    // CreateAccountResult::Exists is 17, CreateTransferResult::Exists is 22.
    loop {
        let out = client.create_accounts(&accounts).await;
        if setup_done(out, 17, deadline).await? {
            break;
        }
    }
    loop {
        let out = client.create_transfers(&funding).await;
        if setup_done(out, RESULT_EXISTS, deadline).await? {
            return Ok(());
        }
    }
}

/// Whether a setup request applied (every result `Ok` or `Exists`); waits a little if not.
async fn setup_done(out: Outcome<Vec<u32>>, exists: u32, deadline: Instant) -> Result<bool> {
    match out {
        Outcome::Ok(rs) if rs.iter().all(|&r| r == 0 || r == exists) => Ok(true),
        Outcome::Ok(rs) => bail!("setup rejected: {rs:?}"),
        Outcome::Fail(m) | Outcome::Info(m) if Instant::now() > deadline => {
            bail!("setup did not complete: {m}")
        }
        _ => {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok(false)
        }
    }
}

/// What a client process needs.
#[derive(Debug, Clone)]
pub struct Worker {
    /// Process id in the history (1, 2, ...).
    pub process: u64,
    /// Its own client.
    pub client: Client,
    /// The shared history.
    pub history: Recorder,
    /// Source of unique transfer ids.
    pub ids: Arc<AtomicU64>,
    /// The accounts.
    pub shape: Shape,
    /// Stop starting operations at this time.
    pub until: Instant,
    /// Random seed for this process.
    pub seed: u64,
}

impl Worker {
    fn next_id(&self) -> u128 {
        u128::from(self.ids.fetch_add(1, Ordering::Relaxed))
    }

    /// Sends one transfer request and records it; returns the outcome.
    async fn transfer(&mut self, xs: Vec<Xfer>) -> Outcome<Vec<u32>> {
        let invoke = Value::Transfers {
            transfers: xs.clone(),
            results: None,
        };
        let h = self.history.clone();
        h.record(
            self.process,
            Type::Invoke,
            F::Transfer,
            invoke.clone(),
            None,
        );
        let wire: Vec<v1::Transfer> = xs.iter().map(to_wire).collect();
        let out = self.client.create_transfers(&wire).await;
        let (kind, value, err) = match &out {
            Outcome::Ok(rs) => (
                Type::Ok,
                Value::Transfers {
                    transfers: xs,
                    results: Some(rs.clone()),
                },
                None,
            ),
            Outcome::Fail(m) => (Type::Fail, invoke, Some(m.clone())),
            Outcome::Info(m) => (Type::Info, invoke, Some(m.clone())),
        };
        h.record(self.process, kind, F::Transfer, value, err);
        out
    }

    /// One linearizable read of every bank balance, recorded.
    async fn read(&mut self) {
        let h = self.history.clone();
        h.record(
            self.process,
            Type::Invoke,
            F::Read,
            Value::Read { balances: None },
            None,
        );
        let out = self.client.lookup_accounts(&self.shape.bank_ids()).await;
        let (kind, balances, err) = match out {
            Outcome::Ok(accs) => (
                Type::Ok,
                Some(accs.iter().map(crate::client::balance).collect()),
                None,
            ),
            Outcome::Fail(m) => (Type::Fail, None, Some(m)),
            Outcome::Info(m) => (Type::Info, None, Some(m)),
        };
        h.record(self.process, kind, F::Read, Value::Read { balances }, err);
    }

    /// Runs the bank workload until `until`: transfers and reads at random.
    pub async fn run_bank(mut self) {
        let mut rng = fastrand::Rng::with_seed(self.seed);
        let ids = self.shape.bank_ids();
        // Pending transfers this client created: (id, debit, credit, amount).
        let mut pending: Vec<(u128, u128, u128, u128)> = Vec::new();
        while Instant::now() < self.until {
            let (a, b, c) = three(&mut rng, &ids);
            let amount = u128::from(rng.u32(1..=60));
            match rng.u8(0..10) {
                0..=2 => self.read().await,
                3..=5 => {
                    let x = Xfer::new(self.next_id(), a, b, amount, 0, BANK_LEDGER);
                    self.transfer(vec![x]).await;
                }
                6 => {
                    let x1 = Xfer::new(self.next_id(), a, b, amount, LINKED, BANK_LEDGER);
                    let x2 = Xfer::new(self.next_id(), b, c, amount, 0, BANK_LEDGER);
                    self.transfer(vec![x1, x2]).await;
                }
                7 | 8 => {
                    let mut x = Xfer::new(self.next_id(), a, b, amount, PENDING, BANK_LEDGER);
                    x.timeout = rng.u32(1..=2);
                    if let Outcome::Ok(rs) = self.transfer(vec![x]).await {
                        if rs == [RESULT_OK] {
                            pending.push((x.id, a, b, amount));
                        }
                    }
                }
                _ => {
                    if pending.is_empty() {
                        continue;
                    }
                    let (pid, d, cr, amt) = pending.swap_remove(rng.usize(..pending.len()));
                    let post = rng.bool();
                    let flags = if post { POST } else { VOID };
                    let mut x = Xfer::new(
                        self.next_id(),
                        d,
                        cr,
                        if post { amt } else { 0 },
                        flags,
                        BANK_LEDGER,
                    );
                    x.pending_id = pid;
                    self.transfer(vec![x]).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(rng.u64(0..10))).await;
        }
    }

    /// Runs the idempotency workload until `until`, then resends what is still unresolved
    /// (bounded by `drain`).
    pub async fn run_idempotency(mut self, drain: Duration) {
        let mut rng = fastrand::Rng::with_seed(self.seed);
        let ids = self.shape.idem_ids();
        let mut unresolved: Vec<Vec<Xfer>> = Vec::new();
        while Instant::now() < self.until {
            let req = if !unresolved.is_empty() && rng.bool() {
                unresolved.swap_remove(rng.usize(..unresolved.len()))
            } else {
                let (a, b, c) = three(&mut rng, &ids);
                let amount = u128::from(rng.u32(1..=100));
                if rng.bool() {
                    vec![Xfer::new(self.next_id(), a, b, amount, 0, IDEM_LEDGER)]
                } else {
                    let x1 = Xfer::new(self.next_id(), a, b, amount, LINKED, IDEM_LEDGER);
                    vec![
                        x1,
                        Xfer::new(self.next_id(), b, c, amount + 1, 0, IDEM_LEDGER),
                    ]
                }
            };
            if let Outcome::Info(_) = self.transfer(req.clone()).await {
                unresolved.push(req);
            }
            tokio::time::sleep(Duration::from_millis(rng.u64(0..10))).await;
        }
        let end = Instant::now() + drain;
        while let Some(req) = unresolved.pop() {
            if Instant::now() > end {
                break;
            }
            if let Outcome::Info(_) = self.transfer(req.clone()).await {
                unresolved.push(req);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// What one burst client did: its transfers by outcome, and its reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BurstCounts {
    /// Transfers answered.
    pub ok: u64,
    /// Transfers that certainly did not apply (refused).
    pub fail: u64,
    /// Transfers with an unknown outcome.
    pub info: u64,
    /// Reads made.
    pub reads: u64,
}

impl std::ops::AddAssign for BurstCounts {
    fn add_assign(&mut self, o: BurstCounts) {
        self.ok += o.ok;
        self.fail += o.fail;
        self.info += o.info;
        self.reads += o.reads;
    }
}

impl Worker {
    /// Runs a burst client until `stop` is set (or the run ends): a reader reads every bank
    /// balance, linearizably, back to back; a writer sends one-transfer requests on the
    /// idempotency accounts back to back. Nothing is retried beyond what the client does.
    pub async fn run_burst(mut self, reader: bool, stop: Arc<AtomicBool>) -> BurstCounts {
        let mut rng = fastrand::Rng::with_seed(self.seed);
        let ids = self.shape.idem_ids();
        let mut counts = BurstCounts::default();
        while !stop.load(Ordering::Relaxed) && Instant::now() < self.until {
            if reader {
                self.read().await;
                counts.reads += 1;
                continue;
            }
            let (a, b, _) = three(&mut rng, &ids);
            let x = Xfer::new(
                self.next_id(),
                a,
                b,
                u128::from(rng.u32(1..=100)),
                0,
                IDEM_LEDGER,
            );
            match self.transfer(vec![x]).await {
                Outcome::Ok(_) => counts.ok += 1,
                Outcome::Fail(_) => counts.fail += 1,
                Outcome::Info(_) => counts.info += 1,
            }
        }
        counts
    }
}

/// Three distinct accounts (the workloads have at least three).
fn three(rng: &mut fastrand::Rng, ids: &[u128]) -> (u128, u128, u128) {
    let a = rng.usize(..ids.len());
    let b = (a + rng.usize(1..ids.len())) % ids.len();
    let mut c = rng.usize(..ids.len());
    while c == a || c == b {
        c = (c + 1) % ids.len();
    }
    (ids[a], ids[b], ids[c])
}

/// Every transfer id that a history's transfer operations carried.
pub fn attempted_ids(ops: &[crate::history::Op]) -> Vec<u128> {
    let mut ids: Vec<u128> = ops
        .iter()
        .filter(|o| o.kind == Type::Invoke)
        .filter_map(|o| match &o.value {
            Value::Transfers { transfers, .. } => Some(transfers.iter().map(|x| x.id)),
            _ => None,
        })
        .flatten()
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_picks_distinct_accounts() {
        let mut rng = fastrand::Rng::with_seed(7);
        let ids = [1, 2, 3];
        for _ in 0..200 {
            let (a, b, c) = three(&mut rng, &ids);
            assert!(a != b && b != c && a != c, "{a} {b} {c}");
        }
    }

    #[test]
    fn funding_ids_are_below_workload_ids_and_unique() {
        let s = Shape {
            bank_accounts: 8,
            idem_accounts: 4,
        };
        let f = s.funding_ids();
        assert!(f.iter().all(|&i| i < u128::from(FIRST_WORKLOAD_ID)));
        let mut d = f.clone();
        d.dedup();
        assert_eq!(d.len(), 8);
        assert_eq!(s.total(), 8 * FUNDING);
    }
}
