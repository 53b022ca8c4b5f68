//! `Account` and `AccountBalance`.

use tally_ledger::{Account, AccountBalance};
use tally_proto::{u128_from_wire as from, u128_to_wire as to, v1};

use super::{code, flags, Invalid};

/// A wire account (event `index` of its request) as the core's.
pub fn account_from_wire(index: usize, a: &v1::Account) -> Result<Account, Invalid> {
    Ok(Account {
        id: from(a.id),
        debits_pending: from(a.debits_pending),
        debits_posted: from(a.debits_posted),
        credits_pending: from(a.credits_pending),
        credits_posted: from(a.credits_posted),
        user_data_128: from(a.user_data_128),
        user_data_64: a.user_data_64,
        user_data_32: a.user_data_32,
        ledger: a.ledger,
        code: code("account", index, a.code)?,
        flags: flags(a.flags),
        timestamp: a.timestamp,
    })
}

/// The core's account on the wire.
pub fn account_to_wire(a: &Account) -> v1::Account {
    v1::Account {
        id: to(a.id),
        debits_pending: to(a.debits_pending),
        debits_posted: to(a.debits_posted),
        credits_pending: to(a.credits_pending),
        credits_posted: to(a.credits_posted),
        user_data_128: to(a.user_data_128),
        user_data_64: a.user_data_64,
        user_data_32: a.user_data_32,
        ledger: a.ledger,
        code: u32::from(a.code),
        flags: u32::from(a.flags),
        timestamp: a.timestamp,
    }
}

/// A balance snapshot on the wire.
pub fn balance_to_wire(b: &AccountBalance) -> v1::AccountBalance {
    v1::AccountBalance {
        debits_pending: to(b.debits_pending),
        debits_posted: to(b.debits_posted),
        credits_pending: to(b.credits_pending),
        credits_posted: to(b.credits_posted),
        timestamp: b.timestamp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_field() {
        let a = Account {
            id: u128::MAX - 1,
            debits_pending: 1 << 100,
            debits_posted: 2,
            credits_pending: 3,
            credits_posted: u128::MAX,
            user_data_128: 5 << 64,
            user_data_64: 6,
            user_data_32: 7,
            ledger: 8,
            code: 65535,
            flags: 0x21,
            timestamp: 1 << 62,
        };
        assert_eq!(account_from_wire(0, &account_to_wire(&a)), Ok(a));
    }
}
