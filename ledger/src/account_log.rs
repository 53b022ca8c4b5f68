//! The account log: each command's changed accounts as one record ([`keys::account_log`],
//! `recent_accounts` on disk), folded into `accounts` every [`ACCOUNT_FOLD`] commands.
//!
//! An `accounts` entry per changed account would be one memtable insert per account a command
//! touches, about one per transfer with 10,000 accounts, and most of what the apply thread
//! spends in RocksDB (the apply benchmark runs 65% faster with those writes left out of seven
//! commands in eight). A command writes one record instead, and a fold writes each account the
//! last [`ACCOUNT_FOLD`] commands changed once. Both are written in the command's own batch, so
//! crash replay, snapshots and replicas need nothing new; a reader of an account reads the
//! records, newest first, before `accounts`.

use crate::keys::{self, AccountLogRecord, ACCOUNT_FOLD, ACCOUNT_SIZE};
use crate::read::read_meta_u64;
use crate::store::{try_scan, Cf, KvRead, StoreError, WriteBatch};
use crate::types::Account;

/// A command's changed accounts in id order, gathered once per command on reused memory.
#[derive(Debug, Default)]
pub(crate) struct Changed {
    accounts: Vec<Account>,
    /// (id, position in `accounts`), sorted.
    order: Vec<(u128, u32)>,
}

impl Changed {
    /// Replaces the contents with `accounts` (distinct ids, any order).
    pub(crate) fn fill<'a>(&mut self, accounts: impl Iterator<Item = &'a Account>) {
        self.accounts.clear();
        self.order.clear();
        for a in accounts {
            // A command changes at most two accounts per event (BATCH_MAX events).
            self.order.push((a.id, self.accounts.len() as u32));
            self.accounts.push(*a);
        }
        self.order.sort_unstable();
    }

    /// The accounts, in the order given to [`Changed::fill`].
    pub(crate) fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    fn sorted(&self) -> impl Iterator<Item = &Account> + '_ {
        self.order.iter().map(|&(_, i)| &self.accounts[i as usize])
    }

    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// Writes a command's changed accounts: as one new account-log record, or, when
/// [`ACCOUNT_FOLD`]` - 1` records are already stored, together with theirs to `accounts` (one
/// entry per account, the newest version), deleting those records.
pub(crate) fn encode(
    base: &dyn KvRead,
    changed: &Changed,
    value: &mut Vec<u8>,
    out: &mut WriteBatch,
) -> Result<(), StoreError> {
    if changed.is_empty() {
        return Ok(());
    }
    // The count, rather than a scan of the records' keys: a scan reads their values, up to
    // seven of a megabyte or two each (measured: a tenth of the apply thread).
    let stored = read_meta_u64(base, keys::META_ACCOUNT_LOG_COUNT)?;
    if stored >= ACCOUNT_FOLD as u64 {
        return Err(StoreError::Corrupt(
            "meta: bad account-log count (recent_accounts)".into(),
        ));
    }
    if stored + 1 < ACCOUNT_FOLD as u64 {
        value.clear();
        value.reserve(changed.order.len() * ACCOUNT_SIZE);
        for a in changed.sorted() {
            value.extend_from_slice(&keys::encode_account(a));
        }
        out.put(Cf::AccountLog, &keys::account_log_key(stored), value);
        out.put(
            Cf::Meta,
            keys::META_ACCOUNT_LOG_COUNT,
            &(stored + 1).to_le_bytes(),
        );
        return Ok(());
    }
    out.put(Cf::Meta, keys::META_ACCOUNT_LOG_COUNT, &0u64.to_le_bytes());
    fold(base, stored, changed, value, out)
}

/// Writes to `accounts`, in id order, the newest version of every account in the `stored`
/// records (numbers `0..stored`) and in `changed` (newest of all), and deletes the records.
/// `buf` holds the records' values meanwhile (reused: they are up to a few megabytes).
fn fold(
    base: &dyn KvRead,
    stored: u64,
    changed: &Changed,
    buf: &mut Vec<u8>,
    out: &mut WriteBatch,
) -> Result<(), StoreError> {
    // The stored records' values, newest first: the first to hold an account has its newest
    // version.
    buf.clear();
    let mut ranges = Vec::with_capacity(ACCOUNT_FOLD);
    for n in (0..stored).rev() {
        let key = keys::account_log_key(n);
        let start = buf.len();
        if !base.get(Cf::AccountLog, &key, &mut |v| buf.extend_from_slice(v))? {
            return Err(StoreError::Corrupt(format!(
                "recent_accounts: record {n} missing"
            )));
        }
        ranges.push(start..buf.len());
        out.delete(Cf::AccountLog, &key);
    }
    let records = ranges
        .into_iter()
        .map(|r| {
            let r = keys::account_log_record(&buf[r])?;
            r.check_order()?;
            Ok(r)
        })
        .collect::<Result<Vec<AccountLogRecord<'_>>, StoreError>>()?;
    let mut at = vec![0usize; records.len()];
    let mut mine = changed.sorted().peekable();
    loop {
        let mut next = mine.peek().map(|a| a.id);
        for (r, &i) in records.iter().zip(&at) {
            if i < r.len() {
                next = Some(next.map_or(r.id(i), |n| n.min(r.id(i))));
            }
        }
        let Some(id) = next else { break };
        let mut image = None;
        if mine.peek().is_some_and(|a| a.id == id) {
            image = mine.next().map(keys::encode_account);
        }
        for (r, i) in records.iter().zip(at.iter_mut()) {
            if *i < r.len() && r.id(*i) == id {
                image = image.or(Some(*r.image(*i)));
                *i += 1;
            }
        }
        let image = image.expect("the smallest id comes from some source");
        out.put(Cf::Accounts, &keys::id_key(id), &image);
    }
    Ok(())
}

