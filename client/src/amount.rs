//! Amounts: `rust_decimal::Decimal` at the edges, `u128` minor units in the ledger.
//!
//! Each ledger holds one currency (or asset) with a fixed number of fractional digits, its
//! [`Scale`]: KRW has 0, USD 2, so `12.34` USD is `1234` minor units. Conversions are exact or
//! fail with an [`AmountError`]; nothing is rounded. `Decimal` holds a 96-bit mantissa, so very
//! large `u128` amounts cannot be shown as a `Decimal`: that is an error, not a panic.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

/// Why an amount could not be converted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// Ledger amounts are unsigned; direction is given by the debit and credit accounts.
    #[error("amount {0} is negative")]
    Negative(Decimal),
    /// The value has more fractional digits than the ledger's scale; rounding is the caller's
    /// decision, never the SDK's.
    #[error("amount {value} has more than {scale} fractional digit(s)")]
    TooPrecise {
        /// The value given.
        value: Decimal,
        /// The ledger's scale.
        scale: u32,
    },
    /// The minor units do not fit in a `u128` below `u128::MAX` (which is reserved to mean
    /// "the full pending amount").
    #[error("amount {0} does not fit in the ledger's 128-bit minor units")]
    TooLarge(Decimal),
    /// The minor units do not fit in a `Decimal`'s 96-bit mantissa.
    #[error("{0} minor units do not fit in a Decimal (96-bit mantissa)")]
    NotRepresentable(u128),
    /// A scale above 28, the most a `Decimal` can hold.
    #[error("scale {0} is above 28, the most a Decimal can hold")]
    InvalidScale(u32),
    /// No currency is registered for this ledger.
    #[error("no currency registered for ledger {0}")]
    UnknownLedger(u32),
}

/// The number of fractional digits of a ledger's minor unit, 0..=28.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scale(u32);

impl Scale {
    /// A scale of `places` fractional digits (0..=28).
    pub const fn new(places: u32) -> Result<Self, AmountError> {
        if places > Decimal::MAX_SCALE {
            return Err(AmountError::InvalidScale(places));
        }
        Ok(Self(places))
    }

    /// The number of fractional digits.
    pub const fn places(self) -> u32 {
        self.0
    }

    /// `value` in minor units, exactly. `-0` counts as 0.
    pub fn to_minor(self, value: Decimal) -> Result<u128, AmountError> {
        if value.is_zero() {
            return Ok(0);
        }
        if value.is_sign_negative() {
            return Err(AmountError::Negative(value));
        }
        // `1.50` at scale 1 is fine: only significant fractional digits count.
        let normalized = value.normalize();
        if normalized.scale() > self.0 {
            return Err(AmountError::TooPrecise {
                value,
                scale: self.0,
            });
        }
        // normalized = mantissa / 10^s with s <= scale, so minor = mantissa * 10^(scale - s).
        let mantissa = normalized.mantissa().unsigned_abs();
        10u128
            .checked_pow(self.0 - normalized.scale())
            .and_then(|factor| mantissa.checked_mul(factor))
            .filter(|&minor| minor != u128::MAX)
            .ok_or(AmountError::TooLarge(value))
    }

    /// `minor` units as a `Decimal` with exactly this scale (e.g. `1234` -> `12.34`).
    pub fn to_decimal(self, minor: u128) -> Result<Decimal, AmountError> {
        i128::try_from(minor)
            .ok()
            .and_then(|m| Decimal::try_from_i128_with_scale(m, self.0).ok())
            .ok_or(AmountError::NotRepresentable(minor))
    }
}

/// A currency (or any asset) held on one ledger.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Currency {
    /// A display code such as `"USD"`; the ledger itself only knows `ledger`.
    pub code: String,
    /// The ledger number its accounts and transfers use.
    pub ledger: u32,
    /// Fractional digits of its minor unit.
    pub scale: Scale,
}

impl Currency {
    /// A currency with `places` fractional digits on ledger `ledger`.
    pub fn new(code: impl Into<String>, ledger: u32, places: u32) -> Result<Self, AmountError> {
        Ok(Self {
            code: code.into(),
            ledger,
            scale: Scale::new(places)?,
        })
    }

    /// `value` in this currency's minor units (see [`Scale::to_minor`]).
    pub fn to_minor(&self, value: Decimal) -> Result<u128, AmountError> {
        self.scale.to_minor(value)
    }

    /// `minor` units as a `Decimal` (see [`Scale::to_decimal`]).
    pub fn to_decimal(&self, minor: u128) -> Result<Decimal, AmountError> {
        self.scale.to_decimal(minor)
    }
}

/// The currencies of a deployment, by ledger number.
///
/// ```
/// use rust_decimal::Decimal;
/// use tally_client::{Currencies, Currency};
///
/// let mut currencies = Currencies::new();
/// currencies.insert(Currency::new("KRW", 410, 0).unwrap());
/// currencies.insert(Currency::new("USD", 840, 2).unwrap());
/// assert_eq!(currencies.to_minor(840, Decimal::new(1234, 2)).unwrap(), 1234); // 12.34
/// assert_eq!(currencies.to_minor(410, Decimal::from(5000)).unwrap(), 5000);
/// assert!(currencies.to_minor(410, Decimal::new(5, 1)).is_err()); // 0.5 won
/// assert_eq!(currencies.to_decimal(840, 1234).unwrap().to_string(), "12.34");
/// ```
#[derive(Clone, Debug, Default)]
pub struct Currencies {
    by_ledger: BTreeMap<u32, Currency>,
}

