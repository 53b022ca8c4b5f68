//! What the server asks of a node, in Tally's own terms: propose a command, confirm a
//! linearizable read, report status, change membership and leadership. openraft's errors and
//! metrics are translated here, so `tally-server` never names an openraft type.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use openraft::async_runtime::watch::WatchReceiver;
use openraft::errors::{ClientWriteError, Fatal, ForwardReason, ForwardToLeader, RaftError};
use openraft::{ChangeMembers, ReadPolicy, ServerState};
use tally_ledger::Command;

use crate::raft_node::RaftNode;
use crate::types::{NodeId, Request, Response, TallyNode, TypeConfig};

/// How often [`RaftNode::failure`] looks at Raft's state.
pub const FAILURE_POLL: Duration = Duration::from_millis(250);

/// The leader a node believes in, as far as it knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderHint {
    /// The leader's node id.
    pub id: NodeId,
    /// Its address, when the membership names it.
    pub addr: Option<String>,
}

/// Why a proposal or a read barrier failed. Each variant says whether the command may have
/// been applied.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProposeError {
    /// This node does not lead (or its lease lapsed, or leadership is being transferred). The
    /// command was not appended here; `leader` is where to send it, when known.
    #[error("not the leader{}", fmt_hint(.leader))]
    NotLeader {
        /// The leader this node knows of.
        leader: Option<LeaderHint>,
    },
    /// The entry was appended and then lost its leader: it may or may not commit through the
    /// next leader. Retrying the same ids is safe.
    #[error("leadership changed after the command was proposed; outcome unknown{}", fmt_hint(.leader))]
    Indeterminate {
        /// The leader this node knows of now.
        leader: Option<LeaderHint>,
    },
    /// The leader cannot reach a quorum (read barriers only).
    #[error("no quorum: {0}")]
    NoQuorum(String),
    /// The request's deadline passed before the node could answer (a read barrier that did
    /// not complete in time). Nothing was written.
    #[error("timed out: {0}")]
    TimedOut(String),
    /// A membership change was refused (in progress, empty, unknown learner, ...).
    #[error("membership change refused: {0}")]
    Membership(String),
    /// The node's Raft has stopped (shutdown, or a storage failure).
    #[error("raft stopped: {0}")]
    Stopped(String),
}

fn fmt_hint(h: &Option<LeaderHint>) -> String {
    match h {
        Some(LeaderHint { id, addr: Some(a) }) => format!(" (leader: node {id} at {a})"),
        Some(LeaderHint { id, addr: None }) => format!(" (leader: node {id})"),
        None => " (no leader known)".into(),
    }
}

impl ProposeError {
    /// The leader to send the request to, when the node knows one.
    pub fn leader(&self) -> Option<&LeaderHint> {
        match self {
            Self::NotLeader { leader } | Self::Indeterminate { leader } => leader.as_ref(),
            _ => None,
        }
    }

    /// Whether a fresh leader might take the same request in a moment (its lease was not yet
    /// established, or a transfer is under way): worth retrying here within the deadline.
    fn transient_here(f: &ForwardToLeader<TypeConfig>) -> bool {
        matches!(
            f.reason,
            ForwardReason::LeaseExpired | ForwardReason::LeadershipTransfer
        )
    }
}

fn hint(f: &ForwardToLeader<TypeConfig>) -> Option<LeaderHint> {
    f.leader_id.map(|id| LeaderHint {
        id,
        addr: f.leader_node.as_ref().map(|n| n.addr.clone()),
    })
}

fn from_write_error(e: RaftError<TypeConfig, ClientWriteError<TypeConfig>>) -> ProposeError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            ProposeError::NotLeader { leader: hint(&f) }
        }
        RaftError::APIError(ClientWriteError::LogEntryDiscarded(f)) => {
            ProposeError::Indeterminate { leader: hint(&f) }
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(m)) => {
            ProposeError::Membership(m.to_string())
        }
        RaftError::APIError(other) => ProposeError::Membership(other.to_string()),
        RaftError::Fatal(f) => ProposeError::Stopped(f.to_string()),
    }
}

