//! Every key and value layout of the ledger's state, in one place.
//!
//! Keys are fixed-width big-endian integers, so byte order equals numeric order and range scans
//! walk time or ids in order. Values are little-endian records of fixed layout (fixed size,
//! except the bucketed `transfers` and `transfer_ids`, which hold 1 to 32 and 1 to 16 records,
//! and `account_transfers`, a run of varints: [`encode_account_transfers`]). The layout is
//! described byte by byte in `docs/internals/storage.md`; change both together, and bump
//! [`FORMAT_VERSION`] when a stored byte changes meaning.

use crate::store::{Cf, StoreError};
use crate::types::{Account, AccountBalance, PendingStatus, Transfer};

/// Version of the on-disk layout, stored under [`META_FORMAT`].
///
/// - 1: one `account_transfers` entry per (account, transfer).
/// - 2: one `account_transfers` entry per (account, command), packing that command's
///   transfers of the account ([`encode_account_transfers`]).
/// - 3: one `transfers` entry per bucket of [`TRANSFER_BUCKET_SPAN`] consecutive timestamps,
///   holding the records of the transfers created in it ([`transfer_bucket_key`]).
/// - 4: one `transfer_ids` entry per bucket of [`ID_BUCKET_SPAN`] consecutive ids
///   ([`id_bucket_key`], [`merge_id_bucket`]).
/// - 5: a command's account-index items go to one `recent_index` record, folded into
///   `account_transfers` entries every [`RECENT_FOLD`] commands.
/// - 6: a command's changed accounts go to one `recent_accounts` record, folded into
///   `accounts` every [`ACCOUNT_FOLD`] commands.
pub const FORMAT_VERSION: u32 = 6;

/// `meta` key: the layout version (u32 LE).
pub const META_FORMAT: &[u8] = b"format";
/// `meta` key: the last timestamp assigned to any event (u64 LE).
pub const META_LAST_TIMESTAMP: &[u8] = b"last_timestamp";
/// `meta` key: how many `recent_accounts` records are stored (u64 LE; absent = 0). They are
/// numbered from 0, so this is also the next record's number.
pub const META_RECENT_ACCOUNTS: &[u8] = b"recent_accounts";
/// `meta` key: the smallest timestamp a stored `recent_index` record's key can have (u64 LE;
/// absent = 0): the timestamp after the newest item of the last fold. The records are keyed
/// by time and deleted at each fold, so their tombstones pile up below the live ones until
/// compaction drops them; reads of the records and their count start here to skip them.
/// Rewritten at every fold, from the command, so every replica writes the same.
pub const META_RECENT_INDEX_FLOOR: &[u8] = b"recent_index_floor";
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

/// Size of an encoded [`Account`].
pub const ACCOUNT_SIZE: usize = 128;
/// Size of an encoded [`Transfer`].
pub const TRANSFER_SIZE: usize = 128;
/// Size of an encoded [`AccountBalance`].
pub const BALANCE_SIZE: usize = 72;

/// `account_transfers` value bit: the account is the transfer's debit side.
pub const SIDE_DEBIT: u8 = 1;
/// `account_transfers` value bit: the account is the transfer's credit side.
pub const SIDE_CREDIT: u8 = 2;

/// Key of `accounts` (by id).
pub fn id_key(id: u128) -> [u8; 16] {
    id.to_be_bytes()
}

/// Key of `accounts_by_ts`, `transfers` and `pending` (by timestamp).
pub fn ts_key(ts: u64) -> [u8; 8] {
    ts.to_be_bytes()
}

/// Key of `account_transfers` and `account_balances`: account id, then timestamp (for
/// `account_transfers`, the timestamp of the newest transfer the entry packs).
pub fn account_ts_key(account_id: u128, ts: u64) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..16].copy_from_slice(&account_id.to_be_bytes());
    k[16..].copy_from_slice(&ts.to_be_bytes());
    k
}

/// Key of `expiry`: expiry time, then the pending transfer's timestamp.
pub fn expiry_key(expires_at: u64, ts: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&expires_at.to_be_bytes());
    k[8..].copy_from_slice(&ts.to_be_bytes());
    k
}

/// Splits an `expiry` key into (expires_at, pending timestamp).
pub fn decode_expiry_key(k: &[u8]) -> Result<(u64, u64), StoreError> {
    let k: &[u8; 16] = k
        .try_into()
        .map_err(|_| corrupt(Cf::Expiry, "key length"))?;
    Ok((be_u64(&k[..8]), be_u64(&k[8..])))
}

/// Timestamp part of an `account_transfers` / `account_balances` key.
pub fn decode_account_ts_key(k: &[u8]) -> Result<u64, StoreError> {
    if k.len() != 24 {
        return Err(corrupt(Cf::AccountTransfers, "key length"));
    }
    Ok(be_u64(&k[16..]))
}

/// Decodes a big-endian u64 key.
pub fn decode_ts_key(k: &[u8]) -> Result<u64, StoreError> {
    if k.len() != 8 {
        return Err(corrupt(Cf::Transfers, "key length"));
    }
    Ok(be_u64(k))
}

