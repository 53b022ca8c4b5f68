//! A rollback naming one bet voids that bet alone, for exactly its stake, and the round settles
//! on its other bets; a wrong amount or an unknown bet voids nothing.

mod common;

use common::{balances, ingest_texts, net, partner, start, webhook, webhook_bet_rollback};
use tally_settle::chart::{players_account, pool_account};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_of_one_bet_voids_it_and_the_round_settles_on_the_rest() {
    let server = start().await;
    let (c, terms) = (&server.client, common::sample_terms());
    let feed = [
        webhook("bet", "pb1", "P1", 1_000, "10:00:00"),
        webhook("bet", "pb2", "P1", 2_000, "10:00:10"),
        webhook_bet_rollback("pr2", "P1", "pb2", 2_000, "10:00:20"),
        webhook("win", "pw", "P1", 500, "10:01:00"),
    ]
    .join("\n");
    let r = ingest_texts(c, &terms, &[("alpha", &feed)]).await;
    assert_eq!(r.failures, vec![]);
    assert_eq!(
        (r.bets_posted, r.bets_rolled_back, r.rounds_settled),
        (2, 1, 1)
    );
    // Settled on 10.00 with a 5.00 win: GGR 5.00; alpha's fee 12% = 0.60.
    assert_eq!(net(c, players_account("royal", "USD")).await, -500);
    assert_eq!(partner(c, &terms, "provider:alpha").await, 60);
    let pool = c
        .lookup_accounts(&[pool_account("alpha", "USD")])
        .await
        .unwrap()[0];
    assert_eq!(
        (
            pool.credits_pending,
            pool.credits_posted - pool.debits_posted
        ),
        (0, 0)
    );

    // A replay changes nothing.
    let before = balances(c, &terms).await;
    let r = ingest_texts(c, &terms, &[("alpha", &feed)]).await;
    assert_eq!(
        (r.failures.len(), r.bets_posted, r.bets_rolled_back),
        (0, 0, 0)
    );
    assert_eq!((r.rounds_settled, r.rounds_already_closed), (0, 1));
    assert_eq!(balances(c, &terms).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bet_rollback_of_another_amount_or_bet_voids_nothing() {
    let server = start().await;
    let (c, terms) = (&server.client, common::sample_terms());
    let bets = [
        webhook("bet", "qb1", "P2", 1_000, "10:00:00"),
        webhook("bet", "qb2", "P2", 2_000, "10:00:10"),
    ]
    .join("\n");
    let r = ingest_texts(c, &terms, &[("alpha", &bets)]).await;
    assert_eq!((r.bets_posted, r.rounds_open), (2, 1));
    for (rollback, why) in [
        (
            webhook_bet_rollback("qr", "P2", "qb2", 1_999, "10:00:20"),
            "does not match bet qb2's stake of 20.00",
        ),
        (
            webhook_bet_rollback("qr", "P2", "nope", 2_000, "10:00:20"),
            "bet nope, which is not in Tally",
        ),
    ] {
        let feed = [rollback, webhook("win", "qw", "P2", 0, "10:01:00")].join("\n");
        let r = ingest_texts(c, &terms, &[("alpha", &feed)]).await;
        assert_eq!((r.rounds_settled, r.bets_rolled_back), (0, 0), "{r:?}");
        assert!(r.failures[0].reason.contains(why), "{:?}", r.failures);
        let pool = c
            .lookup_accounts(&[pool_account("alpha", "USD")])
            .await
            .unwrap()[0];
        assert_eq!(pool.credits_pending, 3_000, "both bets stay reserved");
    }
    // Without a result the round stays open on its other bet.
    let r = ingest_texts(
        c,
        &terms,
        &[(
            "alpha",
            &webhook_bet_rollback("qr2", "P2", "qb1", 1_000, "10:00:30"),
        )],
    )
    .await;
    assert_eq!(
        (r.bets_rolled_back, r.rounds_open, r.failures.len()),
        (1, 1, 0)
    );
    let pool = c
        .lookup_accounts(&[pool_account("alpha", "USD")])
        .await
        .unwrap()[0];
    assert_eq!(pool.credits_pending, 2_000);
}
