//! The client's system errors: what can go wrong with a request as a whole.
//!
//! Business outcomes are not errors: they are the per-event result codes in
//! [`crate::results`]. An [`Error`] means the request did not produce an answer. For a write the
//! one question that matters is whether it may have been applied anyway, which
//! [`Error::is_indeterminate`] answers.

use std::time::Duration;

/// A request that failed as a whole.
///
/// Writes are retried with the identical request (same ids) until the overall deadline, so an
/// indeterminate write can always be resolved later by sending the same events again (an event
/// that was applied answers `Exists`) or by looking its ids up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The write may or may not have been applied: at least one attempt reached a server and
    /// ended without a definite answer (timeout, cancellation, a dropped connection, a leader
    /// that lost its leadership), and the overall deadline passed before any attempt got one.
    /// Resolve it by retrying the same events or looking their ids up.
    #[error(
        "outcome unknown after {attempts} attempt(s) in {elapsed:?}: the write may or may not \
         have been applied (last failure: {last})"
    )]
    Indeterminate {
        /// Attempts made, the first one included.
        attempts: u32,
        /// Time spent, from the call to giving up.
        elapsed: Duration,
        /// The last attempt's failure.
        last: String,
    },

    /// The TLS settings ([`ClientOptions::tls`](crate::ClientOptions::tls)) are unusable: a
    /// CA file with no certificate, a client key that does not parse. Nothing was sent.
    #[error("TLS settings: {0}")]
    Tls(String),

    /// No node served the request before the overall deadline, and nothing was applied: the
    /// nodes had no leader or could not be reached. For reads this is also how a read with no
    /// answer ends (a read never changes anything). Safe to retry later.
    #[error("no node could serve the request after {attempts} attempt(s) in {elapsed:?}: {last}")]
    Unavailable {
        /// Attempts made, the first one included.
        attempts: u32,
        /// Time spent, from the call to giving up.
        elapsed: Duration,
        /// The last attempt's failure.
        last: String,
    },

    /// The server rejected the request as malformed (too many events or ids, `code` above
    /// 65535, a bad filter). Never retried: the same request would fail the same way. Nothing
    /// was applied.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The servers stayed overloaded (or the message was too large) until the overall deadline.
    /// Nothing was applied by the attempts that got this answer.
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),

    /// No node could be connected to before the overall deadline: every attempt failed to
    /// open a connection (wrong addresses, nodes down, a network partition). Nothing was sent,
    /// so nothing was applied. Safe to retry later.
    #[error("could not connect to any node after {attempts} attempt(s) in {elapsed:?}: {last}")]
    Connection {
        /// Attempts made, the first one included.
        attempts: u32,
        /// Time spent, from the call to giving up.
        elapsed: Duration,
        /// The last attempt's failure.
        last: String,
    },

    /// An address given to [`Client::connect`](crate::Client::connect) is not a valid
    /// `host:port` (or URI), or the list is empty.
    #[error("invalid address {address:?}: {reason}")]
    InvalidAddress {
        /// The address as given.
        address: String,
        /// Why it was refused.
        reason: String,
    },

    /// The server reported a bug (`INTERNAL`), or its answer broke the protocol (for example a
    /// write answered with the wrong number of results). Not retried.
    #[error("internal server error: {message}")]
    Internal {
        /// The server's message, or what was wrong with its answer.
        message: String,
        /// `true` for a write, whose outcome is then unknown.
        indeterminate: bool,
    },

    /// The server answered with a status this client does not expect from Tally (for example
    /// `UNIMPLEMENTED` from a server of another version, or an authentication failure). Not
    /// retried.
    #[error("unexpected status {code:?}: {message}")]
    Status {
        /// The gRPC status code.
        code: tonic::Code,
        /// The server's message.
        message: String,
    },

    /// The batching queue stayed full until the overall deadline: the event was never sent.
    #[error("client queue full for {0:?}: the event was not sent")]
    Backpressure(Duration),
}

impl Error {
    /// `true` when a write may or may not have been applied. Retrying the same events (same
    /// ids) is always safe and settles it: an applied event answers `Exists`.
    pub fn is_indeterminate(&self) -> bool {
        match self {
            Error::Indeterminate { .. } => true,
            Error::Internal { indeterminate, .. } => *indeterminate,
            _ => false,
        }
    }

    /// `true` when the client's overload throttle refused the call's first attempt locally,
    /// so nothing of the call was sent (see the crate doc, "Retries under overload"): an
    /// [`Error::ResourceExhausted`] that never reached the cluster. A retry the throttle
    /// refuses ends the call with the error its attempts so far earned, its message ending in
    /// "(not retried: refused by the client's overload throttle)".
    pub fn is_throttled(&self) -> bool {
        matches!(self, Error::ResourceExhausted(m) if m.starts_with(THROTTLED))
    }

    /// `true` when the same request may succeed if sent again later (the cluster was
    /// unavailable, overloaded, or the outcome is unknown); `false` when it would fail the same
    /// way.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Indeterminate { .. }
                | Error::Unavailable { .. }
                | Error::Connection { .. }
                | Error::ResourceExhausted(_)
                | Error::Backpressure(_)
        )
    }
}

/// How the message of an attempt refused by the client's overload throttle begins.
pub(crate) const THROTTLED: &str = "refused by the client's overload throttle";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uncertain_writes_are_indeterminate() {
        let indeterminate = Error::Indeterminate {
            attempts: 3,
            elapsed: Duration::from_secs(1),
            last: "deadline exceeded".into(),
        };
        assert!(indeterminate.is_indeterminate());
        assert!(indeterminate.is_retryable());
        assert!(indeterminate.to_string().contains("may or may not"));

        let internal_write = Error::Internal {
            message: "3 results for 2 events".into(),
            indeterminate: true,
        };
        assert!(internal_write.is_indeterminate());
        assert!(!internal_write.is_retryable());

        for definite in [
            Error::InvalidArgument("too many".into()),
            Error::ResourceExhausted("busy".into()),
            Error::Unavailable {
                attempts: 1,
                elapsed: Duration::ZERO,
                last: "connection refused".into(),
            },
            Error::Backpressure(Duration::from_millis(5)),
            Error::Connection {
                attempts: 2,
                elapsed: Duration::from_millis(5),
                last: "connection refused".into(),
            },
        ] {
            assert!(!definite.is_indeterminate(), "{definite}");
        }
        assert!(!Error::InvalidArgument("x".into()).is_retryable());
    }
}