/// log2 of [`TRANSFER_BUCKET_SPAN`].
pub const TRANSFER_BUCKET_BITS: u32 = 5;
/// Timestamps per `transfers` entry: the transfers whose timestamps share `ts >>`
/// [`TRANSFER_BUCKET_BITS`] are stored together, so a full command of transfers (consecutive
/// timestamps) costs one store record per 32 transfers instead of one each.
pub const TRANSFER_BUCKET_SPAN: usize = 1 << TRANSFER_BUCKET_BITS;

/// The `transfers` bucket that holds the transfer with timestamp `ts`.
pub fn transfer_bucket(ts: u64) -> u64 {
    ts >> TRANSFER_BUCKET_BITS
}

/// Key of the `transfers` entry holding the transfer with timestamp `ts`: its bucket number
/// (u64 BE).
pub fn transfer_bucket_key(ts: u64) -> [u8; 8] {
    ts_key(transfer_bucket(ts))
}

/// Timestamp of an encoded transfer record (its last 8 bytes), without decoding the rest.
pub fn record_timestamp(r: &[u8; TRANSFER_SIZE]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&r[TRANSFER_SIZE - 8..TRANSFER_SIZE]);
    u64::from_le_bytes(a)
}

/// The records of the `transfers` value of bucket `bucket`, oldest first, checked: a whole,
/// non-zero number of [`TRANSFER_SIZE`] records, at most [`TRANSFER_BUCKET_SPAN`], with
/// strictly increasing timestamps that all fall in the bucket.
pub fn transfer_bucket_records(
    bucket: u64,
    v: &[u8],
) -> Result<&[[u8; TRANSFER_SIZE]], StoreError> {
    let (records, rest) = v.as_chunks::<TRANSFER_SIZE>();
    if !rest.is_empty() || records.is_empty() || records.len() > TRANSFER_BUCKET_SPAN {
        return Err(corrupt(Cf::Transfers, "value length"));
    }
    let mut prev = None;
    for r in records {
        let ts = record_timestamp(r);
        if transfer_bucket(ts) != bucket || prev.is_some_and(|p| p >= ts) {
            return Err(corrupt(Cf::Transfers, "record timestamp"));
        }
        prev = Some(ts);
    }
    Ok(records)
}

/// The transfer with timestamp `ts` in `v`, the value of the `transfers` entry
/// [`transfer_bucket_key`]`(ts)`, if it holds one.
pub fn find_transfer(v: &[u8], ts: u64) -> Result<Option<Transfer>, StoreError> {
    let records = transfer_bucket_records(transfer_bucket(ts), v)?;
    match records.binary_search_by_key(&ts, record_timestamp) {
        Ok(i) => decode_transfer(&records[i]).map(Some),
        Err(_) => Ok(None),
    }
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    u64::from_be_bytes(a)
}

fn corrupt(cf: Cf, what: &str) -> StoreError {
    StoreError::Corrupt(format!("{}: bad {what}", cf.name()))
}

/// A little-endian field writer over a fixed buffer.
struct W<'a> {
    b: &'a mut [u8],
    at: usize,
}

impl W<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.b[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }
}

/// A little-endian field reader over a slice of checked length.
struct R<'a> {
    b: &'a [u8],
    at: usize,
}

impl R<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.b[self.at..self.at + N]);
        self.at += N;
        a
    }
    fn u128(&mut self) -> u128 {
        u128::from_le_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
}

/// Encodes an account: id, debits_pending, debits_posted, credits_pending, credits_posted,
/// user_data_128 (16 bytes each), user_data_64 (8), user_data_32 (4), reserved zero (4),
/// ledger (4), code (2), flags (2), timestamp (8).
pub fn encode_account(a: &Account) -> [u8; ACCOUNT_SIZE] {
    let mut b = [0u8; ACCOUNT_SIZE];
    let mut w = W { b: &mut b, at: 0 };
    w.put(&a.id.to_le_bytes());
    w.put(&a.debits_pending.to_le_bytes());
    w.put(&a.debits_posted.to_le_bytes());
    w.put(&a.credits_pending.to_le_bytes());
    w.put(&a.credits_posted.to_le_bytes());
    w.put(&a.user_data_128.to_le_bytes());
    w.put(&a.user_data_64.to_le_bytes());
    w.put(&a.user_data_32.to_le_bytes());
    w.put(&[0u8; 4]);
    w.put(&a.ledger.to_le_bytes());
    w.put(&a.code.to_le_bytes());
    w.put(&a.flags.to_le_bytes());
    w.put(&a.timestamp.to_le_bytes());
    debug_assert_eq!(w.at, ACCOUNT_SIZE);
    b
}

/// Decodes [`encode_account`]'s layout.
pub fn decode_account(b: &[u8]) -> Result<Account, StoreError> {
    if b.len() != ACCOUNT_SIZE {
        return Err(corrupt(Cf::Accounts, "value length"));
    }
    let mut r = R { b, at: 0 };
    let mut a = Account {
        id: r.u128(),
        debits_pending: r.u128(),
        debits_posted: r.u128(),
        credits_pending: r.u128(),
        credits_posted: r.u128(),
        user_data_128: r.u128(),
        user_data_64: r.u64(),
        user_data_32: r.u32(),
        ..Account::default()
    };
    let _reserved = r.u32();
    a.ledger = r.u32();
    a.code = r.u16();
    a.flags = r.u16();
    a.timestamp = r.u64();
    Ok(a)
}

