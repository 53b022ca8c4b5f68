//! The command interface: [`execute`] (pure) and [`Ledger`] (execute, write, cache).

use crate::cache::{AccountCache, ACCOUNT_CACHE_DEFAULT};
use crate::error::{LedgerError, StoreError};
use crate::exec::{ChainRunner, Context, Exec, Scratch};
use crate::ops::{create_account::create_account, create_transfer::create_transfer, expire};
use crate::results::{CreateAccountResult, CreateTransferResult, EventResults};
use crate::store::{KvRead, KvStore, WriteBatch};
use crate::types::{Account, AccountFlags, Transfer, TransferFlags, BATCH_MAX};
use crate::{keys, store::Cf};

/// A write command: one batch of events, applied atomically as one unit of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Create accounts.
    CreateAccounts(Vec<Account>),
    /// Create transfers.
    CreateTransfers(Vec<Transfer>),
    /// Only advance ledger time: expire pending transfers that are due.
    Pulse,
}

/// The per-event results of a command, in event order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Results of [`Command::CreateAccounts`], with their timestamps.
    Accounts(EventResults<CreateAccountResult>),
    /// Results of [`Command::CreateTransfers`], with their timestamps.
    Transfers(EventResults<CreateTransferResult>),
    /// Result of [`Command::Pulse`]: how many pending transfers expired.
    Pulse {
        /// Pending transfers released.
        expired: usize,
    },
}

/// Runs `cmd` against `view` at leader time `ctx` and appends every change to `out`,
/// including `applied` (the caller's log position) if given. Pure: `view` is only read.
pub fn execute(
    view: &dyn KvRead,
    cmd: &Command,
    ctx: &Context,
    out: &mut WriteBatch,
    applied: Option<&[u8]>,
) -> Result<Outcome, LedgerError> {
    let mut scratch = Scratch::default();
    execute_cached(view, None, &mut scratch, cmd.as_ref(), ctx, out, applied)
}

/// A borrowed [`Command`], so callers holding slices need not copy them.
#[derive(Debug, Clone, Copy)]
enum Cmd<'a> {
    CreateAccounts(&'a [Account]),
    CreateTransfers(&'a [Transfer]),
    Pulse,
}

impl Command {
    fn as_ref(&self) -> Cmd<'_> {
        match self {
            Command::CreateAccounts(v) => Cmd::CreateAccounts(v),
            Command::CreateTransfers(v) => Cmd::CreateTransfers(v),
            Command::Pulse => Cmd::Pulse,
        }
    }
}

/// [`execute`] with an optional account cache, on reused working memory: `scratch` is
/// empty before and after (an error may leave it empty and without its allocations).
fn execute_cached(
    view: &dyn KvRead,
    cache: Option<&AccountCache>,
    scratch: &mut Scratch,
    cmd: Cmd<'_>,
    ctx: &Context,
    out: &mut WriteBatch,
    applied: Option<&[u8]>,
) -> Result<Outcome, LedgerError> {
    let len = match cmd {
        Cmd::CreateAccounts(v) => v.len(),
        Cmd::CreateTransfers(v) => v.len(),
        Cmd::Pulse => 0,
    };
    if len > BATCH_MAX {
        return Err(LedgerError::BatchTooLarge {
            len,
            max: BATCH_MAX,
        });
    }
    let mut x = Exec::new(view, cache, ctx, len, std::mem::take(scratch))?;
    // Each command uses at most one timestamp per event plus one per expiry.
    let first = ctx.timestamp.max(x.last_ts.saturating_add(1));
    let needed = len + crate::ops::expire::EXPIRE_MAX;
    if first.saturating_add(needed as u64) > crate::types::TIMESTAMP_MAX {
        return Err(LedgerError::ClockOutOfRange {
            timestamp: first,
            events: needed,
        });
    }
    let outcome = match cmd {
        Cmd::CreateAccounts(events) => Outcome::Accounts(run_accounts(&mut x, events)?),
        Cmd::CreateTransfers(events) => Outcome::Transfers(run_transfers(&mut x, events)?),
        Cmd::Pulse => Outcome::Pulse {
            expired: expire::expire_due(&mut x)?,
        },
    };
    x.encode(out, applied)?;
    *scratch = x.into_scratch();
    Ok(outcome)
}

