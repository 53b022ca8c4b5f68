//! Every key and value layout of the ledger's state, one file per on-disk structure, each
//! opening with its layout byte by byte.
//!
//! Keys are fixed-width big-endian integers, so byte order equals numeric order and range scans
//! walk time or ids in order. Values are little-endian records of fixed layout (fixed size,
//! except the bucketed `transfers` and `transfer_ids`, which hold 1 to 32 and 1 to 16 records,
//! the per-command log records, and `account_transfers`, a run of varints). The layout is
//! described byte by byte in `docs/internals/storage.md`; change both together, and bump
//! [`FORMAT_VERSION`] when a stored byte changes meaning.
//!
//! | column family (on disk) | module                | key -> value                                  |
//! |-------------------------|-----------------------|-----------------------------------------------|
//! | `meta`                  | [`meta`]              | name -> small value; the format version       |
//! | `accounts`              | [`accounts`]          | id -> account                                 |
//! | `accounts_by_ts`        | [`accounts`]          | timestamp -> account id                       |
//! | `transfers`             | [`transfers`]         | timestamp bucket -> transfer records          |
//! | `transfer_ids`          | [`transfer_ids`]      | id bucket -> created timestamp or failure     |
//! | `account_transfers`     | [`account_index`]     | (account, newest timestamp) -> packed items   |
//! | `account_balances`      | [`balances`]          | (account, timestamp) -> balances              |
//! | `pending`               | [`pending`]           | pending transfer's timestamp -> status        |
//! | `expiry`                | [`expiry`]            | (expires_at, timestamp) -> empty              |
//! | `recent_index`          | [`account_index_log`] | oldest timestamp of a command -> its items    |
//! | `recent_accounts`       | [`account_log`]       | record number -> a command's changed accounts |
//!
//! The column families and their names are in [`cf`]. `recent_index` and `recent_accounts`
//! keep the names they had when the format was written: a name is part of the format.
//!
//! This module depends only on [`crate::types`] and the crate's error types: it encodes and decodes,
//! and never reads a store.

mod codec;

pub mod account_index;
pub mod account_index_log;
pub mod account_log;
pub mod accounts;
pub mod balances;
pub mod cf;
pub mod expiry;
pub mod meta;
pub mod pending;
pub mod transfer_ids;
pub mod transfers;

pub use account_index::*;
pub use account_index_log::*;
pub use account_log::*;
pub use accounts::*;
pub use balances::*;
pub use cf::Cf;
pub use codec::{decode_ts_key, ts_key};
pub use expiry::*;
pub use meta::*;
pub use pending::*;
pub use transfer_ids::*;
pub use transfers::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_numerically() {
        assert!(ts_key(255) < ts_key(256));
        assert_eq!(decode_ts_key(&ts_key(256)).unwrap(), 256);
        assert!(account_ts_key(1, u64::MAX) < account_ts_key(2, 0));
        assert!(expiry_key(5, 9) < expiry_key(6, 0));
        assert_eq!(decode_expiry_key(&expiry_key(5, 9)).unwrap(), (5, 9));
    }
}
