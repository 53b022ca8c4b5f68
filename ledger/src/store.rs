//! The storage boundary: a small ordered key-value trait with column families.
//!
//! The ledger core encodes everything itself (see [`crate::keys`]), so a store only has to keep
//! bytes in order and apply a [`WriteBatch`] atomically. Two implementations exist: [`MemStore`]
//! here (a `BTreeMap` per column family, for tests and the reference model) and the RocksDB store
//! in `tally-raft`. [`conformance::run`] is the suite both must pass.

use std::collections::BTreeMap;

pub use crate::error::StoreError;
pub use crate::keys::Cf;

/// Read access to committed state.
pub trait KvRead {
    /// Looks `key` up in `cf`; calls `visit` with the value if present. Returns whether found.
    /// The callback form lets a backend lend its buffer instead of allocating.
    fn get(&self, cf: Cf, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool, StoreError>;

    /// Looks up every key of `keys` in `cf` (sorted ascending, as the caller promises) and
    /// calls `visit(i, value)` for each `keys[i]` that is present. The default asks [`get`]
    /// key by key; a backend that batches lookups (RocksDB's MultiGet) overrides it.
    ///
    /// [`get`]: KvRead::get
    fn multi_get(
        &self,
        cf: Cf,
        keys: &[&[u8]],
        visit: &mut dyn FnMut(usize, &[u8]),
    ) -> Result<(), StoreError> {
        for (i, key) in keys.iter().enumerate() {
            self.get(cf, key, &mut |v| visit(i, v))?;
        }
        Ok(())
    }

    /// Visits every key in `lo..=hi` of `cf`, ascending (or descending if `reverse`), until
    /// `visit` returns `false`.
    fn scan(
        &self,
        cf: Cf,
        lo: &[u8],
        hi: &[u8],
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError>;
}

/// [`KvRead::scan`] with a visitor that can fail: `visit` returns whether to go on, and its
/// first error ends the scan and is returned.
pub(crate) fn try_scan<E: From<StoreError>>(
    s: &dyn KvRead,
    cf: Cf,
    lo: &[u8],
    hi: &[u8],
    reverse: bool,
    mut visit: impl FnMut(&[u8], &[u8]) -> Result<bool, E>,
) -> Result<(), E> {
    let mut err = None;
    s.scan(cf, lo, hi, reverse, &mut |k, v| match visit(k, v) {
        Ok(more) => more,
        Err(e) => {
            err = Some(e);
            false
        }
    })?;
    err.map_or(Ok(()), Err)
}

/// A store that can also apply write batches atomically.
pub trait KvStore: KvRead {
    /// Applies every operation of `batch`, in order, all or nothing.
    fn write(&mut self, batch: &WriteBatch) -> Result<(), StoreError>;
}

#[derive(Debug, Clone, Copy)]
struct Op {
    cf: Cf,
    key: (u32, u32),
    /// `None` for a delete.
    value: Option<(u32, u32)>,
}

/// An ordered list of puts and deletes, kept in one byte arena so that building a batch of
/// thousands of events allocates only when the arena grows. Reuse it with [`WriteBatch::clear`].
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    buf: Vec<u8>,
    ops: Vec<Op>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, bytes: &[u8]) -> (u32, u32) {
        let start = self.buf.len();
        self.buf.extend_from_slice(bytes);
        // Batches are bounded (BATCH_MAX events of a few hundred bytes), far below 4 GiB.
        (start as u32, bytes.len() as u32)
    }

    /// Sets `key` to `value` in `cf`.
    pub fn put(&mut self, cf: Cf, key: &[u8], value: &[u8]) {
        let key = self.push(key);
        let value = Some(self.push(value));
        self.ops.push(Op { cf, key, value });
    }

    /// Removes `key` from `cf`.
    pub fn delete(&mut self, cf: Cf, key: &[u8]) {
        let key = self.push(key);
        self.ops.push(Op {
            cf,
            key,
            value: None,
        });
    }

