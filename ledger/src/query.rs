//! Reads over committed state: lookups by id, an account's transfers and balance history, and
//! queries by field. Results are ordered by timestamp; page by passing the last timestamp seen
//! (plus or minus one) as the next filter's bound.

use crate::account_index::{self, feed};
use crate::account_log::{self, Prefetched};
use crate::error::LedgerError;
use crate::ids::read_id_record;
use crate::keys::{self, IdRecord};
use crate::read::{expiry_floor, read_transfer_at};
use crate::store::{try_scan, Cf, KvRead, StoreError};
use crate::types::{
    Account, AccountBalance, AccountFilter, AccountFilterFlags, AccountFlags, QueryFilter,
    QueryFilterFlags, Transfer, BATCH_MAX, TIMESTAMP_MAX,
};

fn check_batch(len: usize) -> Result<(), LedgerError> {
    if len > BATCH_MAX {
        return Err(LedgerError::BatchTooLarge {
            len,
            max: BATCH_MAX,
        });
    }
    Ok(())
}

/// The accounts that exist among `ids`, in request order (missing ids are skipped).
pub fn lookup_accounts(s: &dyn KvRead, ids: &[u128]) -> Result<Vec<Account>, LedgerError> {
    check_batch(ids.len())?;
    let mut found = Prefetched::default();
    found.load(s, ids.iter().copied())?;
    Ok(ids
        .iter()
        .filter_map(|&id| found.get(id).flatten())
        .collect())
}

/// The transfers that exist among `ids`, in request order (missing or failed ids are skipped).
pub fn lookup_transfers(s: &dyn KvRead, ids: &[u128]) -> Result<Vec<Transfer>, LedgerError> {
    check_batch(ids.len())?;
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        if let Some(IdRecord::Created(ts)) = read_id_record(s, id)? {
            let t = read_transfer_at(s, ts)?
                .ok_or_else(|| StoreError::Corrupt(format!("transfer {id} missing at {ts}")))?;
            out.push(t);
        }
    }
    Ok(out)
}

fn check_range(min: u64, max: u64, limit: u32) -> Result<(u64, u64), LedgerError> {
    let bad = |m: &str| Err(LedgerError::InvalidFilter(m.to_string()));
    if limit == 0 {
        return bad("limit must be at least 1");
    }
    if limit as usize > BATCH_MAX {
        return Err(LedgerError::InvalidFilter(format!(
            "limit must be at most {BATCH_MAX}"
        )));
    }
    // Timestamps are at most 2^63-1; a bound past it names no timestamp (TigerBeetle's rule).
    if min > TIMESTAMP_MAX || max > TIMESTAMP_MAX {
        return bad("timestamp bounds must be at most 2^63-1");
    }
    let max = if max == 0 { TIMESTAMP_MAX } else { max };
    if min > max {
        return bad("timestamp_min must not exceed timestamp_max");
    }
    Ok((min, max))
}

fn check_account_filter(f: &AccountFilter) -> Result<(u64, u64, AccountFilterFlags), LedgerError> {
    if f.account_id == 0 || f.account_id == u128::MAX {
        return Err(LedgerError::InvalidFilter(
            "account_id must not be 0 or 2^128-1".into(),
        ));
    }
    let Some(flags) = AccountFilterFlags::from_bits(f.flags) else {
        return Err(LedgerError::InvalidFilter("unknown filter flags".into()));
    };
    if !flags.intersects(AccountFilterFlags::DEBITS | AccountFilterFlags::CREDITS) {
        return Err(LedgerError::InvalidFilter(
            "set debits, credits or both".into(),
        ));
    }
    let (min, max) = check_range(f.timestamp_min, f.timestamp_max, f.limit)?;
    Ok((min, max, flags))
}

fn matches_fields(f: &AccountFilter, t: &Transfer) -> bool {
    (f.user_data_128 == 0 || f.user_data_128 == t.user_data_128)
        && (f.user_data_64 == 0 || f.user_data_64 == t.user_data_64)
        && (f.user_data_32 == 0 || f.user_data_32 == t.user_data_32)
        && (f.code == 0 || f.code == t.code)
}

