//! Requests that cannot be decoded, sent as raw bytes over real gRPC: each is answered
//! `INVALID_ARGUMENT` saying what was wrong (never `INTERNAL`, which the API reserves for
//! failures whose write may have happened), and changes nothing.

mod common;

use common::raw::{self, frame};
use common::*;
use prost::Message;
use tally_proto::v1;
use tally_server::grpc_error::NOT_APPLIED;
use tonic::Code;

const CREATE_ACCOUNTS: &str = "/tally.v1.Ledger/CreateAccounts";

/// A well-formed `CreateAccountsRequest` of one account.
fn one_account(id: u128) -> Vec<u8> {
    v1::CreateAccountsRequest {
        accounts: vec![account(id, 0)],
    }
    .encode_to_vec()
}

/// Request bodies that are not a decodable request, each with a phrase its answer must contain.
fn malformed_bodies() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let whole = one_account(7);
    // Field 1 (`accounts`, a message) as a varint.
    let accounts_as_varint = vec![0x08, 0x01];
    // An account whose `id` (a `U128` message) is a varint: accounts = [{ 1: varint 5 }].
    let u128_as_varint = vec![0x0a, 0x02, 0x08, 0x05];
    // An account whose id's `lo` (fixed64) is a varint: accounts = [{ id: { 1: varint 5 } }].
    let lo_as_varint = vec![0x0a, 0x04, 0x0a, 0x02, 0x08, 0x05];
    vec![
        ("garbage", frame(&[0xff; 7]), "malformed request"),
        (
            "truncated message",
            frame(&whole[..whole.len() - 3]),
            "malformed request",
        ),
        ("wrong wire type", frame(&accounts_as_varint), "wire type"),
        ("U128 as a varint", frame(&u128_as_varint), "wire type"),
        (
            "fixed64 half as a varint",
            frame(&lo_as_varint),
            "wire type",
        ),
        (
            "body shorter than its frame",
            frame(&whole)[..10].to_vec(),
            "short of the message length",
        ),
        (
            "body ends inside the frame header",
            vec![0, 0, 0],
            "inside a message header",
        ),
        ("empty body", Vec::new(), "no message"),
        (
            "compressed-flag without grpc-encoding",
            [vec![1], frame(&whole)[1..].to_vec()].concat(),
            "compressed-flag 1",
        ),
        (
            "unknown compressed-flag",
            [vec![7], frame(&whole)[1..].to_vec()].concat(),
            "compressed-flag 7",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_requests_are_invalid_argument_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_single(dir.path()).await;
    let addr = node.addr();
    // A write first: once it is answered, every entry before it is applied too.
    let a = raw::call(addr, CREATE_ACCOUNTS, frame(&one_account(6))).await;
    let r: v1::CreateAccountsResponse = a.message();
    assert_eq!(r.results, vec![v1::CreateAccountResult::Ok as i32]);
    let nodes = [Some(node)];
    let before = hashes(&nodes);

    for (what, body, says) in malformed_bodies() {
        let a = raw::call(addr, CREATE_ACCOUNTS, body).await;
        assert_eq!(
            a.status.code(),
            Code::InvalidArgument,
            "{what}: {:?}",
            a.status
        );
        assert!(
            a.status.message().contains(says),
            "{what}: {:?} does not say {says:?}",
            a.status.message()
        );
    }
    // The framing faults prove on their own that nothing reached the log.
    let a = raw::call(addr, CREATE_ACCOUNTS, vec![0, 0, 0]).await;
    assert_eq!(a.status.metadata().get(NOT_APPLIED).unwrap(), "true");
    assert_eq!(
        hashes(&nodes),
        before,
        "a malformed request changed the state"
    );

    // The same service still takes a well-formed raw request.
    let a = raw::call(addr, CREATE_ACCOUNTS, frame(&one_account(7))).await;
    let r: v1::CreateAccountsResponse = a.message();
    assert_eq!(r.results, vec![v1::CreateAccountResult::Ok as i32]);
    let [Some(node)] = nodes else { unreachable!() };
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_refuses_garbage_with_invalid_argument() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_single(dir.path()).await;
    let garbage = frame(&[0xff; 7]);
    for path in [
        "/tally.v1.Ledger/CreateTransfers",
        "/tally.v1.Ledger/LookupAccounts",
        "/tally.v1.Ledger/QueryTransfers",
        "/tally.v1.Admin/ChangeMembership",
        "/tally.v1.Admin/AddLearner",
        "/tally.v1.Raft/Vote",
        "/tally.v1.Raft/AppendEntries",
    ] {
        let a = raw::call(node.addr(), path, garbage.clone()).await;
        assert_eq!(
            a.status.code(),
            Code::InvalidArgument,
            "{path}: {:?}",
            a.status
        );
        assert!(a.status.message().contains("malformed request"), "{path}");
    }
    node.shutdown().await.unwrap();
}
