//! The reference model: the spec (the pages in `docs/reference/`) as the plainest code that runs.
//!
//! Ordered maps, one function per step of the spec written as a flat run of checks in the
//! spec's order, and linked chains that clone the whole state at their start and put the clone
//! back when they fail. It shares no code with the implementation, only its public types.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Pending,
    Posted,
    Voided,
    Expired,
}

/// Everything a failed linked chain rolls back.
#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    pub(crate) accounts: BTreeMap<u128, Account>,
    pub(crate) transfers: BTreeMap<u128, Transfer>,
    /// Of every transfer created with `PENDING`.
    pub(crate) status: BTreeMap<u128, Status>,
    /// Balance snapshots of `HISTORY` accounts, oldest first.
    pub(crate) history: BTreeMap<u128, Vec<AccountBalance>>,
}

#[derive(Debug, Default)]
pub(crate) struct Model {
    pub(crate) s: State,
    /// Ids of transfers that failed transiently; survives rollbacks.
    pub(crate) burned: BTreeSet<u128>,
    /// The ledger clock: every event and every expiry takes one tick, whatever its outcome; a
    /// rolled-back chain keeps its ticks.
    pub(crate) last_ts: u64,
}

enum TsFault {
    MustBeZero,
    OutOfRange,
    MustNotAdvance,
}

pub(crate) fn af(a: &Account) -> AccountFlags {
    AccountFlags::from_bits_retain(a.flags)
}

pub(crate) fn tf(t: &Transfer) -> TransferFlags {
    TransferFlags::from_bits_retain(t.flags)
}

/// Fails with `code` if `bad`: one line of a validator.
fn check<R>(bad: bool, code: R) -> Result<(), R> {
    if bad {
        Err(code)
    } else {
        Ok(())
    }
}

pub(crate) fn expires_at(p: &Transfer) -> Option<u64> {
    (p.timeout > 0).then(|| p.timestamp + u64::from(p.timeout) * NS)
}

fn is_transient(r: TR) -> bool {
    use TR::*;
    matches!(
        r,
        DebitAccountNotFound
            | CreditAccountNotFound
            | PendingTransferNotFound
            | ExceedsCredits
            | ExceedsDebits
            | DebitAccountAlreadyClosed
            | CreditAccountAlreadyClosed
    )
}

/// Runs `events` as linked chains: every event takes one tick of the clock (its validation
/// time, passed to `exec`), and a failing event rolls back its whole chain's state (not the
/// clock, and not the timestamps its events were given).
fn run_chains<E, R: Copy + PartialEq>(
    m: &mut Model,
    ctx: u64,
    events: &[E],
    linked: impl Fn(&E) -> bool,
    [ok, failed, open]: [R; 3],
    mut exec: impl FnMut(&mut Model, u64, &E) -> (R, u64),
    mut on_failure: impl FnMut(&mut Model, &E, R),
) -> EventResults<R> {
    let n = events.len();
    let mut out = EventResults::with_capacity(n);
    let mut chain: Option<(usize, State)> = None;
    let mut i = 0;
    while i < n {
        let e = &events[i];
        if chain.is_none() && linked(e) {
            chain = Some((i, m.s.clone()));
        }
        let slot = m.tick(ctx);
        let (r, ts) = if linked(e) && i + 1 == n {
            (open, slot)
        } else {
            exec(m, slot, e)
        };
        out.push(r, ts);
        i += 1;
        if r == ok {
            if !linked(e) {
                chain = None;
            }
            continue;
        }
        if let Some((start, saved)) = chain.take() {
            m.s = saved;
            out.codes[start..i - 1].fill(failed);
            // The rest of the chain is not executed; a last event with `linked` is still
            // `open`.
            let mut j = i - 1;
            while linked(&events[j]) && j + 1 < n {
                j += 1;
                let slot = m.tick(ctx);
                out.push(
                    if linked(&events[j]) && j + 1 == n {
                        open
                    } else {
                        failed
                    },
                    slot,
                );
            }
            i = j + 1;
        }
        on_failure(m, e, r);
    }
    out
}

