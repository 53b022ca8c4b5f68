//! Late events: a bet or a win arriving after its round settled is applied as the round's next
//! correction and reported as late, exactly once however often the feeds are replayed.

mod common;

use common::{balances, balances_of, ingest_texts, start, webhook};
use tally_settle::reconcile;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_bet_and_a_late_win_become_corrections_once() {
    let server = start().await;
    let (c, terms) = (&server.client, common::sample_terms());
    let first = [
        webhook("bet", "l1b", "L1", 1_000, "10:00:00"),
        webhook("win", "l1w", "L1", 0, "10:01:00"),
    ]
    .join("\n");
    let r = ingest_texts(c, &terms, &[("alpha", &first)]).await;
    assert_eq!(r.rounds_settled, 1);

    // A bet of the round arrives the next hour: posted and re-split as correction #1.
    let late_bet = webhook("bet", "l1b2", "L1", 4_000, "11:00:00");
    let r = ingest_texts(c, &terms, &[("alpha", &late_bet)]).await;
    assert_eq!(r.failures, vec![]);
    assert_eq!(r.late.len(), 1, "{r:?}");
    assert_eq!(
        (r.late[0].bets, r.late[0].wins, r.late[0].correction),
        (1, 0, 1)
    );
    let whole = [first.as_str(), late_bet.as_str()].join("\n");
    assert_eq!(
        balances(c, &terms).await,
        balances_of(&terms, &[("alpha", &whole)]).await
    );

    // Then a late win: correction #2.
    let late_win = webhook("win", "l1w2", "L1", 700, "12:00:00");
    let r = ingest_texts(c, &terms, &[("alpha", &late_win)]).await;
    assert_eq!((r.late.len(), r.late[0].correction), (1, 2), "{r:?}");
    let whole = [whole.as_str(), late_win.as_str()].join("\n");
    let expected = balances_of(&terms, &[("alpha", &whole)]).await;
    assert_eq!(balances(c, &terms).await, expected);

    // Replays of every feed change nothing and report nothing late.
    for feed in [&first, &late_bet, &late_win, &whole] {
        let r = ingest_texts(c, &terms, &[("alpha", feed)]).await;
        assert_eq!(
            (r.late.len(), r.failures.len(), r.bets_posted),
            (0, 0, 0),
            "{r:?}"
        );
    }
    assert_eq!(balances(c, &terms).await, expected);

    // Reconciliation compares the corrected round and names it as late.
    let report = reconcile::parse_report(
        "alpha",
        "date,round_id,currency,stake,payout\n2026-11-20,L1,USD,50.00,7.00\n",
        &terms,
    )
    .unwrap();
    let rec = reconcile::reconcile(c, &terms, "alpha", &report)
        .await
        .unwrap();
    assert_eq!(
        rec.adjusted,
        vec![reconcile::Adjusted {
            round_key: tally_settle::ids::round_key("alpha", "L1"),
            round_id: Some("L1".into()),
            late: 2,
            corrections: 0
        }]
    );
    assert_eq!(rec.issues, vec![], "the corrected stake and payout match");
    let text = rec.to_text(&terms);
    assert!(
        text.contains("adjusted: round L1: late events applied as corrections: 2"),
        "{text}"
    );
}
