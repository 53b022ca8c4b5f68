//! The executor's overlay maps: a hash map that remembers first-insertion order and can roll
//! back to a savepoint.

use rustc_hash::FxHashMap;
use std::collections::hash_map::Entry;
use std::hash::Hash;

/// A map with an undo log, so a failed linked chain can be rolled back to a savepoint.
/// Iteration (for encoding) follows first-insertion order, never hash order.
///
/// The undo log is kept only while a savepoint is held (inside a linked chain): outside one
/// nothing can be rolled back, and logging each previous value (an account is 128 bytes)
/// is a measurable share of the apply path.
#[derive(Debug)]
pub(crate) struct Journaled<K, V> {
    map: FxHashMap<K, V>,
    order: Vec<K>,
    log: Vec<(K, Option<V>)>,
    journaling: bool,
}

impl<K, V> Default for Journaled<K, V> {
    fn default() -> Self {
        Self {
            map: FxHashMap::default(),
            order: Vec::new(),
            log: Vec::new(),
            journaling: false,
        }
    }
}

impl<K: Copy + Eq + Hash, V: Copy> Journaled<K, V> {
    /// Empties the map, keeping its allocations.
    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
        self.log.clear();
        self.journaling = false;
    }

    /// Makes room for `n` distinct keys without reallocating.
    pub(crate) fn reserve(&mut self, n: usize) {
        self.map.reserve(n);
        self.order.reserve(n);
    }

    pub(crate) fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k)
    }

    pub(crate) fn insert(&mut self, k: K, v: V) {
        self.upsert(k, |_| v);
    }

    /// Sets `k` to `f(current value)`, with one hash lookup and the value written in place
    /// (the previous one is copied only into the undo log, when journaling).
    pub(crate) fn upsert(&mut self, k: K, f: impl FnOnce(Option<&V>) -> V) {
        match self.map.entry(k) {
            Entry::Occupied(mut e) => {
                if self.journaling {
                    self.log.push((k, Some(*e.get())));
                }
                let v = f(Some(e.get()));
                *e.get_mut() = v;
            }
            Entry::Vacant(e) => {
                e.insert(f(None));
                self.order.push(k);
                if self.journaling {
                    self.log.push((k, None));
                }
            }
        }
    }

    /// Starts (or continues) logging changes; [`Journaled::rollback`] to the returned point
    /// undoes every insert after it, until [`Journaled::release`].
    pub(crate) fn savepoint(&mut self) -> usize {
        self.journaling = true;
        self.log.len()
    }

    /// Stops logging: the changes since the savepoint are final.
    pub(crate) fn release(&mut self) {
        self.journaling = false;
        self.log.clear();
    }

    pub(crate) fn rollback(&mut self, savepoint: usize) {
        debug_assert!(self.journaling, "rollback without a savepoint");
        while self.log.len() > savepoint {
            let (k, prev) = self.log.pop().expect("log longer than savepoint");
            match prev {
                Some(p) => {
                    self.map.insert(k, p);
                }
                None => {
                    self.map.remove(&k);
                    let last = self.order.pop();
                    debug_assert!(last.is_some_and(|l| l == k), "undo is LIFO");
                }
            }
        }
    }

    /// Entries in first-insertion order with their final values.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.order.iter().map(|k| (k, &self.map[k]))
    }

    /// The final values in hash order: only for order-free uses, such as a sum.
    pub(crate) fn values_unordered(&self) -> impl Iterator<Item = &V> {
        self.map.values()
    }
}