/// Walks the account's transfer index within the filter, calling `visit(ts, transfer)` for each
/// match until the limit is reached.
///
/// The index packs each command's transfers of an account into one entry keyed by the newest
/// one's timestamp ([`keys::encode_account_transfers`]), and commands cover disjoint stretches
/// of time. So an entry keyed before `min` holds nothing at or after `min`, the first entry
/// keyed at or after `max` may hold items up to `max`, and every later one holds none.
fn walk_account(
    s: &dyn KvRead,
    f: &AccountFilter,
    mut visit: impl FnMut(u64, &Transfer) -> Result<(), LedgerError>,
) -> Result<(), LedgerError> {
    let (min, max, flags) = check_account_filter(f)?;
    let reverse = flags.contains(AccountFilterFlags::REVERSED);
    let want = |side: u8| {
        (side == keys::SIDE_DEBIT && flags.contains(AccountFilterFlags::DEBITS))
            || (side == keys::SIDE_CREDIT && flags.contains(AccountFilterFlags::CREDITS))
    };
    let mut taken = 0u32;
    // One indexed item, in walk order; false ends the walk (past the range, or at the limit).
    let mut step = |ts: u64, side: u8| -> Result<bool, LedgerError> {
        let before_range = if reverse { ts > max } else { ts < min };
        if before_range {
            return Ok(true);
        }
        if ts < min || ts > max {
            return Ok(false);
        }
        if !want(side) {
            return Ok(true);
        }
        let t = read_transfer_at(s, ts)?
            .ok_or_else(|| StoreError::Corrupt(format!("indexed transfer {ts} missing")))?;
        if matches_fields(f, &t) {
            visit(ts, &t)?;
            taken += 1;
        }
        Ok(taken < f.limit)
    };
    let account = f.account_id;
    // The items not yet folded (the account-index log) are newer than every folded entry's: forward
    // they come last, reversed first.
    if !reverse {
        if walk_entries(s, account, (min, u64::MAX), Walk::Forward, &mut step)? {
            account_index::walk(s, account, false, &mut step)?;
        }
    } else if account_index::walk(s, account, true, &mut step)?
        && walk_entries(
            s,
            account,
            (max, u64::MAX),
            Walk::FirstNewestFirst,
            &mut step,
        )?
        && max > min
    {
        walk_entries(s, account, (min, max - 1), Walk::Reverse, &mut step)?;
    }
    Ok(())
}

/// How [`walk_entries`] visits index entries and their items.
#[derive(Clone, Copy, PartialEq)]
enum Walk {
    /// Every entry in key order, items oldest first.
    Forward,
    /// Every entry in reverse key order, items newest first.
    Reverse,
    /// Only the first entry in key order, items newest first.
    FirstNewestFirst,
}

/// Feeds `step` the items of the account's index entries keyed within `keyed` (inclusive), in
/// the order `walk` says, until `step` returns false. Returns whether `step` never said stop.
fn walk_entries(
    s: &dyn KvRead,
    account: u128,
    keyed: (u64, u64),
    walk: Walk,
    step: &mut dyn FnMut(u64, u8) -> Result<bool, LedgerError>,
) -> Result<bool, LedgerError> {
    let mut items = Vec::new();
    let mut go_on = true;
    try_scan(
        s,
        Cf::AccountTransfers,
        &keys::account_ts_key(account, keyed.0),
        &keys::account_ts_key(account, keyed.1),
        walk == Walk::Reverse,
        |k, v| -> Result<bool, LedgerError> {
            items.clear();
            keys::decode_account_transfers(keys::decode_account_ts_key(k)?, v, &mut items)?;
            go_on = feed(&items, walk != Walk::Forward, step)?;
            Ok(go_on && walk != Walk::FirstNewestFirst)
        },
    )?;
    Ok(go_on)
}

