//! The executor: runs one command (a batch of events) against committed state plus an in-batch
//! overlay, and turns the overlay into one [`WriteBatch`].
//!
//! Nothing here reads a clock, draws randomness, spawns threads or iterates a hash map: the
//! overlay keeps its keys in first-write order, so the same input always yields the same bytes.
//! Hash maps are only used for point lookups.

use crate::account_log::{Changed, Prefetched};
use crate::cache::AccountCache;
use crate::ids::{read_id_record, IdIndex};
use crate::invariants::{assert_limits, Conservation};
use crate::journal::Journaled;
use crate::keys::{self, IdRecord};
use crate::read::{read_last_timestamp, read_transfer_at};
use crate::results::EventResults;
use crate::store::{Cf, KvRead, StoreError, WriteBatch};
use crate::types::{Account, AccountBalance, PendingStatus, Transfer, TransferFlags};

/// What the leader passes in with each command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Context {
    /// The leader's wall-clock time in nanoseconds when it proposed the command. The ledger
    /// assigns each event `max(previous + 1, timestamp)`, so ledger time never goes backwards
    /// even if a new leader's clock is behind.
    pub timestamp: u64,
}

/// A savepoint across every journal of the overlay.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Savepoint {
    journals: [usize; 6],
    last_account_ts: u64,
    last_transfer_ts: u64,
}

/// The executor's working memory, kept between commands ([`crate::Ledger`] holds one) so each
/// batch reuses the last one's allocations. Allocating the overlay afresh per batch (a few MB
/// for 8,189 transfers) costs page faults: the kernel zeroing new pages is about 9% of the
/// apply path. Empty between commands, except `changed`: the last
/// command's changed accounts, which the [`crate::Ledger`] puts in its account cache.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    accounts: Journaled<u128, (Account, bool)>,
    transfers: Journaled<u128, Transfer>,
    failed: Journaled<u128, u32>,
    pending: Journaled<u64, PendingStatus>,
    unexpire: Journaled<(u64, u64), ()>,
    balances: Journaled<(u128, u64), AccountBalance>,
    ids: IdIndex,
    /// Buffers of [`Exec::encode`].
    index: Vec<(u128, u64, u8)>,
    index_log: crate::account_index::Buffers,
    changed: Changed,
    value: Vec<u8>,
    prefetched: Prefetched,
    conservation: Conservation,
}

impl Scratch {
    /// The accounts the last command that ran to the end changed, at their new versions.
    pub(crate) fn changed_accounts(&self) -> &[Account] {
        self.changed.accounts()
    }
}

/// Committed state seen through the changes of the batch so far.
pub(crate) struct Exec<'a> {
    base: &'a dyn KvRead,
    cache: Option<&'a AccountCache>,
    /// Leader time of this command.
    pub(crate) now: u64,
    /// The ledger clock: the last tick taken (committed state, then this batch).
    pub(crate) last_ts: u64,
    /// Newest account timestamp (committed, then this batch); loaded by
    /// [`Exec::load_import_bounds`] for imported batches only, 0 otherwise.
    pub(crate) last_account_ts: u64,
    /// Newest transfer timestamp (committed, then this batch); as `last_account_ts`.
    pub(crate) last_transfer_ts: u64,
    /// The raised `meta` expiry floor, if the command raised it ([`crate::ops::expire`]);
    /// written only if the command assigns a timestamp.
    pub(crate) expiry_floor: Option<u64>,
    /// `last_ts` as committed before this command.
    committed_ts: u64,
    /// Accounts created or changed: value is (account, created in this batch).
    pub(crate) accounts: Journaled<u128, (Account, bool)>,
    /// Transfers created, by id.
    pub(crate) transfers: Journaled<u128, Transfer>,
    /// Ids burned by transient failures.
    pub(crate) failed: Journaled<u128, u32>,
    /// Pending-transfer status changes, by the pending transfer's timestamp.
    pub(crate) pending: Journaled<u64, PendingStatus>,
    /// Expiry index entries removed: (expires_at, pending timestamp).
    pub(crate) unexpire: Journaled<(u64, u64), ()>,
    /// Balance snapshots of `history` accounts: (account id, timestamp).
    pub(crate) balances: Journaled<(u128, u64), AccountBalance>,
    /// Committed `transfer_ids` records of the ids this batch names, looked up in one batched
    /// read before the batch runs (see [`Exec::prefetch_transfer_ids`]), and the encoder of
    /// the batch's new ones.
    ids: IdIndex,
    /// Committed accounts the command names, read before it runs (see
    /// [`Exec::prefetch_accounts`]).
    prefetched: Prefetched,
    /// The rest of the [`Scratch`] this executor was made from.
    index: Vec<(u128, u64, u8)>,
    index_log: crate::account_index::Buffers,
    changed: Changed,
    value: Vec<u8>,
    conservation: Conservation,
}

