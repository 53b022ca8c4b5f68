//! Dated FX rates and a provider whose format is defined in TOML (`samples/delta/`): the
//! round's business day picks the rate, the rates are recorded next to every converted leg and
//! shown on statements, a day without a rate holds the round with the reason, a replay posts
//! nothing; the binary reads the provider's format file named by the terms.

mod common;

use std::path::PathBuf;

use chrono::NaiveDate;
use tally_settle::chart::{transfer_code, Party};
use tally_settle::statement;
use tally_settle::terms::Terms;

fn delta_dir() -> PathBuf {
    let dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    PathBuf::from(dir).join("samples/delta")
}

fn terms() -> Terms {
    Terms::load(&delta_dir().join("terms.toml")).unwrap()
}

fn day(d: &str) -> NaiveDate {
    d.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_business_day_picks_the_rate_and_a_day_without_one_holds_the_round() {
    let server = common::start().await;
    let (client, terms) = (&server.client, terms());
    let feed = std::fs::read_to_string(delta_dir().join("feed.csv")).unwrap();
    let r = common::ingest_texts(client, &terms, &[("delta", &feed)]).await;
    assert_eq!((r.rounds_settled, r.parse_errors.len()), (2, 0), "{r:?}");
    // D-3 (2027-01-04): no EUR rate covers the day; held with the reason, its bet reserved.
    assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
    assert_eq!(r.failures[0].round_id, "D-3");
    assert!(
        r.failures[0]
            .reason
            .starts_with("no FX rate for EUR valid on 2027-01-04 (the round's business day)"),
        "{}",
        r.failures[0].reason
    );
    // GGR 40.00 EUR per round: aggregator 10% = 4.00 EUR, kim 5% = 2.00 EUR, converted at
    // 1.08 on 2026-11-30 (4.32 + 2.16 USD) and 1.10 on 2026-12-01 (4.40 + 2.20 USD).
    assert_eq!(
        common::partner(client, &terms, "aggregator").await,
        432 + 440
    );
    assert_eq!(
        common::partner(client, &terms, "agent:kim").await,
        216 + 220
    );
    assert_eq!(
        common::partner(client, &terms, "provider:delta").await,
        480 + 480
    );
    assert_eq!(
        common::partner(client, &terms, "operator:royal").await,
        2920 + 2920
    );
    let pool = tally_settle::chart::pool_account("delta", "EUR");
    let pool = client.lookup_accounts(&[pool]).await.unwrap()[0];
    assert_eq!(pool.debits_pending, 0);
    assert_eq!(
        pool.credits_pending, 2_000,
        "D-3's 20.00 EUR stays reserved"
    );

    // The rates are recorded next to each converted leg.
    let record = tally_settle::ids::leg_transfer("delta", "D-2", "fx-rate:aggregator");
    let record = client.lookup_transfers(&[record]).await.unwrap()[0];
    assert_eq!(record.code, transfer_code::FX_RATE);
    assert_eq!(record.amount, 0);
    let rates = (record.user_data_64 >> 32, record.user_data_64 & 0xffff_ffff);
    let unpack = |b: u64| tally_settle::money::unpack_rate(b as u32).to_string();
    assert_eq!(
        (unpack(rates.0), unpack(rates.1)),
        ("1.1".into(), "1".into())
    );
    // No record where nothing converts (the provider is paid in EUR).
    let none = tally_settle::ids::leg_transfer("delta", "D-2", "fx-rate:provider:delta");
    assert!(client.lookup_transfers(&[none]).await.unwrap().is_empty());

    // The statement shows each converted leg with its rates.
    let s = statement::statement(
        client,
        &terms,
        &Party::Aggregator,
        day("2026-11-30"),
        day("2026-12-01"),
    )
    .await
    .unwrap();
    let notes: Vec<(&str, i128, &str)> = s
        .lines
        .iter()
        .map(|l| (l.kind, l.amount, l.note.as_str()))
        .collect();
    assert_eq!(
        notes,
        vec![
            ("fx", 432, "rates 1.08 -> 1 USD"),
            ("fx", 440, "rates 1.1 -> 1 USD")
        ]
    );
    assert_eq!((s.closing, s.balance), (872, 872));
    let text = s.to_text(&terms);
    assert!(text.contains("rates 1.1 -> 1 USD"), "{text}");

    // A replay posts nothing; once the terms cover the day, the held round settles.
    let before = common::balances(client, &terms).await;
    let r = common::ingest_texts(client, &terms, &[("delta", &feed)]).await;
    assert_eq!((r.rounds_settled, r.rounds_already_closed), (0, 2));
    assert_eq!(common::balances(client, &terms).await, before);
    let text = std::fs::read_to_string(delta_dir().join("terms.toml"))
        .unwrap()
        .replacen(
            "  { from = \"2026-12-01\", to = \"2026-12-31\", rate = \"1.10\" },",
            "  { from = \"2026-12-01\", to = \"2026-12-31\", rate = \"1.10\" },\n  \
         { from = \"2027-01-01\", to = \"2027-01-31\", rate = \"1.05\" },",
            1,
        );
    let extended = Terms::parse_in(&text, &delta_dir()).unwrap();
    let r = common::ingest_texts(client, &extended, &[("delta", &feed)]).await;
    assert_eq!((r.rounds_settled, r.failures.len()), (1, 0), "{r:?}");
    // D-3: GGR 20.00 EUR, aggregator 2.00 EUR at 1.05 = 2.10 USD.
    assert_eq!(
        common::partner(client, &extended, "aggregator").await,
        872 + 210
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_converts_at_the_rate_of_the_rounds_business_day() {
    let server = common::start().await;
    let (client, terms) = (&server.client, terms());
    let feed = "id;game;op;customer;site;cur;milli;at;cancels\n\
                c1;C-1;STAKE;c;royal;EUR;50000;2026-11-30 22:00:00;\n\
                c2;C-1;PAYOUT;c;royal;EUR;10000;2026-11-30 22:01:00;\n";
    let r = common::ingest_texts(client, &terms, &[("delta", feed)]).await;
    assert_eq!(r.rounds_settled, 1);
    // Booked in December, the correction still converts at November's 1.08: GGR 30.00 EUR,
    // aggregator 3.00 EUR = 3.24 USD.
    let corrected = "id;game;op;customer;site;cur;milli;at;cancels\n\
                     c1;C-1;STAKE;c;royal;EUR;50000;2026-11-30 22:00:00;\n\
                     c3;C-1;PAYOUT;c;royal;EUR;20000;2026-11-30 22:01:00;\n";
    let on = tally_settle::event::day_start(day("2026-12-05"));
    let c = common::correct_texts(client, &terms, &[("delta", corrected)], on).await;
    assert_eq!((c.applied.len(), c.failures.len()), (1, 0), "{c:?}");
    assert_eq!(common::partner(client, &terms, "aggregator").await, 324);
    let record = tally_settle::ids::leg_transfer("delta", "C-1", "correction:1:fx-rate:aggregator");
    let record = client.lookup_transfers(&[record]).await.unwrap()[0];
    assert_eq!(
        tally_settle::money::unpack_rate((record.user_data_64 >> 32) as u32).to_string(),
        "1.08"
    );
}
