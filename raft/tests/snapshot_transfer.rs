//! Snapshot streams and cluster ids over gRPC on 127.0.0.1, with a hand-driven client: a
//! corrupted or truncated stream is refused and installs nothing, a stream cut off leaves no
//! staging directory behind (nor after a restart), and a node of another cluster is refused on
//! every call and never joins.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openraft::async_runtime::watch::WatchReceiver;
use tally_ledger::{Account, Command, Transfer};
use tally_proto::v1;
use tally_proto::v1::raft_client::RaftClient;
use tally_proto::v1::snapshot_chunk::Chunk;
use tally_raft::net::CLUSTER_ID_KEY;
use tally_raft::state_machine::Snapshot;
use tally_raft::types::Vote;
use tally_raft::{NodeOptions, RaftNode, Request, RocksOptions, StateMachineOptions};
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

const BOUND: Duration = Duration::from_secs(20);
const CLUSTER: u128 = 0x7a11_0000_0000_0000_0000_0000_0000_0007;
const OTHER: u128 = 0x0bad_0000_0000_0000_0000_0000_0000_0001;

fn options(cluster_id: u128) -> NodeOptions {
    let mut opts = NodeOptions {
        sm: StateMachineOptions {
            rocks: RocksOptions {
                block_cache_bytes: 1 << 20,
                write_buffer_bytes: 1 << 20,
                ..RocksOptions::default()
            },
            ..StateMachineOptions::default()
        },
        ..NodeOptions::default()
    };
    opts.net.cluster_id = cluster_id;
    opts
}

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

