//! Transfers with plain `u128` fields, their builders and wire conversions.
//!
//! The builders cover the transfer kinds of `docs/reference/transfers.md`: plain
//! ([`Transfer::new`]), two-phase ([`Transfer::pending`], then [`Transfer::post`] or
//! [`Transfer::void`]), balancing ([`Transfer::balancing_debit`]) and closing
//! ([`Transfer::closing_debit`]). Multi-leg, all-or-nothing groups are built with
//! [`crate::LinkedChain`].

use tally_proto::{u128_from_wire, u128_to_wire, v1};

use crate::account::code_from_wire;
use crate::flags::TransferFlags;
use crate::Error;

/// On a post-pending transfer, the amount that posts the full pending amount (2^128-1).
pub const AMOUNT_MAX: u128 = u128::MAX;

/// A transfer: one debit and one credit of the same amount on the same ledger.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Transfer {
    /// Client-chosen identifier and idempotency key: never applied twice.
    pub id: u128,
    /// The account debited (post/void: 0 inherits the pending transfer's).
    pub debit_account_id: u128,
    /// The account credited (post/void: 0 inherits the pending transfer's).
    pub credit_account_id: u128,
    /// Amount in the ledger's minor units (see [`crate::Currency`]).
    pub amount: u128,
    /// Post/void: the id of the pending transfer they resolve; otherwise 0.
    pub pending_id: u128,
    /// Opaque client data.
    pub user_data_128: u128,
    /// Opaque client data.
    pub user_data_64: u64,
    /// Opaque client data.
    pub user_data_32: u32,
    /// Pending transfers: seconds until the reservation expires (0 = never).
    pub timeout: u32,
    /// The ledger of both accounts (post/void: 0 inherits).
    pub ledger: u32,
    /// Client-defined reason, not 0 (post/void: 0 inherits).
    pub code: u16,
    /// Transfer flags.
    pub flags: TransferFlags,
    /// Ledger-assigned time in nanoseconds; 0 on creation unless imported.
    pub timestamp: u64,
}

/// How much of a pending transfer a post moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostAmount {
    /// The whole pending amount (sent as [`AMOUNT_MAX`]).
    Full,
    /// This much, at most the pending amount; the rest is released.
    Partial(u128),
}

impl Transfer {
    /// A plain (single-phase) transfer of `amount` from `debit_account_id` to
    /// `credit_account_id`.
    pub fn new(
        id: u128,
        debit_account_id: u128,
        credit_account_id: u128,
        amount: u128,
        ledger: u32,
        code: u16,
    ) -> Self {
        Self {
            id,
            debit_account_id,
            credit_account_id,
            amount,
            ledger,
            code,
            ..Self::default()
        }
    }

    /// Makes this a pending transfer (first phase of two) that expires after `timeout_secs`
    /// seconds (0 = never). Resolve it with [`Transfer::post`] or [`Transfer::void`].
    pub fn pending(mut self, timeout_secs: u32) -> Self {
        self.flags |= TransferFlags::PENDING;
        self.timeout = timeout_secs;
        self
    }

    /// Posts the pending transfer `pending_id`, fully or partially. Accounts, ledger and code
    /// are left 0 and so inherited from the pending transfer.
    pub fn post(id: u128, pending_id: u128, amount: PostAmount) -> Self {
        let amount = match amount {
            PostAmount::Full => AMOUNT_MAX,
            PostAmount::Partial(amount) => amount,
        };
        Self {
            id,
            pending_id,
            amount,
            flags: TransferFlags::POST_PENDING_TRANSFER,
            ..Self::default()
        }
    }

    /// Voids the pending transfer `pending_id`, releasing its whole amount.
    pub fn void(id: u128, pending_id: u128) -> Self {
        Self {
            id,
            pending_id,
            flags: TransferFlags::VOID_PENDING_TRANSFER,
            ..Self::default()
        }
    }

    /// Clamps the amount to what the debit account's balances allow (`amount` becomes an upper
    /// bound; use [`AMOUNT_MAX`] to move everything available).
    pub fn balancing_debit(mut self) -> Self {
        self.flags |= TransferFlags::BALANCING_DEBIT;
        self
    }

    /// Clamps the amount to what the credit account's balances allow.
    pub fn balancing_credit(mut self) -> Self {
        self.flags |= TransferFlags::BALANCING_CREDIT;
        self
    }

    /// Closes the debit account when this transfer is created. A closing transfer must be
    /// pending (voiding it, or its expiry, reopens the account), so this sets `pending` too.
    pub fn closing_debit(mut self) -> Self {
        self.flags |= TransferFlags::CLOSING_DEBIT | TransferFlags::PENDING;
        self
    }

