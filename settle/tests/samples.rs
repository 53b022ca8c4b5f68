//! The sample feeds end to end: ingest, statements, reconciliation against the providers'
//! reports (with their planted differences), and a replay that changes nothing.

mod common;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use common::{ingest_texts, net, snapshot, start};
use tally_client::Client;
use tally_settle::chart::{players_account, pool_account, Party};
use tally_settle::event::EventKind;
use tally_settle::reconcile::{self, Issue};
use tally_settle::terms::Terms;
use tally_settle::{feeds, statement};

const FEEDS: [(&str, &str); 3] = [
    ("alpha", include_str!("../samples/feeds/alpha.jsonl")),
    ("beta", include_str!("../samples/feeds/beta.csv")),
    ("gamma", include_str!("../samples/feeds/gamma.jsonl")),
];

const REPORTS: [(&str, &str); 3] = [
    ("alpha", include_str!("../samples/reports/alpha.csv")),
    ("beta", include_str!("../samples/reports/beta.csv")),
    ("gamma", include_str!("../samples/reports/gamma.csv")),
];

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_feeds_settle_reconcile_and_replay_to_the_unit() {
    let server = start().await;
    let (c, terms) = (&server.client, common::sample_terms());

    let r = ingest_texts(c, &terms, &FEEDS).await;
    assert_eq!(r.parse_errors, vec![]);
    assert_eq!(r.failures, vec![]);
    assert_eq!((r.events, r.duplicates, r.bets_posted), (49, 2, 26));
    assert_eq!(
        (r.rounds_settled, r.rounds_cancelled, r.rounds_open),
        (18, 3, 3)
    );

    check_players_and_pools(c, &terms).await;
    check_statements(c, &terms).await;
    check_reconciliation(c, &terms).await;

    // Replaying every feed changes no balance; every event is a duplicate.
    let before = snapshot(c, &terms).await;
    let r = ingest_texts(c, &terms, &FEEDS).await;
    assert_eq!(r.failures, vec![]);
    assert_eq!(
        (
            r.duplicates,
            r.bets_posted,
            r.rounds_settled,
            r.rounds_cancelled
        ),
        (49, 0, 0, 0)
    );
    assert_eq!(r.rounds_already_closed, 21);
    assert_eq!(snapshot(c, &terms).await, before);
}

/// Independently of the kit: each operator's players account carries the stakes minus the
/// wins of its settled rounds, and each pool holds exactly its open bets as pending.
async fn check_players_and_pools(c: &Client, terms: &Terms) {
    let mut settled: BTreeMap<(String, String), i128> = BTreeMap::new();
    let mut open: BTreeMap<(String, String), u128> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    let events: Vec<_> = FEEDS
        .iter()
        .flat_map(|(p, text)| {
            let format = &terms.provider(p).unwrap().format;
            feeds::parse(format, p, text, terms.currencies()).events
        })
        .filter(|e| seen.insert((e.provider.clone(), e.event_id.clone())))
        .collect();
    for e in &events {
        let round: Vec<_> = events
            .iter()
            .filter(|o| o.provider == e.provider && o.round_id == e.round_id)
            .collect();
        let closed = round.iter().any(|o| o.kind == EventKind::Win);
        let cancelled = round.iter().any(|o| o.kind == EventKind::Rollback);
        let key = (e.operator.clone(), e.currency.clone());
        match e.kind {
            EventKind::Bet if closed => *settled.entry(key).or_default() -= e.amount as i128,
            EventKind::Win => *settled.entry(key).or_default() += e.amount as i128,
            EventKind::Bet if !cancelled => {
                *open
                    .entry((e.provider.clone(), e.currency.clone()))
                    .or_default() += e.amount
            }
            _ => {}
        }
    }
    for ((operator, ccy), amount) in &settled {
        assert_eq!(
            net(c, players_account(operator, ccy)).await,
            *amount,
            "{operator} {ccy}"
        );
    }
    assert_eq!(open.len(), 3);
    for p in &terms.providers {
        for ccy in terms.currencies().all() {
            let pool = c
                .lookup_accounts(&[pool_account(&p.name, &ccy.code)])
                .await
                .unwrap()[0];
            assert_eq!(
                pool.credits_posted, pool.debits_posted,
                "{} {}",
                p.name, ccy.code
            );
            let pending = open
                .get(&(p.name.clone(), ccy.code.clone()))
                .copied()
                .unwrap_or(0);
            assert_eq!(pool.credits_pending, pending, "{} {}", p.name, ccy.code);
        }
    }
}

/// Statements: both days together, and each day alone, agree with Tally's balances.
async fn check_statements(c: &Client, terms: &Terms) {
    for party in Party::all(terms) {
        let both = statement::statement(c, terms, &party, day("2026-11-20"), day("2026-11-21"))
            .await
            .unwrap();
        assert_eq!(both.opening, 0, "{party}");
        assert_eq!(both.closing, both.balance, "{party}");
        assert_eq!(
            both.lines.iter().map(|l| l.amount).sum::<i128>(),
            both.closing,
            "{party}"
        );
        assert!(!both.lines.is_empty(), "{party} has a share of some round");
        let first = statement::statement(c, terms, &party, day("2026-11-20"), day("2026-11-20"))
            .await
            .unwrap();
        let second = statement::statement(c, terms, &party, day("2026-11-21"), day("2026-11-21"))
            .await
            .unwrap();
        assert_eq!(second.opening, first.closing, "{party}");
        assert_eq!(second.closing, both.closing, "{party}");
        assert_eq!(
            first.lines.len() + second.lines.len(),
            both.lines.len(),
            "{party}"
        );
        let csv = both.to_csv(terms, true).unwrap();
        assert_eq!(csv.lines().count(), both.lines.len() + 1);
    }
}

/// Reconciliation finds exactly the planted differences.
async fn check_reconciliation(c: &Client, terms: &Terms) {
    let mut found = BTreeMap::new();
    for (provider, text) in REPORTS {
        let rows = reconcile::parse_report(provider, text, terms).unwrap();
        let rec = reconcile::reconcile(c, terms, provider, &rows)
            .await
            .unwrap();
        assert_eq!(rec.open_in_tally, 1, "{provider}");
        found.insert(provider, rec);
    }
    assert_eq!(
        found["alpha"].issues,
        vec![Issue::Missing {
            round_id: "A1011".into()
        }]
    );
    assert_eq!(
        found["beta"].issues,
        vec![Issue::Mismatch {
            round_id: "B-2001".into(),
            field: "stake",
            provider: 2_500,
            tally: 2_000
        }]
    );
    assert_eq!(
        found["gamma"].issues,
        vec![Issue::Duplicate {
            round_id: "G-2".into(),
            times: 2
        }]
    );
    let alpha_day2 = &found["alpha"].days[&(day("2026-11-21"), "USD".to_string())];
    assert_eq!(
        alpha_day2.provider,
        (4, 15_000 + 777 + 12_345 + 2_000, 2_000 + 111 + 10_000)
    );
    assert_eq!(
        alpha_day2.tally,
        (3, 15_000 + 777 + 12_345, 2_000 + 111 + 10_000)
    );
    let text = found["beta"].to_text(terms);
    assert!(
        text.contains("mismatch: round B-2001 stake provider 2500 vs Tally 2000"),
        "{text}"
    );
    assert_eq!(
        found["gamma"].to_csv(true).unwrap(),
        "provider,issue,round,field,provider_value,tally_value\ngamma,duplicate,G-2,rows,2,1\n"
    );
}
