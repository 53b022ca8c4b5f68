//! `account_balances`: (account id, timestamp) -> the account's balances after the event at
//! that timestamp, for accounts with the `history` flag.
//!
//! Key (24 bytes, [`super::account_ts_key`]): account id (u128 BE), then the event's timestamp
//! (u64 BE).
//!
//! Value ([`BALANCE_SIZE`] = 72 bytes, [`encode_balance`]):
//!
//! | bytes  | field           | encoding |
//! |--------|-----------------|----------|
//! | 0..16  | debits_pending  | u128 LE  |
//! | 16..32 | debits_posted   | u128 LE  |
//! | 32..48 | credits_pending | u128 LE  |
//! | 48..64 | credits_posted  | u128 LE  |
//! | 64..72 | timestamp       | u64 LE   |

use super::cf::Cf;
use super::codec::{corrupt, sum, R, W};
use crate::error::StoreError;
use crate::types::AccountBalance;

/// Size of an encoded [`AccountBalance`].
pub const BALANCE_SIZE: usize = 72;

/// Widths of the fields of an encoded balance, in order (the table above).
const BALANCE_FIELDS: [usize; 5] = [16, 16, 16, 16, 8];
const _: () = assert!(
    BALANCE_SIZE == 72,
    "the balance record is part of the format"
);
const _: () = assert!(sum(&BALANCE_FIELDS) == BALANCE_SIZE);

/// Encodes a balance snapshot: the four balances (16 bytes each), then timestamp (8).
pub fn encode_balance(b: &AccountBalance) -> [u8; BALANCE_SIZE] {
    let mut out = [0u8; BALANCE_SIZE];
    let mut w = W { b: &mut out, at: 0 };
    w.put(&b.debits_pending.to_le_bytes());
    w.put(&b.debits_posted.to_le_bytes());
    w.put(&b.credits_pending.to_le_bytes());
    w.put(&b.credits_posted.to_le_bytes());
    w.put(&b.timestamp.to_le_bytes());
    out
}

/// Decodes [`encode_balance`]'s layout.
pub fn decode_balance(b: &[u8]) -> Result<AccountBalance, StoreError> {
    if b.len() != BALANCE_SIZE {
        return Err(corrupt(Cf::AccountBalances, "value length"));
    }
    let mut r = R { b, at: 0 };
    Ok(AccountBalance {
        debits_pending: r.u128(),
        debits_posted: r.u128(),
        credits_pending: r.u128(),
        credits_posted: r.u128(),
        timestamp: r.u64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balances_round_trip() {
        let b = AccountBalance {
            debits_pending: 1,
            debits_posted: 2,
            credits_pending: 3,
            credits_posted: 4,
            timestamp: 5,
        };
        let e = encode_balance(&b);
        assert_eq!(decode_balance(&e).unwrap(), b);
        assert_eq!(e[64..], 5u64.to_le_bytes());
        assert!(decode_balance(&e[..71]).is_err());
    }
}
