//! A round with a rejected line settles nothing: it is held (quarantined) and reported, and the
//! corrected feed completes it; reconciliation then finds it settled.

mod common;

use common::{ingest_texts, net, partner, start};
use tally_settle::chart::{players_account, pool_account};
use tally_settle::reconcile;

const HEADER: &str = "txn_id,round,type,player_id,brand,ccy,amount,time";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_with_a_rejected_line_is_held_until_corrected() {
    let server = start().await;
    let (c, terms) = (&server.client, common::sample_terms());
    let feed = |second_bet: &str| {
        format!(
            "{HEADER}\nq1,Q1,BET,u,royal,EUR,10.00,1795140000\n\
             q2,Q1,BET,u,royal,EUR,{second_bet},1795140010\nq3,Q1,WIN,u,royal,EUR,5.00,1795140060\n\
             k1,K1,BET,u,royal,EUR,4.00,1795140000\nk2,K1,WIN,u,royal,EUR,0,1795140060\n"
        )
    };
    let r = ingest_texts(c, &terms, &[("beta", &feed("12.505"))]).await;
    assert_eq!(r.parse_errors.len(), 1);
    assert_eq!(r.rounds_settled, 1, "K1 has no bad line and settles");
    assert_eq!(r.quarantined.len(), 1, "{r:?}");
    assert_eq!(r.quarantined[0].round_id, "Q1");
    assert!(r.quarantined[0].reason.contains("line 3"), "{r:?}");
    // Nothing of Q1 is in Tally: no reservation, no share.
    let pool = c
        .lookup_accounts(&[pool_account("beta", "EUR")])
        .await
        .unwrap()[0];
    assert_eq!(pool.credits_pending, 0);
    assert_eq!(net(c, players_account("royal", "EUR")).await, -400);

    // The corrected feed completes Q1; K1 counts as already closed.
    let r = ingest_texts(c, &terms, &[("beta", &feed("12.50"))]).await;
    assert_eq!(r.failures, vec![]);
    assert_eq!(r.quarantined, vec![]);
    assert_eq!((r.rounds_settled, r.bets_posted), (1, 2));
    let pool = c
        .lookup_accounts(&[pool_account("beta", "EUR")])
        .await
        .unwrap()[0];
    assert_eq!(
        (
            pool.credits_pending,
            pool.credits_posted - pool.debits_posted
        ),
        (0, 0)
    );
    // Q1: stake 22.50, win 5.00: GGR 17.50 plus K1's 4.00.
    assert_eq!(
        net(c, players_account("royal", "EUR")).await,
        -(1_750 + 400)
    );
    assert!(partner(c, &terms, "provider:beta").await > 0);

    let report = reconcile::parse_report(
        "beta",
        "date,round_id,currency,stake,payout\n2026-11-20,Q1,EUR,22.50,5.00\n2026-11-20,K1,EUR,4.00,0\n",
        &terms,
    )
    .unwrap();
    let rec = reconcile::reconcile(c, &terms, "beta", &report)
        .await
        .unwrap();
    assert_eq!(rec.issues, vec![]);
    assert_eq!(rec.open_in_tally, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantined_rounds_are_named_in_the_reconciliation() {
    let terms = common::sample_terms();
    let text = format!(
        "{HEADER}\nq1,Q1,BET,u,royal,EUR,1e5,1795140000\nq2,Q1,WIN,u,royal,EUR,0,1795140060\n"
    );
    let parsed = tally_settle::feeds::parse(
        &terms.provider("beta").unwrap().format,
        "beta",
        &text,
        terms.currencies(),
    );
    let held = tally_settle::ingest::quarantine(&parsed.events, &parsed.errors);
    assert_eq!(held.len(), 1);
    let report = reconcile::parse_report(
        "beta",
        "date,round_id,currency,stake,payout\n2026-11-20,Q1,EUR,1.00,0\n",
        &terms,
    )
    .unwrap();
    let mut rec = reconcile::compare("beta", &report, &Default::default());
    rec.mark_quarantined(&held);
    let csv = rec.to_csv(false).unwrap();
    assert!(csv.starts_with("beta,quarantined,Q1,"), "{csv}");
    assert!(rec.to_text(&terms).contains("quarantined: round Q1"));
}
