//! The typed API end to end over gRPC: every read converts its answer, read consistency
//! travels and routes, and result codes unknown to this client survive.

mod common;

use common::MockNode;
use tally_client::{
    Account, AccountFilter, AccountFlags, Client, CreateAccountResult, CreateTransferResult,
    QueryFilter, ReadConsistency, Transfer,
};
use tally_proto::v1;

#[tokio::test]
async fn reads_convert_u128_fields_and_filters_both_ways() {
    let node = MockNode::start();
    let client = Client::connect([node.address()]).await.unwrap();

    let ids = [1, u128::from(u64::MAX) + 1, u128::MAX - 1];
    let accounts = client.lookup_accounts(&ids).await.unwrap();
    assert_eq!(accounts.iter().map(|a| a.id).collect::<Vec<_>>(), ids);
    assert_eq!(accounts[0].credits_posted, u128::MAX - 7);
    assert_eq!((accounts[0].code, accounts[0].ledger), (65_535, 840));
    assert_eq!(accounts[0].flags, AccountFlags::HISTORY);

    let transfers = client.lookup_transfers(&[u128::MAX - 1]).await.unwrap();
    assert_eq!(transfers[0].id, u128::MAX - 1);
    assert_eq!(transfers[0].amount, 1 << 100);

    let history = AccountFilter::new(1 << 70);
    let transfers = client.get_account_transfers(history).await.unwrap();
    let got: Vec<u128> = transfers.iter().map(|t| t.id).collect();
    assert_eq!(got, [(1 << 70) + 1, (1 << 70) + 2, (1 << 70) + 3]);

    let balances = client
        .get_account_balances(AccountFilter {
            timestamp_min: 77,
            ..AccountFilter::new(5 << 64)
        })
        .await
        .unwrap();
    assert_eq!(
        (balances[0].debits_posted, balances[0].timestamp),
        (5 << 64, 77)
    );

    let by_ledger = QueryFilter {
        ledger: 978,
        ..QueryFilter::new()
    };
    assert_eq!(client.query_accounts(by_ledger).await.unwrap()[0].id, 978);
    let by_code = QueryFilter {
        code: 31,
        ..QueryFilter::new()
    };
    assert_eq!(client.query_transfers(by_code).await.unwrap()[0].id, 31);
}

#[tokio::test]
async fn reads_are_linearizable_by_default_and_stale_reads_are_served_by_a_follower() {
    let (follower, leader) = (MockNode::start(), MockNode::start());
    follower.follow(&leader);
    let client = Client::connect([follower.address()]).await.unwrap();
    assert_eq!(client.read_consistency(), ReadConsistency::Linearizable);

    // Stale: the follower answers itself.
    let stale = client.with_read_consistency(ReadConsistency::Stale);
    stale.lookup_accounts(&[1]).await.unwrap();
    stale.query_transfers(QueryFilter::new()).await.unwrap();
    assert_eq!((follower.calls(), leader.calls()), (2, 0));
    let stale_wire = v1::ReadConsistency::Stale as i32;
    assert_eq!(
        *follower.state.read_consistency.lock().unwrap(),
        [stale_wire; 2]
    );

    // Linearizable: redirected to the leader.
    client.lookup_transfers(&[1]).await.unwrap();
    assert_eq!((follower.calls(), leader.calls()), (3, 1));
    let linearizable = v1::ReadConsistency::Linearizable as i32;
    assert_eq!(
        *leader.state.read_consistency.lock().unwrap(),
        [linearizable]
    );
}

#[tokio::test]
async fn result_codes_unknown_to_this_client_are_kept_not_panicked_on() {
    let node = MockNode::start();
    let client = Client::connect([node.address()]).await.unwrap();
    let batch: Vec<Transfer> = [0, 66, 68, 4_000]
        .iter()
        .enumerate()
        .map(|(i, &code)| Transfer::new(i as u128 + 1, 1, 2, 1, 840, 1).with_user_data(0, 0, code))
        .collect();
    let results = client.create_transfers(&batch).await.unwrap();
    assert_eq!(
        results,
        [
            CreateTransferResult::Ok,
            CreateTransferResult::ExceedsCredits,
            CreateTransferResult::Unknown(68),
            CreateTransferResult::Unknown(4_000),
        ]
    );
}

#[tokio::test]
async fn results_with_timestamps_pair_each_code_with_its_timestamp() {
    let node = MockNode::start();
    let client = Client::connect([node.address()]).await.unwrap();
    // The mock answers each event's `user_data_32` as its code, `user_data_64` as its timestamp.
    let batch: Vec<Transfer> = [(0, 7), (66, u64::MAX), (22, 3)]
        .iter()
        .enumerate()
        .map(|(i, &(code, ts))| {
            Transfer::new(i as u128 + 1, 1, 2, 1, 840, 1).with_user_data(0, ts, code)
        })
        .collect();
    let got = client
        .create_transfers_with_timestamps(&batch)
        .await
        .unwrap();
    let want = [
        (CreateTransferResult::Ok, 7),
        (CreateTransferResult::ExceedsCredits, u64::MAX),
        (CreateTransferResult::Exists, 3),
    ];
    let got: Vec<_> = got.iter().map(|e| (e.result, e.timestamp)).collect();
    assert_eq!(got, want);
    let account = Account {
        user_data_64: 41,
        ..Account::new(5, 840, 1)
    };
    let got = client
        .create_accounts_with_timestamps(&[account])
        .await
        .unwrap();
    assert_eq!(
        (got[0].result, got[0].timestamp),
        (CreateAccountResult::Ok, 41)
    );
    assert!(client
        .create_transfers_with_timestamps(&[])
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn oversized_and_empty_requests_never_reach_the_server() {
    let node = MockNode::start();
    let client = Client::connect([node.address()]).await.unwrap();
    let too_many = vec![Transfer::new(1, 1, 2, 1, 840, 1); 8_190];
    let err = client.create_transfers(&too_many).await.unwrap_err();
    assert!(
        matches!(err, tally_client::Error::InvalidArgument(_)),
        "{err}"
    );
    assert!(client.create_transfers(&[]).await.unwrap().is_empty());
    assert!(client.lookup_accounts(&vec![1; 8_190]).await.is_err());
    assert_eq!(node.calls(), 0);
}
