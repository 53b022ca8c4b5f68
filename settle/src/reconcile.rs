//! Reconciliation of Tally against a provider's own report of its rounds and daily totals.
//!
//! The provider's file is CSV, `date,round_id,currency,stake,payout` (major units, the
//! provider's business day), one row per settled round. Tally's side is read from Tally alone:
//! every transfer carrying the provider's id (`query_transfers` by `user_data_32`), grouped by
//! round key. A round is *settled* when its bets are posted, *cancelled* when voided, *open*
//! otherwise. The report compares, per day and currency, the round count, stakes and payouts,
//! and lists each round behind a difference: per round its currency, its business day (the day
//! of its first bet), its stake and its payout.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::NaiveDate;
use serde::Deserialize;
use tally_client::{Client, QueryFilter, TransferFlags};

use crate::chart::{pool_account, transfer_code};
use crate::error::{Error, Result};
use crate::event::day_of;
use crate::feeds::FeedError;
use crate::ids;
use crate::money::parse_major;
use crate::query;
use crate::statement::show;
use crate::terms::Terms;

/// One row of a provider's report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderRound {
    /// Business day.
    pub day: NaiveDate,
    /// Provider's round id.
    pub round_id: String,
    /// Currency code.
    pub currency: String,
    /// Stake, minor units.
    pub stake: u128,
    /// Payout, minor units.
    pub payout: u128,
    /// Line in the file.
    pub line: usize,
}

#[derive(Deserialize)]
struct Row {
    date: NaiveDate,
    round_id: String,
    currency: String,
    stake: String,
    payout: String,
}

