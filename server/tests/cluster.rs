//! Three nodes in one process, over real gRPC on 127.0.0.1: writes through the leader, a
//! follower's redirect, stale and linearizable reads, convergence to one state hash, a
//! graceful leader handover, catch-up by snapshot after the log was purged, and membership
//! changes under write load with no acknowledged transfer lost.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use tally_proto::v1::{self, CreateTransferResult as Tr};
use tally_proto::{u128_from_wire, u128_to_wire};
use tally_server::config::Config;
use tally_server::Node;
use tonic::Code;

const CLUSTER: u128 = 0x7a11_0000_0000_0000_0000_0000_0000_0001;

fn configs(dir: &std::path::Path, ports: &[u16], tweak: impl Fn(&mut Config)) -> Vec<Config> {
    (1..=ports.len() as u64)
        .map(|id| {
            let mut c = cluster_config(dir, id, ports, CLUSTER);
            tweak(&mut c);
            c
        })
        .collect()
}

/// Waits until every running node has applied the same index and returns the common hash.
async fn converged(nodes: &[Option<Node>]) -> [u8; 32] {
    tokio::time::timeout(BOUND, async {
        loop {
            let h = hashes(nodes);
            let first = *h.values().next().unwrap();
            if h.values().all(|v| *v == first) {
                return first.0;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("nodes did not converge: {:?}", hashes(nodes)))
}

/// Creates transfers through `addr`, following leader hints; returns the results.
async fn write(addr: &str, transfers: Vec<v1::Transfer>) -> Result<Vec<i32>, tonic::Status> {
    let mut addr = addr.to_string();
    let until = Instant::now() + BOUND;
    loop {
        let mut c = ledger(addr.parse().unwrap()).await;
        match c
            .create_transfers(v1::CreateTransfersRequest {
                transfers: transfers.clone(),
            })
            .await
        {
            Ok(r) => return Ok(r.into_inner().results),
            Err(e) if e.code() == Code::Unavailable && Instant::now() < until => {
                if let Some(l) = e.metadata().get("tally-leader-addr") {
                    addr = l.to_str().unwrap().to_string();
                } else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            Err(e) => return Err(e),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_redirect_read_and_converge() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    let nodes = start_all(&configs(dir.path(), &ports, |_| {})).await;
    let l = wait_leader(&nodes).await;
    let leader = nodes[l].as_ref().unwrap().addr();
    let f = (l + 1) % 3;
    let follower = nodes[f].as_ref().unwrap().addr();

    let mut lc = ledger(leader).await;
    lc.create_accounts(v1::CreateAccountsRequest {
        accounts: vec![account(1, 0), account(2, 0)],
    })
    .await
    .unwrap();

    // A follower refuses writes and linearizable reads, naming the leader.
    let mut fc = ledger(follower).await;
    let e = fc
        .create_transfers(v1::CreateTransfersRequest {
            transfers: vec![transfer(10, 1, 2, 5)],
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable);
    assert_eq!(
        e.metadata().get("tally-leader-addr").unwrap(),
        leader.to_string().as_str()
    );
    let e = fc
        .lookup_accounts(v1::LookupAccountsRequest {
            ids: vec![v1::U128::new(1)],
            consistency: v1::ReadConsistency::Linearizable as i32,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unavailable);
    assert!(e.metadata().get("tally-leader-id").is_some());

    for i in 0..20u128 {
        let r = write(&follower.to_string(), vec![transfer(100 + i, 1, 2, 1)])
            .await
            .unwrap();
        assert_eq!(r, vec![Tr::Ok as i32]);
        // The leader's linearizable read sees every acknowledged write at once.
        let a = lc
            .lookup_accounts(v1::LookupAccountsRequest {
                ids: vec![v1::U128::new(2)],
                consistency: 0,
            })
            .await
            .unwrap()
            .into_inner()
            .accounts;
        assert_eq!(u128_from_wire(a[0].credits_posted), i + 1);
    }
    // A stale read on the follower catches up.
    tokio::time::timeout(BOUND, async {
        loop {
            let a = fc
                .lookup_accounts(v1::LookupAccountsRequest {
                    ids: vec![v1::U128::new(2)],
                    consistency: v1::ReadConsistency::Stale as i32,
                })
                .await
                .unwrap()
                .into_inner()
                .accounts;
            if a.first().map(|a| u128_from_wire(a.credits_posted)) == Some(20) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    converged(&nodes).await;

    // Status from the leader shows every member and its replication.
    let s = admin(leader)
        .await
        .get_status(v1::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.members.len(), 3);
    assert_eq!(s.replication.len(), 2);

    for n in nodes.into_iter().flatten() {
        n.shutdown().await.unwrap();
    }
}

/// A leader that shuts down gracefully hands leadership over first; the cluster writes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_hands_leadership_over() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    let mut nodes = start_all(&configs(dir.path(), &ports, |_| {})).await;
    let l = wait_leader(&nodes).await;
    let leader = nodes[l].as_ref().unwrap().addr().to_string();
    ledger(leader.parse().unwrap())
        .await
        .create_accounts(v1::CreateAccountsRequest {
            accounts: vec![account(1, 0), account(2, 0)],
        })
        .await
        .unwrap();
    let old = nodes[l].take().unwrap();
    let t0 = Instant::now();
    old.shutdown().await.unwrap();
    let l2 = wait_leader(&nodes).await;
    let other = nodes[l2].as_ref().unwrap().addr().to_string();
    let r = write(&other, vec![transfer(7, 1, 2, 3)]).await.unwrap();
    eprintln!(
        "graceful leader stop to first write on the new leader: {:?}",
        t0.elapsed()
    );
    assert_eq!(r, vec![Tr::Ok as i32]);
    for n in nodes.into_iter().flatten() {
        n.shutdown().await.unwrap();
    }
}

/// A follower that was down while the leader snapshotted and purged its log catches up by
/// snapshot when it returns, and ends with the same state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_follower_catches_up_by_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    let cfgs = configs(dir.path(), &ports, |c| {
        c.snapshot_every = 20;
        c.snapshot_keep_log = 2;
    });
    let mut nodes = start_all(&cfgs).await;
    let l = wait_leader(&nodes).await;
    let leader = nodes[l].as_ref().unwrap().addr().to_string();
    ledger(leader.parse().unwrap())
        .await
        .create_accounts(v1::CreateAccountsRequest {
            accounts: vec![account(1, 0), account(2, 0)],
        })
        .await
        .unwrap();
    let f = (l + 1) % 3;
    let down_at = nodes[f]
        .as_ref()
        .unwrap()
        .raft()
        .status()
        .applied_index
        .unwrap();
    nodes[f].take().unwrap().halt().await.unwrap();
    // Well past `snapshot_every`, one entry per request.
    for i in 0..80u128 {
        let r = write(&leader, vec![transfer(1000 + i, 1, 2, 1)])
            .await
            .unwrap();
        assert_eq!(r, vec![Tr::Ok as i32]);
    }
    let purged = tokio::time::timeout(BOUND, async {
        loop {
            let st = nodes[l].as_ref().unwrap().raft().status();
            if st.purged_index.is_some_and(|p| p > down_at) {
                return st;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    eprintln!(
        "follower down at {down_at}; leader applied {:?}, snapshot {:?}, purged {:?}",
        purged.applied_index, purged.snapshot_index, purged.purged_index
    );
    nodes[f] = Some(Node::start(&cfgs[f]).await.unwrap());
    let h = converged(&nodes).await;
    eprintln!("converged at {:?}", hashes(&nodes));
    assert_ne!(h, [0; 32]);
    let a = ledger(nodes[f].as_ref().unwrap().addr())
        .await
        .lookup_accounts(v1::LookupAccountsRequest {
            ids: vec![v1::U128::new(2)],
            consistency: v1::ReadConsistency::Stale as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .accounts;
    assert_eq!(u128_from_wire(a[0].credits_posted), 80);
    for n in nodes.into_iter().flatten() {
        n.shutdown().await.unwrap();
    }
}

/// Under a steady stream of writes: add a 4th node as a learner, make it a voter, remove
/// node 3. Every acknowledged transfer is there at the end, on every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_changes_under_load_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(4);
    let cfgs = configs(dir.path(), &ports[..3], |_| {});
    let mut nodes = start_all(&cfgs).await;
    let l = wait_leader(&nodes).await;
    let leader = nodes[l].as_ref().unwrap().addr().to_string();
    ledger(leader.parse().unwrap())
        .await
        .create_accounts(v1::CreateAccountsRequest {
            accounts: vec![account(1, 0), account(2, 0)],
        })
        .await
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::<u128>::new()));
    let writer = {
        let (stop, acked) = (stop.clone(), acked.clone());
        let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        tokio::spawn(async move {
            let mut id = 10_000u128;
            while !stop.load(Ordering::Relaxed) {
                id += 1;
                let at = &addrs[(id % 3) as usize];
                if let Ok(r) = write(at, vec![transfer(id, 1, 2, 1)]).await {
                    assert_eq!(r, vec![Tr::Ok as i32]);
                    acked.lock().unwrap().push(id);
                }
            }
        })
    };

    // Node 4 starts empty and waits to be added.
    let mut c4 = cluster_config(dir.path(), 4, &ports, CLUSTER);
    c4.peers.clear();
    c4.join = true;
    c4.listen = format!("127.0.0.1:{}", ports[3]).parse().unwrap();
    c4.advertise = c4.listen.to_string();
    nodes.push(Some(Node::start(&c4).await.unwrap()));
    let mut a = admin(leader.parse().unwrap()).await;
    a.add_learner(v1::AddLearnerRequest {
        node_id: 4,
        address: c4.advertise.clone(),
    })
    .await
    .unwrap();
    a.change_membership(v1::ChangeMembershipRequest {
        voter_ids: vec![1, 2, 3, 4],
        retain_removed_as_learners: false,
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Remove node 3 (it might be the leader: the admin call follows the hint).
    let mut admin_addr = leader.clone();
    let members = loop {
        let mut a = admin(admin_addr.parse().unwrap()).await;
        match a
            .change_membership(v1::ChangeMembershipRequest {
                voter_ids: vec![1, 2, 4],
                retain_removed_as_learners: false,
            })
            .await
        {
            Ok(r) => break r.into_inner().members,
            Err(e) if e.code() == Code::Unavailable => {
                if let Some(h) = e.metadata().get("tally-leader-addr") {
                    admin_addr = h.to_str().unwrap().to_string();
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    let ids: BTreeSet<u64> = members.iter().map(|m| m.id).collect();
    assert_eq!(ids, BTreeSet::from([1, 2, 4]));
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    nodes[2].take().unwrap().shutdown().await.unwrap();

    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 10, "only {} writes acknowledged", acked.len());
    converged(&nodes).await;
    for n in nodes.iter().flatten() {
        let mut c = ledger(n.addr()).await;
        for chunk in acked.chunks(1000) {
            let found = c
                .lookup_transfers(v1::LookupTransfersRequest {
                    ids: chunk.iter().map(|i| v1::U128::new(*i)).collect(),
                    consistency: v1::ReadConsistency::Stale as i32,
                })
                .await
                .unwrap()
                .into_inner()
                .transfers;
            assert_eq!(found.len(), chunk.len(), "node {}", n.identity().node_id);
        }
        let a = c
            .lookup_accounts(v1::LookupAccountsRequest {
                ids: vec![u128_to_wire(2).unwrap()],
                consistency: v1::ReadConsistency::Stale as i32,
            })
            .await
            .unwrap()
            .into_inner()
            .accounts;
        assert_eq!(u128_from_wire(a[0].credits_posted), acked.len() as u128);
    }
    for n in nodes.into_iter().flatten() {
        n.shutdown().await.unwrap();
    }
}

/// Every node-to-node link goes through a proxy (`--peer-via`). Cutting the leader off from
/// both followers: the old leader refuses linearizable reads and writes (it cannot confirm a
/// quorum), the majority elects a new leader and takes writes, and after healing every node
/// converges. A stale read on the old leader is allowed to be stale, and is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_leader_refuses_linearizable_reads() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    let addr = |i: usize| -> SocketAddr { format!("127.0.0.1:{}", ports[i]).parse().unwrap() };
    // proxies[i][j]: node i+1's link to node j+1.
    let mut proxies: Vec<Vec<Option<Proxy>>> = Vec::new();
    for i in 0..3 {
        let mut row = Vec::new();
        for j in 0..3 {
            row.push(if i == j {
                None
            } else {
                Some(Proxy::start(addr(j)).await)
            });
        }
        proxies.push(row);
    }
    let cfgs = configs(dir.path(), &ports, |c| {
        let i = c.node_id as usize - 1;
        for (j, p) in proxies[i].iter().enumerate() {
            if let Some(p) = p {
                c.peer_via.insert(j as u64 + 1, p.addr.to_string());
            }
        }
    });
    let mut nodes = start_all(&cfgs).await;
    let l = wait_leader(&nodes).await;
    let old = addr(l);
    ledger(old)
        .await
        .create_accounts(v1::CreateAccountsRequest {
            accounts: vec![account(1, 0), account(2, 0)],
        })
        .await
        .unwrap();
    let through: u64 = proxies
        .iter()
        .flatten()
        .flatten()
        .map(|p| p.accepted.load(Ordering::SeqCst))
        .sum();
    assert!(through > 0, "peer traffic goes through the proxies");

    for (j, row) in proxies.iter().enumerate() {
        if j != l {
            proxies[l][j].as_ref().unwrap().set_cut(true);
            row[l].as_ref().unwrap().set_cut(true);
        }
    }
    // Let the proxies close the connections they hold (they poll every 10 ms).
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The old leader cannot confirm its leadership: linearizable reads fail, never stale.
    let mut oc = ledger(old).await;
    let e = oc
        .lookup_accounts(v1::LookupAccountsRequest {
            ids: vec![v1::U128::new(2)],
            consistency: 0,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(e.code(), Code::Unavailable | Code::DeadlineExceeded),
        "{e}"
    );
    // The majority elects a leader and takes a write.
    let others: Vec<usize> = (0..3).filter(|j| *j != l).collect();
    let new = tokio::time::timeout(BOUND, async {
        loop {
            for &j in &others {
                let n = nodes[j].as_ref().unwrap();
                if n.raft().is_leader() {
                    return j;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the majority elects a leader");
    let r = write(&addr(new).to_string(), vec![transfer(9, 1, 2, 5)])
        .await
        .unwrap();
    assert_eq!(r, vec![Tr::Ok as i32]);
    let e = oc
        .create_transfers(v1::CreateTransfersRequest {
            transfers: vec![transfer(10, 1, 2, 5)],
        })
        .await
        .unwrap_err();
    assert!(
        matches!(e.code(), Code::Unavailable | Code::DeadlineExceeded),
        "{e}"
    );
    let stale = oc
        .lookup_accounts(v1::LookupAccountsRequest {
            ids: vec![v1::U128::new(2)],
            consistency: v1::ReadConsistency::Stale as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .accounts;
    assert_eq!(
        u128_from_wire(stale[0].credits_posted),
        0,
        "stale, as asked"
    );

    for row in &proxies {
        for p in row.iter().flatten() {
            p.set_cut(false);
        }
    }
    converged(&nodes).await;
    for n in nodes.iter_mut() {
        n.take().unwrap().shutdown().await.unwrap();
    }
}

/// A wiped node 1 (the one that creates the cluster) restarted with its original command must
/// not create the cluster again: it refuses to start, naming the peer that has the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wiped_first_node_refuses_to_create_the_cluster_again() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    let cfgs = configs(dir.path(), &ports, |_| {});
    let mut nodes = start_all(&cfgs).await;
    let l = wait_leader(&nodes).await;
    write(&nodes[l].as_ref().unwrap().addr().to_string(), vec![])
        .await
        .unwrap();
    ledger(nodes[l].as_ref().unwrap().addr())
        .await
        .create_accounts(v1::CreateAccountsRequest {
            accounts: vec![account(1, 0)],
        })
        .await
        .unwrap();
    nodes[0].take().unwrap().halt().await.unwrap();
    // The halted node's background threads (RocksDB, a snapshot build) may still be finishing
    // in this process; a crashed process would be gone. Wipe once they are.
    tokio::time::timeout(BOUND, async {
        while let Err(e) = std::fs::remove_dir_all(&cfgs[0].data_dir) {
            if e.kind() == std::io::ErrorKind::NotFound {
                break;
            }
            assert_ne!(e.kind(), std::io::ErrorKind::PermissionDenied, "{e}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the data dir can be wiped");
    // Same for its port and RocksDB locks: retry while the old incarnation still holds them.
    let e = tokio::time::timeout(BOUND, async {
        loop {
            match Node::start(&cfgs[0]).await {
                Err(tally_server::StartError::Raft(_) | tally_server::StartError::Bind { .. }) => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                other => return other.unwrap_err(),
            }
        }
    })
    .await
    .expect("the old incarnation lets go of its resources");
    assert!(matches!(e, tally_server::StartError::Refused(_)), "{e}");
    assert!(
        e.to_string().contains("already belongs to the cluster"),
        "{e}"
    );
    // The refused start released its port and stores: the others carry on.
    for n in nodes.into_iter().flatten() {
        n.shutdown().await.unwrap();
    }
}
