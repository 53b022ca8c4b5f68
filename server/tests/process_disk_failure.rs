//! A `tally` process whose disk stops taking writes mid-load exits non-zero and says why, and
//! loses nothing it acknowledged.

mod common;

use std::net::SocketAddr;

use common::process::*;
use common::*;
use std::time::Instant;

use tally_proto::u128_from_wire;
use tally_proto::v1::{self, CreateTransferResult as Tr};

/// A disk that stops taking writes mid-load (here a file-size limit; a full disk fails the
/// same writes with ENOSPC): the node exits non-zero and says why, instead of staying up with
/// its Raft stopped and clients retrying until their deadlines; restarted with room, it
/// replays its log, and every transfer it acknowledged is there, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_disk_fails_exits_and_keeps_every_acknowledged_transfer() {
    let cwd = tempfile::tempdir().unwrap();
    let port = free_ports(1)[0];
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let args: Vec<String> = ["start", "--listen", &addr.to_string()]
        .map(String::from)
        .to_vec();
    // 8 MiB: the Raft log's first WAL file reaches it after ~100,000 transfers.
    let mut p = Proc::start_limited(&args, cwd.path(), 8 * 1024);
    p.wait_line("serving on");
    wait_leading(addr).await;
    let mut c = ledger(addr).await;
    let r = c
        .create_accounts(v1::CreateAccountsRequest {
            accounts: vec![account(1, 0), account(2, 0)],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.results, vec![0, 0]);

    const BATCH: u128 = 8000;
    let mut acked = 0u128;
    let mut sent = 0u128;
    let until = Instant::now() + BOUND;
    loop {
        assert!(Instant::now() < until, "the node kept taking writes");
        let batch = (sent + 1..=sent + BATCH)
            .map(|id| transfer(id, 1, 2, 1))
            .collect();
        sent += BATCH;
        let r = c
            .create_transfers(v1::CreateTransfersRequest { transfers: batch })
            .await;
        match r {
            Ok(r) => {
                let results = r.into_inner().results;
                assert!(results.iter().all(|&x| x == Tr::Ok as i32), "{results:?}");
                acked = sent;
            }
            Err(_) => break,
        }
    }
    assert!(
        acked >= BATCH,
        "some batches were acknowledged before the failure"
    );
    let said = p.wait_line("node stopped");
    assert!(
        said.contains("Raft failed") && said.contains("File too large"),
        "{said}"
    );
    assert!(!p.wait_exit(), "a failing exit status");
    drop(c);

    let _p = Proc::start(&args, cwd.path(), &[]);
    wait_leading(addr).await;
    let mut c = ledger(addr).await;
    let mut found = 0u128;
    for start in (1..=sent).step_by(BATCH as usize) {
        let ids: Vec<u128> = (start..start + BATCH).collect();
        let got = c
            .lookup_transfers(v1::LookupTransfersRequest {
                ids: ids.iter().map(|&id| v1::U128::new(id)).collect(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .transfers;
        for t in &got {
            let id = u128_from_wire(t.id);
            assert!(ids.contains(&id));
        }
        // Acknowledged batches are complete; the failed one is all or nothing.
        if start + BATCH - 1 <= acked {
            assert_eq!(
                got.len() as u128,
                BATCH,
                "acknowledged batch at {start} lost"
            );
        } else {
            assert!(
                got.is_empty() || got.len() as u128 == BATCH,
                "{}",
                got.len()
            );
        }
        found += got.len() as u128;
    }
    let accounts = c
        .lookup_accounts(v1::LookupAccountsRequest {
            ids: vec![v1::U128::new(1), v1::U128::new(2)],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .accounts;
    let posted = |a: &v1::Account, debit: bool| {
        u128_from_wire(if debit {
            a.debits_posted
        } else {
            a.credits_posted
        })
    };
    assert_eq!(
        posted(&accounts[0], true),
        found,
        "each transfer applied exactly once"
    );
    assert_eq!(posted(&accounts[1], false), found);
}
