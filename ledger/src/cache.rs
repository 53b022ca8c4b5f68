//! The account cache: committed accounts kept in memory so hot accounts skip the store.

use rustc_hash::FxHashMap;

use crate::types::Account;

/// Committed accounts kept in memory so hot accounts skip the store. Bounded: when full it is
/// emptied and refills with what the next batches touch.
#[derive(Debug)]
pub struct AccountCache {
    map: FxHashMap<u128, Account>,
    capacity: usize,
}

impl AccountCache {
    /// A cache of at most `capacity` accounts (0 disables it).
    pub fn new(capacity: usize) -> Self {
        Self {
            map: FxHashMap::default(),
            capacity,
        }
    }

    pub(crate) fn get(&self, id: u128) -> Option<Account> {
        self.map.get(&id).copied()
    }

    pub(crate) fn contains(&self, id: u128) -> bool {
        self.map.contains_key(&id)
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }

    pub(crate) fn insert(&mut self, a: Account) {
        if self.capacity == 0 {
            return;
        }
        if self.map.len() >= self.capacity && !self.map.contains_key(&a.id) {
            self.map.clear();
        }
        self.map.insert(a.id, a);
    }
}

/// Default [`AccountCache`] capacity: one million accounts (about 200 MB).
pub const ACCOUNT_CACHE_DEFAULT: usize = 1 << 20;
