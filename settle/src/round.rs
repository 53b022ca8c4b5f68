//! Turning a round into Tally transfers (pure: no I/O).
//!
//! - A bet is a pending transfer `players -> pool` with the terms' timeout, id derived from the
//!   provider's event id. An open round is just its pending bets.
//! - A win closes the round: one linked chain posts every pending bet of the round, pays each win
//!   `pool -> players`, and moves the GGR (stakes - wins) out of the pool to the partners: the
//!   provider's fee, the aggregator's share, the agent's commission and the operator's remainder
//!   (`split.rs`), each in the partner's settlement currency (through the `fx` accounts when it
//!   differs from the round's). When GGR is negative every leg runs the other way. The chain is
//!   all or nothing, so a round settles completely or not at all, and the pool returns to 0.
//! - A rollback closes the round by voiding every pending bet of it, in one chain.

use rust_decimal::Decimal;
use tally_client::{Currency, LinkedChain, PostAmount, Transfer};

use crate::chart::{fx_account, players_account, pool_account, transfer_code, Party};
use chrono::NaiveDate;

use crate::event::{day_of, GameEvent};
use crate::ids;
use crate::money::{pack_rate, MoneyError};
use crate::split::{split, SplitError};
use crate::terms::Terms;

/// Why a round's transfers cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The round names something the terms lack, or mixes operators or currencies.
    #[error("{0}")]
    Inconsistent(String),
    /// A money conversion failed.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// The split failed.
    #[error(transparent)]
    Split(#[from] SplitError),
    /// Stakes or wins overflow.
    #[error("amounts overflow")]
    Overflow,
}

/// What every transfer of one round shares.
#[derive(Clone, Debug)]
pub struct RoundContext<'t> {
    /// The terms.
    pub terms: &'t Terms,
    /// Provider name.
    pub provider: String,
    /// Provider id (`user_data_32`).
    pub provider_id: u32,
    /// Provider's round id.
    pub round_id: String,
    /// The operator of the round.
    pub operator: String,
    /// The round's currency.
    pub currency: Currency,
}

impl<'t> RoundContext<'t> {
    /// The context of a round from its events (all of one operator and currency).
    pub fn new(terms: &'t Terms, events: &[GameEvent]) -> Result<Self, PlanError> {
        let first = events
            .first()
            .ok_or_else(|| PlanError::Inconsistent("a round without events".into()))?;
        let bad = |m: String| Err(PlanError::Inconsistent(m));
        let Some(provider) = terms.provider(&first.provider) else {
            return bad(format!("unknown provider {}", first.provider));
        };
        if terms.operator(&first.operator).is_none() {
            return bad(format!("unknown operator {}", first.operator));
        }
        if let Some(e) = events
            .iter()
            .find(|e| e.operator != first.operator || e.currency != first.currency)
        {
            return bad(format!(
                "line {}: round mixes operators or currencies ({} {} vs {} {})",
                e.line, e.operator, e.currency, first.operator, first.currency
            ));
        }
        Ok(Self {
            terms,
            provider: provider.name.clone(),
            provider_id: provider.id,
            round_id: first.round_id.clone(),
            operator: first.operator.clone(),
            currency: terms.currencies().get(&first.currency)?.clone(),
        })
    }

    /// The round key (`user_data_128`).
    pub fn key(&self) -> u128 {
        ids::round_key(&self.provider, &self.round_id)
    }

    fn tag(&self, t: Transfer, time: i64) -> Transfer {
        // A rate record keeps the rates it carries in user_data_64.
        let data = if t.code == transfer_code::FX_RATE {
            t.user_data_64
        } else {
            time.max(0) as u64
        };
        t.with_user_data(self.key(), data, self.provider_id)
    }

    /// The round's business day, which picks its FX rates: the day of its earliest bet (`bets`
    /// as Tally holds them), or of `time` for a round without one.
    pub fn business_day(bets: &[Transfer], time: i64) -> NaiveDate {
        day_of(
            bets.iter()
                .map(|b| b.user_data_64 as i64)
                .min()
                .unwrap_or(time),
        )
    }

