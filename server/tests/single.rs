//! One node over real gRPC on 127.0.0.1: every RPC, the limits and their errors, coalescing of
//! concurrent requests, and a restart that keeps the data and refuses a foreign data dir.

mod common;

use std::sync::Arc;

use common::*;
use tally_proto::v1::{self, CreateAccountResult as Ar, CreateTransferResult as Tr};
use tally_proto::{u128_from_wire, u128_to_wire};
use tally_server::config::StartArgs;
use tally_server::{Node, StartError};
use tonic::Code;

fn ids(v: &[u128]) -> Vec<v1::U128> {
    v.iter().map(|i| v1::U128::new(*i)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_single(dir.path()).await;
    let mut c = ledger(node.addr()).await;

    let r = c
        .create_accounts(v1::CreateAccountsRequest {
            accounts: vec![account(1, 0), account(2, 8), account(2, 0), account(0, 0)],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.results,
        vec![
            Ar::Ok as i32,
            Ar::Ok as i32,
            Ar::ExistsWithDifferentFlags as i32,
            Ar::IdMustNotBeZero as i32
        ]
    );

    let big = u128::MAX - 7;
    let r = c
        .create_transfers(v1::CreateTransfersRequest {
            transfers: vec![transfer(10, 1, 2, big), transfer(11, 1, 1, 5)],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        r.results,
        vec![Tr::Ok as i32, Tr::AccountsMustBeDifferent as i32]
    );

    let accts = c
        .lookup_accounts(v1::LookupAccountsRequest {
            ids: ids(&[2, 99, 1]),
            consistency: v1::ReadConsistency::Linearizable as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .accounts;
    assert_eq!(accts.len(), 2);
    assert_eq!(u128_from_wire(accts[0].id), 2);
    assert_eq!(
        u128_from_wire(accts[0].credits_posted),
        big,
        "u128 without loss"
    );
    assert_eq!(u128_from_wire(accts[1].debits_posted), big);

    let ts = c
        .lookup_transfers(v1::LookupTransfersRequest {
            ids: ids(&[10, 11]),
            consistency: v1::ReadConsistency::Stale as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .transfers;
    assert_eq!(ts.len(), 1);
    assert!(ts[0].timestamp > 0);

    let filter = v1::AccountFilter {
        account_id: u128_to_wire(2),
        limit: 10,
        flags: 3,
        ..Default::default()
    };
    let got = c
        .get_account_transfers(v1::GetAccountTransfersRequest {
            filter: Some(filter),
            consistency: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .transfers;
    assert_eq!(got.len(), 1);
    let bal = c
        .get_account_balances(v1::GetAccountBalancesRequest {
            filter: Some(filter),
            consistency: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .balances;
    assert_eq!(bal.len(), 1, "account 2 has history");
    assert_eq!(u128_from_wire(bal[0].credits_posted), big);

    let q = v1::QueryFilter {
        ledger: 1,
        limit: 10,
        ..Default::default()
    };
    let accts = c
        .query_accounts(v1::QueryAccountsRequest {
            filter: Some(q),
            consistency: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .accounts;
    assert_eq!(accts.len(), 2);
    let ts = c
        .query_transfers(v1::QueryTransfersRequest {
            filter: Some(q),
            consistency: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .transfers;
    assert_eq!(ts.len(), 1);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_invalid_argument_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_single(dir.path()).await;
    let mut c = ledger(node.addr()).await;
    let (hash_before, _) = node.raft().state().state_hash().unwrap();

    let mut bad_code = account(1, 0);
    bad_code.code = 70_000;
    let e = c
        .create_accounts(v1::CreateAccountsRequest {
            accounts: vec![account(2, 0), bad_code],
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().contains("account at index 1 (counting from 0)"),
        "{}",
        e.message()
    );

    let e = c
        .create_transfers(v1::CreateTransfersRequest {
            transfers: vec![transfer(1, 1, 2, 1); 8190],
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("8189"), "{}", e.message());

    let e = c
        .lookup_accounts(v1::LookupAccountsRequest {
            ids: ids(&[1]),
            consistency: 7,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    let e = c
        .query_transfers(v1::QueryTransfersRequest {
            filter: Some(v1::QueryFilter::default()),
            consistency: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("limit"), "{}", e.message());

    let e = c
        .get_account_transfers(v1::GetAccountTransfersRequest {
            filter: None,
            consistency: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    let (hash_after, _) = node.raft().state().state_hash().unwrap();
    assert_eq!(hash_before, hash_after, "refused requests changed nothing");

    // A reserved flag bit above 16 bits is an event result, not a request failure.
    let r = c
        .create_accounts(v1::CreateAccountsRequest {
            accounts: vec![account(3, 1 << 20)],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.results, vec![Ar::ReservedFlag as i32]);
    node.shutdown().await.unwrap();
}

/// Many clients each sending one transfer at a time: every caller gets its own result and the
/// requests are merged into far fewer Raft entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_are_coalesced() {
    let dir = tempfile::tempdir().unwrap();
    // Coalescing, not admission, is under test: a loaded test machine must not make the node
    // refuse part of the burst.
    let node = start_single_with(dir.path(), |config| {
        config.admission.max_queue_delay = std::time::Duration::from_secs(30);
    })
    .await;
    let c = ledger(node.addr()).await;
    let mut c0 = c.clone();
    c0.create_accounts(v1::CreateAccountsRequest {
        accounts: vec![account(1, 0), account(2, 0)],
    })
    .await
    .unwrap();
    let before = node.raft().status().applied_index.unwrap();

    const N: u128 = 2000;
    let mut tasks = Vec::new();
    for i in 0..N {
        let mut c = c.clone();
        tasks.push(tokio::spawn(async move {
            // Every 7th transfer is invalid (same account twice): its caller must get that.
            let t = if i % 7 == 0 {
                transfer(100 + i, 1, 1, 1)
            } else {
                transfer(100 + i, 1, 2, 1)
            };
            let r = c
                .create_transfers(v1::CreateTransfersRequest { transfers: vec![t] })
                .await
                .unwrap()
                .into_inner();
            (i, r.results)
        }));
    }
    for t in tasks {
        let (i, r) = t.await.unwrap();
        let want = if i % 7 == 0 {
            Tr::AccountsMustBeDifferent
        } else {
            Tr::Ok
        };
        assert_eq!(r, vec![want as i32], "transfer {i}");
    }
    let entries = node.raft().status().applied_index.unwrap() - before;
    eprintln!("{N} requests in {entries} entries");
    assert!(
        entries < N as u64 / 4,
        "{N} requests took {entries} entries"
    );

    let a = c0
        .lookup_accounts(v1::LookupAccountsRequest {
            ids: ids(&[2]),
            consistency: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .accounts;
    let ok = (0..N).filter(|i| i % 7 != 0).count() as u128;
    assert_eq!(u128_from_wire(a[0].credits_posted), ok);
    node.shutdown().await.unwrap();
}

/// A request ending in an open linked chain is not merged with what follows it: the chain
/// fails as it would alone, and the next caller's events are unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_chain_does_not_swallow_other_requests() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_single(dir.path()).await;
    let c = ledger(node.addr()).await;
    c.clone()
        .create_accounts(v1::CreateAccountsRequest {
            accounts: vec![account(1, 0), account(2, 0)],
        })
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..200u128 {
        let mut c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut t = transfer(1000 + i, 1, 2, 1);
            if i % 2 == 0 {
                t.flags = v1::TransferFlag::Linked as u32;
            }
            let r = c
                .create_transfers(v1::CreateTransfersRequest { transfers: vec![t] })
                .await
                .unwrap()
                .into_inner();
            (i, r.results)
        }));
    }
    for t in tasks {
        let (i, r) = t.await.unwrap();
        let want = if i % 2 == 0 {
            Tr::LinkedEventChainOpen
        } else {
            Tr::Ok
        };
        assert_eq!(r, vec![want as i32], "request {i}");
    }
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_data_and_refuses_a_foreign_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_single(dir.path()).await;
    let cluster = node.identity().cluster_id;
    let mut c = ledger(node.addr()).await;
    c.create_accounts(v1::CreateAccountsRequest {
        accounts: vec![account(1, 0), account(2, 0)],
    })
    .await
    .unwrap();
    c.create_transfers(v1::CreateTransfersRequest {
        transfers: vec![transfer(5, 1, 2, 42)],
    })
    .await
    .unwrap();
    node.shutdown().await.unwrap();

    let node = Node::start(&single_config(dir.path())).await.unwrap();
    assert_eq!(node.identity().cluster_id, cluster);
    let mut c = ledger(node.addr()).await;
    let t = tokio::time::timeout(BOUND, async {
        loop {
            match c
                .lookup_transfers(v1::LookupTransfersRequest {
                    ids: ids(&[5]),
                    consistency: 0,
                })
                .await
            {
                Ok(r) => return r.into_inner().transfers,
                Err(e) if e.code() == Code::Unavailable => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await
                }
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(u128_from_wire(t[0].amount), 42);
    node.shutdown().await.unwrap();

    let foreign = StartArgs {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: Some(dir.path().to_path_buf()),
        cluster_id: Some(format!("{}", cluster.wrapping_add(1))),
        ..StartArgs::default()
    }
    .resolve()
    .unwrap();
    let e = Node::start(&foreign).await.unwrap_err();
    assert!(matches!(e, StartError::Identity(_)), "{e}");
    assert!(e.to_string().contains("belongs to cluster"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_status_of_a_single_node() {
    let dir = tempfile::tempdir().unwrap();
    let node = Arc::new(start_single(dir.path()).await);
    let mut a = admin(node.addr()).await;
    let s = tokio::time::timeout(BOUND, async {
        loop {
            let s = a
                .get_status(v1::GetStatusRequest {})
                .await
                .unwrap()
                .into_inner();
            if s.leader_id.is_some() {
                return s;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(s.node_id, 1);
    assert_eq!(s.state, v1::ServerState::Leader as i32);
    assert_eq!(s.members.len(), 1);
    assert_eq!(s.members[0].address, node.addr().to_string());
    assert!(s.applied_index.is_some());
    a.trigger_snapshot(v1::TriggerSnapshotRequest {})
        .await
        .unwrap();
    let e = a
        .transfer_leader(v1::TransferLeaderRequest { node_id: 9 })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    Arc::try_unwrap(node).unwrap().shutdown().await.unwrap();
}
