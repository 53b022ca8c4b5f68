//! Corrections of settled rounds: one linked chain that reverses the round's current settlement
//! and posts the corrected one, traceable to the original round and applied exactly once.
//!
//! Correction number `n` of a round (1 for the first) is a chain of:
//!
//! 1. a **marker**, amount 0, `players -> pool`, id `leg(provider, round, "correction:<n>")`,
//!    code `CORRECTION` (made by `tally-settle correct`; `user_data_64` = the first 8 bytes of
//!    the corrected round's content digest) or `LATE` (made by ingest for late events);
//! 2. what changes the round's stake and wins: for a corrected round, the voids of its open
//!    bets, the reversal of its stake and wins (`correction:<n>:reverse:stake`,
//!    `...:reverse:wins`) and the corrected ones (`correction:<n>:stake`, `...:wins`); for late
//!    events, the posts of the late bets and the late wins themselves;
//! 3. the reversal of every partner's current position in the round (`correction:<n>:reverse:
//!    <share|fx-out|fx-in>:<partner>`), read from Tally, so it undoes exactly what was paid;
//! 4. every partner's share of the corrected round (`correction:<n>:<share|fx-out|fx-in>:
//!    <partner>`), by the same terms and rounding rule as a settlement.
//!
//! Every leg carries the original round's key, provider id and the correction's time, so
//! statements show it as an adjustment of that round in the period of the correction. The ids
//! come from the round and `n`, so a retried chain answers `exists`; a corrected round whose
//! content (events, ids and amounts) was applied before is recognized by its digest and posts
//! nothing, however often it is replayed.

use std::collections::BTreeMap;

use tally_client::{Client, LinkedChain, PostAmount, Transfer};

use crate::chart::{fx_account, players_account, pool_account, transfer_code, Party};
use crate::error::Result;
use crate::event::{EventKind, GameEvent};
use crate::feeds::FeedError;
use crate::ids;
use crate::ingest::{self, ChainOutcome, RoundFailure};
use crate::round::{PlanError, RoundContext};
use crate::state::{self, RoundState};
use crate::terms::Terms;

/// What a correction changes.
#[derive(Clone, Debug)]
pub enum Change<'e> {
    /// Late events of a settled round: its open bets to post and its new wins.
    Late {
        /// The pending bets to post.
        bets: Vec<Transfer>,
        /// The wins to pay (those of amount 0 post nothing).
        wins: Vec<&'e GameEvent>,
    },
    /// The round as corrected: its whole stake and wins.
    Corrected {
        /// The corrected stake.
        stake: u128,
        /// The corrected wins.
        paid: u128,
        /// First 8 bytes of the corrected content's digest ([`digest`]).
        digest: u64,
    },
}

/// The chain of the next correction of `state`, stamped with `time`.
pub fn plan(
    ctx: &RoundContext<'_>,
    state: &RoundState,
    change: &Change<'_>,
    time: i64,
) -> Result<Vec<Transfer>, PlanError> {
    let n = state.next_correction();
    let prefix = format!("correction:{n}:");
    let ccy = &ctx.currency;
    let (players, pool) = (
        players_account(&ctx.operator, &ccy.code),
        pool_account(&ctx.provider, &ccy.code),
    );
    let stamp = time.max(0) as u64;
    let (code, data) = match change {
        Change::Late { .. } => (transfer_code::LATE, stamp),
        Change::Corrected { digest, .. } => (transfer_code::CORRECTION, *digest),
    };
    let marker = Transfer::new(
        ctx.leg_id(&format!("correction:{n}")),
        players,
        pool,
        0,
        ccy.ledger,
        code,
    )
    .with_user_data(ctx.key(), data, ctx.provider_id);
    let mut legs = Vec::new();
    let plain = |name: &str, dr, cr, amount, code| {
        Transfer::new(ctx.leg_id(name), dr, cr, amount, ccy.ledger, code)
    };
    let (stake, paid) = match change {
        Change::Late { bets, wins } => {
            for b in bets {
                let post = Transfer::post(
                    ctx.leg_id(&format!("post:{:032x}", b.id)),
                    b.id,
                    PostAmount::Full,
                );
                legs.push(Transfer {
                    code: transfer_code::BET,
                    ..post
                });
            }
            for w in wins.iter().filter(|w| w.amount > 0) {
                let id = ids::event_transfer(&ctx.provider, &ctx.round_id, "win", &w.event_id);
                legs.push(Transfer::new(
                    id,
                    pool,
                    players,
                    w.amount,
                    ccy.ledger,
                    transfer_code::WIN,
                ));
            }
            let add = |base: u128, more: Vec<u128>| {
                more.into_iter()
                    .try_fold(base, u128::checked_add)
                    .ok_or(PlanError::Overflow)
            };
            (
                add(state.stake, bets.iter().map(|b| b.amount).collect())?,
                add(state.paid, wins.iter().map(|w| w.amount).collect())?,
            )
        }
        Change::Corrected { stake, paid, .. } => {
            for b in state.open_bets() {
                let void = Transfer::void(ctx.leg_id(&format!("void:{:032x}", b.id)), b.id);
                legs.push(Transfer {
                    code: transfer_code::BET,
                    ..void
                });
            }
            let adj = [
                (
                    "reverse:stake",
                    pool,
                    players,
                    state.stake,
                    transfer_code::STAKE_ADJ,
                ),
                (
                    "reverse:wins",
                    players,
                    pool,
                    state.paid,
                    transfer_code::WIN_ADJ,
                ),
                ("stake", players, pool, *stake, transfer_code::STAKE_ADJ),
                ("wins", pool, players, *paid, transfer_code::WIN_ADJ),
            ];
            for (name, dr, cr, amount, code) in adj {
                if amount > 0 {
                    legs.push(plain(&format!("{prefix}{name}"), dr, cr, amount, code));
                }
            }
            (*stake, *paid)
        }
    };
    legs.extend(reverse_positions(ctx, state, n)?);
    let bets: Vec<Transfer> = state.bets.values().map(|(t, _)| *t).collect();
    let day = RoundContext::business_day(&bets, time);
    legs.extend(ctx.all_share_legs(stake, paid, &prefix, true, day)?);
    let tagged = legs.into_iter().map(|t| ctx.tagged(t, time));
    Ok(LinkedChain::new().push(marker).extend(tagged).build())
}

