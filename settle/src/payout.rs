//! Payouts: a partner's settled balance for a period (the net of its share legs whose provider
//! time falls on the days `from..=to`, as on its statement) moved from its share account to its
//! payout account, exactly once however often it is run.
//!
//! The payout is one transfer, code [`transfer_code::PAYOUT`], share account -> payout account
//! (`ids::account("payout", "<partner>", currency)`, code [`account_code::PAYOUT`]), with id
//! `derive("payout", [partner, from, to])`, `user_data_128` = the period (`from << 32 | to`, days
//! since 0001-01-01), `user_data_64` = the booking time (the start of the `--on` day, so it shows
//! on the statement of that day) and `user_data_32` = 0. Running it again finds the id and posts
//! nothing; a period that overlaps another payout of the partner is refused, since a leg would
//! otherwise be paid twice.

use chrono::{Datelike, NaiveDate};
use tally_client::{Account, AccountFilter, Client, CreateTransferResult, Transfer};

use crate::chart::{account_code, transfer_code, Party};
use crate::error::{Error, Result};
use crate::event::day_start;
use crate::ids;
use crate::query;
use crate::terms::Terms;

/// What a payout run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The period's net was moved now.
    Paid,
    /// The period was paid before (`amount`); nothing posted.
    AlreadyPaid {
        /// What that payout moved.
        amount: u128,
    },
    /// The period's net is zero or negative (the partner owes); nothing posted.
    NothingToPay,
}

/// A payout of one partner for one period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payout {
    /// The partner.
    pub party: Party,
    /// Its settlement currency.
    pub currency: String,
    /// First day of the period.
    pub from: NaiveDate,
    /// Last day, inclusive.
    pub to: NaiveDate,
    /// The period's net now (minor units, credits minus debits, payouts excluded).
    pub net: i128,
    /// The payout transfer's id.
    pub id: u128,
    /// What happened.
    pub outcome: Outcome,
}

/// The payout transfer id of `party` for `from..=to`.
pub fn payout_id(party: &Party, from: NaiveDate, to: NaiveDate) -> u128 {
    ids::derive(
        "payout",
        &[&party.to_string(), &from.to_string(), &to.to_string()],
    )
}

/// The payout account of `party` in `currency`.
pub fn payout_account(party: &Party, currency: &str) -> u128 {
    ids::account("payout", &party.to_string(), currency)
}

/// The period in `user_data_128` of a payout.
pub fn encode_period(from: NaiveDate, to: NaiveDate) -> u128 {
    let days = |d: NaiveDate| u128::from(d.num_days_from_ce().max(0) as u32);
    days(from) << 32 | days(to)
}

/// The period [`encode_period`] wrote.
pub fn decode_period(data: u128) -> Option<(NaiveDate, NaiveDate)> {
    let day = |d: u128| NaiveDate::from_num_days_from_ce_opt(i32::try_from(d).ok()?);
    Some((day(data >> 32 & 0xffff_ffff)?, day(data & 0xffff_ffff)?))
}

/// Pays out `party`'s net for `from..=to`, booked at the start of day `on`.
pub async fn payout(
    client: &Client,
    terms: &Terms,
    party: &Party,
    from: NaiveDate,
    to: NaiveDate,
    on: NaiveDate,
) -> Result<Payout> {
    let currency = crate::statement::period_currency(terms, party, from, to)?;
    let ledger = terms.currencies().get(&currency)?.ledger;
    let share = party.account(&currency);
    let target = payout_account(party, &currency);
    let account = Account::new(target, ledger, account_code::PAYOUT).with_user_data(
        party.key(),
        0,
        u32::from(account_code::PAYOUT),
    );
    if let Some(r) = client
        .create_accounts(&[account])
        .await?
        .into_iter()
        .find(|r| !r.is_applied())
    {
        return Err(Error::AccountRefused {
            id: target,
            code: account_code::PAYOUT,
            result: r,
        });
    }
    let (start, end) = (day_start(from), day_start(to) + 86_400);
    let mut net: i128 = 0;
    for t in query::account_transfers(client, AccountFilter::new(share)).await? {
        let time = t.user_data_64 as i64;
        if t.code == transfer_code::PAYOUT || t.code == transfer_code::FX_RATE {
            continue;
        }
        if (start..end).contains(&time) {
            let amount = i128::try_from(t.amount).unwrap_or(i128::MAX);
            net += if t.credit_account_id == share {
                amount
            } else {
                -amount
            };
        }
    }
    let id = payout_id(party, from, to);
    let mut payout = Payout {
        party: party.clone(),
        currency,
        from,
        to,
        net,
        id,
        outcome: Outcome::Paid,
    };
    if let Some(t) = client.lookup_transfers(&[id]).await?.first() {
        payout.outcome = Outcome::AlreadyPaid { amount: t.amount };
        return Ok(payout);
    }
    for t in query::account_transfers(client, AccountFilter::new(target)).await? {
        let Some((f, l)) = decode_period(t.user_data_128) else {
            continue;
        };
        if t.code == transfer_code::PAYOUT && f <= to && from <= l {
            return Err(Error::Refused(format!(
                "the period {from} to {to} overlaps the payout of {party} for {f} to {l}; \
                 nothing paid (pay periods that do not overlap)"
            )));
        }
    }
    if net <= 0 {
        payout.outcome = Outcome::NothingToPay;
        return Ok(payout);
    }
    let transfer = Transfer::new(
        id,
        share,
        target,
        net.unsigned_abs(),
        ledger,
        transfer_code::PAYOUT,
    )
    .with_user_data(encode_period(from, to), day_start(on).max(0) as u64, 0);
    match client.create_transfers(&[transfer]).await?.first() {
        Some(r) if r.is_ok() => Ok(payout),
        // A concurrent run of the same period won.
        Some(CreateTransferResult::Exists) => {
            payout.outcome = Outcome::AlreadyPaid {
                amount: net.unsigned_abs(),
            };
            Ok(payout)
        }
        Some(r) => Err(Error::Refused(format!(
            "payout of {party} for {from} to {to} refused by Tally: {r}"
        ))),
        None => Err(Error::Refused("Tally answered no result".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_round_trip_and_ids_differ_per_period_and_partner() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let (from, to) = (d("2026-11-20"), d("2026-11-21"));
        assert_eq!(decode_period(encode_period(from, to)), Some((from, to)));
        let royal = Party::Operator("royal".into());
        assert_eq!(payout_id(&royal, from, to), payout_id(&royal, from, to));
        assert_ne!(payout_id(&royal, from, to), payout_id(&royal, from, from));
        assert_ne!(
            payout_id(&royal, from, to),
            payout_id(&Party::Agent("royal".into()), from, to)
        );
    }
}