impl Model {
    /// `None`: the command is rejected whole with `ClockOutOfRange`.
    pub(crate) fn apply(&mut self, cmd: &Command, ctx: u64) -> Option<Outcome> {
        let events = match cmd {
            Command::CreateAccounts(v) => v.len(),
            Command::CreateTransfers(v) => v.len(),
            Command::Pulse => 0,
        };
        let first = (self.last_ts + 1).max(ctx);
        if u128::from(first) + (events + BATCH_MAX) as u128 > u128::from(TS_MAX) {
            return None;
        }
        Some(match cmd {
            Command::Pulse => Outcome::Pulse {
                expired: self.expire(ctx),
            },
            Command::CreateAccounts(events) => {
                let imported = events
                    .first()
                    .is_some_and(|a| af(a).contains(AccountFlags::IMPORTED));
                if !imported {
                    self.expire(ctx);
                }
                Outcome::Accounts(run_chains(
                    self,
                    ctx,
                    events,
                    |a| af(a).contains(AccountFlags::LINKED),
                    [AR::Ok, AR::LinkedEventFailed, AR::LinkedEventChainOpen],
                    |m, slot, a| {
                        let r = (m.create_account(a, imported, ctx, slot).err()).unwrap_or(AR::Ok);
                        match r {
                            AR::Ok | AR::Exists => (r, m.s.accounts[&a.id].timestamp),
                            _ => (r, slot),
                        }
                    },
                    |_, _, _| {},
                ))
            }
            Command::CreateTransfers(events) => {
                let imported = events
                    .first()
                    .is_some_and(|t| tf(t).contains(TransferFlags::IMPORTED));
                if !imported {
                    self.expire(ctx);
                }
                Outcome::Transfers(run_chains(
                    self,
                    ctx,
                    events,
                    |t| tf(t).contains(TransferFlags::LINKED),
                    [TR::Ok, TR::LinkedEventFailed, TR::LinkedEventChainOpen],
                    |m, slot, t| {
                        let r = (m.create_transfer(t, imported, ctx, slot).err()).unwrap_or(TR::Ok);
                        match r {
                            TR::Ok | TR::Exists => (r, m.s.transfers[&t.id].timestamp),
                            _ => (r, slot),
                        }
                    },
                    |m, t, r| {
                        if is_transient(r) {
                            m.burned.insert(t.id);
                        }
                    },
                ))
            }
        })
    }

    /// Pending transfers not yet resolved or expired.
    pub(crate) fn live_pending(&self) -> Vec<Transfer> {
        (self.s.status.iter())
            .filter(|(_, status)| **status == Status::Pending)
            .map(|(id, _)| self.s.transfers[id])
            .collect()
    }

    /// The live pending transfer that times out first.
    pub(crate) fn next_deadline(&self) -> Option<Transfer> {
        (self.live_pending().into_iter())
            .filter(|p| p.timeout > 0)
            .min_by_key(|p| (expires_at(p), p.timestamp))
    }

    fn tick(&mut self, ctx: u64) -> u64 {
        self.last_ts = (self.last_ts + 1).max(ctx);
        self.last_ts
    }

    /// The event's timestamp: its tick `slot`, or (imported) its own.
    fn event_ts(given: u64, imported: bool, ctx: u64, slot: u64) -> Result<u64, TsFault> {
        if !imported {
            check(given != 0, TsFault::MustBeZero)?;
            return Ok(slot);
        }
        check(given == 0 || given > TS_MAX, TsFault::OutOfRange)?;
        check(given > ctx, TsFault::MustNotAdvance)?;
        Ok(given)
    }

    fn snapshot(&mut self, id: u128, ts: u64) {
        let a = self.s.accounts[&id];
        if af(&a).contains(AccountFlags::HISTORY) {
            self.s.history.entry(id).or_default().push(AccountBalance {
                debits_pending: a.debits_pending,
                debits_posted: a.debits_posted,
                credits_pending: a.credits_pending,
                credits_posted: a.credits_posted,
                timestamp: ts,
            });
        }
    }

