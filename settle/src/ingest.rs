//! Posting normalized events to Tally, round by round, idempotently.
//!
//! 1. The chart's accounts are created (`exists` on every later run).
//! 2. A round with a rejected line (a parse error naming it, or one that names no round in the
//!    same provider's feed) is **quarantined**: none of its lines is posted, so it never settles
//!    on partial data and nothing of it is reserved; re-ingesting the corrected feed completes it.
//! 3. Events are grouped by (provider, round). A second identical copy of an event is counted as
//!    a duplicate; two different events with the same provider id are a conflict.
//! 4. Every bet is sent as a pending transfer; `exists` means it was posted before (a replay).
//! 5. Every closed round (a win or a rollback arrived) reads its pending bets back from Tally
//!    (`query_transfers` by the round key), so a result may arrive in a later feed than its bets,
//!    and sends its settlement (or void) chain. A chain answering `exists` on its first event and
//!    whose every id is found in Tally was settled before: its result events count as duplicates.

use std::collections::BTreeMap;

use tally_client::{Client, CreateTransferResult, QueryFilter, Transfer, TransferFlags, BATCH_MAX};

use crate::chart::{self, transfer_code};
use crate::error::{Error, Result};
use crate::event::{EventKind, GameEvent};
use crate::feeds::FeedError;
use crate::query;
use crate::round::RoundContext;
use crate::terms::Terms;

/// A round that could not be posted, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundFailure {
    /// Provider.
    pub provider: String,
    /// Provider's round id.
    pub round_id: String,
    /// Why (a Tally result name or a validation message).
    pub reason: String,
}

/// What one ingest run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Events read from the feeds.
    pub events: usize,
    /// Rows that could not be parsed.
    pub parse_errors: Vec<FeedError>,
    /// Events seen before: a second copy in the feeds, or already in Tally.
    pub duplicates: usize,
    /// Bets posted as pending transfers by this run.
    pub bets_posted: usize,
    /// Rounds settled by this run.
    pub rounds_settled: usize,
    /// Rounds cancelled (bets voided) by this run.
    pub rounds_cancelled: usize,
    /// Rounds whose result was already in Tally.
    pub rounds_already_closed: usize,
    /// Rounds still open (bets pending) after this run.
    pub rounds_open: usize,
    /// Rounds that failed.
    pub failures: Vec<RoundFailure>,
    /// Rounds held because a line of theirs was rejected: nothing of them was posted.
    pub quarantined: Vec<RoundFailure>,
}

/// The rounds that `errors` (rejected lines) hold, with the reasons, ordered by provider and
/// round. A rejected line naming its round holds that round; a line too broken to name one holds
/// every round of its provider in `events`, since it may belong to any of them.
pub fn quarantine(events: &[GameEvent], errors: &[FeedError]) -> Vec<RoundFailure> {
    let mut held: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for e in errors {
        let why = format!("line {}: {}", e.line, e.message);
        match &e.round_id {
            Some(round) => held
                .entry((e.provider.clone(), round.clone()))
                .or_default()
                .push(why),
            None => {
                for ev in events.iter().filter(|ev| ev.provider == e.provider) {
                    let reasons = held
                        .entry((ev.provider.clone(), ev.round_id.clone()))
                        .or_default();
                    let unknown = format!("{why} (its round cannot be read)");
                    if !reasons.contains(&unknown) {
                        reasons.push(unknown);
                    }
                }
            }
        }
    }
    held.into_iter()
        .map(|((provider, round_id), reasons)| RoundFailure {
            provider,
            round_id,
            reason: reasons.join("; "),
        })
        .collect()
}

/// One round's events, deduplicated.
#[derive(Debug)]
struct Round {
    events: Vec<GameEvent>,
    failed: Option<String>,
}

/// Creates every account of the chart (idempotent).
pub async fn ensure_accounts(client: &Client, terms: &Terms) -> Result<()> {
    let accounts = chart::accounts(terms);
    for chunk in accounts.chunks(BATCH_MAX) {
        let results = client.create_accounts(chunk).await?;
        if let Some((a, r)) = chunk.iter().zip(results).find(|(_, r)| !r.is_applied()) {
            return Err(Error::AccountRefused {
                id: a.id,
                code: a.code,
                result: r,
            });
        }
    }
    Ok(())
}

