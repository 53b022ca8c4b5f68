//! `expiry`: (expiry time, pending transfer's timestamp) -> empty: the pending transfers with a
//! timeout that are still pending, in the order they expire.
//!
//! Key (16 bytes, [`expiry_key`]); value: empty.
//!
//! | bytes | field                              | encoding |
//! |-------|------------------------------------|----------|
//! | 0..8  | expires_at (ns of ledger time)     | u64 BE   |
//! | 8..16 | the pending transfer's timestamp   | u64 BE   |
//!
//! Scans for due entries start at `meta`'s `expiry_floor` ([`super::META_EXPIRY_FLOOR`]).

use super::cf::Cf;
use super::codec::{be_u64, corrupt};
use crate::error::StoreError;

/// Key of `expiry`: expiry time, then the pending transfer's timestamp.
pub fn expiry_key(expires_at: u64, ts: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&expires_at.to_be_bytes());
    k[8..].copy_from_slice(&ts.to_be_bytes());
    k
}

/// Splits an `expiry` key into (expires_at, pending timestamp).
pub fn decode_expiry_key(k: &[u8]) -> Result<(u64, u64), StoreError> {
    let k: &[u8; 16] = k
        .try_into()
        .map_err(|_| corrupt(Cf::Expiry, "key length"))?;
    Ok((be_u64(&k[..8]), be_u64(&k[8..])))
}
