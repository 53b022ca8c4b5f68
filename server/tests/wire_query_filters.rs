//! Query limits and invalid filters over real gRPC. TigerBeetle caps a `limit` above 8,189 and
//! answers an invalid filter with an empty result; Tally answers both with `INVALID_ARGUMENT`
//! and a message naming the problem (docs/reference/differences-from-tigerbeetle.md).

mod common;

use common::*;
use tally_ledger::{BATCH_MAX, TIMESTAMP_MAX};
use tally_proto::v1::{self, CreateAccountResult as Ar, CreateTransferResult as Tr};
use tonic::Code;

/// A node holding accounts 1 and 2 and one transfer between them.
async fn node_with_a_transfer(dir: &std::path::Path) -> tally_server::Node {
    let node = start_single(dir).await;
    let mut c = ledger(node.addr()).await;
    let r = c
        .create_accounts(v1::CreateAccountsRequest {
            accounts: vec![account(1, 0), account(2, 0)],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.results, [Ar::Ok as i32, Ar::Ok as i32]);
    let r = c
        .create_transfers(v1::CreateTransfersRequest {
            transfers: vec![transfer(10, 1, 2, 5)],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.results, [Tr::Ok as i32]);
    node
}

fn account_filter(limit: u32) -> v1::AccountFilter {
    v1::AccountFilter {
        account_id: v1::U128::new(1).into(),
        limit,
        flags: 3,
        ..Default::default()
    }
}

fn query_filter(limit: u32) -> v1::QueryFilter {
    v1::QueryFilter {
        limit,
        ..Default::default()
    }
}

/// Asserts `INVALID_ARGUMENT` whose message contains `says`.
fn assert_invalid<T: std::fmt::Debug>(what: &str, r: Result<T, tonic::Status>, says: &str) {
    let e = r.expect_err(what);
    assert_eq!(e.code(), Code::InvalidArgument, "{what}: {e:?}");
    assert!(e.message().contains(says), "{what}: {:?}", e.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_limit_above_the_batch_maximum_is_invalid_argument() {
    let dir = tempfile::tempdir().unwrap();
    let node = node_with_a_transfer(dir.path()).await;
    let mut c = ledger(node.addr()).await;
    let over = BATCH_MAX as u32 + 1;
    let says = "limit must be at most 8189";

    let r = c
        .get_account_transfers(v1::GetAccountTransfersRequest {
            filter: Some(account_filter(over)),
            consistency: 0,
        })
        .await;
    assert_invalid("get_account_transfers", r, says);
    let r = c
        .get_account_balances(v1::GetAccountBalancesRequest {
            filter: Some(account_filter(u32::MAX)),
            consistency: 0,
        })
        .await;
    assert_invalid("get_account_balances", r, says);
    let r = c
        .query_accounts(v1::QueryAccountsRequest {
            filter: Some(query_filter(over)),
            consistency: 0,
        })
        .await;
    assert_invalid("query_accounts", r, says);
    let r = c
        .query_transfers(v1::QueryTransfersRequest {
            filter: Some(query_filter(over)),
            consistency: 0,
        })
        .await;
    assert_invalid("query_transfers", r, says);

    // At the maximum, the answer is the data.
    let got = c
        .get_account_transfers(v1::GetAccountTransfersRequest {
            filter: Some(account_filter(BATCH_MAX as u32)),
            consistency: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .transfers;
    assert_eq!(got.len(), 1);
    let got = c
        .query_accounts(v1::QueryAccountsRequest {
            filter: Some(query_filter(BATCH_MAX as u32)),
            consistency: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .accounts;
    assert_eq!(got.len(), 2);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_filters_are_invalid_argument_not_empty_results() {
    let dir = tempfile::tempdir().unwrap();
    let node = node_with_a_transfer(dir.path()).await;
    let mut c = ledger(node.addr()).await;
    let past = TIMESTAMP_MAX + 1;

    let bad_account_filters = [
        (
            "account 0",
            v1::AccountFilter {
                account_id: v1::U128::new(0).into(),
                ..account_filter(10)
            },
            "account_id",
        ),
        (
            "no side",
            v1::AccountFilter {
                flags: 4,
                ..account_filter(10)
            },
            "debits, credits",
        ),
        (
            "unknown flag",
            v1::AccountFilter {
                flags: 8 | 3,
                ..account_filter(10)
            },
            "flags",
        ),
        ("limit 0", account_filter(0), "limit"),
        (
            "min > max",
            v1::AccountFilter {
                timestamp_min: 5,
                timestamp_max: 4,
                ..account_filter(10)
            },
            "timestamp_min",
        ),
        (
            "max past 2^63-1",
            v1::AccountFilter {
                timestamp_max: past,
                ..account_filter(10)
            },
            "2^63-1",
        ),
    ];
    for (what, f, says) in bad_account_filters {
        let r = c
            .get_account_transfers(v1::GetAccountTransfersRequest {
                filter: Some(f),
                consistency: 0,
            })
            .await;
        assert_invalid(what, r, says);
        let r = c
            .get_account_balances(v1::GetAccountBalancesRequest {
                filter: Some(f),
                consistency: 0,
            })
            .await;
        assert_invalid(what, r, says);
    }
    let bad_query_filters = [
        (
            "unknown flag",
            v1::QueryFilter {
                flags: 2,
                ..query_filter(10)
            },
            "flags",
        ),
        ("limit 0", query_filter(0), "limit"),
        (
            "min past 2^63-1",
            v1::QueryFilter {
                timestamp_min: past,
                ..query_filter(10)
            },
            "2^63-1",
        ),
    ];
    for (what, f, says) in bad_query_filters {
        let r = c
            .query_transfers(v1::QueryTransfersRequest {
                filter: Some(f),
                consistency: 0,
            })
            .await;
        assert_invalid(what, r, says);
        let r = c
            .query_accounts(v1::QueryAccountsRequest {
                filter: Some(f),
                consistency: 0,
            })
            .await;
        assert_invalid(what, r, says);
    }

    // The valid filter next to them answers the data: the errors changed nothing.
    let got = c
        .get_account_transfers(v1::GetAccountTransfersRequest {
            filter: Some(account_filter(10)),
            consistency: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .transfers;
    assert_eq!(got.len(), 1);
    node.shutdown().await.unwrap();
}
