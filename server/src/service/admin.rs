//! `tally.v1.Admin`: the cluster's status, membership changes, leadership transfer, snapshots.

use tally_proto::v1::admin_server::{Admin as AdminRpc, AdminServer};
use tally_proto::v1::{self, MemberRole, ServerState};
use tally_raft::{Member, NodeStatus, Role};
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use super::Ctx;
use crate::admission::AdmissionStats;
use crate::framing::Framed;
use crate::grpc_error;

/// Largest request or response message, in bytes. Admin messages are small: a membership of a
/// thousand members encodes to well under this.
pub const MAX_MESSAGE_BYTES: usize = 64 << 10;

/// The Admin service.
#[derive(Debug, Clone)]
pub struct AdminService {
    ctx: Ctx,
}

impl AdminService {
    /// A service over `ctx`.
    pub fn new(ctx: Ctx) -> Self {
        Self { ctx }
    }

    /// The tonic server for it, with its message size limit and framing checks.
    pub fn into_server(self) -> Framed<AdminServer<Self>> {
        let metrics = self.ctx.metrics.clone();
        let slow = self.ctx.slow_request;
        let server = AdminServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Framed::new(server, MAX_MESSAGE_BYTES)
            .with_metrics(metrics)
            .with_slow(slow)
    }
}

fn members_to_wire(members: &[Member]) -> Vec<v1::Member> {
    members
        .iter()
        .map(|m| v1::Member {
            id: m.id,
            address: m.addr.clone(),
            role: if m.voter {
                MemberRole::Voter
            } else {
                MemberRole::Learner
            }
            .into(),
        })
        .collect()
}

/// Admission counters on the wire.
pub fn admission_to_wire(a: &AdmissionStats) -> v1::AdmissionStatus {
    v1::AdmissionStatus {
        pending_events: a.pending_events,
        queue_delay_us: a.queue_delay_us,
        events_per_sec: a.events_per_sec,
        entries_per_sec: a.entries_per_sec,
        writes_refused: a.refused,
        writes_abandoned: a.abandoned,
        reads_refused: a.reads_refused,
    }
}

/// A node's status on the wire.
pub fn status_to_wire(s: &NodeStatus) -> v1::GetStatusResponse {
    let state = match s.role {
        Role::Leader => ServerState::Leader,
        Role::Follower => ServerState::Follower,
        Role::Candidate => ServerState::Candidate,
        Role::Learner => ServerState::Learner,
        Role::Shutdown => ServerState::Shutdown,
        _ => ServerState::Unspecified,
    };
    let last = s.last_log_index.unwrap_or(0);
    let replication = s
        .replication
        .iter()
        .map(|(id, matched)| v1::ReplicationProgress {
            node_id: *id,
            matched_index: *matched,
            lag: matched.map_or(last + u64::from(s.last_log_index.is_some()), |m| {
                last.saturating_sub(m)
            }),
        })
        .collect();
    v1::GetStatusResponse {
        node_id: s.id,
        state: state.into(),
        members: members_to_wire(&s.members),
        leader_id: s.leader,
        term: s.term,
        last_log_index: s.last_log_index,
        commit_index: s.commit_index,
        applied_index: s.applied_index,
        replication,
        admission: None,
        leader_contact_ms: s
            .leader_contact
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
    }
}

#[tonic::async_trait]
impl AdminRpc for AdminService {
    async fn get_status(
        &self,
        _req: Request<v1::GetStatusRequest>,
    ) -> Result<Response<v1::GetStatusResponse>, Status> {
        let mut status = status_to_wire(&self.ctx.node.status());
        let admission = self.ctx.coalescer.admission().stats(&self.ctx.reads);
        status.admission = Some(admission_to_wire(&admission));
        Ok(Response::new(status))
    }

    async fn add_learner(
        &self,
        req: Request<v1::AddLearnerRequest>,
    ) -> Result<Response<v1::AddLearnerResponse>, Status> {
        let deadline = self.ctx.deadline(&req);
        let r = req.into_inner();
        if r.node_id == 0 || r.address.parse::<std::net::SocketAddr>().is_err() {
            return Err(Status::invalid_argument(
                "node_id must be non-zero and address a host:port with an IP address",
            ));
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        self.ctx
            .node
            .add_learner(r.node_id, r.address, wait)
            .await
            .map_err(grpc_error::propose)?;
        Ok(Response::new(v1::AddLearnerResponse {
            members: members_to_wire(&self.ctx.node.status().members),
        }))
    }

    async fn change_membership(
        &self,
        req: Request<v1::ChangeMembershipRequest>,
    ) -> Result<Response<v1::ChangeMembershipResponse>, Status> {
        let deadline = self.ctx.deadline(&req);
        let r = req.into_inner();
        if r.voter_ids.is_empty() {
            return Err(Status::invalid_argument("voter_ids must not be empty"));
        }
        let voters = r.voter_ids.into_iter().collect();
        let change = self
            .ctx
            .node
            .change_voters(voters, r.retain_removed_as_learners);
        tokio::time::timeout_at(deadline, change)
            .await
            .map_err(|_| grpc_error::deadline("change membership"))?
            .map_err(grpc_error::propose)?;
        Ok(Response::new(v1::ChangeMembershipResponse {
            members: members_to_wire(&self.ctx.node.status().members),
        }))
    }

    async fn transfer_leader(
        &self,
        req: Request<v1::TransferLeaderRequest>,
    ) -> Result<Response<v1::TransferLeaderResponse>, Status> {
        let to = req.into_inner().node_id;
        self.ctx
            .node
            .transfer_leader(to)
            .await
            .map_err(grpc_error::propose)?;
        Ok(Response::new(v1::TransferLeaderResponse {}))
    }

    async fn trigger_snapshot(
        &self,
        _req: Request<v1::TriggerSnapshotRequest>,
    ) -> Result<Response<v1::TriggerSnapshotResponse>, Status> {
        self.ctx
            .node
            .trigger_snapshot()
            .await
            .map_err(grpc_error::propose)?;
        Ok(Response::new(v1::TriggerSnapshotResponse {}))
    }
}
