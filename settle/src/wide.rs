//! Unsigned integers wider than 128 bits, just enough for exact FX: products of a `u128`
//! amount, a 96-bit rate mantissa and powers of ten up to 10^56, and their floor quotient.
//!
//! A [`Wide`] is little-endian 64-bit limbs without trailing zero limbs. Multiplication is
//! schoolbook, division is binary long division; both are exact, and a quotient that does not
//! fit in a `u128` is reported, never truncated.

use std::cmp::Ordering;

/// An unsigned integer of any width.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wide(Vec<u64>);

impl Wide {
    /// `value` as a wide integer.
    pub fn from_u128(value: u128) -> Self {
        Self(vec![value as u64, (value >> 64) as u64]).trimmed()
    }

    /// `10^exp`.
    pub fn pow10(exp: u32) -> Self {
        (0..exp).fold(Self::from_u128(1), |acc, _| acc.mul(&Self::from_u128(10)))
    }

    fn trimmed(mut self) -> Self {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
        self
    }

    /// `self * other`, exactly.
    pub fn mul(&self, other: &Self) -> Self {
        let mut out = vec![0u64; self.0.len() + other.0.len()];
        for (i, &a) in self.0.iter().enumerate() {
            let mut carry = 0u128;
            for (j, &b) in other.0.iter().enumerate() {
                let cell = u128::from(out[i + j]) + u128::from(a) * u128::from(b) + carry;
                out[i + j] = cell as u64;
                carry = cell >> 64;
            }
            out[i + other.0.len()] = carry as u64;
        }
        Self(out).trimmed()
    }

    fn bits(&self) -> u32 {
        match self.0.last() {
            None => 0,
            Some(top) => 64 * (self.0.len() as u32 - 1) + (64 - top.leading_zeros()),
        }
    }

    fn bit(&self, i: u32) -> bool {
        self.0
            .get((i / 64) as usize)
            .is_some_and(|limb| limb >> (i % 64) & 1 == 1)
    }

    /// `self * 2 + bit`.
    fn shl1_or(&self, bit: bool) -> Self {
        let mut out = Vec::with_capacity(self.0.len() + 1);
        let mut carry = u64::from(bit);
        for &limb in &self.0 {
            out.push(limb << 1 | carry);
            carry = limb >> 63;
        }
        out.push(carry);
        Self(out).trimmed()
    }

    /// `self - other`; `other <= self`.
    fn sub(&self, other: &Self) -> Self {
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = 0u64;
        for (i, &a) in self.0.iter().enumerate() {
            let b = other.0.get(i).copied().unwrap_or(0);
            let (d, o1) = a.overflowing_sub(b);
            let (d, o2) = d.overflowing_sub(borrow);
            out.push(d);
            borrow = u64::from(o1 || o2);
        }
        assert_eq!(borrow, 0, "sub: other <= self");
        Self(out).trimmed()
    }

    /// `floor(self / divisor)` if it fits in a `u128`; `None` if it does not. `divisor > 0`.
    pub fn div_floor_u128(&self, divisor: &Self) -> Option<u128> {
        assert!(!divisor.0.is_empty(), "division by zero");
        let mut remainder = Self(vec![]);
        let mut quotient = 0u128;
        for i in (0..self.bits()).rev() {
            remainder = remainder.shl1_or(self.bit(i));
            // The quotient's bits come out high to low: one more would need a 129th bit.
            if quotient >> 127 != 0 {
                return None;
            }
            quotient <<= 1;
            if remainder >= *divisor {
                remainder = remainder.sub(divisor);
                quotient |= 1;
            }
        }
        Some(quotient)
    }
}

impl PartialOrd for Wide {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Wide {
    fn cmp(&self, other: &Self) -> Ordering {
        // Trimmed: more limbs is larger; otherwise compare from the top limb down.
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_agree_with_u128() {
        let w = |v: u128| Wide::from_u128(v);
        assert_eq!(w(7).mul(&w(6)), w(42));
        assert_eq!(w(0).mul(&w(6)), w(0));
        assert_eq!(w(100).div_floor_u128(&w(7)), Some(14));
        assert_eq!(w(0).div_floor_u128(&w(7)), Some(0));
        assert_eq!(Wide::pow10(3), w(1000));
        assert!(w(1 << 70) > w(u64::MAX as u128));
        let max = w(u128::MAX);
        assert_eq!(max.mul(&w(3)).div_floor_u128(&w(3)), Some(u128::MAX));
        assert_eq!(max.mul(&w(3)).div_floor_u128(&w(2)), None);
        assert_eq!(max.mul(&max).div_floor_u128(&max), Some(u128::MAX));
    }
}