    /// Releases `p`'s reservation, and if `reopen` the accounts it closed (void and expiry).
    fn release(&mut self, p: &Transfer, reopen: bool) {
        let dr = self.s.accounts.get_mut(&p.debit_account_id).unwrap();
        dr.debits_pending -= p.amount;
        if reopen && tf(p).contains(TransferFlags::CLOSING_DEBIT) {
            dr.flags &= !AccountFlags::CLOSED.bits();
        }
        let cr = self.s.accounts.get_mut(&p.credit_account_id).unwrap();
        cr.credits_pending -= p.amount;
        if reopen && tf(p).contains(TransferFlags::CLOSING_CREDIT) {
            cr.flags &= !AccountFlags::CLOSED.bits();
        }
    }

    fn expire(&mut self, ctx: u64) -> usize {
        let due_by = (self.last_ts + 1).max(ctx);
        let mut due: Vec<(u64, u64, u128)> = (self.live_pending().iter())
            .filter_map(|p| {
                let at = expires_at(p).filter(|&at| at <= due_by)?;
                Some((at, p.timestamp, p.id))
            })
            .collect();
        due.sort();
        due.truncate(BATCH_MAX);
        for &(_, _, id) in &due {
            let ts = self.tick(ctx);
            let p = self.s.transfers[&id];
            self.release(&p, true);
            self.s.status.insert(id, Status::Expired);
            self.snapshot(p.debit_account_id, ts);
            self.snapshot(p.credit_account_id, ts);
        }
        due.len()
    }

    fn create_account(
        &mut self,
        a: &Account,
        imported: bool,
        ctx: u64,
        slot: u64,
    ) -> Result<(), AR> {
        let f = af(a);
        check(
            imported && !f.contains(AccountFlags::IMPORTED),
            AR::ImportedEventExpected,
        )?;
        check(
            !imported && f.contains(AccountFlags::IMPORTED),
            AR::ImportedEventNotExpected,
        )?;
        let ts = Self::event_ts(a.timestamp, imported, ctx, slot).map_err(|e| match e {
            TsFault::MustBeZero => AR::TimestampMustBeZero,
            TsFault::OutOfRange => AR::ImportedEventTimestampOutOfRange,
            TsFault::MustNotAdvance => AR::ImportedEventTimestampMustNotAdvance,
        })?;
        check(a.flags & !AccountFlags::all().bits() != 0, AR::ReservedFlag)?;
        check(a.id == 0, AR::IdMustNotBeZero)?;
        check(a.id == u128::MAX, AR::IdMustNotBeIntMax)?;
        if let Some(e) = self.s.accounts.get(&a.id) {
            check(e.flags != a.flags, AR::ExistsWithDifferentFlags)?;
            check(
                e.user_data_128 != a.user_data_128,
                AR::ExistsWithDifferentUserData128,
            )?;
            check(
                e.user_data_64 != a.user_data_64,
                AR::ExistsWithDifferentUserData64,
            )?;
            check(
                e.user_data_32 != a.user_data_32,
                AR::ExistsWithDifferentUserData32,
            )?;
            check(e.ledger != a.ledger, AR::ExistsWithDifferentLedger)?;
            check(e.code != a.code, AR::ExistsWithDifferentCode)?;
            return Err(AR::Exists);
        }
        let limits = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS
            | AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS;
        check(f.contains(limits), AR::FlagsAreMutuallyExclusive)?;
        check(a.debits_pending != 0, AR::DebitsPendingMustBeZero)?;
        check(a.debits_posted != 0, AR::DebitsPostedMustBeZero)?;
        check(a.credits_pending != 0, AR::CreditsPendingMustBeZero)?;
        check(a.credits_posted != 0, AR::CreditsPostedMustBeZero)?;
        check(a.ledger == 0, AR::LedgerMustNotBeZero)?;
        check(a.code == 0, AR::CodeMustNotBeZero)?;
        // Imported: after the newest account, and no transfer's timestamp.
        let newest = self.s.accounts.values().map(|a| a.timestamp).max();
        let taken = self.s.transfers.values().any(|t| t.timestamp == ts);
        check(
            imported && (newest.is_some_and(|n| ts <= n) || taken),
            AR::ImportedEventTimestampMustNotRegress,
        )?;
        let created = Account {
            timestamp: ts,
            ..*a
        };
        self.s.accounts.insert(a.id, created);
        Ok(())
    }

