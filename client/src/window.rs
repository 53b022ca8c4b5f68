//! Two counters over a sliding window of time, kept as [`SLOTS`] slots: the retry budget's
//! first attempts and retries (`retry.rs`).
//!
//! A slot's counts leave the window whole, so the window slides in steps of `window / SLOTS`.
//! Time comes from the caller (an `Instant`), so the budget's tests are deterministic.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Slots of one window.
pub(crate) const SLOTS: usize = 10;

/// One slot: the counts of one `window / SLOTS` stretch of time.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// Which stretch (time since the origin, in slot lengths) the counts belong to.
    epoch: u64,
    counts: [u64; 2],
}

/// The counts of the last [`SLOTS`] stretches of time.
#[derive(Debug, Default)]
struct Slots {
    /// The newest stretch seen; never decreases.
    latest: u64,
    slots: [Slot; SLOTS],
}

/// Two counters summed over a sliding window.
#[derive(Debug)]
pub(crate) struct Window {
    origin: Instant,
    slot_len: Duration,
    slots: Mutex<Slots>,
}

impl Window {
    /// A window of `length` (one slot at least 1 ms long) starting at `origin`.
    pub fn new(length: Duration, origin: Instant) -> Self {
        Self {
            origin,
            slot_len: (length / SLOTS as u32).max(Duration::from_millis(1)),
            slots: Mutex::default(),
        }
    }

    /// Runs `f` on the counts of `now`'s slot (emptied first if it held an older stretch),
    /// given the window's totals before `f`. Concurrent callers may arrive slightly out of
    /// time order; a `now` older than the newest seen counts as the newest.
    pub fn with_current<T>(&self, now: Instant, f: impl FnOnce(&mut [u64; 2], [u64; 2]) -> T) -> T {
        let elapsed = now.saturating_duration_since(self.origin).as_nanos();
        let epoch = u64::try_from(elapsed / self.slot_len.as_nanos().max(1)).unwrap_or(u64::MAX);
        let mut window = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let epoch = epoch.max(window.latest);
        window.latest = epoch;
        // Every slot's epoch is at most `epoch`; it is in the window if it is one of the last
        // SLOTS stretches.
        let mut totals = [0u64; 2];
        for slot in window
            .slots
            .iter()
            .filter(|s| epoch - s.epoch < SLOTS as u64)
        {
            for (total, count) in totals.iter_mut().zip(slot.counts) {
                *total = total.saturating_add(count);
            }
        }
        let slot = &mut window.slots[(epoch % SLOTS as u64) as usize];
        if slot.epoch != epoch {
            // The slot holds a stretch SLOTS or more behind (or none): it has left the window.
            *slot = Slot {
                epoch,
                counts: [0; 2],
            };
        }
        f(&mut slot.counts, totals)
    }
}
