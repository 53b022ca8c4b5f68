//! The data model: accounts, transfers, their flags, balance snapshots and read filters.
//!
//! Every record is a fixed-size value type (`Copy`, no heap), so the apply path moves them
//! around without allocating. Money is `u128` minor units; there is no floating point anywhere.

use bitflags::bitflags;

/// The largest number of events in one `create_accounts` or `create_transfers` batch, and the
/// largest `limit` a read may ask for. Chosen to match the best-known peer so that batches of
/// the same size can be compared like for like.
pub const BATCH_MAX: usize = 8189;

/// `amount` value that asks a post-pending transfer to post the full pending amount.
pub const AMOUNT_MAX: u128 = u128::MAX;

/// Nanoseconds in one second: `Transfer::timeout` is in seconds, ledger time in nanoseconds.
pub const NS_PER_S: u64 = 1_000_000_000;

/// Timestamps are below 2^63 so they survive any signed 64-bit representation downstream.
pub const TIMESTAMP_MAX: u64 = (1 << 63) - 1;

bitflags! {
    /// Flags of an [`Account`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
    pub struct AccountFlags: u16 {
        /// Links this event's outcome to the next event's in the batch (all or nothing).
        const LINKED = 1 << 0;
        /// `debits_pending + debits_posted` may never exceed `credits_posted`.
        const DEBITS_MUST_NOT_EXCEED_CREDITS = 1 << 1;
        /// `credits_pending + credits_posted` may never exceed `debits_posted`.
        const CREDITS_MUST_NOT_EXCEED_DEBITS = 1 << 2;
        /// Keep a balance snapshot after every change, for `get_account_balances`.
        const HISTORY = 1 << 3;
        /// The event carries its own `timestamp` (bulk import of historical data).
        const IMPORTED = 1 << 4;
        /// The account takes no new transfers; set by closing transfers (or at creation).
        const CLOSED = 1 << 5;
    }
}

bitflags! {
    /// Flags of a [`Transfer`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
    pub struct TransferFlags: u16 {
        /// Links this event's outcome to the next event's in the batch (all or nothing).
        const LINKED = 1 << 0;
        /// Reserve the amount (two-phase transfer, first phase).
        const PENDING = 1 << 1;
        /// Post (fully or partially) the pending transfer named by `pending_id`.
        const POST_PENDING_TRANSFER = 1 << 2;
        /// Void the pending transfer named by `pending_id`.
        const VOID_PENDING_TRANSFER = 1 << 3;
        /// Clamp the amount to what the debit account's credits allow.
        const BALANCING_DEBIT = 1 << 4;
        /// Clamp the amount to what the credit account's debits allow.
        const BALANCING_CREDIT = 1 << 5;
        /// Close the debit account once this (pending) transfer is created.
        const CLOSING_DEBIT = 1 << 6;
        /// Close the credit account once this (pending) transfer is created.
        const CLOSING_CREDIT = 1 << 7;
        /// The event carries its own `timestamp` (bulk import of historical data).
        const IMPORTED = 1 << 8;
    }
}

/// An account: the four balances and the client's own reference data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Account {
    /// Client-chosen identifier, unique forever; also the idempotency key of its creation.
    pub id: u128,
    /// Sum of pending (reserved) debits.
    pub debits_pending: u128,
    /// Sum of posted debits.
    pub debits_posted: u128,
    /// Sum of pending (reserved) credits.
    pub credits_pending: u128,
    /// Sum of posted credits.
    pub credits_posted: u128,
    /// Opaque client data (e.g. a foreign key into the client's own database).
    pub user_data_128: u128,
    /// Opaque client data.
    pub user_data_64: u64,
    /// Opaque client data.
    pub user_data_32: u32,
    /// The ledger (e.g. currency) this account belongs to; transfers never cross ledgers.
    pub ledger: u32,
    /// Client-defined account type (chart-of-accounts code).
    pub code: u16,
    /// See [`AccountFlags`]; unknown bits are rejected.
    pub flags: u16,
    /// Ledger-assigned creation time in nanoseconds (unique across all events).
    pub timestamp: u64,
}

