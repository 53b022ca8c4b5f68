//! The transfer-id index (`transfer_ids`) as the executor uses it: the committed records of a
//! command's ids, read in one batch before it runs, and its new records merged into their
//! buckets when it is encoded.
//!
//! Ids are stored [`keys::ID_BUCKET_SPAN`] to an entry ([`keys::id_bucket_key`]). A command of
//! consecutive ids, which time-ordered generators produce, then writes one record per 16 ids
//! instead of one per id: every record is a memtable insert on the apply path and a key in every
//! flush and compaction. Ids that share no bucket cost what they did with one entry per id.

use rustc_hash::FxHashMap;

use crate::keys::{self, IdRecord};
use crate::store::{Cf, KvRead, StoreError, WriteBatch};
use crate::types::Transfer;

/// Working memory of the id index for one command; kept between commands for its allocations
/// and always empty between them.
#[derive(Debug, Default)]
pub(crate) struct IdIndex {
    /// Committed record of every transfer id and pending id the command names; `None` = none.
    /// Committed state does not change while a command runs, so these stay true for it.
    known: FxHashMap<u128, Option<IdRecord>>,
    /// Every bucket read by [`IdIndex::prefetch`]: its committed value as a range of `bytes`,
    /// empty when the bucket is not stored.
    buckets: FxHashMap<u128, (usize, usize)>,
    bytes: Vec<u8>,
    ids: Vec<u128>,
    keys: Vec<[u8; 16]>,
    writes: Vec<(u128, IdRecord)>,
    value: Vec<u8>,
}

impl IdIndex {
    /// Empties every buffer, keeping its allocation.
    pub(crate) fn clear(&mut self) {
        self.known.clear();
        self.buckets.clear();
        self.bytes.clear();
        self.ids.clear();
        self.keys.clear();
        self.writes.clear();
        self.value.clear();
    }

    /// Reads the committed records of every transfer id and pending id in `events` with one
    /// batched read of their buckets. Each new transfer's idempotency check is a lookup that
    /// misses; one MultiGet of the sorted keys costs the store much less than single gets.
    pub(crate) fn prefetch(
        &mut self,
        base: &dyn KvRead,
        events: &[Transfer],
    ) -> Result<(), StoreError> {
        self.clear();
        let ids = &mut self.ids;
        ids.extend(
            events
                .iter()
                .flat_map(|t| [t.id, t.pending_id])
                .filter(|&id| id != 0 && id != u128::MAX),
        );
        ids.sort_unstable();
        ids.dedup();
        for &id in ids.iter() {
            let bucket = keys::id_bucket(id);
            if self.buckets.insert(bucket, (0, 0)).is_none() {
                self.keys.push(keys::id_bucket_key(bucket));
            }
        }
        let refs: Vec<&[u8]> = self.keys.iter().map(|k| &k[..]).collect();
        let (buckets, bytes, keys) = (&mut self.buckets, &mut self.bytes, &self.keys);
        let mut corrupt = None;
        base.multi_get(
            Cf::TransferIds,
            &refs,
            &mut |i, v| match keys::id_bucket_entries(v) {
                Ok(_) => {
                    buckets.insert(u128::from_be_bytes(keys[i]), (bytes.len(), v.len()));
                    bytes.extend_from_slice(v);
                }
                Err(e) => corrupt = Some(e),
            },
        )?;
        if let Some(e) = corrupt {
            return Err(e);
        }
        for &id in &self.ids {
            let (start, len) = self.buckets[&keys::id_bucket(id)];
            let record = match len {
                0 => None,
                _ => keys::find_id_record(&self.bytes[start..start + len], id)?,
            };
            self.known.insert(id, record);
        }
        Ok(())
    }

    /// The committed record of `id` if [`IdIndex::prefetch`] read it: `Some(None)` = none.
    pub(crate) fn known(&self, id: u128) -> Option<Option<IdRecord>> {
        self.known.get(&id).copied()
    }

    /// Writes the `transfer_ids` entries of a command that created `created` (id, timestamp)
    /// and burned `failed` (id, result code): each bucket they touch once, holding its
    /// committed records and the new ones. In id order, so the bytes are the same on every
    /// replica.
    pub(crate) fn encode(
        &mut self,
        base: &dyn KvRead,
        created: impl Iterator<Item = (u128, u64)>,
        failed: impl Iterator<Item = (u128, u32)>,
        out: &mut WriteBatch,
    ) -> Result<(), StoreError> {
        let writes = &mut self.writes;
        writes.clear();
        writes.extend(created.map(|(id, ts)| (id, IdRecord::Created(ts))));
        writes.extend(failed.map(|(id, code)| (id, IdRecord::Failed(code))));
        writes.sort_unstable_by_key(|w| w.0);
        for group in writes.chunk_by(|a, b| keys::id_bucket(a.0) == keys::id_bucket(b.0)) {
            let bucket = keys::id_bucket(group[0].0);
            let key = keys::id_bucket_key(bucket);
            self.value.clear();
            match self.buckets.get(&bucket) {
                Some(&(start, len)) => {
                    keys::merge_id_bucket(&self.bytes[start..start + len], group, &mut self.value)?
                }
                // Not read before the command ran (every id a command writes is one it names,
                // so this is a fallback): read it now.
                None => {
                    let value = &mut self.value;
                    let mut merged = Ok(());
                    let stored = base.get(Cf::TransferIds, &key, &mut |v| {
                        merged = keys::merge_id_bucket(v, group, value);
                    })?;
                    merged?;
                    if !stored {
                        keys::merge_id_bucket(&[], group, value)?;
                    }
                }
            }
            out.put(Cf::TransferIds, &key, &self.value);
        }
        Ok(())
    }
}

/// The committed record of transfer `id`, read from its bucket.
pub(crate) fn read_id_record(s: &dyn KvRead, id: u128) -> Result<Option<IdRecord>, StoreError> {
    let mut out = Ok(None);
    s.get(
        Cf::TransferIds,
        &keys::id_bucket_key(keys::id_bucket(id)),
        &mut |v| out = keys::find_id_record(v, id),
    )?;
    out
}