/// Runs a `create_accounts` command's events, after the expiries due (unless imported).
fn run_accounts(
    x: &mut Exec<'_>,
    events: &[Account],
) -> Result<EventResults<CreateAccountResult>, StoreError> {
    let imported = events
        .first()
        .is_some_and(|a| a.flags().contains(AccountFlags::IMPORTED));
    x.prefetch_accounts(events.iter().map(|a| a.id))?;
    if imported {
        x.load_import_bounds()?;
    } else {
        expire::expire_due(x)?;
    }
    let runner = ChainRunner {
        ok: CreateAccountResult::Ok,
        linked_failed: CreateAccountResult::LinkedEventFailed,
        chain_open: CreateAccountResult::LinkedEventChainOpen,
    };
    runner.run(
        x,
        events,
        |a| a.flags().contains(AccountFlags::LINKED),
        |x, slot, a| create_account(x, a, imported, slot),
        |_, _, _| {},
    )
}

/// Runs a `create_transfers` command's events, after the expiries due (unless imported); a
/// transient failure burns its id.
fn run_transfers(
    x: &mut Exec<'_>,
    events: &[Transfer],
) -> Result<EventResults<CreateTransferResult>, StoreError> {
    let imported = events
        .first()
        .is_some_and(|t| t.flags().contains(TransferFlags::IMPORTED));
    if imported {
        x.load_import_bounds()?;
    } else {
        expire::expire_due(x)?;
    }
    x.prefetch_transfer_ids(events)?;
    x.prefetch_accounts(
        events
            .iter()
            .flat_map(|t| [t.debit_account_id, t.credit_account_id]),
    )?;
    let runner = ChainRunner {
        ok: CreateTransferResult::Ok,
        linked_failed: CreateTransferResult::LinkedEventFailed,
        chain_open: CreateTransferResult::LinkedEventChainOpen,
    };
    runner.run(
        x,
        events,
        |t| t.flags().contains(TransferFlags::LINKED),
        |x, slot, t| create_transfer(x, t, imported, slot),
        |x, t, r| {
            if r.is_transient() {
                x.failed.insert(t.id, r.as_u32());
            }
        },
    )
}

/// Clears `out` and puts only the caller's position `applied` in it: what
/// [`Ledger::record_applied`] writes, for a caller that writes batches itself
/// ([`Ledger::stage`]).
pub fn stage_applied(applied: &[u8], out: &mut WriteBatch) {
    out.clear();
    out.put(Cf::Meta, keys::META_APPLIED, applied);
}

/// A ledger over a store: executes commands, writes each as one atomic batch, caches accounts.
#[derive(Debug)]
pub struct Ledger<S> {
    store: S,
    cache: AccountCache,
    batch: WriteBatch,
    /// The executor's working memory, reused by every command.
    scratch: Scratch,
}

impl<S: KvStore> Ledger<S> {
    /// Opens a ledger on `store`, initialising an empty store and refusing another format.
    pub fn open(store: S) -> Result<Self, LedgerError> {
        Self::with_cache(store, ACCOUNT_CACHE_DEFAULT)
    }

    /// Like [`Ledger::open`] with an account cache of `capacity` entries.
    pub fn with_cache(mut store: S, capacity: usize) -> Result<Self, LedgerError> {
        let mut found = None;
        store.get(Cf::Meta, keys::META_FORMAT, &mut |v| {
            found = Some(v.try_into().map(u32::from_le_bytes).unwrap_or(u32::MAX))
        })?;
        match found {
            Some(v) if v == keys::FORMAT_VERSION => {}
            Some(v) => {
                return Err(LedgerError::FormatMismatch {
                    found: v,
                    expected: keys::FORMAT_VERSION,
                })
            }
            None => {
                let mut b = WriteBatch::new();
                b.put(
                    Cf::Meta,
                    keys::META_FORMAT,
                    &keys::FORMAT_VERSION.to_le_bytes(),
                );
                store.write(&b)?;
            }
        }
        Ok(Self {
            store,
            cache: AccountCache::new(capacity),
            batch: WriteBatch::new(),
            scratch: Scratch::default(),
        })
    }

    /// Executes `cmd` and writes its changes (and `applied`, if given) in one atomic batch.
    ///
    /// A command rejected deterministically ([`LedgerError::is_deterministic`]) changes no
    /// ledger state, but its `applied` position is still recorded before the error is
    /// returned, so a replica's position always advances past every log entry it consumed.
    pub fn apply(
        &mut self,
        cmd: &Command,
        ctx: &Context,
        applied: Option<&[u8]>,
    ) -> Result<Outcome, LedgerError> {
        self.apply_ref(cmd.as_ref(), ctx, applied)
    }