/// The answering node's part in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// Leads: takes writes and linearizable reads.
    Leader,
    /// Follows a leader.
    Follower,
    /// Is standing for election.
    Candidate,
    /// Receives the log without voting.
    Learner,
    /// Has stopped.
    Shutdown,
}

/// One member of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Node id.
    pub id: NodeId,
    /// Its address.
    pub addr: String,
    /// Voter (true) or learner (false).
    pub voter: bool,
}

/// A node's view of the cluster (its Raft metrics, in Tally's terms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// The answering node.
    pub id: NodeId,
    /// Its role.
    pub role: Role,
    /// The leader it knows of.
    pub leader: Option<NodeId>,
    /// Current term.
    pub term: u64,
    /// Last log index, if any entry is logged.
    pub last_log_index: Option<u64>,
    /// Commit index known to this node.
    pub commit_index: Option<u64>,
    /// Applied index.
    pub applied_index: Option<u64>,
    /// Last log index covered by this node's current snapshot.
    pub snapshot_index: Option<u64>,
    /// Last log index purged from this node's log (entries up to it exist only in snapshots).
    pub purged_index: Option<u64>,
    /// The latest membership in the log.
    pub members: Vec<Member>,
    /// On the leader: each other member's matched log index (`None` if nothing matched yet).
    pub replication: BTreeMap<NodeId, Option<u64>>,
    /// How long ago this node last had word of a working leader: on the leader, since a quorum
    /// last acknowledged it (zero when it is the only voter); on a follower, since it last accepted an append (or heartbeat)
    /// from the leader. `None` if never since the node started. The `leader` field alone can
    /// be stale: a follower cut off from the leader keeps naming it while its pre-votes fail.
    pub leader_contact: Option<Duration>,
}

/// When a follower last accepted an append from a leader, for [`NodeStatus::leader_contact`].
#[derive(Debug)]
pub struct LeaderContact {
    origin: std::time::Instant,
    /// Milliseconds since `origin` plus one; 0 for never.
    last: std::sync::atomic::AtomicU64,
}

