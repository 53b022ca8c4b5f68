//! Error messages that name the right thing, over real gRPC: a `code` wider than 16 bits names
//! its event by index counting from 0, and a leader whose clock is out of range says so.

mod common;

use common::*;
use tally_proto::v1;
use tally_server::config::StartArgs;
use tally_server::Node;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_over_16_bits_names_its_event_counting_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_single(dir.path()).await;
    let mut c = ledger(node.addr()).await;
    let wide = v1::Account {
        code: 70_000,
        ..account(2, 0)
    };
    let e = c
        .create_accounts(v1::CreateAccountsRequest {
            accounts: vec![account(1, 0), wide],
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message()
            .starts_with("account at index 1 (counting from 0): code 70000"),
        "{}",
        e.message()
    );
    let wide = v1::Transfer {
        code: 65_536,
        ..transfer(10, 1, 2, 1)
    };
    let e = c
        .create_transfers(v1::CreateTransfersRequest {
            transfers: vec![wide],
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message()
            .starts_with("transfer at index 0 (counting from 0): code 65536"),
        "{}",
        e.message()
    );
    // Nothing of either request was applied.
    let found = c
        .lookup_accounts(v1::LookupAccountsRequest {
            ids: vec![v1::U128::new(1), v1::U128::new(2)],
            consistency: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(found.accounts.is_empty());
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_clock_out_of_range_says_so_for_a_one_event_write() {
    let dir = tempfile::tempdir().unwrap();
    // The leader's clock saturates at 2^63 ns past the epoch and more: past the last timestamp.
    let config = StartArgs {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: Some(dir.path().to_path_buf()),
        clock_offset_ms: Some(i64::MAX),
        ..StartArgs::default()
    }
    .resolve()
    .unwrap();
    let node = Node::start(&config).await.unwrap();
    tokio::time::timeout(BOUND, async {
        while !node.raft().is_leader() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    let mut c = ledger(node.addr()).await;
    let e = c
        .create_accounts(v1::CreateAccountsRequest {
            accounts: vec![account(1, 0)],
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(
        e.message().contains("the leader's clock is out of range"),
        "{}",
        e.message()
    );
    assert!(!e.message().contains("events"), "{}", e.message());
    node.shutdown().await.unwrap();
}
