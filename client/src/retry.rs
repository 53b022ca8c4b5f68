//! How much and how long the client retries: a retry budget shared by every call of one client,
//! and capped exponential backoff with full jitter.
//!
//! The budget keeps a client from multiplying a spike. It counts, over a sliding window
//! ([`ClientOptions::retry_budget_window`]), the calls' first attempts and their retries, and
//! allows a retry only while
//!
//! ```text
//! retries in the window (this one included)
//!     <= first attempts in the window * retry_budget_percent / 100
//!        + retry_budget_min_per_sec * window seconds
//! ```
//!
//! so when every attempt fails, a client sends at most `1 + percent/100` times the requests its
//! callers make, plus a small reserve that lets a quiet client (a few calls a minute) still ride
//! out an election. Following a fresh leader hint is a redirect, not a retry: the request has
//! not yet reached the node that can serve it, and the follower refused it at no cost. This is
//! the scheme of Finagle's `RetryBudget` and of gRPC's retry throttling.
//!
//! Backoff is "full jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter"): the n-th
//! wait is uniform in `[0, min(retry_backoff_max, retry_backoff_min * 2^n)]`, so clients that
//! failed together spread out instead of returning together. When the server names a wait
//! (`tally-retry-after-ms`), the client waits at least that long: the hint plus a jitter of up
//! to the larger of the current ceiling and the hint (at most `retry_backoff_max`).
//!
//! Both take their time and randomness from the caller (an `Instant`, a seeded `fastrand::Rng`),
//! so the tests below are deterministic.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::window::Window;
use crate::ClientOptions;

/// What a client's retry machinery has done since it was created, summed over all its clones
/// and calls (see [`Client::retry_stats`](crate::Client::retry_stats)).
///
/// Every attempt the client made is exactly one of a first attempt, a retry or a redirect, and
/// the overload throttle refused `throttled` of them locally, so `first_attempts + retries +
/// redirects - throttled` is the number of requests sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryStats {
    /// Calls started: the first attempt of each.
    pub first_attempts: u64,
    /// Attempts after a failure, each allowed by the retry budget.
    pub retries: u64,
    /// Attempts that followed a fresh leader hint (not charged to the budget).
    pub redirects: u64,
    /// Retries the budget refused: each ended its call with the last attempt's error.
    pub retries_refused: u64,
    /// Attempts the overload throttle refused locally, unsent: each ended its call, a first
    /// attempt with [`Error::ResourceExhausted`](crate::Error::ResourceExhausted), a retry with
    /// the error the call's earlier attempts earned.
    pub throttled: u64,
}

/// The retry budget of one client (see the module doc).
#[derive(Debug)]
pub(crate) struct RetryBudget {
    percent: u64,
    /// Retries allowed in a window without any first attempt.
    reserve: u64,
    /// First attempts and retries in the window.
    window: Window,
    first_attempts: AtomicU64,
    retries: AtomicU64,
    redirects: AtomicU64,
    refused: AtomicU64,
}

