//! `accounts`: account id -> the account, as of the last fold that included it (newer versions
//! wait in the account log, [`super::account_log`]); and `accounts_by_ts`: account timestamp ->
//! account id, the creation order that account queries walk.
//!
//! `accounts` key (16 bytes, [`id_key`]):
//!
//! | bytes | field | encoding |
//! |-------|-------|----------|
//! | 0..16 | id    | u128 BE  |
//!
//! `accounts` value ([`ACCOUNT_SIZE`] = 128 bytes, [`encode_account`]); the same record is
//! a row of an account-log record and an account in a Raft log entry:
//!
//! | bytes    | field           | encoding  |
//! |----------|-----------------|-----------|
//! | 0..16    | id              | u128 LE   |
//! | 16..32   | debits_pending  | u128 LE   |
//! | 32..48   | debits_posted   | u128 LE   |
//! | 48..64   | credits_pending | u128 LE   |
//! | 64..80   | credits_posted  | u128 LE   |
//! | 80..96   | user_data_128   | u128 LE   |
//! | 96..104  | user_data_64    | u64 LE    |
//! | 104..108 | user_data_32    | u32 LE    |
//! | 108..112 | reserved        | zero      |
//! | 112..116 | ledger          | u32 LE    |
//! | 116..118 | code            | u16 LE    |
//! | 118..120 | flags           | u16 LE    |
//! | 120..128 | timestamp       | u64 LE    |
//!
//! `accounts_by_ts` key: the account's timestamp (8 bytes, u64 BE, [`super::ts_key`]); value:
//! its id (16 bytes, u128 LE, [`decode_id_value`]).

use super::cf::Cf;
use super::codec::{corrupt, sum, R, W};
use crate::error::StoreError;
use crate::types::Account;

/// Size of an encoded [`Account`].
pub const ACCOUNT_SIZE: usize = 128;

/// Widths of the fields of an encoded account, in order (the table above).
const ACCOUNT_FIELDS: [usize; 13] = [16, 16, 16, 16, 16, 16, 8, 4, 4, 4, 2, 2, 8];
const _: () = assert!(
    ACCOUNT_SIZE == 128,
    "the account record is part of the format"
);
const _: () = assert!(sum(&ACCOUNT_FIELDS) == ACCOUNT_SIZE);

/// Key of `accounts` (by id).
pub fn id_key(id: u128) -> [u8; 16] {
    id.to_be_bytes()
}

/// Encodes an account ([`ACCOUNT_SIZE`] bytes, the table above).
pub fn encode_account(a: &Account) -> [u8; ACCOUNT_SIZE] {
    let mut b = [0u8; ACCOUNT_SIZE];
    let mut w = W { b: &mut b, at: 0 };
    w.put(&a.id.to_le_bytes());
    w.put(&a.debits_pending.to_le_bytes());
    w.put(&a.debits_posted.to_le_bytes());
    w.put(&a.credits_pending.to_le_bytes());
    w.put(&a.credits_posted.to_le_bytes());
    w.put(&a.user_data_128.to_le_bytes());
    w.put(&a.user_data_64.to_le_bytes());
    w.put(&a.user_data_32.to_le_bytes());
    w.put(&[0u8; 4]);
    w.put(&a.ledger.to_le_bytes());
    w.put(&a.code.to_le_bytes());
    w.put(&a.flags.to_le_bytes());
    w.put(&a.timestamp.to_le_bytes());
    b
}
/// Decodes [`encode_account`]'s layout.
pub fn decode_account(b: &[u8]) -> Result<Account, StoreError> {
    if b.len() != ACCOUNT_SIZE {
        return Err(corrupt(Cf::Accounts, "value length"));
    }
    let mut r = R { b, at: 0 };
    let mut a = Account {
        id: r.u128(),
        debits_pending: r.u128(),
        debits_posted: r.u128(),
        credits_pending: r.u128(),
        credits_posted: r.u128(),
        user_data_128: r.u128(),
        user_data_64: r.u64(),
        user_data_32: r.u32(),
        ..Account::default()
    };
    let _reserved = r.u32();
    a.ledger = r.u32();
    a.code = r.u16();
    a.flags = r.u16();
    a.timestamp = r.u64();
    Ok(a)
}

/// Decodes a 16-byte little-endian id value (`accounts_by_ts`).
pub fn decode_id_value(b: &[u8]) -> Result<u128, StoreError> {
    let a: [u8; 16] = b
        .try_into()
        .map_err(|_| corrupt(Cf::AccountsByTs, "value length"))?;
    Ok(u128::from_le_bytes(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_round_trip_and_refuse_a_bad_length() {
        let a = Account {
            id: u128::MAX - 7,
            debits_pending: 1,
            debits_posted: 2,
            credits_pending: 3,
            credits_posted: u128::MAX,
            user_data_128: 5,
            user_data_64: 6,
            user_data_32: 7,
            ledger: 8,
            code: 9,
            flags: 10,
            timestamp: 11,
        };
        let b = encode_account(&a);
        assert_eq!(decode_account(&b).unwrap(), a);
        // The table above, byte by byte: a field's offset moves only with the format version.
        assert_eq!(b[..16], a.id.to_le_bytes());
        assert_eq!(b[108..112], [0; 4]);
        assert_eq!(b[112..116], 8u32.to_le_bytes());
        assert_eq!(b[120..], 11u64.to_le_bytes());
        assert!(decode_account(&[0u8; 5]).is_err());
        assert_eq!(decode_id_value(&7u128.to_le_bytes()).unwrap(), 7);
        assert!(decode_id_value(&[0u8; 15]).is_err());
    }
}