    fn leg(&self, name: &str) -> u128 {
        ids::leg_transfer(&self.provider, &self.round_id, name)
    }

    /// The pending transfer of a bet event.
    pub fn bet(&self, bet: &GameEvent) -> Transfer {
        let t = Transfer::new(
            ids::event_transfer(&self.provider, &self.round_id, "bet", &bet.event_id),
            players_account(&self.operator, &self.currency.code),
            pool_account(&self.provider, &self.currency.code),
            bet.amount,
            self.currency.ledger,
            transfer_code::BET,
        )
        .pending(self.terms.pending_timeout_secs);
        self.tag(t, bet.time)
    }

    /// The chain voiding every pending bet (a rollback).
    pub fn rollback(&self, pending: &[Transfer], time: i64) -> Vec<Transfer> {
        let voids = pending.iter().map(|b| {
            let t = Transfer::void(self.leg(&format!("void:{:032x}", b.id)), b.id);
            self.tag(
                Transfer {
                    code: transfer_code::BET,
                    ..t
                },
                time,
            )
        });
        LinkedChain::new().extend(voids).build()
    }

    /// The chain settling the round: posts, wins, and every partner's share.
    pub fn settle(
        &self,
        pending: &[Transfer],
        wins: &[GameEvent],
        time: i64,
    ) -> Result<Vec<Transfer>, PlanError> {
        let ccy = &self.currency;
        let (players, pool) = (
            players_account(&self.operator, &ccy.code),
            pool_account(&self.provider, &ccy.code),
        );
        let mut chain = LinkedChain::new();
        for b in pending {
            let t = Transfer::post(
                self.leg(&format!("post:{:032x}", b.id)),
                b.id,
                PostAmount::Full,
            );
            chain = chain.push(self.tag(
                Transfer {
                    code: transfer_code::BET,
                    ..t
                },
                time,
            ));
        }
        for w in wins.iter().filter(|w| w.amount > 0) {
            let id = ids::event_transfer(&self.provider, &self.round_id, "win", &w.event_id);
            let t = Transfer::new(id, pool, players, w.amount, ccy.ledger, transfer_code::WIN);
            chain = chain.push(self.tag(t, time));
        }
        let stake = checked_sum(pending.iter().map(|b| b.amount))?;
        let paid = checked_sum(wins.iter().map(|w| w.amount))?;
        let day = Self::business_day(pending, time);
        for t in self.all_share_legs(stake, paid, "", false, day)? {
            chain = chain.push(self.tag(t, time));
        }
        Ok(chain.build())
    }

    /// Every partner's legs for a round with `stake` and `paid` wins: leg names start with
    /// `prefix` (`""` for a settlement, `correction:<n>:` for a correction), codes are the
    /// adjustment codes when `adjust`. Rates are those of the business `day`.
    pub fn all_share_legs(
        &self,
        stake: u128,
        paid: u128,
        prefix: &str,
        adjust: bool,
        day: NaiveDate,
    ) -> Result<Vec<Transfer>, PlanError> {
        let (ggr, reversed) = match stake.checked_sub(paid) {
            Some(g) => (g, false),
            None => (paid - stake, true),
        };
        let mut legs = Vec::new();
        for (party, amount) in self.shares(stake, ggr, day)? {
            legs.extend(self.share_legs(&party, amount, reversed, prefix, adjust, day)?);
        }
        Ok(legs)
    }

    /// Stamps a transfer with the round's user data.
    pub fn tagged(&self, t: Transfer, time: i64) -> Transfer {
        self.tag(t, time)
    }

    /// The id of a leg the kit adds to this round.
    pub fn leg_id(&self, name: &str) -> u128 {
        self.leg(name)
    }