impl std::fmt::Debug for Exec<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exec")
            .field("now", &self.now)
            .field("last_ts", &self.last_ts)
            .finish_non_exhaustive()
    }
}

impl<'a> Exec<'a> {
    pub(crate) fn new(
        base: &'a dyn KvRead,
        cache: Option<&'a AccountCache>,
        ctx: &Context,
        events: usize,
        scratch: Scratch,
    ) -> Result<Self, StoreError> {
        let last_ts = read_last_timestamp(base)?;
        let Scratch {
            mut accounts,
            mut transfers,
            failed,
            pending,
            unexpire,
            balances,
            ids,
            index,
            index_log,
            changed,
            value,
            prefetched,
            conservation,
        } = scratch;
        accounts.reserve(2 * events);
        transfers.reserve(events);
        Ok(Self {
            base,
            cache,
            now: ctx.timestamp,
            last_ts,
            last_account_ts: 0,
            last_transfer_ts: 0,
            expiry_floor: None,
            committed_ts: last_ts,
            accounts,
            transfers,
            failed,
            pending,
            unexpire,
            balances,
            ids,
            index,
            index_log,
            changed,
            value,
            prefetched,
            conservation,
        })
    }

    /// Ends this executor, returning its working memory emptied for the next command.
    pub(crate) fn into_scratch(self) -> Scratch {
        let mut s = Scratch {
            accounts: self.accounts,
            transfers: self.transfers,
            failed: self.failed,
            pending: self.pending,
            unexpire: self.unexpire,
            balances: self.balances,
            ids: self.ids,
            index: self.index,
            index_log: self.index_log,
            changed: self.changed,
            value: self.value,
            prefetched: self.prefetched,
            conservation: self.conservation,
        };
        s.accounts.clear();
        s.transfers.clear();
        s.failed.clear();
        s.pending.clear();
        s.unexpire.clear();
        s.balances.clear();
        s.ids.clear();
        s.index.clear();
        s.value.clear();
        s.prefetched.clear();
        s.conservation.clear();
        s
    }

    /// Looks up the committed id records of every transfer id and pending id in `events` in
    /// one batched read ([`IdIndex::prefetch`]).
    pub(crate) fn prefetch_transfer_ids(&mut self, events: &[Transfer]) -> Result<(), StoreError> {
        self.ids.prefetch(self.base, events)
    }

    /// Reads the committed accounts among `ids` that the account cache does not hold, in one
    /// batched read ([`Prefetched::load`]).
    pub(crate) fn prefetch_accounts(
        &mut self,
        ids: impl Iterator<Item = u128>,
    ) -> Result<(), StoreError> {
        let cache = self.cache;
        self.prefetched.load(
            self.base,
            ids.filter(|&id| id != 0 && !cache.is_some_and(|c| c.contains(id))),
        )
    }