    fn create_transfer(
        &mut self,
        t: &Transfer,
        imported: bool,
        ctx: u64,
        slot: u64,
    ) -> Result<(), TR> {
        use TransferFlags as F;
        let f = tf(t);
        check(
            imported && !f.contains(F::IMPORTED),
            TR::ImportedEventExpected,
        )?;
        check(
            !imported && f.contains(F::IMPORTED),
            TR::ImportedEventNotExpected,
        )?;
        let ts = Self::event_ts(t.timestamp, imported, ctx, slot).map_err(|e| match e {
            TsFault::MustBeZero => TR::TimestampMustBeZero,
            TsFault::OutOfRange => TR::ImportedEventTimestampOutOfRange,
            TsFault::MustNotAdvance => TR::ImportedEventTimestampMustNotAdvance,
        })?;
        check(t.flags & !F::all().bits() != 0, TR::ReservedFlag)?;
        check(t.id == 0, TR::IdMustNotBeZero)?;
        check(t.id == u128::MAX, TR::IdMustNotBeIntMax)?;
        if let Some(e) = self.s.transfers.get(&t.id) {
            return Err(self.transfer_exists(e, t).err().unwrap_or(TR::Exists));
        }
        check(self.burned.contains(&t.id), TR::IdAlreadyFailed)?;
        let kinds = [
            F::PENDING,
            F::POST_PENDING_TRANSFER,
            F::VOID_PENDING_TRANSFER,
        ];
        let resolve = F::POST_PENDING_TRANSFER | F::VOID_PENDING_TRANSFER;
        let adjust =
            F::BALANCING_DEBIT | F::BALANCING_CREDIT | F::CLOSING_DEBIT | F::CLOSING_CREDIT;
        let kinds = kinds.iter().filter(|k| f.contains(**k)).count();
        let exclusive = kinds > 1 || (f.intersects(resolve) && f.intersects(adjust));
        check(exclusive, TR::FlagsAreMutuallyExclusive)?;
        if f.intersects(resolve) {
            self.resolve_pending(t, ts, imported)?;
        } else {
            self.create_plain(t, ts, imported)?;
        }
        Ok(())
    }

    /// The exists comparison of stored `e` with request `t`; `Ok` means `Exists`.
    fn transfer_exists(&self, e: &Transfer, t: &Transfer) -> Result<(), TR> {
        use TransferFlags as F;
        let f = tf(t);
        let resolve = f.intersects(F::POST_PENDING_TRANSFER | F::VOID_PENDING_TRANSFER);
        // In a post or void request, a zero field means "the pending transfer's".
        let differs = |req: u128, stored: u128| req != stored && !(resolve && req == 0);
        let amount_ok = || {
            t.amount == e.amount
                || (f.intersects(F::BALANCING_DEBIT | F::BALANCING_CREDIT) && t.amount >= e.amount)
                || (f.contains(F::VOID_PENDING_TRANSFER) && t.amount == 0)
                || (f.contains(F::POST_PENDING_TRANSFER)
                    && t.amount > e.amount
                    && e.amount == self.s.transfers[&e.pending_id].amount)
        };
        check(e.flags != t.flags, TR::ExistsWithDifferentFlags)?;
        check(
            e.pending_id != t.pending_id,
            TR::ExistsWithDifferentPendingId,
        )?;
        check(e.timeout != t.timeout, TR::ExistsWithDifferentTimeout)?;
        let (dr, cr) = (t.debit_account_id, t.credit_account_id);
        check(
            differs(dr, e.debit_account_id),
            TR::ExistsWithDifferentDebitAccountId,
        )?;
        check(
            differs(cr, e.credit_account_id),
            TR::ExistsWithDifferentCreditAccountId,
        )?;
        check(!amount_ok(), TR::ExistsWithDifferentAmount)?;
        let ud = |t: &Transfer| {
            (
                t.user_data_128,
                t.user_data_64.into(),
                t.user_data_32.into(),
            )
        };
        let ((t128, t64, t32), (e128, e64, e32)) = (ud(t), ud(e));
        // A post/void's 0 user data matches only the value inherited from the pending transfer.
        let (p128, p64, p32) = if resolve {
            ud(&self.s.transfers[&e.pending_id])
        } else {
            (e128, e64, e32)
        };
        let ud_differs = |req, stored, pending| match (resolve, req) {
            (true, 0) => stored != pending,
            _ => req != stored,
        };
        check(
            ud_differs(t128, e128, p128),
            TR::ExistsWithDifferentUserData128,
        )?;
        check(ud_differs(t64, e64, p64), TR::ExistsWithDifferentUserData64)?;
        check(ud_differs(t32, e32, p32), TR::ExistsWithDifferentUserData32)?;
        check(
            differs(t.ledger.into(), e.ledger.into()),
            TR::ExistsWithDifferentLedger,
        )?;
        check(
            differs(t.code.into(), e.code.into()),
            TR::ExistsWithDifferentCode,
        )
    }

