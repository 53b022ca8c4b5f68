//! A write batch indexed by key, and reads of a store as if that batch had been written.
//!
//! [`IndexedBatch`] keeps the final operation on each (column family, key) of a
//! [`WriteBatch`] in key order: the order a sorted store wants its inserts in, and what
//! [`Overlay`] needs to answer reads through the batch. A caller that writes a batch on another
//! thread (`tally-raft`'s state writer) lets readers see it before it has landed: a read of the
//! store taken at any moment during that write, seen through the batch, is the state after it.

use std::cmp::Ordering;

use crate::store::{Cf, KvRead, StoreError, WriteBatch};

/// One operation of a batch: column family, key, and the value (`None` for a delete).
pub type BatchOp<'a> = (Cf, &'a [u8], Option<&'a [u8]>);

/// The final operation on each (column family, key) of a batch, in (column family, key) order.
/// Writing these alone has the same effect as writing the whole batch in order (later
/// operations on a key win).
#[derive(Debug, Clone)]
pub struct IndexedBatch {
    batch: WriteBatch,
    /// Positions of operations in `batch`, in (column family, key) order, one per key.
    order: Vec<u32>,
    /// `order[cf_start[c]..cf_start[c + 1]]` are column family `c`'s.
    cf_start: [usize; Cf::ALL.len() + 1],
}

impl IndexedBatch {
    /// Indexes `batch`.
    pub fn new(batch: WriteBatch) -> Self {
        let (order, cf_start) = index(&batch);
        Self {
            batch,
            order,
            cf_start,
        }
    }

    /// The batch, as built.
    pub fn batch(&self) -> &WriteBatch {
        &self.batch
    }

    /// Gives the batch back (to reuse its buffers).
    pub fn into_batch(self) -> WriteBatch {
        self.batch
    }

    /// Number of distinct (column family, key) pairs.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether the batch has no operations.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The final operation on each key, in (column family, key) order.
    pub fn ops(&self) -> impl Iterator<Item = BatchOp<'_>> + '_ {
        self.order.iter().map(|&i| self.batch.op(i as usize))
    }

    /// Reads `base` as if this batch had been written over it.
    pub fn over<'a>(&'a self, base: &'a dyn KvRead) -> Overlay<'a> {
        Overlay { base, batch: self }
    }

    fn cf_ops(&self, cf: Cf) -> &[u32] {
        &self.order[self.cf_start[cf as usize]..self.cf_start[cf as usize + 1]]
    }

    fn key(&self, i: u32) -> &[u8] {
        self.batch.op(i as usize).1
    }

    fn value(&self, i: u32) -> Option<&[u8]> {
        self.batch.op(i as usize).2
    }

    /// The final operation on `key` in `cf`: `Some(Some(value))` put, `Some(None)` deleted,
    /// `None` untouched.
    fn find(&self, cf: Cf, key: &[u8]) -> Option<Option<&[u8]>> {
        let ops = self.cf_ops(cf);
        ops.binary_search_by(|&i| self.key(i).cmp(key))
            .ok()
            .map(|p| self.value(ops[p]))
    }
}

/// The final operation on each (column family, key) of `batch`, in (column family, key) order:
/// what [`IndexedBatch::ops`] gives, for a batch the caller does not hand over.
pub fn sorted_ops(batch: &WriteBatch) -> Vec<BatchOp<'_>> {
    index(batch)
        .0
        .into_iter()
        .map(|i| batch.op(i as usize))
        .collect()
}

/// Positions of `batch`'s final operation per key, in (column family, key) order, and where
/// each column family's run starts.
///
/// Why not one sort over byte slices: a full command has ~40,000 operations, and comparing
/// slices cost about a sixth of the apply thread's instructions (callgrind). So operations are
/// grouped by column family, a group already in strictly increasing order (transfers, by
/// timestamp) is left alone, and the others are sorted on integers: every ledger key of a
/// column family has one width of at most 24 bytes, which fits a big-endian (u128, u64).
fn index(batch: &WriteBatch) -> (Vec<u32>, [usize; Cf::ALL.len() + 1]) {
    let mut groups: [Vec<u32>; Cf::ALL.len()] = Default::default();
    for i in 0..batch.len() {
        groups[batch.op(i).0 as usize].push(i as u32);
    }
    let mut order = Vec::with_capacity(batch.len());
    let mut cf_start = [0; Cf::ALL.len() + 1];
    for (c, group) in groups.iter_mut().enumerate() {
        sort_group(batch, group);
        // Keep the last operation of each run of equal keys (the sort is stable).
        for (n, &i) in group.iter().enumerate() {
            let next_same = group
                .get(n + 1)
                .is_some_and(|&j| batch.op(j as usize).1 == batch.op(i as usize).1);
            if !next_same {
                order.push(i);
            }
        }
        cf_start[c + 1] = order.len();
    }
    (order, cf_start)
}

