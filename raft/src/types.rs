//! The openraft type configuration and the application types inside it.
//!
//! openraft's types ([`TypeConfig`], `Entry`, `Vote`, `LogId`) stay inside `tally-raft`: the
//! server and the client see [`Request`], [`Response`] and [`TallyNode`] and the ledger's types.

use std::fmt;

use serde::{Deserialize, Serialize};
use tally_ledger::{Command, LedgerError, Outcome};

use crate::codec::{self, CodecError};

/// A node's id in the cluster. It never changes for the life of the node's data directory.
pub type NodeId = u64;

/// One Raft entry's application payload: exactly one ledger command and the leader's clock.
///
/// The command is kept encoded ([`codec::encode_command`]): the leader encodes it once, the log
/// stores and ships the bytes, and each replica decodes it once, when it applies the entry. One
/// entry is one ledger `WriteBatch`, so the applied position stays a single log id.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Leader wall clock in ns since the Unix epoch when it proposed the entry; every replica
    /// applies the command with this time (the ledger keeps its own time increasing).
    leader_time_ns: u64,
    /// [`codec::encode_command`] bytes (`serde_bytes`: one length prefix, not one per byte).
    #[serde(with = "serde_bytes")]
    command: Vec<u8>,
}

impl Request {
    /// Wraps `cmd` proposed at leader time `leader_time_ns`.
    pub fn new(leader_time_ns: u64, cmd: &Command) -> Self {
        Self {
            leader_time_ns,
            command: codec::encode_command(cmd),
        }
    }

    /// The leader's time in ns, the command's `Context::timestamp`.
    pub fn leader_time_ns(&self) -> u64 {
        self.leader_time_ns
    }

    /// Decodes the command. An error means the entry's bytes are malformed; since every replica
    /// holds the same bytes, every replica gets the same error.
    pub fn command(&self) -> Result<Command, CodecError> {
        codec::decode_command(&self.command)
    }

    /// The encoded command, as stored in the log.
    pub fn command_bytes(&self) -> &[u8] {
        &self.command
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never dump a megabyte of events into a log line.
        write!(
            f,
            "Request {{ leader_time_ns: {}, command: {} bytes, tag {:?} }}",
            self.leader_time_ns,
            self.command.len(),
            self.command.first()
        )
    }
}

/// openraft requires `Display` for application data.
impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The state machine's answer to one entry, handed in-process to the leader's `client_write`.
///
/// It never crosses the wire (openraft's `serde` feature only makes it demand the traits).
/// Business rejections are result codes inside [`Response::Accounts`]/[`Response::Transfers`];
/// [`Response::Rejected`] is for a whole command that every replica refuses the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Response {
    /// A blank or membership entry: nothing to report.
    #[default]
    Empty,
    /// One `CreateAccountResult` wire value and timestamp per event, in event order.
    Accounts(WireResults),
    /// One `CreateTransferResult` wire value and timestamp per event, in event order.
    Transfers(WireResults),
    /// A pulse: how many pending transfers expired.
    Pulse {
        /// Pending transfers released.
        expired: u64,
    },
    /// The command as a whole was refused, deterministically, with no effect on the ledger
    /// (the applied position still advances past it).
    Rejected(Rejection),
}

/// A create command's results as wire values: one code and one timestamp per event, in event
/// order (the ledger's [`tally_ledger::EventResults`], with the codes as numbers). Two results
/// are equal when their codes and timestamps are: when a node applied them is not part of them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WireResults {
    /// One result code wire value per event.
    pub codes: Vec<u32>,
    /// One timestamp per event (see `docs/reference/create_transfers.md`).
    pub timestamps: Vec<u64>,
    /// When this node began applying the entry (for the leader's slow-request log); set by
    /// the state machine, never serialized.
    #[serde(skip)]
    pub apply_started: Option<std::time::Instant>,
}

impl WireResults {
    /// The results of `range` of the events.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Self {
        Self {
            codes: self.codes[range.clone()].to_vec(),
            timestamps: self.timestamps[range].to_vec(),
            apply_started: self.apply_started,
        }
    }
}

impl PartialEq for WireResults {
    fn eq(&self, other: &Self) -> bool {
        self.codes == other.codes && self.timestamps == other.timestamps
    }
}

impl Eq for WireResults {}

/// Why a whole command was refused. Every replica reaches the same rejection for the same entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Rejection {
    /// More events than the ledger's batch limit.
    BatchTooLarge {
        /// Events in the command.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The leader's time leaves no room for the command's timestamps below 2^63.
    ClockOutOfRange {
        /// The first timestamp the command would use.
        timestamp: u64,
        /// Timestamps the command needs.
        events: u64,
    },
    /// The entry's command bytes do not decode.
    Malformed(String),
}

