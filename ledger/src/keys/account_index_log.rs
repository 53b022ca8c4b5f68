//! `recent_index` on disk (the name is kept for format compatibility): the account-index log.
//! Each command that creates transfers writes one record of its account-index items, packed per
//! account; the command that would add the [`INDEX_FOLD`]th record folds them all into
//! `account_transfers` entries ([`super::account_index`]) instead and deletes them.
//!
//! Key (8 bytes, [`super::ts_key`]): the timestamp of the command's oldest transfer, u64 BE.
//! Reads start at `meta`'s `recent_index_floor` ([`super::META_INDEX_LOG_FLOOR`]).
//!
//! Value ([`encode_index_log_record`]): a row count, a table of rows in strictly increasing
//! account order, then the packed items of every row, back to back.
//!
//! | bytes               | field                                             | encoding |
//! |---------------------|---------------------------------------------------|----------|
//! | 0..4                | row count `n` (at least 1)                        | u32 LE   |
//! | 4..4+28n            | `n` rows of [`INDEX_LOG_ROW_SIZE`] bytes (below)     |          |
//! | 4+28n..             | packed items ([`super::encode_account_transfers`]) |          |
//!
//! One row:
//!
//! | bytes  | field                                                       | encoding |
//! |--------|-------------------------------------------------------------|----------|
//! | 0..16  | account id                                                  | u128 BE  |
//! | 16..24 | timestamp of the account's newest item (the packing's base) | u64 BE   |
//! | 24..28 | where its packed items start, from the end of the table     | u32 LE   |
//!
//! A row's items end where the next row's start (the last row's, at the end of the value).

use super::cf::Cf;
use super::codec::{corrupt, sum};
use crate::error::StoreError;

/// Commands whose account-index items wait in `recent_index`, one record each, before the
/// command that would add the next record folds them all into `account_transfers` entries
/// (one per account per fold) instead. Every replica folds at the same commands: the count
/// is read from the store.
pub const INDEX_FOLD: usize = 8;

/// Size of one account's row in a `recent_index` record's table: account id (u128 BE), its
/// newest item's timestamp (u64 BE), where its packed items start (u32 LE).
pub const INDEX_LOG_ROW_SIZE: usize = 28;
const _: () = assert!(sum(&[16, 8, 4]) == INDEX_LOG_ROW_SIZE);

/// One account's items in a `recent_index` record, as [`index_log_rows`] reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexLogRow<'a> {
    /// The account.
    pub account: u128,
    /// Timestamp of its newest item (the packing's reference, as in an `account_transfers` key).
    pub newest: u64,
    /// Its items packed newest first ([`super::encode_account_transfers`]).
    pub packed: &'a [u8],
}

/// Appends to `out` a `recent_index` record of `rows`: (account, newest timestamp, packed
/// items), accounts strictly increasing. Layout: row count (u32 LE), the rows' table
/// ([`INDEX_LOG_ROW_SIZE`] each), then the packed items of every row, back to back.
pub fn encode_index_log_record<'a>(
    rows: impl ExactSizeIterator<Item = (u128, u64, &'a [u8])> + Clone,
    out: &mut Vec<u8>,
) {
    let n = u32::try_from(rows.len()).expect("at most 2 rows per event of a command");
    out.extend_from_slice(&n.to_le_bytes());
    let mut offset = 0u32;
    for (account, newest, packed) in rows.clone() {
        out.extend_from_slice(&account.to_be_bytes());
        out.extend_from_slice(&newest.to_be_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        offset += u32::try_from(packed.len()).expect("a row's items fit in u32");
    }
    for (_, _, packed) in rows {
        out.extend_from_slice(packed);
    }
}

/// A `recent_index` record's rows. Checked here: a non-zero row count whose table fits in the
/// value. Each row's item range is checked when it is read ([`IndexLogRows::row`]), and the
/// account order when every row is read ([`IndexLogRows::check_order`], by a fold): a query
/// binary-searches the table, and a check of all its rows (8,000 at full batches, up to seven
/// records a query) doubled a history query's time.
pub fn index_log_rows(v: &[u8]) -> Result<IndexLogRows<'_>, StoreError> {
    let bad = || corrupt(Cf::AccountIndexLog, "value");
    let n = v
        .get(..4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
        .ok_or_else(bad)?;
    let table_end = n
        .checked_mul(INDEX_LOG_ROW_SIZE)
        .and_then(|t| t.checked_add(4))
        .filter(|&e| n > 0 && e <= v.len())
        .ok_or_else(bad)?;
    let (table, rest) = v[4..table_end].as_chunks::<INDEX_LOG_ROW_SIZE>();
    debug_assert!(rest.is_empty());
    Ok(IndexLogRows {
        table,
        items: &v[table_end..],
    })
}

fn index_log_row_fields(r: &[u8; INDEX_LOG_ROW_SIZE]) -> (u128, u64, u32) {
    (
        u128::from_be_bytes(r[..16].try_into().expect("16 bytes")),
        u64::from_be_bytes(r[16..24].try_into().expect("8 bytes")),
        u32::from_le_bytes(r[24..].try_into().expect("4 bytes")),
    )
}

/// The checked rows of a `recent_index` record ([`index_log_rows`]).
#[derive(Debug, Clone, Copy)]
pub struct IndexLogRows<'a> {
    table: &'a [[u8; INDEX_LOG_ROW_SIZE]],
    items: &'a [u8],
}