const KINDS: [(&str, u16); 3] = [
    ("share", transfer_code::SHARE),
    ("fx-out", transfer_code::FX_OUT),
    ("fx-in", transfer_code::FX_IN),
];

/// The legs undoing every partner's current position in the round: the net of its settlement
/// legs and of the legs of corrections `1..n`, each leg recognized by its id.
fn reverse_positions(
    ctx: &RoundContext<'_>,
    state: &RoundState,
    n: u32,
) -> Result<Vec<Transfer>, PlanError> {
    let terms = ctx.terms;
    let mut known: BTreeMap<u128, (Party, usize)> = BTreeMap::new();
    for party in Party::all(terms) {
        for (k, (kind, _)) in KINDS.iter().enumerate() {
            let mut names = vec![format!("{kind}:{party}")];
            for j in 1..n {
                names.push(format!("correction:{j}:{kind}:{party}"));
                names.push(format!("correction:{j}:reverse:{kind}:{party}"));
            }
            for name in names {
                known.insert(ctx.leg_id(&name), (party.clone(), k));
            }
        }
    }
    // Per (partner, kind): the net amount moved towards its destination, and the accounts.
    let mut net: BTreeMap<(Party, usize), (i128, u128, u128, u32)> = BTreeMap::new();
    let share_codes = KINDS
        .iter()
        .flat_map(|(_, c)| [*c, transfer_code::adjusted(*c)]);
    let share_codes: Vec<u16> = share_codes.collect();
    for t in state
        .transfers
        .iter()
        .filter(|t| share_codes.contains(&t.code))
    {
        let Some((party, kind)) = known.get(&t.id) else {
            return Err(PlanError::Inconsistent(format!(
                "leg {:032x} of round {} is not one the terms name (did the partners change?); \
                 nothing corrected",
                t.id, ctx.round_id
            )));
        };
        let target = party.settlement_currency(terms).unwrap_or_default();
        let to = match KINDS[*kind].0 {
            "fx-out" => fx_account(&ctx.currency.code),
            _ => party.account(target),
        };
        let (from, sign) = if t.credit_account_id == to {
            (t.debit_account_id, 1)
        } else {
            (t.credit_account_id, -1)
        };
        let entry = net
            .entry((party.clone(), *kind))
            .or_insert((0, from, to, t.ledger));
        let amount = i128::try_from(t.amount).map_err(|_| PlanError::Overflow)?;
        entry.0 = entry
            .0
            .checked_add(sign * amount)
            .ok_or(PlanError::Overflow)?;
    }
    let mut legs = Vec::new();
    for ((party, kind), (amount, from, to, ledger)) in net {
        if amount == 0 {
            continue;
        }
        let (name, code) = KINDS[kind];
        let (dr, cr) = if amount > 0 { (to, from) } else { (from, to) };
        legs.push(Transfer::new(
            ctx.leg_id(&format!("correction:{n}:reverse:{name}:{party}")),
            dr,
            cr,
            amount.unsigned_abs(),
            ledger,
            transfer_code::adjusted(code),
        ));
    }
    Ok(legs)
}