/// The account's transfers matching the filter, by timestamp.
pub fn get_account_transfers(
    s: &dyn KvRead,
    f: &AccountFilter,
) -> Result<Vec<Transfer>, LedgerError> {
    let mut out = Vec::new();
    walk_account(s, f, |_, t| {
        out.push(*t);
        Ok(())
    })?;
    Ok(out)
}

/// The account's balance after each matching transfer, by timestamp. Only accounts with the
/// `history` flag keep snapshots; for others the result is empty. Releases by expiry are
/// snapshots without a transfer and are included only when the filter selects both sides and
/// no transfer field.
pub fn get_account_balances(
    s: &dyn KvRead,
    f: &AccountFilter,
) -> Result<Vec<AccountBalance>, LedgerError> {
    let (min, max, flags) = check_account_filter(f)?;
    match account_log::read(s, f.account_id)? {
        Some(a) if a.flags().contains(AccountFlags::HISTORY) => {}
        _ => return Ok(Vec::new()),
    }
    let all = flags.contains(AccountFilterFlags::DEBITS | AccountFilterFlags::CREDITS)
        && f.user_data_128 == 0
        && f.user_data_64 == 0
        && f.user_data_32 == 0
        && f.code == 0;
    let mut out = Vec::new();
    try_scan(
        s,
        Cf::AccountBalances,
        &keys::account_ts_key(f.account_id, min),
        &keys::account_ts_key(f.account_id, max),
        flags.contains(AccountFilterFlags::REVERSED),
        |k, v| -> Result<bool, LedgerError> {
            let step = (|| -> Result<Option<AccountBalance>, LedgerError> {
                let b = keys::decode_balance(v)?;
                if all {
                    return Ok(Some(b));
                }
                // The snapshot's timestamp is that of the transfer that changed the balances,
                // or of an expiry (no transfer has it: timestamps are unique). Read the
                // transfer directly: one point lookup, where going through the account index
                // would decode a whole packed entry for every snapshot.
                let ts = keys::decode_account_ts_key(k)?;
                let Some(t) = read_transfer_at(s, ts)? else {
                    return Ok(None);
                };
                let side = (flags.contains(AccountFilterFlags::DEBITS)
                    && t.debit_account_id == f.account_id)
                    || (flags.contains(AccountFilterFlags::CREDITS)
                        && t.credit_account_id == f.account_id);
                Ok((side && matches_fields(f, &t)).then_some(b))
            })();
            if let Some(b) = step? {
                out.push(b);
            }
            Ok(out.len() < f.limit as usize)
        },
    )?;
    Ok(out)
}

fn check_query(f: &QueryFilter) -> Result<(u64, u64, bool), LedgerError> {
    let Some(flags) = QueryFilterFlags::from_bits(f.flags) else {
        return Err(LedgerError::InvalidFilter("unknown filter flags".into()));
    };
    let (min, max) = check_range(f.timestamp_min, f.timestamp_max, f.limit)?;
    Ok((min, max, flags.contains(QueryFilterFlags::REVERSED)))
}

fn query_matches(
    f: &QueryFilter,
    ud128: u128,
    ud64: u64,
    ud32: u32,
    ledger: u32,
    code: u16,
) -> bool {
    (f.user_data_128 == 0 || f.user_data_128 == ud128)
        && (f.user_data_64 == 0 || f.user_data_64 == ud64)
        && (f.user_data_32 == 0 || f.user_data_32 == ud32)
        && (f.ledger == 0 || f.ledger == ledger)
        && (f.code == 0 || f.code == code)
}