    /// Spec 4a: a plain or pending transfer.
    fn create_plain(&mut self, t: &Transfer, ts: u64, imported: bool) -> Result<(), TR> {
        use TransferFlags as F;
        let f = tf(t);
        let pending = f.contains(F::PENDING);
        let (dr, cr) = (t.debit_account_id, t.credit_account_id);
        check(dr == 0, TR::DebitAccountIdMustNotBeZero)?;
        check(dr == u128::MAX, TR::DebitAccountIdMustNotBeIntMax)?;
        check(cr == 0, TR::CreditAccountIdMustNotBeZero)?;
        check(cr == u128::MAX, TR::CreditAccountIdMustNotBeIntMax)?;
        check(dr == cr, TR::AccountsMustBeDifferent)?;
        check(t.pending_id != 0, TR::PendingIdMustBeZero)?;
        check(
            t.timeout != 0 && !pending,
            TR::TimeoutReservedForPendingTransfer,
        )?;
        let closing = F::CLOSING_DEBIT | F::CLOSING_CREDIT;
        check(
            f.intersects(closing) && !pending,
            TR::ClosingTransferMustBePending,
        )?;
        check(t.ledger == 0, TR::LedgerMustNotBeZero)?;
        check(t.code == 0, TR::CodeMustNotBeZero)?;
        let dr = *self.s.accounts.get(&dr).ok_or(TR::DebitAccountNotFound)?;
        let cr = *self.s.accounts.get(&cr).ok_or(TR::CreditAccountNotFound)?;
        check(dr.ledger != cr.ledger, TR::AccountsMustHaveTheSameLedger)?;
        check(
            t.ledger != dr.ledger,
            TR::TransferMustHaveTheSameLedgerAsAccounts,
        )?;
        if imported {
            self.check_imported(&dr, &cr, ts)?;
            check(t.timeout != 0, TR::ImportedEventTimeoutMustBeZero)?;
        }
        check(
            af(&dr).contains(AccountFlags::CLOSED),
            TR::DebitAccountAlreadyClosed,
        )?;
        check(
            af(&cr).contains(AccountFlags::CLOSED),
            TR::CreditAccountAlreadyClosed,
        )?;
        let (mut dr, mut cr, amount) = plain_balances(t, dr, cr, ts)?;

        if f.contains(F::CLOSING_DEBIT) {
            dr.flags |= AccountFlags::CLOSED.bits();
        }
        if f.contains(F::CLOSING_CREDIT) {
            cr.flags |= AccountFlags::CLOSED.bits();
        }
        self.s.accounts.insert(dr.id, dr);
        self.s.accounts.insert(cr.id, cr);
        let stored = Transfer {
            amount,
            timestamp: ts,
            ..*t
        };
        self.s.transfers.insert(t.id, stored);
        if pending {
            self.s.status.insert(t.id, Status::Pending);
        }
        self.snapshot(dr.id, ts);
        self.snapshot(cr.id, ts);
        Ok(())
    }

