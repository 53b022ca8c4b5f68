//! Reconciliation alerts: reserved bets close to expiry, and rounds whose result ingest keeps
//! refusing (a day without an FX rate, `samples/delta/`).

mod common;

use std::path::PathBuf;

use tally_settle::reconcile::{self, Alert, AlertRules};
use tally_settle::terms::Terms;
use tally_settle::{feeds, ids, statement};

fn delta_dir() -> PathBuf {
    let dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    PathBuf::from(dir).join("samples/delta")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_bets_and_rounds_that_keep_failing_are_alerted() {
    let server = common::start().await;
    let client = &server.client;
    let terms = Terms::load(&delta_dir().join("terms.toml")).unwrap();
    let feed = std::fs::read_to_string(delta_dir().join("feed.csv")).unwrap();
    let rules = |expiring_within, failing_after| AlertRules {
        expiring_within,
        failing_after,
        ..AlertRules::now()
    };
    let alerts = |rules: AlertRules| async move {
        let rec = reconcile::reconcile_with_alerts(client, &terms_for(), "delta", &[], &rules)
            .await
            .unwrap();
        rec.alerts
    };
    let r = common::ingest_texts(client, &terms, &[("delta", &feed)]).await;
    assert_eq!(r.failures.len(), 1, "D-3 has no EUR rate for its day");
    // Refused once: not yet "keeps failing"; its 20.00 EUR bet expires in a day.
    assert_eq!(alerts(rules(60, 2)).await, vec![]);
    let d3 = ids::round_key("delta", "D-3");
    match &alerts(rules(86_400, 2)).await[..] {
        [Alert::Expiring {
            round_key,
            bets: 1,
            amount: 2_000,
            seconds_left,
            ..
        }] => {
            assert_eq!(*round_key, d3);
            assert!((86_000..=86_400).contains(seconds_left), "{seconds_left}");
        }
        other => panic!("{other:?}"),
    }
    // Refused again by the next run: now it keeps failing.
    common::ingest_texts(client, &terms, &[("delta", &feed)]).await;
    let found = alerts(rules(60, 2)).await;
    assert_eq!(
        found,
        vec![Alert::Failing {
            round_key: d3,
            round_id: None,
            failures: 2
        }]
    );
    // Named from the feed; the text and CSV say what to do.
    let mut rec = reconcile::reconcile_with_alerts(client, &terms, "delta", &[], &rules(60, 2))
        .await
        .unwrap();
    let parsed = feeds::parse(
        &terms.provider("delta").unwrap().format,
        "delta",
        &feed,
        terms.currencies(),
    );
    rec.name_alerts(&statement::round_names(&parsed.events));
    let text = rec.to_text(&terms);
    assert!(
        text.contains("alert: round D-3: ingest refused its result 2 times and it is not settled"),
        "{text}"
    );
    assert!(rec
        .to_csv(false)
        .unwrap()
        .contains("delta,alert,D-3,failing,,2\n"));
    // Alerts are not differences: the issues are the two settled rounds the (empty) report
    // lacks.
    assert_eq!(rec.issues.len(), 2);
    assert!(rec
        .issues
        .iter()
        .all(|i| matches!(i, reconcile::Issue::Unreported { .. })));
}

fn terms_for() -> Terms {
    Terms::load(&delta_dir().join("terms.toml")).unwrap()
}
