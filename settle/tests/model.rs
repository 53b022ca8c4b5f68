//! Random feeds (rounds with bad lines, per-bet rollbacks, round rollbacks, open rounds, late
//! bets and wins, corrections) against a real Tally: every partner's balance equals an
//! independent model of the documented rules, per partner and currency; every ledger balances;
//! replaying everything changes nothing.

mod common;

use proptest::prelude::*;
use tally_settle::chart::{players_account, pool_account};
use tally_settle::terms::Terms;

/// One provider, one operator paid in EUR (so its share is converted), flat percentages.
const TERMS: &str = r#"
base_currency = "USD"
pending_timeout_secs = 86400

[[currencies]]
code = "USD"
ledger = 840
scale = 2
fx_rate = "1"

[[currencies]]
code = "EUR"
ledger = 978
scale = 2
fx_rate = "1.25"

[aggregator]
name = "agg"
settlement_currency = "USD"
share = "10"

[[providers]]
name = "alpha"
id = 1
format = "webhook-json"
settlement_currency = "USD"
fee = "12"

[[operators]]
name = "royal"
settlement_currency = "EUR"
agent = "kim"

[[agents]]
name = "kim"
settlement_currency = "USD"
commission = "5"
"#;

#[derive(Clone, Debug)]
enum Outcome {
    /// A win of this amount (0: a loss); then maybe late events and a correction.
    Win {
        amount: u64,
        late_bet: Option<u64>,
        late_win: Option<u64>,
        corrected_win: Option<u64>,
    },
    /// A rollback of the whole round.
    Rollback,
    /// No result yet.
    Open,
}

#[derive(Clone, Debug)]
struct Round {
    /// Bets, and whether a rollback names each (never the first).
    bets: Vec<(u64, bool)>,
    /// The first feed carries a bet of 12.50 written as `12.5` (refused), fixed in the second.
    bad_line: bool,
    outcome: Outcome,
}

fn round() -> impl Strategy<Value = Round> {
    let bets = proptest::collection::vec((1u64..=5_000, any::<bool>()), 1..=3);
    let win = (
        0u64..=12_000,
        proptest::option::of(1u64..=3_000),
        proptest::option::of(0u64..=3_000),
        proptest::option::of(0u64..=9_000),
    )
        .prop_map(|(amount, late_bet, late_win, corrected_win)| Outcome::Win {
            amount,
            late_bet,
            late_win,
            corrected_win,
        });
    let outcome = prop_oneof![4 => win, 1 => Just(Outcome::Rollback), 1 => Just(Outcome::Open)];
    (bets, any::<bool>(), outcome).prop_map(|(mut bets, bad_line, outcome)| {
        bets[0].1 = false;
        Round {
            bets,
            bad_line,
            outcome,
        }
    })
}

