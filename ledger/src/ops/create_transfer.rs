//! `create_transfers`: validation in precedence order, then the balance changes.
//!
//! Plain and pending transfers go through [`create_transfer`]; post and void transfers through
//! [`post_or_void`]. Each is a flat run of early returns in the order of
//! [`CreateTransferResult`](crate::CreateTransferResult)'s declaration.

use crate::exec::{Exec, IdState};
use crate::results::CreateTransferResult as R;
use crate::store::StoreError;
use crate::types::{
    Account, AccountFlags, PendingStatus, Transfer, TransferFlags as F, AMOUNT_MAX, NS_PER_S,
    TIMESTAMP_MAX,
};

/// Validates and applies one transfer event at ledger time `slot`; returns its result and the
/// timestamp that goes with it (see [`crate::EventResults`]). `batch_imported` is the batch's
/// mode.
pub(crate) fn create_transfer(
    x: &mut Exec<'_>,
    t: &Transfer,
    batch_imported: bool,
    slot: u64,
) -> Result<(R, u64), StoreError> {
    let mut stamp = slot;
    let r = validate_and_apply(x, t, batch_imported, slot, &mut stamp)?;
    Ok((r, stamp))
}

/// [`create_transfer`]'s checks in precedence order; sets `stamp` for `ok` and `exists`.
fn validate_and_apply(
    x: &mut Exec<'_>,
    t: &Transfer,
    batch_imported: bool,
    slot: u64,
    stamp: &mut u64,
) -> Result<R, StoreError> {
    let flags = F::from_bits_retain(t.flags);
    let imported = flags.contains(F::IMPORTED);
    if batch_imported && !imported {
        return Ok(R::ImportedEventExpected);
    }
    if !batch_imported && imported {
        return Ok(R::ImportedEventNotExpected);
    }
    let ts = if imported {
        if t.timestamp == 0 || t.timestamp > TIMESTAMP_MAX {
            return Ok(R::ImportedEventTimestampOutOfRange);
        }
        if t.timestamp > x.now {
            return Ok(R::ImportedEventTimestampMustNotAdvance);
        }
        t.timestamp
    } else {
        if t.timestamp != 0 {
            return Ok(R::TimestampMustBeZero);
        }
        slot
    };
    if flags.bits() & !F::all().bits() != 0 {
        return Ok(R::ReservedFlag);
    }
    if t.id == 0 {
        return Ok(R::IdMustNotBeZero);
    }
    if t.id == u128::MAX {
        return Ok(R::IdMustNotBeIntMax);
    }
    match x.transfer_id(t.id)? {
        Some(IdState::Created(e)) => {
            let r = exists(x, t, &e)?;
            if r == R::Exists {
                *stamp = e.timestamp;
            }
            return Ok(r);
        }
        Some(IdState::Failed) => return Ok(R::IdAlreadyFailed),
        None => {}
    }
    let resolves = flags.intersects(F::POST_PENDING_TRANSFER | F::VOID_PENDING_TRANSFER);
    let phase_flags = flags & (F::PENDING | F::POST_PENDING_TRANSFER | F::VOID_PENDING_TRANSFER);
    let modifiers = F::BALANCING_DEBIT | F::BALANCING_CREDIT | F::CLOSING_DEBIT | F::CLOSING_CREDIT;
    if phase_flags.bits().count_ones() > 1 || (resolves && flags.intersects(modifiers)) {
        return Ok(R::FlagsAreMutuallyExclusive);
    }
    if resolves {
        let r = post_or_void(x, t, ts, flags)?;
        if r == R::Ok {
            *stamp = ts;
        }
        return Ok(r);
    }
    if t.debit_account_id == 0 {
        return Ok(R::DebitAccountIdMustNotBeZero);
    }
    if t.debit_account_id == u128::MAX {
        return Ok(R::DebitAccountIdMustNotBeIntMax);
    }
    if t.credit_account_id == 0 {
        return Ok(R::CreditAccountIdMustNotBeZero);
    }
    if t.credit_account_id == u128::MAX {
        return Ok(R::CreditAccountIdMustNotBeIntMax);
    }
    if t.debit_account_id == t.credit_account_id {
        return Ok(R::AccountsMustBeDifferent);
    }
    if t.pending_id != 0 {
        return Ok(R::PendingIdMustBeZero);
    }
    let pending = flags.contains(F::PENDING);
    if t.timeout != 0 && !pending {
        return Ok(R::TimeoutReservedForPendingTransfer);
    }
    if flags.intersects(F::CLOSING_DEBIT | F::CLOSING_CREDIT) && !pending {
        return Ok(R::ClosingTransferMustBePending);
    }
    if t.ledger == 0 {
        return Ok(R::LedgerMustNotBeZero);
    }
    if t.code == 0 {
        return Ok(R::CodeMustNotBeZero);
    }
    let Some(mut dr) = x.account(t.debit_account_id)? else {
        return Ok(R::DebitAccountNotFound);
    };
    let Some(mut cr) = x.account(t.credit_account_id)? else {
        return Ok(R::CreditAccountNotFound);
    };
    if dr.ledger != cr.ledger {
        return Ok(R::AccountsMustHaveTheSameLedger);
    }
    if t.ledger != dr.ledger {
        return Ok(R::TransferMustHaveTheSameLedgerAsAccounts);
    }
    if imported {
        if let Some(r) = imported_checks(x, &dr, &cr, ts)? {
            return Ok(r);
        }
        if t.timeout != 0 {
            return Ok(R::ImportedEventTimeoutMustBeZero);
        }
    }
    if dr.flags().contains(AccountFlags::CLOSED) {
        return Ok(R::DebitAccountAlreadyClosed);
    }
    if cr.flags().contains(AccountFlags::CLOSED) {
        return Ok(R::CreditAccountAlreadyClosed);
    }
    let mut amount = t.amount;
    if flags.contains(F::BALANCING_DEBIT) {
        let debits = dr.debits_pending.saturating_add(dr.debits_posted);
        amount = amount.min(dr.credits_posted.saturating_sub(debits));
    }
    if flags.contains(F::BALANCING_CREDIT) {
        let credits = cr.credits_pending.saturating_add(cr.credits_posted);
        amount = amount.min(cr.debits_posted.saturating_sub(credits));
    }
    if pending {
        let Some(v) = dr.debits_pending.checked_add(amount) else {
            return Ok(R::OverflowsDebitsPending);
        };
        dr.debits_pending = v;
        let Some(v) = cr.credits_pending.checked_add(amount) else {
            return Ok(R::OverflowsCreditsPending);
        };
        cr.credits_pending = v;
    }
    // A pending transfer is checked against the posted balances too, so that posting it can
    // never overflow them.
    let Some(dr_posted) = dr.debits_posted.checked_add(amount) else {
        return Ok(R::OverflowsDebitsPosted);
    };
    let Some(cr_posted) = cr.credits_posted.checked_add(amount) else {
        return Ok(R::OverflowsCreditsPosted);
    };
    if !pending {
        dr.debits_posted = dr_posted;
        cr.credits_posted = cr_posted;
    }
    let Some(dr_debits) = dr.debits_pending.checked_add(dr.debits_posted) else {
        return Ok(R::OverflowsDebits);
    };
    let Some(cr_credits) = cr.credits_pending.checked_add(cr.credits_posted) else {
        return Ok(R::OverflowsCredits);
    };
    if t.timeout != 0 && ts.saturating_add(u64::from(t.timeout) * NS_PER_S) > TIMESTAMP_MAX {
        return Ok(R::OverflowsTimeout);
    }
    if dr
        .flags()
        .contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
        && dr_debits > dr.credits_posted
    {
        return Ok(R::ExceedsCredits);
    }
    if cr
        .flags()
        .contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
        && cr_credits > cr.debits_posted
    {
        return Ok(R::ExceedsDebits);
    }
    if flags.contains(F::CLOSING_DEBIT) {
        dr.flags |= AccountFlags::CLOSED.bits();
    }
    if flags.contains(F::CLOSING_CREDIT) {
        cr.flags |= AccountFlags::CLOSED.bits();
    }
    if pending {
        // Recorded in the overlay so that a post or void later in this batch can see it.
        x.pending.insert(ts, PendingStatus::Pending);
    }
    commit(
        x,
        dr,
        cr,
        Transfer {
            amount,
            timestamp: ts,
            ..*t
        },
        imported,
    );
    *stamp = ts;
    Ok(R::Ok)
}