impl RetryBudget {
    /// A budget with `options`' settings whose window starts at `origin`.
    pub fn new(options: &ClientOptions, origin: Instant) -> Self {
        let window = options.retry_budget_window;
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        let reserve = u64::from(options.retry_budget_min_per_sec).saturating_mul(window_ms) / 1000;
        Self {
            percent: u64::from(options.retry_budget_percent),
            reserve,
            window: Window::new(window, origin),
            first_attempts: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            redirects: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Counts a call's first attempt, made at `now`.
    pub fn first_attempt(&self, now: Instant) {
        self.first_attempts.fetch_add(1, Ordering::Relaxed);
        self.window.with_current(now, |slot, _| slot[0] += 1);
    }

    /// Counts an attempt that follows a fresh leader hint (free).
    pub fn redirect(&self) {
        self.redirects.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether a retry at `now` fits the budget; if it does, it is counted as made.
    pub fn try_retry(&self, now: Instant) -> bool {
        let (percent, reserve) = (self.percent, self.reserve);
        let allowed = self.window.with_current(now, |slot, [firsts, retries]| {
            // (retries + 1) <= firsts * percent / 100 + reserve, in integers.
            let wanted = retries.saturating_add(1).saturating_mul(100);
            let funded = firsts
                .saturating_mul(percent)
                .saturating_add(reserve.saturating_mul(100));
            let ok = wanted <= funded;
            if ok {
                slot[1] += 1;
            }
            ok
        });
        let counter = if allowed {
            &self.retries
        } else {
            &self.refused
        };
        counter.fetch_add(1, Ordering::Relaxed);
        allowed
    }

    /// The counters so far.
    pub fn stats(&self) -> RetryStats {
        RetryStats {
            first_attempts: self.first_attempts.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            redirects: self.redirects.load(Ordering::Relaxed),
            retries_refused: self.refused.load(Ordering::Relaxed),
            throttled: 0,
        }
    }
}

/// The waits between one call's attempts: capped exponential backoff with full jitter.
#[derive(Debug)]
pub(crate) struct Backoff {
    /// The ceiling of the next wait.
    ceiling: Duration,
    max: Duration,
    rng: fastrand::Rng,
}

impl Backoff {
    /// Backoff for one call with `options`' bounds, drawing from `rng`.
    pub fn new(options: &ClientOptions, rng: fastrand::Rng) -> Self {
        Self {
            ceiling: options.retry_backoff_min,
            max: options.retry_backoff_max,
            rng,
        }
    }

    /// The next wait: uniform in `[0, ceiling]`, or with a server hint `hint` plus uniform in
    /// `[0, max(ceiling, min(hint, max))]`. Doubles the ceiling (up to the maximum) each time.
    pub fn next(&mut self, hint: Option<Duration>) -> Duration {
        let ceiling = self.ceiling;
        self.ceiling = (ceiling * 2).min(self.max);
        match hint {
            None => self.jitter(ceiling),
            Some(hint) => hint + self.jitter(ceiling.max(hint.min(self.max))),
        }
    }

    /// A uniform draw in `[0, 1)` from the same generator (for the overload throttle).
    pub fn draw(&mut self) -> f64 {
        self.rng.f64()
    }

    /// Uniform in `[0, up_to]`, at microsecond resolution.
    fn jitter(&mut self, up_to: Duration) -> Duration {
        let micros = u64::try_from(up_to.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(self.rng.u64(0..=micros))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(percent: u32, min_per_sec: u32, window_secs: u64) -> ClientOptions {
        ClientOptions {
            retry_budget_percent: percent,
            retry_budget_min_per_sec: min_per_sec,
            retry_budget_window: Duration::from_secs(window_secs),
            ..ClientOptions::default()
        }
    }

    /// How many retries in a row the budget allows at `now`.
    fn drain(budget: &RetryBudget, now: Instant) -> u64 {
        let mut n = 0;
        while budget.try_retry(now) {
            n += 1;
            assert!(n < 1_000_000, "the budget never ran out");
        }
        n
    }

    #[test]
    fn a_quiet_client_may_retry_its_reserve_and_no_more() {
        let t0 = Instant::now();
        // 2 retries a second over 10 s: a reserve of 20.
        let budget = RetryBudget::new(&options(20, 2, 10), t0);
        assert_eq!(drain(&budget, t0), 20);
        let stats = budget.stats();
        assert_eq!((stats.retries, stats.retries_refused), (20, 1));
        assert_eq!(stats.first_attempts, 0);
    }

    #[test]
    fn retries_are_a_fraction_of_first_attempts() {
        let t0 = Instant::now();
        let budget = RetryBudget::new(&options(20, 0, 10), t0);
        assert!(
            !budget.try_retry(t0),
            "no first attempt, no reserve: no retry"
        );
        for _ in 0..100 {
            budget.first_attempt(t0);
        }
        assert_eq!(drain(&budget, t0), 20, "20% of 100");
        // Each further first attempt funds a fifth of a retry.
        for i in 1..=10 {
            budget.first_attempt(t0);
            assert_eq!(budget.try_retry(t0), i % 5 == 0, "after {i} more");
        }
        let stats = budget.stats();
        assert_eq!(stats.first_attempts, 110);
        assert_eq!(stats.retries, 22);
    }

    #[test]
    fn the_window_slides_and_old_attempts_stop_funding_retries() {
        let t0 = Instant::now();
        let budget = RetryBudget::new(&options(50, 0, 10), t0);
        for _ in 0..10 {
            budget.first_attempt(t0);
        }
        assert_eq!(drain(&budget, t0), 5);
        // 9.5 s later the attempts of t0 are still in the window; so are its retries.
        let later = t0 + Duration::from_millis(9_500);
        assert!(!budget.try_retry(later));
        // After the window, neither is: a fresh first attempt funds half a retry again.
        let after = t0 + Duration::from_millis(10_000);
        assert!(!budget.try_retry(after), "old first attempts expired");
        budget.first_attempt(after);
        budget.first_attempt(after);
        assert!(budget.try_retry(after));
        assert!(!budget.try_retry(after));
        // A caller that read the clock a little earlier counts in the newest stretch: its
        // retry is judged against the same window, and no count is lost.
        budget.first_attempt(t0);
        budget.first_attempt(t0);
        assert!(
            budget.try_retry(t0),
            "funded by the two first attempts just made"
        );
        assert_eq!(budget.stats().first_attempts, 14);
    }

    #[test]
    fn the_budget_bounds_attempts_over_a_long_run() {
        // Over a run of T seconds the retries are at most percent of the first attempts plus the
        // reserve per window started: here 10 s windows, 30 s, one call per 10 ms, every one
        // wanting to retry three times.
        let t0 = Instant::now();
        let budget = RetryBudget::new(&options(10, 1, 10), t0);
        for ms in (0..30_000).step_by(10) {
            let now = t0 + Duration::from_millis(ms);
            budget.first_attempt(now);
            for _ in 0..3 {
                if !budget.try_retry(now) {
                    break;
                }
            }
        }
        let s = budget.stats();
        assert_eq!(s.first_attempts, 3_000);
        let bound = s.first_attempts / 10 + 3 * 10;
        assert!(s.retries <= bound, "{s:?} over {bound}");
        assert!(
            s.retries >= s.first_attempts / 10,
            "{s:?}: the budget is spent"
        );
        assert!(s.retries_refused > 0);
    }

    #[test]
    fn backoff_is_full_jitter_doubling_up_to_the_maximum() {
        let options = ClientOptions {
            retry_backoff_min: Duration::from_millis(10),
            retry_backoff_max: Duration::from_millis(35),
            ..ClientOptions::default()
        };
        let ceilings = [10, 20, 35, 35].map(Duration::from_millis);
        let mut low = [Duration::MAX; 4];
        for seed in 0..200 {
            let mut backoff = Backoff::new(&options, fastrand::Rng::with_seed(seed));
            for (i, ceiling) in ceilings.iter().enumerate() {
                let wait = backoff.next(None);
                assert!(wait <= *ceiling, "{wait:?} vs {ceiling:?}");
                low[i] = low[i].min(wait);
            }
        }
        // Full jitter reaches down to (about) zero, unlike "equal jitter".
        assert!(low.iter().all(|w| *w < Duration::from_millis(2)), "{low:?}");
    }

    #[test]
    fn a_retry_after_hint_is_a_floor_plus_jitter() {
        let options = ClientOptions {
            retry_backoff_min: Duration::from_millis(10),
            retry_backoff_max: Duration::from_millis(500),
            ..ClientOptions::default()
        };
        let hint = Duration::from_millis(50);
        let mut spread = (Duration::MAX, Duration::ZERO);
        for seed in 0..200 {
            let mut backoff = Backoff::new(&options, fastrand::Rng::with_seed(seed));
            let wait = backoff.next(Some(hint));
            // The jitter spans at least the hint itself, even while the ceiling is 10 ms.
            assert!(wait >= hint && wait <= hint * 2, "{wait:?}");
            spread = (spread.0.min(wait), spread.1.max(wait));
        }
        assert!(
            spread.1 - spread.0 > Duration::from_millis(40),
            "{spread:?}"
        );
        // A long hint is honoured in full, with jitter bounded by the maximum backoff.
        let mut backoff = Backoff::new(&options, fastrand::Rng::with_seed(7));
        let wait = backoff.next(Some(Duration::from_secs(2)));
        assert!(wait >= Duration::from_secs(2) && wait <= Duration::from_millis(2_500));
    }

    #[test]
    fn the_same_seed_gives_the_same_waits() {
        let options = ClientOptions::default();
        let waits = |seed| {
            let mut b = Backoff::new(&options, fastrand::Rng::with_seed(seed));
            (0..6).map(|_| b.next(None)).collect::<Vec<_>>()
        };
        assert_eq!(waits(3), waits(3));
        assert_ne!(waits(3), waits(4));
    }
}
