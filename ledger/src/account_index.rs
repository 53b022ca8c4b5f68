//! The account index: account -> its transfers, for `get_account_transfers` and balance
//! history. Two parts, both in the store:
//!
//! - the account-index log ([`keys::account_index_log`], `recent_index` on disk): each
//!   command's items as one record, its accounts' items packed per account;
//! - the folded entries ([`keys::account_index`], `account_transfers`): every
//!   [`keys::INDEX_FOLD`] commands, the log's records become one entry per account.
//!
//! An entry per (account, command) would be one memtable insert per account a command touches,
//! about one per transfer with 10,000 accounts, and the largest share of RocksDB's compaction
//! (the apply benchmark runs 60% faster without it). A command writes one record instead, and a
//! fold one entry per account per [`keys::INDEX_FOLD`] commands. Both are written in the
//! command's own batch, so crash replay, snapshots, replicas and readers need nothing new: a
//! reader reads the folded entries, then the log records newer than them.

use crate::error::LedgerError;
use crate::keys::{self, IndexLogRows, INDEX_FOLD};
use crate::read::read_meta_u64;
use crate::store::{try_scan, Cf, KvRead, StoreError, WriteBatch};
use std::ops::Range;

/// The working memory of [`encode`], kept between commands: its buffers grow to a command's
/// size once (up to megabytes: fresh ones cost page faults every command, measured with perf).
#[derive(Debug, Default)]
pub(crate) struct Buffers {
    /// This command's items, packed per account.
    packed: Vec<u8>,
    /// This command's rows: (account, newest timestamp, range of `packed`).
    rows: Vec<(u128, u64, Range<usize>)>,
    /// The stored records' values, one after another, while a fold merges them.
    values: Vec<u8>,
    /// Each stored record's range of `values`, newest first.
    ranges: Vec<Range<usize>>,
    /// An account's items, merged from every source.
    items: Vec<(u64, u8)>,
    /// One row's items, decoded.
    decoded: Vec<(u64, u8)>,
}

/// Writes the account-index items of a command's created transfers, `(account, timestamp,
/// side)` in any order: as one new `recent_index` record, or, when [`INDEX_FOLD`]` - 1`
/// records are already stored, together with theirs as `account_transfers` entries (one per
/// account), deleting those records.
pub(crate) fn encode(
    base: &dyn KvRead,
    index: &mut [(u128, u64, u8)],
    buf: &mut Buffers,
    value: &mut Vec<u8>,
    out: &mut WriteBatch,
) -> Result<(), StoreError> {
    if index.is_empty() {
        return Ok(());
    }
    index.sort_unstable();
    let Buffers { packed, rows, .. } = buf;
    packed.clear();
    rows.clear();
    for run in index.chunk_by(|a, b| a.0 == b.0) {
        let (account, newest, _) = run[run.len() - 1];
        let start = packed.len();
        keys::append_account_transfers(run.iter().rev().map(|&(_, ts, side)| (ts, side)), packed);
        rows.push((account, newest, start..packed.len()));
    }
    let mut stored: Vec<[u8; 8]> = Vec::with_capacity(INDEX_FOLD);
    try_scan(
        base,
        Cf::AccountIndexLog,
        &floor(base)?,
        &keys::ts_key(u64::MAX),
        false,
        |k, _| {
            let key = <[u8; 8]>::try_from(k)
                .map_err(|_| StoreError::Corrupt("recent_index: bad key".into()))?;
            stored.push(key);
            Ok::<_, StoreError>(true)
        },
    )?;
    if stored.len() + 1 < INDEX_FOLD {
        let first = index.iter().map(|i| i.1).min().expect("not empty");
        value.clear();
        keys::encode_index_log_record(
            rows.iter().map(|(a, n, r)| (*a, *n, &packed[r.clone()])),
            value,
        );
        out.put(Cf::AccountIndexLog, &keys::ts_key(first), value);
        return Ok(());
    }
    // Every later command's items, and so its record's key, come after this command's.
    let newest = index.iter().map(|i| i.1).max().expect("not empty");
    let next = newest
        .checked_add(1)
        .ok_or_else(|| StoreError::Corrupt("recent_index: timestamp at its maximum".into()))?;
    out.put(Cf::Meta, keys::META_INDEX_LOG_FLOOR, &next.to_le_bytes());
    fold(base, &stored, buf, value, out)
}

/// The smallest key a stored `recent_index` record can have ([`keys::META_INDEX_LOG_FLOOR`]).
fn floor(s: &dyn KvRead) -> Result<[u8; 8], StoreError> {
    read_meta_u64(s, keys::META_INDEX_LOG_FLOOR).map(keys::ts_key)
}

