//! A few rounds whose every share was computed by hand, checked to the unit against Tally,
//! across currencies, FX, tiers, negative GGR, an open round settled by a later feed, a
//! rollback, and a replay.

mod common;

use common::{ingest_texts, net, partner, snapshot, start};
use tally_settle::chart::{fx_account, players_account, pool_account};

fn webhook(
    kind: &str,
    tx: &str,
    round: &str,
    op: &str,
    ccy: &str,
    amount: u64,
    time: &str,
) -> String {
    format!(
        r#"{{"event":"{kind}","tx_id":"{tx}","round_id":"{round}","player":"p","operator":"{op}","currency":"{ccy}","amount":{amount},"timestamp":"2026-11-20T{time}Z"}}"#
    )
}

fn wallet(action: &str, tx: &str, round: &str, op: &str, ccy: &str, amount: &str) -> String {
    format!(
        r#"{{"transactionId":"{tx}","gameRound":{{"id":"{round}"}},"action":"{action}","account":{{"playerId":"p","casino":"{op}"}},"money":{{"amount":"{amount}","currency":"{ccy}"}},"occurredAt":1795140000000}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_share_matches_the_hand_computation_to_the_unit() {
    let server = start().await;
    let (c, terms) = (&server.client, common::sample_terms());
    let alpha = [
        // X1: royal, USD 100.00 stake, 39.99 win: GGR 60.01.
        webhook("bet", "x1b", "X1", "royal", "USD", 10_000, "10:00:00"),
        webhook("win", "x1w", "X1", "royal", "USD", 3_999, "10:01:00"),
        // X3: pacific, USD 10.00 stake, 25.00 win: GGR -15.00, every leg reversed.
        webhook("bet", "x3b", "X3", "pacific", "USD", 1_000, "11:00:00"),
        webhook("win", "x3w", "X3", "pacific", "USD", 2_500, "11:01:00"),
        // X4: pacific, USD 5.00, open for now.
        webhook("bet", "x4b", "X4", "pacific", "USD", 500, "12:00:00"),
    ]
    .join("\n");
    let gamma = [
        // X2: lucky, KRW 50000 stake, 12000 win: GGR 38000.
        wallet("DEBIT", "x2b", "X2", "lucky", "krw", "50000"),
        wallet("CREDIT", "x2w", "X2", "lucky", "krw", "12000"),
        // X5: lucky, KRW 10000, rolled back.
        wallet("DEBIT", "x5b", "X5", "lucky", "krw", "10000"),
        wallet("CANCEL", "x5c", "X5", "lucky", "krw", "10000"),
    ]
    .join("\n");
    let r = ingest_texts(c, &terms, &[("alpha", &alpha), ("gamma", &gamma)]).await;
    assert_eq!(r.failures, vec![]);
    assert_eq!((r.events, r.bets_posted, r.duplicates), (9, 5, 0));
    assert_eq!(
        (r.rounds_settled, r.rounds_cancelled, r.rounds_open),
        (3, 1, 1)
    );

    check_first_feed(c, &terms).await;

    // A later feed brings X4's result (a loss): GGR 500, stake 5 USD -> aggregator 10%, lee 3%.
    let later = webhook("win", "x4w", "X4", "pacific", "USD", 0, "12:05:00");
    let r = ingest_texts(c, &terms, &[("alpha", &later)]).await;
    assert_eq!(
        (r.rounds_settled, r.rounds_open, r.failures.len()),
        (1, 0, 0)
    );
    assert_eq!(partner(c, &terms, "provider:alpha").await, 540 + 60);
    assert_eq!(partner(c, &terms, "aggregator").await, 543 + 50);
    assert_eq!(partner(c, &terms, "agent:lee").await, -600 + 200); // 0.15 USD = 200 KRW
    assert_eq!(partner(c, &terms, "operator:pacific").await, -1_125 + 375);
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

    // Replaying everything changes nothing and counts every event as a duplicate.
    let before = snapshot(c, &terms).await;
    let all = format!("{alpha}\n{later}");
    let r = ingest_texts(c, &terms, &[("alpha", &all), ("gamma", &gamma)]).await;
    assert_eq!(r.failures, vec![]);
    assert_eq!((r.duplicates, r.bets_posted, r.rounds_settled), (10, 0, 0));
    assert_eq!((r.rounds_already_closed, r.rounds_cancelled), (5, 0));
    assert_eq!(snapshot(c, &terms).await, before);

    // A second win for a settled round is a late event: applied once, as correction #1.
    let extra = webhook("win", "x1w-2", "X1", "royal", "USD", 1, "10:02:00");
    let r = ingest_texts(c, &terms, &[("alpha", &extra)]).await;
    assert_eq!(r.failures, vec![]);
    assert_eq!((r.late.len(), r.late[0].correction), (1, 1), "{r:?}");
    assert_ne!(snapshot(c, &terms).await, before);
    let after = snapshot(c, &terms).await;
    let r = ingest_texts(c, &terms, &[("alpha", &extra)]).await;
    assert_eq!((r.late.len(), r.failures.len()), (0, 0));
    assert_eq!(snapshot(c, &terms).await, after);
}

/// The balances after the first feed, worked out by hand.
async fn check_first_feed(c: &tally_client::Client, terms: &tally_settle::terms::Terms) {
    // X1: stake 100 USD -> aggregator tier 8%. alpha 12% of 6001 = 720.12 -> 720; aggregator
    // 8% = 480.08 -> 480; kim 5% = 300.05 -> 300; royal the rest, 4501 USD cents = 45.01 USD
    // = 41.675.. EUR -> 41.67 EUR (FX rounds down).
    // X2: gamma 10% of 38000 = 3800 KRW; aggregator 7.5% (lucky's rate) = 2850 KRW = 2.1375
    // USD -> 2.13; lucky the rest, 31350 KRW.
    // X3: GGR -1500 cents, stake 10 USD -> aggregator 10%, lee 3%: alpha -180, aggregator
    // -150, lee -45 cents = -600 KRW, pacific -1125.
    let expected = [
        ("provider:alpha", 720 - 180),
        ("provider:gamma", 3_800),
        ("aggregator", 480 + 213 - 150),
        ("agent:kim", 300),
        ("agent:lee", -600),
        ("operator:royal", 4_167),
        ("operator:lucky", 31_350),
        ("operator:pacific", -1_125),
    ];
    for (party, amount) in expected {
        assert_eq!(partner(c, terms, party).await, amount, "{party}");
    }
    // The FX desk: USD in from X1 (4501), out for X2's aggregator leg (213) and X3's reversed
    // lee leg (45 back to the pool); EUR out to royal; KRW in from X2 (2850) and from lee on X3
    // (600, lee pays back).
    assert_eq!(net(c, fx_account("USD")).await, 4_501 - 213 - 45);
    assert_eq!(net(c, fx_account("EUR")).await, -4_167);
    assert_eq!(net(c, fx_account("KRW")).await, 2_850 + 600);
    // Pools are back to 0 posted; X4's 5.00 is pending.
    let pool = c
        .lookup_accounts(&[pool_account("alpha", "USD")])
        .await
        .unwrap()[0];
    assert_eq!(
        (pool.credits_posted, pool.debits_posted),
        (
            11_000 + 180 + 150 + 45 + 1_125,
            3_999 + 2_500 + 720 + 480 + 300 + 4_501
        )
    );
    assert_eq!(pool.credits_pending, 500);
    assert_eq!(net(c, pool_account("gamma", "KRW")).await, 0);
    // X5 was voided: lucky's players account only carries X2.
    assert_eq!(net(c, players_account("lucky", "KRW")).await, -38_000);
}
