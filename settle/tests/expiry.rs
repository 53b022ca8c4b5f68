//! An open round whose result comes after its bets' timeout: Tally has released the
//! reservation, so the settlement chain is refused as a whole and nothing of the round posts.

mod common;

use std::time::Duration;

use common::{ingest_texts, net, start};
use tally_settle::chart::{players_account, pool_account};
use tally_settle::terms::Terms;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_after_the_timeout_settles_nothing_and_is_reported() {
    let server = start().await;
    let c = &server.client;
    let text = include_str!("../samples/terms.toml")
        .replace("pending_timeout_secs = 86400", "pending_timeout_secs = 1");
    let terms = Terms::parse(&text).unwrap();
    let bet = r#"{"event":"bet","tx_id":"e1b","round_id":"E1","player":"p","operator":"royal","currency":"USD","amount":700,"timestamp":"2026-11-20T10:00:00Z"}"#;
    let win = r#"{"event":"win","tx_id":"e1w","round_id":"E1","player":"p","operator":"royal","currency":"USD","amount":100,"timestamp":"2026-11-20T10:00:05Z"}"#;
    let r = ingest_texts(c, &terms, &[("alpha", bet)]).await;
    assert_eq!((r.bets_posted, r.rounds_open), (1, 1));
    let pool = pool_account("alpha", "USD");
    assert_eq!(
        c.lookup_accounts(&[pool]).await.unwrap()[0].credits_pending,
        700
    );

    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let r = ingest_texts(c, &terms, &[("alpha", bet), ("alpha", win)]).await;
    assert_eq!(r.rounds_settled, 0);
    assert_eq!(r.failures.len(), 1);
    assert!(
        r.failures[0].reason.contains("pending_transfer_expired"),
        "{:?}",
        r.failures
    );
    // Nothing of the round is posted: no win, no share, and the reservation is gone.
    let pool = c.lookup_accounts(&[pool]).await.unwrap()[0];
    assert_eq!(
        (
            pool.credits_pending,
            pool.credits_posted,
            pool.debits_posted
        ),
        (0, 0, 0)
    );
    assert_eq!(net(c, players_account("royal", "USD")).await, 0);
    assert_eq!(common::partner(c, &terms, "provider:alpha").await, 0);
}
