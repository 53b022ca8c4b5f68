//! `pending`: pending transfer's timestamp -> its status (pending, posted, voided, expired).
//!
//! Key (8 bytes, [`super::ts_key`]): the pending transfer's timestamp, u64 BE. Value (1 byte):
//!
//! | bytes | field  | encoding                                                 |
//! |-------|--------|----------------------------------------------------------|
//! | 0     | status | [`PendingStatus`] as u8: 1 pending, 2 posted, 3 voided, 4 expired |

use super::cf::Cf;
use super::codec::corrupt;
use crate::error::StoreError;
use crate::types::PendingStatus;

/// Decodes a `pending` value (one status byte).
pub fn decode_pending_status(b: &[u8]) -> Result<PendingStatus, StoreError> {
    match b {
        [v] => PendingStatus::from_u8(*v).ok_or_else(|| corrupt(Cf::Pending, "status")),
        _ => Err(corrupt(Cf::Pending, "value length")),
    }
}