    /// Each partner's share of `ggr` (round currency), operator last as the remainder; tiers
    /// by the stake in the base currency at the rate of the business `day`.
    pub fn shares(
        &self,
        stake: u128,
        ggr: u128,
        day: NaiveDate,
    ) -> Result<Vec<(Party, u128)>, PlanError> {
        let terms = self.terms;
        let stake_base = terms
            .currencies()
            .to_base_on(&self.currency.code, stake, day)?;
        let provider = terms.provider(&self.provider).expect("checked in new");
        let operator = terms.operator(&self.operator).expect("checked in new");
        let agent = operator.agent.as_deref().and_then(|a| terms.agent(a));
        let mut parties = vec![
            (
                Party::Provider(provider.name.clone()),
                provider.fee.percent_for(stake_base),
            ),
            (
                Party::Aggregator,
                terms.aggregator_share(operator).percent_for(stake_base),
            ),
        ];
        if let Some(a) = agent {
            parties.push((
                Party::Agent(a.name.clone()),
                a.commission.percent_for(stake_base),
            ));
        }
        let percents: Vec<Decimal> = parties.iter().map(|(_, p)| *p).collect();
        let amounts = split(ggr, &percents)?;
        parties.push((Party::Operator(operator.name.clone()), Decimal::ZERO));
        Ok(parties.into_iter().map(|(p, _)| p).zip(amounts).collect())
    }

    /// The legs moving `amount` (round currency) from the pool to `party` (or back).
    fn share_legs(
        &self,
        party: &Party,
        amount: u128,
        reversed: bool,
        prefix: &str,
        adjust: bool,
        day: NaiveDate,
    ) -> Result<Vec<Transfer>, PlanError> {
        let code = |c: u16| {
            if adjust {
                transfer_code::adjusted(c)
            } else {
                c
            }
        };
        let round_ccy = &self.currency;
        let target = party
            .settlement_currency(self.terms)
            .ok_or_else(|| PlanError::Inconsistent(format!("unknown partner {party}")))?;
        let pool = pool_account(&self.provider, &round_ccy.code);
        let orient = |from, to| if reversed { (to, from) } else { (from, to) };
        let leg_name = |kind: &str| format!("{prefix}{kind}:{party}");
        if amount == 0 {
            return Ok(vec![]);
        }
        if target == round_ccy.code {
            let (dr, cr) = orient(pool, party.account(target));
            let id = self.leg(&leg_name("share"));
            return Ok(vec![Transfer::new(
                id,
                dr,
                cr,
                amount,
                round_ccy.ledger,
                code(transfer_code::SHARE),
            )]);
        }
        let currencies = self.terms.currencies();
        let (converted, (rate_from, rate_to)) =
            currencies.convert_on(amount, &round_ccy.code, target, day)?;
        let target_ccy = currencies.get(target)?;
        let (dr, cr) = orient(pool, fx_account(&round_ccy.code));
        let out = Transfer::new(
            self.leg(&leg_name("fx-out")),
            dr,
            cr,
            amount,
            round_ccy.ledger,
            code(transfer_code::FX_OUT),
        );
        let mut legs = vec![out];
        if converted > 0 {
            let (dr, cr) = orient(fx_account(target), party.account(target));
            let id = self.leg(&leg_name("fx-in"));
            legs.push(Transfer::new(
                id,
                dr,
                cr,
                converted,
                target_ccy.ledger,
                code(transfer_code::FX_IN),
            ));
        }
        if currencies.is_dated(&round_ccy.code) || currencies.is_dated(target) {
            // The rates used, recorded next to the leg (see `chart.rs`, FX_RATE).
            let packed = |r: Decimal| {
                pack_rate(r.normalize()).ok_or_else(|| {
                    PlanError::Inconsistent(format!("rate {r} cannot be recorded on a leg"))
                })
            };
            let data = u64::from(packed(rate_from)?) << 32 | u64::from(packed(rate_to)?);
            let mut record = Transfer::new(
                self.leg(&leg_name("fx-rate")),
                fx_account(target),
                party.account(target),
                0,
                target_ccy.ledger,
                transfer_code::FX_RATE,
            );
            record.user_data_64 = data;
            legs.push(record);
        }
        Ok(legs)
    }
}