/// The committed account `id`: its newest version in the account-log records, else its
/// `accounts` entry.
pub(crate) fn read(s: &dyn KvRead, id: u128) -> Result<Option<Account>, StoreError> {
    // Not a `Prefetched` of one id: this must not allocate (the executor's reads of accounts
    // it did not read ahead, such as a pending transfer's, come here one at a time).
    let mut found = None;
    try_scan(
        s,
        Cf::AccountLog,
        &keys::account_log_key(0),
        &keys::account_log_key(u64::MAX),
        true,
        |_, v| {
            found = keys::account_log_record(v)?.find(id)?;
            Ok::<_, StoreError>(found.is_none())
        },
    )?;
    if found.is_none() {
        let mut decoded = Ok(None);
        s.get(Cf::Accounts, &keys::id_key(id), &mut |v| {
            decoded = keys::decode_account(v).map(Some)
        })?;
        found = decoded?;
    }
    Ok(found)
}

/// Committed accounts read ahead of a command: one walk of the account-log records
/// (merged with the sorted ids) and one batched read of `accounts` for the rest. With more
/// accounts than the account cache holds, nearly every account a command names is a miss,
/// and a walk of the records per miss would cut the apply benchmark's throughput by 2 to 10
/// times (3M accounts).
#[derive(Debug, Default)]
pub(crate) struct Prefetched {
    /// Sorted, distinct.
    ids: Vec<u128>,
    /// `found[i]`: the committed account `ids[i]`, if it exists.
    found: Vec<Option<Account>>,
    keys: Vec<[u8; 16]>,
}

impl Prefetched {
    /// Forgets every account read, keeping the memory.
    pub(crate) fn clear(&mut self) {
        self.ids.clear();
        self.found.clear();
        self.keys.clear();
    }

    /// Reads the committed accounts `wanted` (any order, repeats allowed).
    pub(crate) fn load(
        &mut self,
        base: &dyn KvRead,
        wanted: impl Iterator<Item = u128>,
    ) -> Result<(), StoreError> {
        self.clear();
        self.ids.extend(wanted);
        if self.ids.is_empty() {
            return Ok(());
        }
        self.ids.sort_unstable();
        self.ids.dedup();
        self.found.resize(self.ids.len(), None);
        let (ids, found) = (&self.ids, &mut self.found);
        let mut resolved = vec![false; ids.len()];
        let mut visit = |v: &[u8]| -> Result<bool, StoreError> {
            // Both sorted: one merge of the ids with the record's rows.
            let record = keys::account_log_record(v)?;
            let mut row = 0;
            for (i, &id) in ids.iter().enumerate() {
                while row < record.len() && record.id(row) < id {
                    row += 1;
                }
                if row == record.len() {
                    break;
                }
                if record.id(row) == id && !resolved[i] {
                    resolved[i] = true;
                    found[i] = Some(keys::decode_account(record.image(row))?);
                }
            }
            Ok(resolved.iter().any(|r| !r))
        };
        try_scan(
            base,
            Cf::AccountLog,
            &keys::account_log_key(0),
            &keys::account_log_key(u64::MAX),
            true,
            |_, v| visit(v),
        )?;
        let unresolved: Vec<usize> = (0..ids.len()).filter(|&i| !resolved[i]).collect();
        self.keys
            .extend(unresolved.iter().map(|&i| keys::id_key(ids[i])));
        let refs: Vec<&[u8]> = self.keys.iter().map(|k| &k[..]).collect();
        let mut bad = Ok(());
        base.multi_get(
            Cf::Accounts,
            &refs,
            &mut |k, v| match keys::decode_account(v) {
                Ok(a) => found[unresolved[k]] = Some(a),
                Err(e) => bad = Err(e),
            },
        )?;
        bad
    }

    /// The committed account `id` if [`Prefetched::load`] read it: `Some(None)` = none.
    pub(crate) fn get(&self, id: u128) -> Option<Option<Account>> {
        self.ids.binary_search(&id).ok().map(|i| self.found[i])
    }
}
