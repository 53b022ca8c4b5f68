//! The one place where failures become gRPC statuses.
//!
//! | failure | status | retry? |
//! |---|---|---|
//! | malformed request (undecodable bytes, bad framing), message over the size limit, bad filter, too many events | `INVALID_ARGUMENT` (+ [`NOT_APPLIED`] for framing and size) | never |
//! | not the leader (write or linearizable read) | `UNAVAILABLE` + [`LEADER_ID`], [`LEADER_ADDR`], [`NOT_APPLIED`] | at the leader |
//! | no leader known, no quorum, shutting down | `UNAVAILABLE` + [`RETRY_AFTER_MS`] | after the hint |
//! | write proposed, then leadership lost | `UNAVAILABLE` (message says "outcome unknown") | same ids |
//! | deadline passed | `DEADLINE_EXCEEDED` (+ [`NOT_APPLIED`] if it passed while the write was queued) | a write: same ids (indeterminate unless not applied) |
//! | write refused by admission control (queue delay over budget or deadline, queue full) | `RESOURCE_EXHAUSTED` + [`RETRY_AFTER_MS`], [`NOT_APPLIED`] | after the hint |
//! | too many reads at once | `RESOURCE_EXHAUSTED` + [`RETRY_AFTER_MS`] | after the hint |
//! | unknown method, compressed request (made by tonic) | `UNIMPLEMENTED` | never |
//! | store failure, a bug | `INTERNAL` | no |
//!
//! A failed write is never partially applied: a request's events go into one Raft entry, which
//! is applied whole or not at all.

use std::io;

use tally_ledger::LedgerError;
use tally_raft::{LeaderHint, ProposeError, Rejection};
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

use crate::convert::Invalid;

/// Metadata key: the leader's node id (decimal), on `UNAVAILABLE` from a non-leader.
pub const LEADER_ID: &str = "tally-leader-id";
/// Metadata key: the leader's `host:port`, on `UNAVAILABLE` from a non-leader.
pub const LEADER_ADDR: &str = "tally-leader-addr";
/// Metadata key: milliseconds to wait before retrying (decimal).
pub const RETRY_AFTER_MS: &str = "tally-retry-after-ms";
/// Metadata key, value `true`: the write was certainly not applied (it never reached the Raft
/// log), so the client need not treat it as indeterminate. Absent means "unknown".
pub const NOT_APPLIED: &str = "tally-not-applied";

fn not_applied(mut s: Status) -> Status {
    s.metadata_mut()
        .insert(NOT_APPLIED, MetadataValue::from_static("true"));
    s
}

/// How long a client should wait when no leader is known: about one election.
const ELECTION_RETRY_MS: u64 = 300;

/// `UNAVAILABLE`, pointing at `leader` when known, else with a retry hint.
pub fn unavailable(msg: impl Into<String>, leader: Option<&LeaderHint>) -> Status {
    let mut s = Status::unavailable(msg);
    match leader {
        Some(h) => {
            s.metadata_mut().insert(LEADER_ID, h.id.into());
            if let Some(a) = h
                .addr
                .as_deref()
                .and_then(|a| MetadataValue::try_from(a).ok())
            {
                s.metadata_mut().insert(LEADER_ADDR, a);
            }
        }
        None => {
            s.metadata_mut()
                .insert(RETRY_AFTER_MS, ELECTION_RETRY_MS.into());
        }
    }
    s
}

/// A request whose gRPC framing is broken (`crate::framing`). Messages that frame correctly but
/// do not decode are refused by the codec, `tally_proto::codec`, with the same status.
pub fn malformed(msg: impl Into<String>) -> Status {
    not_applied(Status::invalid_argument(format!(
        "malformed request: {}",
        msg.into()
    )))
}

/// A request message of `len` bytes, over the service's `limit`. `INVALID_ARGUMENT` rather
/// than gRPC's usual `RESOURCE_EXHAUSTED`, which the API keeps for a full queue, where
/// retrying helps: resending this request unchanged can only fail again.
pub fn too_large(len: usize, limit: usize) -> Status {
    not_applied(Status::invalid_argument(format!(
        "request message of {len} bytes exceeds the limit of {limit} bytes; nothing was          applied and resending it unchanged fails again"
    )))
}

/// A request the core cannot express.
pub fn invalid(e: Invalid) -> Status {
    Status::invalid_argument(e.0)
}

/// A failed proposal or read barrier.
pub fn propose(e: ProposeError) -> Status {
    match &e {
        // Refused before its entry was appended.
        ProposeError::NotLeader { leader } => {
            not_applied(unavailable(e.to_string(), leader.as_ref()))
        }
        ProposeError::Indeterminate { leader } => unavailable(e.to_string(), leader.as_ref()),
        ProposeError::NoQuorum(_) | ProposeError::Stopped(_) => unavailable(e.to_string(), None),
        ProposeError::Membership(_) => Status::failed_precondition(e.to_string()),
        ProposeError::TimedOut(_) => Status::deadline_exceeded(e.to_string()),
        _ => Status::internal(e.to_string()),
    }
}

