//! Every kind of bad request, over real gRPC, is answered with a status that the status table
//! of docs/reference/api.md lists. The table is read from the doc, so the doc and the server
//! cannot drift apart unnoticed.

mod common;

use common::raw::{self, frame};
use common::*;
use prost::Message;
use tally_ledger::BATCH_MAX;
use tally_proto::v1;
use tonic::Code;

/// The gRPC status names, as the doc spells them.
const NAMES: [(&str, Code); 17] = [
    ("OK", Code::Ok),
    ("CANCELLED", Code::Cancelled),
    ("UNKNOWN", Code::Unknown),
    ("INVALID_ARGUMENT", Code::InvalidArgument),
    ("DEADLINE_EXCEEDED", Code::DeadlineExceeded),
    ("NOT_FOUND", Code::NotFound),
    ("ALREADY_EXISTS", Code::AlreadyExists),
    ("PERMISSION_DENIED", Code::PermissionDenied),
    ("RESOURCE_EXHAUSTED", Code::ResourceExhausted),
    ("FAILED_PRECONDITION", Code::FailedPrecondition),
    ("ABORTED", Code::Aborted),
    ("OUT_OF_RANGE", Code::OutOfRange),
    ("UNIMPLEMENTED", Code::Unimplemented),
    ("INTERNAL", Code::Internal),
    ("UNAVAILABLE", Code::Unavailable),
    ("DATA_LOSS", Code::DataLoss),
    ("UNAUTHENTICATED", Code::Unauthenticated),
];

/// The statuses the table under "## Status codes" lists (the first cell of each row).
fn documented() -> Vec<Code> {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/reference/api.md"),
    )
    .unwrap();
    let section = doc
        .split("\n## Status codes\n")
        .nth(1)
        .expect("api.md has a Status codes section")
        .split("\n## ")
        .next()
        .unwrap();
    let mut codes = Vec::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let name = row[3..].split('`').next().unwrap();
        let code = NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{name:?} is not a gRPC status"))
            .1;
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    assert!(codes.len() >= 5, "the table was not found: {codes:?}");
    codes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_gets_a_documented_status() {
    let listed = documented();
    let dir = tempfile::tempdir().unwrap();
    let node = start_single(dir.path()).await;
    let addr = node.addr();
    let mut c = ledger(addr).await;
    let mut a = admin(addr).await;
    let mut got: Vec<(&str, tonic::Status)> = Vec::new();

    let create = "/tally.v1.Ledger/CreateAccounts";
    let one = v1::CreateAccountsRequest {
        accounts: vec![account(1, 0)],
    }
    .encode_to_vec();
    for (what, path, headers, body) in [
        ("garbage bytes", create, vec![], frame(&[0xff; 9])),
        ("wrong wire type", create, vec![], frame(&[0x08, 0x01])),
        (
            "truncated message",
            create,
            vec![],
            frame(&one[..one.len() - 1]),
        ),
        ("truncated frame", create, vec![], frame(&one)[..8].to_vec()),
        ("no message", create, vec![], Vec::new()),
        ("oversized", create, vec![], [0, 0, 0x40, 0, 1, 0].to_vec()),
        ("compressed flag", create, vec![], [1, 0, 0, 0, 0].to_vec()),
        (
            "compressed with gzip",
            create,
            vec![("grpc-encoding", "gzip")],
            [1, 0, 0, 0, 0].to_vec(),
        ),
        (
            "unknown method",
            "/tally.v1.Ledger/Nope",
            vec![],
            frame(&[]),
        ),
        ("unknown service", "/tally.v9.Nope/Nope", vec![], frame(&[])),
        (
            "admin garbage",
            "/tally.v1.Admin/GetStatus",
            vec![],
            frame(&[0xff]),
        ),
    ] {
        let answer = raw::call_with(addr, path, &headers, body).await;
        got.push((what, answer.status));
    }

    let many = (1..=BATCH_MAX as u128 + 1).map(|i| account(i, 0)).collect();
    let e = c
        .create_accounts(v1::CreateAccountsRequest { accounts: many })
        .await
        .unwrap_err();
    got.push(("too many events", e));
    let e = c
        .create_accounts(v1::CreateAccountsRequest {
            accounts: vec![v1::Account {
                code: 1 << 16,
                ..account(1, 0)
            }],
        })
        .await
        .unwrap_err();
    got.push(("code over 16 bits", e));
    let e = c
        .query_accounts(v1::QueryAccountsRequest {
            filter: None,
            consistency: 0,
        })
        .await
        .unwrap_err();
    got.push(("missing filter", e));
    let e = c
        .get_account_transfers(v1::GetAccountTransfersRequest {
            filter: Some(v1::AccountFilter {
                account_id: v1::U128::new(1).into(),
                limit: 0,
                ..Default::default()
            }),
            consistency: 0,
        })
        .await
        .unwrap_err();
    got.push(("bad filter", e));
    let e = c
        .lookup_accounts(v1::LookupAccountsRequest {
            ids: vec![],
            consistency: 9,
        })
        .await
        .unwrap_err();
    got.push(("unknown consistency", e));
    let e = a
        .add_learner(v1::AddLearnerRequest {
            node_id: 0,
            address: "nowhere".into(),
        })
        .await
        .unwrap_err();
    got.push(("bad learner", e));
    let e = a
        .change_membership(v1::ChangeMembershipRequest::default())
        .await
        .unwrap_err();
    got.push(("no voters", e));
    let e = a
        .transfer_leader(v1::TransferLeaderRequest { node_id: 42 })
        .await
        .unwrap_err();
    got.push(("leader to a stranger", e));

    for (what, status) in &got {
        assert_ne!(status.code(), Code::Ok, "{what}");
        assert!(
            listed.contains(&status.code()),
            "{what}: {:?} is not in api.md's status table ({listed:?}): {}",
            status.code(),
            status.message()
        );
        assert_ne!(
            status.code(),
            Code::Internal,
            "{what}: {}",
            status.message()
        );
    }
    node.shutdown().await.unwrap();
}
