//! Currencies (one Tally ledger each, with its scale) and FX conversion at configured rates.
//!
//! Rates are quoted against one base currency: `rate(EUR) = 1.08` means one euro is worth 1.08
//! units of the base. Converting `amount` from `A` to `B` computes `amount * rate(A) / rate(B)`
//! in `Decimal` and **rounds down** (toward zero) to `B`'s minor unit: that is the one rounding
//! the kit chooses for FX, and the residue stays with the FX desk (the `fx` settlement accounts,
//! see `chart.rs`). Every other amount must fit exactly or is an error.

use std::collections::BTreeMap;

use rust_decimal::{Decimal, RoundingStrategy};
use tally_client::{AmountError, Currencies, Currency};

/// A failure to look up or convert money.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoneyError {
    /// The currency code is not configured.
    #[error("unknown currency {0:?}")]
    UnknownCurrency(String),
    /// No FX rate is configured for the currency.
    #[error("no FX rate for {0}")]
    NoRate(String),
    /// The amount does not fit the currency exactly (or at all).
    #[error(transparent)]
    Amount(#[from] AmountError),
    /// The conversion overflowed `Decimal`.
    #[error("FX conversion of {amount} {from} to {to} overflows")]
    Overflow {
        /// Minor units converted.
        amount: u128,
        /// Source currency.
        from: String,
        /// Target currency.
        to: String,
    },
}

/// The configured currencies by code and by ledger, with their FX rates to the base currency.
#[derive(Clone, Debug, Default)]
pub struct CurrencyTable {
    by_code: BTreeMap<String, Currency>,
    by_ledger: Currencies,
    rates: BTreeMap<String, Decimal>,
}

impl CurrencyTable {
    /// Registers `currency` with its FX `rate` to the base currency (`> 0`).
    pub fn insert(&mut self, currency: Currency, rate: Decimal) {
        self.rates.insert(currency.code.clone(), rate);
        self.by_ledger.insert(currency.clone());
        self.by_code.insert(currency.code.clone(), currency);
    }

    /// The currency with `code` (any case).
    pub fn get(&self, code: &str) -> Result<&Currency, MoneyError> {
        self.by_code
            .get(&code.to_ascii_uppercase())
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_string()))
    }

    /// The currency of `ledger`.
    pub fn by_ledger(&self, ledger: u32) -> Result<&Currency, MoneyError> {
        Ok(self.by_ledger.get(ledger)?)
    }

    /// Every currency, ordered by code.
    pub fn all(&self) -> impl Iterator<Item = &Currency> {
        self.by_code.values()
    }

    /// The FX rate of `code` to the base currency.
    pub fn rate(&self, code: &str) -> Result<Decimal, MoneyError> {
        self.rates
            .get(code)
            .copied()
            .ok_or_else(|| MoneyError::NoRate(code.to_string()))
    }

    /// `minor` units of `code` as a `Decimal` in major units.
    pub fn to_decimal(&self, code: &str, minor: u128) -> Result<Decimal, MoneyError> {
        Ok(self.get(code)?.to_decimal(minor)?)
    }

    /// `minor` units of `code` worth in the base currency, unrounded (for tier selection).
    pub fn to_base(&self, code: &str, minor: u128) -> Result<Decimal, MoneyError> {
        let value = self.to_decimal(code, minor)?;
        value
            .checked_mul(self.rate(code)?)
            .ok_or_else(|| MoneyError::Overflow {
                amount: minor,
                from: code.to_string(),
                to: "base".to_string(),
            })
    }

    /// `minor` units of `from` converted to minor units of `to`, rounded down (see module doc).
    pub fn convert(&self, minor: u128, from: &str, to: &str) -> Result<u128, MoneyError> {
        if from == to {
            return Ok(minor);
        }
        let target = self.get(to)?;
        let overflow = || MoneyError::Overflow {
            amount: minor,
            from: from.to_string(),
            to: to.to_string(),
        };
        // Multiply first: `amount * rate(from)` is exact, so only the division can round.
        let value = self
            .to_base(from, minor)
            .map_err(|_| overflow())?
            .checked_div(self.rate(to)?)
            .ok_or_else(overflow)?
            .round_dp_with_strategy(target.scale.places(), RoundingStrategy::ToZero);
        Ok(target.to_minor(value)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> CurrencyTable {
        let mut t = CurrencyTable::default();
        t.insert(Currency::new("USD", 840, 2).unwrap(), Decimal::ONE);
        t.insert(
            Currency::new("EUR", 978, 2).unwrap(),
            "1.08".parse().unwrap(),
        );
        t.insert(
            Currency::new("KRW", 410, 0).unwrap(),
            "0.00075".parse().unwrap(),
        );
        t
    }

    #[test]
    fn conversions_round_down_to_the_target_unit() {
        let t = table();
        // 10000 KRW * 0.00075 = 7.50 USD exactly.
        assert_eq!(t.convert(10_000, "KRW", "USD").unwrap(), 750);
        // 7.50 USD / 0.00075 = 10000 KRW exactly.
        assert_eq!(t.convert(750, "USD", "KRW").unwrap(), 10_000);
        // 10.00 USD / 1.08 = 9.259259.. EUR -> 9.25 (down, not 9.26).
        assert_eq!(t.convert(1_000, "USD", "EUR").unwrap(), 925);
        // 1 KRW = 0.00075 USD -> 0.00 USD.
        assert_eq!(t.convert(1, "KRW", "USD").unwrap(), 0);
        assert_eq!(t.convert(123, "EUR", "EUR").unwrap(), 123);
        // 12.34 EUR * 1.08 / 0.00075 = 17769.6 KRW -> 17769.
        assert_eq!(t.convert(1_234, "EUR", "KRW").unwrap(), 17_769);
    }

    #[test]
    fn lookups_fail_with_the_reason() {
        let t = table();
        assert_eq!(t.get("usd").unwrap().ledger, 840);
        assert_eq!(t.by_ledger(410).unwrap().code, "KRW");
        assert_eq!(
            t.get("JPY").unwrap_err(),
            MoneyError::UnknownCurrency("JPY".into())
        );
        assert!(t.convert(1, "JPY", "USD").is_err());
        assert_eq!(t.to_base("KRW", 20_000).unwrap(), "15".parse().unwrap());
    }
}