async fn write(node: &RaftNode, cmd: &Command) -> u64 {
    tokio::time::timeout(BOUND, async {
        loop {
            match node.raft().client_write(Request::new(now_ns(), cmd)).await {
                Ok(r) => return r.log_id.index,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
    .expect("write commits in time")
}

/// A one-node cluster with some accounts and transfers, and a snapshot of all of it.
async fn leader_with_snapshot(dir: &Path) -> (RaftNode, Snapshot, Vote) {
    let n1 = RaftNode::start(1, dir, localhost(), &options(CLUSTER))
        .await
        .unwrap();
    n1.initialize(BTreeMap::from([(1, n1.node())]))
        .await
        .unwrap();
    let accounts = (1..=8)
        .map(|id| Account {
            id,
            ledger: 1,
            code: 1,
            ..Account::default()
        })
        .collect();
    write(&n1, &Command::CreateAccounts(accounts)).await;
    let mut last = 0;
    for batch in 0..4u128 {
        let transfers = (0..200u128)
            .map(|i| Transfer {
                id: batch * 1000 + i + 1,
                debit_account_id: 1 + i % 8,
                credit_account_id: 1 + (i + 1) % 8,
                amount: 1 + i,
                ledger: 1,
                code: 1,
                ..Transfer::default()
            })
            .collect();
        last = write(&n1, &Command::CreateTransfers(transfers)).await;
    }
    n1.raft().trigger().snapshot().await.unwrap();
    n1.raft()
        .wait(Some(BOUND))
        .metrics(|m| m.snapshot.map(|s| s.index) == Some(last), "snapshot")
        .await
        .unwrap();
    let snap = n1.raft().get_snapshot().await.unwrap().expect("built");
    let vote = n1.raft().metrics().borrow_watched().vote;
    (n1, snap, vote)
}

async fn client(node: &RaftNode) -> RaftClient<Channel> {
    let ch = Endpoint::from_shared(format!("http://{}", node.addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    RaftClient::new(ch)
}

fn with_cluster<T>(msg: T, cluster_id: Option<u128>) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.set_timeout(BOUND);
    if let Some(id) = cluster_id {
        r.metadata_mut()
            .insert(CLUSTER_ID_KEY, format!("{id:032x}").parse().unwrap());
    }
    r
}

/// The whole stream for `snap`, in `chunk`-byte pieces (in memory: test snapshots are small).
fn stream_of(
    snap: &Snapshot,
    vote: &Vote,
    cluster_id: u128,
    chunk: usize,
) -> Vec<v1::SnapshotChunk> {
    let data = &snap.snapshot;
    let header = v1::SnapshotHeader {
        vote: tally_raft::codec::to_bytes(vote).unwrap(),
        manifest: data.manifest().encode().unwrap(),
        cluster_id_hi: (cluster_id >> 64) as u64,
        cluster_id_lo: cluster_id as u64,
    };
    let mut out = vec![v1::SnapshotChunk {
        chunk: Some(Chunk::Header(header)),
    }];
    for (i, f) in data.manifest().files.iter().enumerate() {
        let bytes = std::fs::read(data.path().join(&f.name)).unwrap();
        for (k, piece) in bytes.chunks(chunk).enumerate() {
            out.push(v1::SnapshotChunk {
                chunk: Some(Chunk::File(v1::SnapshotFileChunk {
                    file: i as u32,
                    offset: (k * chunk) as u64,
                    data: piece.to_vec(),
                })),
            });
        }
    }
    out
}

async fn send(
    node: &RaftNode,
    msgs: Vec<v1::SnapshotChunk>,
    cluster_id: Option<u128>,
) -> Result<Vec<u8>, tonic::Status> {
    let req = with_cluster(futures_util::stream::iter(msgs), cluster_id);
    let r = client(node).await.install_snapshot(req).await?;
    Ok(r.into_inner().payload)
}

/// What `snapshots/` of a node's data directory holds, sorted.
fn snapshot_dirs(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn applied(node: &RaftNode) -> Option<u64> {
    node.state().state_hash().unwrap().1.map(|l| l.index)
}

async fn shutdown(node: RaftNode) {
    tokio::time::timeout(BOUND, node.shutdown())
        .await
        .expect("shutdown in time")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_corrupted_or_truncated_stream_is_refused_and_installs_nothing() {
    tokio::time::timeout(Duration::from_secs(120), corrupted())
        .await
        .expect("test finishes in time");
}

async fn corrupted() {
    const CHUNK: usize = 16 << 10;
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let (n1, snap, vote) = leader_with_snapshot(dirs[0].path()).await;
    let n2 = RaftNode::start(2, dirs[1].path(), localhost(), &options(CLUSTER))
        .await
        .unwrap();
    let good = stream_of(&snap, &vote, CLUSTER, CHUNK);
    assert!(good.len() > 4, "several chunks: {}", good.len());

    // One flipped byte in the middle of the biggest file.
    let mut flipped = good.clone();
    let victim = flipped
        .iter_mut()
        .filter_map(|c| match &mut c.chunk {
            Some(Chunk::File(f)) => Some(f),
            _ => None,
        })
        .max_by_key(|f| f.data.len())
        .unwrap();
    let mid = victim.data.len() / 2;
    victim.data[mid] ^= 1;
    let e = send(&n2, flipped, Some(CLUSTER)).await.unwrap_err();
    assert_eq!(e.code(), Code::DataLoss, "{e}");
    assert!(e.message().contains("BLAKE3"), "{e}");

    // The last chunk missing.
    let mut truncated = good.clone();
    truncated.pop();
    let e = send(&n2, truncated, Some(CLUSTER)).await.unwrap_err();
    assert_eq!(e.code(), Code::DataLoss, "{e}");

    // Two chunks of one file out of order.
    let mut swapped = good.clone();
    let file_of = |c: &v1::SnapshotChunk| match &c.chunk {
        Some(Chunk::File(f)) => Some(f.file),
        _ => None,
    };
    let j = (1..swapped.len() - 1)
        .find(|&j| file_of(&swapped[j]) == file_of(&swapped[j + 1]))
        .expect("a file of several chunks");
    swapped.swap(j, j + 1);
    let e = send(&n2, swapped, Some(CLUSTER)).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e}");

    assert_eq!(snapshot_dirs(dirs[1].path()), Vec::<String>::new());
    assert_eq!(applied(&n2), None);
    assert!(n2.raft().get_snapshot().await.unwrap().is_none());

    // The same stream unharmed is installed: the refusals above were the damage's doing.
    let payload = send(&n2, good, Some(CLUSTER)).await.unwrap();
    let answer: Result<openraft::raft::SnapshotResponse<tally_raft::TypeConfig>, String> =
        tally_raft::codec::from_bytes(&payload).unwrap();
    answer.unwrap();
    let last = snap.meta.last_log_id.map(|l| l.index);
    assert_eq!(applied(&n2), last);
    assert_eq!(
        n2.state().state_hash().unwrap(),
        n1.state().state_hash().unwrap()
    );
    let name = tally_raft::state_machine::snapshot::store::snapshot_name(&snap.meta);
    assert_eq!(snapshot_dirs(dirs[1].path()), vec![name]);

    shutdown(n1).await;
    shutdown(n2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_interrupted_stream_leaves_nothing_that_passes_for_a_snapshot() {
    tokio::time::timeout(Duration::from_secs(120), interrupted())
        .await
        .expect("test finishes in time");
}

async fn interrupted() {
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let (n1, snap, vote) = leader_with_snapshot(dirs[0].path()).await;
    let n2 = RaftNode::start(2, dirs[1].path(), localhost(), &options(CLUSTER))
        .await
        .unwrap();
    let mut msgs = stream_of(&snap, &vote, CLUSTER, 4 << 10);
    msgs.truncate(msgs.len() / 2);
    // Half the stream, then it stalls (the sender neither finishes nor errs) until aborted.
    let stalled = futures_util::stream::StreamExt::chain(
        futures_util::stream::iter(msgs),
        futures_util::stream::pending(),
    );
    let mut c = client(&n2).await;
    let call = tokio::spawn(async move {
        let _ = c
            .install_snapshot(with_cluster(stalled, Some(CLUSTER)))
            .await;
    });
    let receiving = |dir: &Path| {
        snapshot_dirs(dir)
            .iter()
            .any(|n| n.starts_with("incoming-"))
    };
    tokio::time::timeout(BOUND, async {
        while !receiving(dirs[1].path()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the receiver stages the stream");
    call.abort();
    tokio::time::timeout(BOUND, async {
        while !snapshot_dirs(dirs[1].path()).is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the receiver deletes the staging directory");
    assert_eq!(applied(&n2), None);

    // Whatever a crash mid-stream leaves (here: a staged copy of the whole snapshot, manifest
    // included) is deleted on restart and never served as a snapshot.
    shutdown(n2).await;
    let staged = dirs[1].path().join("snapshots/incoming-1-1");
    std::fs::create_dir(&staged).unwrap();
    for e in std::fs::read_dir(snap.snapshot.path()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), staged.join(e.file_name())).unwrap();
    }
    let n2 = RaftNode::start(2, dirs[1].path(), localhost(), &options(CLUSTER))
        .await
        .unwrap();
    assert!(n2.raft().get_snapshot().await.unwrap().is_none());
    assert_eq!(snapshot_dirs(dirs[1].path()), Vec::<String>::new());
    assert_eq!(applied(&n2), None);
    shutdown(n1).await;
    shutdown(n2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_of_another_cluster_is_refused() {
    tokio::time::timeout(Duration::from_secs(120), foreign())
        .await
        .expect("test finishes in time");
}

async fn foreign() {
    use openraft::errors::RPCError;
    use openraft::network::RPCOption;
    use openraft::{RaftNetworkFactory, RaftNetworkV2};

    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let (n1, snap, vote) = leader_with_snapshot(dirs[0].path()).await;
    let f = RaftNode::start(2, dirs[1].path(), localhost(), &options(OTHER))
        .await
        .unwrap();

    // Raw calls: no id, or another cluster's, are FAILED_PRECONDITION naming the caller's id
    // and never the receiver's own.
    let vote_req = openraft::raft::VoteRequest::<tally_raft::TypeConfig>::new(vote, None);
    let payload = tally_raft::codec::to_bytes(&vote_req).unwrap();
    for id in [None, Some(CLUSTER)] {
        let msg = v1::VoteRequest {
            payload: payload.clone(),
        };
        let e = client(&f)
            .await
            .vote(with_cluster(msg, id))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition, "{e}");
        assert!(!e.message().contains(&format!("{OTHER:032x}")), "{e}");
        if id.is_some() {
            assert!(e.message().contains(&format!("{CLUSTER:032x}")), "{e}");
        }
    }
    // A snapshot stream is refused on the call's id, and on the header's and manifest's ids even
    // when the call's id is forged.
    let msgs = stream_of(&snap, &vote, CLUSTER, 64 << 10);
    let e = send(&f, msgs.clone(), Some(CLUSTER)).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e}");
    let e = send(&f, msgs, Some(OTHER)).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e}");
    let forged_header = stream_of(&snap, &vote, OTHER, 64 << 10);
    let e = send(&f, forged_header, Some(OTHER)).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e}");
    assert!(e.message().contains(&format!("{CLUSTER:032x}")), "{e}");

    // openraft's client of cluster CLUSTER sees the refusal as unreachable (it backs off).
    let mut net = tally_raft::net::RaftNetwork::new(1, options(CLUSTER).net);
    let mut peer = net.new_client(2, &f.node()).await;
    let r = peer
        .vote(vote_req.clone(), RPCOption::new(Duration::from_millis(500)))
        .await;
    assert!(matches!(r, Err(RPCError::Unreachable(_))), "{r:?}");

    // Added as a learner, the foreign node never applies, receives or votes anything, although
    // the leader has purged its log and would send it a snapshot.
    let last = snap.meta.last_log_id.unwrap().index;
    n1.raft().trigger().purge_log(last).await.unwrap();
    // Not blocking: the learner never catches up.
    tokio::time::timeout(BOUND, n1.raft().add_learner(2, f.node(), false))
        .await
        .expect("membership change in time")
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(applied(&f), None);
    let fm = f.raft().metrics().borrow_watched().clone();
    assert_eq!(fm.vote, Vote::new(0, 2), "{fm:?}");
    assert!(fm
        .membership_config
        .membership()
        .voter_ids()
        .next()
        .is_none());
    assert_eq!(snapshot_dirs(dirs[1].path()), Vec::<String>::new());
    let lm = n1.raft().metrics().borrow_watched().clone();
    let matched = lm.replication.as_ref().and_then(|r| r.get(&2).cloned());
    assert_eq!(
        matched,
        Some(None),
        "the leader never matched the foreign node: {lm:?}"
    );
    shutdown(n1).await;
    shutdown(f).await;
}
