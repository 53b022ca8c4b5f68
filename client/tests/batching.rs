//! Single-event calls are packed into batches, and each caller gets its own result.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::{Action, MockNode};
use tally_client::{
    Account, Client, ClientOptions, CreateAccountResult, CreateTransferResult, LinkedChain,
    Transfer, TransferFlags,
};
use tally_proto::u128_from_wire;

/// The result the mock answers for a transfer: its `user_data_32`. Codes cycle through every
/// known code and a few unknown ones, so a result handed to the wrong caller shows.
fn code_for(i: u32) -> u32 {
    i % 71
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_transfers_arrive_in_few_requests_each_caller_gets_its_own_result() {
    let node = MockNode::start();
    // A server that takes a moment per request, as a real one does.
    node.otherwise(Action::Delay(Duration::from_millis(5)));
    let client = Client::connect([node.address()]).await.unwrap();

    let calls: Vec<_> = (0..1_000u32)
        .map(|i| {
            let client = client.clone();
            let transfer = Transfer::new(u128::from(i) + 1, 1, 2, 10, 840, 1).with_user_data(
                0,
                0,
                code_for(i),
            );
            tokio::spawn(async move { (i, client.create_transfer(transfer).await) })
        })
        .collect();
    for call in calls {
        let (i, result) = call.await.unwrap();
        assert_eq!(
            result.unwrap(),
            CreateTransferResult::from_code(code_for(i)),
            "caller {i}"
        );
    }

    let requests = node.transfer_requests();
    let events: Vec<u128> = requests
        .iter()
        .flatten()
        .map(|t| u128_from_wire(t.id))
        .collect();
    assert_eq!(events.len(), 1_000, "every event sent exactly once");
    assert_eq!(events.iter().collect::<HashSet<_>>().len(), 1_000);
    assert!(
        requests.len() <= 50,
        "{} requests for 1,000 events",
        requests.len()
    );
    assert!(requests.iter().all(|r| r.len() <= 8189));
}

#[tokio::test]
async fn max_batch_bounds_every_request() {
    let node = MockNode::start();
    let options = ClientOptions {
        max_batch: 16,
        ..ClientOptions::default()
    };
    let client = Client::connect_with([node.address()], options)
        .await
        .unwrap();
    let calls: Vec<_> = (0..200u32)
        .map(|i| {
            let client = client.clone();
            let account = Account::new(u128::from(i) + 1, 840, 1).with_user_data(0, 0, i % 26);
            tokio::spawn(async move { (i, client.create_account(account).await) })
        })
        .collect();
    for call in calls {
        let (i, result) = call.await.unwrap();
        assert_eq!(result.unwrap(), CreateAccountResult::from_code(i % 26));
    }
    let requests = node.account_requests();
    assert_eq!(requests.iter().map(Vec::len).sum::<usize>(), 200);
    assert!(
        requests.iter().all(|r| r.len() <= 16),
        "a batch exceeded max_batch"
    );
}

#[tokio::test]
async fn a_batch_that_fails_is_retried_whole_and_answers_every_caller() {
    let node = MockNode::start();
    node.script([Action::Fail(
        tonic::Code::Unavailable,
        "leader stepped down",
        vec![],
    )]);
    let client = Client::connect([node.address()]).await.unwrap();
    let calls: Vec<_> = (0..50u32)
        .map(|i| {
            let client = client.clone();
            let transfer =
                Transfer::new(u128::from(i) + 1, 1, 2, 1, 840, 1).with_user_data(0, 0, 22);
            tokio::spawn(async move { client.create_transfer(transfer).await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), CreateTransferResult::Exists);
    }
    let requests = node.transfer_requests();
    // The failed first request was resent unchanged (other batches may have gone in between).
    assert!(
        requests[1..].contains(&requests[0]),
        "the failed batch was not resent whole"
    );
    assert_eq!(requests[1..].iter().map(Vec::len).sum::<usize>(), 50);
}

#[tokio::test]
async fn a_linked_single_event_is_an_open_chain_and_is_never_sent() {
    let node = MockNode::start();
    let client = Client::connect([node.address()]).await.unwrap();
    let linked = Transfer::new(1, 1, 2, 1, 840, 1).with_flags(TransferFlags::LINKED);
    assert_eq!(
        client.create_transfer(linked).await.unwrap(),
        CreateTransferResult::LinkedEventChainOpen
    );
    let account = LinkedChain::new()
        .push(Account::new(1, 840, 1))
        .push(Account::new(2, 840, 1))
        .build()[0];
    assert_eq!(
        client.create_account(account).await.unwrap(),
        CreateAccountResult::LinkedEventChainOpen
    );
    assert_eq!(node.calls(), 0);
}

#[tokio::test]
async fn linked_chains_sent_concurrently_each_travel_in_their_own_request() {
    let node = MockNode::start();
    let client = Arc::new(Client::connect([node.address()]).await.unwrap());
    let calls: Vec<_> = (0..20u128)
        .map(|c| {
            let client = client.clone();
            let chain = LinkedChain::new()
                .extend((0..4).map(|leg| Transfer::new(c * 10 + leg + 1, 1, 2, 1, 840, 1)))
                .build();
            tokio::spawn(async move { client.create_transfers(&chain).await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), [CreateTransferResult::Ok; 4]);
    }
    let requests = node.transfer_requests();
    assert_eq!(requests.len(), 20);
    for request in requests {
        let linked: Vec<u32> = request.iter().map(|t| t.flags & 1).collect();
        assert_eq!(linked, [1, 1, 1, 0], "a chain was split or merged");
    }
}