impl Currencies {
    /// No currencies.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `currency` under its ledger, replacing any previous one.
    pub fn insert(&mut self, currency: Currency) -> Option<Currency> {
        self.by_ledger.insert(currency.ledger, currency)
    }

    /// The currency of `ledger`.
    pub fn get(&self, ledger: u32) -> Result<&Currency, AmountError> {
        self.by_ledger
            .get(&ledger)
            .ok_or(AmountError::UnknownLedger(ledger))
    }

    /// `value` in the minor units of `ledger`'s currency.
    pub fn to_minor(&self, ledger: u32, value: Decimal) -> Result<u128, AmountError> {
        self.get(ledger)?.to_minor(value)
    }

    /// `minor` units of `ledger`'s currency as a `Decimal`.
    pub fn to_decimal(&self, ledger: u32, minor: u128) -> Result<Decimal, AmountError> {
        self.get(ledger)?.to_decimal(minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    const MANTISSA_MAX: u128 = (1 << 96) - 1;

    #[test]
    fn usd_and_krw_convert_exactly() {
        let usd = Scale::new(2).unwrap();
        assert_eq!(usd.to_minor(dec("12.34")), Ok(1234));
        assert_eq!(usd.to_minor(dec("12.3")), Ok(1230));
        assert_eq!(
            usd.to_minor(dec("12.300")),
            Ok(1230),
            "trailing zeros are not precision"
        );
        assert_eq!(usd.to_minor(dec("-0.00")), Ok(0));
        assert_eq!(usd.to_decimal(1234).unwrap().to_string(), "12.34");
        assert_eq!(usd.to_decimal(5).unwrap().to_string(), "0.05");
        let krw = Scale::new(0).unwrap();
        assert_eq!(krw.to_minor(dec("1000000")), Ok(1_000_000));
        assert_eq!(krw.to_decimal(1_000_000).unwrap().to_string(), "1000000");
    }

    #[test]
    fn bad_amounts_are_rejected_with_the_reason() {
        let usd = Scale::new(2).unwrap();
        assert_eq!(
            usd.to_minor(dec("-0.01")),
            Err(AmountError::Negative(dec("-0.01")))
        );
        assert_eq!(
            usd.to_minor(dec("0.001")),
            Err(AmountError::TooPrecise {
                value: dec("0.001"),
                scale: 2
            })
        );
        assert!(matches!(
            Scale::new(0).unwrap().to_minor(dec("0.5")),
            Err(AmountError::TooPrecise { .. })
        ));
        // 79228162514264337593543950335 (Decimal::MAX) * 10^28 is far above u128::MAX.
        let huge = Scale::new(28).unwrap();
        assert_eq!(
            huge.to_minor(Decimal::MAX),
            Err(AmountError::TooLarge(Decimal::MAX))
        );
        assert_eq!(Scale::new(29), Err(AmountError::InvalidScale(29)));
        assert_eq!(Scale::new(28).map(Scale::places), Ok(28));
    }

    #[test]
    fn amounts_beyond_96_bits_are_an_error_not_a_panic() {
        let s = Scale::new(2).unwrap();
        assert_eq!(
            s.to_decimal(MANTISSA_MAX).unwrap().mantissa() as u128,
            MANTISSA_MAX
        );
        for minor in [MANTISSA_MAX + 1, u128::MAX / 2, u128::MAX] {
            assert_eq!(
                s.to_decimal(minor),
                Err(AmountError::NotRepresentable(minor))
            );
        }
    }

    #[test]
    fn currencies_look_up_by_ledger() {
        let mut c = Currencies::new();
        assert!(c.insert(Currency::new("USD", 840, 2).unwrap()).is_none());
        assert_eq!(c.to_minor(840, dec("1.5")), Ok(150));
        assert_eq!(
            c.to_minor(978, dec("1.5")),
            Err(AmountError::UnknownLedger(978))
        );
        assert_eq!(c.get(840).unwrap().code, "USD");
        assert!(Currency::new("BAD", 1, 40).is_err());
    }

    proptest! {
        #[test]
        fn minor_units_that_fit_round_trip(minor in 0..=MANTISSA_MAX, places in 0u32..=28) {
            let scale = Scale::new(places).unwrap();
            let decimal = scale.to_decimal(minor).unwrap();
            prop_assert_eq!(scale.to_minor(decimal), Ok(minor));
        }

        #[test]
        fn decimals_within_the_scale_round_trip(
            mantissa in 0i128..=MANTISSA_MAX as i128,
            value_scale in 0u32..=28,
            extra in 0u32..=4,
        ) {
            let value = Decimal::from_i128_with_scale(mantissa, value_scale);
            let scale = Scale::new((value_scale + extra).min(28)).unwrap();
            let expected = mantissa as u128 * 10u128.pow(scale.places() - value_scale);
            prop_assert_eq!(scale.to_minor(value), Ok(expected));
            match scale.to_decimal(expected) {
                Ok(back) => prop_assert_eq!(back.normalize(), value.normalize()),
                // The way back fails only when the minor units outgrow Decimal's 96 bits.
                Err(e) => prop_assert!(expected > MANTISSA_MAX, "{}", e),
            }
        }

        #[test]
        fn extra_fractional_digits_are_always_rejected(
            mantissa in 1i128..=MANTISSA_MAX as i128,
            places in 0u32..28,
        ) {
            let value = Decimal::from_i128_with_scale(mantissa, 28).normalize();
            prop_assume!(value.scale() > places);
            let rejected = matches!(Scale::new(places).unwrap().to_minor(value), Err(AmountError::TooPrecise { .. }));
            prop_assert!(rejected);
        }
    }
}
