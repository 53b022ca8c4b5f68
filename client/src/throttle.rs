//! Client-side overload throttling: while the cluster refuses this client's requests as
//! overloaded, the client refuses a share of them itself, at no cost to anyone, so that what it
//! sends stays near what the cluster accepts.
//!
//! The client sends each attempt with probability `q` (1 while nothing is refused) and refuses
//! the rest locally. Time is cut into intervals ([`ClientOptions::overload_throttle_interval`],
//! 100 ms); at the end of each, from its counts of attempts `offered` (sent or refused
//! locally), `sent`, and `refused` by the cluster as overloaded:
//!
//! ```text
//! refused >= MIN_REFUSALS:  q = clamp(ratio x (sent - refused) / offered, Q_MIN, 1)
//! refused == 0:             q = min(1, 2 x q)
//! otherwise:                q unchanged
//! ```
//!
//! with `ratio = overload_throttle_percent / 100` (1.1). The first rule is the estimate of
//! Google's SRE book ("Handling Overload", client-side throttling): send `ratio` times what the
//! cluster accepted. Under overload the attempts that reach the cluster settle near `ratio`
//! times its acceptances, so it spends little on refusals, which with one-event requests cost it
//! about a third of serving them. The second rule recovers: when the cluster stops refusing,
//! the share sent doubles every interval (from [`Q_MIN`] to everything in under a second), where
//! the book's sliding-window form, which counts local refusals as requests, would grow only by
//! `ratio` per window and leave a client that met a brief burst of refusals sending a tenth of
//! its calls for tens of seconds. An interval with no attempt at all resets `q` to 1.
//!
//! A refusal made locally is [`Error::ResourceExhausted`](crate::Error::ResourceExhausted), like
//! the cluster's ([`Error::is_throttled`](crate::Error::is_throttled) tells them apart):
//! nothing was sent, so nothing was applied. Attempts without an answer (a connection that
//! failed, a timeout) count as sent and not refused: the throttle answers overload only. A
//! client making a few calls a second never gathers [`MIN_REFUSALS`] in an interval and is not
//! throttled; its retry budget bounds what it adds to a spike.
//!
//! The draw comes from the caller, so the tests below are deterministic.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::ClientOptions;

/// Refusals by the cluster in one interval that make the throttle act.
pub(crate) const MIN_REFUSALS: u64 = 4;
/// The smallest share sent while throttled: probes that tell when the cluster recovers.
pub(crate) const Q_MIN: f64 = 0.01;

/// The overload throttle of one client (see the module doc).
#[derive(Debug)]
pub(crate) struct Throttle {
    /// `ratio` x 100; 0 turns the throttle off.
    percent: u64,
    origin: Instant,
    interval: Duration,
    state: Mutex<State>,
    /// Attempts refused locally since the client was created.
    throttled: AtomicU64,
}

/// The current interval's counts and the share sent.
#[derive(Debug)]
struct State {
    /// Which interval (time since the origin, in intervals) the counts belong to.
    epoch: u64,
    offered: u64,
    sent: u64,
    refused: u64,
    /// The share of attempts sent.
    q: f64,
}

impl Throttle {
    /// A throttle with `options`' settings whose first interval starts at `origin`.
    pub fn new(options: &ClientOptions, origin: Instant) -> Self {
        Self {
            percent: u64::from(options.overload_throttle_percent),
            origin,
            interval: options.overload_throttle_interval,
            state: Mutex::new(State {
                epoch: 0,
                offered: 0,
                sent: 0,
                refused: 0,
                q: 1.0,
            }),
            throttled: AtomicU64::new(0),
        }
    }

    /// Whether an attempt at `now` may be sent, given `draw`, uniform in `[0, 1)`.
    pub fn admit(&self, now: Instant, draw: f64) -> bool {
        if self.percent == 0 {
            return true;
        }
        let admitted = {
            let mut state = self.state(now);
            state.offered += 1;
            let admitted = draw < state.q;
            state.sent += u64::from(admitted);
            admitted
        };
        if !admitted {
            self.throttled.fetch_add(1, Ordering::Relaxed);
        }
        admitted
    }

    /// Counts an attempt the cluster refused as overloaded, answered at `now`.
    pub fn refused(&self, now: Instant) {
        if self.percent != 0 {
            self.state(now).refused += 1;
        }
    }