/// Parses a provider's report; every bad row is an error with its line.
pub fn parse_report(
    provider: &str,
    text: &str,
    terms: &Terms,
) -> Result<Vec<ProviderRound>, Vec<FeedError>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let (mut rows, mut errors) = (vec![], vec![]);
    for (i, record) in reader.deserialize::<Row>().enumerate() {
        let line = i + 2; // after the header
        let row = record.map_err(|e| e.to_string()).and_then(|r| {
            let c = terms
                .currencies()
                .get(&r.currency)
                .map_err(|e| e.to_string())?;
            let minor = |s: &str| parse_major(s, c);
            Ok(ProviderRound {
                day: r.date,
                round_id: r.round_id,
                currency: c.code.clone(),
                stake: minor(&r.stake)?,
                payout: minor(&r.payout)?,
                line,
            })
        });
        match row {
            Ok(r) => rows.push(r),
            Err(message) => errors.push(FeedError {
                provider: provider.into(),
                line,
                message,
                round_id: None,
            }),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// A round as Tally has it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TallyRound {
    /// Day of its first bet.
    pub day: Option<NaiveDate>,
    /// Currency code.
    pub currency: String,
    /// Sum of its bets (pending or posted; 0 if voided).
    pub stake: u128,
    /// Sum of its wins.
    pub payout: u128,
    /// Bets posted (settled).
    pub posted: usize,
    /// Bets voided (cancelled).
    pub voided: usize,
    /// Bets.
    pub bets: usize,
    /// Corrections made by ingest for late bets or wins.
    pub late: usize,
    /// Corrections made by `tally-settle correct`.
    pub corrections: usize,
    /// Ingest runs that refused the round's result (`FAILED` records).
    pub failures: usize,
    /// Its bets still reserved: (when the reservation expires, Unix seconds; amount).
    pub reserved: Vec<(i64, u128)>,
}

impl TallyRound {
    /// The round's settlement chain applied (it posts every bet it knew of, all or nothing):
    /// a bet posted means the round is settled and its shares are paid, even if a later bet of
    /// it is still pending.
    pub fn settled(&self) -> bool {
        self.posted > 0
    }
}

/// Every round of provider `provider_id` in Tally, by round key.
pub async fn tally_rounds(
    client: &Client,
    terms: &Terms,
    provider_id: u32,
) -> Result<BTreeMap<u128, TallyRound>> {
    let filter = QueryFilter {
        user_data_32: provider_id,
        ..QueryFilter::new()
    };
    let mut rounds: BTreeMap<u128, TallyRound> = BTreeMap::new();
    let mut bet_amounts = BTreeMap::new();
    let name = terms.providers.iter().find(|p| p.id == provider_id);
    let name = name.map_or("", |p| p.name.as_str());
    // Pending bets not yet posted or voided: (round key, expiry, amount) by id.
    let mut reserved: BTreeMap<u128, (u128, i64, u128)> = BTreeMap::new();
    for t in query::transfers(client, filter).await? {
        if t.flags.contains(TransferFlags::PENDING) {
            let expires = (t.timestamp / 1_000_000_000) as i64 + i64::from(t.timeout);
            reserved.insert(t.id, (t.user_data_128, expires, t.amount));
        } else if t.flags.contains(TransferFlags::POST_PENDING_TRANSFER)
            || t.flags.contains(TransferFlags::VOID_PENDING_TRANSFER)
        {
            reserved.remove(&t.pending_id);
        }
        let pool = pool_account(name, &terms.currencies().by_ledger(t.ledger)?.code);
        let r = rounds.entry(t.user_data_128).or_default();
        if t.flags.contains(TransferFlags::PENDING) {
            r.bets += 1;
            r.stake += t.amount;
            r.day = Some(r.day.map_or(day_of(t.user_data_64 as i64), |d| {
                d.min(day_of(t.user_data_64 as i64))
            }));
            r.currency = terms.currencies().by_ledger(t.ledger)?.code.clone();
            bet_amounts.insert(t.id, t.amount);
        } else if t.flags.contains(TransferFlags::POST_PENDING_TRANSFER) {
            r.posted += 1;
        } else if t.flags.contains(TransferFlags::VOID_PENDING_TRANSFER) {
            r.voided += 1;
            r.stake = r
                .stake
                .saturating_sub(bet_amounts.get(&t.pending_id).copied().unwrap_or(0));
        } else if t.code == transfer_code::WIN {
            r.payout += t.amount;
        } else if t.code == transfer_code::STAKE_ADJ && t.credit_account_id == pool {
            r.stake = r.stake.saturating_add(t.amount);
        } else if t.code == transfer_code::STAKE_ADJ {
            r.stake = r.stake.saturating_sub(t.amount);
        } else if t.code == transfer_code::WIN_ADJ && t.debit_account_id == pool {
            r.payout = r.payout.saturating_add(t.amount);
        } else if t.code == transfer_code::WIN_ADJ {
            r.payout = r.payout.saturating_sub(t.amount);
        } else if t.code == transfer_code::LATE {
            r.late += 1;
        } else if t.code == transfer_code::CORRECTION {
            r.corrections += 1;
        } else if t.code == transfer_code::FAILED {
            r.failures += 1;
        }
    }
    for (key, expires, amount) in reserved.into_values() {
        if let Some(r) = rounds.get_mut(&key) {
            r.reserved.push((expires, amount));
        }
    }
    Ok(rounds)
}

/// A difference between the provider and Tally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Issue {
    /// The provider reports a round Tally does not have.
    Missing { round_id: String },
    /// The provider reports the round more than once.
    Duplicate { round_id: String, times: usize },
    /// Stakes or payouts differ (provider's value first).
    Mismatch {
        round_id: String,
        field: &'static str,
        provider: u128,
        tally: u128,
    },
    /// The round's currency or business day differ (provider's value first). A round whose
    /// currency differs is not compared by amount: minor units of two currencies do not compare.
    Differs {
        round_id: String,
        field: &'static str,
        provider: String,
        tally: String,
    },
    /// The provider reports a settled round that Tally holds open (no result yet) or cancelled.
    NotSettled {
        round_id: String,
        status: &'static str,
    },
    /// A line of the round was rejected by ingest, so the round is held until corrected.
    Quarantined { round_id: String, reason: String },
    /// Tally settled a round the provider does not report (shown by key).
    Unreported { round_key: u128 },
}