    /// The committed state under the overlay.
    pub(crate) fn base(&self) -> &'a dyn KvRead {
        self.base
    }

    /// The next tick of ledger time: strictly after the last, and not before the leader's
    /// clock. Every event takes one (its validation time, and a live event's timestamp), and
    /// so does every expiry. Since an imported timestamp is at most the leader's clock, the
    /// ledger's clock stays after everything imported.
    pub(crate) fn next_timestamp(&mut self) -> u64 {
        self.last_ts = self.now.max(self.last_ts + 1);
        self.last_ts
    }

    /// Reads the newest account and transfer timestamps, which imported events must not
    /// regress from (one reverse seek each; only imported batches need them).
    pub(crate) fn load_import_bounds(&mut self) -> Result<(), StoreError> {
        let mut newest_account = Ok(0);
        self.base.scan(
            Cf::AccountsByTs,
            &keys::ts_key(0),
            &keys::ts_key(u64::MAX),
            true,
            &mut |k, _| {
                newest_account = keys::decode_ts_key(k);
                false
            },
        )?;
        let mut newest_transfer = Ok(0);
        self.base.scan(
            Cf::Transfers,
            &keys::ts_key(0),
            &keys::ts_key(u64::MAX),
            true,
            &mut |k, v| {
                newest_transfer = keys::decode_ts_key(k)
                    .and_then(|bucket| keys::transfer_bucket_records(bucket, v))
                    .map(|r| r.last().map_or(0, keys::record_timestamp));
                false
            },
        )?;
        self.last_account_ts = newest_account?;
        self.last_transfer_ts = newest_transfer?;
        Ok(())
    }

    /// Whether a committed transfer has timestamp `ts`.
    pub(crate) fn transfer_at(&self, ts: u64) -> Result<bool, StoreError> {
        Ok(read_transfer_at(self.base, ts)?.is_some())
    }

    /// Whether a committed account has timestamp `ts`.
    pub(crate) fn account_at(&self, ts: u64) -> Result<bool, StoreError> {
        self.base
            .get(Cf::AccountsByTs, &keys::ts_key(ts), &mut |_| {})
    }

    /// The newest committed balance snapshot's timestamp of `history` account `id` (0 if none).
    pub(crate) fn newest_balance(&self, id: u128) -> Result<u64, StoreError> {
        let mut out = Ok(0);
        self.base.scan(
            Cf::AccountBalances,
            &keys::account_ts_key(id, 0),
            &keys::account_ts_key(id, u64::MAX),
            true,
            &mut |k, _| {
                out = keys::decode_account_ts_key(k);
                false
            },
        )?;
        out
    }

    /// Starts journaling every change so that [`Exec::rollback`] can undo what follows;
    /// [`Exec::release`] ends it.
    pub(crate) fn savepoint(&mut self) -> Savepoint {
        Savepoint {
            journals: [
                self.accounts.savepoint(),
                self.transfers.savepoint(),
                self.failed.savepoint(),
                self.pending.savepoint(),
                self.unexpire.savepoint(),
                self.balances.savepoint(),
            ],
            last_account_ts: self.last_account_ts,
            last_transfer_ts: self.last_transfer_ts,
        }
    }

    /// Makes everything since the savepoint final and stops journaling.
    pub(crate) fn release(&mut self) {
        self.accounts.release();
        self.transfers.release();
        self.failed.release();
        self.pending.release();
        self.unexpire.release();
        self.balances.release();
    }

    pub(crate) fn rollback(&mut self, sp: Savepoint) {
        let [a, t, f, p, u, b] = sp.journals;
        self.accounts.rollback(a);
        self.transfers.rollback(t);
        self.failed.rollback(f);
        self.pending.rollback(p);
        self.unexpire.rollback(u);
        self.balances.rollback(b);
        // A rolled-back chain keeps the ticks of ledger time it took, but gives back the
        // imported timestamps it used: a corrected retry of the same chain must not "regress".
        self.last_account_ts = sp.last_account_ts;
        self.last_transfer_ts = sp.last_transfer_ts;
    }

    pub(crate) fn account(&self, id: u128) -> Result<Option<Account>, StoreError> {
        if let Some((a, _)) = self.accounts.get(&id) {
            return Ok(Some(*a));
        }
        self.committed_account(id)
    }

    /// The account `id` as committed before this command.
    fn committed_account(&self, id: u128) -> Result<Option<Account>, StoreError> {
        if let Some(a) = self.cache.and_then(|c| c.get(id)) {
            return Ok(Some(a));
        }
        if let Some(known) = self.prefetched.get(id) {
            return Ok(known);
        }
        crate::account_log::read(self.base, id)
    }

    /// Sets the new version of an account; its balance limits hold ([`assert_limits`]).
    pub(crate) fn put_account(&mut self, a: Account) {
        assert_limits(&a);
        // An account created by this command stays marked created.
        self.accounts
            .upsert(a.id, |prev| (a, prev.is_some_and(|(_, created)| *created)));
    }

    /// What is known about a transfer id: created (with the transfer) or burned.
    pub(crate) fn transfer_id(&self, id: u128) -> Result<Option<IdState>, StoreError> {
        if let Some(t) = self.transfers.get(&id) {
            return Ok(Some(IdState::Created(*t)));
        }
        if self.failed.get(&id).is_some() {
            return Ok(Some(IdState::Failed));
        }
        let record = match self.ids.known(id) {
            Some(known) => known,
            None => read_id_record(self.base, id)?,
        };
        match record {
            None => Ok(None),
            Some(IdRecord::Failed(_)) => Ok(Some(IdState::Failed)),
            Some(IdRecord::Created(ts)) => match read_transfer_at(self.base, ts)? {
                Some(t) => Ok(Some(IdState::Created(t))),
                None => Err(StoreError::Corrupt(format!(
                    "transfer id {id} points at missing timestamp {ts}"
                ))),
            },
        }
    }

    pub(crate) fn pending_status(&self, ts: u64) -> Result<PendingStatus, StoreError> {
        if let Some(s) = self.pending.get(&ts) {
            return Ok(*s);
        }
        let mut out = Err(StoreError::Corrupt(format!(
            "pending transfer {ts} has no status"
        )));
        self.base.get(Cf::Pending, &keys::ts_key(ts), &mut |v| {
            out = keys::decode_pending_status(v)
        })?;
        out
    }

    /// Records a balance snapshot if the account keeps history.
    pub(crate) fn record_history(&mut self, a: &Account, ts: u64) {
        if a.flags().contains(crate::types::AccountFlags::HISTORY) {
            self.balances.insert(
                (a.id, ts),
                AccountBalance {
                    debits_pending: a.debits_pending,
                    debits_posted: a.debits_posted,
                    credits_pending: a.credits_pending,
                    credits_posted: a.credits_posted,
                    timestamp: ts,
                },
            );
        }
    }

    /// Asserts that the command moved as much debit as credit on every ledger
    /// ([`Conservation`]), comparing each changed account with its committed version.
    fn assert_conserved(&mut self) -> Result<(), StoreError> {
        let mut sums = std::mem::take(&mut self.conservation);
        sums.clear();
        // A sum: hash order is fine, and skips a lookup per account.
        for (a, created) in self.accounts.values_unordered() {
            let old = match created {
                true => None,
                false => Some(self.committed_account(a.id)?.ok_or_else(|| {
                    StoreError::Corrupt(format!("changed account {} vanished", a.id))
                })?),
            };
            sums.add(a, old.as_ref());
        }
        sums.assert_balanced();
        self.conservation = sums;
        Ok(())
    }

    /// Encodes the command's new transfers: their `transfers` buckets and `expiry` entries, the
    /// account index, and the `transfer_ids` records (burned ids included).
    fn encode_transfers(&mut self, out: &mut WriteBatch) -> Result<(), StoreError> {
        // (account, timestamp, side) of every transfer: the account index, packed below.
        let mut index = std::mem::take(&mut self.index);
        index.clear();
        let mut buckets = BucketWriter::default();
        for (_, t) in self.transfers.iter() {
            buckets.push(self.base, t, out)?;
            index.push((t.debit_account_id, t.timestamp, keys::SIDE_DEBIT));
            index.push((t.credit_account_id, t.timestamp, keys::SIDE_CREDIT));
            // Its `pending` status entry comes from the `pending` journal below.
            if t.flags().contains(TransferFlags::PENDING) {
                if let Some(at) = t.expires_at() {
                    out.put(Cf::Expiry, &keys::expiry_key(at, t.timestamp), &[]);
                }
            }
        }
        buckets.flush(out);
        crate::account_index::encode(
            self.base,
            &mut index,
            &mut self.index_log,
            &mut self.value,
            out,
        )?;
        self.index = index;
        self.ids.encode(
            self.base,
            self.transfers.iter().map(|(id, t)| (*id, t.timestamp)),
            self.failed.iter().map(|(id, code)| (*id, *code)),
            out,
        )?;
        Ok(())
    }

    /// Encodes every change of the batch, in a deterministic order.
    pub(crate) fn encode(
        &mut self,
        out: &mut WriteBatch,
        applied: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        assert!(
            self.last_ts >= self.committed_ts,
            "invariant: ledger time went back from {} to {}",
            self.committed_ts,
            self.last_ts
        );
        if cfg!(any(debug_assertions, test, feature = "invariants")) {
            self.assert_conserved()?;
        }
        for (_, (a, created)) in self.accounts.iter() {
            if *created {
                out.put(
                    Cf::AccountsByTs,
                    &keys::ts_key(a.timestamp),
                    &a.id.to_le_bytes(),
                );
            }
        }
        self.changed.fill(self.accounts.iter().map(|(_, (a, _))| a));
        crate::account_log::encode(self.base, &self.changed, &mut self.value, out)?;
        self.encode_transfers(out)?;
        // After the transfers: a pending transfer created and resolved in the same batch ends
        // with its final status and without an expiry entry (later operations win).
        for (ts, status) in self.pending.iter() {
            out.put(Cf::Pending, &keys::ts_key(*ts), &[*status as u8]);
        }
        for ((at, ts), ()) in self.unexpire.iter() {
            out.delete(Cf::Expiry, &keys::expiry_key(*at, *ts));
        }
        for ((id, ts), b) in self.balances.iter() {
            out.put(
                Cf::AccountBalances,
                &keys::account_ts_key(*id, *ts),
                &keys::encode_balance(b),
            );
        }
        if let Some(floor) = self
            .expiry_floor
            .filter(|_| self.last_ts > self.committed_ts)
        {
            out.put(Cf::Meta, keys::META_EXPIRY_FLOOR, &floor.to_le_bytes());
        }
        out.put(
            Cf::Meta,
            keys::META_LAST_TIMESTAMP,
            &self.last_ts.to_le_bytes(),
        );
        if let Some(applied) = applied {
            out.put(Cf::Meta, keys::META_APPLIED, applied);
        }
        Ok(())
    }
}

