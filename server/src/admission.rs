//! Write admission: a write request is taken only if it can start within a time budget;
//! otherwise it is refused at once with `RESOURCE_EXHAUSTED`, a retry-after hint and
//! `tally-not-applied: true` ([`grpc_error::overloaded`]).
//!
//! # The estimate
//!
//! The queue is bounded in time as well as in events. [`Admission`] counts the events admitted
//! and not yet answered (queued in the coalescer or in a Raft entry in flight) and measures how
//! fast the node drains them: each entry, once answered, reports its events and its busy time
//! (from when it was proposed, or from the previous entry's answer if that came later, to its
//! own answer), so that with entries pipelined the times add up to the time the write path was
//! busy, and idle time between bursts counts for nothing. An entry's busy time is modelled as
//! `a + b x events`: a fixed cost per entry (the log's fsync, the round trip) and a cost per
//! event, fitted by least squares over exponentially weighted sums of the last few dozen
//! entries (when their sizes hardly vary, `b` keeps its last value and `a` takes the rest). A
//! new request would wait for the pending events to drain in entries of up to 8,189:
//! `a x (1 + pending / 8189) + b x pending`; when that estimate
//! exceeds [`AdmissionOptions::max_queue_delay`], or the time the request has left before its
//! deadline, the request is refused. A request that finds nothing pending is always taken: it
//! starts at once, so a single client is never refused, however large its batches. A hard cap,
//! [`AdmissionOptions::max_queued_events`], bounds memory whatever the estimate says.
//!
//! The rate is measured where it is spent, at the operating point: under overload the
//! coalescer makes large entries and the rate is the large-entry rate; CPU taken by request
//! handling (HTTP/2, decoding, refusals) slows the entries and so lowers the rate, which admits
//! less. After a quiet spell the rate is that of small entries and thus low; the first entries
//! of a burst correct it within milliseconds, since each entry updates it.
//!
//! # Where refusals happen
//!
//! Refusing must cost far less than serving, or refusals themselves collapse goodput when
//! requests are small. The check runs twice, both O(1) with no lock:
//!
//! 1. [`Admission::check_early`], from `crate::framing` when a write's headers arrive, before
//!    its body is read or decoded: no per-event state is ever allocated for a request refused
//!    there, and no handler task runs. Its `grpc-timeout` is checked here too.
//! 2. [`Admission::admit`], from the coalescer once the request is decoded, with its event
//!    count: the same test against what is pending now (a burst can arrive between the two),
//!    and the hard cap. It never waits.
//!
//! # Why not an adaptive concurrency limit
//!
//! Envoy's adaptive concurrency filter and Netflix's concurrency-limits (gradient, AIMD) infer
//! the queue from latency samples, because a proxy cannot see its upstream's queue. Here the
//! queue is in this process and its drain rate is measured directly, so its delay is computed
//! rather than inferred: no probing for a minimum RTT (which costs throughput periodically),
//! and no convergence over many round trips after a spike begins. The concurrency of requests
//! that are admitted is bounded by the budget (about budget x rate events), and the HTTP/2
//! stream limit bounds what is being read. TigerBeetle bounds client sessions instead; a
//! gRPC server has no sessions to count, so the bound is on the work.
//!
//! Reads have their own limit ([`ReadLimit`]): a write flood never fills it, and a read flood
//! never takes from the write budget.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tally_ledger::BATCH_MAX;
use tokio::time::Instant;
use tonic::Status;

use crate::grpc_error;

/// Tuning of write admission.
#[derive(Debug, Clone)]
pub struct AdmissionOptions {
    /// Longest estimated wait before a new write's entry starts; beyond it, writes are refused.
    pub max_queue_delay: Duration,
    /// Events queued or in flight across all writes (about 150 bytes each in memory), whatever
    /// the estimate. At least [`BATCH_MAX`].
    pub max_queued_events: usize,
    /// Read requests served at once; more are refused.
    pub max_concurrent_reads: usize,
}

impl Default for AdmissionOptions {
    fn default() -> Self {
        Self {
            max_queue_delay: Duration::from_millis(25),
            max_queued_events: 8 * BATCH_MAX,
            max_concurrent_reads: 256,
        }
    }
}

/// Weight an entry's sample keeps after each newer one: about the last 30 entries count.
const DECAY: f64 = 0.97;
/// Cost per event assumed until entries of different sizes have been measured: 2 µs (500k
/// events/s).
const PRIOR_NS_PER_EVENT: f64 = 2_000.0;
/// Fixed cost per entry assumed before any entry has been measured: 1 ms.
const PRIOR_NS_PER_ENTRY: f64 = 1_000_000.0;
/// Bounds of a retry-after hint, ms.
const RETRY_AFTER_MS: (u64, u64) = (1, 5_000);