/// Posts or voids the pending transfer named by `t.pending_id`.
fn post_or_void(x: &mut Exec<'_>, t: &Transfer, ts: u64, flags: F) -> Result<R, StoreError> {
    if t.pending_id == 0 {
        return Ok(R::PendingIdMustNotBeZero);
    }
    if t.pending_id == u128::MAX {
        return Ok(R::PendingIdMustNotBeIntMax);
    }
    if t.pending_id == t.id {
        return Ok(R::PendingIdMustBeDifferent);
    }
    if t.timeout != 0 {
        return Ok(R::TimeoutReservedForPendingTransfer);
    }
    let Some(IdState::Created(p)) = x.transfer_id(t.pending_id)? else {
        return Ok(R::PendingTransferNotFound);
    };
    if !p.flags().contains(F::PENDING) {
        return Ok(R::PendingTransferNotPending);
    }
    if t.debit_account_id != 0 && t.debit_account_id != p.debit_account_id {
        return Ok(R::PendingTransferHasDifferentDebitAccountId);
    }
    if t.credit_account_id != 0 && t.credit_account_id != p.credit_account_id {
        return Ok(R::PendingTransferHasDifferentCreditAccountId);
    }
    if t.ledger != 0 && t.ledger != p.ledger {
        return Ok(R::PendingTransferHasDifferentLedger);
    }
    if t.code != 0 && t.code != p.code {
        return Ok(R::PendingTransferHasDifferentCode);
    }
    let post = flags.contains(F::POST_PENDING_TRANSFER);
    let amount = if post {
        if t.amount == AMOUNT_MAX {
            p.amount
        } else if t.amount > p.amount {
            return Ok(R::ExceedsPendingTransferAmount);
        } else {
            t.amount
        }
    } else if t.amount > p.amount {
        return Ok(R::ExceedsPendingTransferAmount);
    } else if t.amount != 0 && t.amount != p.amount {
        return Ok(R::PendingTransferHasDifferentAmount);
    } else {
        p.amount
    };
    assert!(
        amount <= p.amount,
        "invariant: resolving {} moves {amount}, more than its pending {}",
        p.id,
        p.amount
    );
    match x.pending_status(p.timestamp)? {
        PendingStatus::Posted => return Ok(R::PendingTransferAlreadyPosted),
        PendingStatus::Voided => return Ok(R::PendingTransferAlreadyVoided),
        PendingStatus::Expired => return Ok(R::PendingTransferExpired),
        PendingStatus::Pending => {}
    }
    if p.expires_at().is_some_and(|at| at <= ts) {
        return Ok(R::PendingTransferExpired);
    }
    let (mut dr, mut cr) = pending_accounts(x, &p)?;
    let imported = flags.contains(F::IMPORTED);
    if imported {
        if let Some(r) = imported_checks(x, &dr, &cr, ts)? {
            return Ok(r);
        }
    }
    // A void is the only movement a closed account allows (any pending transfer's, not only
    // the closing one's). A closing transfer keeps its account closed while it is pending, so
    // it can never be posted.
    if post && dr.flags().contains(AccountFlags::CLOSED) {
        return Ok(R::DebitAccountAlreadyClosed);
    }
    if post && cr.flags().contains(AccountFlags::CLOSED) {
        return Ok(R::CreditAccountAlreadyClosed);
    }
    if post {
        assert!(
            !p.flags().intersects(F::CLOSING_DEBIT | F::CLOSING_CREDIT),
            "invariant: closing transfer {} posted while its account is open",
            p.id
        );
        // Cannot overflow: `pending + posted` fitted when `p` was created, and a post moves at
        // most the pending amount from one to the other.
        dr.debits_posted = dr
            .debits_posted
            .checked_add(amount)
            .expect("invariant: debits_pending + debits_posted fits in u128");
        cr.credits_posted = cr
            .credits_posted
            .checked_add(amount)
            .expect("invariant: credits_pending + credits_posted fits in u128");
    }
    release(&mut dr, &mut cr, &p, !post);
    x.pending.insert(
        p.timestamp,
        if post {
            PendingStatus::Posted
        } else {
            PendingStatus::Voided
        },
    );
    if let Some(at) = p.expires_at() {
        x.unexpire.insert((at, p.timestamp), ());
    }
    let pick = |mine: u128, theirs: u128| if mine != 0 { mine } else { theirs };
    let resolved = Transfer {
        id: t.id,
        debit_account_id: p.debit_account_id,
        credit_account_id: p.credit_account_id,
        amount,
        pending_id: t.pending_id,
        user_data_128: pick(t.user_data_128, p.user_data_128),
        user_data_64: pick(u128::from(t.user_data_64), u128::from(p.user_data_64)) as u64,
        user_data_32: pick(u128::from(t.user_data_32), u128::from(p.user_data_32)) as u32,
        timeout: 0,
        ledger: p.ledger,
        code: p.code,
        flags: t.flags,
        timestamp: ts,
    };
    commit(x, dr, cr, resolved, imported);
    Ok(R::Ok)
}