/// Groups a command's new transfers, oldest first, into `transfers` bucket entries
/// ([`keys::transfer_bucket_key`]).
#[derive(Default)]
struct BucketWriter {
    /// The bucket being filled and the timestamp of its newest record.
    current: Option<(u64, u64)>,
    value: Vec<u8>,
}

impl BucketWriter {
    fn push(
        &mut self,
        base: &dyn KvRead,
        t: &Transfer,
        out: &mut WriteBatch,
    ) -> Result<(), StoreError> {
        let bucket = keys::transfer_bucket(t.timestamp);
        let newest = match self.current {
            Some((b, newest)) => {
                if b != bucket {
                    self.flush(out);
                    self.value.clear();
                }
                Some(newest)
            }
            None => self.load(base, bucket)?,
        };
        // Timestamps are assigned in increasing order (imported ones must not regress), and a
        // bucket's records must stay sorted: anything else is a ledger bug.
        assert!(
            newest.is_none_or(|n| n < t.timestamp),
            "transfer timestamp {} not after the newest before it, {newest:?}",
            t.timestamp
        );
        self.value.extend_from_slice(&keys::encode_transfer(t));
        self.current = Some((bucket, t.timestamp));
        Ok(())
    }

    /// Starts the command's first bucket from its stored records, if a previous command's
    /// timestamps ran into it (every later bucket is new), and returns the newest one's
    /// timestamp.
    fn load(&mut self, base: &dyn KvRead, bucket: u64) -> Result<Option<u64>, StoreError> {
        base.get(Cf::Transfers, &keys::ts_key(bucket), &mut |v| {
            self.value.extend_from_slice(v)
        })?;
        if self.value.is_empty() {
            return Ok(None);
        }
        let stored = keys::transfer_bucket_records(bucket, &self.value)?;
        Ok(stored.last().map(keys::record_timestamp))
    }

