//! Currencies (one Tally ledger each, with its scale) and FX conversion at configured rates.
//!
//! Rates are quoted against one base currency: `rate(EUR) = 1.08` means one euro is worth 1.08
//! units of the base. Converting `amount` from `A` to `B` computes `amount * rate(A) / rate(B)`
//! exactly in wide integers (see `wide.rs`; 18-decimal currencies included) and **rounds down**
//! (toward zero) to `B`'s minor unit: that is the one rounding
//! the kit chooses for FX, and the residue stays with the FX desk (the `fx` settlement accounts,
//! see `chart.rs`). Every other amount must fit exactly or is an error.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use tally_client::{AmountError, Currencies, Currency};

use crate::wide::Wide;

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
    /// The currency's dated rates have none valid on the round's business day.
    #[error(
        "no FX rate for {code} valid on {day} (the round's business day): the terms' rates for \
         {code} do not cover it; the round is held until they do"
    )]
    NoRateOn {
        /// The currency.
        code: String,
        /// The business day.
        day: NaiveDate,
    },
    /// The amount does not fit the currency exactly (or at all).
    #[error(transparent)]
    Amount(#[from] AmountError),
    /// The converted amount does not fit in the ledger's 128-bit minor units.
    #[error("FX conversion of {amount} minor units of {from} to {to} does not fit in 128 bits")]
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
    dated: BTreeMap<String, Vec<DatedRate>>,
    max: BTreeMap<String, u128>,
}

/// A rate valid on the days `from..=to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatedRate {
    /// First day it applies (UTC business day).
    pub from: NaiveDate,
    /// Last day it applies, inclusive.
    pub to: NaiveDate,
    /// Value of one unit in the base currency.
    pub rate: Decimal,
}

/// A rate as recorded on a converted leg: `mantissa << 5 | scale` in 32 bits, so a rate has
/// at most 27 bits of mantissa (8 significant digits) and 28 decimals. `None` if it does not fit.
pub fn pack_rate(rate: Decimal) -> Option<u32> {
    let mantissa = u32::try_from(rate.mantissa()).ok()?;
    (mantissa < 1 << 27 && rate.scale() <= 28).then_some(mantissa << 5 | rate.scale())
}

/// The rate [`pack_rate`] recorded.
pub fn unpack_rate(packed: u32) -> Decimal {
    Decimal::new(i64::from(packed >> 5), packed & 31)
}

impl CurrencyTable {
    /// Registers `currency` with its FX `rate` to the base currency (`> 0`).
    pub fn insert(&mut self, currency: Currency, rate: Decimal) {
        self.rates.insert(currency.code.clone(), rate);
        self.by_ledger.insert(currency.clone());
        self.by_code.insert(currency.code.clone(), currency);
    }

    /// Registers `currency` with rates valid on dated periods (checked by the terms: positive,
    /// non-overlapping). Rounds on days no period covers have no rate.
    pub fn insert_dated(&mut self, currency: Currency, rates: Vec<DatedRate>) {
        self.dated.insert(currency.code.clone(), rates);
        self.by_ledger.insert(currency.clone());
        self.by_code.insert(currency.code.clone(), currency);
    }

    /// Whether `code` has dated rates (a conversion from or to it is recorded on its legs).
    pub fn is_dated(&self, code: &str) -> bool {
        self.dated.contains_key(code)
    }

    /// The rate of `code` on `day`: its single rate, or the dated rate whose period holds `day`.
    pub fn rate_on(&self, code: &str, day: NaiveDate) -> Result<Decimal, MoneyError> {
        if let Some(rates) = self.dated.get(code) {
            return rates
                .iter()
                .find(|r| r.from <= day && day <= r.to)
                .map(|r| r.rate)
                .ok_or_else(|| MoneyError::NoRateOn {
                    code: code.to_string(),
                    day,
                });
        }
        self.rate(code)
    }

    /// Sets the largest single amount (minor units) accepted in `code`.
    pub fn set_max(&mut self, code: &str, minor: u128) {
        self.max.insert(code.to_string(), minor);
    }