/// Writes one `account_transfers` entry per account of the stored records `stored` (oldest
/// first) and this command's rows (in `buf`), and deletes the records: for each account, in
/// account order, its items of every record, newest first.
fn fold(
    base: &dyn KvRead,
    stored: &[[u8; 8]],
    buf: &mut Buffers,
    value: &mut Vec<u8>,
    out: &mut WriteBatch,
) -> Result<(), StoreError> {
    let Buffers {
        packed,
        rows,
        values,
        ranges,
        items,
        decoded,
    } = buf;
    // The stored records' values, kept for the merge (newest first, like the items).
    values.clear();
    ranges.clear();
    for key in stored.iter().rev() {
        let start = values.len();
        if !base.get(Cf::AccountIndexLog, key, &mut |b| {
            values.extend_from_slice(b)
        })? {
            return Err(StoreError::Corrupt("recent_index: record vanished".into()));
        }
        ranges.push(start..values.len());
        out.delete(Cf::AccountIndexLog, key);
    }
    let records = ranges
        .iter()
        .map(|r| {
            let rows = keys::index_log_rows(&values[r.clone()])?;
            rows.check_order()?;
            Ok(rows)
        })
        .collect::<Result<Vec<IndexLogRows<'_>>, StoreError>>()?;
    // One cursor per record (newest first) plus this command's rows (newest of all).
    let mut at = vec![0usize; records.len()];
    let mut mine = 0usize;
    loop {
        let next_mine = rows.get(mine).map(|r| r.0);
        let mut next = next_mine;
        for (r, &i) in records.iter().zip(&at) {
            if i < r.len() {
                let account = r.row(i)?.account;
                next = Some(next.map_or(account, |n| n.min(account)));
            }
        }
        let Some(account) = next else { break };
        items.clear();
        if next_mine == Some(account) {
            let (_, newest, range) = &rows[mine];
            keys::decode_account_transfers(*newest, &packed[range.clone()], items)?;
            mine += 1;
        }
        for (r, i) in records.iter().zip(at.iter_mut()) {
            if *i < r.len() && r.row(*i)?.account == account {
                let row = r.row(*i)?;
                decoded.clear();
                keys::decode_account_transfers(row.newest, row.packed, decoded)
                    .map_err(|_| StoreError::Corrupt("recent_index: bad items".into()))?;
                if items
                    .last()
                    .zip(decoded.first())
                    .is_some_and(|(l, f)| f.0 >= l.0)
                {
                    return Err(StoreError::Corrupt(
                        "recent_index: records overlap in time".into(),
                    ));
                }
                items.extend_from_slice(decoded);
                *i += 1;
            }
        }
        let newest = items[0].0;
        keys::encode_account_transfers(items.iter().copied(), value);
        out.put(
            Cf::AccountTransfers,
            &keys::account_ts_key(account, newest),
            value,
        );
    }
    Ok(())
}

/// Feeds `step` the (timestamp, side) items of `account` in the `recent_index` records, oldest
/// first, or newest first if `reverse`, until `step` returns false. Returns whether `step`
/// never said stop. Every logged item is newer than every folded one.
pub(crate) fn walk(
    s: &dyn KvRead,
    account: u128,
    reverse: bool,
    step: &mut dyn FnMut(u64, u8) -> Result<bool, LedgerError>,
) -> Result<bool, LedgerError> {
    let mut items = Vec::new();
    let mut go_on = true;
    try_scan(
        s,
        Cf::AccountIndexLog,
        &floor(s)?,
        &keys::ts_key(u64::MAX),
        reverse,
        |_, v| -> Result<bool, LedgerError> {
            let Some(row) = keys::index_log_rows(v)?.find(account)? else {
                return Ok(true);
            };
            items.clear();
            keys::decode_account_transfers(row.newest, row.packed, &mut items)
                .map_err(|_| StoreError::Corrupt("recent_index: bad items".into()))?;
            go_on = feed(&items, reverse, step)?;
            Ok(go_on)
        },
    )?;
    Ok(go_on)
}

/// Feeds `step` one packed run's `items` (decoded, so newest first), newest first or oldest
/// first, until `step` returns false. Returns whether `step` never said stop.
pub(crate) fn feed(
    items: &[(u64, u8)],
    newest_first: bool,
    step: &mut dyn FnMut(u64, u8) -> Result<bool, LedgerError>,
) -> Result<bool, LedgerError> {
    let ordered: &mut dyn Iterator<Item = &(u64, u8)> = if newest_first {
        &mut items.iter()
    } else {
        &mut items.iter().rev()
    };
    for &(ts, side) in ordered {
        if !step(ts, side)? {
            return Ok(false);
        }
    }
    Ok(true)
}