/// Per day and currency: (rounds, stake, payout) by the provider and by Tally.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DayTotals {
    /// Provider's (rounds, stake, payout).
    pub provider: (usize, u128, u128),
    /// Tally's (rounds, stake, payout), settled rounds only.
    pub tally: (usize, u128, u128),
}

/// The reconciliation of one provider.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reconciliation {
    /// Provider name.
    pub provider: String,
    /// Totals by (day, currency).
    pub days: BTreeMap<(NaiveDate, String), DayTotals>,
    /// Every difference found.
    pub issues: Vec<Issue>,
    /// Rounds Tally holds open (informational).
    pub open_in_tally: usize,
    /// Settled rounds with corrections (informational: their corrected stake and payout are
    /// what is compared).
    pub adjusted: Vec<Adjusted>,
    /// Things to act on before they become differences (informational, like `adjusted`).
    pub alerts: Vec<Alert>,
}

/// When reconciliation raises an [`Alert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertRules {
    /// Now, Unix seconds.
    pub now: i64,
    /// Alert on reserved bets that expire within this many seconds (or have expired).
    pub expiring_within: i64,
    /// Alert on an unsettled round whose result ingest refused at least this many times.
    pub failing_after: usize,
}

impl AlertRules {
    /// The defaults at the current time: bets expiring within an hour, rounds refused twice.
    pub fn now() -> Self {
        Self {
            now: chrono::Utc::now().timestamp(),
            expiring_within: 3_600,
            failing_after: 2,
        }
    }
}

/// A warning about a round: not a difference yet, but one soon if nobody acts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Alert {
    /// An open round's reserved bets expire soon (Tally then voids them and the stake returns
    /// to the players, whatever the result says).
    Expiring {
        /// The round key.
        round_key: u128,
        /// The provider's round id, when known.
        round_id: Option<String>,
        /// Its currency.
        currency: String,
        /// Reserved bets expiring within the threshold.
        bets: usize,
        /// Their amount, minor units.
        amount: u128,
        /// Seconds until the first of them expires (negative: expired).
        seconds_left: i64,
    },
    /// Ingest refused the round's result `failures` times and it is still not settled.
    Failing {
        /// The round key.
        round_key: u128,
        /// The provider's round id, when known.
        round_id: Option<String>,
        /// Refused runs.
        failures: usize,
    },
}

impl Alert {
    fn round(&self) -> String {
        let (key, id) = match self {
            Alert::Expiring {
                round_key,
                round_id,
                ..
            }
            | Alert::Failing {
                round_key,
                round_id,
                ..
            } => (round_key, round_id),
        };
        id.clone().unwrap_or_else(|| format!("{key:032x}"))
    }
}

/// The alerts on Tally's rounds of `provider` by `rules`; rounds named by `report` (pure).
pub fn alerts(
    provider: &str,
    report: &[ProviderRound],
    tally: &BTreeMap<u128, TallyRound>,
    rules: &AlertRules,
) -> Vec<Alert> {
    let names: BTreeMap<u128, &str> = report
        .iter()
        .map(|r| (ids::round_key(provider, &r.round_id), r.round_id.as_str()))
        .collect();
    let mut out = Vec::new();
    for (key, t) in tally {
        let round_id = names.get(key).map(|n| n.to_string());
        let soon: Vec<&(i64, u128)> = t
            .reserved
            .iter()
            .filter(|(expires, _)| expires - rules.now <= rules.expiring_within)
            .collect();
        if !soon.is_empty() {
            out.push(Alert::Expiring {
                round_key: *key,
                round_id: round_id.clone(),
                currency: t.currency.clone(),
                bets: soon.len(),
                amount: soon.iter().map(|(_, a)| a).sum(),
                seconds_left: soon.iter().map(|(e, _)| e - rules.now).min().unwrap_or(0),
            });
        }
        if !t.settled() && t.failures >= rules.failing_after.max(1) {
            out.push(Alert::Failing {
                round_key: *key,
                round_id,
                failures: t.failures,
            });
        }
    }
    out
}

