//! `account_transfers`: the account index, (account id, newest transfer timestamp) -> that
//! account's transfers of a run of commands, packed. Written when the account-index log
//! ([`super::account_index_log`]) is folded; an account's history is these entries followed by
//! its rows in the log records not folded yet.
//!
//! Key (24 bytes, [`account_ts_key`]; `account_balances` keys have the same form):
//!
//! | bytes  | field                                  | encoding |
//! |--------|----------------------------------------|----------|
//! | 0..16  | account id                             | u128 BE  |
//! | 16..24 | timestamp of the newest item it packs  | u64 BE   |
//!
//! Value ([`encode_account_transfers`]): one or more items, newest first, each a LEB128 varint
//! (1 to 10 bytes) of
//!
//! | bits   | field                                                          |
//! |--------|----------------------------------------------------------------|
//! | 0..2   | side: [`SIDE_DEBIT`] (1) or [`SIDE_CREDIT`] (2)                 |
//! | 2..66  | gap: the previous item's timestamp minus this one's (first: 0)  |
//!
//! The first item's "previous" is the key's timestamp, so its gap is 0 and every later gap is
//! positive: timestamps strictly decrease.

use super::cf::Cf;
use super::codec::{be_u64, corrupt};
use crate::error::StoreError;

/// `account_transfers` value bit: the account is the transfer's debit side.
pub const SIDE_DEBIT: u8 = 1;
/// `account_transfers` value bit: the account is the transfer's credit side.
pub const SIDE_CREDIT: u8 = 2;

/// Key of `account_transfers` and `account_balances`: account id, then timestamp (for
/// `account_transfers`, the timestamp of the newest transfer the entry packs).
pub fn account_ts_key(account_id: u128, ts: u64) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..16].copy_from_slice(&account_id.to_be_bytes());
    k[16..].copy_from_slice(&ts.to_be_bytes());
    k
}

/// Timestamp part of an `account_transfers` / `account_balances` key.
pub fn decode_account_ts_key(k: &[u8]) -> Result<u64, StoreError> {
    if k.len() != 24 {
        return Err(corrupt(Cf::AccountTransfers, "key length"));
    }
    Ok(be_u64(&k[16..]))
}

/// Most bytes one `account_transfers` item takes: a LEB128 varint of up to 66 bits.
const PACKED_ITEM_MAX: usize = 10;

/// Encodes one account's transfers of a run of commands (a fold of `recent_index`, or one
/// command's row in a `recent_index` record), `items` newest first as (timestamp, side): the
/// value of the `account_transfers` entry keyed by (account, newest timestamp).
///
/// Each item is a LEB128 varint of `gap << 2 | side`, where `gap` is the distance in timestamp
/// from the item before it (the first item's predecessor is the key's timestamp, so its gap
/// is 0) and `side` is [`SIDE_DEBIT`] or [`SIDE_CREDIT`]. Timestamps must strictly decrease.
///
/// Why pack: one entry per (account, run of commands) instead of per (account, transfer) cuts
/// the account index's records by about 2 per command in a uniform load over 10,000 accounts
/// (each account shows up about twice per full command), by 8 more with folds of 8 commands,
/// and by orders of magnitude for hot accounts; every record costs a memtable insert on the
/// apply path and again in every flush and compaction.
pub fn encode_account_transfers(items: impl Iterator<Item = (u64, u8)>, out: &mut Vec<u8>) {
    out.clear();
    append_account_transfers(items, out);
}

/// [`encode_account_transfers`] appending to `out` instead of replacing it.
pub fn append_account_transfers(items: impl Iterator<Item = (u64, u8)>, out: &mut Vec<u8>) {
    let mut prev = None;
    for (ts, side) in items {
        let gap = prev.map_or(0, |p: u64| {
            debug_assert!(ts < p, "timestamps strictly decrease");
            p - ts
        });
        prev = Some(ts);
        let mut v = u128::from(gap) << 2 | u128::from(side & 3);
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
}

/// Decodes [`encode_account_transfers`]'s layout under key timestamp `newest`, appending the
/// (timestamp, side) items newest first to `out`.
pub fn decode_account_transfers(
    newest: u64,
    v: &[u8],
    out: &mut Vec<(u64, u8)>,
) -> Result<(), StoreError> {
    let bad = || corrupt(Cf::AccountTransfers, "value");
    if v.is_empty() {
        return Err(bad());
    }
    let (mut at, mut ts, mut first) = (0, newest, true);
    while at < v.len() {
        let mut item = 0u128;
        let mut shift = 0;
        loop {
            let byte = *v.get(at).ok_or_else(bad)?;
            at += 1;
            if shift >= 7 * PACKED_ITEM_MAX {
                return Err(bad());
            }
            item |= u128::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        let side = (item & 3) as u8;
        let gap = u64::try_from(item >> 2).map_err(|_| bad())?;
        // The first item sits at the key's timestamp; each later one strictly before the last.
        if side != SIDE_DEBIT && side != SIDE_CREDIT || (gap == 0) != first {
            return Err(bad());
        }
        first = false;
        ts = ts.checked_sub(gap).ok_or_else(bad)?;
        out.push((ts, side));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_account_transfers_round_trip() {
        let items = [
            (u64::MAX, SIDE_DEBIT),
            (1 << 40, SIDE_CREDIT),
            (7, SIDE_DEBIT),
            (0, 2),
        ];
        let mut packed = Vec::new();
        encode_account_transfers(items.iter().copied(), &mut packed);
        let mut back = Vec::new();
        decode_account_transfers(u64::MAX, &packed, &mut back).unwrap();
        assert_eq!(back, items);
        assert_eq!(decode_account_ts_key(&account_ts_key(3, 99)).unwrap(), 99);
        assert!(decode_account_ts_key(&[0; 23]).is_err());
    }

    /// Every malformed `account_transfers` value is refused, never misread: empty, truncated
    /// varint, a first item not at the key's timestamp, a later item not strictly older, a bad
    /// side, a gap past time zero, an over-long varint.
    #[test]
    fn packed_account_transfers_refuse_bad_values() {
        let mut back = Vec::new();
        let pack = |items: &[(u64, u8)]| {
            let mut v = Vec::new();
            encode_account_transfers(items.iter().copied(), &mut v);
            v
        };
        let good = pack(&[(100, 1), (90, 2)]);
        assert!(decode_account_transfers(100, &good, &mut back).is_ok());
        let cases: Vec<(u64, Vec<u8>)> = vec![
            (100, vec![]),
            (100, vec![0x81]),
            (100, vec![(3 << 2) | 1]),
            (100, vec![1, 1]),
            (100, vec![3]),
            (100, vec![0]),
            (5, good.clone()),
            (100, [vec![1], vec![0xff; 10], vec![0x01]].concat()),
        ];
        for (newest, v) in cases {
            back.clear();
            assert!(
                decode_account_transfers(newest, &v, &mut back).is_err(),
                "{newest} {v:?} must be refused"
            );
        }
    }
}
