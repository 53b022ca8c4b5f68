//! The sending side: openraft's `RaftNetworkFactory` and `RaftNetworkV2` over tonic.
//!
//! # Errors
//!
//! openraft decides what to do with a failed RPC from its kind, so the mapping matters:
//!
//! - no connection, connection refused or reset (gRPC `UNAVAILABLE`), a bad address, a
//!   receiver whose Raft has stopped, or a receiver of another cluster (`FAILED_PRECONDITION`,
//!   see [`super::CLUSTER_ID_KEY`]), or a receiver that refuses this node as a peer
//!   (`UNAUTHENTICATED`, `PERMISSION_DENIED`): [`Unreachable`]; openraft backs off and retries.
//! - the deadline passed (ours, tonic's `CANCELLED` "Timeout expired" for the same deadline, or
//!   the server's `DEADLINE_EXCEEDED`): [`Timeout`].
//! - anything else (a payload that does not decode, an internal error): [`NetworkError`].
//!
//! None of them is fatal to the sender: a dead peer is retried until it comes back.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::alias::VoteOf;
use openraft::errors::{
    NetworkError, RPCError, ReplicationClosed, StreamingError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RPCTypes};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::{OptionalSend, RaftNetworkFactory, RaftNetworkV2};
use serde::de::DeserializeOwned;
use tally_proto::v1;
use tally_proto::v1::raft_client::RaftClient;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

use super::{cluster_id_value, decode, encode, snapshot, NetOptions, WireError};
use crate::state_machine::{Snapshot, SnapshotData};
use crate::types::{NodeId, TallyNode, TypeConfig};

type C = TypeConfig;
type RpcResult<T> = Result<T, RPCError<C>>;

/// Which connection to a peer an RPC rides on: a snapshot transfer or a large append never
/// queues in front of a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Lane {
    Append,
    Heartbeat,
    Snapshot,
}

/// openraft's network factory: keeps one lazily connected `Channel` per (peer, lane) and hands
/// out clients over it. A channel reconnects by itself after the peer restarts; it is replaced
/// only when the peer's address in the membership changes.
#[derive(Debug)]
pub struct RaftNetwork {
    id: NodeId,
    opts: Arc<NetOptions>,
    channels: HashMap<(NodeId, Lane), (String, Channel)>,
}

impl RaftNetwork {
    /// The network of node `id`.
    pub fn new(id: NodeId, opts: NetOptions) -> Self {
        Self {
            id,
            opts: Arc::new(opts),
            channels: HashMap::new(),
        }
    }

    fn client(&mut self, target: NodeId, node: &TallyNode, lane: Lane) -> PeerClient {
        // A fault-injection harness may route this node's traffic to `target` through a proxy.
        let addr = self.opts.peer_via.get(&target).unwrap_or(&node.addr);
        let channel = match self.channels.get(&(target, lane)) {
            Some((a, ch)) if a == addr => Ok(ch.clone()),
            _ => endpoint(addr, &self.opts).map(|e| {
                let ch = match &self.opts.tls {
                    // The connector reads the TLS configuration at each connect, so a
                    // reconnect after a reload presents the new certificate.
                    Some(tls) => e.connect_with_connector_lazy(tls.connector()),
                    None => e.connect_lazy(),
                };
                self.channels
                    .insert((target, lane), (addr.clone(), ch.clone()));
                ch
            }),
        };
        let n = self.opts.max_message_bytes;
        PeerClient {
            id: self.id,
            target,
            cluster_id: cluster_id_value(self.opts.cluster_id),
            opts: self.opts.clone(),
            client: channel.map(|ch| {
                RaftClient::new(ch)
                    .max_decoding_message_size(n)
                    .max_encoding_message_size(n)
            }),
        }
    }
}

fn endpoint(addr: &str, opts: &NetOptions) -> Result<Endpoint, String> {
    Endpoint::from_shared(format!("http://{addr}"))
        .map(|e| e.connect_timeout(opts.connect_timeout).tcp_nodelay(true))
        .map_err(|e| format!("bad peer address {addr:?}: {e}"))
}

