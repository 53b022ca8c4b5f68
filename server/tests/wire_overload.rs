//! Overload over real gRPC: writes the node cannot start within its queue-delay budget are
//! refused at once with `RESOURCE_EXHAUSTED`, a retry-after hint and `tally-not-applied`, and
//! none of them is ever applied; callers that cancel while queued cause no proposal; reads are
//! answered during a write flood. Capacity is made small with the node's own knobs (a tiny
//! budget, one entry in flight) rather than with a large load.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tally_ledger::BATCH_MAX;
use tally_proto::v1;
use tally_server::grpc_error::{NOT_APPLIED, RETRY_AFTER_MS};
use tokio::task::JoinSet;
use tonic::Code;

/// Creates accounts 1 and 2.
async fn two_accounts(addr: SocketAddr) {
    let r = ledger(addr)
        .await
        .create_accounts(v1::CreateAccountsRequest {
            accounts: vec![account(1, 0), account(2, 0)],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.results.iter().all(|&c| c == 0), "{:?}", r.results);
}

/// The ids of `ids` that the node has.
async fn found(addr: SocketAddr, ids: &[u128]) -> Vec<u128> {
    let mut c = ledger(addr).await;
    let mut out = Vec::new();
    for chunk in ids.chunks(BATCH_MAX) {
        let r = c
            .lookup_transfers(v1::LookupTransfersRequest {
                ids: chunk.iter().map(|&i| v1::U128::new(i)).collect(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        out.extend(
            r.transfers
                .iter()
                .map(|t| tally_proto::u128_from_wire(t.id)),
        );
    }
    out
}

async fn admission(addr: SocketAddr) -> v1::AdmissionStatus {
    admin(addr)
        .await
        .get_status(v1::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .admission
        .expect("the status reports admission")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_over_capacity_is_refused_fast_and_nothing_refused_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    // A zero budget: a write that finds another one pending is refused.
    let node = start_single_with(dir.path(), |c| {
        c.admission.max_queue_delay = Duration::ZERO;
    })
    .await;
    let addr = node.addr();
    two_accounts(addr).await;

    let mut writes = JoinSet::new();
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(ledger(addr).await);
    }
    for i in 0..800u128 {
        let mut c = clients[i as usize % clients.len()].clone();
        writes.spawn(async move {
            let id = 1_000 + i;
            let r = c
                .create_transfers(v1::CreateTransfersRequest {
                    transfers: vec![transfer(id, 1, 2, 1)],
                })
                .await;
            (id, r)
        });
    }
    // Reads during the flood: every one answered.
    let reader = tokio::spawn(async move {
        let mut c = ledger(addr).await;
        let mut n = 0;
        for _ in 0..50 {
            c.lookup_accounts(v1::LookupAccountsRequest {
                ids: vec![v1::U128::new(1)],
                ..Default::default()
            })
            .await
            .expect("a read is answered during the write flood");
            n += 1;
        }
        n
    });

    let (mut accepted, mut refused) = (Vec::new(), Vec::new());
    while let Some(r) = writes.join_next().await {
        match r.unwrap() {
            (id, Ok(r)) => {
                assert_eq!(r.into_inner().results, vec![0]);
                accepted.push(id);
            }
            (id, Err(s)) => {
                assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
                assert_eq!(s.metadata().get(NOT_APPLIED).unwrap(), "true");
                let hint: u64 = s
                    .metadata()
                    .get(RETRY_AFTER_MS)
                    .expect("a retry-after hint")
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=5_000).contains(&hint), "{hint}");
                refused.push(id);
            }
        }
    }
    assert_eq!(reader.await.unwrap(), 50);
    assert!(!refused.is_empty(), "a zero budget refused nothing");
    assert!(!accepted.is_empty(), "an idle node refused everything");

    assert_eq!(
        found(addr, &refused).await,
        Vec::<u128>::new(),
        "refused writes were applied"
    );
    let mut got = found(addr, &accepted).await;
    got.sort_unstable();
    accepted.sort_unstable();
    assert_eq!(got, accepted);
    let a = admission(addr).await;
    assert!(a.writes_refused >= refused.len() as u64, "{a:?}");
    assert_eq!(a.pending_events, 0, "{a:?}");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_that_cancel_while_queued_cause_no_proposal() {
    let dir = tempfile::tempdir().unwrap();
    // One entry in flight and a generous budget: small writes queue behind two full batches.
    let node = start_single_with(dir.path(), |c| {
        c.coalesce.max_in_flight = 1;
        c.admission.max_queue_delay = Duration::from_secs(60);
    })
    .await;
    let addr = node.addr();
    two_accounts(addr).await;
    let batch = |from: u128| v1::CreateTransfersRequest {
        transfers: (0..BATCH_MAX as u128)
            .map(|i| transfer(from + i, 1, 2, 1))
            .collect(),
    };
    let mut big = JoinSet::new();
    for from in [1_000_000u128, 2_000_000, 3_000_000] {
        let mut c = ledger(addr).await;
        big.spawn(async move { c.create_transfers(batch(from)).await });
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // While the batches hold the queue: small writes whose callers give up after 2 ms.
    let mut small = JoinSet::new();
    let mut c = ledger(addr).await;
    for i in 0..50u128 {
        let mut c = c.clone();
        small.spawn(async move {
            let call = c.create_transfers(v1::CreateTransfersRequest {
                transfers: vec![transfer(10 + i, 1, 2, 1)],
            });
            tokio::time::timeout(Duration::from_millis(2), call).await
        });
    }
    let mut cancelled = 0;
    while let Some(r) = small.join_next().await {
        if r.unwrap().is_err() {
            cancelled += 1;
        }
    }
    while let Some(r) = big.join_next().await {
        r.unwrap().expect("the full batches are applied");
    }
    // Anything still queued has been taken by now: one more write goes through after them.
    c.create_transfers(v1::CreateTransfersRequest {
        transfers: vec![transfer(9, 1, 2, 1)],
    })
    .await
    .unwrap();
    let a = admission(addr).await;
    let ids: Vec<u128> = (10..60).collect();
    let applied = found(addr, &ids).await.len() as u64;
    assert!(cancelled > 10, "{cancelled} cancelled");
    assert!(
        a.writes_abandoned > 0,
        "no queued caller was dropped: {a:?}"
    );
    assert!(
        applied + a.writes_abandoned <= 50,
        "{applied} applied + {} abandoned of 50 writes",
        a.writes_abandoned
    );
    node.shutdown().await.unwrap();
}

/// Callers that give up in a burst (each dropped call resets its HTTP/2 stream, many before
/// the node has even taken them) must not end the connection for the calls sharing it: every
/// call that waits for its answer gets it, taken or refused with `tally-not-applied`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_giving_up_in_a_burst_do_not_end_the_shared_connection() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_single_with(dir.path(), |c| {
        c.admission.max_queue_delay = Duration::from_millis(2);
    })
    .await;
    let addr = node.addr();
    two_accounts(addr).await;
    let c = ledger(addr).await;
    let mut calls = JoinSet::new();
    for i in 0..4_000u128 {
        let mut c = c.clone();
        calls.spawn(async move {
            let call = c.create_transfers(v1::CreateTransfersRequest {
                transfers: vec![transfer(1_000 + i, 1, 2, 1)],
            });
            if i % 8 == 0 {
                // Waits for its answer.
                Some(call.await)
            } else {
                // Gives up almost at once.
                let _ =
                    tokio::time::timeout(Duration::from_micros(200 * (i % 5) as u64), call).await;
                None
            }
        });
    }
    let (mut answered, mut broken) = (0, Vec::new());
    while let Some(r) = calls.join_next().await {
        match r.unwrap() {
            None | Some(Ok(_)) => {}
            Some(Err(s))
                if s.code() == Code::ResourceExhausted
                    && s.metadata().get(NOT_APPLIED).is_some() => {}
            Some(Err(s)) => broken.push(format!("{s:?}")),
        }
        answered += 1;
    }
    assert_eq!(answered, 4_000);
    assert!(
        broken.is_empty(),
        "{} calls lost their connection, first: {}",
        broken.len(),
        broken[0]
    );
    node.shutdown().await.unwrap();
}