    /// Closes the credit account when this transfer is created; sets `pending` too.
    pub fn closing_credit(mut self) -> Self {
        self.flags |= TransferFlags::CLOSING_CREDIT | TransferFlags::PENDING;
        self
    }

    /// Adds `flags` to the transfer's flags.
    pub fn with_flags(mut self, flags: TransferFlags) -> Self {
        self.flags |= flags;
        self
    }

    /// Sets the three user data fields.
    pub fn with_user_data(
        mut self,
        user_data_128: u128,
        user_data_64: u64,
        user_data_32: u32,
    ) -> Self {
        self.user_data_128 = user_data_128;
        self.user_data_64 = user_data_64;
        self.user_data_32 = user_data_32;
        self
    }
}

impl From<&Transfer> for v1::Transfer {
    fn from(t: &Transfer) -> Self {
        v1::Transfer {
            id: u128_to_wire(t.id),
            debit_account_id: u128_to_wire(t.debit_account_id),
            credit_account_id: u128_to_wire(t.credit_account_id),
            amount: u128_to_wire(t.amount),
            pending_id: u128_to_wire(t.pending_id),
            user_data_128: u128_to_wire(t.user_data_128),
            user_data_64: t.user_data_64,
            user_data_32: t.user_data_32,
            timeout: t.timeout,
            ledger: t.ledger,
            code: u32::from(t.code),
            flags: t.flags.bits(),
            timestamp: t.timestamp,
        }
    }
}

impl TryFrom<v1::Transfer> for Transfer {
    type Error = Error;

    /// Fails only on a `code` above 65535, which no Tally server sends.
    fn try_from(t: v1::Transfer) -> Result<Self, Error> {
        Ok(Transfer {
            id: u128_from_wire(t.id),
            debit_account_id: u128_from_wire(t.debit_account_id),
            credit_account_id: u128_from_wire(t.credit_account_id),
            amount: u128_from_wire(t.amount),
            pending_id: u128_from_wire(t.pending_id),
            user_data_128: u128_from_wire(t.user_data_128),
            user_data_64: t.user_data_64,
            user_data_32: t.user_data_32,
            timeout: t.timeout,
            ledger: t.ledger,
            code: code_from_wire(t.code)?,
            flags: TransferFlags::from_bits_retain(t.flags),
            timestamp: t.timestamp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_round_trips_through_the_wire_type() {
        let t = Transfer {
            id: 1 << 100,
            debit_account_id: 2,
            credit_account_id: u128::MAX - 1,
            amount: AMOUNT_MAX,
            pending_id: 5,
            user_data_128: 6,
            user_data_64: u64::MAX,
            user_data_32: 8,
            timeout: 9,
            ledger: 10,
            code: 11,
            flags: TransferFlags::POST_PENDING_TRANSFER | TransferFlags::LINKED,
            timestamp: 12,
        };
        assert_eq!(Transfer::try_from(v1::Transfer::from(&t)).unwrap(), t);
    }

    #[test]
    fn builders_set_the_documented_fields() {
        let pending = Transfer::new(1, 2, 3, 500, 840, 7).pending(60);
        assert_eq!(pending.flags, TransferFlags::PENDING);
        assert_eq!((pending.timeout, pending.amount), (60, 500));

        let full = Transfer::post(4, 1, PostAmount::Full);
        assert_eq!(full.flags, TransferFlags::POST_PENDING_TRANSFER);
        assert_eq!((full.pending_id, full.amount), (1, u128::MAX));
        // Accounts, ledger and code are inherited from the pending transfer.
        assert_eq!((full.debit_account_id, full.ledger, full.code), (0, 0, 0));
        assert_eq!(Transfer::post(4, 1, PostAmount::Partial(120)).amount, 120);

        let void = Transfer::void(5, 1);
        assert_eq!(void.flags, TransferFlags::VOID_PENDING_TRANSFER);
        assert_eq!((void.pending_id, void.amount), (1, 0));

        let sweep = Transfer::new(6, 2, 3, AMOUNT_MAX, 840, 7).balancing_debit();
        assert_eq!(sweep.flags, TransferFlags::BALANCING_DEBIT);
        let sweep = sweep.balancing_credit();
        assert_eq!(
            sweep.flags,
            TransferFlags::BALANCING_DEBIT | TransferFlags::BALANCING_CREDIT
        );

        let close = Transfer::new(7, 2, 3, 0, 840, 7)
            .closing_debit()
            .closing_credit();
        assert_eq!(
            close.flags,
            TransferFlags::PENDING | TransferFlags::CLOSING_DEBIT | TransferFlags::CLOSING_CREDIT
        );
        let tagged = Transfer::new(8, 2, 3, 1, 840, 7).with_user_data(1, 2, 3);
        assert_eq!(
            (
                tagged.user_data_128,
                tagged.user_data_64,
                tagged.user_data_32
            ),
            (1, 2, 3)
        );
    }
}