impl RaftNetworkFactory<C> for RaftNetwork {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &TallyNode) -> PeerClient {
        self.client(target, node, Lane::Append)
    }

    async fn new_heartbeat_client(&mut self, target: NodeId, node: &TallyNode) -> PeerClient {
        self.client(target, node, Lane::Heartbeat)
    }

    async fn new_snapshot_client(&mut self, target: NodeId, node: &TallyNode) -> PeerClient {
        self.client(target, node, Lane::Snapshot)
    }
}

/// openraft's connection to one peer: a tonic client over the factory's shared channel.
#[derive(Debug)]
pub struct PeerClient {
    id: NodeId,
    target: NodeId,
    /// [`super::CLUSTER_ID_KEY`]'s value, sent with every call.
    cluster_id: AsciiMetadataValue,
    opts: Arc<NetOptions>,
    /// `Err` when the peer's address does not parse: every RPC is then unreachable.
    client: Result<RaftClient<Channel>, String>,
}

impl PeerClient {
    fn client(&self) -> RpcResult<RaftClient<Channel>> {
        self.client
            .clone()
            .map_err(|e| RPCError::Unreachable(Unreachable::from_string(e)))
    }

    /// openraft's hint, raised to our floor.
    fn deadline(&self, option: &RPCOption) -> Duration {
        option.hard_ttl().max(self.opts.rpc_timeout)
    }

    fn timeout(&self, action: RPCTypes, timeout: Duration) -> RPCError<C> {
        RPCError::Timeout(Timeout {
            action,
            id: self.id,
            target: self.target,
            timeout,
        })
    }

    /// Runs one call (unary, or the snapshot stream) under `ttl` and decodes its
    /// `Result<T, String>` payload.
    async fn finish<T, F>(&self, action: RPCTypes, ttl: Duration, call: F) -> RpcResult<T>
    where
        T: DeserializeOwned,
        F: Future<Output = Result<Vec<u8>, tonic::Status>>,
    {
        let start = Instant::now();
        let payload = match tokio::time::timeout(ttl, call).await {
            Err(_elapsed) => return Err(self.timeout(action, ttl)),
            // tonic enforces the request's timeout itself and reports it as `CANCELLED`
            // ("Timeout expired"), usually just before ours fires.
            Ok(Err(_)) if start.elapsed() >= ttl => return Err(self.timeout(action, ttl)),
            Ok(Err(status)) => return Err(self.status_error(action, ttl, status)),
            Ok(Ok(payload)) => payload,
        };
        match decode::<Result<T, String>>("response", &payload).map_err(network)? {
            Ok(t) => Ok(t),
            // The receiver's Raft has stopped (its only error): like a node that is down.
            Err(remote) => Err(RPCError::Unreachable(Unreachable::from_string(format!(
                "node {}: {remote}",
                self.target
            )))),
        }
    }

    fn status_error(&self, action: RPCTypes, ttl: Duration, s: tonic::Status) -> RPCError<C> {
        match s.code() {
            Code::DeadlineExceeded => self.timeout(action, ttl),
            // Another cluster's node will not become ours by retrying at once.
            Code::Unavailable
            | Code::FailedPrecondition
            | Code::Unauthenticated
            | Code::PermissionDenied => RPCError::Unreachable(Unreachable::new(&s)),
            _ => RPCError::Network(NetworkError::new(&s)),
        }
    }