fn line(
    kind: &str,
    tx: &str,
    round: usize,
    amount: &str,
    secs: u32,
    bet_ref: Option<&str>,
) -> String {
    let r = bet_ref.map_or(String::new(), |b| format!(r#","ref_tx_id":"{b}""#));
    format!(
        r#"{{"event":"{kind}","tx_id":"{tx}","round_id":"M{round}"{r},"player":"p","operator":"royal","currency":"USD","amount":{amount},"timestamp":"2026-11-20T10:{:02}:{:02}Z"}}"#,
        secs / 60,
        secs % 60
    )
}

/// (first feed, second feed, correction file) and the model's balances.
fn feeds(rounds: &[Round]) -> (String, String, String, Model) {
    let (mut first, mut second, mut corrections) = (vec![], vec![], vec![]);
    let mut model = Model::default();
    for (i, r) in rounds.iter().enumerate() {
        let (mut lines, mut kept) = (vec![], vec![]);
        for (j, (amount, rolled)) in r.bets.iter().enumerate() {
            let tx = format!("m{i}b{j}");
            lines.push(line("bet", &tx, i, &amount.to_string(), 1, None));
            if *rolled {
                lines.push(line(
                    "rollback",
                    &format!("m{i}r{j}"),
                    i,
                    &amount.to_string(),
                    2,
                    Some(&tx),
                ));
            } else {
                kept.push((tx, *amount));
            }
        }
        let (bad, good) = (
            line("bet", &format!("m{i}x"), i, "12.5", 1, None),
            line("bet", &format!("m{i}x"), i, "1250", 1, None),
        );
        if r.bad_line {
            kept.push((format!("m{i}x"), 1_250));
        }
        let stake: u64 = kept.iter().map(|(_, a)| a).sum();
        match &r.outcome {
            Outcome::Win {
                amount,
                late_bet,
                late_win,
                corrected_win,
            } => {
                lines.push(line(
                    "win",
                    &format!("m{i}w"),
                    i,
                    &amount.to_string(),
                    3,
                    None,
                ));
                let mut late = vec![];
                let (mut stake, mut wins) = (stake, *amount);
                if let Some(b) = late_bet {
                    late.push(line("bet", &format!("m{i}lb"), i, &b.to_string(), 4, None));
                    kept.push((format!("m{i}lb"), *b));
                    stake += b;
                }
                if let Some(w) = late_win {
                    late.push(line("win", &format!("m{i}lw"), i, &w.to_string(), 5, None));
                    wins += w;
                }
                if let Some(w) = corrected_win {
                    for (tx, a) in &kept {
                        corrections.push(line("bet", tx, i, &a.to_string(), 1, None));
                    }
                    corrections.push(line("win", &format!("m{i}cw"), i, &w.to_string(), 6, None));
                    wins = *w;
                }
                model.settle(stake, wins);
                push(&mut first, &mut second, &lines, r.bad_line, &bad, &good);
                second.extend(late);
            }
            Outcome::Rollback => {
                lines.push(line(
                    "rollback",
                    &format!("m{i}rr"),
                    i,
                    &stake.to_string(),
                    3,
                    None,
                ));
                push(&mut first, &mut second, &lines, r.bad_line, &bad, &good);
            }
            Outcome::Open => {
                model.pending += i128::from(stake);
                push(&mut first, &mut second, &lines, r.bad_line, &bad, &good);
            }
        }
    }
    (
        first.join("\n"),
        second.join("\n"),
        corrections.join("\n"),
        model,
    )
}

fn push(
    first: &mut Vec<String>,
    second: &mut Vec<String>,
    lines: &[String],
    bad: bool,
    bad_line: &str,
    good: &str,
) {
    first.extend(lines.iter().cloned());
    second.extend(lines.iter().cloned());
    if bad {
        first.push(bad_line.to_string());
        second.push(good.to_string());
    }
}

/// The documented rules, computed independently: shares are floor(|GGR| x percent / 100), the
/// operator takes the rest, converted USD -> EUR at 1 / 1.25 rounded down; negative GGR
/// reverses every share.
#[derive(Debug, Default, PartialEq, Eq)]
struct Model {
    alpha: i128,
    agg: i128,
    kim: i128,
    royal_eur: i128,
    players: i128,
    pending: i128,
}

impl Model {
    fn settle(&mut self, stake: u64, wins: u64) {
        let ggr = i128::from(stake) - i128::from(wins);
        let (g, sign) = (ggr.abs(), ggr.signum());
        let (fee, agg, kim) = (g * 12 / 100, g * 10 / 100, g * 5 / 100);
        let op = g - fee - agg - kim;
        self.alpha += sign * fee;
        self.agg += sign * agg;
        self.kim += sign * kim;
        self.royal_eur += sign * (op * 4 / 5);
        self.players -= ggr;
    }
}

async fn observed(c: &tally_client::Client, terms: &Terms) -> Model {
    let pool = c
        .lookup_accounts(&[pool_account("alpha", "USD")])
        .await
        .unwrap()[0];
    assert_eq!(
        pool.credits_posted, pool.debits_posted,
        "the pool is empty of settled rounds"
    );
    Model {
        alpha: common::partner(c, terms, "provider:alpha").await,
        agg: common::partner(c, terms, "aggregator").await,
        kim: common::partner(c, terms, "agent:kim").await,
        royal_eur: common::partner(c, terms, "operator:royal").await,
        players: common::net(c, players_account("royal", "USD")).await,
        pending: pool.credits_pending as i128,
    }
}

/// Debits equal credits on every ledger, posted and pending.
async fn ledgers_balance(c: &tally_client::Client, terms: &Terms) {
    let mut sums = std::collections::BTreeMap::<u32, (u128, u128, u128, u128)>::new();
    for a in common::snapshot(c, terms).await {
        let s = sums.entry(a.ledger).or_default();
        s.0 += a.debits_posted;
        s.1 += a.credits_posted;
        s.2 += a.debits_pending;
        s.3 += a.credits_pending;
    }
    for (ledger, (dp, cp, dq, cq)) in sums {
        assert_eq!((dp, dq), (cp, cq), "ledger {ledger}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn balances_match_the_model_and_replays_change_nothing(
        rounds in proptest::collection::vec(round(), 1..=6)
    ) {
        let terms = Terms::parse(TERMS).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let server = common::start().await;
            let c = &server.client;
            let (first, second, corrections, model) = feeds(&rounds);
            let r = common::ingest_texts(c, &terms, &[("alpha", &first)]).await;
            assert_eq!(r.failures, vec![], "{first}");
            let r = common::ingest_texts(c, &terms, &[("alpha", &second)]).await;
            assert_eq!((r.failures.clone(), r.parse_errors.len()), (vec![], 0), "{second}");
            if !corrections.is_empty() {
                let r = common::correct_texts(c, &terms, &[("alpha", &corrections)], 1_795_305_600).await;
                assert_eq!(r.failures, vec![], "{corrections}");
            }
            assert_eq!(observed(c, &terms).await, model, "{second}\n{corrections}");
            ledgers_balance(c, &terms).await;
            let before = common::balances(c, &terms).await;
            for feed in [&first, &second] {
                let r = common::ingest_texts(c, &terms, &[("alpha", feed)]).await;
                assert_eq!((r.bets_posted, r.late.len(), r.rounds_settled), (0, 0, 0));
            }
            if !corrections.is_empty() {
                let r = common::correct_texts(c, &terms, &[("alpha", &corrections)], 1_795_305_600).await;
                assert_eq!(r.applied, vec![]);
            }
            assert_eq!(common::balances(c, &terms).await, before);
        });
    }
}
