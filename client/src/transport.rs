//! The retrying transport: the cluster as the client sees it, one lazily connected channel per
//! node, the leader as last learned, and the retry loop every call goes through.
//!
//! Invariants:
//! - Every call ends by its deadline: each attempt is bounded by the time left, and so is every
//!   wait between attempts. A retry starts only with at least a quarter of the attempt timeout
//!   left.
//! - A retry resends the identical request. The server treats ids as idempotency keys and
//!   applies a request's events as one unit, so resending can never apply anything twice.
//! - A write is reported indeterminate only if some attempt may have reached a server's log:
//!   a connection that could not be opened, `INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED` and any
//!   status carrying `tally-not-applied: true` prove the attempt was not applied; anything else
//!   that is not an answer (a timeout, a dropped connection, `UNAVAILABLE` from a node that may
//!   have proposed before losing its leadership) does not.
//! - Every retry is charged to the client's retry budget (`retry.rs`) before it is made, except
//!   following a fresh leader hint; a retry the budget refuses is not made, and the call ends
//!   with the error its attempts so far earned, judged by the rule above. Waits are capped
//!   exponential backoff with full jitter, never shorter than a server's `tally-retry-after-ms`.
//! - Every attempt first passes the overload throttle of its class, writes or reads
//!   (`throttle.rs`); one it refuses is not sent, and the call ends as if that attempt had been
//!   refused as overload.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tally_proto::v1::ledger_client::LedgerClient;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::error::THROTTLED;
use crate::retry::{Backoff, RetryBudget, RetryStats};
use crate::throttle::Throttle;
use crate::{ClientOptions, Error};

/// Metadata key the server sets (to `true`) on a refusal that proves the write never reached
/// the Raft log, so it is not indeterminate.
pub const NOT_APPLIED_KEY: &str = "tally-not-applied";

/// Metadata key of the leader's address (`host:port`) on a follower's `UNAVAILABLE`.
pub const LEADER_ADDR_KEY: &str = "tally-leader-addr";
/// Metadata key of the leader's node id (decimal) on a follower's `UNAVAILABLE`.
pub const LEADER_ID_KEY: &str = "tally-leader-id";
/// Metadata key of the wait (decimal milliseconds) the server asks for before a retry: on
/// `UNAVAILABLE` when no leader is known, and on `RESOURCE_EXHAUSTED` (overload).
pub const RETRY_AFTER_KEY: &str = "tally-retry-after-ms";

/// The largest message the client sends or accepts: a full batch is about 1 MiB, so this
/// leaves room without letting a broken peer make the client buffer without bound.
const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// Which nodes may answer a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// Writes and linearizable reads.
    Leader,
    /// Stale reads: any node.
    Any,
}

/// What a call is, for routing and for judging its failures.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Op {
    /// Who may answer.
    pub target: Target,
    /// A write's failures may leave it applied; a read's never do.
    pub write: bool,
}

/// How one failed attempt is handled.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Stop and return this error.
    Fatal(Error),
    /// The node named the leader at this address: go there next.
    Redirect(String),
    /// No leader known; back off, at least the suggested time if any.
    NoLeader(Option<Duration>),
    /// Overloaded: back off, at least the suggested time if any; nothing was applied.
    Overloaded(Option<Duration>),
    /// The connection could not be opened: nothing was sent; try another node.
    NotConnected,
    /// No answer: the attempt may or may not have been applied; retry.
    Uncertain,
}

/// The nodes, the leader as last learned, and the options.
#[derive(Debug)]
pub(crate) struct Transport {
    /// The addresses given to `connect`, as URIs; round-robined when no leader is known.
    seeds: Vec<String>,
    /// One channel per address ever used (seeds and leader hints), created on first use.
    channels: Mutex<HashMap<String, Channel>>,
    /// The node believed to lead, as a URI.
    leader: Mutex<Option<String>>,
    /// Next seed to try when no leader is known.
    next_seed: AtomicUsize,
    /// Shared by every call: limits retries to a fraction of first attempts.
    budget: RetryBudget,
    /// Shared by every write, and by every read: each refuses attempts of its class locally
    /// while the cluster refuses that class (a node limits writes and reads apart, so a write
    /// flood must not throttle reads).
    throttles: [Throttle; 2],
    pub options: ClientOptions,
}