/// Posts `events` (with the feeds' `parse_errors`, which are only reported).
pub async fn ingest(
    client: &Client,
    terms: &Terms,
    events: Vec<GameEvent>,
    parse_errors: Vec<FeedError>,
) -> Result<IngestReport> {
    ensure_accounts(client, terms).await?;
    let mut report = IngestReport {
        events: events.len(),
        parse_errors,
        ..IngestReport::default()
    };
    report.quarantined = quarantine(&events, &report.parse_errors);
    let held: std::collections::BTreeSet<(String, String)> = report
        .quarantined
        .iter()
        .map(|q| (q.provider.clone(), q.round_id.clone()))
        .collect();
    // A held round posts nothing, not even its good lines: the corrected feed brings it whole.
    let events = events
        .into_iter()
        .filter(|e| !held.contains(&(e.provider.clone(), e.round_id.clone())))
        .collect();
    let mut rounds = group(events, &mut report);
    post_bets(client, terms, &mut rounds, &mut report).await?;
    close_rounds(client, terms, &mut rounds, &mut report).await?;
    for ((provider, round_id), round) in rounds {
        if let Some(reason) = round.failed {
            report.failures.push(RoundFailure {
                provider,
                round_id,
                reason,
            });
        }
    }
    Ok(report)
}

fn group(events: Vec<GameEvent>, report: &mut IngestReport) -> BTreeMap<(String, String), Round> {
    let mut rounds: BTreeMap<(String, String), Round> = BTreeMap::new();
    for e in events {
        let round = rounds
            .entry((e.provider.clone(), e.round_id.clone()))
            .or_insert(Round {
                events: vec![],
                failed: None,
            });
        let same_id = round
            .events
            .iter()
            .find(|o| o.event_id == e.event_id && o.kind == e.kind);
        match same_id {
            Some(o)
                if GameEvent {
                    line: o.line,
                    ..e.clone()
                } == *o =>
            {
                report.duplicates += 1
            }
            Some(o) => {
                round.failed = Some(format!(
                    "line {}: {} {} conflicts with line {}",
                    e.line, e.kind, e.event_id, o.line
                ))
            }
            None => round.events.push(e),
        }
    }
    rounds
}

async fn post_bets(
    client: &Client,
    terms: &Terms,
    rounds: &mut BTreeMap<(String, String), Round>,
    report: &mut IngestReport,
) -> Result<()> {
    let mut bets: Vec<(Transfer, (String, String))> = Vec::new();
    for (key, round) in rounds.iter_mut().filter(|(_, r)| r.failed.is_none()) {
        match RoundContext::new(terms, &round.events) {
            Ok(ctx) => bets.extend(
                round
                    .events
                    .iter()
                    .filter(|e| e.kind == EventKind::Bet)
                    .map(|e| (ctx.bet(e), key.clone())),
            ),
            Err(e) => round.failed = Some(e.to_string()),
        }
    }
    for chunk in bets.chunks(BATCH_MAX) {
        let transfers: Vec<Transfer> = chunk.iter().map(|(t, _)| *t).collect();
        let results = client.create_transfers(&transfers).await?;
        for ((_, key), result) in chunk.iter().zip(results) {
            match result {
                CreateTransferResult::Ok => report.bets_posted += 1,
                CreateTransferResult::Exists => report.duplicates += 1,
                other => {
                    let round = rounds.get_mut(key).expect("grouped");
                    round.failed.get_or_insert(format!("bet refused: {other}"));
                }
            }
        }
    }
    Ok(())
}

/// The pending bets of a round, as Tally has them, and whether any of them was posted (the
/// round settled).
async fn pending_bets(client: &Client, ctx: &RoundContext<'_>) -> Result<(Vec<Transfer>, bool)> {
    let filter = QueryFilter {
        user_data_128: ctx.key(),
        user_data_32: ctx.provider_id,
        code: transfer_code::BET,
        ledger: ctx.currency.ledger,
        ..QueryFilter::new()
    };
    let all = query::transfers(client, filter).await?;
    let settled = all
        .iter()
        .any(|t| t.flags.contains(TransferFlags::POST_PENDING_TRANSFER));
    let pending = all
        .into_iter()
        .filter(|t| t.flags.contains(TransferFlags::PENDING))
        .collect();
    Ok((pending, settled))
}