/// A settled round that was corrected after it settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adjusted {
    /// The round key.
    pub round_key: u128,
    /// The provider's round id, when the report lists the round.
    pub round_id: Option<String>,
    /// Corrections made by ingest for late bets or wins.
    pub late: usize,
    /// Corrections made by `tally-settle correct`.
    pub corrections: usize,
}

/// Reconciles provider `provider` against its `report`.
pub async fn reconcile(
    client: &Client,
    terms: &Terms,
    provider: &str,
    report: &[ProviderRound],
) -> Result<Reconciliation> {
    let p = terms
        .provider(provider)
        .ok_or_else(|| Error::Unknown(format!("unknown provider {provider}")))?;
    let tally = tally_rounds(client, terms, p.id).await?;
    Ok(compare(provider, report, &tally))
}

/// [`reconcile`], with the alerts of `rules`.
pub async fn reconcile_with_alerts(
    client: &Client,
    terms: &Terms,
    provider: &str,
    report: &[ProviderRound],
    rules: &AlertRules,
) -> Result<Reconciliation> {
    let p = terms
        .provider(provider)
        .ok_or_else(|| Error::Unknown(format!("unknown provider {provider}")))?;
    let tally = tally_rounds(client, terms, p.id).await?;
    let mut rec = compare(provider, report, &tally);
    rec.alerts = alerts(provider, report, &tally, rules);
    Ok(rec)
}

/// The comparison itself (pure).
pub fn compare(
    provider: &str,
    report: &[ProviderRound],
    tally: &BTreeMap<u128, TallyRound>,
) -> Reconciliation {
    let mut rec = Reconciliation {
        provider: provider.into(),
        ..Default::default()
    };
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for row in report {
        let times = seen.entry(&row.round_id).or_default();
        *times += 1;
        if *times == 2 {
            let times = report.iter().filter(|r| r.round_id == row.round_id).count();
            rec.issues.push(Issue::Duplicate {
                round_id: row.round_id.clone(),
                times,
            });
        }
        let totals = rec.days.entry((row.day, row.currency.clone())).or_default();
        totals.provider.0 += 1;
        totals.provider.1 += row.stake;
        totals.provider.2 += row.payout;
        if *times > 1 {
            continue;
        }
        let id = row.round_id.clone();
        match tally.get(&ids::round_key(provider, &row.round_id)) {
            None => rec.issues.push(Issue::Missing { round_id: id }),
            // Only records of refused results, no bet: Tally does not have the round.
            Some(t) if t.bets == 0 && !t.settled() => {
                rec.issues.push(Issue::Missing { round_id: id })
            }
            Some(t) if !t.settled() => {
                let status = if t.voided > 0 { "cancelled" } else { "open" };
                rec.issues.push(Issue::NotSettled {
                    round_id: id,
                    status,
                });
            }
            Some(t) if t.currency != row.currency => rec.issues.push(Issue::Differs {
                round_id: id,
                field: "currency",
                provider: row.currency.clone(),
                tally: t.currency.clone(),
            }),
            Some(t) => {
                if let Some(day) = t.day.filter(|d| *d != row.day) {
                    rec.issues.push(Issue::Differs {
                        round_id: id.clone(),
                        field: "day",
                        provider: row.day.to_string(),
                        tally: day.to_string(),
                    });
                }
                for (field, theirs, ours) in [
                    ("stake", row.stake, t.stake),
                    ("payout", row.payout, t.payout),
                ] {
                    if theirs != ours {
                        rec.issues.push(Issue::Mismatch {
                            round_id: id.clone(),
                            field,
                            provider: theirs,
                            tally: ours,
                        });
                    }
                }
            }
        }
    }
    add_tally_side(&mut rec, provider, report, tally);
    rec
}

