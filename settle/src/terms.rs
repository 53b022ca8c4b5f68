//! Per-partner terms from TOML: currencies and FX rates, providers (feed format, fee),
//! the aggregator (its share), operators (their agent, optional share override) and agents
//! (commission). See `samples/terms.toml` for a commented example.
//!
//! Every share is a percentage of a round's gross gaming revenue (GGR = stakes - wins), flat
//! (`fee = "12"`) or tiered by the round's stake in the base currency
//! (`fee = { tiers = [{ from = "0", percent = "12" }, { from = "100", percent = "10" }] }`: the
//! last tier whose `from` is at most the stake applies). The operator's revenue share is what is
//! left: `100 - provider fee - aggregator share - agent commission`, checked at load to be
//! non-negative for every provider and operator at every tier boundary. Percentages are strings
//! so they stay exact decimals.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;
use tally_client::Currency;

use crate::format::{FeedFormat, FormatError};
use crate::money::{CurrencyTable, DatedRate};

/// Why a terms file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TermsError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML does not parse, lacks a field or has an unknown one (every table refuses keys
    /// it does not know, so a typo never silently drops a term).
    #[error("bad terms TOML in {table}: {error}")]
    Toml {
        /// The table the error is in (`[[operators]]`, `top level`, ...).
        table: String,
        /// The parser's error, with the line and the offending key.
        error: toml::de::Error,
    },
    /// The terms parse but are inconsistent.
    #[error("invalid terms: {0}")]
    Invalid(String),
    /// A provider's feed format is unknown or its format file is refused.
    #[error("provider {provider}: {error}")]
    Format {
        /// The provider.
        provider: String,
        /// Why its format was refused.
        error: Box<FormatError>,
    },
}

/// A percentage of GGR, flat or tiered by stake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rate {
    /// The same percentage for every round.
    Flat(Decimal),
    /// Percentages by the round's stake in the base currency.
    Tiered {
        /// Ordered by `from`, the first `from` is 0.
        tiers: Vec<Tier>,
    },
}

/// The tiered form of a [`Rate`], refusing unknown keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Tiers {
    tiers: Vec<Tier>,
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Rate;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a percentage string (\"12.5\") or { tiers = [...] }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Rate, E> {
                v.parse()
                    .map(Rate::Flat)
                    .map_err(|e| E::custom(format!("bad percentage {v:?}: {e}")))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Rate, A::Error> {
                let t = Tiers::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Rate::Tiered { tiers: t.tiers })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// One tier of a [`Rate`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Lowest stake (base currency, major units) this tier applies to.
    #[serde(with = "rust_decimal::serde::str")]
    pub from: Decimal,
    /// Percentage of GGR.
    #[serde(with = "rust_decimal::serde::str")]
    pub percent: Decimal,
}

impl Rate {
    /// The percentage for a round with `stake` (base currency, major units).
    pub fn percent_for(&self, stake: Decimal) -> Decimal {
        match self {
            Rate::Flat(p) => *p,
            Rate::Tiered { tiers } => tiers
                .iter()
                .rev()
                .find(|t| t.from <= stake)
                .map_or(Decimal::ZERO, |t| t.percent),
        }
    }

    fn breakpoints(&self) -> Vec<Decimal> {
        match self {
            Rate::Flat(_) => vec![],
            Rate::Tiered { tiers } => tiers.iter().map(|t| t.from).collect(),
        }
    }

    fn validate(&self, what: &str) -> Result<(), TermsError> {
        let percents: Vec<Decimal> = match self {
            Rate::Flat(p) => vec![*p],
            Rate::Tiered { tiers } => {
                if tiers.first().map(|t| t.from) != Some(Decimal::ZERO) {
                    return invalid(format!("{what}: the first tier must start at \"0\""));
                }
                if tiers.windows(2).any(|w| w[0].from >= w[1].from) {
                    return invalid(format!("{what}: tiers must increase strictly in `from`"));
                }
                tiers.iter().map(|t| t.percent).collect()
            }
        };
        match percents
            .iter()
            .find(|p| p.is_sign_negative() || **p > Decimal::ONE_HUNDRED)
        {
            Some(p) => invalid(format!("{what}: {p}% is outside 0..=100")),
            None => Ok(()),
        }
    }
}

