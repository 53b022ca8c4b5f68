//! Figures a node counts as it works, for monitoring: lock-free counters and histograms that
//! the hot paths update with a few relaxed atomic adds, and that a metrics endpoint reads at
//! scrape time (the server exposes them to Prometheus; this crate knows nothing of it).
//!
//! - [`Histogram`]: fixed buckets of `u64` observations (nanoseconds, events, ...), one atomic
//!   per bucket plus an atomic sum; [`Histogram::snapshot`] gives the cumulative counts.
//! - [`LogStats`]: the Raft log store's figures (WAL fsync latency).
//! - [`StateMachineStats`]: the state machine's (apply latency, snapshots built and installed,
//!   membership entries applied).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Latency bucket bounds, in nanoseconds: 50 µs to 10 s, about 2.5x apart.
pub const LATENCY_BOUNDS_NS: &[u64] = &[
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    10_000_000_000,
];

/// Size bucket bounds (events, requests): powers of two up to 8192, past the largest batch.
pub const SIZE_BOUNDS: &[u64] = &[
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192,
];

/// A histogram of `u64` observations over fixed bucket bounds. Recording is two relaxed
/// atomic adds and a short scan of the bounds: no lock, no allocation.
#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds (inclusive), ascending.
    bounds: &'static [u64],
    /// One count per bound, then one for the observations above the last bound.
    buckets: Box<[AtomicU64]>,
    /// Sum of the observations (wraps after 2^64, i.e. 584 years of nanoseconds).
    sum: AtomicU64,
}

/// A point-in-time copy of a [`Histogram`], with cumulative bucket counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// `(upper bound, observations <= bound)` for each bound, ascending.
    pub buckets: Vec<(u64, u64)>,
    /// All observations (the `+Inf` bucket).
    pub count: u64,
    /// Their sum.
    pub sum: u64,
}

impl Histogram {
    /// An empty histogram over `bounds` (ascending).
    pub fn new(bounds: &'static [u64]) -> Self {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        Self {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    /// A latency histogram ([`LATENCY_BOUNDS_NS`]); observe it with [`Histogram::observe_duration`].
    pub fn latency() -> Self {
        Self::new(LATENCY_BOUNDS_NS)
    }

    /// A size histogram ([`SIZE_BOUNDS`]).
    pub fn sizes() -> Self {
        Self::new(SIZE_BOUNDS)
    }

    /// Records `v`.
    pub fn observe(&self, v: u64) {
        let i = self.bounds.partition_point(|b| *b < v);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
    }

    /// Records `d` in nanoseconds.
    pub fn observe_duration(&self, d: Duration) {
        self.observe(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// The cumulative counts now. Taken bucket by bucket while others record, so it may be a
    /// few observations behind `sum`; the counts are consistent with each other.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0u64;
        let mut buckets = Vec::with_capacity(self.bounds.len());
        for (bound, n) in self.bounds.iter().zip(self.buckets.iter()) {
            total = total.wrapping_add(n.load(Ordering::Relaxed));
            buckets.push((*bound, total));
        }
        let above = self.buckets[self.bounds.len()].load(Ordering::Relaxed);
        HistogramSnapshot {
            buckets,
            count: total.wrapping_add(above),
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

/// A counter that only goes up.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The count so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The Raft log store's figures ([`crate::LogStore::stats`]).
#[derive(Debug)]
pub struct LogStats {
    /// Duration of each group-commit WAL fsync (one per group of appends).
    pub fsync: Histogram,
    /// Group-commit fsyncs that failed (the store then refuses every later append).
    pub fsync_failures: Counter,
}

impl Default for LogStats {
    fn default() -> Self {
        Self {
            fsync: Histogram::latency(),
            fsync_failures: Counter::default(),
        }
    }
}

/// The state machine's figures ([`crate::LedgerStateMachine::stats`]).
#[derive(Debug)]
pub struct StateMachineStats {
    /// Time to apply one entry (run its command and stage its write).
    pub apply: Histogram,
    /// Snapshots built by this node.
    pub snapshot_builds: Counter,
    /// Snapshot builds that failed.
    pub snapshot_build_failures: Counter,
    /// Duration of each snapshot build (flush, checkpoint, checksums, fsyncs).
    pub snapshot_build: Histogram,
    /// Snapshots received from a leader and installed.
    pub snapshot_installs: Counter,
    /// Snapshot installs that failed.
    pub snapshot_install_failures: Counter,
    /// Membership entries applied (each one a membership change: a learner added, voters
    /// changed, or the joint step of a change).
    pub membership_changes: Counter,
}

impl Default for StateMachineStats {
    fn default() -> Self {
        Self {
            apply: Histogram::latency(),
            snapshot_builds: Counter::default(),
            snapshot_build_failures: Counter::default(),
            snapshot_build: Histogram::latency(),
            snapshot_installs: Counter::default(),
            snapshot_install_failures: Counter::default(),
            membership_changes: Counter::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let h = Histogram::new(&[1, 10, 100]);
        for v in [0, 1, 2, 10, 11, 100, 101, 5_000] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.buckets, vec![(1, 2), (10, 4), (100, 6)]);
        assert_eq!(s.count, 8);
        assert_eq!(s.sum, 5_225);
    }

    #[test]
    fn durations_are_recorded_in_nanoseconds() {
        let h = Histogram::latency();
        h.observe_duration(Duration::from_micros(700));
        let s = h.snapshot();
        assert_eq!(s.sum, 700_000);
        assert_eq!(s.count, 1);
        let first_holding = s.buckets.iter().find(|(_, n)| *n == 1).unwrap().0;
        assert_eq!(first_holding, 1_000_000);
    }
}