    fn flush(&self, out: &mut WriteBatch) {
        if let Some((bucket, _)) = self.current {
            out.put(Cf::Transfers, &keys::ts_key(bucket), &self.value);
        }
    }
}

/// A transfer id's state as seen by the executor.
#[derive(Debug, Clone, Copy)]
pub(crate) enum IdState {
    Created(Transfer),
    /// Burned by a transient failure.
    Failed,
}

/// Runs a batch with linked-chain semantics. Each event first takes a tick of ledger time (its
/// validation time, see [`EventResults`]); `exec_one` validates and applies one event at that
/// time and returns its result and timestamp; chains that fail are rolled back and their other
/// events get `linked_failed` (keeping their timestamps). `on_failure` runs after any rollback
/// (used to burn transient ids).
pub(crate) struct ChainRunner<R> {
    pub(crate) ok: R,
    pub(crate) linked_failed: R,
    pub(crate) chain_open: R,
}

impl<R: Copy + PartialEq> ChainRunner<R> {
    pub(crate) fn run<E>(
        &self,
        exec: &mut Exec<'_>,
        events: &[E],
        linked: impl Fn(&E) -> bool,
        mut exec_one: impl FnMut(&mut Exec<'_>, u64, &E) -> Result<(R, u64), StoreError>,
        mut on_failure: impl FnMut(&mut Exec<'_>, &E, R),
    ) -> Result<EventResults<R>, StoreError> {
        let n = events.len();
        let mut results = EventResults::with_capacity(n);
        let mut chain: Option<(usize, Savepoint)> = None;
        let mut chain_failed = false;
        for (i, e) in events.iter().enumerate() {
            let is_linked = linked(e);
            if chain.is_none() && is_linked {
                chain = Some((i, exec.savepoint()));
            }
            // As TigerBeetle: the last event with `linked` is `chain_open` even when its
            // chain has already failed.
            let slot = exec.next_timestamp();
            let (r, ts) = if is_linked && i + 1 == n {
                (self.chain_open, slot)
            } else if chain_failed {
                (self.linked_failed, slot)
            } else {
                exec_one(exec, slot, e)?
            };
            results.push(r, ts);
            if r != self.ok && !chain_failed {
                if let Some((start, sp)) = chain {
                    exec.rollback(sp);
                    chain_failed = true;
                    for prev in &mut results.codes[start..i] {
                        *prev = self.linked_failed;
                    }
                }
                on_failure(exec, e, r);
            }
            if !is_linked {
                if chain.take().is_some() {
                    exec.release();
                }
                chain_failed = false;
            }
        }
        Ok(results)
    }
}