/// The accounts of a stored pending transfer; they must exist (accounts are never deleted).
pub(crate) fn pending_accounts(
    x: &Exec<'_>,
    p: &Transfer,
) -> Result<(Account, Account), StoreError> {
    let missing = |id| StoreError::Corrupt(format!("account {id} of transfer {} missing", p.id));
    let dr = x
        .account(p.debit_account_id)?
        .ok_or_else(|| missing(p.debit_account_id))?;
    let cr = x
        .account(p.credit_account_id)?
        .ok_or_else(|| missing(p.credit_account_id))?;
    Ok((dr, cr))
}

/// Releases a pending transfer's reservation; `reopen` also undoes its closing flags (void and
/// expiry reopen a closed account; a closing transfer is never posted). Invariant: a post, void
/// or expiry releases exactly the pending amount, which the pending transfer reserved on both
/// accounts.
pub(crate) fn release(dr: &mut Account, cr: &mut Account, p: &Transfer, reopen: bool) {
    dr.debits_pending = dr
        .debits_pending
        .checked_sub(p.amount)
        .expect("invariant: a pending transfer's amount is reserved on its debit account");
    cr.credits_pending = cr
        .credits_pending
        .checked_sub(p.amount)
        .expect("invariant: a pending transfer's amount is reserved on its credit account");
    if reopen {
        if p.flags().contains(F::CLOSING_DEBIT) {
            dr.flags &= !AccountFlags::CLOSED.bits();
        }
        if p.flags().contains(F::CLOSING_CREDIT) {
            cr.flags &= !AccountFlags::CLOSED.bits();
        }
    }
}

