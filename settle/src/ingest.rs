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

use tally_client::{Client, CreateTransferResult, Transfer, BATCH_MAX};

use crate::chart::{self, players_account, pool_account, transfer_code};
use crate::correct::{self, Change};
use crate::error::{Error, Result};
use crate::event::{EventKind, GameEvent};
use crate::feeds::FeedError;
use crate::ids;
use crate::round::RoundContext;
use crate::state::{self, BetStatus, RoundState};
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
    /// Bets voided alone by a rollback naming them, by this run.
    pub bets_rolled_back: usize,
    /// Settled rounds that received late bets or wins, applied as a correction by this run.
    pub late: Vec<LateRound>,
}

/// Late events of a settled round, applied as its next correction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LateRound {
    /// Provider.
    pub provider: String,
    /// Provider's round id.
    pub round_id: String,
    /// Late bets posted.
    pub bets: usize,
    /// Late wins (of any amount).
    pub wins: usize,
    /// The correction's number for this round.
    pub correction: u32,
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

/// Closes, rolls back or corrects every round with news: per-bet rollbacks first, then the
/// round's result; a round that settled earlier takes its late bets and wins as a correction.
async fn close_rounds(
    client: &Client,
    terms: &Terms,
    rounds: &mut BTreeMap<(String, String), Round>,
    report: &mut IngestReport,
) -> Result<()> {
    for round in rounds.values_mut().filter(|r| r.failed.is_none()) {
        let ctx = RoundContext::new(terms, &round.events).expect("checked by post_bets");
        let state = state::read(client, &ctx).await?;
        if let Err(reason) = close_round(client, &ctx, &state, &round.events, report).await? {
            round.failed = Some(reason);
            record_failure(client, &ctx, &state, &round.events).await?;
        }
    }
    Ok(())
}

/// Records in Tally that this run refused the round's result (one more `FAILED` record; the
/// n-th has id `leg(provider, round, "failure:<n>")`), so reconciliation can tell a round that
/// keeps failing. Two runs racing build the same id and count once.
async fn record_failure(
    client: &Client,
    ctx: &RoundContext<'_>,
    state: &RoundState,
    events: &[GameEvent],
) -> Result<()> {
    let n = 1 + state
        .transfers
        .iter()
        .filter(|t| t.code == transfer_code::FAILED)
        .count();
    let record = Transfer::new(
        ctx.leg_id(&format!("failure:{n}")),
        players_account(&ctx.operator, &ctx.currency.code),
        pool_account(&ctx.provider, &ctx.currency.code),
        0,
        ctx.currency.ledger,
        transfer_code::FAILED,
    );
    let time = events.iter().map(|e| e.time).max().unwrap_or(0);
    client.create_transfers(&[ctx.tagged(record, time)]).await?;
    Ok(())
}

