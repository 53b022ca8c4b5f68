//! Helpers shared by the layouts: fixed-width field readers and writers, the error for bytes
//! that do not decode, and the timestamp key that several column families use.

use super::cf::Cf;
use crate::error::StoreError;

/// Reads a big-endian u64 from exactly 8 bytes.
pub(super) fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    u64::from_be_bytes(a)
}

/// The error for a value or key of `cf` that does not decode.
pub(super) fn corrupt(cf: Cf, what: &str) -> StoreError {
    StoreError::Corrupt(format!("{}: bad {what}", cf.name()))
}

/// A little-endian field writer over a fixed buffer.
pub(super) struct W<'a> {
    pub(super) b: &'a mut [u8],
    pub(super) at: usize,
}

impl W<'_> {
    pub(super) fn put(&mut self, bytes: &[u8]) {
        self.b[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }
}

/// A little-endian field reader over a slice of checked length.
pub(super) struct R<'a> {
    pub(super) b: &'a [u8],
    pub(super) at: usize,
}

impl R<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.b[self.at..self.at + N]);
        self.at += N;
        a
    }
    pub(super) fn u128(&mut self) -> u128 {
        u128::from_le_bytes(self.take())
    }
    pub(super) fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
    pub(super) fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    pub(super) fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
}

/// Sum of field widths, for the compile-time checks that a layout's fields fill its record.
pub(super) const fn sum(widths: &[usize]) -> usize {
    let (mut total, mut i) = (0, 0);
    while i < widths.len() {
        total += widths[i];
        i += 1;
    }
    total
}

/// Key of `accounts_by_ts`, `pending` and the account-index log (by timestamp), and of the
/// `transfers` buckets (by bucket number): a u64 BE.
pub fn ts_key(ts: u64) -> [u8; 8] {
    ts.to_be_bytes()
}

/// Decodes a big-endian u64 key.
pub fn decode_ts_key(k: &[u8]) -> Result<u64, StoreError> {
    if k.len() != 8 {
        return Err(corrupt(Cf::Transfers, "key length"));
    }
    Ok(be_u64(k))
}
