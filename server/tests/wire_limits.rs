//! The request limits over real gRPC, just under and just over each: at most 8,189 events or
//! ids per request, and at most `MAX_MESSAGE_BYTES` per message (`Ledger`: 4 MiB; `Admin`:
//! 64 KiB). Over a limit the answer is `INVALID_ARGUMENT` naming the limit, and nothing changes.

mod common;

use common::raw::{self, frame};
use common::*;
use prost::Message;
use tally_ledger::BATCH_MAX;
use tally_proto::{u128_to_wire, v1};
use tally_server::grpc_error::NOT_APPLIED;
use tally_server::service::{admin, ledger as ledger_service};
use tonic::Code;

/// `msg` followed by an unknown length-delimited field 15 (which decoding skips), padded so the
/// whole message is exactly `len` bytes.
fn padded_to(msg: Vec<u8>, len: usize) -> Vec<u8> {
    let mut out = msg;
    let tag = (15 << 3) | 2;
    // The pad's length takes 4 varint bytes for any pad between 2^21 and 2^28 - 1.
    let pad = len - out.len() - 1 - 4;
    assert!((1 << 21..1 << 28).contains(&pad));
    out.push(tag);
    prost::encoding::encode_varint(pad as u64, &mut out);
    out.resize(len, 0xab);
    assert_eq!(out.len(), len);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_per_request_just_under_and_over_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_single(dir.path()).await;
    let mut c = ledger(node.addr()).await;
    let accounts = |from: u128, n: usize| -> Vec<v1::Account> {
        (0..n as u128).map(|i| account(from + i, 0)).collect()
    };

    let r = c
        .create_accounts(v1::CreateAccountsRequest {
            accounts: accounts(1, BATCH_MAX),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.results.len(), BATCH_MAX);
    assert!(r
        .results
        .iter()
        .all(|&x| x == v1::CreateAccountResult::Ok as i32));

    let nodes = [Some(node)];
    let before = hashes(&nodes);
    let e = c
        .create_accounts(v1::CreateAccountsRequest {
            accounts: accounts(100_000, BATCH_MAX + 1),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("at most 8189"), "{}", e.message());
    let transfers = (0..=BATCH_MAX as u128)
        .map(|i| transfer(200_000 + i, 1, 2, 1))
        .collect();
    let e = c
        .create_transfers(v1::CreateTransfersRequest { transfers })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("at most 8189"), "{}", e.message());
    assert_eq!(
        hashes(&nodes),
        before,
        "a refused request changed the state"
    );

    let ids = |n: usize| (1..=n as u128).map(v1::U128::new).collect::<Vec<_>>();
    let found = c
        .lookup_accounts(v1::LookupAccountsRequest {
            ids: ids(BATCH_MAX),
            consistency: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.accounts.len(), BATCH_MAX);
    let e = c
        .lookup_accounts(v1::LookupAccountsRequest {
            ids: ids(BATCH_MAX + 1),
            consistency: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("at most 8189"), "{}", e.message());
    let [Some(node)] = nodes else { unreachable!() };
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_message_size_just_under_and_over_the_limit() {
    let limit = ledger_service::MAX_MESSAGE_BYTES;
    assert_eq!(limit, 4 << 20, "the documented limit");
    let dir = tempfile::tempdir().unwrap();
    let node = start_single(dir.path()).await;
    let addr = node.addr();
    let mut c = ledger(addr).await;
    // A write first: once it is answered, every entry before it is applied too.
    c.create_accounts(v1::CreateAccountsRequest {
        accounts: vec![account(5, 0)],
    })
    .await
    .unwrap();
    let nodes = [Some(node)];
    let one = |id| {
        v1::CreateAccountsRequest {
            accounts: vec![account(id, 0)],
        }
        .encode_to_vec()
    };

    // One byte over: refused before it is read, naming the limit; nothing applied.
    let before = hashes(&nodes);
    let a = raw::call(addr, CREATE_ACCOUNTS, frame(&padded_to(one(1), limit + 1))).await;
    assert_eq!(a.status.code(), Code::InvalidArgument, "{:?}", a.status);
    assert!(
        a.status
            .message()
            .contains(&format!("limit of {limit} bytes")),
        "{}",
        a.status.message()
    );
    assert_eq!(a.status.metadata().get(NOT_APPLIED).unwrap(), "true");
    assert_eq!(hashes(&nodes), before);

    // Exactly at the limit: taken, and the account created.
    let a = raw::call(addr, CREATE_ACCOUNTS, frame(&padded_to(one(1), limit))).await;
    let r: v1::CreateAccountsResponse = a.message();
    assert_eq!(r.results, vec![v1::CreateAccountResult::Ok as i32]);
    assert_ne!(hashes(&nodes), before);

    // A generated client sending far too many events hits the size limit first, with the same
    // answer (the events limit needs the message decoded).
    let wide = |id: u128| v1::Account {
        user_data_128: u128_to_wire(u128::MAX),
        user_data_64: u64::MAX,
        ..account(id, 0)
    };
    let req = v1::CreateAccountsRequest {
        accounts: (10..130_010).map(wide).collect(),
    };
    assert!(req.encoded_len() > limit);
    let before = hashes(&nodes);
    let e = c.create_accounts(req).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains(&format!("limit of {limit} bytes")),
        "{}",
        e.message()
    );
    assert_eq!(hashes(&nodes), before);
    let [Some(node)] = nodes else { unreachable!() };
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_message_size_just_under_and_over_the_limit() {
    let limit = admin::MAX_MESSAGE_BYTES;
    assert_eq!(limit, 64 << 10, "the documented limit");
    let dir = tempfile::tempdir().unwrap();
    let node = start_single(dir.path()).await;
    // Voter ids of 10 varint bytes each, packed: just under and just over the limit.
    let voters = |bytes: usize| v1::ChangeMembershipRequest {
        voter_ids: vec![u64::MAX; (bytes - 4) / 10],
        retain_removed_as_learners: false,
    };
    let mut c = admin(node.addr()).await;
    let under = voters(limit);
    assert!(under.encoded_len() <= limit);
    // Under the limit the request is read and refused for what it asks (unknown voters).
    let e = c.change_membership(under).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    let over = voters(limit + 20);
    assert!(over.encoded_len() > limit);
    let e = c.change_membership(over).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains(&format!("limit of {limit} bytes")),
        "{}",
        e.message()
    );
    node.shutdown().await.unwrap();
}

const CREATE_ACCOUNTS: &str = "/tally.v1.Ledger/CreateAccounts";