/// Sorts one column family's operation positions by key, stably.
fn sort_group(batch: &WriteBatch, group: &mut Vec<u32>) {
    let key = |i: u32| batch.op(i as usize).1;
    if group.windows(2).all(|w| key(w[0]) < key(w[1])) {
        return;
    }
    let width = key(group[0]).len();
    if width > 24 || group.iter().any(|&i| key(i).len() != width) {
        // Not a fixed-width ledger key space (the few `meta` keys): compare the bytes.
        group.sort_by(|&a, &b| key(a).cmp(key(b)));
        return;
    }
    let mut keyed: Vec<(u128, u64, u32)> = group
        .iter()
        .map(|&i| {
            let mut buf = [0u8; 24];
            buf[..width].copy_from_slice(key(i));
            let (hi, lo) = buf.split_at(16);
            let hi = u128::from_be_bytes(hi.try_into().expect("16 bytes"));
            let lo = u64::from_be_bytes(lo.try_into().expect("8 bytes"));
            (hi, lo, i)
        })
        .collect();
    // The position breaks ties, so the unstable sort keeps same-key operations in order.
    keyed.sort_unstable();
    group.clear();
    group.extend(keyed.iter().map(|&(_, _, i)| i));
}

/// A store read through an [`IndexedBatch`] written over it ([`IndexedBatch::over`]).
#[derive(Clone, Copy)]
pub struct Overlay<'a> {
    base: &'a dyn KvRead,
    batch: &'a IndexedBatch,
}

impl std::fmt::Debug for Overlay<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overlay")
            .field("batch_keys", &self.batch.len())
            .finish_non_exhaustive()
    }
}

