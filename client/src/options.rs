//! Client settings: deadlines, retry backoff, the retry budget and batching.

use std::time::Duration;

use crate::filter::{ReadConsistency, BATCH_MAX};
use crate::TlsOptions;

/// Settings of a [`Client`](crate::Client). Build one with struct update syntax:
///
/// ```
/// use std::time::Duration;
/// use tally_client::ClientOptions;
///
/// let options = ClientOptions {
///     request_timeout: Duration::from_secs(5),
///     linger: Duration::ZERO, // send as soon as a batch slot is free
///     ..ClientOptions::default()
/// };
/// assert_eq!(options.max_batch, 8189);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// How long one attempt (one RPC to one node) may take before it is abandoned and retried.
    /// Also sent to the server as the gRPC deadline.
    pub attempt_timeout: Duration,
    /// The overall deadline of a call, retries included: no call takes (much) longer. A write
    /// still unsettled by then ends in [`Error::Indeterminate`](crate::Error::Indeterminate).
    pub request_timeout: Duration,
    /// How long to wait for a TCP connection to a node.
    pub connect_timeout: Duration,
    /// The ceiling of the first retry's wait; each further retry doubles it. Each wait is
    /// drawn uniformly between zero and the ceiling ("full jitter"), and is never shorter than
    /// a wait the server names (`tally-retry-after-ms`).
    pub retry_backoff_min: Duration,
    /// The largest ceiling of a wait between two retries (a server's hint may ask for longer).
    pub retry_backoff_max: Duration,
    /// The retry budget: over [`retry_budget_window`](Self::retry_budget_window), the client's
    /// retries may be at most this percentage of its calls' first attempts, plus
    /// [`retry_budget_min_per_sec`](Self::retry_budget_min_per_sec). Shared by every call and
    /// clone of one [`Client`](crate::Client). A call whose retry the budget refuses ends at
    /// once with its last attempt's error. Following a leader hint is not a retry.
    pub retry_budget_percent: u32,
    /// Retries per second allowed on top of the percentage, so a client making few calls can
    /// still retry (through an election, say).
    pub retry_budget_min_per_sec: u32,
    /// The sliding window over which the retry budget counts first attempts and retries
    /// (at least 10 ms).
    pub retry_budget_window: Duration,
    /// Client-side overload throttling: while the cluster refuses this client's requests as
    /// overloaded, the client refuses a share of its attempts itself (with
    /// [`Error::ResourceExhausted`](crate::Error::ResourceExhausted), nothing sent) so that the
    /// attempts it sends stay near this percentage of those the cluster accepted in the last
    /// [`overload_throttle_interval`](Self::overload_throttle_interval). 0 turns it off;
    /// values below 100 are raised to 100. See the crate doc, "Retries under overload".
    pub overload_throttle_percent: u32,
    /// How often the throttle updates the share of attempts it sends (at least 10 ms). It
    /// reacts within one interval, and after refusals stop, sends everything again within
    /// about seven.
    pub overload_throttle_interval: Duration,
    /// The most events one batch of `create_transfer`/`create_account` calls carries
    /// (1..=8189; larger values are clamped).
    pub max_batch: usize,
    /// How long the batcher waits for more events after the first one of a batch. Zero sends
    /// at once, so a batch holds what queued up while the previous ones were in flight.
    pub linger: Duration,
    /// How many batches may be in flight at once per operation; while all are, new events
    /// queue up and form the next batch.
    pub max_in_flight_batches: usize,
    /// How many single events may wait in the batching queue. When it is full, callers wait
    /// (back-pressure) up to `request_timeout`, then get
    /// [`Error::Backpressure`](crate::Error::Backpressure).
    pub queue_capacity: usize,
    /// The consistency of reads unless changed with
    /// [`Client::with_read_consistency`](crate::Client::with_read_consistency).
    pub read_consistency: ReadConsistency,
    /// Speak TLS to the nodes, verifying them against this CA (and present a client
    /// certificate if it has one). `None`: plaintext, for nodes started without
    /// `--tls-cert`. Addresses given as `http://` URIs are dialled as `https://`.
    pub tls: Option<TlsOptions>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            attempt_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(1),
            retry_backoff_min: Duration::from_millis(10),
            retry_backoff_max: Duration::from_millis(500),
            retry_budget_percent: 20,
            retry_budget_min_per_sec: 10,
            retry_budget_window: Duration::from_secs(10),
            overload_throttle_percent: 110,
            overload_throttle_interval: Duration::from_millis(100),
            max_batch: BATCH_MAX,
            linger: Duration::from_millis(1),
            max_in_flight_batches: 4,
            queue_capacity: 4 * BATCH_MAX,
            read_consistency: ReadConsistency::Linearizable,
            tls: None,
        }
    }
}

impl ClientOptions {
    /// The same settings with every value in its valid range: limits at least 1, `max_batch`
    /// at most 8189, `retry_backoff_max` at least `retry_backoff_min`, timeouts at least 1 ms,
    /// the retry budget's window and the throttle's interval at least 10 ms, a non-zero
    /// throttle percentage at least 100.
    pub(crate) fn normalized(mut self) -> Self {
        let ms = Duration::from_millis(1);
        self.attempt_timeout = self.attempt_timeout.max(ms);
        self.request_timeout = self.request_timeout.max(ms);
        self.connect_timeout = self.connect_timeout.max(ms);
        self.retry_backoff_min = self.retry_backoff_min.max(ms);
        self.retry_backoff_max = self.retry_backoff_max.max(self.retry_backoff_min);
        self.retry_budget_window = self.retry_budget_window.max(10 * ms);
        if self.overload_throttle_percent != 0 {
            self.overload_throttle_percent = self.overload_throttle_percent.max(100);
        }
        self.overload_throttle_interval = self.overload_throttle_interval.max(10 * ms);
        self.max_batch = self.max_batch.clamp(1, BATCH_MAX);
        self.max_in_flight_batches = self.max_in_flight_batches.max(1);
        self.queue_capacity = self.queue_capacity.max(1);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_settings_are_clamped() {
        let o = ClientOptions {
            max_batch: 100_000,
            max_in_flight_batches: 0,
            queue_capacity: 0,
            request_timeout: Duration::ZERO,
            retry_backoff_min: Duration::from_secs(2),
            retry_backoff_max: Duration::from_secs(1),
            retry_budget_window: Duration::ZERO,
            ..ClientOptions::default()
        }
        .normalized();
        assert_eq!(
            (o.max_batch, o.max_in_flight_batches, o.queue_capacity),
            (8189, 1, 1)
        );
        assert_eq!(o.request_timeout, Duration::from_millis(1));
        assert_eq!(o.retry_backoff_max, Duration::from_secs(2));
        assert_eq!(o.retry_budget_window, Duration::from_millis(10));
        assert_eq!(
            ClientOptions::default().normalized(),
            ClientOptions::default()
        );
    }
}