/// Tally's settled rounds into the day totals; the ones the provider did not report as issues.
fn add_tally_side(
    rec: &mut Reconciliation,
    provider: &str,
    report: &[ProviderRound],
    tally: &BTreeMap<u128, TallyRound>,
) {
    let reported: BTreeMap<u128, &str> = report
        .iter()
        .map(|r| (ids::round_key(provider, &r.round_id), r.round_id.as_str()))
        .collect();
    for (key, t) in tally {
        if !t.settled() {
            rec.open_in_tally += usize::from(t.voided == 0 && t.bets > 0);
            continue;
        }
        let totals = rec
            .days
            .entry((t.day.unwrap_or_default(), t.currency.clone()))
            .or_default();
        totals.tally.0 += 1;
        totals.tally.1 += t.stake;
        totals.tally.2 += t.payout;
        if !reported.contains_key(key) {
            rec.issues.push(Issue::Unreported { round_key: *key });
        }
        if t.late + t.corrections > 0 {
            rec.adjusted.push(Adjusted {
                round_key: *key,
                round_id: reported.get(key).map(|r| r.to_string()),
                late: t.late,
                corrections: t.corrections,
            });
        }
    }
}

impl Reconciliation {
    /// Names the rounds the feeds hold (`ingest::quarantine`): a reported round Tally lacks or
    /// holds open because it was quarantined becomes a `quarantined` issue with the reason, and
    /// a held round the report does not list is added.
    pub fn mark_quarantined(&mut self, held: &[crate::ingest::RoundFailure]) {
        for q in held.iter().filter(|q| q.provider == self.provider) {
            let before = self.issues.len();
            self.issues.retain(|i| {
                !matches!(i, Issue::Missing { round_id } | Issue::NotSettled { round_id, .. }
                    if *round_id == q.round_id)
            });
            let listed = self
                .issues
                .iter()
                .any(|i| issue_round(i) == Some(&q.round_id));
            if before != self.issues.len() || !listed {
                self.issues.push(Issue::Quarantined {
                    round_id: q.round_id.clone(),
                    reason: q.reason.clone(),
                });
            }
        }
    }

    /// A human-readable report.
    pub fn to_text(&self, terms: &Terms) -> String {
        let mut out = format!("Reconciliation of {}\n", self.provider);
        let _ = writeln!(
            out,
            "  {:<10} {:<4} {:>13} {:>13} {:>16} {:>16} {:>16} {:>16}",
            "day",
            "ccy",
            "rounds(prov)",
            "rounds(tally)",
            "stake(prov)",
            "stake(tally)",
            "payout(prov)",
            "payout(tally)"
        );
        for ((day, ccy), t) in &self.days {
            let m = |v: u128| show(terms, ccy, v as i128);
            let flag = if t.provider == t.tally {
                ""
            } else {
                "  <-- differs"
            };
            let _ = writeln!(
                out,
                "  {day} {ccy:<4} {:>13} {:>13} {:>16} {:>16} {:>16} {:>16}{flag}",
                t.provider.0,
                t.tally.0,
                m(t.provider.1),
                m(t.tally.1),
                m(t.provider.2),
                m(t.tally.2)
            );
        }
        let _ = writeln!(out, "  rounds open in Tally: {}", self.open_in_tally);
        for a in &self.adjusted {
            let _ = writeln!(
                out,
                "  adjusted: {}: late events applied as corrections: {}, corrections: {}",
                a.name(),
                a.late,
                a.corrections
            );
        }
        for a in &self.alerts {
            let _ = writeln!(out, "  alert: {}", self.alert_text(terms, a));
        }
        if self.issues.is_empty() {
            out.push_str("  no differences\n");
        }
        for issue in &self.issues {
            let _ = writeln!(out, "  {}", issue_text(issue));
        }
        out
    }

