//! `transfer_ids`: id bucket -> what is known of each of its transfer ids that has a record:
//! created (at which timestamp) or burned by a transient failure (with which result code).
//!
//! The ids that share `id >>` [`ID_BUCKET_BITS`] are stored under one key, so a command of
//! consecutive ids costs one store record per [`ID_BUCKET_SPAN`] transfers.
//!
//! Key (16 bytes, [`id_bucket_key`]):
//!
//! | bytes | field                | encoding |
//! |-------|----------------------|----------|
//! | 0..16 | bucket: `id >> 4`    | u128 BE  |
//!
//! Value: 1 to [`ID_BUCKET_SPAN`] entries of [`ID_ENTRY_SIZE`] bytes, slots strictly
//! increasing. One entry ([`encode_id_entry`]):
//!
//! | bytes | field                                                 | encoding |
//! |-------|-------------------------------------------------------|----------|
//! | 0     | slot: the id's low 4 bits                             | u8       |
//! | 1     | tag: 0 created, 1 failed                              | u8       |
//! | 2..10 | payload: the timestamp (created) or result code (failed) | u64 LE |

use super::cf::Cf;
use super::codec::{corrupt, sum};
use crate::error::StoreError;

/// What `transfer_ids` knows about an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdRecord {
    /// Created; the value is the transfer's timestamp (its key in `transfers`).
    Created(u64),
    /// Failed transiently with this result code; the id is burned.
    Failed(u32),
}

/// log2 of [`ID_BUCKET_SPAN`].
pub const ID_BUCKET_BITS: u32 = 4;
/// Transfer ids per `transfer_ids` entry: the ids that share `id >>` [`ID_BUCKET_BITS`] are
/// stored together, so a command of consecutive ids (what a time-ordered generator such as the
/// client SDK's `id()` produces) costs one store record per 16 transfers instead of one each.
pub const ID_BUCKET_SPAN: usize = 1 << ID_BUCKET_BITS;
/// Size of one id's entry in a `transfer_ids` value: slot (1), tag (1), payload (u64 LE, 8).
pub const ID_ENTRY_SIZE: usize = 10;
const _: () = assert!(
    ID_BUCKET_SPAN == 16,
    "the bucket span is part of the format"
);
const _: () = assert!(ID_BUCKET_SPAN <= 1 << u8::BITS, "a slot fits in its byte");
const _: () = assert!(sum(&[1, 1, 8]) == ID_ENTRY_SIZE);

/// The `transfer_ids` bucket that holds the record of transfer `id`.
pub fn id_bucket(id: u128) -> u128 {
    id >> ID_BUCKET_BITS
}

/// Key of the `transfer_ids` entry of bucket `bucket` (u128 BE).
pub fn id_bucket_key(bucket: u128) -> [u8; 16] {
    bucket.to_be_bytes()
}

/// The place of `id` in its bucket: its low [`ID_BUCKET_BITS`] bits.
fn id_slot(id: u128) -> u8 {
    // Lossless: the mask keeps 4 bits.
    (id & (ID_BUCKET_SPAN as u128 - 1)) as u8
}

/// Encodes `id`'s entry: slot, tag (0 created, 1 failed), then the timestamp or result code as
/// u64 LE.
pub fn encode_id_entry(id: u128, r: IdRecord) -> [u8; ID_ENTRY_SIZE] {
    let (tag, payload) = match r {
        IdRecord::Created(ts) => (0, ts),
        IdRecord::Failed(code) => (1, u64::from(code)),
    };
    let mut e = [0u8; ID_ENTRY_SIZE];
    e[0] = id_slot(id);
    e[1] = tag;
    e[2..].copy_from_slice(&payload.to_le_bytes());
    e
}

/// Decodes an entry of [`encode_id_entry`]: (slot, record).
fn decode_id_entry(e: &[u8; ID_ENTRY_SIZE]) -> Result<(u8, IdRecord), StoreError> {
    let payload = u64::from_le_bytes(e[2..].try_into().expect("8 bytes"));
    let record = match e[1] {
        0 => IdRecord::Created(payload),
        1 => IdRecord::Failed(
            u32::try_from(payload).map_err(|_| corrupt(Cf::TransferIds, "result code"))?,
        ),
        _ => return Err(corrupt(Cf::TransferIds, "tag")),
    };
    Ok((e[0], record))
}

/// The entries of a `transfer_ids` value, checked: a whole, non-zero number of
/// [`ID_ENTRY_SIZE`] entries whose slots are below [`ID_BUCKET_SPAN`] and strictly increase,
/// each with a valid tag and payload.
pub fn id_bucket_entries(v: &[u8]) -> Result<&[[u8; ID_ENTRY_SIZE]], StoreError> {
    let (entries, rest) = v.as_chunks::<ID_ENTRY_SIZE>();
    if !rest.is_empty() || entries.is_empty() {
        return Err(corrupt(Cf::TransferIds, "value length"));
    }
    let mut prev = None;
    for e in entries {
        let (slot, _) = decode_id_entry(e)?;
        if usize::from(slot) >= ID_BUCKET_SPAN || prev.is_some_and(|p| p >= slot) {
            return Err(corrupt(Cf::TransferIds, "slot"));
        }
        prev = Some(slot);
    }
    Ok(entries)
}