impl<'a> IndexLogRows<'a> {
    /// How many accounts the record holds items of.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the record holds no rows (never, once checked).
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Row `i`, in account order; refused if its items do not lie within the value (the first
    /// row's start at 0, each row's end at the next row's start).
    pub fn row(&self, i: usize) -> Result<IndexLogRow<'a>, StoreError> {
        let (account, newest, start) = index_log_row_fields(&self.table[i]);
        let end = match self.table.get(i + 1) {
            Some(next) => index_log_row_fields(next).2 as usize,
            None => self.items.len(),
        };
        let start = start as usize;
        if (i == 0 && start != 0) || start > end || end > self.items.len() {
            return Err(corrupt(Cf::AccountIndexLog, "row"));
        }
        Ok(IndexLogRow {
            account,
            newest,
            packed: &self.items[start..end],
        })
    }

    /// Refuses a table whose accounts do not strictly increase.
    pub fn check_order(&self) -> Result<(), StoreError> {
        let accounts = self.table.iter().map(|r| index_log_row_fields(r).0);
        if accounts.clone().zip(accounts.skip(1)).all(|(a, b)| a < b) {
            Ok(())
        } else {
            Err(corrupt(Cf::AccountIndexLog, "row order"))
        }
    }

    /// The row of `account`, found by binary search.
    pub fn find(&self, account: u128) -> Result<Option<IndexLogRow<'a>>, StoreError> {
        match self
            .table
            .binary_search_by_key(&account, |r| index_log_row_fields(r).0)
        {
            Ok(i) => self.row(i).map(Some),
            Err(_) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{append_account_transfers, SIDE_CREDIT, SIDE_DEBIT};

    #[test]
    fn index_log_records_find_their_rows_and_refuse_malformed_values() {
        let mut a = Vec::new();
        append_account_transfers([(90, SIDE_DEBIT), (80, SIDE_CREDIT)].into_iter(), &mut a);
        let mut b = Vec::new();
        append_account_transfers([(85, SIDE_CREDIT)].into_iter(), &mut b);
        let mut v = Vec::new();
        encode_index_log_record([(7u128, 90, &a[..]), (9, 85, &b[..])].into_iter(), &mut v);
        let rows = index_log_rows(&v).unwrap();
        assert_eq!(rows.len(), 2);
        rows.check_order().unwrap();
        let row = rows.find(9).unwrap().unwrap();
        assert_eq!((row.account, row.newest, row.packed), (9, 85, &b[..]));
        assert_eq!(rows.find(7).unwrap().unwrap().packed, &a[..]);
        assert!(rows.find(8).unwrap().is_none());
        // Malformed: empty, no rows, a table past the end, accounts out of order, an offset
        // past the items or not starting at 0.
        let row = |account: u128, offset: u32| {
            let mut r = account.to_be_bytes().to_vec();
            r.extend_from_slice(&5u64.to_be_bytes());
            r.extend_from_slice(&offset.to_le_bytes());
            r
        };
        for v in [
            vec![],
            0u32.to_le_bytes().to_vec(),
            [2u32.to_le_bytes().to_vec(), row(1, 0)].concat(),
        ] {
            assert!(index_log_rows(&v).is_err(), "{v:?} must be refused");
        }
        let out_of_order = [2u32.to_le_bytes().to_vec(), row(2, 0), row(1, 0), vec![1]].concat();
        assert!(index_log_rows(&out_of_order)
            .unwrap()
            .check_order()
            .is_err());
        let past_end = [2u32.to_le_bytes().to_vec(), row(1, 0), row(2, 5), vec![1]].concat();
        assert!(index_log_rows(&past_end).unwrap().row(1).is_err());
        assert!(index_log_rows(&past_end).unwrap().row(0).is_err());
        let not_at_zero = [1u32.to_le_bytes().to_vec(), row(1, 1), vec![1, 2]].concat();
        assert!(index_log_rows(&not_at_zero).unwrap().row(0).is_err());
    }
}
