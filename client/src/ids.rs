//! Time-ordered 128-bit ids, unique across clients without coordination.
//!
//! An id is a ULID: 48 bits of milliseconds since the Unix epoch, then 80 random bits. Within
//! one generator, ids are strictly increasing (the `ulid` crate's monotonic generator adds one
//! to the random part when the clock has not moved, or moved back); across processes, 80 random
//! bits make a collision vanishingly unlikely. Time order keeps the ledger's id indexes
//! append-mostly, which is what makes them fast.

use std::sync::{Mutex, OnceLock};

/// A new unique, time-ordered id from the process-wide generator; never 0 or `u128::MAX`.
///
/// ```
/// let a = tally_client::id();
/// let b = tally_client::id();
/// assert!(a < b);
/// ```
pub fn id() -> u128 {
    static GLOBAL: OnceLock<IdGenerator> = OnceLock::new();
    GLOBAL.get_or_init(IdGenerator::new).next_id()
}

/// A thread-safe generator of strictly increasing ids. [`id`] uses one shared generator; a
/// separate one is only useful to avoid contention between threads (ids stay unique, but are
/// then increasing only per generator).
pub struct IdGenerator {
    inner: Mutex<ulid::Generator>,
}

impl std::fmt::Debug for IdGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdGenerator").finish_non_exhaustive()
    }
}

impl Default for IdGenerator {
    fn default() -> Self {
        Self::new()
    }
}

impl IdGenerator {
    /// A generator with no history.
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(ulid::Generator::new()),
        }
    }

    /// The next id: greater than every id this generator returned before; never 0 or
    /// `u128::MAX` (both reserved by the ledger).
    pub fn next_id(&self) -> u128 {
        // A poisoned lock only means another thread panicked mid-call; the generator's state (the
        // last id) is still valid.
        let mut generator = self
            .inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        loop {
            match generator.generate() {
                // 0 needs the Unix epoch's first millisecond and MAX the year 10889; skip both.
                Ok(ulid) if ulid.0 != 0 && ulid.0 != u128::MAX => return ulid.0,
                Ok(_) => continue,
                // 2^80 ids within one millisecond: wait for the clock to move on.
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(1)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn ids_are_strictly_increasing_within_a_thread_and_unique_across_threads() {
        let per_thread = 20_000;
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || {
                    let ids: Vec<u128> = (0..per_thread).map(|_| id()).collect();
                    assert!(ids.windows(2).all(|w| w[0] < w[1]), "not monotonic");
                    ids
                })
            })
            .collect();
        let mut all = HashSet::new();
        for t in threads {
            for id in t.join().unwrap() {
                assert!(id != 0 && id != u128::MAX);
                assert!(all.insert(id), "duplicate id {id:#x}");
            }
        }
        assert_eq!(all.len(), 4 * per_thread);
    }

    #[test]
    fn separate_generators_do_not_collide_and_carry_the_time() {
        let (a, b) = (IdGenerator::new(), IdGenerator::new());
        let ids: HashSet<u128> = (0..10_000)
            .flat_map(|_| [a.next_id(), b.next_id()])
            .collect();
        assert_eq!(ids.len(), 20_000);

        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let ms = a.next_id() >> 80;
        assert!(ms.abs_diff(now_ms) < 60_000, "id time {ms} vs now {now_ms}");
    }
}