/// Encodes a transfer: id, debit_account_id, credit_account_id, amount, pending_id,
/// user_data_128 (16 bytes each), user_data_64 (8), user_data_32 (4), timeout (4), ledger (4),
/// code (2), flags (2), timestamp (8).
pub fn encode_transfer(t: &Transfer) -> [u8; TRANSFER_SIZE] {
    let mut b = [0u8; TRANSFER_SIZE];
    let mut w = W { b: &mut b, at: 0 };
    w.put(&t.id.to_le_bytes());
    w.put(&t.debit_account_id.to_le_bytes());
    w.put(&t.credit_account_id.to_le_bytes());
    w.put(&t.amount.to_le_bytes());
    w.put(&t.pending_id.to_le_bytes());
    w.put(&t.user_data_128.to_le_bytes());
    w.put(&t.user_data_64.to_le_bytes());
    w.put(&t.user_data_32.to_le_bytes());
    w.put(&t.timeout.to_le_bytes());
    w.put(&t.ledger.to_le_bytes());
    w.put(&t.code.to_le_bytes());
    w.put(&t.flags.to_le_bytes());
    w.put(&t.timestamp.to_le_bytes());
    debug_assert_eq!(w.at, TRANSFER_SIZE);
    b
}

/// Decodes [`encode_transfer`]'s layout.
pub fn decode_transfer(b: &[u8]) -> Result<Transfer, StoreError> {
    if b.len() != TRANSFER_SIZE {
        return Err(corrupt(Cf::Transfers, "value length"));
    }
    let mut r = R { b, at: 0 };
    Ok(Transfer {
        id: r.u128(),
        debit_account_id: r.u128(),
        credit_account_id: r.u128(),
        amount: r.u128(),
        pending_id: r.u128(),
        user_data_128: r.u128(),
        user_data_64: r.u64(),
        user_data_32: r.u32(),
        timeout: r.u32(),
        ledger: r.u32(),
        code: r.u16(),
        flags: r.u16(),
        timestamp: r.u64(),
    })
}

/// Most bytes one `account_transfers` item takes: a LEB128 varint of up to 66 bits.
const PACKED_ITEM_MAX: usize = 10;

/// Encodes one account's transfers of a run of commands (a fold of `recent_index`, or one
/// command's row in a `recent_index` record), `items` newest first as (timestamp, side): the
/// value of the `account_transfers` entry keyed by (account, newest timestamp).
///
/// Each item is a LEB128 varint of `gap << 2 | side`, where `gap` is the distance in timestamp
/// from the item before it (the first item's predecessor is the key's timestamp, so its gap
/// is 0) and `side` is [`SIDE_DEBIT`] or [`SIDE_CREDIT`]. Timestamps must strictly decrease.
///
/// Why pack: one entry per (account, run of commands) instead of per (account, transfer) cuts
/// the account index's records by about 2 per command in a uniform load over 10,000 accounts
/// (each account shows up about twice per full command), by 8 more with folds of 8 commands,
/// and by orders of magnitude for hot accounts; every record costs a memtable insert on the
/// apply path and again in every flush and compaction.
pub fn encode_account_transfers(items: impl Iterator<Item = (u64, u8)>, out: &mut Vec<u8>) {
    out.clear();
    append_account_transfers(items, out);
}

