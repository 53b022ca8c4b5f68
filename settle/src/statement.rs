//! A partner's settlement statement for a period, read from Tally: its share account's
//! transfers (`get_account_transfers`), the period chosen by the provider event time each
//! transfer carries in `user_data_64`, and the balance from `lookup_accounts`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::NaiveDate;
use tally_client::{AccountFilter, Client};

use crate::chart::{transfer_code, Party};
use crate::error::{Error, Result};
use crate::event::{day_of, day_start, GameEvent};
use crate::ids;
use crate::query;
use crate::terms::Terms;

/// One transfer on the statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Provider day of the transfer.
    pub day: NaiveDate,
    /// The provider's name.
    pub provider: String,
    /// Round key (hex).
    pub round_key: u128,
    /// Transfer id.
    pub transfer_id: u128,
    /// `share` (same currency), `fx` (converted), `adjustment` (a leg of a correction) or
    /// `payout` (the partner's net for a period moved to its payout account).
    pub kind: &'static str,
    /// Signed amount in minor units: positive credits the partner.
    pub amount: i128,
    /// The provider's round id, when the round is named (see [`RoundNames`]).
    pub round_id: Option<String>,
    /// For an adjustment of a named round: `correction #<n>` and, for the leg undoing the
    /// earlier position, ` reversal`. A leg converted at dated rates adds the rates it used
    /// (`rates 1.1 -> 1 USD`: the round currency's and the partner currency's rate, in the base
    /// currency), read from its `FX_RATE` record.
    pub note: String,
}

/// Provider round ids by round key, to name rounds on statements (Tally stores only the key).
pub type RoundNames = BTreeMap<u128, (String, String)>;

/// The names of the rounds of `events` (feeds or correction files).
pub fn round_names(events: &[GameEvent]) -> RoundNames {
    events
        .iter()
        .map(|e| {
            (
                ids::round_key(&e.provider, &e.round_id),
                (e.provider.clone(), e.round_id.clone()),
            )
        })
        .collect()
}

/// Which correction of round `round_id` (up to 1,000) the adjustment leg `id` of `party` is.
fn correction_note(provider: &str, round_id: &str, party: &Party, id: u128) -> String {
    for n in 1..=1_000u32 {
        for kind in ["share", "fx-in"] {
            let leg = |name: String| ids::leg_transfer(provider, round_id, &name);
            if leg(format!("correction:{n}:{kind}:{party}")) == id {
                return format!("correction #{n}");
            }
            if leg(format!("correction:{n}:reverse:{kind}:{party}")) == id {
                return format!("correction #{n} reversal");
            }
        }
    }
    String::new()
}

/// A partner's statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// The partner.
    pub party: Party,
    /// Its settlement currency.
    pub currency: String,
    /// First day of the period.
    pub from: NaiveDate,
    /// Last day of the period (inclusive).
    pub to: NaiveDate,
    /// Balance before `from` (minor units; credits minus debits).
    pub opening: i128,
    /// The period's transfers.
    pub lines: Vec<Line>,
    /// Sum of the period's credits.
    pub credits: u128,
    /// Sum of the period's debits.
    pub debits: u128,
    /// `opening + credits - debits`.
    pub closing: i128,
    /// The account's posted balance now (all periods), from `lookup_accounts`.
    pub balance: i128,
}

