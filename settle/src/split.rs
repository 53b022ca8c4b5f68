//! Splitting a round's GGR between partners, exactly.
//!
//! **Rounding rule.** Each named share is `floor(ggr * percent / 100)` in minor units, computed in
//! integers; the remainder party (the operator) receives `ggr` minus the sum of the others. So
//! the shares always sum to the GGR to the unit, no share is ever rounded up, and the rounding
//! dust of a round (less than one minor unit per named share) goes to one named account.

use rust_decimal::Decimal;

/// A split that cannot be computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SplitError {
    /// A percentage below 0 or above 100, or percentages summing above 100.
    #[error("percentages must be in 0..=100 and sum to at most 100 (got {0})")]
    BadPercent(Decimal),
    /// The amount times the percentage's digits does not fit in 128 bits.
    #[error("share of {0} overflows 128 bits")]
    Overflow(u128),
}

/// `floor(amount * percent / 100)`, exactly.
pub fn share_of(amount: u128, percent: Decimal) -> Result<u128, SplitError> {
    if percent.is_sign_negative() || percent > Decimal::ONE_HUNDRED {
        return Err(SplitError::BadPercent(percent));
    }
    // percent = mantissa / 10^scale, so share = amount * mantissa / (100 * 10^scale).
    let mantissa = percent.mantissa().unsigned_abs();
    let denominator = 10u128.pow(percent.scale()) * 100;
    amount
        .checked_mul(mantissa)
        .map(|n| n / denominator)
        .ok_or(SplitError::Overflow(amount))
}

/// Splits `amount` by `percents` (one per named party, in order), returning each named share
/// and, last, the remainder's share. The result always sums to `amount`.
pub fn split(amount: u128, percents: &[Decimal]) -> Result<Vec<u128>, SplitError> {
    let total: Decimal = percents.iter().sum();
    if total > Decimal::ONE_HUNDRED {
        return Err(SplitError::BadPercent(total));
    }
    let mut shares = percents
        .iter()
        .map(|&p| share_of(amount, p))
        .collect::<Result<Vec<_>, _>>()?;
    let named: u128 = shares.iter().sum();
    // Each floor is at most its exact share and the exact shares sum to at most `amount`.
    let remainder = amount
        .checked_sub(named)
        .expect("rounded-down shares of at most 100% never exceed the amount");
    shares.push(remainder);
    Ok(shares)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pct(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn shares_round_down_and_the_remainder_takes_the_dust() {
        // 60.01 at 12% = 7.2012 -> 7.20; 10% = 6.001 -> 6.00; 5% = 3.0005 -> 3.00.
        let s = split(6_001, &[pct("12"), pct("10"), pct("5")]).unwrap();
        assert_eq!(s, vec![720, 600, 300, 4_381]);
        assert_eq!(s.iter().sum::<u128>(), 6_001);
        assert_eq!(share_of(1, pct("99.99")).unwrap(), 0);
        assert_eq!(share_of(10_000, pct("12.345")).unwrap(), 1_234);
        assert_eq!(split(0, &[pct("50")]).unwrap(), vec![0, 0]);
        assert_eq!(split(7, &[]).unwrap(), vec![7]);
    }

    #[test]
    fn bad_percentages_are_errors() {
        assert!(split(100, &[pct("60"), pct("40.01")]).is_err());
        assert!(share_of(100, pct("-1")).is_err());
        assert!(share_of(100, pct("100.5")).is_err());
        assert_eq!(
            share_of(u128::MAX / 2, pct("50")),
            Err(SplitError::Overflow(u128::MAX / 2))
        );
    }

    proptest! {
        #[test]
        fn shares_always_sum_exactly_to_the_amount(
            amount in 0u128..=(1u128 << 96),
            percents in proptest::collection::vec(
                (0u32..=6).prop_flat_map(|s| (0i64..=25 * 10i64.pow(s), Just(s))),
                0..5,
            ),
        ) {
            // Up to four named parties of at most 25% each, with 0..=6 decimals.
            let percents: Vec<Decimal> =
                percents.iter().map(|&(m, s)| Decimal::new(m, s)).collect();
            let shares = split(amount, &percents).unwrap();
            prop_assert_eq!(shares.len(), percents.len() + 1);
            prop_assert_eq!(shares.iter().sum::<u128>(), amount);
            for (share, p) in shares.iter().zip(&percents) {
                // floor: share <= exact < share + 1, checked in exact integer arithmetic.
                let scaled = amount * p.mantissa() as u128;
                let denom = 10u128.pow(p.scale()) * 100;
                prop_assert!(share * denom <= scaled && scaled < (share + 1) * denom);
            }
        }
    }
}
