//! `create_accounts`: validation in precedence order, then insertion.

use crate::exec::Exec;
use crate::results::CreateAccountResult as R;
use crate::store::StoreError;
use crate::types::{Account, AccountFlags, TIMESTAMP_MAX};

/// Validates and applies one account event at ledger time `slot`; returns its result and the
/// timestamp that goes with it (see [`crate::EventResults`]). `batch_imported` is the batch's
/// mode (first event's flag).
pub(crate) fn create_account(
    x: &mut Exec<'_>,
    a: &Account,
    batch_imported: bool,
    slot: u64,
) -> Result<(R, u64), StoreError> {
    let mut stamp = slot;
    let r = validate_and_insert(x, a, batch_imported, slot, &mut stamp)?;
    Ok((r, stamp))
}

/// [`create_account`]'s checks in precedence order; sets `stamp` for `ok` and `exists`.
fn validate_and_insert(
    x: &mut Exec<'_>,
    a: &Account,
    batch_imported: bool,
    slot: u64,
    stamp: &mut u64,
) -> Result<R, StoreError> {
    let flags = AccountFlags::from_bits_retain(a.flags);
    let imported = flags.contains(AccountFlags::IMPORTED);
    if batch_imported && !imported {
        return Ok(R::ImportedEventExpected);
    }
    if !batch_imported && imported {
        return Ok(R::ImportedEventNotExpected);
    }
    let ts = if imported {
        if a.timestamp == 0 || a.timestamp > TIMESTAMP_MAX {
            return Ok(R::ImportedEventTimestampOutOfRange);
        }
        if a.timestamp > x.now {
            return Ok(R::ImportedEventTimestampMustNotAdvance);
        }
        a.timestamp
    } else {
        if a.timestamp != 0 {
            return Ok(R::TimestampMustBeZero);
        }
        slot
    };
    if flags.bits() & !AccountFlags::all().bits() != 0 {
        return Ok(R::ReservedFlag);
    }
    if a.id == 0 {
        return Ok(R::IdMustNotBeZero);
    }
    if a.id == u128::MAX {
        return Ok(R::IdMustNotBeIntMax);
    }
    if let Some(e) = x.account(a.id)? {
        let r = exists(a, &e);
        if r == R::Exists {
            *stamp = e.timestamp;
        }
        return Ok(r);
    }
    if flags.contains(
        AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
    ) {
        return Ok(R::FlagsAreMutuallyExclusive);
    }
    if a.debits_pending != 0 {
        return Ok(R::DebitsPendingMustBeZero);
    }
    if a.debits_posted != 0 {
        return Ok(R::DebitsPostedMustBeZero);
    }
    if a.credits_pending != 0 {
        return Ok(R::CreditsPendingMustBeZero);
    }
    if a.credits_posted != 0 {
        return Ok(R::CreditsPostedMustBeZero);
    }
    if a.ledger == 0 {
        return Ok(R::LedgerMustNotBeZero);
    }
    if a.code == 0 {
        return Ok(R::CodeMustNotBeZero);
    }
    if imported {
        // After the newest account, and not the timestamp of any transfer: timestamps are
        // unique across accounts and transfers. This batch creates no transfers.
        if ts <= x.last_account_ts || x.transfer_at(ts)? {
            return Ok(R::ImportedEventTimestampMustNotRegress);
        }
        x.last_account_ts = ts;
    }
    let account = Account {
        timestamp: ts,
        ..*a
    };
    x.accounts.insert(a.id, (account, true));
    *stamp = ts;
    Ok(R::Ok)
}

/// Compares a retried account with the stored one, field by field in precedence order.
fn exists(a: &Account, e: &Account) -> R {
    // Bit for bit, `closed` included (as TigerBeetle): an account a closing transfer has closed
    // differs from the event that created it open.
    if a.flags != e.flags {
        return R::ExistsWithDifferentFlags;
    }
    if a.user_data_128 != e.user_data_128 {
        return R::ExistsWithDifferentUserData128;
    }
    if a.user_data_64 != e.user_data_64 {
        return R::ExistsWithDifferentUserData64;
    }
    if a.user_data_32 != e.user_data_32 {
        return R::ExistsWithDifferentUserData32;
    }
    if a.ledger != e.ledger {
        return R::ExistsWithDifferentLedger;
    }
    if a.code != e.code {
        return R::ExistsWithDifferentCode;
    }
    R::Exists
}
