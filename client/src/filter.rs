//! Query filters and read consistency (see `docs/reference/queries.md`).

use tally_proto::{u128_to_wire, v1};

use crate::flags::{AccountFilterFlags, QueryFilterFlags};

/// The most results one query returns, and the most events or ids one request carries.
pub const BATCH_MAX: usize = 8189;

/// How fresh a read must be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ReadConsistency {
    /// Reflects every write acknowledged before the read started; served by the leader.
    #[default]
    Linearizable,
    /// Whatever the answering node has applied; may miss recent writes. Any node may answer,
    /// so it keeps working while the cluster has no leader.
    Stale,
}

impl From<ReadConsistency> for v1::ReadConsistency {
    fn from(c: ReadConsistency) -> Self {
        match c {
            ReadConsistency::Linearizable => v1::ReadConsistency::Linearizable,
            ReadConsistency::Stale => v1::ReadConsistency::Stale,
        }
    }
}

/// Selects one account's transfers (`get_account_transfers`) or balance snapshots
/// (`get_account_balances`). Zero fields match anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AccountFilter {
    /// The account.
    pub account_id: u128,
    /// Only transfers with this `user_data_128` (0 = any).
    pub user_data_128: u128,
    /// Only transfers with this `user_data_64` (0 = any).
    pub user_data_64: u64,
    /// Only transfers with this `user_data_32` (0 = any).
    pub user_data_32: u32,
    /// Only transfers with this `code` (0 = any).
    pub code: u16,
    /// Inclusive lower bound on the timestamp (0 = none).
    pub timestamp_min: u64,
    /// Inclusive upper bound on the timestamp (0 = none).
    pub timestamp_max: u64,
    /// Maximum number of results, 1..=8189.
    pub limit: u32,
    /// Which sides to include, and the order.
    pub flags: AccountFilterFlags,
}

impl AccountFilter {
    /// Both sides of `account_id`, oldest first, up to [`BATCH_MAX`] results.
    pub fn new(account_id: u128) -> Self {
        Self {
            account_id,
            limit: BATCH_MAX as u32,
            flags: AccountFilterFlags::DEBITS | AccountFilterFlags::CREDITS,
            ..Self::default()
        }
    }
}

impl From<&AccountFilter> for v1::AccountFilter {
    fn from(f: &AccountFilter) -> Self {
        v1::AccountFilter {
            account_id: u128_to_wire(f.account_id),
            user_data_128: u128_to_wire(f.user_data_128),
            user_data_64: f.user_data_64,
            user_data_32: f.user_data_32,
            code: u32::from(f.code),
            timestamp_min: f.timestamp_min,
            timestamp_max: f.timestamp_max,
            limit: f.limit,
            flags: f.flags.bits(),
        }
    }
}

/// Selects accounts (`query_accounts`) or transfers (`query_transfers`) by their fields; every
/// non-zero field must match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct QueryFilter {
    /// Match `user_data_128` (0 = any).
    pub user_data_128: u128,
    /// Match `user_data_64` (0 = any).
    pub user_data_64: u64,
    /// Match `user_data_32` (0 = any).
    pub user_data_32: u32,
    /// Match `ledger` (0 = any).
    pub ledger: u32,
    /// Match `code` (0 = any).
    pub code: u16,
    /// Inclusive lower bound on the timestamp (0 = none).
    pub timestamp_min: u64,
    /// Inclusive upper bound on the timestamp (0 = none).
    pub timestamp_max: u64,
    /// Maximum number of results, 1..=8189.
    pub limit: u32,
    /// Order.
    pub flags: QueryFilterFlags,
}

impl QueryFilter {
    /// Everything, oldest first, up to [`BATCH_MAX`] results; narrow it by setting fields.
    pub fn new() -> Self {
        Self {
            limit: BATCH_MAX as u32,
            ..Self::default()
        }
    }
}

impl From<&QueryFilter> for v1::QueryFilter {
    fn from(f: &QueryFilter) -> Self {
        v1::QueryFilter {
            user_data_128: u128_to_wire(f.user_data_128),
            user_data_64: f.user_data_64,
            user_data_32: f.user_data_32,
            ledger: f.ledger,
            code: u32::from(f.code),
            timestamp_min: f.timestamp_min,
            timestamp_max: f.timestamp_max,
            limit: f.limit,
            flags: f.flags.bits(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_proto::u128_from_wire;

    #[test]
    fn filters_carry_every_field_to_the_wire() {
        let f = AccountFilter {
            user_data_128: 1 << 70,
            user_data_64: 2,
            user_data_32: 3,
            code: 4,
            timestamp_min: 5,
            timestamp_max: 6,
            limit: 7,
            flags: AccountFilterFlags::CREDITS | AccountFilterFlags::REVERSED,
            ..AccountFilter::new(u128::MAX - 1)
        };
        let w = v1::AccountFilter::from(&f);
        assert_eq!(u128_from_wire(w.account_id), u128::MAX - 1);
        assert_eq!(u128_from_wire(w.user_data_128), 1 << 70);
        assert_eq!(
            (
                w.user_data_64,
                w.user_data_32,
                w.code,
                w.timestamp_min,
                w.timestamp_max,
                w.limit
            ),
            (2, 3, 4, 5, 6, 7)
        );
        assert_eq!(w.flags, 2 | 4);

        let q = QueryFilter {
            ledger: 840,
            flags: QueryFilterFlags::REVERSED,
            ..QueryFilter::new()
        };
        let w = v1::QueryFilter::from(&q);
        assert_eq!((w.ledger, w.limit, w.flags), (840, 8189, 1));
    }

    #[test]
    fn account_filter_new_includes_both_sides() {
        let f = AccountFilter::new(9);
        assert_eq!(
            f.flags,
            AccountFilterFlags::DEBITS | AccountFilterFlags::CREDITS
        );
        assert_eq!(f.limit, 8189);
    }
}