    /// The imported checks of 4a and 4b.
    fn check_imported(&self, dr: &Account, cr: &Account, ts: u64) -> Result<(), TR> {
        // After the newest transfer, no account's timestamp, and after every balance in the
        // history of either account.
        let newest = self.s.transfers.values().map(|t| t.timestamp).max();
        let taken = self.s.accounts.values().any(|a| a.timestamp == ts);
        let history = |id: u128| {
            (self.s.history.get(&id))
                .and_then(|h| h.last())
                .is_some_and(|b| ts <= b.timestamp)
        };
        check(
            newest.is_some_and(|n| ts <= n) || taken || history(dr.id) || history(cr.id),
            TR::ImportedEventTimestampMustNotRegress,
        )?;
        check(
            dr.timestamp >= ts,
            TR::ImportedEventTimestampMustPostdateDebitAccount,
        )?;
        check(
            cr.timestamp >= ts,
            TR::ImportedEventTimestampMustPostdateCreditAccount,
        )
    }

    /// Spec 4b: post or void a pending transfer.
    fn resolve_pending(&mut self, t: &Transfer, ts: u64, imported: bool) -> Result<(), TR> {
        use TransferFlags as F;
        let post = tf(t).contains(F::POST_PENDING_TRANSFER);
        let (p, amount) = self.pending_of(t, post)?;
        match self.s.status[&p.id] {
            Status::Posted => return Err(TR::PendingTransferAlreadyPosted),
            Status::Voided => return Err(TR::PendingTransferAlreadyVoided),
            Status::Expired => return Err(TR::PendingTransferExpired),
            Status::Pending => {
                let due = expires_at(&p).is_some_and(|at| at <= ts);
                check(due, TR::PendingTransferExpired)?;
            }
        }
        let dr = self.s.accounts[&p.debit_account_id];
        let cr = self.s.accounts[&p.credit_account_id];
        if imported {
            self.check_imported(&dr, &cr, ts)?;
        }
        // A closed account takes voids only.
        let closed = |a: &Account| post && af(a).contains(AccountFlags::CLOSED);
        check(closed(&dr), TR::DebitAccountAlreadyClosed)?;
        check(closed(&cr), TR::CreditAccountAlreadyClosed)?;

        self.release(&p, !post);
        if post {
            self.s.accounts.get_mut(&dr.id).unwrap().debits_posted += amount;
            self.s.accounts.get_mut(&cr.id).unwrap().credits_posted += amount;
        }
        let status = if post { Status::Posted } else { Status::Voided };
        self.s.status.insert(p.id, status);
        let or = |req: u128, pending: u128| if req != 0 { req } else { pending };
        let stored = Transfer {
            id: t.id,
            debit_account_id: p.debit_account_id,
            credit_account_id: p.credit_account_id,
            amount,
            pending_id: t.pending_id,
            user_data_128: or(t.user_data_128, p.user_data_128),
            user_data_64: or(t.user_data_64.into(), p.user_data_64.into()) as u64,
            user_data_32: or(t.user_data_32.into(), p.user_data_32.into()) as u32,
            timeout: 0,
            ledger: p.ledger,
            code: p.code,
            flags: t.flags,
            timestamp: ts,
        };
        self.s.transfers.insert(t.id, stored);
        self.snapshot(dr.id, ts);
        self.snapshot(cr.id, ts);
        Ok(())
    }

