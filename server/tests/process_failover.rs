//! A 3-node cluster of `tally` processes on 127.0.0.1 whose leader is killed with SIGKILL under
//! writes: a new leader takes writes (the failover time is printed), the killed node restarts
//! with the same command and catches up, and no acknowledged transfer is lost.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::process::*;
use common::*;
use nix::sys::signal::Signal;
use tally_proto::u128_from_wire;
use tally_proto::v1::{self, CreateTransferResult as Tr};
use tonic::Code;

/// One transfer through any node, following leader hints, until `until`. `Ok(true)` if
/// acknowledged as created.
async fn try_write(addrs: &[SocketAddr], id: u128, until: Instant) -> Result<bool, tonic::Status> {
    let mut at = addrs[(id % addrs.len() as u128) as usize];
    loop {
        let r = match tokio::time::timeout(Duration::from_secs(2), ledger_or_none(at)).await {
            Ok(Some(mut c)) => {
                c.create_transfers(v1::CreateTransfersRequest {
                    transfers: vec![transfer(id, 1, 2, 1)],
                })
                .await
            }
            _ => Err(tonic::Status::unavailable("connect failed")),
        };
        match r {
            Ok(r) => {
                let code = r.into_inner().results[0];
                // A retry of an indeterminate attempt may find it already applied.
                return Ok(code == Tr::Ok as i32 || code == Tr::Exists as i32);
            }
            Err(e) if Instant::now() >= until => return Err(e),
            Err(e) => {
                if let Some(h) = e.metadata().get("tally-leader-addr") {
                    at = h.to_str().unwrap().parse().unwrap();
                } else {
                    at = addrs[fastrand::usize(..addrs.len())];
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                if e.code() != Code::Unavailable && e.code() != Code::DeadlineExceeded {
                    eprintln!("write {id}: {e}");
                }
            }
        }
    }
}

async fn ledger_or_none(
    addr: SocketAddr,
) -> Option<tally_proto::v1::ledger_client::LedgerClient<tonic::transport::Channel>> {
    let ch = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_millis(300))
        .timeout(Duration::from_secs(2))
        .connect()
        .await
        .ok()?;
    Some(tally_proto::v1::ledger_client::LedgerClient::new(ch))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_leader_fails_over_and_the_node_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    let addrs = local_addrs(&ports);
    let mut procs: Vec<Option<Proc>> = (1..=3)
        .map(|id| {
            Some(Proc::start(
                &cluster_args(id, &ports, dir.path()),
                dir.path(),
                &[],
            ))
        })
        .collect();
    let l = find_leader(&addrs, None).await;
    ledger(addrs[l])
        .await
        .create_accounts(v1::CreateAccountsRequest {
            accounts: vec![account(1, 0), account(2, 0)],
        })
        .await
        .unwrap();

    let mut acked = Vec::new();
    let mut id = 100u128;
    for _ in 0..50 {
        id += 1;
        if try_write(&addrs, id, Instant::now() + BOUND).await.unwrap() {
            acked.push(id);
        }
    }
    // SIGKILL the leader, then time how long until a write is acknowledged again.
    procs[l].as_ref().unwrap().signal(Signal::SIGKILL);
    procs[l].as_mut().unwrap().wait_exit();
    let killed = Instant::now();
    id += 1;
    let ok = try_write(&addrs, id, Instant::now() + BOUND).await.unwrap();
    let failover = killed.elapsed();
    eprintln!("FAILOVER: SIGKILL of the leader to the next acknowledged write: {failover:?}");
    assert!(ok);
    acked.push(id);
    for _ in 0..50 {
        id += 1;
        if try_write(&addrs, id, Instant::now() + BOUND).await.unwrap() {
            acked.push(id);
        }
    }

    // The killed node restarts with the same command and catches up.
    procs[l] = Some(Proc::start(
        &cluster_args(l as u64 + 1, &ports, dir.path()),
        dir.path(),
        &[],
    ));
    let leader = find_leader(&addrs, None).await;
    let target = status(addrs[leader]).await.unwrap().applied_index;
    tokio::time::timeout(BOUND, async {
        loop {
            if let Some(s) = status(addrs[l]).await {
                if s.applied_index >= target {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the restarted node catches up");

    for a in &addrs {
        let mut c = ledger(*a).await;
        let found = c
            .lookup_transfers(v1::LookupTransfersRequest {
                ids: acked.iter().map(|i| v1::U128::new(*i)).collect(),
                consistency: v1::ReadConsistency::Stale as i32,
            })
            .await
            .unwrap()
            .into_inner()
            .transfers;
        assert_eq!(
            found.len(),
            acked.len(),
            "every acknowledged transfer on {a}"
        );
        let acct = c
            .lookup_accounts(v1::LookupAccountsRequest {
                ids: vec![v1::U128::new(2)],
                consistency: v1::ReadConsistency::Stale as i32,
            })
            .await
            .unwrap()
            .into_inner()
            .accounts;
        // Writes that timed out may have applied too, never twice: credits >= acked count.
        let credits = u128_from_wire(acct[0].credits_posted);
        assert!(
            credits >= acked.len() as u128 && credits <= id - 100,
            "{credits} on {a}"
        );
    }
    for p in procs.iter_mut().flatten() {
        p.signal(Signal::SIGTERM);
        assert!(p.wait_exit());
    }
}