/// The first 8 bytes of the digest of a corrected round's content: every event's kind, id,
/// amount and bet reference, in a fixed order.
pub fn digest(events: &[GameEvent]) -> u64 {
    let mut parts: Vec<String> = events
        .iter()
        .map(|e| {
            format!(
                "{}\u{1f}{}\u{1f}{}\u{1f}{}",
                e.kind,
                e.event_id,
                e.amount,
                e.bet_ref.as_deref().unwrap_or("")
            )
        })
        .collect();
    parts.sort();
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    (ids::derive("content", &refs) >> 64) as u64
}

/// The corrected stake and wins of a round's events: its bets less those a rollback names
/// (with the bet's amount), and its wins; a rollback of the whole round corrects it to
/// cancelled (stake and wins 0).
pub fn corrected_totals(events: &[GameEvent]) -> Result<(u128, u128), String> {
    let mut bets: BTreeMap<&str, u128> = events
        .iter()
        .filter(|e| e.kind == EventKind::Bet)
        .map(|e| (e.event_id.as_str(), e.amount))
        .collect();
    let wins: Vec<u128> = events
        .iter()
        .filter(|e| e.kind == EventKind::Win)
        .map(|e| e.amount)
        .collect();
    let mut cancel = None;
    for r in events.iter().filter(|e| e.kind == EventKind::Rollback) {
        match r.bet_ref.as_deref() {
            Some(bet) => match bets.remove(bet) {
                Some(a) if a == r.amount => {}
                Some(a) => {
                    return Err(format!(
                        "line {}: rollback of bet {bet} for {} where the bet is {a} (minor units)",
                        r.line, r.amount
                    ))
                }
                None => return Err(format!("line {}: rollback of unknown bet {bet}", r.line)),
            },
            None => cancel = Some(r),
        }
    }
    let sum = |v: Vec<u128>| {
        v.into_iter()
            .try_fold(0u128, u128::checked_add)
            .ok_or_else(|| "amounts overflow".to_string())
    };
    let stake = sum(bets.values().copied().collect())?;
    if let Some(r) = cancel {
        if !wins.is_empty() {
            return Err("both a win and a rollback of the whole round".into());
        }
        if r.amount != stake {
            return Err(format!(
                "line {}: rollback of {} does not match the stake of {stake} (minor units)",
                r.line, r.amount
            ));
        }
        return Ok((0, 0));
    }
    if bets.is_empty() || wins.is_empty() {
        return Err(
            "a corrected round needs all its bets and its result (a win, 0 for a loss)".into(),
        );
    }
    Ok((stake, sum(wins)?))
}

/// One correction applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// Provider.
    pub provider: String,
    /// Provider's round id.
    pub round_id: String,
    /// The round's currency.
    pub currency: String,
    /// The correction's number for this round (1 for the first).
    pub number: u32,
    /// Stake and wins before (minor units).
    pub before: (u128, u128),
    /// Stake and wins after.
    pub after: (u128, u128),
}

/// What a `correct` run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CorrectReport {
    /// Events read.
    pub events: usize,
    /// Rows that could not be parsed.
    pub parse_errors: Vec<FeedError>,
    /// Rounds held because a line of theirs was rejected: nothing corrected.
    pub quarantined: Vec<RoundFailure>,
    /// Corrections posted by this run.
    pub applied: Vec<Applied>,
    /// Rounds whose corrected content was applied before (by its number): nothing posted.
    pub already_applied: Vec<(RoundFailure, u32)>,
    /// Rounds whose corrected stake and wins equal what Tally holds: nothing posted.
    pub unchanged: Vec<RoundFailure>,
    /// Rounds that could not be corrected.
    pub failures: Vec<RoundFailure>,
}