/// A currency: its Tally ledger, scale, and FX rate to the base currency.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurrencyTerms {
    /// ISO code, e.g. `"KRW"`.
    pub code: String,
    /// Tally ledger number.
    pub ledger: u32,
    /// Fractional digits of the minor unit.
    pub scale: u32,
    /// Value of one unit in the base currency, on every day. Exactly one of `fx_rate` and
    /// `rates` is given.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub fx_rate: Option<Decimal>,
    /// Dated rates: each valid on the days `from..=to` (inclusive, UTC business days, not
    /// overlapping). A round on a day no period covers is held with the reason.
    pub rates: Option<Vec<RateTerms>>,
    /// The largest single bet or win accepted, in major units (a string, e.g. `"50000"`);
    /// [`DEFAULT_MAX_AMOUNT`] if absent. A feed line above it is rejected.
    pub max_amount: Option<String>,
}

/// One dated FX rate of a currency.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateTerms {
    /// First day (`"2026-11-01"`).
    pub from: NaiveDate,
    /// Last day, inclusive.
    pub to: NaiveDate,
    /// Value of one unit in the base currency; at most 8 significant digits (it is recorded
    /// on every converted leg, see `round.rs`).
    #[serde(with = "rust_decimal::serde::str")]
    pub rate: Decimal,
}

/// The largest single amount a currency accepts when its terms set no `max_amount`: one
/// billion major units.
pub const DEFAULT_MAX_AMOUNT: &str = "1000000000";

/// The aggregator (the back office running the kit).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregatorTerms {
    /// Its name.
    pub name: String,
    /// The currency its share is credited in.
    pub settlement_currency: String,
    /// Its share of GGR, unless an operator overrides it.
    pub share: Rate,
}

/// A game provider.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderTerms {
    /// Its name; feeds name it on the command line.
    pub name: String,
    /// A small non-zero number, stored in `user_data_32` of its transfers.
    pub id: u32,
    /// Its feed format as the terms name it: a shipped format (`webhook-json`, `batch-csv`,
    /// `wallet-json`) or a format file ending in `.toml`, relative to the terms file.
    #[serde(rename = "format")]
    pub format_ref: String,
    /// The format `format_ref` names, read when the terms load.
    #[serde(skip)]
    pub format: FeedFormat,
    /// The currency its fee is credited in.
    pub settlement_currency: String,
    /// Its fee as a share of GGR.
    pub fee: Rate,
}

/// An operator (casino brand).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorTerms {
    /// Its name, as the feeds name it.
    pub name: String,
    /// The currency its revenue share is credited in.
    pub settlement_currency: String,
    /// The agent who brought it, if any.
    pub agent: Option<String>,
    /// The aggregator's share for this operator, overriding `aggregator.share`.
    pub aggregator_share: Option<Rate>,
}

/// An agent (affiliate) paid a commission on its operators' GGR.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentTerms {
    /// Its name.
    pub name: String,
    /// The currency its commission is credited in.
    pub settlement_currency: String,
    /// Its commission as a share of GGR.
    pub commission: Rate,
}

/// The whole terms file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Terms {
    /// The currency FX rates and tiers are quoted in; its rate must be 1.
    pub base_currency: String,
    /// How long an open round's bets stay reserved before Tally voids them.
    pub pending_timeout_secs: u32,
    /// Currencies.
    pub currencies: Vec<CurrencyTerms>,
    /// The aggregator.
    pub aggregator: AggregatorTerms,
    /// Providers.
    pub providers: Vec<ProviderTerms>,
    /// Operators.
    pub operators: Vec<OperatorTerms>,
    /// Agents.
    #[serde(default)]
    pub agents: Vec<AgentTerms>,
    #[serde(skip)]
    table: CurrencyTable,
}