/// An imported transfer's timestamp must be after the newest transfer, not any account's, not
/// before a balance already recorded in either account's history (an expiry records one at
/// ledger time), and after both accounts' creation.
fn imported_checks(
    x: &Exec<'_>,
    dr: &Account,
    cr: &Account,
    ts: u64,
) -> Result<Option<R>, StoreError> {
    let history = |a: &Account| a.flags().contains(AccountFlags::HISTORY);
    if ts <= x.last_transfer_ts
        || x.account_at(ts)?
        || (history(dr) && ts <= x.newest_balance(dr.id)?)
        || (history(cr) && ts <= x.newest_balance(cr.id)?)
    {
        return Ok(Some(R::ImportedEventTimestampMustNotRegress));
    }
    if dr.timestamp >= ts {
        return Ok(Some(R::ImportedEventTimestampMustPostdateDebitAccount));
    }
    if cr.timestamp >= ts {
        return Ok(Some(R::ImportedEventTimestampMustPostdateCreditAccount));
    }
    Ok(None)
}

fn commit(x: &mut Exec<'_>, dr: Account, cr: Account, t: Transfer, imported: bool) {
    x.record_history(&dr, t.timestamp);
    x.record_history(&cr, t.timestamp);
    x.put_account(dr);
    x.put_account(cr);
    x.transfers.insert(t.id, t);
    if imported {
        assert!(
            t.timestamp > x.last_transfer_ts,
            "invariant: imported transfer {} at {} not after the newest, {}",
            t.id,
            t.timestamp,
            x.last_transfer_ts
        );
        x.last_transfer_ts = t.timestamp;
    }
}