async fn close_round(
    client: &Client,
    ctx: &RoundContext<'_>,
    state: &RoundState,
    events: &[GameEvent],
    report: &mut IngestReport,
) -> Result<Result<(), String>> {
    let of = |kind| events.iter().filter(move |e| e.kind == kind);
    let wins: Vec<&GameEvent> = of(EventKind::Win).collect();
    let (bet_rollbacks, round_rollbacks): (Vec<&GameEvent>, Vec<&GameEvent>) =
        of(EventKind::Rollback).partition(|e| e.bet_ref.is_some());
    // 1. Rollbacks of single bets void those bets alone.
    let voided = match roll_back_bets(client, ctx, state, &bet_rollbacks, report).await? {
        Ok(voided) => voided,
        Err(reason) => return Ok(Err(reason)),
    };
    let open: Vec<Transfer> = state
        .open_bets()
        .into_iter()
        .filter(|b| !voided.contains(&b.id))
        .collect();
    if !round_rollbacks.is_empty() && !wins.is_empty() {
        return Ok(Err("both a win and a rollback".into()));
    }
    // 2. A round that settled earlier: a rollback is refused, new bets and wins are late.
    if state.settled() {
        if !round_rollbacks.is_empty() {
            return Ok(Err(SETTLED.into()));
        }
        let late_wins: Vec<&GameEvent> = wins
            .iter()
            .copied()
            .filter(|w| w.amount > 0)
            .filter(|w| {
                !state.has(ids::event_transfer(
                    &ctx.provider,
                    &ctx.round_id,
                    "win",
                    &w.event_id,
                ))
            })
            .collect();
        if open.is_empty() && late_wins.is_empty() {
            if !wins.is_empty() {
                report.rounds_already_closed += 1;
                report.duplicates += wins.len();
            }
            return Ok(Ok(()));
        }
        return apply_late(client, ctx, state, open, late_wins, report).await;
    }
    let last = events
        .iter()
        .filter(|e| e.kind != EventKind::Bet)
        .map(|e| e.time)
        .max();
    let Some(last) = last.filter(|_| !wins.is_empty() || !round_rollbacks.is_empty()) else {
        if open.is_empty() && !voided.is_empty() {
            report.rounds_cancelled += 1;
        } else if !open.is_empty() {
            report.rounds_open += 1;
        }
        return Ok(Ok(()));
    };
    if open.is_empty() {
        let all_voided =
            !state.bets.is_empty() && state.bets.values().all(|(_, s)| *s == BetStatus::Voided);
        if all_voided && wins.is_empty() {
            report.rounds_already_closed += 1;
            report.duplicates += round_rollbacks.len();
            return Ok(Ok(()));
        }
        return Ok(Err(if all_voided {
            "every bet of the round was rolled back; a win cannot settle it".into()
        } else {
            "a result without a bet in Tally".into()
        }));
    }
    // 3. The round's result: a rollback of the whole round, or its settlement.
    let rollback = !round_rollbacks.is_empty();
    let chain = if rollback {
        if let Err(reason) = check_rollback(ctx, &open, &round_rollbacks) {
            return Ok(Err(reason));
        }
        ctx.rollback(&open, last)
    } else {
        let wins: Vec<GameEvent> = wins.iter().map(|e| (*e).clone()).collect();
        match ctx.settle(&open, &wins, last) {
            Ok(chain) => chain,
            Err(e) => return Ok(Err(e.to_string())),
        }
    };
    Ok(match send_chain(client, &chain).await? {
        ChainOutcome::Applied if rollback => {
            report.rounds_cancelled += 1;
            Ok(())
        }
        ChainOutcome::Applied => {
            report.rounds_settled += 1;
            Ok(())
        }
        ChainOutcome::AlreadyApplied => {
            report.rounds_already_closed += 1;
            report.duplicates += wins.len() + round_rollbacks.len();
            Ok(())
        }
        ChainOutcome::Refused(reason) => Err(reason),
    })
}

const SETTLED: &str = "rollback refused: the round was already settled (its bets are posted and \
                       its shares paid); nothing voided";

