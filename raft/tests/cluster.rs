//! A 3-node cluster over gRPC on 127.0.0.1: elect, write through the leader, every node applies
//! the same entries and ends with the same state hash; then the leader stops, the other two
//! elect a new one, take writes and converge.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openraft::async_runtime::watch::WatchReceiver;
use tally_ledger::{Account, Command, CreateAccountResult, CreateTransferResult, Transfer};
use tally_raft::{
    NodeId, NodeOptions, RaftNode, Request, Response, RocksOptions, StateMachineOptions,
};

const BOUND: Duration = Duration::from_secs(20);
const ACCOUNTS: u128 = 8;

fn options() -> NodeOptions {
    NodeOptions {
        sm: StateMachineOptions {
            rocks: RocksOptions {
                block_cache_bytes: 1 << 20,
                write_buffer_bytes: 1 << 20,
                ..RocksOptions::default()
            },
            ..StateMachineOptions::default()
        },
        ..NodeOptions::default()
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Waits (bounded) until one of `nodes` reports a leader among `nodes`, and returns its index.
async fn wait_leader(nodes: &[&RaftNode]) -> usize {
    let ids: Vec<NodeId> = nodes.iter().map(|n| n.id()).collect();
    tokio::time::timeout(BOUND, async {
        loop {
            for n in nodes {
                let m = n.raft().metrics().borrow_watched().clone();
                if let Some(l) = m.current_leader.filter(|l| ids.contains(l)) {
                    let i = ids.iter().position(|id| *id == l).unwrap();
                    // The leader itself must agree it leads (its term's blank entry committed).
                    let lm = nodes[i].raft().metrics().borrow_watched().clone();
                    if lm.current_leader == Some(l) && lm.state.is_leader() {
                        return i;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a leader is elected in time")
}

/// Writes `cmd` through `leader`, retrying (bounded) while a fresh leader refuses writes until
/// its lease is established (design §5, pitfall 3).
async fn write(leader: &RaftNode, cmd: &Command) -> (u64, Response) {
    tokio::time::timeout(BOUND, async {
        loop {
            match leader
                .raft()
                .client_write(Request::new(now_ns(), cmd))
                .await
            {
                Ok(r) => return (r.log_id.index, r.data),
                Err(e) => {
                    eprintln!("write on node {} retried: {e}", leader.id());
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    })
    .await
    .expect("write commits in time")
}

/// Waits (bounded) until every node applied `index`, then returns their state hashes.
async fn converge(nodes: &[&RaftNode], index: u64) -> Vec<[u8; 32]> {
    let mut hashes = vec![];
    for n in nodes {
        n.raft()
            .wait(Some(BOUND))
            .applied_index_at_least(Some(index), "applied")
            .await
            .unwrap_or_else(|e| panic!("node {} applies {index}: {e}", n.id()));
        let (hash, applied) = n.state().state_hash().unwrap();
        // Nothing else is being written, so every node stopped exactly at `index`.
        assert_eq!(applied.map(|l| l.index), Some(index), "node {}", n.id());
        hashes.push(hash);
    }
    hashes
}

fn accounts() -> Command {
    Command::CreateAccounts(
        (1..=ACCOUNTS)
            .map(|id| Account {
                id,
                ledger: 1,
                code: 1,
                ..Account::default()
            })
            .collect(),
    )
}

fn transfers(batch: u128, n: u128) -> Command {
    Command::CreateTransfers(
        (0..n)
            .map(|i| Transfer {
                id: batch * 1000 + i + 1,
                debit_account_id: 1 + (batch + i) % ACCOUNTS,
                credit_account_id: 1 + (batch + i + 1) % ACCOUNTS,
                amount: 10 + i,
                ledger: 1,
                code: 1,
                ..Transfer::default()
            })
            .collect(),
    )
}

fn assert_all_ok(resp: &Response) {
    match resp {
        Response::Accounts(r) => {
            let codes = &r.codes;
            let ok = CreateAccountResult::Ok.as_u32();
            assert!(codes.iter().all(|c| *c == ok), "{codes:?}");
            assert!(!codes.is_empty());
        }
        Response::Transfers(r) => {
            let codes = &r.codes;
            let ok = CreateTransferResult::Ok.as_u32();
            assert!(codes.iter().all(|c| *c == ok), "{codes:?}");
            assert!(!codes.is_empty());
        }
        other => panic!("unexpected response {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_replicate_and_fail_over() {
    tokio::time::timeout(Duration::from_secs(120), run())
        .await
        .expect("cluster test finishes in time");
}

async fn run() {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let opts = options();
    let mut nodes = vec![];
    for (i, dir) in dirs.iter().enumerate() {
        let node = RaftNode::start(i as u64 + 1, dir.path(), localhost(), &opts)
            .await
            .unwrap();
        assert!(node.addr().ip().is_loopback());
        nodes.push(node);
    }
    let members: BTreeMap<NodeId, _> = nodes.iter().map(|n| (n.id(), n.node())).collect();
    nodes[0].initialize(members).await.unwrap();

    let all: Vec<&RaftNode> = nodes.iter().collect();
    let leader = wait_leader(&all).await;
    println!("leader: node {}", nodes[leader].id());

    let (_, resp) = write(&nodes[leader], &accounts()).await;
    assert_all_ok(&resp);
    let mut last = 0;
    for batch in 0..5 {
        let (index, resp) = write(&nodes[leader], &transfers(batch, 20)).await;
        assert_all_ok(&resp);
        assert!(index > last);
        last = index;
    }
    let hashes = converge(&all, last).await;
    assert!(hashes.iter().all(|h| *h == hashes[0]), "{hashes:?}");

    // Stop the leader; the other two elect a new one.
    let old = nodes.remove(leader);
    let old_id = old.id();
    let stopped = Instant::now();
    tokio::time::timeout(BOUND, old.shutdown())
        .await
        .expect("shutdown in time")
        .unwrap();
    let shutdown = stopped.elapsed();
    let rest: Vec<&RaftNode> = nodes.iter().collect();
    let leader = wait_leader(&rest).await;
    println!(
        "failover: node {} leads {:?} after node {old_id} began to stop ({shutdown:?} of that \
         was the old leader's shutdown)",
        rest[leader].id(),
        stopped.elapsed()
    );
    assert_ne!(rest[leader].id(), old_id);

    let mut last_after = last;
    for batch in 5..8 {
        let (index, resp) = write(rest[leader], &transfers(batch, 20)).await;
        assert_all_ok(&resp);
        assert!(index > last_after);
        last_after = index;
    }
    let after = converge(&rest, last_after).await;
    assert_eq!(after[0], after[1]);
    assert_ne!(after[0], hashes[0], "the new writes changed the state");

    for n in nodes {
        tokio::time::timeout(BOUND, n.shutdown())
            .await
            .expect("shutdown in time")
            .unwrap();
    }
    drop(dirs);
}

/// A learner that joins after the log was purged catches up from a snapshot sent over gRPC in
/// many small chunks, and ends with the leader's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn learner_catches_up_from_chunked_snapshot() {
    tokio::time::timeout(Duration::from_secs(120), snapshot_to_learner())
        .await
        .expect("snapshot test finishes in time");
}

async fn snapshot_to_learner() {
    const CHUNK: usize = 4096;
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut opts = options();
    opts.net.snapshot_chunk_bytes = CHUNK;
    let n1 = RaftNode::start(1, dirs[0].path(), localhost(), &opts)
        .await
        .unwrap();
    n1.initialize(BTreeMap::from([(1, n1.node())]))
        .await
        .unwrap();
    wait_leader(&[&n1]).await;
    write(&n1, &accounts()).await;
    let mut last = 0;
    for batch in 0..4 {
        let (index, resp) = write(&n1, &transfers(batch, 50)).await;
        assert_all_ok(&resp);
        last = index;
    }

    n1.raft().trigger().snapshot().await.unwrap();
    n1.raft()
        .wait(Some(BOUND))
        .metrics(
            |m| m.snapshot.map(|s| s.index) == Some(last),
            "snapshot built",
        )
        .await
        .unwrap();
    n1.raft().trigger().purge_log(last).await.unwrap();
    n1.raft()
        .wait(Some(BOUND))
        .metrics(|m| m.purged.map(|p| p.index) == Some(last), "log purged")
        .await
        .unwrap();
    let size = {
        let snap = n1.raft().get_snapshot().await.unwrap().expect("a snapshot");
        snap.snapshot.total_bytes() as usize
    };
    println!("snapshot: {size} bytes, {} chunks", size.div_ceil(CHUNK));
    assert!(size > 2 * CHUNK, "the transfer takes several chunks");

    let n2 = RaftNode::start(2, dirs[1].path(), localhost(), &opts)
        .await
        .unwrap();
    // The learner's membership entry comes after the snapshot: n2 gets the snapshot, then it.
    let joined = n1.raft().add_learner(2, n2.node(), false).await.unwrap();
    let hashes = converge(&[&n1, &n2], joined.log_id.index).await;
    assert_eq!(hashes[0], hashes[1]);
    let m = n2.raft().metrics().borrow_watched().clone();
    assert_eq!(
        m.snapshot.map(|s| s.index),
        Some(last),
        "n2 installed a snapshot"
    );
    // The received snapshot is n2's current one, on disk: it survives a restart.
    let received = n2.raft().get_snapshot().await.unwrap().expect("a snapshot");
    assert_eq!(received.meta.last_log_id.map(|l| l.index), Some(last));
    received
        .snapshot
        .manifest()
        .verify(received.snapshot.path())
        .unwrap();
    let received = received.meta;
    tokio::time::timeout(BOUND, n2.shutdown())
        .await
        .expect("shutdown in time")
        .unwrap();
    // The stores close when the last handle goes.
    drop(n2);
    let n2 = RaftNode::start(2, dirs[1].path(), localhost(), &opts)
        .await
        .unwrap();
    let again = n2.raft().get_snapshot().await.unwrap().expect("kept");
    assert_eq!(again.meta, received);
    let (hash, _) = n2.state().state_hash().unwrap();
    assert_eq!(hash, hashes[1]);

    for n in [n1, n2] {
        tokio::time::timeout(BOUND, n.shutdown())
            .await
            .expect("shutdown in time")
            .unwrap();
    }
    drop(dirs);
}

fn append_request() -> openraft::raft::AppendEntriesRequest<tally_raft::TypeConfig> {
    openraft::raft::AppendEntriesRequest {
        vote: openraft::alias::VoteOf::<tally_raft::TypeConfig>::new(1, 1),
        prev_log_id: None,
        entries: vec![],
        leader_commit: None,
    }
}

/// A peer that accepts the connection and never answers costs one deadline (openraft's hint
/// raised to `rpc_timeout`) and is reported as a timeout; a closed port is unreachable. Neither
/// is fatal: the next call on the same client tries again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_errors_are_bounded_and_retryable() {
    use openraft::errors::RPCError;
    use openraft::network::RPCOption;
    use openraft::{RaftNetworkFactory, RaftNetworkV2};
    use tally_raft::net::RaftNetwork;
    use tally_raft::{NetOptions, TallyNode};

    let net_opts = NetOptions {
        rpc_timeout: Duration::from_millis(300),
        ..NetOptions::default()
    };
    let mut net = RaftNetwork::new(1, net_opts);

    // Stalled: the kernel completes the TCP handshake from the backlog; nobody reads.
    let stalled = tokio::net::TcpListener::bind(localhost()).await.unwrap();
    let node = TallyNode {
        addr: stalled.local_addr().unwrap().to_string(),
    };
    let mut client = net.new_client(2, &node).await;
    for _ in 0..2 {
        let t0 = Instant::now();
        let r = client
            .append_entries(append_request(), RPCOption::new(Duration::from_millis(50)))
            .await;
        let took = t0.elapsed();
        assert!(matches!(r, Err(RPCError::Timeout(_))), "{r:?}");
        assert!(took >= Duration::from_millis(300), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    // Closed port: bind, learn the port, close.
    let closed = {
        let l = std::net::TcpListener::bind(localhost()).unwrap();
        l.local_addr().unwrap()
    };
    let node = TallyNode {
        addr: closed.to_string(),
    };
    let mut client = net.new_client(3, &node).await;
    for _ in 0..2 {
        let r = client
            .vote(
                openraft::raft::VoteRequest::new(
                    openraft::alias::VoteOf::<tally_raft::TypeConfig>::new(1, 1),
                    None,
                ),
                RPCOption::new(Duration::from_millis(50)),
            )
            .await;
        assert!(matches!(r, Err(RPCError::Unreachable(_))), "{r:?}");
    }
    drop(stalled);
}

/// A linearizable read does not wait for an entry that is committed but still being applied:
/// that entry has been acknowledged to nobody, so the read may be ordered before it. The read
/// sees every acknowledged write, not the one in flight; once that write is acknowledged, the
/// next read sees it. (Before, the barrier waited for the commit index to be applied, so under
/// load every read waited out the entries being applied.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_linearizable_read_does_not_wait_for_an_entry_being_applied() {
    tokio::time::timeout(Duration::from_secs(60), read_during_apply())
        .await
        .expect("test finishes in time");
}

async fn read_during_apply() {
    use std::sync::mpsc;
    use tally_ledger::query::lookup_accounts;

    let dir = tempfile::tempdir().unwrap();
    let node = RaftNode::start(1, dir.path(), localhost(), &options())
        .await
        .unwrap();
    node.initialize([(node.id(), node.node())].into())
        .await
        .unwrap();
    wait_leader(&[&node]).await;
    assert_all_ok(&write(&node, &accounts()).await.1);
    assert_all_ok(&write(&node, &transfers(0, 20)).await.1);
    let ids: Vec<u128> = (1..=ACCOUNTS).collect();
    let read = |node: &RaftNode| {
        node.state()
            .read(|kv| lookup_accounts(kv, &ids))
            .unwrap()
            .unwrap()
    };
    node.read_barrier(BOUND).await.unwrap();
    let acknowledged = read(&node);

    // Hold the state lock, as a long apply would: the next entry commits but cannot apply.
    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let state = node.state().clone();
    let holder = std::thread::spawn(move || {
        state.with_ledger(|_| {
            held_tx.send(()).unwrap();
            let _ = release_rx.recv_timeout(Duration::from_secs(30));
        })
    });
    held_rx.recv_timeout(BOUND).unwrap();
    let last = node.raft().metrics().borrow_watched().last_log_index;
    let raft = node.raft().clone();
    let in_flight = tokio::spawn(async move {
        raft.client_write(Request::new(now_ns(), &transfers(1, 20)))
            .await
            .map(|r| r.data)
    });
    // Wait until the entry is committed (one node: as soon as it is on disk).
    tokio::time::timeout(BOUND, async {
        loop {
            let m = node.raft().metrics().borrow_watched().clone();
            if m.local_committed.map(|c| c.index) > last {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the entry commits");

    let t0 = Instant::now();
    node.read_barrier(Duration::from_secs(5))
        .await
        .expect("the barrier does not wait for the entry being applied");
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert_eq!(
        read(&node),
        acknowledged,
        "the unacknowledged write is not visible"
    );
    assert!(!in_flight.is_finished(), "the write is still being applied");

    release_tx.send(()).unwrap();
    holder.join().unwrap().unwrap();
    assert_all_ok(&in_flight.await.unwrap().unwrap());
    node.read_barrier(BOUND).await.unwrap();
    assert_ne!(
        read(&node),
        acknowledged,
        "the acknowledged write is visible"
    );
    tokio::time::timeout(BOUND, node.shutdown())
        .await
        .expect("shutdown in time")
        .unwrap();
}