/// Counters of the admission, for the status RPC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdmissionStats {
    /// Events admitted and not yet answered.
    pub pending_events: u64,
    /// The estimated wait of a write arriving now, µs.
    pub queue_delay_us: u64,
    /// The measured drain rate, events per second of busy time.
    pub events_per_sec: u64,
    /// The measured entry rate, entries per second of busy time.
    pub entries_per_sec: u64,
    /// Write requests refused as overload since the node started.
    pub refused: u64,
    /// Write requests admitted, then dropped unproposed because their caller left (deadline
    /// passed or cancelled), since the node started.
    pub abandoned: u64,
    /// Read requests refused by the read limit since the node started.
    pub reads_refused: u64,
}

/// The write admission state; cheap to clone (one `Arc`).
#[derive(Debug, Clone)]
pub struct Admission {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Events admitted and not yet answered.
    pending: AtomicU64,
    max_events: u64,
    budget: Duration,
    /// The model's cost per event `b`, ns, as `f64` bits: written per entry, read per request.
    ns_per_event: AtomicU64,
    /// The model's fixed cost per entry `a`, ns, as `f64` bits.
    ns_per_entry: AtomicU64,
    /// Mean events per entry, as `f64` bits (for the status only).
    events_per_entry: AtomicU64,
    refused: AtomicU64,
    abandoned: AtomicU64,
    rate: Mutex<Rate>,
}

/// Exponentially weighted sums over the answered entries: entries `w`, events `n`, busy time
/// `t`, `n²` and `n x t`.
#[derive(Debug, Default)]
struct Rate {
    w: f64,
    n: f64,
    t: f64,
    nn: f64,
    nt: f64,
    /// The current per-event cost, ns.
    b: f64,
    /// When the latest entry was answered.
    last_done: Option<Instant>,
}

/// Admitted events; dropping it (when the request is answered or abandoned) frees them.
#[derive(Debug)]
pub struct Ticket {
    inner: Arc<Inner>,
    events: u64,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.inner.pending.fetch_sub(self.events, Ordering::Relaxed);
    }
}

