//! `transfers`: timestamp bucket -> the records of the transfers created in it, oldest first.
//!
//! The transfers whose timestamps share `ts >>` [`TRANSFER_BUCKET_BITS`] are stored under one
//! key, so a full command of transfers (consecutive timestamps) costs one store record per
//! [`TRANSFER_BUCKET_SPAN`] transfers instead of one each.
//!
//! Key (8 bytes, [`transfer_bucket_key`]):
//!
//! | bytes | field                              | encoding |
//! |-------|------------------------------------|----------|
//! | 0..8  | bucket: `timestamp >> 5`           | u64 BE   |
//!
//! Value: 1 to [`TRANSFER_BUCKET_SPAN`] records of [`TRANSFER_SIZE`] bytes, back to back,
//! timestamps strictly increasing, all in the key's bucket. One record ([`encode_transfer`]);
//! the same record is a transfer in a Raft log entry:
//!
//! | bytes    | field             | encoding |
//! |----------|-------------------|----------|
//! | 0..16    | id                | u128 LE  |
//! | 16..32   | debit_account_id  | u128 LE  |
//! | 32..48   | credit_account_id | u128 LE  |
//! | 48..64   | amount            | u128 LE  |
//! | 64..80   | pending_id        | u128 LE  |
//! | 80..96   | user_data_128     | u128 LE  |
//! | 96..104  | user_data_64      | u64 LE   |
//! | 104..108 | user_data_32      | u32 LE   |
//! | 108..112 | timeout           | u32 LE   |
//! | 112..116 | ledger            | u32 LE   |
//! | 116..118 | code              | u16 LE   |
//! | 118..120 | flags             | u16 LE   |
//! | 120..128 | timestamp         | u64 LE   |

use super::cf::Cf;
use super::codec::ts_key;
use super::codec::{corrupt, sum, R, W};
use crate::error::StoreError;
use crate::types::Transfer;

/// Size of an encoded [`Transfer`].
pub const TRANSFER_SIZE: usize = 128;

/// Widths of the fields of an encoded transfer, in order (the table above).
const TRANSFER_FIELDS: [usize; 13] = [16, 16, 16, 16, 16, 16, 8, 4, 4, 4, 2, 2, 8];
const _: () = assert!(
    TRANSFER_SIZE == 128,
    "the transfer record is part of the format"
);
const _: () = assert!(sum(&TRANSFER_FIELDS) == TRANSFER_SIZE);

/// log2 of [`TRANSFER_BUCKET_SPAN`].
pub const TRANSFER_BUCKET_BITS: u32 = 5;
/// Timestamps per `transfers` entry: the transfers whose timestamps share `ts >>`
/// [`TRANSFER_BUCKET_BITS`] are stored together, so a full command of transfers (consecutive
/// timestamps) costs one store record per 32 transfers instead of one each.
pub const TRANSFER_BUCKET_SPAN: usize = 1 << TRANSFER_BUCKET_BITS;

/// The `transfers` bucket that holds the transfer with timestamp `ts`.
pub fn transfer_bucket(ts: u64) -> u64 {
    ts >> TRANSFER_BUCKET_BITS
}

/// Key of the `transfers` entry holding the transfer with timestamp `ts`: its bucket number
/// (u64 BE).
pub fn transfer_bucket_key(ts: u64) -> [u8; 8] {
    ts_key(transfer_bucket(ts))
}

/// Timestamp of an encoded transfer record (its last 8 bytes), without decoding the rest.
pub fn record_timestamp(r: &[u8; TRANSFER_SIZE]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&r[TRANSFER_SIZE - 8..TRANSFER_SIZE]);
    u64::from_le_bytes(a)
}

/// The records of the `transfers` value of bucket `bucket`, oldest first, checked: a whole,
/// non-zero number of [`TRANSFER_SIZE`] records, at most [`TRANSFER_BUCKET_SPAN`], with
/// strictly increasing timestamps that all fall in the bucket.
pub fn transfer_bucket_records(
    bucket: u64,
    v: &[u8],
) -> Result<&[[u8; TRANSFER_SIZE]], StoreError> {
    let (records, rest) = v.as_chunks::<TRANSFER_SIZE>();
    if !rest.is_empty() || records.is_empty() || records.len() > TRANSFER_BUCKET_SPAN {
        return Err(corrupt(Cf::Transfers, "value length"));
    }
    let mut prev = None;
    for r in records {
        let ts = record_timestamp(r);
        if transfer_bucket(ts) != bucket || prev.is_some_and(|p| p >= ts) {
            return Err(corrupt(Cf::Transfers, "record timestamp"));
        }
        prev = Some(ts);
    }
    Ok(records)
}