/// Compares a retried transfer with the stored one, field by field in precedence order.
fn exists(x: &Exec<'_>, t: &Transfer, e: &Transfer) -> Result<R, StoreError> {
    let flags = F::from_bits_retain(t.flags);
    if t.flags != e.flags {
        return Ok(R::ExistsWithDifferentFlags);
    }
    if t.pending_id != e.pending_id {
        return Ok(R::ExistsWithDifferentPendingId);
    }
    if t.timeout != e.timeout {
        return Ok(R::ExistsWithDifferentTimeout);
    }
    // Post/void transfers may leave accounts, ledger, code and user data at zero to inherit them
    // from the pending transfer; the stored transfer holds the inherited values.
    let resolves = flags.intersects(F::POST_PENDING_TRANSFER | F::VOID_PENDING_TRANSFER);
    let differs = |mine: u128, stored: u128| mine != stored && !(resolves && mine == 0);
    if differs(t.debit_account_id, e.debit_account_id) {
        return Ok(R::ExistsWithDifferentDebitAccountId);
    }
    if differs(t.credit_account_id, e.credit_account_id) {
        return Ok(R::ExistsWithDifferentCreditAccountId);
    }
    if t.amount != e.amount && !amount_matches(x, t, e, flags)? {
        return Ok(R::ExistsWithDifferentAmount);
    }
    // A post/void's 0 user data means "inherited": it matches only if the stored value is the
    // pending transfer's, not one the original post/void set itself.
    let inherited = if resolves {
        Some(pending_of(x, e)?)
    } else {
        None
    };
    let user_data_differs =
        |mine: u128, stored: u128, pending: fn(&Transfer) -> u128| match (mine, &inherited) {
            (0, Some(p)) => stored != pending(p),
            _ => mine != stored,
        };
    if user_data_differs(t.user_data_128, e.user_data_128, |p| p.user_data_128) {
        return Ok(R::ExistsWithDifferentUserData128);
    }
    if user_data_differs(t.user_data_64.into(), e.user_data_64.into(), |p| {
        p.user_data_64.into()
    }) {
        return Ok(R::ExistsWithDifferentUserData64);
    }
    if user_data_differs(t.user_data_32.into(), e.user_data_32.into(), |p| {
        p.user_data_32.into()
    }) {
        return Ok(R::ExistsWithDifferentUserData32);
    }
    if differs(t.ledger.into(), e.ledger.into()) {
        return Ok(R::ExistsWithDifferentLedger);
    }
    if differs(t.code.into(), e.code.into()) {
        return Ok(R::ExistsWithDifferentCode);
    }
    Ok(R::Exists)
}

/// The pending transfer a stored post/void `e` resolved; it exists (transfers are never
/// deleted).
fn pending_of(x: &Exec<'_>, e: &Transfer) -> Result<Transfer, StoreError> {
    match x.transfer_id(e.pending_id)? {
        Some(IdState::Created(p)) => Ok(p),
        _ => Err(StoreError::Corrupt(format!(
            "pending transfer {} of transfer {} missing",
            e.pending_id, e.id
        ))),
    }
}

/// Whether a retry's amount names the same transfer although the numbers differ: balancing
/// transfers store the clamped amount (at most the requested one); a void may say 0; a post of
/// the full pending amount may say any amount at least as large (e.g. `AMOUNT_MAX`).
fn amount_matches(x: &Exec<'_>, t: &Transfer, e: &Transfer, flags: F) -> Result<bool, StoreError> {
    if flags.intersects(F::BALANCING_DEBIT | F::BALANCING_CREDIT) {
        return Ok(t.amount >= e.amount);
    }
    if flags.contains(F::VOID_PENDING_TRANSFER) {
        return Ok(t.amount == 0);
    }
    if flags.contains(F::POST_PENDING_TRANSFER) && t.amount > e.amount {
        return Ok(match x.transfer_id(e.pending_id)? {
            Some(IdState::Created(p)) => e.amount == p.amount,
            _ => false,
        });
    }
    Ok(false)
}