    /// `Ok` unless `minor` is above the maximum set for `currency` (none set: no limit).
    pub fn check_max(&self, currency: &Currency, minor: u128) -> Result<(), String> {
        match self.max.get(&currency.code) {
            Some(&max) if minor > max => {
                let show = |v: u128| {
                    currency
                        .to_decimal(v)
                        .map_or_else(|_| format!("{v} minor units"), |d| d.to_string())
                };
                Err(format!(
                    "amount {} {code} is above the maximum of {} {code} (max_amount in the terms)",
                    show(minor),
                    show(max),
                    code = currency.code
                ))
            }
            _ => Ok(()),
        }
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

    /// `minor` units of `code` worth in the base currency, unrounded (for tier selection), at
    /// the single rate.
    pub fn to_base(&self, code: &str, minor: u128) -> Result<Decimal, MoneyError> {
        self.to_base_at(code, minor, self.rate(code)?)
    }

    /// [`Self::to_base`] at the rate of `day`.
    pub fn to_base_on(
        &self,
        code: &str,
        minor: u128,
        day: NaiveDate,
    ) -> Result<Decimal, MoneyError> {
        self.to_base_at(code, minor, self.rate_on(code, day)?)
    }

    fn to_base_at(&self, code: &str, minor: u128, rate: Decimal) -> Result<Decimal, MoneyError> {
        let value = self.to_decimal(code, minor)?;
        value.checked_mul(rate).ok_or_else(|| MoneyError::Overflow {
            amount: minor,
            from: code.to_string(),
            to: "base".to_string(),
        })
    }

    /// `minor` units of `from` converted to minor units of `to`, rounded down (see module doc).
    ///
    /// Exact at every scale: with `rate = mantissa / 10^exp` and currency scales `s`, the result
    /// is `floor(minor * m_from * 10^(exp_to + s_to) / (m_to * 10^(exp_from + s_from)))`, computed
    /// in [`Wide`] integers (no intermediate rounding). A result above `u128` is an overflow.
    pub fn convert(&self, minor: u128, from: &str, to: &str) -> Result<u128, MoneyError> {
        if from == to {
            return Ok(minor);
        }
        let (source, target) = (self.get(from)?, self.get(to)?);
        let rates = (self.rate(&source.code)?, self.rate(&target.code)?);
        self.convert_at(minor, from, to, rates)
    }

    /// [`Self::convert`] at the rates of `day`; also returns the two rates used
    /// (`(rate(from), rate(to))`).
    pub fn convert_on(
        &self,
        minor: u128,
        from: &str,
        to: &str,
        day: NaiveDate,
    ) -> Result<(u128, (Decimal, Decimal)), MoneyError> {
        let (source, target) = (self.get(from)?, self.get(to)?);
        let rates = (
            self.rate_on(&source.code, day)?,
            self.rate_on(&target.code, day)?,
        );
        if from == to {
            return Ok((minor, rates));
        }
        Ok((self.convert_at(minor, from, to, rates)?, rates))
    }

    /// `minor` units of `from` in `to` at `(rate(from), rate(to))`, rounded down.
    fn convert_at(
        &self,
        minor: u128,
        from: &str,
        to: &str,
        (rate_from, rate_to): (Decimal, Decimal),
    ) -> Result<u128, MoneyError> {
        let (source, target) = (self.get(from)?, self.get(to)?);
        let mantissa = |d: Decimal| Wide::from_u128(d.mantissa().unsigned_abs());
        let numerator = Wide::from_u128(minor)
            .mul(&mantissa(rate_from))
            .mul(&Wide::pow10(rate_to.scale() + target.scale.places()));
        let denominator =
            mantissa(rate_to).mul(&Wide::pow10(rate_from.scale() + source.scale.places()));
        numerator
            .div_floor_u128(&denominator)
            .filter(|&v| v != u128::MAX)
            .ok_or_else(|| MoneyError::Overflow {
                amount: minor,
                from: from.to_string(),
                to: to.to_string(),
            })
    }
}

/// `text`, a decimal amount in major units of `currency`, as minor units, exactly and strictly:
/// ASCII digits with an optional `.` and at least one digit on each side of it; no sign,
/// exponent, separator or space; at most the currency's scale of fractional digits, **even
/// zeros** (`1.500` USD is refused: a feed that writes more digits than the currency has is not
/// one the kit understands). The error says which rule failed.
pub fn parse_major(text: &str, currency: &Currency) -> Result<u128, String> {
    let scale = currency.scale.places();
    let code = &currency.code;
    if let Some(rest) = text.strip_prefix('-') {
        if parse_major(rest, currency).is_ok() {
            return Err(format!("amount {text} is negative"));
        }
    }
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || (text.contains('.') && !digits(frac)) {
        return Err(format!(
            "bad amount {text:?}: expected digits with an optional decimal point \
             (no exponent, sign, separator or space)"
        ));
    }
    if frac.len() > scale as usize {
        return Err(format!(
            "amount {text} has {} fractional digits; {code} has {scale} (extra digits are refused, \
             even zeros)",
            frac.len()
        ));
    }
    let too_large = || {
        format!(
            "amount {text} {code} does not fit in 128-bit minor units (at most {} minor units)",
            u128::MAX - 1
        )
    };
    let fraction = format!("{frac:0<width$}", width = scale as usize);
    format!("{int}{fraction}")
        .bytes()
        .try_fold(0u128, |acc, b| {
            acc.checked_mul(10)?.checked_add(u128::from(b - b'0'))
        })
        .filter(|&v| v != u128::MAX)
        .ok_or_else(too_large)
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

    fn with_eth() -> CurrencyTable {
        let mut t = table();
        t.insert(
            Currency::new("ETH", 60, 18).unwrap(),
            "3000.123".parse().unwrap(),
        );
        t
    }

    #[test]
    fn eighteen_decimal_conversions_are_the_exact_floor() {
        let t = with_eth();
        // 123453.629764512988300813 ETH * 3000.123 = 370376074.08999..99 (19 nines) USD: the
        // floor is 370376074.08, although 28 significant digits round it to .09.
        let eth = 123_453_629_764_512_988_300_813;
        assert_eq!(t.convert(eth, "ETH", "USD").unwrap(), 37_037_607_408);
        // 1 wei is worth 3.000123e-15 USD: 0 cents.
        assert_eq!(t.convert(1, "ETH", "USD").unwrap(), 0);
        // 1.00 USD / 3000.123 = 0.000333319667226977..: floor to the wei.
        assert_eq!(t.convert(100, "USD", "ETH").unwrap(), 333_319_667_226_977);
        // The largest ledger amount in wei converts to KRW; the largest in KRW to wei does not
        // fit in 128 bits.
        assert_eq!(
            t.convert(u128::MAX - 1, "ETH", "KRW").unwrap(),
            1_361_185_273_991_928_887_761_506_423
        );
        assert!(matches!(
            t.convert(u128::MAX - 1, "KRW", "ETH"),
            Err(MoneyError::Overflow { .. })
        ));
    }

    /// Decimal digits (most significant first) of a product, by schoolbook multiplication:
    /// a computation independent of `wide.rs`, for checking conversions.
    fn digits_product(factors: &[u128]) -> Vec<u8> {
        let mut acc = vec![1u32];
        for f in factors {
            let digits: Vec<u32> = f
                .to_string()
                .bytes()
                .rev()
                .map(|b| u32::from(b - b'0'))
                .collect();
            let mut out = vec![0u32; acc.len() + digits.len()];
            for (i, a) in acc.iter().enumerate() {
                for (j, d) in digits.iter().enumerate() {
                    out[i + j] += a * d;
                }
            }
            for k in 0..out.len() - 1 {
                out[k + 1] += out[k] / 10;
                out[k] %= 10;
            }
            acc = out;
        }
        while acc.len() > 1 && acc.last() == Some(&0) {
            acc.pop();
        }
        acc.iter().rev().map(|&d| d as u8).collect()
    }

    proptest::proptest! {
        /// `q = convert(a)` is the floor: q * D <= N < (q + 1) * D, with N and D as in
        /// `convert`'s doc, checked by decimal schoolbook products.
        #[test]
        fn conversions_are_the_exact_floor_at_every_scale(
            amount in 0u128..=(1u128 << 100),
            scales in (0u32..=18, 0u32..=18),
            rates in ((1i64..=1_000_000_000_000_000_000, 0u32..=12), (1i64..=1_000_000_000_000_000_000, 0u32..=12)),
        ) {
            let (rf, rt) = (Decimal::new(rates.0.0, rates.0.1), Decimal::new(rates.1.0, rates.1.1));
            let mut t = CurrencyTable::default();
            t.insert(Currency::new("AAA", 1, scales.0).unwrap(), rf);
            t.insert(Currency::new("BBB", 2, scales.1).unwrap(), rt);
            let ten = |e: u32| 10u128.pow(e);
            // N = a * m_from * 10^(exp_to + s_to), D = m_to * 10^(exp_from + s_from).
            let n = digits_product(&[amount, rates.0.0 as u128, ten(rates.1.1), ten(scales.1)]);
            let d = [rates.1.0 as u128, ten(rates.0.1), ten(scales.0)];
            let le = |a: &Vec<u8>, b: &Vec<u8>| (a.len(), a) <= (b.len(), b);
            match t.convert(amount, "AAA", "BBB") {
                Ok(q) => {
                    let low = digits_product(&[&d[..], &[q]].concat());
                    let high = digits_product(&[&d[..], &[q + 1]].concat());
                    let floor = le(&low, &n) && !le(&high, &n);
                    proptest::prop_assert!(floor, "not the floor: {}", q);
                }
                Err(e) => {
                    // Only when the floor is at least u128::MAX.
                    let max = digits_product(&[&d[..], &[u128::MAX]].concat());
                    let overflow = matches!(e, MoneyError::Overflow { .. }) && le(&max, &n);
                    proptest::prop_assert!(overflow, "refused without overflow: {}", e);
                }
            }
        }
    }
}