/// Corrects settled rounds to `events` (each round's complete corrected lines), stamping the
/// adjustment legs with `time` (the business time of the correction).
pub async fn correct(
    client: &Client,
    terms: &Terms,
    events: Vec<GameEvent>,
    parse_errors: Vec<FeedError>,
    time: i64,
) -> Result<CorrectReport> {
    ingest::ensure_accounts(client, terms).await?;
    let mut report = CorrectReport {
        events: events.len(),
        quarantined: ingest::quarantine(&events, &parse_errors),
        parse_errors,
        ..CorrectReport::default()
    };
    let mut rounds: BTreeMap<(String, String), Vec<GameEvent>> = BTreeMap::new();
    for e in events {
        let key = (e.provider.clone(), e.round_id.clone());
        let held = report
            .quarantined
            .iter()
            .any(|q| (&q.provider, &q.round_id) == (&key.0, &key.1));
        let round = rounds.entry(key).or_default();
        // An identical copy of a line (a file delivered twice) counts once.
        let copy = round.iter().any(|o| {
            GameEvent {
                line: o.line,
                ..e.clone()
            } == *o
        });
        if !held && !copy {
            round.push(e);
        }
    }
    for ((provider, round_id), events) in rounds.into_iter().filter(|(_, e)| !e.is_empty()) {
        let note = |reason: String| RoundFailure {
            provider: provider.clone(),
            round_id: round_id.clone(),
            reason,
        };
        match correct_round(client, terms, &events, time).await? {
            Ok(Outcome::Applied(a)) => report.applied.push(a),
            Ok(Outcome::AlreadyApplied(n)) => report
                .already_applied
                .push((note(format!("already applied as correction #{n}")), n)),
            Ok(Outcome::Unchanged) => report.unchanged.push(note(
                "the corrected stake and wins equal Tally's; nothing posted".into(),
            )),
            Err(reason) => report.failures.push(note(reason)),
        }
    }
    Ok(report)
}

enum Outcome {
    Applied(Applied),
    AlreadyApplied(u32),
    Unchanged,
}

async fn correct_round(
    client: &Client,
    terms: &Terms,
    events: &[GameEvent],
    time: i64,
) -> Result<Result<Outcome, String>> {
    let ctx = match RoundContext::new(terms, events) {
        Ok(ctx) => ctx,
        Err(e) => return Ok(Err(e.to_string())),
    };
    if let Some(dup) = duplicate_event(events) {
        return Ok(Err(dup));
    }
    let (stake, paid) = match corrected_totals(events) {
        Ok(totals) => totals,
        Err(e) => return Ok(Err(e)),
    };
    let state = state::read(client, &ctx).await?;
    if !state.settled() {
        return Ok(Err(
            "the round is not settled in Tally; ingest its feed instead (a correction \
             replaces a settled round)"
                .into(),
        ));
    }
    let digest = digest(events);
    if let Some(n) = applied_number(&ctx, &state, digest) {
        return Ok(Ok(Outcome::AlreadyApplied(n)));
    }
    if (stake, paid) == (state.stake, state.paid) && state.open_bets().is_empty() {
        return Ok(Ok(Outcome::Unchanged));
    }
    let change = Change::Corrected {
        stake,
        paid,
        digest,
    };
    let chain = match plan(&ctx, &state, &change, time) {
        Ok(chain) => chain,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let number = state.next_correction();
    Ok(match ingest::send_chain(client, &chain).await? {
        ChainOutcome::Applied => Ok(Outcome::Applied(Applied {
            provider: ctx.provider.clone(),
            round_id: ctx.round_id.clone(),
            currency: ctx.currency.code.clone(),
            number,
            before: (state.stake, state.paid),
            after: (stake, paid),
        })),
        ChainOutcome::AlreadyApplied => Ok(Outcome::AlreadyApplied(number)),
        ChainOutcome::Refused(reason) => Err(format!(
            "{reason}; nothing corrected (another correction of the round may have been \
             posted meanwhile: run it again)"
        )),
    })
}

/// Two different lines of a corrected round with the same kind and event id.
fn duplicate_event(events: &[GameEvent]) -> Option<String> {
    let mut seen = BTreeMap::new();
    for e in events {
        if let Some(line) = seen.insert((e.kind, e.event_id.as_str()), e.line) {
            return Some(format!(
                "line {}: {} {} repeats line {line}",
                e.line, e.kind, e.event_id
            ));
        }
    }
    None
}

/// The number of the correction of this round whose content digest is `digest`, if any.
fn applied_number(ctx: &RoundContext<'_>, state: &RoundState, digest: u64) -> Option<u32> {
    let marker = state
        .corrections
        .iter()
        .find(|m| m.code == transfer_code::CORRECTION && m.user_data_64 == digest)?;
    correction_number(ctx, marker.id, state.corrections.len())
}

/// Which correction (1..=`count`) of the round a marker id belongs to.
pub fn correction_number(ctx: &RoundContext<'_>, marker: u128, count: usize) -> Option<u32> {
    (1..=u32::try_from(count).ok()?).find(|n| ctx.leg_id(&format!("correction:{n}")) == marker)
}