/// [`encode_account_transfers`] appending to `out` instead of replacing it.
pub fn append_account_transfers(items: impl Iterator<Item = (u64, u8)>, out: &mut Vec<u8>) {
    let mut prev = None;
    for (ts, side) in items {
        let gap = prev.map_or(0, |p: u64| {
            debug_assert!(ts < p, "timestamps strictly decrease");
            p - ts
        });
        prev = Some(ts);
        let mut v = u128::from(gap) << 2 | u128::from(side & 3);
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
}

/// Decodes [`encode_account_transfers`]'s layout under key timestamp `newest`, appending the
/// (timestamp, side) items newest first to `out`.
pub fn decode_account_transfers(
    newest: u64,
    v: &[u8],
    out: &mut Vec<(u64, u8)>,
) -> Result<(), StoreError> {
    let bad = || corrupt(Cf::AccountTransfers, "value");
    if v.is_empty() {
        return Err(bad());
    }
    let (mut at, mut ts, mut first) = (0, newest, true);
    while at < v.len() {
        let mut item = 0u128;
        let mut shift = 0;
        loop {
            let byte = *v.get(at).ok_or_else(bad)?;
            at += 1;
            if shift >= 7 * PACKED_ITEM_MAX {
                return Err(bad());
            }
            item |= u128::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        let side = (item & 3) as u8;
        let gap = u64::try_from(item >> 2).map_err(|_| bad())?;
        // The first item sits at the key's timestamp; each later one strictly before the last.
        if side != SIDE_DEBIT && side != SIDE_CREDIT || (gap == 0) != first {
            return Err(bad());
        }
        first = false;
        ts = ts.checked_sub(gap).ok_or_else(bad)?;
        out.push((ts, side));
    }
    Ok(())
}

/// Encodes a balance snapshot: the four balances (16 bytes each), then timestamp (8).
pub fn encode_balance(b: &AccountBalance) -> [u8; BALANCE_SIZE] {
    let mut out = [0u8; BALANCE_SIZE];
    let mut w = W { b: &mut out, at: 0 };
    w.put(&b.debits_pending.to_le_bytes());
    w.put(&b.debits_posted.to_le_bytes());
    w.put(&b.credits_pending.to_le_bytes());
    w.put(&b.credits_posted.to_le_bytes());
    w.put(&b.timestamp.to_le_bytes());
    out
}

/// Decodes [`encode_balance`]'s layout.
pub fn decode_balance(b: &[u8]) -> Result<AccountBalance, StoreError> {
    if b.len() != BALANCE_SIZE {
        return Err(corrupt(Cf::AccountBalances, "value length"));
    }
    let mut r = R { b, at: 0 };
    Ok(AccountBalance {
        debits_pending: r.u128(),
        debits_posted: r.u128(),
        credits_pending: r.u128(),
        credits_posted: r.u128(),
        timestamp: r.u64(),
    })
}

/// Commands whose account-index items wait in `recent_index`, one record each, before the
/// command that would add the next record folds them all into `account_transfers` entries
/// (one per account per fold) instead. Every replica folds at the same commands: the count
/// is read from the store.
pub const RECENT_FOLD: usize = 8;

/// Size of one account's row in a `recent_index` record's table: account id (u128 BE), its
/// newest item's timestamp (u64 BE), where its packed items start (u32 LE).
pub const RECENT_ROW_SIZE: usize = 28;

/// One account's items in a `recent_index` record, as [`recent_rows`] reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentRow<'a> {
    /// The account.
    pub account: u128,
    /// Timestamp of its newest item (the packing's reference, as in an `account_transfers` key).
    pub newest: u64,
    /// Its items packed newest first ([`encode_account_transfers`]).
    pub packed: &'a [u8],
}

/// Appends to `out` a `recent_index` record of `rows`: (account, newest timestamp, packed
/// items), accounts strictly increasing. Layout: row count (u32 LE), the rows' table
/// ([`RECENT_ROW_SIZE`] each), then the packed items of every row, back to back.
pub fn encode_recent_record<'a>(
    rows: impl ExactSizeIterator<Item = (u128, u64, &'a [u8])> + Clone,
    out: &mut Vec<u8>,
) {
    let n = u32::try_from(rows.len()).expect("at most 2 rows per event of a command");
    out.extend_from_slice(&n.to_le_bytes());
    let mut offset = 0u32;
    for (account, newest, packed) in rows.clone() {
        out.extend_from_slice(&account.to_be_bytes());
        out.extend_from_slice(&newest.to_be_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        offset += u32::try_from(packed.len()).expect("a row's items fit in u32");
    }
    for (_, _, packed) in rows {
        out.extend_from_slice(packed);
    }
}

/// A `recent_index` record's rows. Checked here: a non-zero row count whose table fits in the
/// value. Each row's item range is checked when it is read ([`RecentRows::row`]), and the
/// account order when every row is read ([`RecentRows::check_order`], by a fold): a query
/// binary-searches the table, and a check of all its rows (8,000 at full batches, up to seven
/// records a query) doubled a history query's time.
pub fn recent_rows(v: &[u8]) -> Result<RecentRows<'_>, StoreError> {
    let bad = || corrupt(Cf::RecentIndex, "value");
    let n = v
        .get(..4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
        .ok_or_else(bad)?;
    let table_end = n
        .checked_mul(RECENT_ROW_SIZE)
        .and_then(|t| t.checked_add(4))
        .filter(|&e| n > 0 && e <= v.len())
        .ok_or_else(bad)?;
    let (table, rest) = v[4..table_end].as_chunks::<RECENT_ROW_SIZE>();
    debug_assert!(rest.is_empty());
    Ok(RecentRows {
        table,
        items: &v[table_end..],
    })
}

fn recent_row_fields(r: &[u8; RECENT_ROW_SIZE]) -> (u128, u64, u32) {
    (
        u128::from_be_bytes(r[..16].try_into().expect("16 bytes")),
        u64::from_be_bytes(r[16..24].try_into().expect("8 bytes")),
        u32::from_le_bytes(r[24..].try_into().expect("4 bytes")),
    )
}

/// The checked rows of a `recent_index` record ([`recent_rows`]).
#[derive(Debug, Clone, Copy)]
pub struct RecentRows<'a> {
    table: &'a [[u8; RECENT_ROW_SIZE]],
    items: &'a [u8],
}

impl<'a> RecentRows<'a> {
    /// How many accounts the record holds items of.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the record holds no rows (never, once checked).
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Row `i`, in account order; refused if its items do not lie within the value (the first
    /// row's start at 0, each row's end at the next row's start).
    pub fn row(&self, i: usize) -> Result<RecentRow<'a>, StoreError> {
        let (account, newest, start) = recent_row_fields(&self.table[i]);
        let end = match self.table.get(i + 1) {
            Some(next) => recent_row_fields(next).2 as usize,
            None => self.items.len(),
        };
        let start = start as usize;
        if (i == 0 && start != 0) || start > end || end > self.items.len() {
            return Err(corrupt(Cf::RecentIndex, "row"));
        }
        Ok(RecentRow {
            account,
            newest,
            packed: &self.items[start..end],
        })
    }

    /// Refuses a table whose accounts do not strictly increase.
    pub fn check_order(&self) -> Result<(), StoreError> {
        let accounts = self.table.iter().map(|r| recent_row_fields(r).0);
        if accounts.clone().zip(accounts.skip(1)).all(|(a, b)| a < b) {
            Ok(())
        } else {
            Err(corrupt(Cf::RecentIndex, "row order"))
        }
    }

    /// The row of `account`, found by binary search.
    pub fn find(&self, account: u128) -> Result<Option<RecentRow<'a>>, StoreError> {
        match self
            .table
            .binary_search_by_key(&account, |r| recent_row_fields(r).0)
        {
            Ok(i) => self.row(i).map(Some),
            Err(_) => Ok(None),
        }
    }
}