impl Default for LeaderContact {
    fn default() -> Self {
        Self {
            origin: std::time::Instant::now(),
            last: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl LeaderContact {
    /// Records contact now.
    pub fn touch(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last
            .store(ms + 1, std::sync::atomic::Ordering::Relaxed);
    }

    /// How long ago the last contact was, if any.
    pub fn age(&self) -> Option<Duration> {
        match self.last.load(std::sync::atomic::Ordering::Relaxed) {
            0 => None,
            at => Some(
                self.origin
                    .elapsed()
                    .saturating_sub(Duration::from_millis(at - 1)),
            ),
        }
    }
}

impl RaftNode {
    /// Proposes `cmd` stamped with the leader's time `leader_time_ns`, and returns the state
    /// machine's response once it is applied here. A fresh leader whose lease is not yet
    /// established, or one handing over leadership, is retried here for up to `retry_for`.
    pub async fn propose(
        &self,
        leader_time_ns: u64,
        cmd: &Command,
        retry_for: Duration,
    ) -> Result<Response, ProposeError> {
        let req = Request::new(leader_time_ns, cmd);
        let until = tokio::time::Instant::now() + retry_for;
        loop {
            match self.raft().client_write(req.clone()).await {
                Ok(r) => return Ok(r.data),
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))
                    if ProposeError::transient_here(&f) && tokio::time::Instant::now() < until =>
                {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => return Err(from_write_error(e)),
            }
        }
    }

    /// Confirms this node leads (a ReadIndex round with a quorum) and, if it has not yet
    /// applied an entry of its own term, waits until it has applied up to the read index: a
    /// read of the local state afterwards is linearizable (see the comment inside). Bounded by
    /// `timeout` (openraft's own wait has none).
    pub async fn read_barrier(&self, timeout: Duration) -> Result<(), ProposeError> {
        let work = async {
            let lin = self
                .raft()
                .get_read_linearizer(ReadPolicy::ReadIndex)
                .await
                .map_err(|e| match e {
                    RaftError::APIError(
                        openraft::errors::LinearizableReadError::ForwardToLeader(f),
                    ) => ProposeError::NotLeader { leader: hint(&f) },
                    RaftError::APIError(other) => ProposeError::NoQuorum(other.to_string()),
                    RaftError::Fatal(f) => ProposeError::Stopped(f.to_string()),
                })?;
            // The leader acknowledges a write only after applying it, and it has applied
            // every entry of earlier terms once it has applied one of its own (its first, the
            // no-op). So once an entry of this leadership is applied, the state applied now
            // holds every write acknowledged before this read began: entries committed but
            // not yet applied have been acknowledged to nobody, and the read may be ordered
            // before them. Waiting for the read index (the commit index) instead would make
            // every read under load wait out the entries being applied (25-50 ms measured).
            let own = lin.read_log_id().committed_leader_id();
            if lin
                .applied()
                .is_some_and(|a| a.committed_leader_id() == own)
            {
                return Ok(());
            }
            lin.try_await_ready(self.raft(), Some(timeout))
                .await
                .map_err(|f| ProposeError::Stopped(f.to_string()))?
                .map_err(|_| {
                    ProposeError::NoQuorum("applying up to the read index timed out".into())
                })
                .map(|_| ())
        };
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(ProposeError::TimedOut(
                    "confirming leadership with a quorum".into(),
                ))
            })
    }

    /// Waits until Raft stops by itself and returns why: a storage failure (a full disk, a
    /// failed fsync) or a panic in its core. After that the node can neither write nor vote,
    /// so the server exits on it (crash-stop) instead of answering `UNAVAILABLE` forever.
    /// Never returns while Raft runs, nor after a [`RaftNode::shutdown`] asked for.
    ///
    /// It looks every [`FAILURE_POLL`] rather than waiting on the metrics channel, which
    /// changes many times per entry: a waiter there would wake for each change.
    pub async fn failure(&self) -> String {
        let m = self.raft().metrics();
        let mut tick = tokio::time::interval(FAILURE_POLL);
        loop {
            tick.tick().await;
            let state = m.borrow_watched().running_state.clone();
            match state {
                Ok(()) | Err(Fatal::Stopped) => {}
                Err(f) => return f.to_string(),
            }
        }
    }

    /// The leader this node knows of, with its address.
    pub fn leader_hint(&self) -> Option<LeaderHint> {
        let m = self.raft().metrics().borrow_watched().clone();
        let id = m.current_leader?;
        let addr = m
            .membership_config
            .membership()
            .get_node(&id)
            .map(|n| n.addr.clone());
        Some(LeaderHint { id, addr })
    }

    /// Whether this node currently leads.
    pub fn is_leader(&self) -> bool {
        self.raft().is_leader()
    }