    /// The first checks of 4b: the pending transfer `t` names, and the amount it resolves.
    fn pending_of(&self, t: &Transfer, post: bool) -> Result<(Transfer, u128), TR> {
        check(t.pending_id == 0, TR::PendingIdMustNotBeZero)?;
        check(t.pending_id == u128::MAX, TR::PendingIdMustNotBeIntMax)?;
        check(t.pending_id == t.id, TR::PendingIdMustBeDifferent)?;
        check(t.timeout != 0, TR::TimeoutReservedForPendingTransfer)?;
        let p = *self
            .s
            .transfers
            .get(&t.pending_id)
            .ok_or(TR::PendingTransferNotFound)?;
        check(
            !tf(&p).contains(TransferFlags::PENDING),
            TR::PendingTransferNotPending,
        )?;
        let differs = |req: u128, stored: u128| req != 0 && req != stored;
        let (dr, cr) = (t.debit_account_id, t.credit_account_id);
        check(
            differs(dr, p.debit_account_id),
            TR::PendingTransferHasDifferentDebitAccountId,
        )?;
        check(
            differs(cr, p.credit_account_id),
            TR::PendingTransferHasDifferentCreditAccountId,
        )?;
        check(
            differs(t.ledger.into(), p.ledger.into()),
            TR::PendingTransferHasDifferentLedger,
        )?;
        check(
            differs(t.code.into(), p.code.into()),
            TR::PendingTransferHasDifferentCode,
        )?;
        let amount = if !post {
            check(t.amount > p.amount, TR::ExceedsPendingTransferAmount)?;
            let other = t.amount != 0 && t.amount != p.amount;
            check(other, TR::PendingTransferHasDifferentAmount)?;
            p.amount
        } else if t.amount == u128::MAX {
            p.amount
        } else {
            check(t.amount > p.amount, TR::ExceedsPendingTransferAmount)?;
            t.amount
        };
        Ok((p, amount))
    }
}

/// The money checks of 4a: the accounts after the transfer, and its (clamped) amount.
fn plain_balances(
    t: &Transfer,
    mut dr: Account,
    mut cr: Account,
    ts: u64,
) -> Result<(Account, Account, u128), TR> {
    let f = tf(t);
    let mut amount = t.amount;
    if f.contains(TransferFlags::BALANCING_DEBIT) {
        let room = dr
            .credits_posted
            .saturating_sub(dr.debits_pending + dr.debits_posted);
        amount = amount.min(room);
    }
    if f.contains(TransferFlags::BALANCING_CREDIT) {
        let room = cr
            .debits_posted
            .saturating_sub(cr.credits_pending + cr.credits_posted);
        amount = amount.min(room);
    }
    let add = |v: u128, code| v.checked_add(amount).ok_or(code);
    if f.contains(TransferFlags::PENDING) {
        dr.debits_pending = add(dr.debits_pending, TR::OverflowsDebitsPending)?;
        cr.credits_pending = add(cr.credits_pending, TR::OverflowsCreditsPending)?;
    }
    // Pending transfers too are checked against the posted balances.
    let dr_posted = add(dr.debits_posted, TR::OverflowsDebitsPosted)?;
    let cr_posted = add(cr.credits_posted, TR::OverflowsCreditsPosted)?;
    if !f.contains(TransferFlags::PENDING) {
        (dr.debits_posted, cr.credits_posted) = (dr_posted, cr_posted);
    }
    let debits = dr
        .debits_pending
        .checked_add(dr.debits_posted)
        .ok_or(TR::OverflowsDebits)?;
    let credits = cr
        .credits_pending
        .checked_add(cr.credits_posted)
        .ok_or(TR::OverflowsCredits)?;
    let end = u128::from(ts) + u128::from(t.timeout) * u128::from(NS);
    check(
        t.timeout > 0 && end > u128::from(TS_MAX),
        TR::OverflowsTimeout,
    )?;
    let dr_limit = af(&dr).contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS);
    check(dr_limit && debits > dr.credits_posted, TR::ExceedsCredits)?;
    let cr_limit = af(&cr).contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS);
    check(cr_limit && credits > cr.debits_posted, TR::ExceedsDebits)?;
    Ok((dr, cr, amount))
}

// ------------------------------------------------------------------------------------------
// Reads.
// ------------------------------------------------------------------------------------------

/// `None` where the real read must answer `InvalidFilter`.
fn model_range(min: u64, max: u64, limit: u32) -> Option<(u64, u64)> {
    let bounds_ok = min <= TS_MAX && max <= TS_MAX;
    let max = if max == 0 { TS_MAX } else { max };
    (bounds_ok && limit != 0 && limit as usize <= BATCH_MAX && min <= max).then_some((min, max))
}