/// Commands whose changed accounts wait in `recent_accounts`, one record each, before the
/// command that would add the next record writes them all, and its own, to `accounts` instead
/// (one entry per account per fold). Every replica folds at the same commands: the count is
/// read from the store.
pub const ACCOUNT_FOLD: usize = 8;

/// The `recent_accounts` key of record number `n` (u64 BE; numbers restart at 0 after a fold).
pub fn recent_accounts_key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// A `recent_accounts` record's accounts: [`encode_account`]'s bytes of each, back to back,
/// ids strictly increasing. Checked here: a non-zero multiple of [`ACCOUNT_SIZE`] bytes. The
/// id order is checked when every row is read ([`RecentAccounts::check_order`], by a fold); a
/// read binary-searches the table and decodes only the row it finds.
pub fn recent_accounts(v: &[u8]) -> Result<RecentAccounts<'_>, StoreError> {
    let (table, rest) = v.as_chunks::<ACCOUNT_SIZE>();
    if table.is_empty() || !rest.is_empty() {
        return Err(corrupt(Cf::RecentAccounts, "value length"));
    }
    Ok(RecentAccounts { table })
}

/// The rows of a `recent_accounts` record ([`recent_accounts`]).
#[derive(Debug, Clone, Copy)]
pub struct RecentAccounts<'a> {
    table: &'a [[u8; ACCOUNT_SIZE]],
}

impl<'a> RecentAccounts<'a> {
    /// How many accounts the record holds.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the record holds no accounts (never, once checked).
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The id of row `i` (the first 16 bytes of [`encode_account`], LE).
    pub fn id(&self, i: usize) -> u128 {
        u128::from_le_bytes(self.table[i][..16].try_into().expect("16 bytes"))
    }

    /// The encoded account of row `i`.
    pub fn image(&self, i: usize) -> &'a [u8; ACCOUNT_SIZE] {
        &self.table[i]
    }

    /// Refuses a table whose ids do not strictly increase.
    pub fn check_order(&self) -> Result<(), StoreError> {
        match (1..self.len()).all(|i| self.id(i - 1) < self.id(i)) {
            true => Ok(()),
            false => Err(corrupt(Cf::RecentAccounts, "row order")),
        }
    }

    /// The account `id`, found by binary search.
    pub fn find(&self, id: u128) -> Result<Option<Account>, StoreError> {
        match self.table.binary_search_by_key(&id, |r| {
            u128::from_le_bytes(r[..16].try_into().expect("16"))
        }) {
            Ok(i) => decode_account(&self.table[i]).map(Some),
            Err(_) => Ok(None),
        }
    }
}

/// What `transfer_ids` knows about an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdRecord {
    /// Created; the value is the transfer's timestamp (its key in `transfers`).
    Created(u64),
    /// Failed transiently with this result code; the id is burned.
    Failed(u32),
}

/// log2 of [`ID_BUCKET_SPAN`].
pub const ID_BUCKET_BITS: u32 = 4;
/// Transfer ids per `transfer_ids` entry: the ids that share `id >>` [`ID_BUCKET_BITS`] are
/// stored together, so a command of consecutive ids (what a time-ordered generator such as the
/// client SDK's `id()` produces) costs one store record per 16 transfers instead of one each.
pub const ID_BUCKET_SPAN: usize = 1 << ID_BUCKET_BITS;
/// Size of one id's entry in a `transfer_ids` value: slot (1), tag (1), payload (u64 LE, 8).
pub const ID_ENTRY_SIZE: usize = 10;

/// The `transfer_ids` bucket that holds the record of transfer `id`.
pub fn id_bucket(id: u128) -> u128 {
    id >> ID_BUCKET_BITS
}

/// Key of the `transfer_ids` entry of bucket `bucket` (u128 BE).
pub fn id_bucket_key(bucket: u128) -> [u8; 16] {
    bucket.to_be_bytes()
}

/// The place of `id` in its bucket: its low [`ID_BUCKET_BITS`] bits.
fn id_slot(id: u128) -> u8 {
    // Lossless: the mask keeps 4 bits.
    (id & (ID_BUCKET_SPAN as u128 - 1)) as u8
}

/// Encodes `id`'s entry: slot, tag (0 created, 1 failed), then the timestamp or result code as
/// u64 LE.
pub fn encode_id_entry(id: u128, r: IdRecord) -> [u8; ID_ENTRY_SIZE] {
    let (tag, payload) = match r {
        IdRecord::Created(ts) => (0, ts),
        IdRecord::Failed(code) => (1, u64::from(code)),
    };
    let mut e = [0u8; ID_ENTRY_SIZE];
    e[0] = id_slot(id);
    e[1] = tag;
    e[2..].copy_from_slice(&payload.to_le_bytes());
    e
}