impl Admission {
    /// A new admission with nothing pending.
    pub fn new(opts: &AdmissionOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                pending: AtomicU64::new(0),
                max_events: opts.max_queued_events.max(BATCH_MAX) as u64,
                budget: opts.max_queue_delay,
                ns_per_event: AtomicU64::new(PRIOR_NS_PER_EVENT.to_bits()),
                ns_per_entry: AtomicU64::new(PRIOR_NS_PER_ENTRY.to_bits()),
                events_per_entry: AtomicU64::new(1f64.to_bits()),
                refused: AtomicU64::new(0),
                abandoned: AtomicU64::new(0),
                rate: Mutex::new(Rate {
                    b: PRIOR_NS_PER_EVENT,
                    ..Rate::default()
                }),
            }),
        }
    }

    /// The estimated time to drain `pending` events, in entries of up to [`BATCH_MAX`].
    fn drain_time(&self, pending: u64) -> Duration {
        if pending == 0 {
            return Duration::ZERO;
        }
        let b = f64::from_bits(self.inner.ns_per_event.load(Ordering::Relaxed));
        let a = f64::from_bits(self.inner.ns_per_entry.load(Ordering::Relaxed));
        let entries = 1 + pending / BATCH_MAX as u64;
        let ns = a * entries as f64 + b * pending as f64;
        Duration::from_nanos(ns.min(u64::MAX as f64) as u64)
    }

    /// Refuses if `pending` events make a new write wait longer than the budget or than the
    /// `left` before its deadline.
    fn judge(&self, pending: u64, left: Option<Duration>) -> Result<(), Status> {
        if pending == 0 {
            return Ok(());
        }
        let wait = self.drain_time(pending);
        if wait > self.inner.budget || left.is_some_and(|l| l < wait) {
            return Err(self.refuse(wait));
        }
        Ok(())
    }

    fn refuse(&self, wait: Duration) -> Status {
        self.inner.refused.fetch_add(1, Ordering::Relaxed);
        let ms = u64::try_from(wait.as_micros().div_ceil(1000))
            .unwrap_or(u64::MAX)
            .clamp(RETRY_AFTER_MS.0, RETRY_AFTER_MS.1);
        grpc_error::overloaded(ms)
    }

    /// The check on a write's headers, before its body is read: refuses when a write arriving
    /// now would wait longer than the budget, or than `left`, the time its `grpc-timeout`
    /// leaves it.
    pub fn check_early(&self, left: Option<Duration>) -> Result<(), Status> {
        self.judge(self.inner.pending.load(Ordering::Relaxed), left)
    }

    /// Admits a decoded write of `events` events due by `deadline`, or refuses it at once.
    pub fn admit(&self, events: usize, deadline: Instant) -> Result<Ticket, Status> {
        let n = events as u64;
        let before = self.inner.pending.fetch_add(n, Ordering::Relaxed);
        let ticket = Ticket {
            inner: self.inner.clone(),
            events: n,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        self.judge(before, Some(left))?;
        if before > 0 && before + n > self.inner.max_events {
            return Err(self.refuse(self.drain_time(before)));
        }
        Ok(ticket)
    }

    /// Counts a request dropped unproposed because its caller left.
    pub fn abandoned(&self) {
        self.inner.abandoned.fetch_add(1, Ordering::Relaxed);
    }

    /// Records an answered entry of `events` events, proposed at `proposed` and answered at
    /// `done`.
    pub fn entry_done(&self, events: usize, proposed: Instant, done: Instant) {
        let mut r = self.inner.rate.lock().unwrap_or_else(|p| p.into_inner());
        let start = r.last_done.map_or(proposed, |l| l.max(proposed));
        r.last_done = Some(r.last_done.map_or(done, |l| l.max(done)));
        let busy = done.saturating_duration_since(start).as_nanos() as f64;
        let n = events as f64;
        r.w = r.w * DECAY + 1.0;
        r.n = r.n * DECAY + n;
        r.t = r.t * DECAY + busy;
        r.nn = r.nn * DECAY + n * n;
        r.nt = r.nt * DECAY + n * busy;
        let (mean_n, mean_t) = (r.n / r.w, r.t / r.w);
        let var = r.nn / r.w - mean_n * mean_n;
        let cov = r.nt / r.w - mean_n * mean_t;
        // Sizes that vary enough to separate the two costs; else `b` stays as it was.
        if var > 1.0 && var > (0.1 * mean_n).powi(2) && cov > 0.0 {
            r.b = cov / var;
        }
        let b = r.b.min(mean_t / mean_n.max(1.0));
        let a = (mean_t - b * mean_n).max(0.0);
        self.inner
            .ns_per_event
            .store(b.to_bits(), Ordering::Relaxed);
        self.inner
            .ns_per_entry
            .store(a.to_bits(), Ordering::Relaxed);
        self.inner
            .events_per_entry
            .store(mean_n.to_bits(), Ordering::Relaxed);
    }

    /// The counters now.
    pub fn stats(&self, reads: &ReadLimit) -> AdmissionStats {
        let pending = self.inner.pending.load(Ordering::Relaxed);
        let b = f64::from_bits(self.inner.ns_per_event.load(Ordering::Relaxed));
        let a = f64::from_bits(self.inner.ns_per_entry.load(Ordering::Relaxed));
        let size = f64::from_bits(self.inner.events_per_entry.load(Ordering::Relaxed));
        // At the entry size seen lately.
        let per_entry = a + b * size;
        let per_event = per_entry / size.max(1.0);
        let per_sec = |ns: f64| if ns > 0.0 { (1e9 / ns) as u64 } else { 0 };
        AdmissionStats {
            pending_events: pending,
            queue_delay_us: self.drain_time(pending).as_micros() as u64,
            events_per_sec: per_sec(per_event),
            entries_per_sec: per_sec(per_entry),
            refused: self.inner.refused.load(Ordering::Relaxed),
            abandoned: self.inner.abandoned.load(Ordering::Relaxed),
            reads_refused: reads.refused.load(Ordering::Relaxed),
        }
    }
}

/// The limit on reads served at once, apart from the writes' budget.
#[derive(Debug, Clone)]
pub struct ReadLimit {
    running: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    max: u64,
}

/// A read being served; dropping it frees its place.
#[derive(Debug)]
pub struct ReadPermit(Arc<AtomicU64>);

impl Drop for ReadPermit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ReadLimit {
    /// A limit of `max` reads at once (at least 1).
    pub fn new(max: usize) -> Self {
        Self {
            running: Arc::new(AtomicU64::new(0)),
            refused: Arc::new(AtomicU64::new(0)),
            max: max.max(1) as u64,
        }
    }

