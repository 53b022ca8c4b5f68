//! Payouts: a partner's net for a period moves to its payout account once, however often the
//! payout runs; overlapping periods are refused; the statement of the booking day shows it.

mod common;

use chrono::NaiveDate;
use tally_settle::chart::Party;
use tally_settle::error::Error;
use tally_settle::payout::{self, Outcome};
use tally_settle::statement;

fn day(d: &str) -> NaiveDate {
    d.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_period_is_paid_once_and_overlaps_are_refused() {
    let server = common::start().await;
    let (client, terms) = (&server.client, common::sample_terms());
    let feeds = [
        ("alpha", include_str!("../samples/feeds/alpha.jsonl")),
        ("beta", include_str!("../samples/feeds/beta.csv")),
        ("gamma", include_str!("../samples/feeds/gamma.jsonl")),
    ];
    common::ingest_texts(client, &terms, &feeds).await;
    let royal = Party::Operator("royal".into());
    let (d20, d21, d22) = (day("2026-11-20"), day("2026-11-21"), day("2026-11-22"));
    let before = common::partner(client, &terms, "operator:royal").await;
    let s = statement::statement(client, &terms, &royal, d20, d20)
        .await
        .unwrap();
    let expected = s.closing - s.opening;
    assert!(expected > 0);

    let p = payout::payout(client, &terms, &royal, d20, d20, d22)
        .await
        .unwrap();
    assert_eq!((p.outcome.clone(), p.net), (Outcome::Paid, expected));
    let after = common::partner(client, &terms, "operator:royal").await;
    assert_eq!(after, before - expected);
    let target = payout::payout_account(&royal, "EUR");
    assert_eq!(common::net(client, target).await, expected);

    // Again, on another day: nothing posted.
    let again = payout::payout(client, &terms, &royal, d20, d20, d21)
        .await
        .unwrap();
    assert_eq!(
        again.outcome,
        Outcome::AlreadyPaid {
            amount: expected as u128
        }
    );
    assert_eq!(
        common::partner(client, &terms, "operator:royal").await,
        after
    );

    // Overlapping periods are refused whole; a backward period too.
    for (from, to) in [(d20, d21), (day("2026-11-19"), d20)] {
        match payout::payout(client, &terms, &royal, from, to, d22).await {
            Err(Error::Refused(m)) => assert!(
                m.contains("overlaps the payout of operator:royal for 2026-11-20 to 2026-11-20"),
                "{m}"
            ),
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        payout::payout(client, &terms, &royal, d21, d20, d22).await,
        Err(Error::BadPeriod { .. })
    ));
    assert_eq!(
        common::partner(client, &terms, "operator:royal").await,
        after
    );

    // The next day is its own period; the statement of the booking day shows both payouts.
    let next = payout::payout(client, &terms, &royal, d21, d21, d22)
        .await
        .unwrap();
    assert_eq!(next.outcome, Outcome::Paid);
    let s = statement::statement(client, &terms, &royal, d22, d22)
        .await
        .unwrap();
    let payouts: Vec<(&str, i128, &str)> = s
        .lines
        .iter()
        .map(|l| (l.kind, l.amount, l.note.as_str()))
        .collect();
    assert_eq!(
        payouts,
        vec![
            ("payout", -expected, "for 2026-11-20 to 2026-11-20"),
            ("payout", -next.net, "for 2026-11-21 to 2026-11-21"),
        ]
    );
    assert_eq!(
        (s.closing, s.balance),
        (0, 0),
        "royal's two days are paid out"
    );
    assert!(s
        .to_text(&terms)
        .contains("payout 2026-11-22 for 2026-11-20 to 2026-11-20"));

    // A period without legs pays nothing.
    let none = payout::payout(client, &terms, &royal, d22, d22, d22)
        .await
        .unwrap();
    assert_eq!((none.outcome, none.net), (Outcome::NothingToPay, 0));
}
