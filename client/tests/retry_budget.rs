//! The retry budget and the server's retry-after hint, over real gRPC against mock nodes.

mod common;

use std::time::{Duration, Instant};

use common::{Action, MockNode};
use tally_client::{Client, ClientOptions, CreateTransferResult, Error, RetryStats, Transfer};
use tokio::task::JoinSet;
use tonic::Code;

/// What an overloaded Tally node answers: refused, nothing applied, come back in `ms`.
fn overloaded(ms: u64) -> Action {
    Action::Fail(
        Code::ResourceExhausted,
        "overloaded: request refused",
        vec![
            ("tally-retry-after-ms", ms.to_string()),
            ("tally-not-applied", "true".to_string()),
        ],
    )
}

fn transfer(i: u64) -> Transfer {
    Transfer::new(u128::from(i) << 64 | 9, 1, 2, 1, 840, 1)
}

/// Quick waits, a 10% budget with a reserve of 1 retry a second over a 20 s window (20 retries),
/// so nothing leaves the window during a test.
fn budgeted() -> ClientOptions {
    ClientOptions {
        attempt_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_secs(5),
        retry_backoff_min: Duration::from_millis(1),
        retry_backoff_max: Duration::from_millis(4),
        retry_budget_percent: 10,
        retry_budget_min_per_sec: 1,
        retry_budget_window: Duration::from_secs(20),
        ..ClientOptions::default()
    }
}

#[tokio::test]
async fn a_refusing_server_gets_no_more_attempts_than_the_retry_budget_allows() {
    let node = MockNode::start();
    node.otherwise(overloaded(1));
    let client = Client::connect_with([node.address()], budgeted())
        .await
        .unwrap();

    let calls = 200;
    let mut tasks = JoinSet::new();
    for i in 0..calls {
        let client = client.clone();
        tasks.spawn(async move { client.create_transfers(&[transfer(i)]).await });
    }
    while let Some(outcome) = tasks.join_next().await {
        let err = outcome.unwrap().unwrap_err();
        // Every attempt was refused as not applied: the caller may resend.
        assert!(
            matches!(err, Error::ResourceExhausted(ref m) if m.contains("retry budget")),
            "{err}"
        );
        assert!(!err.is_indeterminate() && err.is_retryable(), "{err}");
    }

    // Without a budget each call would retry until its 5 s deadline: thousands of attempts.
    let budget = calls / 10 + 20;
    let stats = client.retry_stats();
    let mut want = RetryStats::default();
    want.first_attempts = calls;
    want.retries = budget;
    want.retries_refused = calls;
    assert_eq!(stats, want, "every call ended on a refused retry");
    let attempts = node.calls() as u64;
    assert_eq!(
        attempts,
        calls + budget,
        "the node saw every attempt counted"
    );
    assert!(attempts <= calls * 110 / 100 + 20);
}

#[tokio::test]
async fn the_server_retry_after_is_a_floor_on_the_wait() {
    let node = MockNode::start();
    node.script([overloaded(120), overloaded(120)]);
    let client = Client::connect_with([node.address()], budgeted())
        .await
        .unwrap();

    let start = Instant::now();
    let results = client.create_transfers(&[transfer(1)]).await.unwrap();

    assert_eq!(results, [CreateTransferResult::Ok]);
    assert_eq!(node.calls(), 3);
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(240), "{waited:?}");
    assert_eq!(client.retry_stats().retries, 2);
}

#[tokio::test]
async fn following_a_leader_hint_is_not_charged_to_the_budget() {
    let (follower, leader) = (MockNode::start(), MockNode::start());
    follower.follow(&leader);
    let options = ClientOptions {
        retry_budget_percent: 0,
        retry_budget_min_per_sec: 0,
        ..budgeted()
    };
    let client = Client::connect_with([follower.address()], options)
        .await
        .unwrap();

    let results = client.create_transfers(&[transfer(1)]).await.unwrap();

    assert_eq!(results, [CreateTransferResult::Ok]);
    let stats = client.retry_stats();
    assert_eq!(
        (stats.first_attempts, stats.redirects, stats.retries),
        (1, 1, 0)
    );
}

/// A spent budget never turns an attempt that may have applied into a definite failure: the
/// call ends indeterminate, so the caller resolves it with the same ids.
#[tokio::test]
async fn a_spent_budget_leaves_an_unanswered_write_indeterminate() {
    let node = MockNode::start();
    node.otherwise(Action::Hang);
    let options = ClientOptions {
        attempt_timeout: Duration::from_millis(100),
        retry_budget_percent: 0,
        retry_budget_min_per_sec: 0,
        ..budgeted()
    };
    let client = Client::connect_with([node.address()], options)
        .await
        .unwrap();

    let err = client.create_transfers(&[transfer(1)]).await.unwrap_err();

    assert!(
        matches!(err, Error::Indeterminate { attempts: 1, ref last, .. } if last.contains("budget")),
        "{err}"
    );
    assert_eq!(node.calls(), 1);
    assert_eq!(client.retry_stats().retries_refused, 1);
}