impl Response {
    /// The response for an applied command (its timestamps are moved, not copied).
    pub fn from_outcome(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Accounts(r) => Self::Accounts(WireResults {
                codes: r.codes.iter().map(|c| c.as_u32()).collect(),
                timestamps: r.timestamps,
                apply_started: None,
            }),
            Outcome::Transfers(r) => Self::Transfers(WireResults {
                codes: r.codes.iter().map(|c| c.as_u32()).collect(),
                timestamps: r.timestamps,
                apply_started: None,
            }),
            Outcome::Pulse { expired } => Self::Pulse {
                expired: expired as u64,
            },
        }
    }
}

impl Rejection {
    /// The rejection for a ledger error that every replica reaches the same way, or `None` for
    /// a system failure (a store error), which must stop the node instead.
    pub fn from_ledger_error(e: &LedgerError) -> Option<Self> {
        match e {
            LedgerError::BatchTooLarge { len, max } => Some(Self::BatchTooLarge {
                len: *len as u64,
                max: *max as u64,
            }),
            LedgerError::ClockOutOfRange { timestamp, events } => Some(Self::ClockOutOfRange {
                timestamp: *timestamp,
                events: *events as u64,
            }),
            _ => None,
        }
    }
}

/// A member of the cluster, as stored in the membership config inside the log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TallyNode {
    /// `host:port` of the node's gRPC endpoint (the Raft and ledger services share it).
    pub addr: String,
}

impl fmt::Display for TallyNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.addr)
    }
}

openraft::declare_raft_types!(
    /// Tally's openraft type configuration. Everything not named takes openraft's default:
    /// `Term = u64`, the advanced `LeaderId` (one leader per term), `Entry = impls::Entry`,
    /// `Responder = OneshotResponder`, `AsyncRuntime = TokioRuntime` (feature `tokio-rt`).
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = NodeId,
        Node = TallyNode,
);

