//! Accounts and balance snapshots with plain `u128` fields, and their wire conversions.

use tally_proto::{u128_from_wire, u128_to_wire, v1};

use crate::flags::AccountFlags;
use crate::Error;

/// An account: the four balances and the client's own reference data
/// (see `docs/reference/accounts.md`).
///
/// To create one, set `id`, `ledger`, `code` and optionally flags and user data; balances and
/// `timestamp` must stay 0 (the ledger assigns them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Account {
    /// Client-chosen identifier, unique forever; the idempotency key of its creation.
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
    /// The ledger (e.g. currency) the account belongs to; transfers never cross ledgers.
    pub ledger: u32,
    /// Client-defined account type, not 0.
    pub code: u16,
    /// Account flags.
    pub flags: AccountFlags,
    /// Ledger-assigned creation time in nanoseconds; 0 on creation unless imported.
    pub timestamp: u64,
}

impl Account {
    /// An account to create: `id` (use [`crate::id`]), its `ledger` and `code`.
    pub fn new(id: u128, ledger: u32, code: u16) -> Self {
        Self {
            id,
            ledger,
            code,
            ..Self::default()
        }
    }

    /// Adds `flags` to the account's flags.
    pub fn with_flags(mut self, flags: AccountFlags) -> Self {
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

    /// Posted credits minus posted debits, the balance of a liability or revenue account
    /// (`None` if negative).
    pub fn credit_balance(&self) -> Option<u128> {
        self.credits_posted.checked_sub(self.debits_posted)
    }

    /// Posted debits minus posted credits, the balance of an asset or expense account
    /// (`None` if negative).
    pub fn debit_balance(&self) -> Option<u128> {
        self.debits_posted.checked_sub(self.credits_posted)
    }
}

impl From<&Account> for v1::Account {
    fn from(a: &Account) -> Self {
        v1::Account {
            id: u128_to_wire(a.id),
            debits_pending: u128_to_wire(a.debits_pending),
            debits_posted: u128_to_wire(a.debits_posted),
            credits_pending: u128_to_wire(a.credits_pending),
            credits_posted: u128_to_wire(a.credits_posted),
            user_data_128: u128_to_wire(a.user_data_128),
            user_data_64: a.user_data_64,
            user_data_32: a.user_data_32,
            ledger: a.ledger,
            code: u32::from(a.code),
            flags: a.flags.bits(),
            timestamp: a.timestamp,
        }
    }
}

impl TryFrom<v1::Account> for Account {
    type Error = Error;

    /// Fails only on a `code` above 65535, which no Tally server sends.
    fn try_from(a: v1::Account) -> Result<Self, Error> {
        Ok(Account {
            id: u128_from_wire(a.id),
            debits_pending: u128_from_wire(a.debits_pending),
            debits_posted: u128_from_wire(a.debits_posted),
            credits_pending: u128_from_wire(a.credits_pending),
            credits_posted: u128_from_wire(a.credits_posted),
            user_data_128: u128_from_wire(a.user_data_128),
            user_data_64: a.user_data_64,
            user_data_32: a.user_data_32,
            ledger: a.ledger,
            code: code_from_wire(a.code)?,
            flags: AccountFlags::from_bits_retain(a.flags),
            timestamp: a.timestamp,
        })
    }
}

/// A 16-bit `code` from a server's answer.
pub(crate) fn code_from_wire(code: u32) -> Result<u16, Error> {
    u16::try_from(code).map_err(|_| Error::Internal {
        message: format!("server sent code {code}, above 65535"),
        indeterminate: false,
    })
}

/// An account's balances at one point in time (accounts with [`AccountFlags::HISTORY`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
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

impl From<v1::AccountBalance> for AccountBalance {
    fn from(b: v1::AccountBalance) -> Self {
        AccountBalance {
            debits_pending: u128_from_wire(b.debits_pending),
            debits_posted: u128_from_wire(b.debits_posted),
            credits_pending: u128_from_wire(b.credits_pending),
            credits_posted: u128_from_wire(b.credits_posted),
            timestamp: b.timestamp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_round_trips_through_the_wire_type() {
        let a = Account {
            id: u128::MAX - 1,
            debits_pending: 1,
            debits_posted: 2 << 64,
            credits_pending: 3,
            credits_posted: u128::MAX,
            user_data_128: 5,
            user_data_64: 6,
            user_data_32: 7,
            ledger: 8,
            code: u16::MAX,
            flags: AccountFlags::HISTORY | AccountFlags::from_bits_retain(1 << 20),
            timestamp: 1 << 62,
        };
        let wire = v1::Account::from(&a);
        assert_eq!(wire.flags, 8 | 1 << 20, "unknown bits travel unchanged");
        assert_eq!(Account::try_from(wire).unwrap(), a);
    }

    #[test]
    fn a_code_above_16_bits_from_the_server_is_an_error_not_a_truncation() {
        let wire = v1::Account {
            code: 65_536,
            ..Default::default()
        };
        let err = Account::try_from(wire).unwrap_err();
        assert!(err.to_string().contains("65536"), "{err}");
    }

    #[test]
    fn balances_are_none_when_negative() {
        let a = Account {
            debits_posted: 10,
            credits_posted: 4,
            ..Account::new(1, 1, 1)
        };
        assert_eq!(a.debit_balance(), Some(6));
        assert_eq!(a.credit_balance(), None);
    }
}