/// The record of `id` in `v`, the value of the `transfer_ids` entry of `id`'s bucket.
pub fn find_id_record(v: &[u8], id: u128) -> Result<Option<IdRecord>, StoreError> {
    let entries = id_bucket_entries(v)?;
    let slot = id_slot(id);
    match entries.binary_search_by_key(&slot, |e| e[0]) {
        Ok(i) => decode_id_entry(&entries[i]).map(|(_, r)| Some(r)),
        Err(_) => Ok(None),
    }
}

/// Appends to `out` the value of a bucket that holds the entries of `old` (its stored value, or
/// empty for a bucket not stored yet) and `new`: records of ids of one bucket, ids strictly
/// increasing. An id already in `old`, or twice in `new`, is refused as corrupt state: a
/// transfer id is written once, when it is created or burned, and never again.
pub fn merge_id_bucket(
    old: &[u8],
    new: &[(u128, IdRecord)],
    out: &mut Vec<u8>,
) -> Result<(), StoreError> {
    let old = if old.is_empty() {
        &[][..]
    } else {
        id_bucket_entries(old)?
    };
    let mut old = old.iter().peekable();
    let mut prev: Option<u128> = None;
    for &(id, r) in new {
        let slot = id_slot(id);
        while let Some(e) = old.next_if(|e| e[0] < slot) {
            out.extend_from_slice(e);
        }
        let twice = prev.is_some_and(|p| p >= id || id_bucket(p) != id_bucket(id));
        if twice || old.peek().is_some_and(|e| e[0] == slot) {
            return Err(StoreError::Corrupt(format!(
                "transfer_ids: id {id} recorded twice or out of order"
            )));
        }
        prev = Some(id);
        out.extend_from_slice(&encode_id_entry(id, r));
    }
    for e in old {
        out.extend_from_slice(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_buckets_merge_find_and_refuse_malformed_values() {
        let bucket = 0xabc_u128;
        let id = |slot: u128| (bucket << ID_BUCKET_BITS) | slot;
        let mut v = Vec::new();
        merge_id_bucket(&[], &[(id(3), IdRecord::Created(77))], &mut v).unwrap();
        let mut merged = Vec::new();
        let new = [
            (id(0), IdRecord::Failed(38)),
            (id(9), IdRecord::Created(u64::MAX)),
            (id(15), IdRecord::Failed(u32::MAX)),
        ];
        merge_id_bucket(&v, &new, &mut merged).unwrap();
        assert_eq!(id_bucket_entries(&merged).unwrap().len(), 4);
        let expect = [
            (0, Some(IdRecord::Failed(38))),
            (3, Some(IdRecord::Created(77))),
            (9, Some(IdRecord::Created(u64::MAX))),
            (15, Some(IdRecord::Failed(u32::MAX))),
            (4, None),
        ];
        for (slot, r) in expect {
            assert_eq!(find_id_record(&merged, id(slot)).unwrap(), r, "slot {slot}");
        }
        assert_eq!(id_bucket(id(15)), bucket);
        assert!(id_bucket_key(bucket) < id_bucket_key(bucket + 1));

        // Writing an id twice, or ids of another bucket or out of order, is refused.
        let mut again = Vec::new();
        assert!(merge_id_bucket(&merged, &[(id(9), IdRecord::Failed(1))], &mut again).is_err());
        let twice = [(id(4), IdRecord::Failed(1)), (id(4), IdRecord::Created(1))];
        assert!(merge_id_bucket(&[], &twice, &mut again).is_err());
        let backwards = [(id(5), IdRecord::Failed(1)), (id(4), IdRecord::Created(1))];
        assert!(merge_id_bucket(&[], &backwards, &mut again).is_err());
        let other = [
            (id(5), IdRecord::Failed(1)),
            (id(5) + 16, IdRecord::Created(1)),
        ];
        assert!(merge_id_bucket(&[], &other, &mut again).is_err());

        // Malformed values: empty, a partial entry, a slot out of range, slots not increasing,
        // a bad tag, a result code past u32.
        let entry = |slot: u8, tag: u8, payload: u64| {
            let mut e = vec![slot, tag];
            e.extend_from_slice(&payload.to_le_bytes());
            e
        };
        let cases = [
            vec![],
            merged[..ID_ENTRY_SIZE + 3].to_vec(),
            entry(16, 0, 1),
            [entry(4, 0, 1), entry(4, 0, 2)].concat(),
            [entry(5, 0, 1), entry(4, 0, 2)].concat(),
            entry(1, 2, 1),
            entry(1, 1, u64::from(u32::MAX) + 1),
        ];
        for v in cases {
            assert!(id_bucket_entries(&v).is_err(), "{v:?} must be refused");
            assert!(find_id_record(&v, id(1)).is_err());
        }
    }
}
