//! The receiving side: the gRPC service `tally.v1.Raft`, handing each request to the local Raft.
//!
//! Every call is first checked for the peer credential (the module docs' "Peer
//! authentication": `UNAUTHENTICATED` or `PERMISSION_DENIED`), then for our cluster id ([`super::CLUSTER_ID_KEY`]); a missing or
//! different one is `FAILED_PRECONDITION`. A request that does not decode is `INVALID_ARGUMENT`;
//! a Raft error (the local Raft has stopped) travels inside the payload as `Err(text)`, which
//! the sender treats as unreachable. A snapshot stream is received into the state machine's
//! [`SnapshotStore`] (looked up once through openraft's `with_state_machine`, so the service
//! needs nothing but the Raft handle), checked file by file, and only then given to
//! `install_full_snapshot`; a refused or broken stream leaves nothing behind.

use std::fmt::Display;
use std::sync::Arc;

use openraft::raft::AppendEntriesResponse;
use serde::Serialize;
use tally_proto::v1;
use tally_proto::v1::raft_server::RaftServer;
use tokio::sync::OnceCell;
use tonic::{Request, Response, Status, Streaming};

use super::{check_cluster_id, check_peer, decode, encode, snapshot, NetOptions};
use crate::consensus::LeaderContact;
use crate::raft_node::Raft;
use crate::state_machine::{LedgerStateMachine, SnapshotStore};

/// The gRPC service `tally.v1.Raft` over one local Raft.
#[derive(Debug, Clone)]
pub struct RaftService {
    raft: Raft,
    opts: Arc<NetOptions>,
    /// The state machine's snapshot directories, looked up on the first snapshot received.
    snapshots: Arc<OnceCell<Arc<SnapshotStore>>>,
    /// Touched whenever an append from a current leader is accepted.
    contact: Arc<LeaderContact>,
}

impl RaftService {
    /// The service for `raft`.
    pub fn new(raft: Raft, opts: NetOptions) -> Self {
        Self {
            raft,
            opts: Arc::new(opts),
            snapshots: Arc::new(OnceCell::new()),
            contact: Arc::default(),
        }
    }

    /// The same service, recording accepted appends in `contact`.
    pub fn with_contact(mut self, contact: Arc<LeaderContact>) -> Self {
        self.contact = contact;
        self
    }

    /// The tonic server, with message limits raised from tonic's 4 MiB default to
    /// [`NetOptions::max_message_bytes`].
    pub fn into_server(self) -> RaftServer<Self> {
        let n = self.opts.max_message_bytes;
        RaftServer::new(self)
            .max_decoding_message_size(n)
            .max_encoding_message_size(n)
    }

    fn check<T>(&self, request: &Request<T>) -> Result<(), Status> {
        check_peer(request, &self.opts)?;
        check_cluster_id(request.metadata(), self.opts.cluster_id)
    }

    async fn snapshot_store(&self) -> Result<Arc<SnapshotStore>, Status> {
        let store = self
            .snapshots
            .get_or_try_init(|| async {
                self.raft
                    .with_state_machine(|sm: &mut LedgerStateMachine| {
                        let store = sm.snapshot_store();
                        Box::pin(async move { store })
                    })
                    .await
                    .map_err(|e| Status::unavailable(format!("raft stopped: {e}")))
            })
            .await?;
        Ok(store.clone())
    }
}

fn bad_request(e: impl Display) -> Status {
    Status::invalid_argument(e.to_string())
}

/// Encodes a Raft answer as `Result<T, String>`.
fn answer<T: Serialize, E: Display>(r: Result<T, E>) -> Result<Vec<u8>, Status> {
    let r = r.map_err(|e| e.to_string());
    encode("response", &r).map_err(|e| Status::internal(e.to_string()))
}

#[tonic::async_trait]
impl v1::raft_server::Raft for RaftService {
    async fn append_entries(
        &self,
        request: Request<v1::AppendEntriesRequest>,
    ) -> Result<Response<v1::AppendEntriesResponse>, Status> {
        self.check(&request)?;
        let rpc = decode("append request", &request.get_ref().payload).map_err(bad_request)?;
        let r = self.raft.append_entries(rpc).await;
        if matches!(&r, Ok(a) if !matches!(a, AppendEntriesResponse::HigherVote(_))) {
            self.contact.touch();
        }
        let payload = answer(r)?;
        Ok(Response::new(v1::AppendEntriesResponse { payload }))
    }

    async fn vote(
        &self,
        request: Request<v1::VoteRequest>,
    ) -> Result<Response<v1::VoteResponse>, Status> {
        self.check(&request)?;
        let rpc = decode("vote request", &request.get_ref().payload).map_err(bad_request)?;
        let payload = answer(self.raft.vote(rpc).await)?;
        Ok(Response::new(v1::VoteResponse { payload }))
    }

    async fn pre_vote(
        &self,
        request: Request<v1::VoteRequest>,
    ) -> Result<Response<v1::VoteResponse>, Status> {
        self.check(&request)?;
        let rpc = decode("pre-vote request", &request.get_ref().payload).map_err(bad_request)?;
        let payload = answer(self.raft.pre_vote(rpc).await)?;
        Ok(Response::new(v1::VoteResponse { payload }))
    }

    async fn install_snapshot(
        &self,
        request: Request<Streaming<v1::SnapshotChunk>>,
    ) -> Result<Response<v1::InstallSnapshotResponse>, Status> {
        self.check(&request)?;
        let store = self.snapshot_store().await?;
        // Checks the cluster id in the header and the manifest, and every file's size and sum,
        // before openraft sees the snapshot: it panics on an inconsistent one (design §5,
        // pitfall 7).
        let (vote, snapshot) = snapshot::receive(request.into_inner(), store, &self.opts).await?;
        let payload = answer(self.raft.install_full_snapshot(vote, snapshot).await)?;
        Ok(Response::new(v1::InstallSnapshotResponse { payload }))
    }

    async fn transfer_leader(
        &self,
        request: Request<v1::LeaderTransferRequest>,
    ) -> Result<Response<v1::LeaderTransferResponse>, Status> {
        self.check(&request)?;
        let rpc =
            decode("transfer-leader request", &request.get_ref().payload).map_err(bad_request)?;
        let payload = answer(self.raft.handle_transfer_leader(rpc).await)?;
        Ok(Response::new(v1::LeaderTransferResponse { payload }))
    }
}