    /// Empties the batch, keeping its capacity.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.ops.clear();
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch has no operations.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Bytes of keys and values in the batch (for sizing a backend's own batch buffer).
    pub fn byte_len(&self) -> usize {
        self.buf.len()
    }

    /// Operation `i` (in the order added): (column family, key, value or `None` for a delete).
    /// Panics if `i` is out of range.
    pub(crate) fn op(&self, i: usize) -> (Cf, &[u8], Option<&[u8]>) {
        let op = self.ops[i];
        let slice = |(s, l): (u32, u32)| &self.buf[s as usize..(s + l) as usize];
        (op.cf, slice(op.key), op.value.map(slice))
    }

    /// The operations in order: (column family, key, value or `None` for a delete).
    pub fn iter(&self) -> impl Iterator<Item = (Cf, &[u8], Option<&[u8]>)> + '_ {
        (0..self.ops.len()).map(|i| self.op(i))
    }
}

/// The in-memory store: one `BTreeMap` per column family.
#[derive(Debug, Default, Clone)]
pub struct MemStore {
    cfs: [BTreeMap<Vec<u8>, Vec<u8>>; Cf::ALL.len()],
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl KvRead for MemStore {
    fn get(&self, cf: Cf, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool, StoreError> {
        match self.cfs[cf as usize].get(key) {
            Some(v) => {
                visit(v);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn scan(
        &self,
        cf: Cf,
        lo: &[u8],
        hi: &[u8],
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        if lo > hi {
            return Ok(());
        }
        let range = self.cfs[cf as usize]
            .range::<[u8], _>((std::ops::Bound::Included(lo), std::ops::Bound::Included(hi)));
        if reverse {
            for (k, v) in range.rev() {
                if !visit(k, v) {
                    break;
                }
            }
        } else {
            for (k, v) in range {
                if !visit(k, v) {
                    break;
                }
            }
        }
        Ok(())
    }
}

impl KvStore for MemStore {
    fn write(&mut self, batch: &WriteBatch) -> Result<(), StoreError> {
        for (cf, key, value) in batch.iter() {
            let map = &mut self.cfs[cf as usize];
            match value {
                Some(v) => {
                    map.insert(key.to_vec(), v.to_vec());
                }
                None => {
                    map.remove(key);
                }
            }
        }
        Ok(())
    }
}

/// An upper bound above every key the ledger writes (keys are at most 24 bytes).
pub const KEY_MAX: [u8; 32] = [0xff; 32];

/// A BLAKE3 hash of the ledger's whole state: every column family in [`Cf::ALL`] order, every
/// key in order, excluding only the caller's applied position. Two stores fed the same commands
/// have the same hash, whatever their backend.
pub fn state_hash(store: &dyn KvRead) -> Result<[u8; 32], StoreError> {
    let mut h = blake3::Hasher::new();
    for cf in Cf::ALL {
        h.update(&[cf as u8]);
        store.scan(cf, &[], &KEY_MAX, false, &mut |k, v| {
            if !(cf == Cf::Meta && k == crate::keys::META_APPLIED) {
                h.update(&(k.len() as u32).to_le_bytes());
                h.update(k);
                h.update(&(v.len() as u32).to_le_bytes());
                h.update(v);
            }
            true
        })?;
    }
    Ok(*h.finalize().as_bytes())
}

/// The storage conformance suite: every [`KvStore`] implementation must pass it.
pub mod conformance {
    use super::*;

    fn get(s: &dyn KvRead, cf: Cf, k: &[u8]) -> Option<Vec<u8>> {
        let mut out = None;
        s.get(cf, k, &mut |v| out = Some(v.to_vec()))
            .expect("get must not fail");
        out
    }

    fn keys(s: &dyn KvRead, cf: Cf, lo: &[u8], hi: &[u8], reverse: bool) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        s.scan(cf, lo, hi, reverse, &mut |k, _| {
            out.push(k.to_vec());
            true
        })
        .expect("scan must not fail");
        out
    }

    /// Runs every check against stores made by `make` (each call must return an empty store).
    pub fn run<S: KvStore>(mut make: impl FnMut() -> S) {
        put_get_delete(&mut make());
        batch_is_ordered(&mut make());
        column_families_are_isolated(&mut make());
        for cf in Cf::ALL {
            scans_are_ordered_bounded_and_stoppable(&mut make(), cf);
            account_prefixed_scans(&mut make(), cf);
        }
        empty_batch_is_a_no_op(&mut make());
        multi_get_matches_get(&mut make());
    }

    fn multi_get_matches_get<S: KvStore>(s: &mut S) {
        let mut b = WriteBatch::new();
        for i in [1u64, 3, 4, 9] {
            b.put(Cf::TransferIds, &i.to_be_bytes(), &i.to_le_bytes());
        }
        b.put(Cf::Accounts, &2u64.to_be_bytes(), b"other family");
        s.write(&b).unwrap();
        let keys: Vec<[u8; 8]> = [0u64, 1, 2, 3, 3, 5, 9, 10].map(u64::to_be_bytes).to_vec();
        let refs: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
        let mut seen = Vec::new();
        s.multi_get(Cf::TransferIds, &refs, &mut |i, v| {
            seen.push((i, v.to_vec()))
        })
        .unwrap();
        seen.sort();
        let want: Vec<(usize, Vec<u8>)> = [(1, 1u64), (3, 3), (4, 3), (6, 9)]
            .map(|(i, v)| (i, v.to_le_bytes().to_vec()))
            .to_vec();
        assert_eq!(
            seen, want,
            "found keys by position, duplicates each answered"
        );
        s.multi_get(Cf::TransferIds, &[], &mut |_, _| panic!("no keys"))
            .unwrap();
    }

    fn put_get_delete<S: KvStore>(s: &mut S) {
        assert_eq!(get(s, Cf::Accounts, b"a"), None);
        let mut b = WriteBatch::new();
        b.put(Cf::Accounts, b"a", b"1");
        b.put(Cf::Accounts, b"b", b"");
        s.write(&b).unwrap();
        assert_eq!(get(s, Cf::Accounts, b"a"), Some(b"1".to_vec()));
        assert_eq!(
            get(s, Cf::Accounts, b"b"),
            Some(Vec::new()),
            "empty values exist"
        );
        b.clear();
        b.delete(Cf::Accounts, b"a");
        b.delete(Cf::Accounts, b"never-written");
        s.write(&b).unwrap();
        assert_eq!(get(s, Cf::Accounts, b"a"), None);
        assert_eq!(get(s, Cf::Accounts, b"b"), Some(Vec::new()));
    }

    fn batch_is_ordered<S: KvStore>(s: &mut S) {
        let mut b = WriteBatch::new();
        b.put(Cf::Transfers, b"k", b"1");
        b.put(Cf::Transfers, b"k", b"2");
        b.delete(Cf::Transfers, b"j");
        b.put(Cf::Transfers, b"j", b"3");
        b.put(Cf::Transfers, b"i", b"4");
        b.delete(Cf::Transfers, b"i");
        s.write(&b).unwrap();
        assert_eq!(
            get(s, Cf::Transfers, b"k"),
            Some(b"2".to_vec()),
            "last put wins"
        );
        assert_eq!(get(s, Cf::Transfers, b"j"), Some(b"3".to_vec()));
        assert_eq!(get(s, Cf::Transfers, b"i"), None, "a later delete wins");
    }

    fn column_families_are_isolated<S: KvStore>(s: &mut S) {
        let mut b = WriteBatch::new();
        for (i, cf) in Cf::ALL.iter().enumerate() {
            b.put(*cf, b"same-key", &[i as u8]);
        }
        s.write(&b).unwrap();
        for (i, cf) in Cf::ALL.iter().enumerate() {
            assert_eq!(
                get(s, *cf, b"same-key"),
                Some(vec![i as u8]),
                "{}",
                cf.name()
            );
            assert_eq!(keys(s, *cf, &[], &KEY_MAX, false).len(), 1);
        }
    }

    fn scans_are_ordered_bounded_and_stoppable<S: KvStore>(s: &mut S, cf: Cf) {
        let mut b = WriteBatch::new();
        for i in [5u64, 1, 300, 2, 256, 255] {
            b.put(cf, &i.to_be_bytes(), &i.to_le_bytes());
        }
        b.put(cf, &[0xff; 24], b"x");
        s.write(&b).unwrap();
        let be = |v: &[u64]| {
            v.iter()
                .map(|i| i.to_be_bytes().to_vec())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(s, cf, &2u64.to_be_bytes(), &256u64.to_be_bytes(), false),
            be(&[2, 5, 255, 256]),
            "inclusive bounds, ascending"
        );
        assert_eq!(
            keys(s, cf, &2u64.to_be_bytes(), &256u64.to_be_bytes(), true),
            be(&[256, 255, 5, 2]),
            "inclusive bounds, descending"
        );
        assert_eq!(
            keys(s, cf, &3u64.to_be_bytes(), &4u64.to_be_bytes(), false),
            Vec::<Vec<u8>>::new()
        );
        assert_eq!(
            keys(s, cf, &9u64.to_be_bytes(), &3u64.to_be_bytes(), true),
            Vec::<Vec<u8>>::new(),
            "lo > hi is empty"
        );
        assert_eq!(keys(s, cf, &[], &KEY_MAX, false).len(), 7);
        assert_eq!(
            keys(s, cf, &[], &KEY_MAX, true)[0],
            vec![0xff; 24],
            "KEY_MAX bounds every ledger key"
        );
        let mut seen = Vec::new();
        s.scan(cf, &[], &KEY_MAX, true, &mut |k, v| {
            seen.push((k.to_vec(), v.to_vec()));
            seen.len() < 2
        })
        .unwrap();
        assert_eq!(seen.len(), 2, "visitor returning false stops the scan");
        assert_eq!(
            seen[1],
            (300u64.to_be_bytes().to_vec(), 300u64.to_le_bytes().to_vec())
        );
    }

    /// Keys of (account id, timestamp) as the ledger writes them: scans within one account and
    /// across accounts, both directions.
    fn account_prefixed_scans<S: KvStore>(s: &mut S, cf: Cf) {
        let mut b = WriteBatch::new();
        for account in [3u128, 1, 2] {
            for ts in [9u64, 1, 5] {
                b.put(
                    cf,
                    &crate::keys::account_ts_key(account, ts),
                    &[account as u8],
                );
            }
        }
        s.write(&b).unwrap();
        let k = crate::keys::account_ts_key;
        let one = keys(s, cf, &k(2, 0), &k(2, u64::MAX), false);
        assert_eq!(
            one,
            vec![k(2, 1).to_vec(), k(2, 5).to_vec(), k(2, 9).to_vec()]
        );
        let back = keys(s, cf, &k(2, 2), &k(2, 9), true);
        assert_eq!(back, vec![k(2, 9).to_vec(), k(2, 5).to_vec()]);
        let across = keys(s, cf, &k(1, 6), &k(3, 4), false);
        assert_eq!(
            across,
            [k(1, 9), k(2, 1), k(2, 5), k(2, 9), k(3, 1)]
                .map(|x| x.to_vec())
                .to_vec(),
            "{}",
            cf.name()
        );
        assert_eq!(keys(s, cf, &[], &KEY_MAX, true).len(), 9);
    }

    fn empty_batch_is_a_no_op<S: KvStore>(s: &mut S) {
        s.write(&WriteBatch::new()).unwrap();
        assert_eq!(
            state_hash(s).unwrap(),
            state_hash(&MemStore::new()).unwrap()
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mem_store_conforms() {
        super::conformance::run(super::MemStore::new);
    }
}