impl Account {
    /// The flags as a typed set, ignoring unknown bits.
    pub fn flags(&self) -> AccountFlags {
        AccountFlags::from_bits_truncate(self.flags)
    }
}

/// A transfer: one debit and one credit of the same amount on the same ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Transfer {
    /// Client-chosen identifier and idempotency key: never applied twice.
    pub id: u128,
    /// The account debited.
    pub debit_account_id: u128,
    /// The account credited.
    pub credit_account_id: u128,
    /// Amount in the ledger's minor units.
    pub amount: u128,
    /// For post/void transfers: the id of the pending transfer they resolve.
    pub pending_id: u128,
    /// Opaque client data.
    pub user_data_128: u128,
    /// Opaque client data.
    pub user_data_64: u64,
    /// Opaque client data.
    pub user_data_32: u32,
    /// For pending transfers: seconds until the reservation expires (0 = never).
    pub timeout: u32,
    /// The ledger of both accounts.
    pub ledger: u32,
    /// Client-defined reason for the transfer.
    pub code: u16,
    /// See [`TransferFlags`]; unknown bits are rejected.
    pub flags: u16,
    /// Ledger-assigned time in nanoseconds (unique across all events).
    pub timestamp: u64,
}

impl Transfer {
    /// The flags as a typed set, ignoring unknown bits.
    pub fn flags(&self) -> TransferFlags {
        TransferFlags::from_bits_truncate(self.flags)
    }

    /// Ledger time at which a pending transfer with a timeout expires, if it has one.
    pub fn expires_at(&self) -> Option<u64> {
        if self.timeout == 0 {
            return None;
        }
        // Validated at creation (`overflows_timeout`), so a stored transfer never saturates;
        // saturating keeps this total for any value a caller constructs.
        Some(
            self.timestamp
                .saturating_add(u64::from(self.timeout) * NS_PER_S),
        )
    }
}

/// The state of a pending transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PendingStatus {
    /// Reserved and not yet resolved.
    Pending = 1,
    /// Resolved by a post-pending transfer.
    Posted = 2,
    /// Resolved by a void-pending transfer.
    Voided = 3,
    /// Released by the ledger because its timeout passed.
    Expired = 4,
}

impl PendingStatus {
    /// Decodes the stored byte.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Pending),
            2 => Some(Self::Posted),
            3 => Some(Self::Voided),
            4 => Some(Self::Expired),
            _ => None,
        }
    }
}

/// An account's balances at one point in time (kept for accounts with the `history` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AccountBalance {
    /// Sum of pending debits after the change.
    pub debits_pending: u128,
    /// Sum of posted debits after the change.
    pub debits_posted: u128,
    /// Sum of pending credits after the change.
    pub credits_pending: u128,
    /// Sum of posted credits after the change.
    pub credits_posted: u128,
    /// Timestamp of the transfer (or expiry) that made the change.
    pub timestamp: u64,
}

bitflags! {
    /// Flags of an [`AccountFilter`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct AccountFilterFlags: u32 {
        /// Include transfers where the account is the debit side.
        const DEBITS = 1 << 0;
        /// Include transfers where the account is the credit side.
        const CREDITS = 1 << 1;
        /// Newest first.
        const REVERSED = 1 << 2;
    }
}

/// Selects one account's transfers or balance snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
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
    /// Inclusive lower bound (0 = none).
    pub timestamp_min: u64,
    /// Inclusive upper bound (0 = none).
    pub timestamp_max: u64,
    /// Maximum number of results, 1..=[`BATCH_MAX`].
    pub limit: u32,
    /// See [`AccountFilterFlags`].
    pub flags: u32,
}

bitflags! {
    /// Flags of a [`QueryFilter`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct QueryFilterFlags: u32 {
        /// Newest first.
        const REVERSED = 1 << 0;
    }
}

/// Selects accounts or transfers by their fields; every non-zero field must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
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
    /// Inclusive lower bound (0 = none).
    pub timestamp_min: u64,
    /// Inclusive upper bound (0 = none).
    pub timestamp_max: u64,
    /// Maximum number of results, 1..=[`BATCH_MAX`].
    pub limit: u32,
    /// See [`QueryFilterFlags`].
    pub flags: u32,
}