/// The header of the table that `offset` of `text` lies in (`[[operators]]`), or `top level`.
fn table_at(text: &str, offset: usize) -> String {
    text.get(..offset)
        .unwrap_or(text)
        .lines()
        .map(str::trim)
        .rfind(|l| l.starts_with('['))
        .map_or_else(
            || "top level".to_string(),
            |h| h.split('#').next().unwrap_or(h).trim().to_string(),
        )
}

/// A currency's dated rates, checked: positive, recordable, periods forward and not overlapping.
fn dated_rates(code: &str, rates: &[RateTerms]) -> Result<Vec<DatedRate>, TermsError> {
    if rates.is_empty() {
        return invalid(format!("currency {code}: rates is empty"));
    }
    let mut periods: Vec<DatedRate> = Vec::with_capacity(rates.len());
    for r in rates {
        if r.from > r.to {
            return invalid(format!(
                "currency {code}: rate period {} to {} runs backward",
                r.from, r.to
            ));
        }
        if r.rate <= Decimal::ZERO || crate::money::pack_rate(r.rate.normalize()).is_none() {
            return invalid(format!(
                "currency {code}: rate {} must be positive with at most 8 significant digits \
                 and 28 decimals",
                r.rate
            ));
        }
        if let Some(o) = periods.iter().find(|p| p.from <= r.to && r.from <= p.to) {
            return invalid(format!(
                "currency {code}: rate periods {} to {} and {} to {} overlap",
                o.from, o.to, r.from, r.to
            ));
        }
        periods.push(DatedRate {
            from: r.from,
            to: r.to,
            rate: r.rate.normalize(),
        });
    }
    periods.sort_by_key(|p| p.from);
    Ok(periods)
}

fn invalid<T>(message: String) -> Result<T, TermsError> {
    Err(TermsError::Invalid(message))
}

