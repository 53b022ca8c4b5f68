//! Leader following, retries and deadlines against mock nodes.

mod common;

use std::time::{Duration, Instant};

use common::{Action, MockNode};
use tally_client::{
    Account, Client, ClientOptions, CreateAccountResult, CreateTransferResult, Error, LinkedChain,
    Transfer,
};
use tonic::Code;

/// Options that make a test's failures quick.
fn fast() -> ClientOptions {
    ClientOptions {
        attempt_timeout: Duration::from_millis(200),
        request_timeout: Duration::from_secs(5),
        retry_backoff_min: Duration::from_millis(5),
        retry_backoff_max: Duration::from_millis(20),
        ..ClientOptions::default()
    }
}

fn transfers(n: u32) -> Vec<Transfer> {
    (1..=n)
        .map(|i| Transfer::new(u128::from(i) << 64 | 7, 1, 2, u128::from(i), 840, 1))
        .collect()
}

#[tokio::test]
async fn follows_the_leader_hint_and_then_goes_straight_to_the_leader() {
    let (a, b) = (MockNode::start(), MockNode::start());
    a.follow(&b);
    let client = Client::connect_with([a.address()], fast()).await.unwrap();

    let results = client
        .create_accounts(&[Account::new(10, 840, 1), Account::new(11, 840, 1)])
        .await
        .unwrap();
    assert_eq!(results, [CreateAccountResult::Ok; 2]);
    assert_eq!((a.calls(), b.calls()), (1, 1), "A redirected, B answered");
    assert_eq!(client.leader(), Some(format!("http://{}", b.address())));

    // Later writes and linearizable reads go straight to B.
    client.create_transfers(&transfers(3)).await.unwrap();
    client.lookup_accounts(&[10]).await.unwrap();
    assert_eq!((a.calls(), b.calls()), (1, 3));
    assert_eq!(b.transfer_requests().len(), 1);
    assert!(a.transfer_requests().is_empty());
}

#[tokio::test]
async fn round_robins_the_seeds_when_a_node_is_down_and_no_hint_is_given() {
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = down.local_addr().unwrap().to_string();
    drop(down);
    let live = MockNode::start();
    let client = Client::connect_with([dead, live.address()], fast())
        .await
        .unwrap();
    for _ in 0..3 {
        let results = client.create_transfers(&transfers(1)).await.unwrap();
        assert_eq!(results, [CreateTransferResult::Ok]);
    }
    assert_eq!(live.calls(), 3);
}

#[tokio::test]
async fn an_indeterminate_failure_is_retried_with_the_identical_request() {
    let node = MockNode::start();
    node.script([
        Action::Fail(Code::DeadlineExceeded, "raft commit timed out", vec![]),
        Action::Hang, // outlives the 200 ms attempt timeout
        Action::Fail(Code::Unavailable, "leadership lost", vec![]),
        Action::Fail(Code::Cancelled, "shutting down", vec![]),
    ]);
    let client = Client::connect_with([node.address()], fast())
        .await
        .unwrap();
    let chain = LinkedChain::new().extend(transfers(3)).build();

    let results = client.create_transfers(&chain).await.unwrap();

    assert_eq!(results, [CreateTransferResult::Ok; 3]);
    let requests = node.transfer_requests();
    assert_eq!(requests.len(), 5, "four failures, then the answer");
    assert!(
        requests.iter().all(|r| *r == requests[0]),
        "a retry changed the request"
    );
    let linked: Vec<u32> = requests[0].iter().map(|t| t.flags & 1).collect();
    assert_eq!(linked, [1, 1, 0], "the chain travelled whole");
}

#[tokio::test]
async fn invalid_argument_is_returned_at_once_and_not_retried() {
    let node = MockNode::start();
    node.otherwise(Action::Fail(
        Code::InvalidArgument,
        "code 70000 > 65535",
        vec![],
    ));
    let client = Client::connect_with([node.address()], fast())
        .await
        .unwrap();

    let err = client.create_transfers(&transfers(2)).await.unwrap_err();

    assert_eq!(err, Error::InvalidArgument("code 70000 > 65535".into()));
    assert!(!err.is_indeterminate() && !err.is_retryable());
    assert_eq!(node.calls(), 1);
}

#[tokio::test]
async fn a_server_that_never_answers_is_bounded_by_the_overall_deadline() {
    let node = MockNode::start();
    node.otherwise(Action::Hang);
    let options = ClientOptions {
        attempt_timeout: Duration::from_millis(100),
        request_timeout: Duration::from_millis(450),
        ..fast()
    };
    let client = Client::connect_with([node.address()], options)
        .await
        .unwrap();

    let start = Instant::now();
    let err = client.create_transfers(&transfers(1)).await.unwrap_err();
    let elapsed = start.elapsed();

    assert!(
        err.is_indeterminate(),
        "a write with no answer is indeterminate: {err}"
    );
    let Error::Indeterminate { attempts, .. } = err else {
        unreachable!()
    };
    assert!(attempts >= 3, "only {attempts} attempts in 450 ms");
    assert_eq!(node.calls() as u32, attempts);
    assert!(elapsed < Duration::from_millis(1_500), "took {elapsed:?}");

    // A read that gets no answer is not indeterminate: reads change nothing.
    let err = client.lookup_accounts(&[1]).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
}

