//! `meta`: small named values, and the version of the whole on-disk format.
//!
//! Key: the ASCII name, as the constants below spell it. Value, by key:
//!
//! | key                  | bytes | value                                                |
//! |----------------------|-------|------------------------------------------------------|
//! | `format`             | 0..4  | [`FORMAT_VERSION`] of the layout, u32 LE             |
//! | `last_timestamp`     | 0..8  | last timestamp assigned to any event, u64 LE         |
//! | `recent_accounts`    | 0..8  | number of `account_log` records, u64 LE              |
//! | `recent_index_floor` | 0..8  | lowest key of an `account_index_log` record, u64 LE  |
//! | `expiry_floor`       | 0..8  | no `expiry` entry expires before it, u64 LE          |
//! | `applied`            | any   | the caller's applied position, opaque                |
//!
//! An absent u64 value reads as 0. `applied` is excluded from the state hash.

/// Version of the on-disk layout, stored under [`META_FORMAT`].
///
/// - 1: one `account_transfers` entry per (account, transfer).
/// - 2: one `account_transfers` entry per (account, command), packing that command's
///   transfers of the account ([`super::encode_account_transfers`]).
/// - 3: one `transfers` entry per bucket of [`super::TRANSFER_BUCKET_SPAN`] consecutive
///   timestamps, holding the records of the transfers created in it
///   ([`super::transfer_bucket_key`]).
/// - 4: one `transfer_ids` entry per bucket of [`super::ID_BUCKET_SPAN`] consecutive ids
///   ([`super::id_bucket_key`], [`super::merge_id_bucket`]).
/// - 5: a command's account-index items go to one `recent_index` record, folded into
///   `account_transfers` entries every [`super::INDEX_FOLD`] commands.
/// - 6: a command's changed accounts go to one `recent_accounts` record, folded into
///   `accounts` every [`super::ACCOUNT_FOLD`] commands.
pub const FORMAT_VERSION: u32 = 6;

/// `meta` key: the layout version (u32 LE).
pub const META_FORMAT: &[u8] = b"format";
/// `meta` key: the last timestamp assigned to any event (u64 LE).
pub const META_LAST_TIMESTAMP: &[u8] = b"last_timestamp";
/// `meta` key: how many `recent_accounts` records are stored (u64 LE; absent = 0). They are
/// numbered from 0, so this is also the next record's number.
pub const META_ACCOUNT_LOG_COUNT: &[u8] = b"recent_accounts";
/// `meta` key: the smallest timestamp a stored `recent_index` record's key can have (u64 LE;
/// absent = 0): the timestamp after the newest item of the last fold. The records are keyed
/// by time and deleted at each fold, so their tombstones pile up below the live ones until
/// compaction drops them; reads of the records and their count start here to skip them.
/// Rewritten at every fold, from the command, so every replica writes the same.
pub const META_INDEX_LOG_FLOOR: &[u8] = b"recent_index_floor";
/// `meta` key: no `expiry` entry expires before this time (u64 LE, ns of ledger time; absent =
/// 0). Every expired or resolved entry is deleted, and its tombstone stays below the live ones
/// until compaction drops it; the scan for due entries, run by every command, starts here to
/// skip them. Raised by a command that assigns a timestamp, to just past the time its scan
/// covered (to the last entry it expired, if it hit [`crate::EXPIRE_MAX`]): a
/// pending transfer created later expires after its own, later, timestamp.
pub const META_EXPIRY_FLOOR: &[u8] = b"expiry_floor";
/// `meta` key: the caller's applied position (opaque bytes, e.g. a Raft log id), written in the
/// same atomic batch as the state it describes. Excluded from the state hash.
pub const META_APPLIED: &[u8] = b"applied";