/// Decodes an entry of [`encode_id_entry`]: (slot, record).
fn decode_id_entry(e: &[u8; ID_ENTRY_SIZE]) -> Result<(u8, IdRecord), StoreError> {
    let payload = u64::from_le_bytes(e[2..].try_into().expect("8 bytes"));
    let record = match e[1] {
        0 => IdRecord::Created(payload),
        1 => IdRecord::Failed(
            u32::try_from(payload).map_err(|_| corrupt(Cf::TransferIds, "result code"))?,
        ),
        _ => return Err(corrupt(Cf::TransferIds, "tag")),
    };
    Ok((e[0], record))
}

/// The entries of a `transfer_ids` value, checked: a whole, non-zero number of
/// [`ID_ENTRY_SIZE`] entries whose slots are below [`ID_BUCKET_SPAN`] and strictly increase,
/// each with a valid tag and payload.
pub fn id_bucket_entries(v: &[u8]) -> Result<&[[u8; ID_ENTRY_SIZE]], StoreError> {
    let (entries, rest) = v.as_chunks::<ID_ENTRY_SIZE>();
    if !rest.is_empty() || entries.is_empty() {
        return Err(corrupt(Cf::TransferIds, "value length"));
    }
    let mut prev = None;
    for e in entries {
        let (slot, _) = decode_id_entry(e)?;
        if usize::from(slot) >= ID_BUCKET_SPAN || prev.is_some_and(|p| p >= slot) {
            return Err(corrupt(Cf::TransferIds, "slot"));
        }
        prev = Some(slot);
    }
    Ok(entries)
}

/// The record of `id` in `v`, the value of the `transfer_ids` entry of `id`'s bucket.
pub fn find_id_record(v: &[u8], id: u128) -> Result<Option<IdRecord>, StoreError> {
    let entries = id_bucket_entries(v)?;
    let slot = id_slot(id);
    match entries.binary_search_by_key(&slot, |e| e[0]) {
        Ok(i) => decode_id_entry(&entries[i]).map(|(_, r)| Some(r)),
        Err(_) => Ok(None),
    }
}

/// Appends to `out` the value of a bucket that holds the entries of `old` (its stored value, or
/// empty for a bucket not stored yet) and `new`: records of ids of one bucket, ids strictly
/// increasing. An id already in `old`, or twice in `new`, is refused as corrupt state: a
/// transfer id is written once, when it is created or burned, and never again.
pub fn merge_id_bucket(
    old: &[u8],
    new: &[(u128, IdRecord)],
    out: &mut Vec<u8>,
) -> Result<(), StoreError> {
    let old = if old.is_empty() {
        &[][..]
    } else {
        id_bucket_entries(old)?
    };
    let mut old = old.iter().peekable();
    let mut prev: Option<u128> = None;
    for &(id, r) in new {
        let slot = id_slot(id);
        while let Some(e) = old.next_if(|e| e[0] < slot) {
            out.extend_from_slice(e);
        }
        let twice = prev.is_some_and(|p| p >= id || id_bucket(p) != id_bucket(id));
        if twice || old.peek().is_some_and(|e| e[0] == slot) {
            return Err(StoreError::Corrupt(format!(
                "transfer_ids: id {id} recorded twice or out of order"
            )));
        }
        prev = Some(id);
        out.extend_from_slice(&encode_id_entry(id, r));
    }
    for e in old {
        out.extend_from_slice(e);
    }
    Ok(())
}

/// Decodes a `pending` value (one status byte).
pub fn decode_pending_status(b: &[u8]) -> Result<PendingStatus, StoreError> {
    match b {
        [v] => PendingStatus::from_u8(*v).ok_or_else(|| corrupt(Cf::Pending, "status")),
        _ => Err(corrupt(Cf::Pending, "value length")),
    }
}

