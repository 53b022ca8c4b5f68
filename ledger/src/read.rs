//! Point reads of committed state that the executor, the operations and the queries share:
//! `meta` values and a transfer by its timestamp.

use crate::error::StoreError;
use crate::keys::{self, Cf};
use crate::store::KvRead;
use crate::types::Transfer;

/// Reads the last assigned timestamp (0 for an empty ledger).
pub fn read_last_timestamp(s: &dyn KvRead) -> Result<u64, StoreError> {
    read_meta_u64(s, keys::META_LAST_TIMESTAMP)
}

/// Reads a `meta` value stored as a u64 LE (0 when absent); any other length is corrupt.
pub(crate) fn read_meta_u64(s: &dyn KvRead, key: &[u8]) -> Result<u64, StoreError> {
    let mut out = Ok(0);
    s.get(Cf::Meta, key, &mut |v| {
        out = v.try_into().map(u64::from_le_bytes).map_err(|_| {
            StoreError::Corrupt(format!("meta {}: bad value", String::from_utf8_lossy(key)))
        })
    })?;
    out
}

/// Reads the caller's applied position, as last written with a batch.
pub fn read_applied(s: &dyn KvRead) -> Result<Option<Vec<u8>>, StoreError> {
    let mut out = None;
    s.get(Cf::Meta, keys::META_APPLIED, &mut |v| {
        out = Some(v.to_vec())
    })?;
    Ok(out)
}

pub(crate) fn read_transfer_at(s: &dyn KvRead, ts: u64) -> Result<Option<Transfer>, StoreError> {
    let mut out = Ok(None);
    s.get(Cf::Transfers, &keys::transfer_bucket_key(ts), &mut |v| {
        out = keys::find_transfer(v, ts)
    })?;
    out
}

/// No `expiry` entry expires before this ([`keys::META_EXPIRY_FLOOR`]).
pub(crate) fn expiry_floor(s: &dyn KvRead) -> Result<u64, StoreError> {
    read_meta_u64(s, keys::META_EXPIRY_FLOOR)
}
