//! The column families: every one the ledger writes, with its stable name (the RocksDB column
//! family name). The names are part of the on-disk format and never change; the layout of
//! each family's keys and values is in the module of the same structure (see [`super`]).

/// A column family: one ordered key space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cf {
    /// Small named values: format version, last timestamp, applied position.
    Meta = 0,
    /// Account id -> account record, as of the last fold that included it (newer versions
    /// are in `AccountLog`).
    Accounts = 1,
    /// Account timestamp -> account id (creation order, for `query_accounts`).
    AccountsByTs = 2,
    /// Timestamp bucket (`timestamp >> 5`) -> the records of the transfers created in it,
    /// oldest first ([`crate::keys::transfer_bucket_key`]).
    Transfers = 3,
    /// Id bucket (`id >> 4`) -> for each of its ids that has one: created timestamp, or the
    /// transient failure that burned the id ([`crate::keys::id_bucket_key`]).
    TransferIds = 4,
    /// (account id, newest transfer timestamp) -> the account's transfers of a run of commands,
    /// packed ([`crate::keys::encode_account_transfers`]).
    AccountTransfers = 5,
    /// (account id, timestamp) -> balance snapshot, for accounts with `history`.
    AccountBalances = 6,
    /// Pending transfer timestamp -> status.
    Pending = 7,
    /// (expires_at, pending transfer timestamp) -> empty: pending transfers awaiting expiry.
    Expiry = 8,
    /// The account-index log, named `recent_index` on disk (for format compatibility): oldest
    /// transfer timestamp of a command -> the account-index items of its transfers, not yet
    /// folded into `AccountTransfers` ([`crate::keys::account_index_log`]).
    AccountIndexLog = 9,
    /// The account log, named `recent_accounts` on disk (for format compatibility): record
    /// number -> the accounts a command changed, not yet folded into `Accounts`
    /// ([`crate::keys::account_log`]).
    AccountLog = 10,
}

impl Cf {
    /// Every column family, in a fixed order (used by the state hash).
    pub const ALL: [Cf; 11] = [
        Cf::Meta,
        Cf::Accounts,
        Cf::AccountsByTs,
        Cf::Transfers,
        Cf::TransferIds,
        Cf::AccountTransfers,
        Cf::AccountBalances,
        Cf::Pending,
        Cf::Expiry,
        Cf::AccountIndexLog,
        Cf::AccountLog,
    ];

    /// The stable name (the RocksDB column family name).
    pub fn name(self) -> &'static str {
        match self {
            Cf::Meta => "meta",
            Cf::Accounts => "accounts",
            Cf::AccountsByTs => "accounts_by_ts",
            Cf::Transfers => "transfers",
            Cf::TransferIds => "transfer_ids",
            Cf::AccountTransfers => "account_transfers",
            Cf::AccountBalances => "account_balances",
            Cf::Pending => "pending",
            Cf::Expiry => "expiry",
            Cf::AccountIndexLog => "recent_index",
            Cf::AccountLog => "recent_accounts",
        }
    }
}
