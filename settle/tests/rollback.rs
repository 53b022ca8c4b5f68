//! Rollbacks are checked against the bets they cancel, a rollback of a settled round says so,
//! and a statement period must run forward.

mod common;

use common::{ingest_texts, start};
use tally_settle::chart::{pool_account, Party};

fn webhook(kind: &str, tx: &str, round: &str, amount: u64, time: &str) -> String {
    format!(
        r#"{{"event":"{kind}","tx_id":"{tx}","round_id":"{round}","player":"p","operator":"royal","currency":"USD","amount":{amount},"timestamp":"2026-11-20T{time}Z"}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_of_another_amount_voids_nothing() {
    let server = start().await;
    let (c, terms) = (&server.client, common::sample_terms());
    let feed = [
        webhook("bet", "r1b", "R1", 3_000, "10:00:00"),
        webhook("rollback", "r1r", "R1", 1, "10:01:00"),
    ]
    .join("\n");
    let r = ingest_texts(c, &terms, &[("alpha", &feed)]).await;
    assert_eq!(r.rounds_cancelled, 0, "{r:?}");
    assert_eq!(r.failures.len(), 1, "{r:?}");
    let reason = &r.failures[0].reason;
    assert!(
        reason.contains("rollback of 0.01") && reason.contains("30.00"),
        "{reason}"
    );
    let pool = c
        .lookup_accounts(&[pool_account("alpha", "USD")])
        .await
        .unwrap()[0];
    assert_eq!(pool.credits_pending, 3_000, "the stake is still reserved");

    // The right amount cancels it.
    let fixed = webhook("rollback", "r1r2", "R1", 3_000, "10:02:00");
    let r = ingest_texts(c, &terms, &[("alpha", &fixed)]).await;
    assert_eq!((r.rounds_cancelled, r.failures.len()), (1, 0), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_of_a_settled_round_says_it_was_settled() {
    let server = start().await;
    let (c, terms) = (&server.client, common::sample_terms());
    let feed = [
        webhook("bet", "s1b", "S1", 1_000, "10:00:00"),
        webhook("win", "s1w", "S1", 0, "10:01:00"),
    ]
    .join("\n");
    let r = ingest_texts(c, &terms, &[("alpha", &feed)]).await;
    assert_eq!(r.rounds_settled, 1);
    let late = webhook("rollback", "s1r", "S1", 1_000, "10:05:00");
    let r = ingest_texts(c, &terms, &[("alpha", &late)]).await;
    assert_eq!(r.failures.len(), 1, "{r:?}");
    assert!(
        r.failures[0].reason.contains("already settled"),
        "{:?}",
        r.failures
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_period_must_run_forward() {
    let server = start().await;
    let terms = common::sample_terms();
    tally_settle::ingest::ensure_accounts(&server.client, &terms)
        .await
        .unwrap();
    let (from, to) = ("2026-11-21".parse().unwrap(), "2026-11-20".parse().unwrap());
    let err =
        tally_settle::statement::statement(&server.client, &terms, &Party::Aggregator, from, to)
            .await
            .unwrap_err();
    assert!(err.to_string().contains("is after"), "{err}");
}