    /// One CSV row per issue: `provider,issue,round,field,provider_value,tally_value`
    /// (values in minor units).
    pub fn to_csv(&self, header: bool) -> Result<String, csv::Error> {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(vec![]);
        if header {
            w.write_record([
                "provider",
                "issue",
                "round",
                "field",
                "provider_value",
                "tally_value",
            ])?;
        }
        for issue in &self.issues {
            let (kind, round, field, theirs, ours) = match issue {
                Issue::Missing { round_id } => (
                    "missing",
                    round_id.clone(),
                    "",
                    String::new(),
                    String::new(),
                ),
                Issue::Duplicate { round_id, times } => (
                    "duplicate",
                    round_id.clone(),
                    "rows",
                    times.to_string(),
                    "1".into(),
                ),
                Issue::Mismatch {
                    round_id,
                    field,
                    provider,
                    tally,
                } => (
                    "mismatch",
                    round_id.clone(),
                    *field,
                    provider.to_string(),
                    tally.to_string(),
                ),
                Issue::Differs {
                    round_id,
                    field,
                    provider,
                    tally,
                } => (
                    "mismatch",
                    round_id.clone(),
                    *field,
                    provider.clone(),
                    tally.clone(),
                ),
                Issue::Quarantined { round_id, reason } => (
                    "quarantined",
                    round_id.clone(),
                    "reason",
                    reason.clone(),
                    String::new(),
                ),
                Issue::NotSettled { round_id, status } => (
                    "not_settled",
                    round_id.clone(),
                    "status",
                    "settled".into(),
                    status.to_string(),
                ),
                Issue::Unreported { round_key } => (
                    "unreported",
                    format!("{round_key:032x}"),
                    "",
                    String::new(),
                    String::new(),
                ),
            };
            w.write_record([self.provider.as_str(), kind, &round, field, &theirs, &ours])?;
        }
        for a in &self.alerts {
            let (field, value) = match a {
                Alert::Expiring {
                    amount,
                    seconds_left,
                    ..
                } => ("expiring", format!("{amount},{seconds_left}")),
                Alert::Failing { failures, .. } => ("failing", failures.to_string()),
            };
            let (theirs, ours) = value.split_once(',').unwrap_or(("", &value));
            w.write_record([
                self.provider.as_str(),
                "alert",
                &a.round(),
                field,
                theirs,
                ours,
            ])?;
        }
        for a in &self.adjusted {
            let round = a
                .round_id
                .clone()
                .unwrap_or_else(|| format!("{:032x}", a.round_key));
            for (field, n) in [("late", a.late), ("corrections", a.corrections)] {
                let n = n.to_string();
                w.write_record([self.provider.as_str(), "adjusted", &round, field, "", &n])?;
            }
        }
        let bytes = w
            .into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))?;
        Ok(String::from_utf8(bytes).expect("CSV of UTF-8 fields"))
    }
}

impl Reconciliation {
    /// Names the alerts' rounds that `names` knows (feeds given to `reconcile --feed`).
    pub fn name_alerts(&mut self, names: &crate::statement::RoundNames) {
        for a in &mut self.alerts {
            let (Alert::Expiring {
                round_key,
                round_id,
                ..
            }
            | Alert::Failing {
                round_key,
                round_id,
                ..
            }) = a;
            if round_id.is_none() {
                *round_id = names.get(round_key).map(|(_, r)| r.clone());
            }
        }
    }

    fn alert_text(&self, terms: &Terms, a: &Alert) -> String {
        match a {
            Alert::Expiring {
                currency,
                bets,
                amount,
                seconds_left,
                ..
            } => {
                let when = if *seconds_left <= 0 {
                    format!("expired {}s ago", -seconds_left)
                } else {
                    format!("expire in {seconds_left}s")
                };
                format!(
                    "round {}: {bets} reserved bets ({} {currency}) {when}; post its result \
                     before Tally voids them",
                    a.round(),
                    show(terms, currency, *amount as i128)
                )
            }
            Alert::Failing { failures, .. } => format!(
                "round {}: ingest refused its result {failures} times and it is not settled \
                 (ingest lists the reason)",
                a.round()
            ),
        }
    }
}

impl Adjusted {
    /// `round <id>`, or `round key <hex>` when the report does not name it.
    pub fn name(&self) -> String {
        match &self.round_id {
            Some(id) => format!("round {id}"),
            None => format!("round key {:032x}", self.round_key),
        }
    }
}