    fn apply_ref(
        &mut self,
        cmd: Cmd<'_>,
        ctx: &Context,
        applied: Option<&[u8]>,
    ) -> Result<Outcome, LedgerError> {
        let mut batch = std::mem::take(&mut self.batch);
        let outcome = self.stage_ref(cmd, ctx, applied, &mut batch);
        let written = match batch.is_empty() {
            true => Ok(()),
            false => self.store.write(&batch),
        };
        self.batch = batch;
        if let Err(e) = written {
            // The cache already holds the batch's accounts: forget them with the batch.
            self.cache.clear();
            return Err(e.into());
        }
        outcome
    }

    /// Executes `cmd` like [`Ledger::apply`], but leaves the write to the caller: `out` is
    /// cleared and receives the command's changes and `applied`, ready for [`KvStore::write`].
    ///
    /// For a command rejected deterministically ([`LedgerError::is_deterministic`]) `out` holds
    /// only the `applied` position, which must still be written; for any other error it is
    /// empty. The account cache already reflects `out` when this returns, so the caller must
    /// write `out` before anything reads this ledger's store again (the next `stage` or
    /// `apply` included), and must stop using this ledger if that write fails. This lets a
    /// caller answer a command as soon as it has run and write its effects on another thread
    /// (`tally-raft` does, with the Raft log as the write-ahead log).
    pub fn stage(
        &mut self,
        cmd: &Command,
        ctx: &Context,
        applied: Option<&[u8]>,
        out: &mut WriteBatch,
    ) -> Result<Outcome, LedgerError> {
        self.stage_ref(cmd.as_ref(), ctx, applied, out)
    }

    fn stage_ref(
        &mut self,
        cmd: Cmd<'_>,
        ctx: &Context,
        applied: Option<&[u8]>,
        out: &mut WriteBatch,
    ) -> Result<Outcome, LedgerError> {
        out.clear();
        let result = execute_cached(
            &self.store,
            Some(&self.cache),
            &mut self.scratch,
            cmd,
            ctx,
            out,
            applied,
        )
        .inspect(|_| {
            // The command's changed accounts at their new versions, as the executor left them
            // (no decoding of `out`). A fold also writes older records' accounts to `accounts`:
            // each was cached when its command ran, or has been evicted since.
            for a in self.scratch.changed_accounts() {
                self.cache.insert(*a);
            }
        });
        if let Err(e) = &result {
            out.clear();
            if e.is_deterministic() {
                if let Some(applied) = applied {
                    stage_applied(applied, out);
                }
            }
        }
        result
    }

    /// Records `applied` as the caller's position without changing ledger state: for log
    /// entries that carry no command (Raft blank and membership entries).
    pub fn record_applied(&mut self, applied: &[u8]) -> Result<(), LedgerError> {
        self.batch.clear();
        stage_applied(applied, &mut self.batch);
        self.store.write(&self.batch)?;
        Ok(())
    }

    /// Creates accounts; one result code per event ([`Ledger::create_accounts_timed`] also
    /// gives their timestamps).
    pub fn create_accounts(
        &mut self,
        events: &[Account],
        ctx: &Context,
    ) -> Result<Vec<CreateAccountResult>, LedgerError> {
        Ok(self.create_accounts_timed(events, ctx)?.codes)
    }

    /// Creates accounts; one result code and timestamp per event.
    pub fn create_accounts_timed(
        &mut self,
        events: &[Account],
        ctx: &Context,
    ) -> Result<EventResults<CreateAccountResult>, LedgerError> {
        match self.apply_ref(Cmd::CreateAccounts(events), ctx, None)? {
            Outcome::Accounts(r) => Ok(r),
            other => unreachable!("create_accounts produced {other:?}"),
        }
    }

    /// Creates transfers; one result code per event ([`Ledger::create_transfers_timed`] also
    /// gives their timestamps).
    pub fn create_transfers(
        &mut self,
        events: &[Transfer],
        ctx: &Context,
    ) -> Result<Vec<CreateTransferResult>, LedgerError> {
        Ok(self.create_transfers_timed(events, ctx)?.codes)
    }

    /// Creates transfers; one result code and timestamp per event.
    pub fn create_transfers_timed(
        &mut self,
        events: &[Transfer],
        ctx: &Context,
    ) -> Result<EventResults<CreateTransferResult>, LedgerError> {
        match self.apply_ref(Cmd::CreateTransfers(events), ctx, None)? {
            Outcome::Transfers(r) => Ok(r),
            other => unreachable!("create_transfers produced {other:?}"),
        }
    }

    /// The underlying store (for reads: see [`crate::query`]).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }

    /// The state hash of the underlying store (see [`crate::store::state_hash`]).
    pub fn state_hash(&self) -> Result<[u8; 32], LedgerError> {
        Ok(crate::store::state_hash(&self.store)?)
    }
}