fn finish<T>(mut v: Vec<T>, reversed: bool, limit: u32) -> Vec<T> {
    if reversed {
        v.reverse();
    }
    v.truncate(limit as usize);
    v
}

impl Model {
    fn account_filter_ok(f: &AccountFilter) -> Option<(u64, u64)> {
        let sides = f.flags & 3;
        let ok = f.account_id != 0 && f.account_id != u128::MAX && sides != 0 && f.flags < 8;
        ok.then(|| model_range(f.timestamp_min, f.timestamp_max, f.limit))?
    }

    /// All transfers matching the filter, oldest first, ignoring limit and order.
    fn matching_transfers(&self, f: &AccountFilter, (min, max): (u64, u64)) -> Vec<Transfer> {
        let mut v: Vec<Transfer> = (self.s.transfers.values())
            .filter(|t| {
                (f.flags & 1 != 0 && t.debit_account_id == f.account_id)
                    || (f.flags & 2 != 0 && t.credit_account_id == f.account_id)
            })
            .filter(|t| (min..=max).contains(&t.timestamp))
            .filter(|t| f.user_data_128 == 0 || f.user_data_128 == t.user_data_128)
            .filter(|t| f.user_data_64 == 0 || f.user_data_64 == t.user_data_64)
            .filter(|t| f.user_data_32 == 0 || f.user_data_32 == t.user_data_32)
            .filter(|t| f.code == 0 || f.code == t.code)
            .copied()
            .collect();
        v.sort_by_key(|t| t.timestamp);
        v
    }

    pub(crate) fn account_transfers(&self, f: &AccountFilter) -> Option<Vec<Transfer>> {
        let range = Self::account_filter_ok(f)?;
        let v = self.matching_transfers(f, range);
        Some(finish(v, f.flags & 4 != 0, f.limit))
    }

    /// Snapshots in range. The spec leaves open how the side and field filters apply; as the
    /// implementation documents, a narrower filter keeps only snapshots made by a matching
    /// transfer (so expiry snapshots, made by no transfer, only show with both sides and no
    /// field).
    pub(crate) fn account_balances(&self, f: &AccountFilter) -> Option<Vec<AccountBalance>> {
        let range = Self::account_filter_ok(f)?;
        let all = f.flags & 3 == 3
            && f.user_data_128 == 0
            && f.user_data_64 == 0
            && f.user_data_32 == 0
            && f.code == 0;
        let made_by: BTreeSet<u64> = self
            .matching_transfers(f, range)
            .iter()
            .map(|t| t.timestamp)
            .collect();
        let mut v: Vec<AccountBalance> = (self.s.history.get(&f.account_id).into_iter().flatten())
            .filter(|b| (range.0..=range.1).contains(&b.timestamp))
            .filter(|b| all || made_by.contains(&b.timestamp))
            .copied()
            .collect();
        v.sort_by_key(|b| b.timestamp);
        Some(finish(v, f.flags & 4 != 0, f.limit))
    }

    /// `query_accounts` and `query_transfers`: `fields` gives (user data 128/64/32, ledger,
    /// code, timestamp).
    pub(crate) fn query<T: Copy>(
        f: &QueryFilter,
        items: impl Iterator<Item = T>,
        fields: impl Fn(&T) -> (u128, u64, u32, u32, u16, u64),
    ) -> Option<Vec<T>> {
        let (min, max) = model_range(f.timestamp_min, f.timestamp_max, f.limit)?;
        if f.flags > 1 {
            return None;
        }
        let mut v: Vec<T> = items
            .filter(|x| {
                let (u128_, u64_, u32_, ledger, code, ts) = fields(x);
                (f.user_data_128 == 0 || f.user_data_128 == u128_)
                    && (f.user_data_64 == 0 || f.user_data_64 == u64_)
                    && (f.user_data_32 == 0 || f.user_data_32 == u32_)
                    && (f.ledger == 0 || f.ledger == ledger)
                    && (f.code == 0 || f.code == code)
                    && (min..=max).contains(&ts)
            })
            .collect();
        v.sort_by_key(|x| fields(x).5);
        Some(finish(v, f.flags & 1 != 0, f.limit))
    }
}