fn checked_sum(mut amounts: impl Iterator<Item = u128>) -> Result<u128, PlanError> {
    amounts.try_fold(0u128, |acc, a| {
        acc.checked_add(a).ok_or(PlanError::Overflow)
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tally_client::TransferFlags;

    use super::*;
    use crate::event::EventKind;

    fn event(kind: EventKind, id: &str, op: &str, ccy: &str, amount: u128) -> GameEvent {
        GameEvent {
            provider: "beta".into(),
            event_id: id.into(),
            round_id: "R".into(),
            kind,
            player: "p".into(),
            operator: op.into(),
            currency: ccy.into(),
            amount,
            time: 1_795_140_000,
            line: 1,
            bet_ref: None,
        }
    }

    /// Net posted effect of a chain on each account (posts count with their bet's amount).
    fn effect(chain: &[Transfer], bets: &[Transfer]) -> BTreeMap<u128, i128> {
        let mut net = BTreeMap::new();
        for t in chain {
            let (dr, cr, amount) = match bets.iter().find(|b| b.id == t.pending_id) {
                Some(b) if t.flags.contains(TransferFlags::POST_PENDING_TRANSFER) => {
                    (b.debit_account_id, b.credit_account_id, b.amount)
                }
                _ => (t.debit_account_id, t.credit_account_id, t.amount),
            };
            *net.entry(dr).or_default() -= amount as i128;
            *net.entry(cr).or_default() += amount as i128;
        }
        net
    }

    #[test]
    fn a_settlement_chain_empties_the_pool_and_links_every_leg() {
        let terms = Terms::parse(include_str!("../samples/terms.toml")).unwrap();
        for (op, stake, win) in [
            ("royal", 6_000, 1_001),
            ("lucky", 1_000, 9_999),
            ("pacific", 0, 0),
        ] {
            let events = [event(EventKind::Bet, "b", op, "EUR", stake)];
            let ctx = RoundContext::new(&terms, &events).unwrap();
            let bets = [ctx.bet(&events[0])];
            assert_eq!(bets[0].flags, TransferFlags::PENDING);
            let chain = ctx
                .settle(&bets, &[event(EventKind::Win, "w", op, "EUR", win)], 5)
                .unwrap();
            let last = chain.len() - 1;
            for (i, t) in chain.iter().enumerate() {
                assert_eq!(t.flags.contains(TransferFlags::LINKED), i < last);
                assert_eq!(
                    (t.user_data_128, t.user_data_64, t.user_data_32),
                    (ctx.key(), 5, 2)
                );
            }
            let net = effect(&chain, &bets);
            assert_eq!(
                net.get(&pool_account("beta", "EUR")).copied().unwrap_or(0),
                0,
                "{op}"
            );
            let players = players_account(op, "EUR");
            assert_eq!(
                net.get(&players).copied().unwrap_or(0),
                win as i128 - stake as i128
            );
            // Shares sum to the GGR in the round's currency.
            let day = crate::event::day_of(5);
            let shares = ctx.shares(stake, stake.abs_diff(win), day).unwrap();
            assert_eq!(
                shares.iter().map(|(_, a)| a).sum::<u128>(),
                stake.abs_diff(win)
            );
            assert_eq!(shares.last().unwrap().0, Party::Operator(op.into()));
        }
    }

    #[test]
    fn a_round_mixing_operators_or_currencies_is_refused() {
        let terms = Terms::parse(include_str!("../samples/terms.toml")).unwrap();
        let mixed = [
            event(EventKind::Bet, "b1", "royal", "EUR", 1),
            event(EventKind::Win, "w1", "royal", "USD", 1),
        ];
        assert!(RoundContext::new(&terms, &mixed)
            .unwrap_err()
            .to_string()
            .contains("mixes"));
        let unknown = [event(EventKind::Bet, "b1", "nobody", "EUR", 1)];
        assert!(RoundContext::new(&terms, &unknown).is_err());
        let ctx = RoundContext::new(&terms, &mixed[..1]).unwrap();
        let voids = ctx.rollback(&[ctx.bet(&mixed[0])], 9);
        assert_eq!(voids.len(), 1);
        assert_eq!(voids[0].flags, TransferFlags::VOID_PENDING_TRANSFER);
    }
}
