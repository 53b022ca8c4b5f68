//! The receiving side: the gRPC service `tally.v1.Raft`, handing each request to the local Raft.
//!
//! A request that does not decode is `INVALID_ARGUMENT`; a Raft error (the local Raft has
//! stopped) travels inside the payload as `Err(text)`, which the sender treats as unreachable.
//! Snapshot chunks are gathered in memory (at most [`NetOptions::max_snapshot_bytes`]) and
//! installed when the last one arrives; a chunk at offset 0 starts over, so a sender that
//! retries after a failure needs no cleanup here.

use std::fmt::Display;
use std::sync::Arc;

use openraft::raft::SnapshotResponse;
use serde::Serialize;
use tally_proto::v1;
use tally_proto::v1::raft_server::RaftServer;
use tokio::sync::Mutex;
use tonic::{Request, Response, Status};

use super::{decode, encode, NetOptions};
use crate::node::Raft;
use crate::sm::{Snapshot, SnapshotData, SnapshotMeta};
use crate::types::{TypeConfig, Vote};

/// The gRPC service `tally.v1.Raft` over one local Raft.
#[derive(Debug, Clone)]
pub struct RaftService {
    raft: Raft,
    opts: Arc<NetOptions>,
    /// The snapshot being received, if any.
    incoming: Arc<Mutex<Option<Incoming>>>,
}

#[derive(Debug)]
struct Incoming {
    /// Encoded `(vote, meta)`, the same in every chunk of one snapshot.
    meta: Vec<u8>,
    data: Vec<u8>,
}

impl RaftService {
    /// The service for `raft`.
    pub fn new(raft: Raft, opts: NetOptions) -> Self {
        Self {
            raft,
            opts: Arc::new(opts),
            incoming: Arc::new(Mutex::new(None)),
        }
    }

    /// The tonic server, with message limits raised from tonic's 4 MiB default to
    /// [`NetOptions::max_message_bytes`].
    pub fn into_server(self) -> RaftServer<Self> {
        let n = self.opts.max_message_bytes;
        RaftServer::new(self)
            .max_decoding_message_size(n)
            .max_encoding_message_size(n)
    }

    /// Adds one chunk; returns the whole snapshot after the last one.
    async fn gather(
        &self,
        chunk: v1::InstallSnapshotRequest,
    ) -> Result<Option<(Vec<u8>, Vec<u8>)>, Status> {
        let mut slot = self.incoming.lock().await;
        if chunk.offset == 0 {
            *slot = Some(Incoming {
                meta: chunk.meta,
                data: Vec::new(),
            });
        } else {
            match &*slot {
                Some(inc) if inc.meta == chunk.meta && inc.data.len() as u64 == chunk.offset => {}
                _ => {
                    *slot = None;
                    return Err(Status::failed_precondition(
                        "snapshot chunk out of order: resend from offset 0",
                    ));
                }
            }
        }
        let inc = slot.as_mut().expect("set above");
        if (inc.data.len() + chunk.data.len()) as u64 > self.opts.max_snapshot_bytes {
            *slot = None;
            return Err(Status::resource_exhausted(format!(
                "snapshot larger than {} bytes",
                self.opts.max_snapshot_bytes
            )));
        }
        inc.data.extend_from_slice(&chunk.data);
        if !chunk.done {
            return Ok(None);
        }
        let inc = slot.take().expect("set above");
        Ok(Some((inc.meta, inc.data)))
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
        let rpc = decode("append request", &request.get_ref().payload).map_err(bad_request)?;
        let payload = answer(self.raft.append_entries(rpc).await)?;
        Ok(Response::new(v1::AppendEntriesResponse { payload }))
    }

    async fn vote(
        &self,
        request: Request<v1::VoteRequest>,
    ) -> Result<Response<v1::VoteResponse>, Status> {
        let rpc = decode("vote request", &request.get_ref().payload).map_err(bad_request)?;
        let payload = answer(self.raft.vote(rpc).await)?;
        Ok(Response::new(v1::VoteResponse { payload }))
    }

    async fn pre_vote(
        &self,
        request: Request<v1::VoteRequest>,
    ) -> Result<Response<v1::VoteResponse>, Status> {
        let rpc = decode("pre-vote request", &request.get_ref().payload).map_err(bad_request)?;
        let payload = answer(self.raft.pre_vote(rpc).await)?;
        Ok(Response::new(v1::VoteResponse { payload }))
    }

    async fn install_snapshot(
        &self,
        request: Request<v1::InstallSnapshotRequest>,
    ) -> Result<Response<v1::InstallSnapshotResponse>, Status> {
        let Some((meta, data)) = self.gather(request.into_inner()).await? else {
            let payload = answer(Ok::<_, String>(None::<SnapshotResponse<TypeConfig>>))?;
            return Ok(Response::new(v1::InstallSnapshotResponse { payload }));
        };
        let (vote, meta): (Vote, SnapshotMeta) =
            decode("snapshot meta", &meta).map_err(bad_request)?;
        // TODO(step 5): check the snapshot's cluster id before this call; openraft panics on a
        // snapshot inconsistent with our vote or committed log (design §5, pitfall 7).
        let snapshot = Snapshot {
            meta,
            snapshot: SnapshotData::from_bytes(data),
        };
        let r = self.raft.install_full_snapshot(vote, snapshot).await;
        let payload = answer(r.map(Some))?;
        Ok(Response::new(v1::InstallSnapshotResponse { payload }))
    }

    async fn transfer_leader(
        &self,
        request: Request<v1::LeaderTransferRequest>,
    ) -> Result<Response<v1::LeaderTransferResponse>, Status> {
        let rpc =
            decode("transfer-leader request", &request.get_ref().payload).map_err(bad_request)?;
        let payload = answer(self.raft.handle_transfer_leader(rpc).await)?;
        Ok(Response::new(v1::LeaderTransferResponse { payload }))
    }
}