/// Decodes a 16-byte little-endian id value (`accounts_by_ts`).
pub fn decode_id_value(b: &[u8]) -> Result<u128, StoreError> {
    let a: [u8; 16] = b
        .try_into()
        .map_err(|_| corrupt(Cf::AccountsByTs, "value length"))?;
    Ok(u128::from_le_bytes(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer_at(ts: u64) -> [u8; TRANSFER_SIZE] {
        encode_transfer(&Transfer {
            id: u128::from(ts),
            timestamp: ts,
            ..Transfer::default()
        })
    }

    #[test]
    fn transfer_buckets_find_their_records_and_refuse_malformed_values() {
        let base = 7 * TRANSFER_BUCKET_SPAN as u64;
        let v: Vec<u8> = [base, base + 3, base + 31]
            .iter()
            .flat_map(|&t| transfer_at(t))
            .collect();
        for ts in [base, base + 3, base + 31] {
            assert_eq!(find_transfer(&v, ts).unwrap().unwrap().timestamp, ts);
        }
        assert_eq!(find_transfer(&v, base + 4).unwrap(), None);
        assert_eq!(transfer_bucket_key(base + 31), 7u64.to_be_bytes());
        assert_eq!(transfer_bucket_key(base + 32), 8u64.to_be_bytes());
        let bad = |v: &[u8], why: &str| {
            assert!(
                matches!(transfer_bucket_records(7, v), Err(StoreError::Corrupt(_))),
                "{why}"
            );
        };
        bad(&[], "empty");
        bad(&v[..v.len() - 1], "truncated record");
        let swapped: Vec<u8> = [base + 3, base]
            .iter()
            .flat_map(|&t| transfer_at(t))
            .collect();
        bad(&swapped, "out of order");
        let twice: Vec<u8> = [base, base].iter().flat_map(|&t| transfer_at(t)).collect();
        bad(&twice, "repeated timestamp");
        bad(&transfer_at(base + 32), "record of another bucket");
        let full: Vec<u8> = (0..=TRANSFER_BUCKET_SPAN as u64)
            .flat_map(|i| transfer_at(base + i.min(31)))
            .collect();
        bad(&full, "more records than the bucket spans");
    }

    #[test]
    fn records_round_trip() {
        let a = Account {
            id: u128::MAX - 7,
            debits_pending: 1,
            debits_posted: 2,
            credits_pending: 3,
            credits_posted: u128::MAX,
            user_data_128: 5,
            user_data_64: 6,
            user_data_32: 7,
            ledger: 8,
            code: 9,
            flags: 10,
            timestamp: 11,
        };
        assert_eq!(decode_account(&encode_account(&a)).unwrap(), a);
        let t = Transfer {
            id: 1,
            debit_account_id: 2,
            credit_account_id: 3,
            amount: 4,
            pending_id: 5,
            user_data_128: 6,
            user_data_64: 7,
            user_data_32: 8,
            timeout: 9,
            ledger: 10,
            code: 11,
            flags: 12,
            timestamp: 13,
        };
        assert_eq!(decode_transfer(&encode_transfer(&t)).unwrap(), t);
        let b = AccountBalance {
            debits_pending: 1,
            debits_posted: 2,
            credits_pending: 3,
            credits_posted: 4,
            timestamp: 5,
        };
        assert_eq!(decode_balance(&encode_balance(&b)).unwrap(), b);
        assert!(decode_account(&[0u8; 5]).is_err());
        let items = [
            (u64::MAX, SIDE_DEBIT),
            (1 << 40, SIDE_CREDIT),
            (7, SIDE_DEBIT),
            (0, 2),
        ];
        let mut packed = Vec::new();
        encode_account_transfers(items.iter().copied(), &mut packed);
        let mut back = Vec::new();
        decode_account_transfers(u64::MAX, &packed, &mut back).unwrap();
        assert_eq!(back, items);
    }

    #[test]
    fn id_buckets_merge_find_and_refuse_malformed_values() {
        let bucket = 0xabc_u128;
        let id = |slot: u128| (bucket << ID_BUCKET_BITS) | slot;
        let mut v = Vec::new();
        merge_id_bucket(&[], &[(id(3), IdRecord::Created(77))], &mut v).unwrap();
        let mut merged = Vec::new();
        let new = [
            (id(0), IdRecord::Failed(38)),
            (id(9), IdRecord::Created(u64::MAX)),
            (id(15), IdRecord::Failed(u32::MAX)),
        ];
        merge_id_bucket(&v, &new, &mut merged).unwrap();
        assert_eq!(id_bucket_entries(&merged).unwrap().len(), 4);
        let expect = [
            (0, Some(IdRecord::Failed(38))),
            (3, Some(IdRecord::Created(77))),
            (9, Some(IdRecord::Created(u64::MAX))),
            (15, Some(IdRecord::Failed(u32::MAX))),
            (4, None),
        ];
        for (slot, r) in expect {
            assert_eq!(find_id_record(&merged, id(slot)).unwrap(), r, "slot {slot}");
        }
        assert_eq!(id_bucket(id(15)), bucket);
        assert!(id_bucket_key(bucket) < id_bucket_key(bucket + 1));

        // Writing an id twice, or ids of another bucket or out of order, is refused.
        let mut again = Vec::new();
        assert!(merge_id_bucket(&merged, &[(id(9), IdRecord::Failed(1))], &mut again).is_err());
        let twice = [(id(4), IdRecord::Failed(1)), (id(4), IdRecord::Created(1))];
        assert!(merge_id_bucket(&[], &twice, &mut again).is_err());
        let backwards = [(id(5), IdRecord::Failed(1)), (id(4), IdRecord::Created(1))];
        assert!(merge_id_bucket(&[], &backwards, &mut again).is_err());
        let other = [
            (id(5), IdRecord::Failed(1)),
            (id(5) + 16, IdRecord::Created(1)),
        ];
        assert!(merge_id_bucket(&[], &other, &mut again).is_err());

        // Malformed values: empty, a partial entry, a slot out of range, slots not increasing,
        // a bad tag, a result code past u32.
        let entry = |slot: u8, tag: u8, payload: u64| {
            let mut e = vec![slot, tag];
            e.extend_from_slice(&payload.to_le_bytes());
            e
        };
        let cases = [
            vec![],
            merged[..ID_ENTRY_SIZE + 3].to_vec(),
            entry(16, 0, 1),
            [entry(4, 0, 1), entry(4, 0, 2)].concat(),
            [entry(5, 0, 1), entry(4, 0, 2)].concat(),
            entry(1, 2, 1),
            entry(1, 1, u64::from(u32::MAX) + 1),
        ];
        for v in cases {
            assert!(id_bucket_entries(&v).is_err(), "{v:?} must be refused");
            assert!(find_id_record(&v, id(1)).is_err());
        }
    }

    /// Every malformed `account_transfers` value is refused, never misread: empty, truncated
    /// varint, a first item not at the key's timestamp, a later item not strictly older, a bad
    /// side, a gap past time zero, an over-long varint.
    #[test]
    fn packed_account_transfers_refuse_bad_values() {
        let mut back = Vec::new();
        let pack = |items: &[(u64, u8)]| {
            let mut v = Vec::new();
            encode_account_transfers(items.iter().copied(), &mut v);
            v
        };
        let good = pack(&[(100, 1), (90, 2)]);
        assert!(decode_account_transfers(100, &good, &mut back).is_ok());
        let cases: Vec<(u64, Vec<u8>)> = vec![
            (100, vec![]),
            (100, vec![0x81]),
            (100, vec![(3 << 2) | 1]),
            (100, vec![1, 1]),
            (100, vec![3]),
            (100, vec![0]),
            (5, good.clone()),
            (100, [vec![1], vec![0xff; 10], vec![0x01]].concat()),
        ];
        for (newest, v) in cases {
            back.clear();
            assert!(
                decode_account_transfers(newest, &v, &mut back).is_err(),
                "{newest} {v:?} must be refused"
            );
        }
    }

    #[test]
    fn recent_records_find_their_rows_and_refuse_malformed_values() {
        let mut a = Vec::new();
        append_account_transfers([(90, SIDE_DEBIT), (80, SIDE_CREDIT)].into_iter(), &mut a);
        let mut b = Vec::new();
        append_account_transfers([(85, SIDE_CREDIT)].into_iter(), &mut b);
        let mut v = Vec::new();
        encode_recent_record([(7u128, 90, &a[..]), (9, 85, &b[..])].into_iter(), &mut v);
        let rows = recent_rows(&v).unwrap();
        assert_eq!(rows.len(), 2);
        rows.check_order().unwrap();
        let row = rows.find(9).unwrap().unwrap();
        assert_eq!((row.account, row.newest, row.packed), (9, 85, &b[..]));
        assert_eq!(rows.find(7).unwrap().unwrap().packed, &a[..]);
        assert!(rows.find(8).unwrap().is_none());
        // Malformed: empty, no rows, a table past the end, accounts out of order, an offset
        // past the items or not starting at 0.
        let row = |account: u128, offset: u32| {
            let mut r = account.to_be_bytes().to_vec();
            r.extend_from_slice(&5u64.to_be_bytes());
            r.extend_from_slice(&offset.to_le_bytes());
            r
        };
        for v in [
            vec![],
            0u32.to_le_bytes().to_vec(),
            [2u32.to_le_bytes().to_vec(), row(1, 0)].concat(),
        ] {
            assert!(recent_rows(&v).is_err(), "{v:?} must be refused");
        }
        let out_of_order = [2u32.to_le_bytes().to_vec(), row(2, 0), row(1, 0), vec![1]].concat();
        assert!(recent_rows(&out_of_order).unwrap().check_order().is_err());
        let past_end = [2u32.to_le_bytes().to_vec(), row(1, 0), row(2, 5), vec![1]].concat();
        assert!(recent_rows(&past_end).unwrap().row(1).is_err());
        assert!(recent_rows(&past_end).unwrap().row(0).is_err());
        let not_at_zero = [1u32.to_le_bytes().to_vec(), row(1, 1), vec![1, 2]].concat();
        assert!(recent_rows(&not_at_zero).unwrap().row(0).is_err());
    }

    #[test]
    fn recent_accounts_records_find_their_accounts_and_refuse_malformed_values() {
        let account = |id: u128| Account {
            id,
            credits_posted: id * 10,
            ledger: 1,
            code: 2,
            timestamp: 99,
            ..Account::default()
        };
        let v: Vec<u8> = [3u128, 7, 1 << 100]
            .iter()
            .flat_map(|&id| encode_account(&account(id)))
            .collect();
        let r = recent_accounts(&v).unwrap();
        assert_eq!(r.len(), 3);
        r.check_order().unwrap();
        assert_eq!((r.id(0), r.id(2)), (3, 1 << 100));
        for id in [3u128, 7, 1 << 100] {
            assert_eq!(r.find(id).unwrap(), Some(account(id)));
        }
        assert_eq!(r.find(5).unwrap(), None);
        assert_eq!(r.find(0).unwrap(), None);
        // Malformed: empty, a partial account, ids out of order or repeated.
        assert!(recent_accounts(&[]).is_err());
        assert!(recent_accounts(&v[..v.len() - 1]).is_err());
        let swapped = [encode_account(&account(7)), encode_account(&account(3))].concat();
        assert!(recent_accounts(&swapped).unwrap().check_order().is_err());
        let twice = [encode_account(&account(7)), encode_account(&account(7))].concat();
        assert!(recent_accounts(&twice).unwrap().check_order().is_err());
    }

    #[test]
    fn keys_sort_numerically() {
        assert!(ts_key(255) < ts_key(256));
        assert!(account_ts_key(1, u64::MAX) < account_ts_key(2, 0));
        assert!(expiry_key(5, 9) < expiry_key(6, 0));
        assert_eq!(decode_expiry_key(&expiry_key(5, 9)).unwrap(), (5, 9));
    }
}