    /// One call with the request's deadline and our cluster id.
    fn request<T>(&self, msg: T, ttl: Duration) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        // The server sees the same deadline (`grpc-timeout`) and gives up with us.
        r.set_timeout(ttl);
        r.metadata_mut()
            .insert(super::CLUSTER_ID_KEY, self.cluster_id.clone());
        if let Some(secret) = &self.opts.cluster_secret {
            r.metadata_mut()
                .insert(super::CLUSTER_SECRET_KEY, secret.value.clone());
        }
        r
    }

    /// Streams `snapshot` from disk in one `InstallSnapshot` call. Its deadline covers the
    /// whole transfer at `min_snapshot_bytes_per_sec` plus the install on the receiver.
    async fn send_snapshot(
        &self,
        vote: VoteOf<C>,
        snapshot: Snapshot,
    ) -> RpcResult<SnapshotResponse<C>> {
        let data: SnapshotData = snapshot.snapshot;
        let rate = self.opts.min_snapshot_bytes_per_sec.max(1);
        let ttl = self.opts.rpc_timeout
            + Duration::from_secs_f64(data.total_bytes() as f64 / rate as f64)
            + self.opts.snapshot_install_timeout;
        let failed: snapshot::ReadError = Arc::new(Mutex::new(None));
        let stream = snapshot::outgoing(&vote, data, &self.opts, failed.clone())
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut client = self.client()?;
        let req = self.request(stream, ttl);
        let call = async move {
            let r = client.install_snapshot(req).await?;
            Ok(r.into_inner().payload)
        };
        let r = self.finish(RPCTypes::InstallSnapshot, ttl, call).await;
        // A local read error ended the stream early; it explains the receiver's refusal.
        let local = failed.lock().ok().and_then(|mut e| e.take());
        match local {
            Some(e) => Err(RPCError::Network(NetworkError::new(&e))),
            None => r,
        }
    }
}

fn network(e: WireError) -> RPCError<C> {
    RPCError::Network(NetworkError::new(&e))
}

fn streaming(e: RPCError<C>) -> StreamingError<C> {
    match e {
        RPCError::Timeout(t) => StreamingError::Timeout(t),
        RPCError::Unreachable(u) => StreamingError::Unreachable(u),
        RPCError::Network(n) => StreamingError::Network(n),
        RPCError::RemoteError(r) => StreamingError::Network(NetworkError::new(&r)),
    }
}

impl RaftNetworkV2<C> for PeerClient {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<C>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<C>> {
        let payload = encode("append request", &rpc).map_err(network)?;
        let (mut client, ttl) = (self.client()?, self.deadline(&option));
        let req = self.request(v1::AppendEntriesRequest { payload }, ttl);
        let call = async move {
            let r = client.append_entries(req).await?;
            Ok(r.into_inner().payload)
        };
        self.finish(RPCTypes::AppendEntries, ttl, call).await
    }

    async fn vote(&mut self, rpc: VoteRequest<C>, option: RPCOption) -> RpcResult<VoteResponse<C>> {
        let payload = encode("vote request", &rpc).map_err(network)?;
        let (mut client, ttl) = (self.client()?, self.deadline(&option));
        let req = self.request(v1::VoteRequest { payload }, ttl);
        let call = async move {
            let r = client.vote(req).await?;
            Ok(r.into_inner().payload)
        };
        self.finish(RPCTypes::Vote, ttl, call).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<C>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<C>> {
        let payload = encode("pre-vote request", &rpc).map_err(network)?;
        let (mut client, ttl) = (self.client()?, self.deadline(&option));
        let req = self.request(v1::VoteRequest { payload }, ttl);
        let call = async move {
            let r = client.pre_vote(req).await?;
            Ok(r.into_inner().payload)
        };
        self.finish(RPCTypes::Vote, ttl, call).await
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<C>,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<C>, StreamingError<C>> {
        // openraft's hint has no notion of the snapshot's size: the stream's deadline comes
        // from `NetOptions`. `cancel` drops the call, which resets the HTTP/2 stream; the
        // receiver then deletes what it had received.
        tokio::select! {
            r = self.send_snapshot(vote, snapshot) => r.map_err(streaming),
            closed = cancel => Err(StreamingError::Closed(closed)),
        }
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<C>,
        option: RPCOption,
    ) -> RpcResult<TransferLeaderResponse<C>> {
        let payload = encode("transfer-leader request", &req).map_err(network)?;
        let (mut client, ttl) = (self.client()?, self.deadline(&option));
        let req = self.request(v1::LeaderTransferRequest { payload }, ttl);
        let call = async move {
            let r = client.transfer_leader(req).await?;
            Ok(r.into_inner().payload)
        };
        self.finish(RPCTypes::TransferLeader, ttl, call).await
    }
}