/// The statement of `party` for the days `from..=to` (rounds shown by key).
pub async fn statement(
    client: &Client,
    terms: &Terms,
    party: &Party,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Statement> {
    statement_named(client, terms, party, from, to, &RoundNames::new()).await
}

/// Checks that `from..=to` is a period, and returns `party`'s settlement currency.
pub(crate) fn period_currency(
    terms: &Terms,
    party: &Party,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<String> {
    if from > to {
        return Err(Error::BadPeriod { from, to });
    }
    Ok(party
        .settlement_currency(terms)
        .ok_or_else(|| Error::Unknown(format!("unknown partner {party}")))?
        .to_string())
}

/// The statement of `party` for the days `from..=to`, naming the rounds `names` knows.
pub async fn statement_named(
    client: &Client,
    terms: &Terms,
    party: &Party,
    from: NaiveDate,
    to: NaiveDate,
    names: &RoundNames,
) -> Result<Statement> {
    let currency = period_currency(terms, party, from, to)?;
    let account_id = party.account(&currency);
    let accounts = client.lookup_accounts(&[account_id]).await?;
    let account = accounts
        .first()
        .ok_or_else(|| Error::Unknown(format!("{party} has no account yet: run ingest")))?;
    let balance = signed(account.credits_posted) - signed(account.debits_posted);
    let (start, end) = (day_start(from), day_start(to) + 86_400);
    let mut s = Statement {
        party: party.clone(),
        currency,
        from,
        to,
        opening: 0,
        lines: vec![],
        credits: 0,
        debits: 0,
        closing: 0,
        balance,
    };
    let mut previous: Option<(u128, bool)> = None;
    for t in query::account_transfers(client, AccountFilter::new(account_id)).await? {
        if t.code == transfer_code::FX_RATE {
            // The rates of the converted leg just before it (the same chain).
            if let (Some((key, true)), Some(line)) = (previous, s.lines.last_mut()) {
                if key == t.user_data_128 {
                    line.note = rate_note(&line.note, t.user_data_64, &terms.base_currency);
                }
            }
            continue;
        }
        previous = Some((t.user_data_128, false));
        let payout = t.code == transfer_code::PAYOUT;
        let credit = t.credit_account_id == account_id;
        let amount = if credit {
            signed(t.amount)
        } else {
            -signed(t.amount)
        };
        let time = t.user_data_64 as i64;
        if time < start {
            s.opening += amount;
        } else if time < end {
            if credit {
                s.credits += t.amount;
            } else {
                s.debits += t.amount;
            }
            let provider = terms
                .providers
                .iter()
                .find(|p| p.id == t.user_data_32 && !payout);
            let adjustment =
                t.code == transfer_code::SHARE_ADJ || t.code == transfer_code::FX_IN_ADJ;
            let name = names.get(&t.user_data_128);
            let note = match name {
                _ if payout => payout_note(t.user_data_128),
                Some((provider, round)) if adjustment => {
                    correction_note(provider, round, party, t.id)
                }
                _ => String::new(),
            };
            s.lines.push(Line {
                day: day_of(time),
                provider: match provider {
                    Some(p) => p.name.clone(),
                    None if payout => String::new(),
                    None => "?".into(),
                },
                round_key: if payout { 0 } else { t.user_data_128 },
                transfer_id: t.id,
                kind: match t.code {
                    _ if payout => "payout",
                    _ if adjustment => "adjustment",
                    transfer_code::FX_IN => "fx",
                    _ => "share",
                },
                amount,
                round_id: name.map(|(_, r)| r.clone()),
                note,
            });
            previous = Some((t.user_data_128, true));
        }
    }
    s.closing = s.opening + signed(s.credits) - signed(s.debits);
    Ok(s)
}

/// `note` with the rates a converted leg used (`FX_RATE` record): `rates 1.1 -> 1 USD`, the
/// round currency's rate and the partner currency's, each in units of the base currency.
fn rate_note(note: &str, packed: u64, base: &str) -> String {
    let rate = |bits: u64| crate::money::unpack_rate(bits as u32);
    let rates = format!(
        "rates {} -> {} {base}",
        rate(packed >> 32),
        rate(packed & 0xffff_ffff)
    );
    if note.is_empty() {
        rates
    } else {
        format!("{note} {rates}")
    }
}

/// `for 2026-11-20 to 2026-11-21`, the period of a payout's `user_data_128`.
fn payout_note(period: u128) -> String {
    match crate::payout::decode_period(period) {
        Some((from, to)) => format!("for {from} to {to}"),
        None => String::new(),
    }
}

fn signed(v: u128) -> i128 {
    i128::try_from(v).expect("ledger amounts stay below 2^127")
}

/// `minor` units of `currency` for display (`-12.34`).
pub fn show(terms: &Terms, currency: &str, minor: i128) -> String {
    let scale = terms
        .currencies()
        .get(currency)
        .map_or(0, |c| c.scale.places());
    rust_decimal::Decimal::try_from_i128_with_scale(minor, scale)
        .map_or_else(|_| format!("{minor} (minor units)"), |d| d.to_string())
}

fn round_name(l: &Line) -> String {
    match &l.round_id {
        Some(id) => format!("round {id}"),
        None => format!("round key {:032x}", l.round_key),
    }
}

impl Statement {
    /// A human-readable statement.
    pub fn to_text(&self, terms: &Terms) -> String {
        let m = |v: i128| show(terms, &self.currency, v);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Statement for {} ({}), {} to {}",
            self.party, self.currency, self.from, self.to
        );
        let _ = writeln!(out, "  opening balance   {:>16}", m(self.opening));
        let mut by_provider = std::collections::BTreeMap::<&str, (usize, i128)>::new();
        for l in self
            .lines
            .iter()
            .filter(|l| l.kind == "share" || l.kind == "fx")
        {
            let e = by_provider.entry(&l.provider).or_default();
            e.0 += 1;
            e.1 += l.amount;
        }
        for (provider, (n, sum)) in by_provider {
            let _ = writeln!(out, "  {provider:<10} {n:>4} legs {:>16}", m(sum));
        }
        // Converted legs at dated rates, each with the rates it used.
        for l in self
            .lines
            .iter()
            .filter(|l| l.kind == "fx" && !l.note.is_empty())
        {
            let what = format!("{} {} {}", l.provider, round_name(l), l.note);
            let _ = writeln!(out, "  fx {} {what:<38} {:>16}", l.day, m(l.amount));
        }
        for l in self.lines.iter().filter(|l| l.kind == "adjustment") {
            let what = format!("{} {} {}", l.provider, round_name(l), l.note);
            let _ = writeln!(out, "  adjustment {} {what:<30} {:>16}", l.day, m(l.amount));
        }
        for l in self.lines.iter().filter(|l| l.kind == "payout") {
            let _ = writeln!(out, "  payout {} {:<28} {:>16}", l.day, l.note, m(l.amount));
        }
        let _ = writeln!(out, "  credits           {:>16}", m(signed(self.credits)));
        let _ = writeln!(out, "  debits            {:>16}", m(-signed(self.debits)));
        let _ = writeln!(out, "  closing balance   {:>16}", m(self.closing));
        let _ = writeln!(out, "  balance in Tally  {:>16}", m(self.balance));
        out
    }

    /// One CSV row per line:
    /// `partner,currency,day,provider,round_key,transfer_id,kind,amount,round,note`.
    pub fn to_csv(&self, terms: &Terms, header: bool) -> Result<String, csv::Error> {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(vec![]);
        if header {
            w.write_record([
                "partner",
                "currency",
                "day",
                "provider",
                "round_key",
                "transfer_id",
                "kind",
                "amount",
                "round",
                "note",
            ])?;
        }
        for l in &self.lines {
            w.write_record([
                self.party.to_string(),
                self.currency.clone(),
                l.day.to_string(),
                l.provider.clone(),
                format!("{:032x}", l.round_key),
                format!("{:032x}", l.transfer_id),
                l.kind.to_string(),
                show(terms, &self.currency, l.amount),
                l.round_id.clone().unwrap_or_default(),
                l.note.clone(),
            ])?;
        }
        let bytes = w.into_inner().map_err(|e| e.into_error())?;
        Ok(String::from_utf8(bytes).expect("CSV of UTF-8 fields"))
    }
}
