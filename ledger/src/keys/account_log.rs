//! `recent_accounts` on disk (the name is kept for format compatibility): the account log.
//! Each command that changes accounts writes one record of them, at their new versions; the
//! command that would add the [`ACCOUNT_FOLD`]th record writes them all, and its own, to
//! `accounts` ([`super::accounts`]) instead and deletes them. A reader of an account reads the
//! records, newest first, before `accounts`.
//!
//! Key (8 bytes, [`account_log_key`]): the record's number, u64 BE, from 0 after each fold;
//! `meta`'s `recent_accounts` ([`super::META_ACCOUNT_LOG_COUNT`]) counts them.
//!
//! Value: one or more accounts, ids strictly increasing, each in the `accounts` layout.
//!
//! | bytes            | field                                            |
//! |------------------|--------------------------------------------------|
//! | 0..128           | the account with the smallest id ([`super::encode_account`]) |
//! | 128..256         | the next account                                 |
//! | ...              | up to the value's end, a multiple of [`ACCOUNT_SIZE`] |

use super::accounts::{decode_account, ACCOUNT_SIZE};
use super::cf::Cf;
use super::codec::corrupt;
use crate::error::StoreError;
use crate::types::Account;

/// Commands whose changed accounts wait in `recent_accounts`, one record each, before the
/// command that would add the next record writes them all, and its own, to `accounts` instead
/// (one entry per account per fold). Every replica folds at the same commands: the count is
/// read from the store.
pub const ACCOUNT_FOLD: usize = 8;

/// The `recent_accounts` key of record number `n` (u64 BE; numbers restart at 0 after a fold).
pub fn account_log_key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// A `recent_accounts` record's accounts: [`super::encode_account`]'s bytes of each, back to back,
/// ids strictly increasing. Checked here: a non-zero multiple of [`ACCOUNT_SIZE`] bytes. The
/// id order is checked when every row is read ([`AccountLogRecord::check_order`], by a fold); a
/// read binary-searches the table and decodes only the row it finds.
pub fn account_log_record(v: &[u8]) -> Result<AccountLogRecord<'_>, StoreError> {
    let (table, rest) = v.as_chunks::<ACCOUNT_SIZE>();
    if table.is_empty() || !rest.is_empty() {
        return Err(corrupt(Cf::AccountLog, "value length"));
    }
    Ok(AccountLogRecord { table })
}

/// The rows of a `recent_accounts` record ([`account_log_record`]).
#[derive(Debug, Clone, Copy)]
pub struct AccountLogRecord<'a> {
    table: &'a [[u8; ACCOUNT_SIZE]],
}

impl<'a> AccountLogRecord<'a> {
    /// How many accounts the record holds.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the record holds no accounts (never, once checked).
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The id of row `i` (the first 16 bytes of [`super::encode_account`], LE).
    pub fn id(&self, i: usize) -> u128 {
        u128::from_le_bytes(self.table[i][..16].try_into().expect("16 bytes"))
    }

    /// The encoded account of row `i`.
    pub fn image(&self, i: usize) -> &'a [u8; ACCOUNT_SIZE] {
        &self.table[i]
    }

    /// Refuses a table whose ids do not strictly increase.
    pub fn check_order(&self) -> Result<(), StoreError> {
        match (1..self.len()).all(|i| self.id(i - 1) < self.id(i)) {
            true => Ok(()),
            false => Err(corrupt(Cf::AccountLog, "row order")),
        }
    }

    /// The account `id`, found by binary search.
    pub fn find(&self, id: u128) -> Result<Option<Account>, StoreError> {
        match self.table.binary_search_by_key(&id, |r| {
            u128::from_le_bytes(r[..16].try_into().expect("16"))
        }) {
            Ok(i) => decode_account(&self.table[i]).map(Some),
            Err(_) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::encode_account;

    #[test]
    fn account_log_records_find_their_accounts_and_refuse_malformed_values() {
        let account = |id: u128| Account {
            id,
            credits_posted: id * 10,
            ledger: 1,
            code: 2,
            timestamp: 99,
            ..Account::default()
        };
        let v: Vec<u8> = [3u128, 7, 1 << 100]
            .iter()
            .flat_map(|&id| encode_account(&account(id)))
            .collect();
        let r = account_log_record(&v).unwrap();
        assert_eq!(r.len(), 3);
        r.check_order().unwrap();
        assert_eq!((r.id(0), r.id(2)), (3, 1 << 100));
        for id in [3u128, 7, 1 << 100] {
            assert_eq!(r.find(id).unwrap(), Some(account(id)));
        }
        assert_eq!(r.find(5).unwrap(), None);
        assert_eq!(r.find(0).unwrap(), None);
        // Malformed: empty, a partial account, ids out of order or repeated.
        assert!(account_log_record(&[]).is_err());
        assert!(account_log_record(&v[..v.len() - 1]).is_err());
        let swapped = [encode_account(&account(7)), encode_account(&account(3))].concat();
        assert!(account_log_record(&swapped).unwrap().check_order().is_err());
        let twice = [encode_account(&account(7)), encode_account(&account(7))].concat();
        assert!(account_log_record(&twice).unwrap().check_order().is_err());
    }
}