/// A ledger error on a read.
pub fn ledger(e: LedgerError) -> Status {
    match e {
        LedgerError::InvalidFilter(_) | LedgerError::BatchTooLarge { .. } => {
            Status::invalid_argument(e.to_string())
        }
        _ => Status::internal(e.to_string()),
    }
}

/// A command every replica refused as a whole (nothing was applied).
pub fn rejection(r: &Rejection) -> Status {
    match r {
        Rejection::BatchTooLarge { len, max } => Status::invalid_argument(format!(
            "batch of {len} events exceeds the maximum of {max}"
        )),
        // `events` counts the room an entry needs for its events and for expiries, whatever the
        // request's size: the fault is the clock, not the request.
        Rejection::ClockOutOfRange { timestamp, .. } => Status::failed_precondition(format!(
            "the leader's clock is out of range: ledger time {timestamp} ns is too close to the \
             largest timestamp, 2^63 - 1 ns; nothing was applied"
        )),
        other => Status::internal(format!("command rejected: {other:?}")),
    }
}

/// The state store failed, or was closed by a snapshot install in progress.
pub fn io(e: io::Error) -> Status {
    unavailable(format!("state unavailable: {e}"), None)
}

/// The request's deadline passed. For a write the outcome is unknown.
pub fn deadline(what: &str) -> Status {
    if what == "write" {
        Status::deadline_exceeded(
            "write: deadline exceeded; it may or may not have been applied, retry with the same ids",
        )
    } else {
        Status::deadline_exceeded(format!("{what}: deadline exceeded"))
    }
}

/// A write refused by admission control (`crate::admission`): the node's queue would keep it
/// waiting longer than its budget or its deadline, or holds the most events it may. Nothing
/// was queued; `retry_after_ms` is the estimated time for the node to drain what it holds.
pub fn overloaded(retry_after_ms: u64) -> Status {
    let mut s = Status::new(
        Code::ResourceExhausted,
        "server overloaded: the write queue is full; nothing was applied, retry after the hint",
    );
    s.metadata_mut()
        .insert(RETRY_AFTER_MS, retry_after_ms.into());
    not_applied(s)
}

/// A read refused because `max` reads are being served already.
pub fn reads_overloaded(max: u64) -> Status {
    let mut s = Status::new(
        Code::ResourceExhausted,
        format!("server overloaded: {max} reads in progress; retry after the hint"),
    );
    s.metadata_mut().insert(RETRY_AFTER_MS, 10u64.into());
    s
}

/// A queued write whose deadline passed before it was proposed: dropped, never applied.
pub fn expired_unproposed() -> Status {
    not_applied(Status::deadline_exceeded(
        "write: deadline exceeded while queued; it was not applied",
    ))
}

/// The node is shutting down and did not take the request.
pub fn shutting_down() -> Status {
    not_applied(unavailable("node is shutting down", None))
}

/// The node stopped after taking a write and before answering: its outcome is unknown.
pub fn stopped_before_answer() -> Status {
    unavailable(
        "node stopped before answering; the write may or may not have been applied, retry with \
         the same ids",
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_leader_carries_the_leader() {
        let s = propose(ProposeError::NotLeader {
            leader: Some(LeaderHint {
                id: 2,
                addr: Some("127.0.0.1:7102".into()),
            }),
        });
        assert_eq!(s.code(), Code::Unavailable);
        assert_eq!(s.metadata().get(LEADER_ID).unwrap(), "2");
        assert_eq!(s.metadata().get(LEADER_ADDR).unwrap(), "127.0.0.1:7102");
        assert!(s.metadata().get(RETRY_AFTER_MS).is_none());
        assert_eq!(s.metadata().get(NOT_APPLIED).unwrap(), "true");
        let lost = propose(ProposeError::Indeterminate { leader: None });
        assert!(
            lost.metadata().get(NOT_APPLIED).is_none(),
            "outcome unknown"
        );
    }

    #[test]
    fn no_leader_carries_a_retry_hint() {
        let s = propose(ProposeError::NotLeader { leader: None });
        assert_eq!(s.code(), Code::Unavailable);
        assert!(s.metadata().get(LEADER_ID).is_none());
        assert_eq!(s.metadata().get(RETRY_AFTER_MS).unwrap(), "300");
    }

    #[test]
    fn a_clock_out_of_range_says_so() {
        let s = rejection(&Rejection::ClockOutOfRange {
            timestamp: (1 << 63) - 10,
            events: 8190,
        });
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert!(
            s.message().contains("clock is out of range"),
            "{}",
            s.message()
        );
        assert!(!s.message().contains("8190"), "{}", s.message());
    }

    #[test]
    fn bad_filter_is_invalid_argument() {
        let s = ledger(LedgerError::InvalidFilter(
            "limit must be at least 1".into(),
        ));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().contains("limit"));
    }
}