/// `host:port` (or a full URI) as the URI tonic connects to: `https` with TLS, else `http`.
pub(crate) fn to_uri(address: &str, tls: bool) -> String {
    let address = address.trim();
    let scheme = if tls { "https" } else { "http" };
    match address.split_once("://") {
        Some((_, rest)) => format!("{scheme}://{rest}"),
        None => format!("{scheme}://{address}"),
    }
}

impl Transport {
    /// Checks the addresses; connects nothing yet.
    pub fn new<I, S>(addresses: I, options: ClientOptions) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        if let Some(tls) = &options.tls {
            tls.check()?;
        }
        let tls = options.tls.is_some();
        let mut seeds = Vec::new();
        for address in addresses {
            let address = address.as_ref();
            let uri = to_uri(address, tls);
            Endpoint::from_shared(uri.clone()).map_err(|e| Error::InvalidAddress {
                address: address.to_owned(),
                reason: e.to_string(),
            })?;
            if !seeds.contains(&uri) {
                seeds.push(uri);
            }
        }
        if seeds.is_empty() {
            return Err(Error::InvalidAddress {
                address: String::new(),
                reason: "no address given".into(),
            });
        }
        let options = options.normalized();
        Ok(Self {
            seeds,
            channels: Mutex::default(),
            leader: Mutex::default(),
            next_seed: AtomicUsize::new(0),
            budget: RetryBudget::new(&options, Instant::now()),
            throttles: [
                Throttle::new(&options, Instant::now()),
                Throttle::new(&options, Instant::now()),
            ],
            options,
        })
    }

    /// The node believed to lead, as `http://host:port`, if any.
    pub fn leader(&self) -> Option<String> {
        lock(&self.leader).clone()
    }

    /// What the retry machinery has done so far.
    pub fn retry_stats(&self) -> RetryStats {
        RetryStats {
            throttled: self.throttles.iter().map(Throttle::throttled).sum(),
            ..self.budget.stats()
        }
    }

    /// The channel to `uri`, created (lazily connected) on first use; `None` if `uri` is not a
    /// valid URI (a garbled hint).
    fn channel(&self, uri: &str) -> Option<Channel> {
        let mut channels = lock(&self.channels);
        if let Some(channel) = channels.get(uri) {
            return Some(channel.clone());
        }
        let mut endpoint = Endpoint::from_shared(uri.to_owned())
            .ok()?
            .connect_timeout(self.options.connect_timeout)
            .tcp_nodelay(true);
        if let Some(tls) = &self.options.tls {
            // Checked in `new`; fails here only for a host that is no server name.
            endpoint = endpoint.tls_config(tls.config()).ok()?;
        }
        let channel = endpoint.connect_lazy();
        channels.insert(uri.to_owned(), channel.clone());
        Some(channel)
    }

    /// The node to try next: the leader if known, otherwise the next seed.
    fn pick(&self) -> String {
        if let Some(leader) = self.leader() {
            return leader;
        }
        let i = self.next_seed.fetch_add(1, Ordering::Relaxed);
        self.seeds[i % self.seeds.len()].clone()
    }

    /// Forgets `uri` as the leader (it failed or said it does not lead).
    fn forget_leader(&self, uri: &str) {
        let mut leader = lock(&self.leader);
        if leader.as_deref() == Some(uri) {
            *leader = None;
        }
    }

    /// Sends `request` until an answer, a fatal error or `deadline`. `rpc` performs one
    /// attempt on the given client; it is called again with an identical request on retry.
    pub async fn call<Req, Resp, F, Fut>(
        &self,
        op: Op,
        deadline: Instant,
        request: Req,
        rpc: F,
    ) -> Result<Resp, Error>
    where
        Req: Clone,
        F: Fn(LedgerClient<Channel>, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Resp>, Status>>,
    {
        let start = Instant::now();
        let throttle = &self.throttles[usize::from(op.write)];
        let mut retry = RetryState::new(&self.options);
        self.budget.first_attempt(start);
        loop {
            let uri = self.pick();
            let now = Instant::now();
            let budget = self
                .options
                .attempt_timeout
                .min(deadline.saturating_duration_since(now));
            retry.attempts += 1;
            if !throttle.admit(now, retry.backoff.draw()) {
                // Not sent, so not an attempt made.
                retry.attempts -= 1;
                if retry.attempts == 0 {
                    retry.last = format!(
                        "{THROTTLED}: the cluster has been refusing this client's requests as \
                         overloaded"
                    );
                    retry.overloaded = true;
                } else {
                    // The call ends with what its attempts earned, like a spent retry budget.
                    retry
                        .last
                        .push_str(" (not retried: refused by the client's overload throttle)");
                }
                return Err(retry.give_up(op, now - start));
            }
            let result = self.attempt(&uri, budget, request.clone(), &rpc).await;
            if matches!(&result, Err(s) if s.code() == Code::ResourceExhausted) {
                throttle.refused(Instant::now());
            }
            let status = match result {
                Ok(response) => {
                    if op.target == Target::Leader {
                        *lock(&self.leader) = Some(uri);
                    }
                    return Ok(response);
                }
                Err(status) => status,
            };
            let verdict = judge(&status, op.write);
            // The server says it never logged this attempt: not a source of doubt.
            let doubt = op.write && status.metadata().get(NOT_APPLIED_KEY).is_none();
            retry.last = format!("{uri}: {:?}: {}", status.code(), status.message());
            retry.overloaded = matches!(verdict, Verdict::Overloaded(_));
            retry.not_connected = verdict == Verdict::NotConnected;
            if !matches!(verdict, Verdict::Redirect(_)) {
                retry.redirects = 0;
            }
            let next = match verdict {
                Verdict::Fatal(error) => return Err(error),
                Verdict::Redirect(hint) => {
                    // A leader that proposed and then lost its leadership answers like this too
                    // (without the not-applied mark).
                    retry.uncertain |= doubt;
                    self.follow(&uri, &hint, &mut retry)
                }
                Verdict::NoLeader(after) => {
                    self.forget_leader(&uri);
                    retry.uncertain |= doubt;
                    Next::Retry(retry.backoff.next(after))
                }
                Verdict::Overloaded(after) => Next::Retry(retry.backoff.next(after)),
                Verdict::NotConnected => {
                    self.forget_leader(&uri);
                    Next::Retry(retry.backoff.next(None))
                }
                Verdict::Uncertain => {
                    self.forget_leader(&uri);
                    retry.uncertain |= op.write;
                    Next::Retry(retry.backoff.next(None))
                }
            };
            let wait = match next {
                Next::Redirect(wait) | Next::Retry(wait) => wait,
            };
            // An attempt with a sliver of time left would likely time out, turning a definite
            // answer into an uncertain one: give up instead.
            let now = Instant::now();
            if now + wait + self.options.attempt_timeout / 4 > deadline {
                return Err(retry.give_up(op, now - start));
            }
            match next {
                Next::Redirect(_) => self.budget.redirect(),
                Next::Retry(_) if self.budget.try_retry(now) => {}
                Next::Retry(_) => {
                    retry
                        .last
                        .push_str(" (not retried: the client's retry budget is spent)");
                    return Err(retry.give_up(op, now - start));
                }
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// One RPC to `uri`, abandoned after `budget`.
    async fn attempt<Req, Resp, F, Fut>(
        &self,
        uri: &str,
        budget: Duration,
        request: Req,
        rpc: &F,
    ) -> Result<Resp, Status>
    where
        F: Fn(LedgerClient<Channel>, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Resp>, Status>>,
    {
        let channel = self
            .channel(uri)
            .ok_or_else(|| Status::unavailable(format!("invalid address {uri}")))?;
        let client = LedgerClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let mut request = tonic::Request::new(request);
        request.set_timeout(budget);
        match tokio::time::timeout(budget, rpc(client, request)).await {
            Ok(result) => result.map(tonic::Response::into_inner),
            Err(_) => Err(Status::deadline_exceeded(format!(
                "no answer within {budget:?}"
            ))),
        }
    }

    /// Moves to the leader `hint` named by `from`; returns how long to wait first.
    fn follow(&self, from: &str, hint: &str, retry: &mut RetryState) -> Next {
        let hint = to_uri(hint, self.options.tls.is_some());
        if hint == from || self.channel(&hint).is_none() {
            // A node naming itself, or an address we cannot use: treat as "no leader".
            self.forget_leader(from);
            return Next::Retry(retry.backoff.next(None));
        }
        *lock(&self.leader) = Some(hint);
        retry.redirects += 1;
        // Follow fresh hints at once, free of the retry budget; a cluster bouncing us around
        // (an election in progress) gets backoff, and those attempts are retries.
        if retry.redirects <= self.seeds.len() + 1 {
            Next::Redirect(Duration::ZERO)
        } else {
            Next::Retry(retry.backoff.next(None))
        }
    }
}

/// What comes after a failed attempt that is not fatal: another attempt after a wait.
#[derive(Debug)]
enum Next {
    /// To the leader a node just named: not charged to the retry budget.
    Redirect(Duration),
    /// A retry: allowed only within the retry budget.
    Retry(Duration),
}

/// Retry bookkeeping of one call.
#[derive(Debug)]
struct RetryState {
    attempts: u32,
    /// Some attempt may have been applied.
    uncertain: bool,
    /// The last attempt was refused as overload.
    overloaded: bool,
    /// The last attempt could not connect.
    not_connected: bool,
    /// Consecutive leader hints followed.
    redirects: usize,
    /// The waits between attempts.
    backoff: Backoff,
    last: String,
}

impl RetryState {
    fn new(options: &ClientOptions) -> Self {
        Self {
            attempts: 0,
            uncertain: false,
            overloaded: false,
            not_connected: false,
            redirects: 0,
            backoff: Backoff::new(options, fastrand::Rng::new()),
            last: String::new(),
        }
    }

    /// The error for a call that ran out of time.
    fn give_up(&self, op: Op, elapsed: Duration) -> Error {
        let (attempts, last) = (self.attempts, self.last.clone());
        if op.write && self.uncertain {
            Error::Indeterminate {
                attempts,
                elapsed,
                last,
            }
        } else if self.overloaded {
            Error::ResourceExhausted(last)
        } else if self.not_connected {
            Error::Connection {
                attempts,
                elapsed,
                last,
            }
        } else {
            Error::Unavailable {
                attempts,
                elapsed,
                last,
            }
        }
    }
}

/// Classifies a failed attempt (see the module doc for what proves "not applied").
fn judge(status: &Status, write: bool) -> Verdict {
    let metadata = |key: &str| {
        status
            .metadata()
            .get(key)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let retry_after = || {
        metadata(RETRY_AFTER_KEY)
            .and_then(|ms| ms.parse().ok())
            .map(Duration::from_millis)
    };
    match status.code() {
        Code::Unavailable if never_connected(status) => Verdict::NotConnected,
        Code::Unavailable => match metadata(LEADER_ADDR_KEY) {
            Some(addr) => Verdict::Redirect(addr),
            None => Verdict::NoLeader(retry_after()),
        },
        Code::ResourceExhausted => Verdict::Overloaded(retry_after()),
        Code::DeadlineExceeded | Code::Cancelled | Code::Unknown | Code::Aborted => {
            Verdict::Uncertain
        }
        // Raised by this client's own transport (a reset stream, a broken connection), not sent
        // by the server: the request may have arrived.
        Code::Internal if std::error::Error::source(status).is_some() => Verdict::Uncertain,
        Code::InvalidArgument => Verdict::Fatal(Error::InvalidArgument(status.message().into())),
        Code::Internal => Verdict::Fatal(Error::Internal {
            message: status.message().into(),
            indeterminate: write,
        }),
        code => Verdict::Fatal(Error::Status {
            code,
            message: status.message().into(),
        }),
    }
}

/// `true` if the status comes from a connection that could not be opened, so the request was
/// never sent.
fn never_connected(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<tonic::ConnectError>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// Locks `mutex`, recovering from poisoning: the guarded values (a map of channels, an
/// optional address) are valid after any panic.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::metadata::MetadataValue;

    fn with(mut status: Status, key: &'static str, value: &str) -> Status {
        status
            .metadata_mut()
            .insert(key, MetadataValue::try_from(value).unwrap());
        status
    }

    #[test]
    fn statuses_are_judged_as_the_server_contract_says() {
        let hinted = with(
            Status::unavailable("not leader"),
            LEADER_ADDR_KEY,
            "10.0.0.2:7100",
        );
        assert_eq!(
            judge(&hinted, true),
            Verdict::Redirect("10.0.0.2:7100".into())
        );
        let wait = with(Status::unavailable("no leader"), RETRY_AFTER_KEY, "250");
        assert_eq!(
            judge(&wait, true),
            Verdict::NoLeader(Some(Duration::from_millis(250)))
        );
        let garbled = with(Status::unavailable("no leader"), RETRY_AFTER_KEY, "soon");
        assert_eq!(judge(&garbled, true), Verdict::NoLeader(None));
        assert_eq!(
            judge(&Status::resource_exhausted("busy"), true),
            Verdict::Overloaded(None)
        );
        let busy = with(Status::resource_exhausted("busy"), RETRY_AFTER_KEY, "40");
        assert_eq!(
            judge(&busy, true),
            Verdict::Overloaded(Some(Duration::from_millis(40)))
        );
        for code in [
            Code::DeadlineExceeded,
            Code::Cancelled,
            Code::Unknown,
            Code::Aborted,
        ] {
            assert_eq!(
                judge(&Status::new(code, "x"), true),
                Verdict::Uncertain,
                "{code:?}"
            );
        }
        assert_eq!(
            judge(&Status::invalid_argument("8190 events"), true),
            Verdict::Fatal(Error::InvalidArgument("8190 events".into()))
        );
        assert!(matches!(
            judge(&Status::internal("bug"), true),
            Verdict::Fatal(Error::Internal {
                indeterminate: true,
                ..
            })
        ));
        assert!(matches!(
            judge(&Status::internal("bug"), false),
            Verdict::Fatal(Error::Internal {
                indeterminate: false,
                ..
            })
        ));
        let mut reset = Status::internal("h2 protocol error: stream reset");
        reset.set_source(std::sync::Arc::new(std::io::Error::other("reset")));
        assert_eq!(
            judge(&reset, true),
            Verdict::Uncertain,
            "a local transport error"
        );
        assert!(matches!(
            judge(&Status::unimplemented("old server"), false),
            Verdict::Fatal(Error::Status {
                code: Code::Unimplemented,
                ..
            })
        ));
    }

    #[test]
    fn addresses_become_uris_and_bad_ones_are_refused() {
        assert_eq!(to_uri("127.0.0.1:7100", false), "http://127.0.0.1:7100");
        assert_eq!(to_uri(" https://db:7100 ", false), "http://db:7100");
        assert_eq!(to_uri("127.0.0.1:7100", true), "https://127.0.0.1:7100");
        assert_eq!(to_uri("http://db:7100", true), "https://db:7100");
        let options = ClientOptions::default();
        let transport = Transport::new(["a:1", "a:1", "b:2"], options.clone()).unwrap();
        assert_eq!(
            transport.seeds,
            ["http://a:1", "http://b:2"],
            "duplicates dropped"
        );
        assert!(matches!(
            Transport::new(Vec::<String>::new(), options.clone()),
            Err(Error::InvalidAddress { .. })
        ));
        assert!(matches!(
            Transport::new(["bad host:1"], options),
            Err(Error::InvalidAddress { .. })
        ));
    }
}