impl KvRead for Overlay<'_> {
    fn get(&self, cf: Cf, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool, StoreError> {
        match self.batch.find(cf, key) {
            Some(Some(v)) => {
                visit(v);
                Ok(true)
            }
            Some(None) => Ok(false),
            None => self.base.get(cf, key, visit),
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
        let b = self.batch;
        let all = b.cf_ops(cf);
        let start = all.partition_point(|&i| b.key(i) < lo);
        let end = all.partition_point(|&i| b.key(i) <= hi);
        let ops = &all[start..end.max(start)];
        // The batch's keys in scan order; each base key is merged in at its place, and a base
        // key the batch also has is replaced by the batch's operation (or hidden, if deleted).
        let mut next = 0;
        let at = |n: usize| match reverse {
            false => ops[n],
            true => ops[ops.len() - 1 - n],
        };
        let before = |a: &[u8], b: &[u8]| match reverse {
            false => a < b,
            true => a > b,
        };
        let mut stopped = false;
        self.base.scan(cf, lo, hi, reverse, &mut |k, v| {
            while next < ops.len() && before(b.key(at(next)), k) {
                let i = at(next);
                next += 1;
                if let Some(val) = b.value(i) {
                    if !visit(b.key(i), val) {
                        stopped = true;
                        return false;
                    }
                }
            }
            let shown = match next < ops.len() && b.key(at(next)).cmp(k) == Ordering::Equal {
                true => {
                    next += 1;
                    b.value(at(next - 1))
                }
                false => Some(v),
            };
            if let Some(val) = shown {
                if !visit(k, val) {
                    stopped = true;
                    return false;
                }
            }
            true
        })?;
        while !stopped && next < ops.len() {
            let i = at(next);
            next += 1;
            if let Some(val) = b.value(i) {
                stopped = !visit(b.key(i), val);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{KvStore, MemStore};

    fn random_key(rng: &mut fastrand::Rng, cf: Cf) -> Vec<u8> {
        // Few distinct bytes, so keys repeat and share prefixes; `meta` keys vary in width.
        let width = match cf {
            Cf::Meta => rng.usize(0..6),
            _ => 2 + cf as usize % 3,
        };
        (0..width).map(|_| [0, 1, 0xff][rng.usize(0..3)]).collect()
    }

    fn random_batch(rng: &mut fastrand::Rng, cfs: &[Cf], n: usize) -> WriteBatch {
        let mut b = WriteBatch::new();
        for i in 0..n {
            let cf = cfs[rng.usize(0..cfs.len())];
            let key = random_key(rng, cf);
            match rng.u8(..) < 180 {
                true => b.put(cf, &key, &(i as u32).to_le_bytes()),
                false => b.delete(cf, &key),
            }
        }
        b
    }

    fn scanned(
        r: &dyn KvRead,
        cf: Cf,
        lo: &[u8],
        hi: &[u8],
        reverse: bool,
        limit: usize,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        r.scan(cf, lo, hi, reverse, &mut |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            out.len() < limit
        })
        .unwrap();
        out
    }

    /// Reads through the overlay must equal reads of a store the batch was written to: every
    /// get, and every scan in either direction, over any range, stopped after any count.
    #[test]
    fn overlay_reads_equal_reads_after_the_write() {
        let mut rng = fastrand::Rng::with_seed(11);
        let cfs = [Cf::Meta, Cf::Accounts, Cf::Transfers, Cf::AccountTransfers];
        for round in 0..300 {
            let mut base = MemStore::new();
            let (n_base, n_batch) = (rng.usize(0..60), rng.usize(0..60));
            base.write(&random_batch(&mut rng, &cfs, n_base)).unwrap();
            let batch = random_batch(&mut rng, &cfs, n_batch);
            let mut written = base.clone();
            written.write(&batch).unwrap();
            let ix = IndexedBatch::new(batch);
            let over = ix.over(&base);
            for _ in 0..40 {
                let cf = cfs[rng.usize(0..cfs.len())];
                let key = random_key(&mut rng, cf);
                let get = |r: &dyn KvRead| {
                    let mut v = None;
                    let found = r.get(cf, &key, &mut |x| v = Some(x.to_vec())).unwrap();
                    (found, v)
                };
                assert_eq!(
                    get(&over),
                    get(&written),
                    "round {round} get {cf:?} {key:?}"
                );
                let (mut lo, mut hi) = (key, random_key(&mut rng, cf));
                if rng.u8(..) < 200 && lo > hi {
                    std::mem::swap(&mut lo, &mut hi);
                }
                let reverse = rng.bool();
                let limit = rng.usize(1..12);
                assert_eq!(
                    scanned(&over, cf, &lo, &hi, reverse, limit),
                    scanned(&written, cf, &lo, &hi, reverse, limit),
                    "round {round} scan {cf:?} {lo:?}..={hi:?} reverse {reverse} limit {limit}"
                );
            }
        }
    }

    /// `ops` must give exactly the final operation of each key, in (column family, key byte)
    /// order: a wrong order slows a sorted store's inserts, and a wrong "final" one would make
    /// the written state differ from the batch's.
    #[test]
    fn ops_are_the_final_operation_per_key_in_key_order() {
        let mut rng = fastrand::Rng::with_seed(7);
        for round in 0..300 {
            let n = rng.usize(1..200);
            let batch = random_batch(&mut rng, &Cf::ALL, n);
            let mut want: std::collections::BTreeMap<(Cf, Vec<u8>), Option<Vec<u8>>> =
                Default::default();
            for (cf, k, v) in batch.iter() {
                want.insert((cf, k.to_vec()), v.map(<[u8]>::to_vec));
            }
            let ix = IndexedBatch::new(batch);
            let got: Vec<_> = ix
                .ops()
                .map(|(cf, k, v)| ((cf, k.to_vec()), v.map(<[u8]>::to_vec)))
                .collect();
            let want: Vec<_> = want.into_iter().collect();
            assert_eq!(got, want, "round {round}");
        }
    }
}