impl Terms {
    /// Reads and validates a terms file.
    pub fn load(path: &Path) -> Result<Self, TermsError> {
        let text = std::fs::read_to_string(path).map_err(|source| TermsError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse_in(&text, path.parent().unwrap_or(Path::new(".")))
    }

    /// Parses and validates terms; format files are found relative to the current directory.
    pub fn parse(text: &str) -> Result<Self, TermsError> {
        Self::parse_in(text, Path::new("."))
    }

    /// Parses and validates terms; format files are found relative to `dir`.
    pub fn parse_in(text: &str, dir: &Path) -> Result<Self, TermsError> {
        let mut terms: Terms = toml::from_str(text).map_err(|error| TermsError::Toml {
            table: table_at(text, error.span().map_or(0, |s| s.start)),
            error,
        })?;
        terms.table = terms.currency_table()?;
        for p in &mut terms.providers {
            p.format =
                FeedFormat::resolve(&p.format_ref, dir).map_err(|source| TermsError::Format {
                    provider: p.name.clone(),
                    error: Box::new(source),
                })?;
        }
        terms.validate()?;
        Ok(terms)
    }

    /// The configured currencies with their FX rates.
    pub fn currencies(&self) -> &CurrencyTable {
        &self.table
    }

    /// The provider named `name`.
    pub fn provider(&self, name: &str) -> Option<&ProviderTerms> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// The operator named `name`.
    pub fn operator(&self, name: &str) -> Option<&OperatorTerms> {
        self.operators.iter().find(|o| o.name == name)
    }

    /// The agent named `name`.
    pub fn agent(&self, name: &str) -> Option<&AgentTerms> {
        self.agents.iter().find(|a| a.name == name)
    }

    /// The aggregator's share for rounds of `operator`.
    pub fn aggregator_share<'a>(&'a self, operator: &'a OperatorTerms) -> &'a Rate {
        operator
            .aggregator_share
            .as_ref()
            .unwrap_or(&self.aggregator.share)
    }

    fn currency_table(&self) -> Result<CurrencyTable, TermsError> {
        let mut table = CurrencyTable::default();
        let mut ledgers = BTreeSet::new();
        for c in &self.currencies {
            let currency = Currency::new(c.code.to_ascii_uppercase(), c.ledger, c.scale)
                .map_err(|e| TermsError::Invalid(format!("currency {}: {e}", c.code)))?;
            if table.get(&c.code).is_ok() || !ledgers.insert(c.ledger) || c.ledger == 0 {
                return invalid(format!("currency {}: duplicate code or bad ledger", c.code));
            }
            match (c.fx_rate, &c.rates) {
                (Some(rate), None) if rate > Decimal::ZERO => table.insert(currency.clone(), rate),
                (Some(_), None) => {
                    return invalid(format!("currency {}: fx_rate must be positive", c.code))
                }
                (None, Some(rates)) => {
                    table.insert_dated(currency.clone(), dated_rates(&c.code, rates)?)
                }
                _ => {
                    return invalid(format!(
                        "currency {}: give either fx_rate (one rate for every day) or rates \
                         (dated), not both or neither",
                        c.code
                    ))
                }
            }
            let max = c.max_amount.as_deref().unwrap_or(DEFAULT_MAX_AMOUNT);
            let max = crate::money::parse_major(max, &currency)
                .map_err(|e| TermsError::Invalid(format!("currency {} max_amount: {e}", c.code)))?;
            table.set_max(&c.code.to_ascii_uppercase(), max);
        }
        let unrecordable = self.currencies.iter().find(|c| {
            c.fx_rate
                .is_some_and(|r| crate::money::pack_rate(r.normalize()).is_none())
        });
        if let Some(c) = unrecordable.filter(|_| self.currencies.iter().any(|c| c.rates.is_some()))
        {
            return invalid(format!(
                "currency {}: with dated rates in the terms, every rate is recorded on the legs \
                 it converts and must have at most 8 significant digits",
                c.code
            ));
        }
        if table.rate(&self.base_currency).ok() != Some(Decimal::ONE) {
            return invalid(format!(
                "base currency {} must have fx_rate \"1\"",
                self.base_currency
            ));
        }
        Ok(table)
    }

    fn validate(&self) -> Result<(), TermsError> {
        let known = |code: &str, who: &str| match self.table.get(code) {
            Ok(_) => Ok(()),
            Err(_) => invalid(format!("{who}: unknown settlement currency {code}")),
        };
        known(&self.aggregator.settlement_currency, &self.aggregator.name)?;
        self.aggregator.share.validate("aggregator share")?;
        let mut names = BTreeMap::new();
        let mut ids = BTreeSet::new();
        for p in &self.providers {
            known(&p.settlement_currency, &p.name)?;
            p.fee.validate(&format!("provider {} fee", p.name))?;
            if p.id == 0 || !ids.insert(p.id) {
                return invalid(format!(
                    "provider {}: id must be unique and non-zero",
                    p.name
                ));
            }
            names.insert(("provider", p.name.as_str()), ());
        }
        for a in &self.agents {
            known(&a.settlement_currency, &a.name)?;
            a.commission
                .validate(&format!("agent {} commission", a.name))?;
            names.insert(("agent", a.name.as_str()), ());
        }
        for o in &self.operators {
            known(&o.settlement_currency, &o.name)?;
            if let Some(agent) = &o.agent {
                if self.agent(agent).is_none() {
                    return invalid(format!("operator {}: unknown agent {agent}", o.name));
                }
            }
            self.aggregator_share(o)
                .validate(&format!("operator {} aggregator share", o.name))?;
            names.insert(("operator", o.name.as_str()), ());
        }
        let count = self.providers.len() + self.agents.len() + self.operators.len();
        if names.len() != count {
            return invalid("provider, agent and operator names must be unique".into());
        }
        self.validate_sums()
    }

    /// At every tier boundary, fee + aggregator share + commission <= 100 for every pair.
    fn validate_sums(&self) -> Result<(), TermsError> {
        for p in &self.providers {
            for o in &self.operators {
                let agent = o.agent.as_deref().and_then(|a| self.agent(a));
                let rates: Vec<&Rate> = [Some(&p.fee), Some(self.aggregator_share(o))]
                    .into_iter()
                    .chain([agent.map(|a| &a.commission)])
                    .flatten()
                    .collect();
                let mut points: Vec<Decimal> = rates.iter().flat_map(|r| r.breakpoints()).collect();
                points.push(Decimal::ZERO);
                for stake in points {
                    let sum: Decimal = rates.iter().map(|r| r.percent_for(stake)).sum();
                    if sum > Decimal::ONE_HUNDRED {
                        return invalid(format!(
                            "provider {} with operator {}: shares sum to {sum}% at stake {stake}",
                            p.name, o.name
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TERMS: &str = include_str!("../samples/terms.toml");

    #[test]
    fn the_sample_terms_load() {
        let t = Terms::parse(TERMS).unwrap();
        assert_eq!(t.currencies().get("KRW").unwrap().scale.places(), 0);
        assert!(t.provider("alpha").is_some());
        let royal = t.operator("royal").unwrap();
        assert!(t.agent(royal.agent.as_deref().unwrap()).is_some());
    }

    #[test]
    fn tiers_pick_the_last_tier_at_or_below_the_stake() {
        let r: Rate = toml::from_str::<BTreeMap<String, Rate>>(
            "r = { tiers = [{ from = \"0\", percent = \"12\" }, { from = \"100\", percent = \"10\" }] }",
        )
        .unwrap()
        .remove("r")
        .unwrap();
        assert_eq!(r.percent_for(Decimal::ZERO), Decimal::from(12));
        assert_eq!(r.percent_for("99.99".parse().unwrap()), Decimal::from(12));
        assert_eq!(r.percent_for(Decimal::ONE_HUNDRED), Decimal::from(10));
        assert_eq!(
            Rate::Flat(Decimal::TWO).percent_for(Decimal::MAX),
            Decimal::TWO
        );
    }

    #[test]
    fn inconsistent_terms_are_refused_with_the_reason() {
        let cases = [
            ("fee = \"12\"", "fee = \"95\"", "sum to"),
            ("fee = \"12\"", "fee = \"-1\"", "outside"),
            ("fee = \"12\"", "fee = 12", "bad terms TOML"),
            ("agent = \"kim\"", "agent = \"nobody\"", "unknown agent"),
            ("fx_rate = \"1\"", "fx_rate = \"2\"", "base currency"),
            ("id = 2", "id = 1", "unique"),
        ];
        for (from, to, why) in cases {
            assert!(TERMS.contains(from), "{from}");
            let err = Terms::parse(&TERMS.replacen(from, to, 1)).unwrap_err();
            assert!(err.to_string().contains(why), "{from} -> {to}: {err}");
        }
    }

    #[test]
    fn unknown_keys_in_any_table_are_refused_naming_key_and_table() {
        let cases = [
            (
                "agent = \"kim\"",
                "agnet = \"kim\"",
                "agnet",
                "[[operators]]",
            ),
            (
                "aggregator_share = \"7.5\"",
                "aggregator_shar = \"7.5\"",
                "aggregator_shar",
                "[[operators]]",
            ),
            (
                "fee = \"12\"",
                "fee = \"12\"\nfees = \"1\"",
                "fees",
                "[[providers]]",
            ),
            (
                "commission = \"5\"",
                "comission = \"5\"",
                "comission",
                "[[agents]]",
            ),
            (
                "ledger = 840",
                "ledger = 840\nrounding = 1",
                "rounding",
                "[[currencies]]",
            ),
            (
                "name = \"tally-games\"",
                "name = \"tally-games\"\nsahre = \"1\"",
                "sahre",
                "[aggregator]",
            ),
            (
                "share = { tiers = [{ from = \"0\", percent = \"10\" }",
                "share = { tiers = [{ from = \"0\", percent = \"10\", upto = \"9\" }",
                "upto",
                "[aggregator]",
            ),
            (
                "share = { tiers = [",
                "share = { tier = [], tiers = [",
                "tier",
                "[aggregator]",
            ),
        ];
        for (from, to, key, table) in cases {
            assert!(TERMS.contains(from), "{from}");
            let err = match Terms::parse(&TERMS.replacen(from, to, 1)) {
                Ok(_) => panic!("accepted: {to}"),
                Err(e) => e.to_string(),
            };
            assert!(err.contains(key) && err.contains(table), "{to}: {err}");
        }
    }

    const DATED: &str = include_str!("../samples/delta/terms.toml");

    #[test]
    fn dated_rates_pick_the_period_of_the_day() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/delta");
        let t = Terms::parse_in(DATED, &dir).unwrap();
        let day = |d: &str| d.parse::<NaiveDate>().unwrap();
        let c = t.currencies();
        assert_eq!(
            c.rate_on("EUR", day("2026-11-30")).unwrap().to_string(),
            "1.08"
        );
        assert_eq!(
            c.rate_on("EUR", day("2026-12-01")).unwrap().to_string(),
            "1.1"
        );
        assert_eq!(c.rate_on("USD", day("1999-01-01")).unwrap(), Decimal::ONE);
        let err = c.rate_on("EUR", day("2027-01-04")).unwrap_err().to_string();
        assert!(
            err.starts_with("no FX rate for EUR valid on 2027-01-04"),
            "{err}"
        );
        assert_eq!(
            c.convert_on(1_000, "EUR", "USD", day("2026-12-31"))
                .unwrap()
                .0,
            1_100
        );
        assert!(
            c.convert(1_000, "EUR", "USD").is_err(),
            "EUR has no undated rate"
        );
    }

    #[test]
    fn bad_dated_rates_are_refused_with_the_reason() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/delta");
        let nov = "{ from = \"2026-11-01\", to = \"2026-11-30\", rate = \"1.08\" }";
        let cases = [
            (
                nov,
                "{ from = \"2026-11-01\", to = \"2026-12-01\", rate = \"1.08\" }",
                "overlap",
            ),
            (
                nov,
                "{ from = \"2026-11-30\", to = \"2026-11-01\", rate = \"1.08\" }",
                "backward",
            ),
            (
                nov,
                "{ from = \"2026-11-01\", to = \"2026-11-30\", rate = \"0\" }",
                "positive",
            ),
            (
                nov,
                "{ from = \"2026-11-01\", to = \"2026-11-30\", rate = \"1.234567891\" }",
                "8 significant",
            ),
            (
                nov,
                "{ from = \"2026-11-01\", until = \"2026-11-30\", rate = \"1.08\" }",
                "unknown field `until`",
            ),
            ("rates = [", "fx_rate = \"1.08\"\nrates = [", "not both"),
            (
                "fx_rate = \"1\"",
                "fx_rate = \"1.123456789\"",
                "8 significant",
            ),
            (
                "format = \"delta.toml\"",
                "format = \"nope.toml\"",
                "provider delta: cannot read",
            ),
            (
                "format = \"delta.toml\"",
                "format = \"delta\"",
                "not a shipped format",
            ),
        ];
        for (from, to, why) in cases {
            assert!(DATED.contains(from), "{from}");
            let err = match Terms::parse_in(&DATED.replacen(from, to, 1), &dir) {
                Ok(_) => panic!("accepted: {to}"),
                Err(e) => e.to_string(),
            };
            assert!(err.contains(why), "{to}: {err}");
        }
        // The sample terms, with one rate for every day, stay valid.
        assert!(Terms::parse(TERMS).is_ok());
    }
}
