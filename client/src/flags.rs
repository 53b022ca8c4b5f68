//! Flag sets of accounts, transfers and filters, with the bit values of the proto `*Flag` enums
//! (which equal the ledger core's). Unknown bits from a newer server are kept, not dropped.

use bitflags::bitflags;

bitflags! {
    /// `Account::flags` (see `docs/reference/accounts.md`).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct AccountFlags: u32 {
        /// Links this event's outcome to the next event's in the request (all or nothing).
        const LINKED = 1;
        /// `debits_pending + debits_posted` may never exceed `credits_posted`.
        const DEBITS_MUST_NOT_EXCEED_CREDITS = 2;
        /// `credits_pending + credits_posted` may never exceed `debits_posted`.
        const CREDITS_MUST_NOT_EXCEED_DEBITS = 4;
        /// Keep a balance snapshot after every change, for `get_account_balances`.
        const HISTORY = 8;
        /// The event carries its own `timestamp` (bulk import of historical data).
        const IMPORTED = 16;
        /// The account takes no new transfers; set by closing transfers.
        const CLOSED = 32;
    }
}

bitflags! {
    /// `Transfer::flags` (see `docs/reference/transfers.md`).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct TransferFlags: u32 {
        /// Links this event's outcome to the next event's in the request (all or nothing).
        const LINKED = 1;
        /// Reserve the amount (two-phase transfer, first phase).
        const PENDING = 2;
        /// Post (fully or partially) the pending transfer named by `pending_id`.
        const POST_PENDING_TRANSFER = 4;
        /// Void the pending transfer named by `pending_id`.
        const VOID_PENDING_TRANSFER = 8;
        /// Clamp the amount to what the debit account's credits allow.
        const BALANCING_DEBIT = 16;
        /// Clamp the amount to what the credit account's debits allow.
        const BALANCING_CREDIT = 32;
        /// Close the debit account once this (pending) transfer is created.
        const CLOSING_DEBIT = 64;
        /// Close the credit account once this (pending) transfer is created.
        const CLOSING_CREDIT = 128;
        /// The event carries its own `timestamp` (bulk import of historical data).
        const IMPORTED = 256;
    }
}

bitflags! {
    /// `AccountFilter::flags` (see `docs/reference/queries.md`).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct AccountFilterFlags: u32 {
        /// Include transfers where the account is the debit side.
        const DEBITS = 1;
        /// Include transfers where the account is the credit side.
        const CREDITS = 2;
        /// Newest first.
        const REVERSED = 4;
    }
}

bitflags! {
    /// `QueryFilter::flags` (see `docs/reference/queries.md`).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct QueryFilterFlags: u32 {
        /// Newest first.
        const REVERSED = 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_proto::v1;

    /// Every named flag equals the proto bit of the same name, and the proto names no bit the
    /// client lacks (`ALL_BITS` of the proto enum = `all()` here).
    fn check<F: bitflags::Flags<Bits = u32>>(proto: &[(&str, i32)], prefix: &str) {
        let mut proto_bits = 0;
        for &(proto_name, bit) in proto.iter().filter(|(_, bit)| *bit != 0) {
            let name = proto_name.strip_prefix(prefix).expect("proto prefix");
            let flag = F::from_name(name).unwrap_or_else(|| panic!("no client flag {name}"));
            assert_eq!(flag.bits(), bit as u32, "{name}");
            proto_bits |= bit as u32;
        }
        assert_eq!(
            F::all().bits(),
            proto_bits,
            "{prefix}: client names bits the proto lacks"
        );
    }

    /// The proto enum's non-zero values by name, found by probing every bit.
    fn proto_values<P: TryFrom<i32> + Copy>(
        name: fn(&P) -> &'static str,
    ) -> Vec<(&'static str, i32)> {
        (0..32)
            .filter_map(|shift| P::try_from(1 << shift).ok().map(|p| (name(&p), 1 << shift)))
            .collect()
    }

    #[test]
    fn flag_bits_mirror_the_proto_enums() {
        check::<AccountFlags>(&proto_values(v1::AccountFlag::as_str_name), "ACCOUNT_FLAG_");
        check::<TransferFlags>(
            &proto_values(v1::TransferFlag::as_str_name),
            "TRANSFER_FLAG_",
        );
        check::<AccountFilterFlags>(
            &proto_values(v1::AccountFilterFlag::as_str_name),
            "ACCOUNT_FILTER_FLAG_",
        );
        check::<QueryFilterFlags>(
            &proto_values(v1::QueryFilterFlag::as_str_name),
            "QUERY_FILTER_FLAG_",
        );
    }
}
