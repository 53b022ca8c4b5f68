//! `Transfer`.

use tally_ledger::Transfer;
use tally_proto::{u128_from_wire as from, u128_to_wire as to, v1};

use super::{code, flags, Invalid};

/// A wire transfer (event `index` of its request) as the core's.
pub fn transfer_from_wire(index: usize, t: &v1::Transfer) -> Result<Transfer, Invalid> {
    Ok(Transfer {
        id: from(t.id),
        debit_account_id: from(t.debit_account_id),
        credit_account_id: from(t.credit_account_id),
        amount: from(t.amount),
        pending_id: from(t.pending_id),
        user_data_128: from(t.user_data_128),
        user_data_64: t.user_data_64,
        user_data_32: t.user_data_32,
        timeout: t.timeout,
        ledger: t.ledger,
        code: code("transfer", index, t.code)?,
        flags: flags(t.flags),
        timestamp: t.timestamp,
    })
}

/// The core's transfer on the wire.
pub fn transfer_to_wire(t: &Transfer) -> v1::Transfer {
    v1::Transfer {
        id: to(t.id),
        debit_account_id: to(t.debit_account_id),
        credit_account_id: to(t.credit_account_id),
        amount: to(t.amount),
        pending_id: to(t.pending_id),
        user_data_128: to(t.user_data_128),
        user_data_64: t.user_data_64,
        user_data_32: t.user_data_32,
        timeout: t.timeout,
        ledger: t.ledger,
        code: u32::from(t.code),
        flags: u32::from(t.flags),
        timestamp: t.timestamp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_field() {
        let t = Transfer {
            id: u128::MAX - 1,
            debit_account_id: 1 << 90,
            credit_account_id: 2,
            amount: u128::MAX,
            pending_id: 3 << 64,
            user_data_128: 4,
            user_data_64: 5,
            user_data_32: 6,
            timeout: u32::MAX,
            ledger: 7,
            code: 8,
            flags: 0x1FF,
            timestamp: 9,
        };
        assert_eq!(transfer_from_wire(0, &transfer_to_wire(&t)), Ok(t));
    }

    #[test]
    fn absent_u128_fields_are_zero() {
        let t = transfer_from_wire(0, &v1::Transfer::default()).unwrap();
        assert_eq!(t, Transfer::default());
    }
}