    /// A place for one read, or `RESOURCE_EXHAUSTED` at once if all are taken.
    pub fn enter(&self) -> Result<ReadPermit, Status> {
        let before = self.running.fetch_add(1, Ordering::Relaxed);
        let permit = ReadPermit(self.running.clone());
        if before >= self.max {
            drop(permit);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(grpc_error::reads_overloaded(self.max));
        }
        Ok(permit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn admission(budget_ms: u64, cap: usize) -> Admission {
        Admission::new(&AdmissionOptions {
            max_queue_delay: Duration::from_millis(budget_ms),
            max_queued_events: cap,
            max_concurrent_reads: 4,
        })
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[test]
    fn an_idle_node_takes_any_request() {
        let a = admission(0, BATCH_MAX);
        let t = a
            .admit(BATCH_MAX, far())
            .expect("nothing pending: starts at once");
        assert_eq!(a.stats(&ReadLimit::new(1)).pending_events, BATCH_MAX as u64);
        drop(t);
        assert_eq!(a.stats(&ReadLimit::new(1)).pending_events, 0);
    }

    #[test]
    fn a_wait_over_the_budget_is_refused_at_once_and_frees_its_events() {
        let a = admission(10, 1 << 20);
        // 1 ms per 1,000 events: 1 µs per event.
        let t0 = Instant::now();
        a.entry_done(1_000, t0, t0 + Duration::from_millis(1));
        let _held = a.admit(9_000, far()).unwrap();
        let _more = a.admit(1_500, far()).expect("9 ms < 10 ms");
        let s = a.admit(1, far()).unwrap_err();
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert_eq!(s.metadata().get(grpc_error::NOT_APPLIED).unwrap(), "true");
        assert_eq!(s.metadata().get(grpc_error::RETRY_AFTER_MS).unwrap(), "11");
        assert!(a.check_early(None).is_err());
        let st = a.stats(&ReadLimit::new(1));
        assert_eq!(
            st.pending_events, 10_500,
            "the refused request holds nothing"
        );
        assert_eq!(st.refused, 2);
        assert_eq!(st.events_per_sec, 1_000_000);
    }

    #[test]
    fn a_deadline_shorter_than_the_wait_is_refused() {
        let a = admission(1_000, 1 << 20);
        let t0 = Instant::now();
        a.entry_done(1_000, t0, t0 + Duration::from_millis(10)); // 10 µs per event
        let _held = a.admit(1_000, far()).unwrap(); // 10 ms of work
        let soon = Instant::now() + Duration::from_millis(2);
        assert!(a.admit(1, soon).is_err());
        assert!(a.check_early(Some(Duration::from_millis(2))).is_err());
        assert!(a.check_early(Some(Duration::from_secs(1))).is_ok());
    }

    #[test]
    fn the_event_cap_holds_whatever_the_estimate() {
        let a = admission(60_000, BATCH_MAX);
        let _held = a.admit(BATCH_MAX - 1, far()).unwrap();
        assert!(a.admit(2, far()).is_err());
        assert!(a.admit(1, far()).is_ok());
    }

    #[test]
    fn busy_time_skips_idle_gaps_and_overlaps() {
        let a = admission(10, 1 << 20);
        let t0 = Instant::now();
        // Two pipelined entries of 100 events: answered 1 ms apart after the first took 1 ms.
        a.entry_done(100, t0, t0 + Duration::from_millis(1));
        a.entry_done(100, t0, t0 + Duration::from_millis(2));
        // A later entry after a long idle gap counts from its own proposal.
        let t1 = t0 + Duration::from_secs(5);
        a.entry_done(100, t1, t1 + Duration::from_millis(1));
        let st = a.stats(&ReadLimit::new(1));
        assert!(
            (99_000..=101_000).contains(&st.events_per_sec),
            "{}",
            st.events_per_sec
        );
        assert!((990..=1_010).contains(&st.entries_per_sec));
    }

    #[test]
    fn entries_of_a_few_events_do_not_make_a_small_burst_look_slow() {
        let a = admission(25, 1 << 20);
        let t0 = Instant::now();
        // A quiet node: entries of 2 events, each 3 ms of fsync.
        for i in 0..10 {
            let at = t0 + Duration::from_millis(10 * i);
            a.entry_done(2, at, at + Duration::from_millis(3));
        }
        let _held: Vec<Ticket> = (0..200).map(|_| a.admit(1, far()).unwrap()).collect();
        assert!(
            a.check_early(None).is_ok(),
            "{:?}",
            a.stats(&ReadLimit::new(1))
        );
    }

    #[test]
    fn the_fit_separates_the_cost_per_entry_from_the_cost_per_event() {
        let a = admission(25, 1 << 20);
        let mut at = Instant::now();
        // 1 ms per entry plus 1 µs per event.
        for i in 0..100 {
            let n = if i % 2 == 0 { 1_000 } else { 5_000 };
            let done = at + Duration::from_micros(1_000 + n);
            a.entry_done(n as usize, at, done);
            at = done;
        }
        let wait = a.drain_time(BATCH_MAX as u64);
        assert!(
            (Duration::from_millis(10)..Duration::from_micros(10_400)).contains(&wait),
            "{wait:?}"
        );
    }

    #[test]
    fn reads_have_their_own_limit() {
        let r = ReadLimit::new(2);
        let a = r.enter().unwrap();
        let _b = r.enter().unwrap();
        assert_eq!(r.enter().unwrap_err().code(), Code::ResourceExhausted);
        drop(a);
        assert!(r.enter().is_ok());
        assert_eq!(r.refused.load(Ordering::Relaxed), 1);
    }
}