    /// This node's view of the cluster.
    pub fn status(&self) -> NodeStatus {
        let m = self.raft().metrics().borrow_watched().clone();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let members = membership
            .nodes()
            .map(|(id, n)| Member {
                id: *id,
                addr: n.addr.clone(),
                voter: voters.contains(id),
            })
            .collect();
        let role = match m.state {
            ServerState::Leader => Role::Leader,
            ServerState::Follower => Role::Follower,
            ServerState::Candidate => Role::Candidate,
            ServerState::Learner => Role::Learner,
            ServerState::Shutdown => Role::Shutdown,
        };
        let replication = m
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .filter(|(id, _)| **id != m.id)
                    .map(|(id, l)| (*id, l.as_ref().map(|l| l.index)))
                    .collect()
            })
            .unwrap_or_default();
        NodeStatus {
            id: m.id,
            role,
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index,
            commit_index: m.local_committed.as_ref().map(|l| l.index),
            applied_index: m.last_applied.as_ref().map(|l| l.index),
            snapshot_index: m.snapshot.as_ref().map(|l| l.index),
            purged_index: m.purged.as_ref().map(|l| l.index),
            members,
            replication,
            leader_contact: match m.state {
                // The only voter is its own quorum: openraft records no acknowledgement then.
                ServerState::Leader if voters.len() == 1 && voters.contains(&m.id) => {
                    Some(Duration::ZERO)
                }
                ServerState::Leader => m
                    .last_quorum_acked
                    .as_ref()
                    .map(|at| openraft::Instant::elapsed(&**at)),
                _ => self.contact().age(),
            },
        }
    }

    /// Adds `id` at `addr` as a learner (on the leader), then waits up to `wait` for it to
    /// catch up with the leader's log.
    pub async fn add_learner(
        &self,
        id: NodeId,
        addr: String,
        wait: Duration,
    ) -> Result<(), ProposeError> {
        self.raft()
            .add_learner(id, TallyNode { addr }, false)
            .await
            .map_err(from_write_error)?;
        let until = tokio::time::Instant::now() + wait;
        loop {
            let s = self.status();
            let target = s.last_log_index;
            if s.replication.get(&id).copied().flatten() >= target {
                return Ok(());
            }
            if tokio::time::Instant::now() >= until {
                return Err(ProposeError::Membership(format!(
                    "node {id} was added as a learner but has not caught up within {wait:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Makes `voters` the complete set of voters (joint consensus inside openraft). Removed
    /// voters stay as learners if `retain`.
    pub async fn change_voters(
        &self,
        voters: BTreeSet<NodeId>,
        retain: bool,
    ) -> Result<(), ProposeError> {
        self.raft()
            .change_membership(ChangeMembers::ReplaceAllVoters(voters), retain)
            .await
            .map(|_| ())
            .map_err(from_write_error)
    }

    /// Asks this node, the leader, to hand leadership to the voter `to`, which must be fully
    /// caught up: a transfer to a lagging node leaves the cluster without a writable leader
    /// until an election (openraft#2088).
    pub async fn transfer_leader(&self, to: NodeId) -> Result<(), ProposeError> {
        let s = self.status();
        if s.role != Role::Leader {
            return Err(ProposeError::NotLeader {
                leader: self.leader_hint(),
            });
        }
        if !s.members.iter().any(|m| m.id == to && m.voter) {
            return Err(ProposeError::Membership(format!(
                "node {to} is not a voter"
            )));
        }
        if to == s.id {
            return Ok(());
        }
        let matched = s.replication.get(&to).copied().flatten();
        if matched < s.last_log_index {
            return Err(ProposeError::Membership(format!(
                "node {to} is behind the leader (matched {matched:?}, last log {:?}); retry once it \
                 has caught up",
                s.last_log_index
            )));
        }
        self.raft()
            .trigger()
            .transfer_leader(to)
            .await
            .map_err(|f| ProposeError::Stopped(f.to_string()))
    }

    /// Starts building a snapshot now.
    pub async fn trigger_snapshot(&self) -> Result<(), ProposeError> {
        self.raft()
            .trigger()
            .snapshot()
            .await
            .map_err(|f| ProposeError::Stopped(f.to_string()))
    }

    /// Waits up to `timeout` until this node knows a leader; returns it.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Option<LeaderHint> {
        let until = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(h) = self.leader_hint() {
                return Some(h);
            }
            if tokio::time::Instant::now() >= until {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl fmt::Display for LeaderHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.addr {
            Some(a) => write!(f, "node {} at {a}", self.id),
            None => write!(f, "node {}", self.id),
        }
    }
}
