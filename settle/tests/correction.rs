//! Corrections of settled rounds: one chain reverses the settlement and posts the corrected
//! one, leaving every account exactly as if the corrected round had been settled first; the
//! same correction replayed posts nothing, a different one is the next correction.

mod common;

use common::{balances, balances_of, correct_texts, ingest_texts, start};
use tally_settle::chart::transfer_code;
use tally_settle::ids;

const HEADER: &str = "txn_id,round,type,player_id,brand,ccy,amount,time";
/// 2026-11-22, the day corrections are booked on.
const BOOKED: i64 = 1_795_305_600;

fn csv(rows: &[&str]) -> String {
    let mut out = format!("{HEADER}\n");
    for r in rows {
        out.push_str(r);
        out.push('\n');
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_leaves_the_ledger_as_if_the_corrected_round_had_settled() {
    let server = start().await;
    let (c, terms) = (&server.client, common::sample_terms());
    // C1 at royal (EUR; agent kim is paid in USD, so FX legs too): 60.00 staked, 5.00 won.
    let original = csv(&[
        "c1b,C1,BET,u,royal,EUR,60.00,1795140000",
        "c1w,C1,WIN,u,royal,EUR,5.00,1795140060",
    ]);
    let r = ingest_texts(c, &terms, &[("beta", &original)]).await;
    assert_eq!((r.rounds_settled, r.failures.len()), (1, 0));

    // The provider corrects the win to 25.00.
    let first = csv(&[
        "c1b,C1,BET,u,royal,EUR,60.00,1795140000",
        "c1w2,C1,WIN,u,royal,EUR,25.00,1795140060",
    ]);
    let r = correct_texts(c, &terms, &[("beta", &first)], BOOKED).await;
    assert_eq!(r.failures, vec![]);
    assert_eq!(r.applied.len(), 1, "{r:?}");
    assert_eq!(
        (r.applied[0].number, r.applied[0].before, r.applied[0].after),
        (1, (6_000, 500), (6_000, 2_500))
    );
    assert_eq!(
        balances(c, &terms).await,
        balances_of(&terms, &[("beta", &first)]).await
    );

    // Traceable: the marker's id comes from the round and the number, every leg names the round.
    let marker = ids::leg_transfer("beta", "C1", "correction:1");
    let found = c.lookup_transfers(&[marker]).await.unwrap();
    assert_eq!(found[0].code, transfer_code::CORRECTION);
    let legs = c
        .query_transfers(tally_client::QueryFilter {
            user_data_128: ids::round_key("beta", "C1"),
            ..tally_client::QueryFilter::new()
        })
        .await
        .unwrap();
    let adjustments: Vec<_> = legs
        .iter()
        .filter(|t| t.code >= transfer_code::STAKE_ADJ)
        .collect();
    assert!(adjustments.len() > 4);
    assert!(adjustments.iter().all(|t| t.user_data_32 == 2));
    assert!(adjustments
        .iter()
        .filter(|t| t.code != transfer_code::CORRECTION)
        .all(|t| t.user_data_64 == BOOKED as u64));

    // The statement of the correction's day shows the adjustment lines, naming the round.
    let names = tally_settle::statement::round_names(&[tally_settle::event::GameEvent {
        provider: "beta".into(),
        event_id: "c1b".into(),
        round_id: "C1".into(),
        kind: tally_settle::event::EventKind::Bet,
        player: "u".into(),
        operator: "royal".into(),
        currency: "EUR".into(),
        amount: 6_000,
        time: 1_795_140_000,
        line: 2,
        bet_ref: None,
    }]);
    let day = "2026-11-22".parse().unwrap();
    let party = tally_settle::chart::Party::parse("agent:kim").unwrap();
    let s = tally_settle::statement::statement_named(c, &terms, &party, day, day, &names)
        .await
        .unwrap();
    let notes: Vec<(&str, Option<&str>, &str)> = s
        .lines
        .iter()
        .map(|l| (l.kind, l.round_id.as_deref(), l.note.as_str()))
        .collect();
    assert_eq!(
        notes,
        vec![
            ("adjustment", Some("C1"), "correction #1 reversal"),
            ("adjustment", Some("C1"), "correction #1"),
        ]
    );
    assert!(s.lines[0].amount < 0 && s.lines[1].amount > 0);
    let text = s.to_text(&terms);
    assert!(
        text.contains("adjustment 2026-11-22 beta round C1 correction #1 reversal"),
        "{text}"
    );
    let earlier = tally_settle::statement::statement_named(
        c,
        &terms,
        &party,
        "2026-11-20".parse().unwrap(),
        "2026-11-20".parse().unwrap(),
        &names,
    )
    .await
    .unwrap();
    assert!(
        earlier.lines.iter().all(|l| l.kind == "fx"),
        "the issued period is unchanged"
    );

    // Replaying the correction (and the original feed) changes nothing.
    let before = balances(c, &terms).await;
    let r = correct_texts(c, &terms, &[("beta", &first)], BOOKED + 86_400).await;
    assert_eq!((r.applied.len(), r.already_applied.len()), (0, 1), "{r:?}");
    assert_eq!(r.already_applied[0].1, 1);
    let r = ingest_texts(c, &terms, &[("beta", &original)]).await;
    assert_eq!(
        (r.failures.len(), r.late.len(), r.rounds_already_closed),
        (0, 0, 1)
    );
    assert_eq!(balances(c, &terms).await, before);

    // A second, different correction: another bet of 50.00 and a loss.
    let second = csv(&[
        "c1b,C1,BET,u,royal,EUR,60.00,1795140000",
        "c1b2,C1,BET,u,royal,EUR,50.00,1795140010",
        "c1w3,C1,WIN,u,royal,EUR,0,1795140060",
    ]);
    let r = correct_texts(c, &terms, &[("beta", &second)], BOOKED).await;
    assert_eq!(r.applied[0].number, 2, "{r:?}");
    let expected = balances_of(&terms, &[("beta", &second)]).await;
    assert_eq!(balances(c, &terms).await, expected);
    // Replaying both corrections, in any order, changes nothing.
    for file in [&first, &second, &first] {
        let r = correct_texts(c, &terms, &[("beta", file)], BOOKED).await;
        assert_eq!((r.applied.len(), r.already_applied.len()), (0, 1), "{r:?}");
    }
    assert_eq!(balances(c, &terms).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_can_cancel_a_round_and_refuses_an_unsettled_one() {
    let server = start().await;
    let (c, terms) = (&server.client, common::sample_terms());
    let feed = csv(&[
        "d1b,D1,BET,u,lucky,EUR,30.00,1795140000",
        "d1w,D1,WIN,u,lucky,EUR,0,1795140060",
        "d2b,D2,BET,u,lucky,EUR,8.00,1795140000",
    ]);
    let r = ingest_texts(c, &terms, &[("beta", &feed)]).await;
    assert_eq!((r.rounds_settled, r.rounds_open), (1, 1));
    let before = balances(c, &terms).await;
    // D2 is open: a correction refuses it and posts nothing.
    let open = csv(&[
        "d2b,D2,BET,u,lucky,EUR,8.00,1795140000",
        "d2w,D2,WIN,u,lucky,EUR,0,1795140060",
    ]);
    let r = correct_texts(c, &terms, &[("beta", &open)], BOOKED).await;
    assert!(r.failures[0].reason.contains("not settled"), "{r:?}");
    assert_eq!(balances(c, &terms).await, before);
    // D1 corrected to cancelled: every account is back where it was before D1 (D2 still open).
    let cancel = csv(&[
        "d1b,D1,BET,u,lucky,EUR,30.00,1795140000",
        "d1r,D1,REFUND,u,lucky,EUR,30.00,1795140060",
    ]);
    let r = correct_texts(c, &terms, &[("beta", &cancel)], BOOKED).await;
    assert_eq!((r.applied.len(), r.failures.len()), (1, 0), "{r:?}");
    let only_d2 = csv(&["d2b,D2,BET,u,lucky,EUR,8.00,1795140000"]);
    assert_eq!(
        balances(c, &terms).await,
        balances_of(&terms, &[("beta", &only_d2)]).await
    );
    // A corrected round without its result is refused.
    let partial = csv(&["d1b,D1,BET,u,lucky,EUR,30.00,1795140000"]);
    let r = correct_texts(c, &terms, &[("beta", &partial)], BOOKED).await;
    assert!(
        r.failures[0]
            .reason
            .contains("needs all its bets and its result"),
        "{r:?}"
    );
}