    /// Attempts refused locally so far.
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// The state, moved on to `now`'s interval (the share sent updated from the last one).
    /// A caller that read the clock a little earlier than another counts in the newest
    /// interval.
    fn state(&self, now: Instant) -> std::sync::MutexGuard<'_, State> {
        let elapsed = now.saturating_duration_since(self.origin).as_nanos();
        let epoch = u64::try_from(elapsed / self.interval.as_nanos().max(1)).unwrap_or(u64::MAX);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if epoch > state.epoch {
            state.q = if epoch > state.epoch + 1 || state.offered == 0 {
                // A quiet interval: start afresh.
                1.0
            } else if state.refused >= MIN_REFUSALS {
                let accepted = state.sent.saturating_sub(state.refused) as f64;
                (self.percent as f64 / 100.0 * accepted / state.offered as f64).clamp(Q_MIN, 1.0)
            } else if state.refused == 0 {
                (state.q * 2.0).min(1.0)
            } else {
                state.q
            };
            state.epoch = epoch;
            state.offered = 0;
            state.sent = 0;
            state.refused = 0;
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(percent: u32) -> (Throttle, Instant) {
        let t0 = Instant::now();
        let options = ClientOptions {
            overload_throttle_percent: percent,
            overload_throttle_interval: Duration::from_millis(100),
            ..ClientOptions::default()
        };
        (Throttle::new(&options, t0), t0)
    }

    /// A cluster that serves `capacity` attempts a second and queues up to 25 ms of work (a
    /// token bucket), refusing the rest, offered one call every `every_us` for `secs`, from
    /// `t0`; it accepts nothing during the first `dark_ms`. Returns (sent, accepted) per second.
    fn run(
        t: &Throttle,
        t0: Instant,
        capacity: f64,
        every_us: u64,
        secs: u64,
        dark_ms: u64,
    ) -> Vec<(u64, u64)> {
        let mut rng = fastrand::Rng::with_seed(9);
        let burst = capacity * 0.025;
        let (mut tokens, mut last_us) = (burst, 0u64);
        let mut out = vec![(0, 0); secs as usize];
        for i in 0..secs * 1_000_000 / every_us {
            let us = i * every_us;
            let now = t0 + Duration::from_micros(us);
            tokens = (tokens + (us - last_us) as f64 * capacity / 1e6).min(burst);
            last_us = us;
            if t.admit(now, rng.f64()) {
                let second = &mut out[(us / 1_000_000) as usize];
                second.0 += 1;
                if tokens >= 1.0 && us >= dark_ms * 1_000 {
                    second.1 += 1;
                    tokens -= 1.0;
                } else {
                    t.refused(now);
                }
            }
        }
        out
    }

    #[test]
    fn nothing_is_refused_while_the_cluster_keeps_up() {
        let (t, t0) = throttle(110);
        let per_sec = run(&t, t0, 20_000.0, 100, 5, 0);
        assert_eq!(t.throttled(), 0);
        assert!(per_sec
            .iter()
            .all(|&(sent, ok)| sent == 10_000 && ok == 10_000));
    }

    #[test]
    fn under_overload_what_is_sent_settles_near_ratio_times_accepts() {
        // 10,000 calls a second for a cluster that serves 1,000.
        let (t, t0) = throttle(110);
        let per_sec = run(&t, t0, 1_000.0, 100, 10, 0);
        for (second, &(sent, accepted)) in per_sec.iter().enumerate().skip(1) {
            // The cluster still serves (nearly) all it can...
            assert!(accepted > 950, "second {second}: accepted {accepted}");
            // ...and sees a little over `ratio` x its acceptances, not ten times them.
            assert!(sent < 1_400, "second {second}: sent {sent}");
        }
        let sent: u64 = per_sec.iter().map(|s| s.0).sum();
        assert_eq!(t.throttled() + sent, 100_000);
    }

    #[test]
    fn the_throttle_recovers_within_a_second_of_a_burst_of_refusals() {
        // The cluster refuses everything for 300 ms, then serves 1,000 a second again.
        let (t, t0) = throttle(110);
        let per_sec = run(&t, t0, 1_000.0, 100, 3, 300);
        let accepted: Vec<u64> = per_sec.iter().map(|s| s.1).collect();
        // 700 could be served in the first second.
        assert!(accepted[0] > 400, "{accepted:?}");
        assert!(accepted[1] > 950 && accepted[2] > 950, "{accepted:?}");
    }

    #[test]
    fn the_throttle_lets_go_once_the_cluster_accepts_again() {
        let (t, t0) = throttle(110);
        for _ in 0..100 {
            assert!(t.admit(t0, 0.99));
            t.refused(t0);
        }
        // The next interval sends the minimum share.
        let next = t0 + Duration::from_millis(100);
        assert!(!t.admit(next, 0.5));
        assert!(t.admit(next, Q_MIN / 2.0));
        // Without refusals the share doubles each interval.
        let mut q = Q_MIN;
        for i in 2..12 {
            let now = t0 + Duration::from_millis(100 * i);
            q = (q * 2.0).min(1.0);
            assert!(t.admit(now, q * 0.99), "interval {i}");
            if q < 1.0 {
                assert!(!t.admit(now, q * 1.01), "interval {i}");
            }
        }
    }

    #[test]
    fn a_few_refusals_do_not_throttle() {
        let (t, t0) = throttle(110);
        for _ in 0..MIN_REFUSALS - 1 {
            assert!(t.admit(t0, 0.5));
            t.refused(t0);
        }
        assert!(t.admit(t0 + Duration::from_millis(100), 0.999));
    }

    #[test]
    fn zero_turns_the_throttle_off() {
        let (t, t0) = throttle(0);
        for _ in 0..1_000 {
            t.refused(t0);
        }
        assert!(t.admit(t0 + Duration::from_millis(100), 0.999));
        assert_eq!(t.throttled(), 0);
    }
}