/// A log entry.
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
/// A log id: (leader id, index).
pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
/// A vote: (leader id, committed).
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
/// openraft's storage error for our type config.
pub type StorageError = openraft::StorageError<TypeConfig>;

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use openraft::entry::RaftEntry;
    use openraft::vote::RaftLeaderIdExt;
    use openraft::{EntryPayload, Membership};
    use tally_ledger::{CreateAccountResult, CreateTransferResult, EventResults};

    use super::*;
    use crate::codec::{from_bytes, tests::every_command, to_bytes};

    fn log_id(term: u64, node: u64, index: u64) -> LogId {
        LogId::new(
            openraft::alias::LeaderIdOf::<TypeConfig>::new_committed(term, node),
            index,
        )
    }

    #[test]
    fn every_command_round_trips_through_request() {
        for (i, cmd) in every_command().into_iter().enumerate() {
            let t = [0, 1, u64::MAX][i % 3];
            let req = Request::new(t, &cmd);
            let back: Request = from_bytes(&to_bytes(&req).unwrap()).unwrap();
            assert_eq!(back, req);
            assert_eq!(back.leader_time_ns(), t);
            assert_eq!(back.command().unwrap(), cmd);
        }
    }

    #[test]
    fn malformed_request_payloads_are_errors() {
        // A request whose command bytes are garbage decodes as a request, then fails cleanly.
        let req = Request {
            leader_time_ns: 5,
            command: vec![9, 9, 9],
        };
        let back: Request = from_bytes(&to_bytes(&req).unwrap()).unwrap();
        assert!(back.command().is_err());
        // Every truncation of an encoded request is an error, not a panic.
        let cmd = Command::CreateTransfers(vec![tally_ledger::Transfer::default(); 2]);
        let b = to_bytes(&Request::new(u64::MAX, &cmd)).unwrap();
        for len in 0..b.len() {
            assert!(from_bytes::<Request>(&b[..len]).is_err(), "cut at {len}");
        }
    }

    #[test]
    fn request_debug_is_short() {
        let cmd = Command::CreateTransfers(vec![tally_ledger::Transfer::default(); 100]);
        let s = format!("{}", Request::new(3, &cmd));
        assert!(s.len() < 100, "{s}");
    }

    fn entries() -> Vec<Entry> {
        let members: BTreeSet<u64> = [1, 2, 3].into();
        let nodes = [(1, "a:1"), (2, "b:2"), (3, "c:3"), (4, "d:4")]
            .map(|(id, a)| (id, TallyNode { addr: a.into() }));
        let membership =
            Membership::new(vec![members], nodes.into_iter().collect::<BTreeMap<_, _>>()).unwrap();
        let normal = Request::new(u64::MAX, &Command::Pulse);
        vec![
            Entry::new(log_id(1, 1, 0), EntryPayload::Blank),
            Entry::new(
                log_id(u64::MAX, u64::MAX, u64::MAX),
                EntryPayload::Normal(normal),
            ),
            Entry::new(log_id(2, 3, 7), EntryPayload::Membership(membership)),
        ]
    }

    #[test]
    fn entries_round_trip() {
        for cmd in every_command() {
            let e = Entry::new(log_id(3, 2, 9), EntryPayload::Normal(Request::new(1, &cmd)));
            assert_eq!(from_bytes::<Entry>(&to_bytes(&e).unwrap()).unwrap(), e);
        }
        for e in entries() {
            let b = to_bytes(&e).unwrap();
            assert_eq!(from_bytes::<Entry>(&b).unwrap(), e);
            for len in 0..b.len() {
                assert!(from_bytes::<Entry>(&b[..len]).is_err());
            }
        }
    }

    #[test]
    fn votes_and_log_ids_round_trip() {
        for vote in [
            Vote::new(0, 0),
            Vote::new(7, 3),
            Vote::new_committed(u64::MAX, u64::MAX),
        ] {
            assert_eq!(from_bytes::<Vote>(&to_bytes(&vote).unwrap()).unwrap(), vote);
        }
        for id in [log_id(0, 0, 0), log_id(u64::MAX, u64::MAX, u64::MAX)] {
            let b = to_bytes(&Some(id)).unwrap();
            assert_eq!(from_bytes::<Option<LogId>>(&b).unwrap(), Some(id));
        }
    }

    /// The on-disk bytes of openraft's types, pinned: an openraft upgrade that changes them must
    /// fail here rather than misread existing logs.
    #[test]
    fn golden_bytes() {
        let vote = Vote::new_committed(5, 2);
        assert_eq!(to_bytes(&vote).unwrap(), GOLDEN_VOTE);
        let entry = Entry::new(
            log_id(5, 2, 300),
            EntryPayload::Normal(Request::new(9, &Command::Pulse)),
        );
        assert_eq!(to_bytes(&entry).unwrap(), GOLDEN_ENTRY);
        assert_eq!(to_bytes(&Some(log_id(5, 2, 300))).unwrap(), GOLDEN_LOG_ID);
    }

    /// term 5, node 2 (varints), committed.
    const GOLDEN_VOTE: &[u8] = &[5, 2, 1];
    /// log id (term 5, node 2, index 300 = varint 172 2), payload variant 1 (Normal), leader
    /// time 9, command of 1 byte: TAG_PULSE.
    const GOLDEN_ENTRY: &[u8] = &[5, 2, 172, 2, 1, 9, 1, 3];
    /// Some, then the log id.
    const GOLDEN_LOG_ID: &[u8] = &[1, 5, 2, 172, 2];

    #[test]
    fn responses_carry_wire_values() {
        let o = Outcome::Accounts(EventResults {
            codes: vec![CreateAccountResult::Ok, CreateAccountResult::ALL[1]],
            timestamps: vec![7, 9],
        });
        assert_eq!(
            Response::from_outcome(o),
            Response::Accounts(WireResults {
                codes: vec![0, CreateAccountResult::ALL[1].as_u32()],
                timestamps: vec![7, 9],
                apply_started: None,
            })
        );
        let all = CreateTransferResult::ALL;
        let o = Outcome::Transfers(EventResults {
            codes: all.to_vec(),
            timestamps: (1..=all.len() as u64).collect(),
        });
        let Response::Transfers(r) = Response::from_outcome(o) else {
            panic!("transfers")
        };
        for (c, code) in r.codes.iter().zip(all) {
            assert_eq!(CreateTransferResult::from_u32(*c), Some(*code));
        }
        assert_eq!(r.timestamps, (1..=all.len() as u64).collect::<Vec<_>>());
        let r = r.slice(1..3);
        assert_eq!((r.codes.len(), r.timestamps), (2, vec![2, 3]));
        assert_eq!(
            Response::from_outcome(Outcome::Pulse { expired: 4 }),
            Response::Pulse { expired: 4 }
        );
        let e = LedgerError::BatchTooLarge {
            len: 9000,
            max: 8189,
        };
        assert_eq!(
            Rejection::from_ledger_error(&e),
            Some(Rejection::BatchTooLarge {
                len: 9000,
                max: 8189
            })
        );
        let e = LedgerError::Store(tally_ledger::StoreError::Backend("disk".into()));
        assert_eq!(Rejection::from_ledger_error(&e), None);
        let r = Response::Rejected(Rejection::Malformed("x".into()));
        assert_eq!(from_bytes::<Response>(&to_bytes(&r).unwrap()).unwrap(), r);
    }
}