#[tokio::test]
async fn an_unreachable_cluster_is_a_connection_error_not_indeterminate() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap().to_string();
    drop(closed);
    let options = ClientOptions {
        request_timeout: Duration::from_millis(300),
        ..fast()
    };
    let client = Client::connect_with([address], options).await.unwrap();

    let err = client.create_transfers(&transfers(1)).await.unwrap_err();

    // Nothing was ever sent, so nothing can have applied.
    assert!(
        matches!(err, Error::Connection { attempts, .. } if attempts > 1),
        "{err}"
    );
    assert!(!err.is_indeterminate());
    assert!(err.is_retryable());
}

#[tokio::test]
async fn no_known_leader_waits_the_suggested_time_then_retries() {
    let node = MockNode::start();
    let after = vec![("tally-retry-after-ms", "150".to_string())];
    node.script([Action::Fail(
        Code::Unavailable,
        "election in progress",
        after,
    )]);
    let client = Client::connect_with([node.address()], fast())
        .await
        .unwrap();

    let start = Instant::now();
    let results = client
        .create_accounts(&[Account::new(1, 840, 1)])
        .await
        .unwrap();

    assert_eq!(results, [CreateAccountResult::Ok]);
    assert!(
        start.elapsed() >= Duration::from_millis(150),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(node.calls(), 2);
}

#[tokio::test]
async fn overload_is_retried_with_backoff_and_reported_as_such() {
    let node = MockNode::start();
    node.otherwise(Action::Fail(Code::ResourceExhausted, "queue full", vec![]));
    let options = ClientOptions {
        request_timeout: Duration::from_millis(300),
        ..fast()
    };
    let client = Client::connect_with([node.address()], options)
        .await
        .unwrap();

    let err = client.create_transfers(&transfers(1)).await.unwrap_err();

    assert!(
        matches!(err, Error::ResourceExhausted(ref m) if m.contains("queue full")),
        "{err}"
    );
    assert!(
        !err.is_indeterminate(),
        "an overloaded server applied nothing"
    );
    assert!(node.calls() > 1, "overload must be retried");
}

#[tokio::test]
async fn internal_errors_are_not_retried_and_leave_a_write_indeterminate() {
    let node = MockNode::start();
    node.otherwise(Action::Fail(Code::Internal, "apply failed", vec![]));
    let client = Client::connect_with([node.address()], fast())
        .await
        .unwrap();

    let err = client.create_transfers(&transfers(1)).await.unwrap_err();
    assert!(err.is_indeterminate(), "{err}");
    let err = client.lookup_transfers(&[1]).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Internal {
                indeterminate: false,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(node.calls(), 2);
}

#[tokio::test]
async fn nodes_naming_each_other_as_leader_get_backoff_not_a_busy_loop() {
    let (a, b) = (MockNode::start(), MockNode::start());
    a.follow(&b);
    b.follow(&a);
    let options = ClientOptions {
        request_timeout: Duration::from_millis(400),
        ..fast()
    };
    let client = Client::connect_with([a.address()], options).await.unwrap();

    let start = Instant::now();
    let err = client.create_transfers(&transfers(1)).await.unwrap_err();

    // A redirect may come from a leader that proposed and then stepped down: not "nothing
    // applied".
    assert!(err.is_indeterminate(), "{err}");
    assert!(start.elapsed() < Duration::from_millis(1_500));
    let calls = a.calls() + b.calls();
    // Without backoff a loopback ping-pong makes about 200 calls in 400 ms (debug build).
    // With backoff (waits of 2.5..20 ms) it makes a few dozen at most.
    assert!((4..80).contains(&calls), "{calls} calls");
}

/// Found on a real 3-node cluster: a leader committed a batch, then stalled before answering;
/// the client resent the batch to the new leader, which answered `EXISTS`. The events applied
/// exactly once, and the result says so through `is_applied()`.
#[tokio::test]
async fn a_resend_of_a_batch_that_applied_unanswered_answers_exists() {
    let node = MockNode::start();
    node.apply_then_hang(1);
    let client = Client::connect_with([node.address()], fast())
        .await
        .unwrap();

    let results = client.create_transfers(&transfers(2)).await.unwrap();

    assert_eq!(results, [CreateTransferResult::Exists; 2]);
    assert!(results.iter().all(|r| r.is_applied()));
    let requests = node.transfer_requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0], requests[1], "the resend must be identical");
}

/// A refusal marked `tally-not-applied` (the server never logged the attempt) is no source of
/// doubt: a write refused only that way until its deadline is `Unavailable`, not
/// indeterminate. The same refusal without the mark leaves it indeterminate.
#[tokio::test]
async fn refusals_marked_not_applied_leave_a_write_determinate() {
    for (marked, want_indeterminate) in [(true, false), (false, true)] {
        let node = MockNode::start();
        let mut meta = vec![("tally-retry-after-ms", "20".to_string())];
        if marked {
            meta.push(("tally-not-applied", "true".to_string()));
        }
        node.otherwise(Action::Fail(Code::Unavailable, "no leader", meta));
        let options = ClientOptions {
            request_timeout: Duration::from_millis(400),
            ..fast()
        };
        let client = Client::connect_with([node.address()], options)
            .await
            .unwrap();
        let e = client.create_transfers(&transfers(1)).await.unwrap_err();
        assert_eq!(
            e.is_indeterminate(),
            want_indeterminate,
            "marked {marked}: {e}"
        );
        assert!(node.calls() >= 2, "retried");
    }
}