/// The transfer with timestamp `ts` in `v`, the value of the `transfers` entry
/// [`transfer_bucket_key`]`(ts)`, if it holds one.
pub fn find_transfer(v: &[u8], ts: u64) -> Result<Option<Transfer>, StoreError> {
    let records = transfer_bucket_records(transfer_bucket(ts), v)?;
    match records.binary_search_by_key(&ts, record_timestamp) {
        Ok(i) => decode_transfer(&records[i]).map(Some),
        Err(_) => Ok(None),
    }
}

const _: () = assert!(
    TRANSFER_BUCKET_SPAN == 32,
    "the bucket span is part of the format"
);

/// Encodes a transfer ([`TRANSFER_SIZE`] bytes, the table above).
pub fn encode_transfer(t: &Transfer) -> [u8; TRANSFER_SIZE] {
    let mut b = [0u8; TRANSFER_SIZE];
    let mut w = W { b: &mut b, at: 0 };
    w.put(&t.id.to_le_bytes());
    w.put(&t.debit_account_id.to_le_bytes());
    w.put(&t.credit_account_id.to_le_bytes());
    w.put(&t.amount.to_le_bytes());
    w.put(&t.pending_id.to_le_bytes());
    w.put(&t.user_data_128.to_le_bytes());
    w.put(&t.user_data_64.to_le_bytes());
    w.put(&t.user_data_32.to_le_bytes());
    w.put(&t.timeout.to_le_bytes());
    w.put(&t.ledger.to_le_bytes());
    w.put(&t.code.to_le_bytes());
    w.put(&t.flags.to_le_bytes());
    w.put(&t.timestamp.to_le_bytes());
    b
}

/// Decodes [`encode_transfer`]'s layout.
pub fn decode_transfer(b: &[u8]) -> Result<Transfer, StoreError> {
    if b.len() != TRANSFER_SIZE {
        return Err(corrupt(Cf::Transfers, "value length"));
    }
    let mut r = R { b, at: 0 };
    Ok(Transfer {
        id: r.u128(),
        debit_account_id: r.u128(),
        credit_account_id: r.u128(),
        amount: r.u128(),
        pending_id: r.u128(),
        user_data_128: r.u128(),
        user_data_64: r.u64(),
        user_data_32: r.u32(),
        timeout: r.u32(),
        ledger: r.u32(),
        code: r.u16(),
        flags: r.u16(),
        timestamp: r.u64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer_at(ts: u64) -> [u8; TRANSFER_SIZE] {
        encode_transfer(&Transfer {
            id: u128::from(ts),
            timestamp: ts,
            ..Transfer::default()
        })
    }

    #[test]
    fn transfer_buckets_find_their_records_and_refuse_malformed_values() {
        let base = 7 * TRANSFER_BUCKET_SPAN as u64;
        let v: Vec<u8> = [base, base + 3, base + 31]
            .iter()
            .flat_map(|&t| transfer_at(t))
            .collect();
        for ts in [base, base + 3, base + 31] {
            assert_eq!(find_transfer(&v, ts).unwrap().unwrap().timestamp, ts);
        }
        assert_eq!(find_transfer(&v, base + 4).unwrap(), None);
        assert_eq!(transfer_bucket_key(base + 31), 7u64.to_be_bytes());
        assert_eq!(transfer_bucket_key(base + 32), 8u64.to_be_bytes());
        let bad = |v: &[u8], why: &str| {
            assert!(
                matches!(transfer_bucket_records(7, v), Err(StoreError::Corrupt(_))),
                "{why}"
            );
        };
        bad(&[], "empty");
        bad(&v[..v.len() - 1], "truncated record");
        let swapped: Vec<u8> = [base + 3, base]
            .iter()
            .flat_map(|&t| transfer_at(t))
            .collect();
        bad(&swapped, "out of order");
        let twice: Vec<u8> = [base, base].iter().flat_map(|&t| transfer_at(t)).collect();
        bad(&twice, "repeated timestamp");
        bad(&transfer_at(base + 32), "record of another bucket");
        let full: Vec<u8> = (0..=TRANSFER_BUCKET_SPAN as u64)
            .flat_map(|i| transfer_at(base + i.min(31)))
            .collect();
        bad(&full, "more records than the bucket spans");
    }

    #[test]
    fn transfers_round_trip() {
        let t = Transfer {
            id: 1,
            debit_account_id: 2,
            credit_account_id: 3,
            amount: 4,
            pending_id: 5,
            user_data_128: 6,
            user_data_64: 7,
            user_data_32: 8,
            timeout: 9,
            ledger: 10,
            code: 11,
            flags: 12,
            timestamp: 13,
        };
        let b = encode_transfer(&t);
        assert_eq!(decode_transfer(&b).unwrap(), t);
        assert_eq!(b[48..64], 4u128.to_le_bytes());
        assert_eq!(b[108..112], 9u32.to_le_bytes());
        assert_eq!(record_timestamp(&b), 13);
        assert!(decode_transfer(&b[1..]).is_err());
    }
}