/// Accounts matching every non-zero field of the filter, by creation timestamp. This walks the
/// accounts created in the timestamp range; narrow the range to bound the work.
pub fn query_accounts(s: &dyn KvRead, f: &QueryFilter) -> Result<Vec<Account>, LedgerError> {
    let (mut min, mut max, reverse) = check_query(f)?;
    let limit = f.limit as usize;
    // Accounts are read a chunk of ids at a time (one walk of the account-log records and one
    // batched read per chunk, not one each).
    let chunk = limit.clamp(64, 1024);
    let mut out = Vec::new();
    let mut ids: Vec<(u64, u128)> = Vec::with_capacity(chunk);
    let mut accounts = Prefetched::default();
    loop {
        ids.clear();
        try_scan(
            s,
            Cf::AccountsByTs,
            &keys::ts_key(min),
            &keys::ts_key(max),
            reverse,
            |k, v| -> Result<bool, StoreError> {
                ids.push((keys::decode_ts_key(k)?, keys::decode_id_value(v)?));
                Ok(ids.len() < chunk)
            },
        )?;
        accounts.load(s, ids.iter().map(|&(_, id)| id))?;
        for &(_, id) in &ids {
            let a = accounts
                .get(id)
                .flatten()
                .ok_or_else(|| StoreError::Corrupt(format!("indexed account {id} missing")))?;
            if query_matches(
                f,
                a.user_data_128,
                a.user_data_64,
                a.user_data_32,
                a.ledger,
                a.code,
            ) {
                out.push(a);
                if out.len() == limit {
                    return Ok(out);
                }
            }
        }
        let next = match (ids.last(), ids.len() == chunk, reverse) {
            (Some(&(last, _)), true, false) => last.checked_add(1).filter(|&n| n <= max),
            (Some(&(last, _)), true, true) => last.checked_sub(1).filter(|&n| n >= min),
            _ => None,
        };
        match (next, reverse) {
            (Some(n), false) => min = n,
            (Some(n), true) => max = n,
            (None, _) => return Ok(out),
        }
    }
}

/// Transfers matching every non-zero field of the filter, by timestamp. This walks the transfers
/// in the timestamp range; narrow the range to bound the work.
pub fn query_transfers(s: &dyn KvRead, f: &QueryFilter) -> Result<Vec<Transfer>, LedgerError> {
    let (min, max, reverse) = check_query(f)?;
    let limit = f.limit as usize;
    let mut out = Vec::new();
    // The buckets overlapping the range; the first and last may hold records outside it.
    let mut bucket = |k: &[u8], v: &[u8]| -> Result<bool, StoreError> {
        let records = keys::transfer_bucket_records(keys::decode_ts_key(k)?, v)?;
        let (mut forward, mut backward);
        let ordered: &mut dyn Iterator<Item = &[u8; keys::TRANSFER_SIZE]> = if reverse {
            backward = records.iter().rev();
            &mut backward
        } else {
            forward = records.iter();
            &mut forward
        };
        for r in ordered {
            if !(min..=max).contains(&keys::record_timestamp(r)) {
                continue;
            }
            let t = keys::decode_transfer(r)?;
            let (ud128, ud64, ud32) = (t.user_data_128, t.user_data_64, t.user_data_32);
            if query_matches(f, ud128, ud64, ud32, t.ledger, t.code) {
                out.push(t);
                if out.len() >= limit {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    };
    try_scan(
        s,
        Cf::Transfers,
        &keys::transfer_bucket_key(min),
        &keys::transfer_bucket_key(max),
        reverse,
        &mut bucket,
    )?;
    Ok(out)
}

/// The earliest time (ns, ledger time) at which a pending transfer expires, if any is pending
/// with a timeout. The leader proposes a pulse once its clock passes it, so reservations are
/// released even when no other command arrives.
pub fn next_expiry(s: &dyn KvRead) -> Result<Option<u64>, LedgerError> {
    let mut first = None;
    let mut bad = None;
    s.scan(
        Cf::Expiry,
        &keys::expiry_key(expiry_floor(s)?, 0),
        &keys::expiry_key(u64::MAX, u64::MAX),
        false,
        &mut |k, _| {
            match keys::decode_expiry_key(k) {
                Ok((at, _)) => first = Some(at),
                Err(e) => bad = Some(e),
            }
            false
        },
    )?;
    match bad {
        Some(e) => Err(e.into()),
        None => Ok(first),
    }
}