async fn close_rounds(
    client: &Client,
    terms: &Terms,
    rounds: &mut BTreeMap<(String, String), Round>,
    report: &mut IngestReport,
) -> Result<()> {
    for round in rounds.values_mut().filter(|r| r.failed.is_none()) {
        let ctx = RoundContext::new(terms, &round.events).expect("checked by post_bets");
        let results: Vec<&GameEvent> = round
            .events
            .iter()
            .filter(|e| e.kind != EventKind::Bet)
            .collect();
        let Some(last) = results.iter().map(|e| e.time).max() else {
            report.rounds_open += 1;
            continue;
        };
        let (bets, settled) = pending_bets(client, &ctx).await?;
        if bets.is_empty() {
            round.failed = Some("a result without a bet in Tally".into());
            continue;
        }
        let rollback = results.iter().any(|e| e.kind == EventKind::Rollback);
        if rollback {
            if let Err(reason) = check_rollback(&ctx, &bets, &results, settled) {
                round.failed = Some(reason);
                continue;
            }
        }
        let chain = if rollback && results.iter().any(|e| e.kind == EventKind::Win) {
            round.failed = Some("both a win and a rollback".into());
            continue;
        } else if rollback {
            ctx.rollback(&bets, last)
        } else {
            let wins: Vec<GameEvent> = results.iter().map(|e| (*e).clone()).collect();
            match ctx.settle(&bets, &wins, last) {
                Ok(chain) => chain,
                Err(e) => {
                    round.failed = Some(e.to_string());
                    continue;
                }
            }
        };
        match send_chain(client, &chain).await? {
            ChainOutcome::Applied if rollback => report.rounds_cancelled += 1,
            ChainOutcome::Applied => report.rounds_settled += 1,
            ChainOutcome::AlreadyApplied => {
                report.rounds_already_closed += 1;
                report.duplicates += results.len();
            }
            ChainOutcome::Refused(reason) => round.failed = Some(reason),
        }
    }
    Ok(())
}

/// A rollback cancels a round that is still open, for exactly the stake it reserved.
fn check_rollback(
    ctx: &RoundContext<'_>,
    bets: &[Transfer],
    results: &[&GameEvent],
    settled: bool,
) -> Result<(), String> {
    if settled {
        return Err(
            "rollback refused: the round was already settled (its bets are posted and \
             its shares paid); nothing voided"
                .into(),
        );
    }
    let rolled = checked_sum(
        results
            .iter()
            .filter(|e| e.kind == EventKind::Rollback)
            .map(|e| e.amount),
    );
    let stake = checked_sum(bets.iter().map(|b| b.amount));
    if rolled != stake || rolled.is_none() {
        let show = |v: Option<u128>| match v.map(|v| ctx.currency.to_decimal(v)) {
            Some(Ok(d)) => format!("{d} {}", ctx.currency.code),
            _ => "an amount beyond 128 bits".into(),
        };
        return Err(format!(
            "rollback of {} does not match the round's stake of {}; nothing voided",
            show(rolled),
            show(stake)
        ));
    }
    Ok(())
}

fn checked_sum(mut amounts: impl Iterator<Item = u128>) -> Option<u128> {
    amounts.try_fold(0u128, u128::checked_add)
}

enum ChainOutcome {
    Applied,
    AlreadyApplied,
    Refused(String),
}

/// Sends one linked chain and judges its results.
async fn send_chain(client: &Client, chain: &[Transfer]) -> Result<ChainOutcome> {
    let results = client.create_transfers(chain).await?;
    if results.iter().all(|r| r.is_ok()) {
        return Ok(ChainOutcome::Applied);
    }
    let culprit = results
        .iter()
        .zip(chain)
        .find(|(r, _)| **r != CreateTransferResult::LinkedEventFailed);
    match culprit {
        Some((CreateTransferResult::Exists, _)) => {
            // The chain is all or nothing: if every id is in Tally, it applied before.
            let ids: Vec<u128> = chain.iter().map(|t| t.id).collect();
            let found = client.lookup_transfers(&ids).await?;
            if found.len() == ids.len() {
                Ok(ChainOutcome::AlreadyApplied)
            } else {
                Ok(ChainOutcome::Refused(
                    "closed earlier with different results (its first leg exists, others do not)"
                        .into(),
                ))
            }
        }
        // A leg with this id exists but differs: the round closed before with other results.
        Some((r, _)) if r.name().starts_with("exists_with_different") => Ok(ChainOutcome::Refused(
            format!("closed earlier with different results ({r})"),
        )),
        Some((r, t)) => Ok(ChainOutcome::Refused(format!(
            "{r} (transfer {:032x}, code {})",
            t.id, t.code
        ))),
        None => Ok(ChainOutcome::Refused("linked_event_failed".into())),
    }
}