/// Voids the bets that per-bet rollbacks name, each for exactly its stake, in one chain.
/// Returns the ids voided (now or before).
async fn roll_back_bets(
    client: &Client,
    ctx: &RoundContext<'_>,
    state: &RoundState,
    rollbacks: &[&GameEvent],
    report: &mut IngestReport,
) -> Result<Result<Vec<u128>, String>> {
    let (mut voids, mut done) = (Vec::new(), Vec::new());
    for r in rollbacks {
        let bet = r.bet_ref.as_deref().unwrap_or_default();
        let id = ids::event_transfer(&ctx.provider, &ctx.round_id, "bet", bet);
        match state.bets.get(&id) {
            None => {
                return Ok(Err(format!(
                    "line {}: rollback of bet {bet}, which is not in Tally; nothing voided",
                    r.line
                )))
            }
            Some((_, BetStatus::Voided)) => {
                report.duplicates += 1;
                done.push(id);
            }
            Some((_, BetStatus::Posted)) => {
                return Ok(Err(format!(
                    "line {}: rollback of bet {bet} refused: its round was already settled; \
                     nothing voided",
                    r.line
                )))
            }
            Some((b, BetStatus::Open)) if b.amount != r.amount => {
                return Ok(Err(format!(
                    "line {}: rollback of {} does not match bet {bet}'s stake of {}; nothing \
                     voided",
                    r.line,
                    show(ctx, Some(r.amount)),
                    show(ctx, Some(b.amount))
                )))
            }
            Some((b, BetStatus::Open)) => voids.push(*b),
        }
    }
    if voids.is_empty() {
        return Ok(Ok(done));
    }
    let time = rollbacks.iter().map(|r| r.time).max().unwrap_or_default();
    match send_chain(client, &ctx.rollback(&voids, time)).await? {
        ChainOutcome::Applied => report.bets_rolled_back += voids.len(),
        ChainOutcome::AlreadyApplied => report.duplicates += voids.len(),
        ChainOutcome::Refused(reason) => return Ok(Err(reason)),
    }
    done.extend(voids.iter().map(|b| b.id));
    Ok(Ok(done))
}

/// Late bets and wins of a settled round, applied as its next correction.
async fn apply_late(
    client: &Client,
    ctx: &RoundContext<'_>,
    state: &RoundState,
    bets: Vec<Transfer>,
    wins: Vec<&GameEvent>,
    report: &mut IngestReport,
) -> Result<Result<(), String>> {
    let time = bets
        .iter()
        .map(|b| b.user_data_64 as i64)
        .chain(wins.iter().map(|w| w.time))
        .max()
        .unwrap_or_default();
    let (n_bets, n_wins) = (bets.len(), wins.len());
    let change = Change::Late { bets, wins };
    let chain = match correct::plan(ctx, state, &change, time) {
        Ok(chain) => chain,
        Err(e) => return Ok(Err(format!("late events: {e}"))),
    };
    let number = state.next_correction();
    Ok(match send_chain(client, &chain).await? {
        ChainOutcome::Applied | ChainOutcome::AlreadyApplied => {
            report.late.push(LateRound {
                provider: ctx.provider.clone(),
                round_id: ctx.round_id.clone(),
                bets: n_bets,
                wins: n_wins,
                correction: number,
            });
            Ok(())
        }
        ChainOutcome::Refused(reason) => Err(format!("late events not applied: {reason}")),
    })
}

/// A rollback of the whole round cancels it while it is open, for exactly the stake its open
/// bets reserve.
fn check_rollback(
    ctx: &RoundContext<'_>,
    bets: &[Transfer],
    rollbacks: &[&GameEvent],
) -> Result<(), String> {
    let rolled = checked_sum(rollbacks.iter().map(|e| e.amount));
    let stake = checked_sum(bets.iter().map(|b| b.amount));
    if rolled != stake || rolled.is_none() {
        return Err(format!(
            "rollback of {} does not match the round's stake of {}; nothing voided",
            show(ctx, rolled),
            show(ctx, stake)
        ));
    }
    Ok(())
}

fn show(ctx: &RoundContext<'_>, v: Option<u128>) -> String {
    match v.map(|v| ctx.currency.to_decimal(v)) {
        Some(Ok(d)) => format!("{d} {}", ctx.currency.code),
        _ => "an amount beyond 128 bits".into(),
    }
}

fn checked_sum(mut amounts: impl Iterator<Item = u128>) -> Option<u128> {
    amounts.try_fold(0u128, u128::checked_add)
}

/// How Tally answered a linked chain.
#[derive(Debug)]
pub(crate) enum ChainOutcome {
    /// Every leg applied now.
    Applied,
    /// Every leg was in Tally already (a replay).
    AlreadyApplied,
    /// Refused as a whole, with the reason.
    Refused(String),
}

/// Sends one linked chain and judges its results.
pub(crate) async fn send_chain(client: &Client, chain: &[Transfer]) -> Result<ChainOutcome> {
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