fn issue_round(issue: &Issue) -> Option<&String> {
    match issue {
        Issue::Missing { round_id }
        | Issue::Duplicate { round_id, .. }
        | Issue::Mismatch { round_id, .. }
        | Issue::Differs { round_id, .. }
        | Issue::Quarantined { round_id, .. }
        | Issue::NotSettled { round_id, .. } => Some(round_id),
        Issue::Unreported { .. } => None,
    }
}

fn issue_text(issue: &Issue) -> String {
    match issue {
        Issue::Missing { round_id } => format!("missing in Tally: round {round_id}"),
        Issue::Duplicate { round_id, times } => {
            format!("duplicate: round {round_id} reported {times} times")
        }
        Issue::Mismatch {
            round_id,
            field,
            provider,
            tally,
        } => {
            format!("mismatch: round {round_id} {field} provider {provider} vs Tally {tally} (minor units)")
        }
        Issue::Differs {
            round_id,
            field,
            provider,
            tally,
        } => format!("mismatch: round {round_id} {field} provider {provider} vs Tally {tally}"),
        Issue::Quarantined { round_id, reason } => {
            format!("quarantined: round {round_id} is held by ingest ({reason})")
        }
        Issue::NotSettled { round_id, status } => {
            format!("not settled in Tally: round {round_id} is {status}")
        }
        Issue::Unreported { round_key } => {
            format!("not in the provider's report: round key {round_key:032x}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(round_id: &str, stake: u128, payout: u128) -> ProviderRound {
        ProviderRound {
            day: "2026-11-20".parse().unwrap(),
            round_id: round_id.into(),
            currency: "USD".into(),
            stake,
            payout,
            line: 2,
        }
    }

    fn tally_round(
        stake: u128,
        payout: u128,
        bets: usize,
        posted: usize,
        voided: usize,
    ) -> TallyRound {
        TallyRound {
            day: Some("2026-11-20".parse().unwrap()),
            currency: "USD".into(),
            stake,
            payout,
            posted,
            voided,
            bets,
            late: 0,
            corrections: 0,
            failures: 0,
            reserved: vec![],
        }
    }

    #[test]
    fn every_kind_of_difference_is_reported_once() {
        let key = |r: &str| ids::round_key("p", r);
        let tally = BTreeMap::from([
            (key("ok"), tally_round(100, 50, 1, 1, 0)),
            (key("payout"), tally_round(100, 50, 1, 1, 0)),
            (key("open"), tally_round(100, 0, 1, 0, 0)),
            (key("voided"), tally_round(0, 0, 1, 0, 1)),
            (key("extra"), tally_round(7, 0, 1, 1, 0)),
            (key("dup"), tally_round(10, 0, 1, 1, 0)),
        ]);
        let report = [
            row("ok", 100, 50),
            row("payout", 100, 49),
            row("open", 100, 0),
            row("voided", 100, 0),
            row("gone", 5, 0),
            row("dup", 10, 0),
            row("dup", 10, 0),
            row("dup", 10, 0),
        ];
        let rec = compare("p", &report, &tally);
        assert_eq!(
            rec.issues,
            vec![
                Issue::Mismatch {
                    round_id: "payout".into(),
                    field: "payout",
                    provider: 49,
                    tally: 50
                },
                Issue::NotSettled {
                    round_id: "open".into(),
                    status: "open"
                },
                Issue::NotSettled {
                    round_id: "voided".into(),
                    status: "cancelled"
                },
                Issue::Missing {
                    round_id: "gone".into()
                },
                Issue::Duplicate {
                    round_id: "dup".into(),
                    times: 3
                },
                Issue::Unreported {
                    round_key: key("extra")
                },
            ]
        );
        assert_eq!(rec.open_in_tally, 1);
        let totals = &rec.days[&("2026-11-20".parse().unwrap(), "USD".to_string())];
        assert_eq!(
            totals.provider,
            (8, 100 + 100 + 100 + 100 + 5 + 30, 50 + 49)
        );
        assert_eq!(totals.tally, (4, 100 + 100 + 7 + 10, 100));
        assert_eq!(rec.to_csv(false).unwrap().lines().count(), 6);
    }

    #[test]
    fn bad_report_rows_name_their_line() {
        let terms = Terms::parse(include_str!("../samples/terms.toml")).unwrap();
        let text = "date,round_id,currency,stake,payout\n2026-11-20,a,USD,1.00,0\n\
                    2026-13-01,b,USD,1,0\n2026-11-20,c,KRW,0.5,0\n2026-11-20,d,XXX,1,0\n";
        let errors = parse_report("p", text, &terms).unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5]);
        let ok = parse_report(
            "p",
            "date,round_id,currency,stake,payout\n2026-11-20,a,EUR,1.5,0.25\n",
            &terms,
        );
        assert_eq!(
            (ok.as_ref().unwrap()[0].stake, ok.unwrap()[0].payout),
            (150, 25)
        );
    }

    #[test]
    fn a_round_in_another_currency_or_on_another_day_is_a_mismatch() {
        let key = |r: &str| ids::round_key("p", r);
        let krw = TallyRound {
            currency: "KRW".into(),
            ..tally_round(10_000, 0, 1, 1, 0)
        };
        let next_day = TallyRound {
            day: Some("2026-11-21".parse().unwrap()),
            ..tally_round(500, 0, 1, 1, 0)
        };
        let tally = BTreeMap::from([(key("won"), krw), (key("late"), next_day)]);
        // USD 100.00 is 10000 minor units, as is KRW 10000: only the currency tells them apart.
        let report = [row("won", 10_000, 0), row("late", 500, 0)];
        let rec = compare("p", &report, &tally);
        let csv = rec.to_csv(false).unwrap();
        assert_eq!(
            csv,
            "p,mismatch,won,currency,USD,KRW\np,mismatch,late,day,2026-11-20,2026-11-21\n"
        );
        let terms = Terms::parse(include_str!("../samples/terms.toml")).unwrap();
        let text = rec.to_text(&terms);
        assert!(
            text.contains("mismatch: round won currency provider USD vs Tally KRW"),
            "{text}"
        );
        assert!(
            text.contains("mismatch: round late day provider 2026-11-20 vs Tally 2026-11-21"),
            "{text}"
        );
    }

    #[test]
    fn alerts_name_expiring_bets_and_rounds_refused_often_enough() {
        let key = |r: &str| ids::round_key("p", r);
        let open = TallyRound {
            reserved: vec![(1_000, 300), (5_000, 200), (900, 100)],
            failures: 1,
            ..tally_round(600, 0, 3, 0, 0)
        };
        let settled = TallyRound {
            failures: 5,
            ..tally_round(500, 0, 1, 1, 0)
        };
        let tally = BTreeMap::from([(key("open"), open), (key("done"), settled)]);
        let rules = AlertRules {
            now: 950,
            expiring_within: 100,
            failing_after: 1,
        };
        let report = [row("open", 600, 0)];
        assert_eq!(
            alerts("p", &report, &tally, &rules),
            vec![
                Alert::Expiring {
                    round_key: key("open"),
                    round_id: Some("open".into()),
                    currency: "USD".into(),
                    bets: 2,
                    amount: 400,
                    seconds_left: -50,
                },
                Alert::Failing {
                    round_key: key("open"),
                    round_id: Some("open".into()),
                    failures: 1,
                },
            ],
            "a settled round is not failing, whatever its records say"
        );
        let strict = AlertRules {
            failing_after: 2,
            expiring_within: 0,
            ..rules
        };
        assert_eq!(
            alerts("p", &report, &tally, &strict).len(),
            1,
            "the expired bet"
        );
        // A round with only a refused-result record is missing, not open.
        let failed_only = TallyRound {
            failures: 1,
            ..tally_round(0, 0, 0, 0, 0)
        };
        let tally = BTreeMap::from([(key("open"), failed_only)]);
        let rec = compare("p", &report, &tally);
        assert_eq!(
            rec.issues,
            vec![Issue::Missing {
                round_id: "open".into()
            }]
        );
    }
}
