//! The harness: makes each command concrete, runs it on the real ledger and on the model, and
//! compares outcomes, state, reads and replays.

use super::*;

/// Batch-mode fields common to accounts and transfers.
trait Event: Copy {
    const IMPORTED: u16;
    fn flags_mut(&mut self) -> &mut u16;
    fn timestamp_mut(&mut self) -> &mut u64;
}

impl Event for Account {
    const IMPORTED: u16 = AccountFlags::IMPORTED.bits();
    fn flags_mut(&mut self) -> &mut u16 {
        &mut self.flags
    }
    fn timestamp_mut(&mut self) -> &mut u64 {
        &mut self.timestamp
    }
}

impl Event for Transfer {
    const IMPORTED: u16 = TransferFlags::IMPORTED.bits();
    fn flags_mut(&mut self) -> &mut u16 {
        &mut self.flags
    }
    fn timestamp_mut(&mut self) -> &mut u64 {
        &mut self.timestamp
    }
}

fn home_ledger(id: u128) -> u32 {
    1 + (id % 2) as u32
}

/// Sets every event's imported flag and timestamp for the batch's mode, then applies `faults`.
fn stamp<E: Event>(events: &mut [E], spec: &CmdSpec, last_ts: u64, ctx: u64) {
    for (i, e) in events.iter_mut().enumerate() {
        *e.flags_mut() &= !E::IMPORTED;
        *e.timestamp_mut() = 0;
        if spec.imported {
            *e.flags_mut() |= E::IMPORTED;
            *e.timestamp_mut() = last_ts + 1 + 1000 * i as u64;
        }
    }
    if events.is_empty() {
        return;
    }
    for (index, fault) in &spec.faults {
        let i = index.index(events.len());
        let previous = if i == 0 {
            last_ts
        } else {
            *events[i - 1].timestamp_mut()
        };
        let e = &mut events[i];
        match fault {
            Fault::Timestamp if spec.imported => *e.timestamp_mut() = previous,
            Fault::Timestamp => *e.timestamp_mut() = ctx,
            Fault::FlipImported => *e.flags_mut() ^= E::IMPORTED,
            Fault::Zero => *e.timestamp_mut() = 0,
            Fault::Advance => *e.timestamp_mut() = ctx + 1,
            Fault::Regress => *e.timestamp_mut() = last_ts,
            Fault::TooBig => *e.timestamp_mut() = TS_MAX + 1,
        }
    }
}

/// The real ledger and the model side by side, with what is needed to make abstract commands
/// concrete: the leader's clock, the events sent so far, the next fresh transfer id.
#[derive(Debug)]
pub(crate) struct Harness {
    pub(crate) real: Ledger<MemStore>,
    pub(crate) model: Model,
    /// The leader's clock.
    clock: u64,
    /// Every command with its outcome (`None`: `ClockOutOfRange`).
    log: Vec<(Command, Context, Option<Outcome>)>,
    sent_accounts: Vec<Account>,
    sent_transfers: Vec<Transfer>,
    next_fresh: u128,
    /// Every id sent so far, plus the reserved ones, to read back after each command.
    account_ids: BTreeSet<u128>,
    transfer_ids: BTreeSet<u128>,
}

impl Harness {
    pub(crate) fn new(base: u64) -> Self {
        Self {
            real: Ledger::open(MemStore::new()).unwrap(),
            model: Model::default(),
            clock: base,
            log: Vec::new(),
            sent_accounts: Vec::new(),
            sent_transfers: Vec::new(),
            next_fresh: FRESH,
            account_ids: (0..=ACCOUNTS + 1).chain([u128::MAX]).collect(),
            transfer_ids: (0..=TRANSFERS + 1).chain([u128::MAX]).collect(),
        }
    }

    fn ledger_of(&self, id: u128) -> u32 {
        self.model
            .s
            .accounts
            .get(&id)
            .map_or(home_ledger(id), |a| a.ledger)
    }

    fn account(&mut self, spec: &AccountSpec) -> Account {
        let a = match *spec {
            AccountSpec::New {
                id,
                ledger,
                code,
                flags,
                user_data,
                fault,
            } => {
                let mut a = Account {
                    id,
                    ledger: ledger.unwrap_or(home_ledger(id)),
                    code,
                    flags,
                    user_data_128: user_data.into(),
                    user_data_64: user_data,
                    user_data_32: user_data as u32,
                    ..Account::default()
                };
                match fault {
                    None => {}
                    Some(AccountFault::Timestamp) => a.timestamp = 1,
                    Some(AccountFault::DebitsPending) => a.debits_pending = 1,
                    Some(AccountFault::DebitsPosted) => a.debits_posted = 2,
                    Some(AccountFault::CreditsPending) => a.credits_pending = 3,
                    Some(AccountFault::CreditsPosted) => a.credits_posted = 4,
                }
                a
            }
            AccountSpec::Retry(index, change) => {
                let Some(&a) = self
                    .sent_accounts
                    .get(index.index(self.sent_accounts.len().max(1)))
                else {
                    return Account {
                        id: 1,
                        ledger: 2,
                        code: 1,
                        ..Account::default()
                    };
                };
                let mut a = Account { timestamp: 0, ..a };
                match change {
                    None => {}
                    Some(0) => a.flags ^= AccountFlags::HISTORY.bits(),
                    Some(1) => a.flags ^= AccountFlags::CLOSED.bits(),
                    Some(2) => a.user_data_128 += 1,
                    Some(3) => a.user_data_64 += 1,
                    Some(4) => a.user_data_32 += 1,
                    Some(5) => a.ledger += 1,
                    Some(_) => a.code = a.code.wrapping_add(1),
                }
                a
            }
        };
        self.sent_accounts.push(a);
        a
    }

    fn id(&mut self, id: Id) -> u128 {
        match id {
            Id::Given(id) => id,
            Id::Fresh => {
                self.next_fresh += 1;
                self.next_fresh - 1
            }
        }
    }

    fn new_transfer(&mut self, s: &NewTransfer) -> Transfer {
        let dr = s.dr;
        let mut cr = s.cr;
        if s.same_ledger && (1..=ACCOUNTS).contains(&cr) {
            let want = self.ledger_of(dr);
            let candidates = (0..ACCOUNTS).map(|k| (cr - 1 + k) % ACCOUNTS + 1);
            if let Some(c) = candidates
                .filter(|&c| c != dr)
                .find(|&c| self.ledger_of(c) == want)
            {
                cr = c;
            }
        }
        let pending = s.flags & TransferFlags::PENDING.bits() != 0;
        Transfer {
            id: self.id(s.id),
            debit_account_id: dr,
            credit_account_id: cr,
            amount: s.amount,
            pending_id: s.pending_id,
            user_data_128: s.user_data.into(),
            user_data_64: s.user_data,
            user_data_32: s.user_data as u32,
            timeout: if pending || s.odd_timeout {
                s.timeout
            } else {
                0
            },
            ledger: s.ledger.unwrap_or(self.ledger_of(dr)),
            code: s.code,
            flags: s.flags,
            timestamp: 0,
        }
    }

    fn resolve(&mut self, s: &Resolve) -> Transfer {
        let live = self.model.live_pending();
        let sent: Vec<Transfer> = (self.sent_transfers.iter())
            .filter(|t| tf(t).contains(TransferFlags::PENDING))
            .copied()
            .collect();
        let pick_in = |v: &[Transfer], i: Index| (!v.is_empty()).then(|| v[i.index(v.len())]);
        let picked = match s.target {
            Target::Live(i) if !live.is_empty() => pick_in(&live, i),
            Target::Next if !live.is_empty() => {
                self.model.next_deadline().or(live.first().copied())
            }
            Target::Live(i) | Target::Sent(i) => pick_in(&sent, i),
            Target::Next | Target::Stray(_) => sent.first().copied(),
        };
        let stray = match s.target {
            Target::Stray(id) => Some(id),
            _ => None,
        };
        let pending_id = stray.or(picked.map(|p| p.id)).unwrap_or(1);
        // What the ledger holds under that id if anything, else what was sent.
        let p = (self.model.s.transfers.get(&pending_id).copied())
            .or(picked.filter(|p| p.id == pending_id))
            .unwrap_or_default();
        let pick = |field: Field, same: u128, wrong: u128| match field {
            Field::Inherit => 0,
            Field::Same => same,
            Field::Wrong => wrong,
        };
        let [dr, cr, ledger, code] = s.fields;
        Transfer {
            id: self.id(s.id),
            debit_account_id: pick(dr, p.debit_account_id, p.debit_account_id % ACCOUNTS + 1),
            credit_account_id: pick(cr, p.credit_account_id, p.credit_account_id % ACCOUNTS + 1),
            amount: match s.amount {
                ResolveAmount::Zero => 0,
                ResolveAmount::Full => p.amount,
                ResolveAmount::Half => p.amount / 2,
                ResolveAmount::Max => u128::MAX,
                ResolveAmount::Over => p.amount.saturating_add(1),
                ResolveAmount::Raw(x) => x,
            },
            pending_id,
            user_data_128: s.user_data.into(),
            user_data_64: s.user_data,
            user_data_32: s.user_data as u32,
            timeout: s.timeout,
            ledger: pick(ledger, p.ledger.into(), u128::from(p.ledger) + 1) as u32,
            code: pick(code, p.code.into(), u128::from(p.code) + 1) as u16,
            flags: s.flags,
            timestamp: 0,
        }
    }

    fn transfer(&mut self, spec: &TransferSpec) -> Transfer {
        let t = match spec {
            TransferSpec::New(s) => self.new_transfer(s),
            TransferSpec::Resolve(s) => self.resolve(s),
            TransferSpec::Retry(index, change) => {
                let len = self.sent_transfers.len();
                let Some(&t) = self.sent_transfers.get(index.index(len.max(1))) else {
                    return Transfer::default();
                };
                let mut t = t;
                match change {
                    None => {}
                    Some(0) => t.amount = t.amount.wrapping_add(1),
                    Some(1) => t.ledger += 1,
                    Some(2) => t.code = t.code.wrapping_add(1),
                    Some(3) => t.user_data_128 += 1,
                    Some(4) => t.user_data_64 += 1,
                    Some(5) => t.user_data_32 += 1,
                    Some(6) => t.debit_account_id = t.debit_account_id % ACCOUNTS + 1,
                    Some(7) => t.credit_account_id = t.credit_account_id % ACCOUNTS + 1,
                    Some(8) => t.pending_id = t.pending_id.wrapping_add(1),
                    Some(9) => t.timeout = t.timeout.wrapping_add(1),
                    Some(10) => t.flags ^= TransferFlags::BALANCING_DEBIT.bits(),
                    Some(11) => {
                        (t.debit_account_id, t.credit_account_id, t.ledger, t.code) = (0, 0, 0, 0)
                    }
                    Some(_) => t.amount = u128::MAX,
                }
                t
            }
        };
        self.sent_transfers.push(t);
        t
    }

    /// Moves the leader's clock; returns the command's leader time.
    fn advance(&mut self, spec: &CmdSpec) -> u64 {
        self.clock = match spec.clock {
            Clock::Same => self.clock,
            Clock::Forward(ns) => self.clock + ns,
            Clock::Back(ns) => self.clock.saturating_sub(ns),
            Clock::JumpSeconds(s) => self.clock + s * NS,
            Clock::Deadline(before) => match self.model.next_deadline() {
                Some(p) => expires_at(&p).unwrap() - before,
                None => self.clock,
            },
            Clock::NearMax(k) => return TS_MAX - k,
        };
        if spec.imported {
            // Leave room below the leader's clock for the imported timestamps.
            self.clock = self.clock.max(self.model.last_ts) + 1_000_000;
        }
        self.clock
    }

    fn command(&mut self, spec: &CmdSpec, ctx: u64) -> Command {
        let last_ts = self.model.last_ts;
        match &spec.step {
            Step::Pulse => Command::Pulse,
            Step::Accounts(specs) => {
                let mut events: Vec<Account> = specs.iter().map(|s| self.account(s)).collect();
                stamp(&mut events, spec, last_ts, ctx);
                Command::CreateAccounts(events)
            }
            Step::Transfers(specs) => {
                let mut events: Vec<Transfer> = specs.iter().map(|s| self.transfer(s)).collect();
                stamp(&mut events, spec, last_ts, ctx);
                Command::CreateTransfers(events)
            }
        }
    }

    pub(crate) fn run(&mut self, spec: &CmdSpec) {
        let ctx = Context {
            timestamp: self.advance(spec),
        };
        let cmd = self.command(spec, ctx.timestamp);
        self.execute(cmd, ctx);
    }

    /// Runs one command on both, demands the same outcome and then the same state.
    pub(crate) fn execute(&mut self, cmd: Command, ctx: Context) -> Option<Outcome> {
        let real = match &cmd {
            Command::CreateAccounts(v) => {
                self.account_ids.extend(v.iter().map(|a| a.id));
                self.real
                    .create_accounts_timed(v, &ctx)
                    .map(Outcome::Accounts)
            }
            Command::CreateTransfers(v) => {
                self.transfer_ids.extend(v.iter().map(|t| t.id));
                self.real
                    .create_transfers_timed(v, &ctx)
                    .map(Outcome::Transfers)
            }
            Command::Pulse => self.real.apply(&cmd, &ctx, None),
        };
        let real = clock_out_of_range(real);
        let model = self.model.apply(&cmd, ctx.timestamp);
        let n = self.log.len();
        assert_eq!(real, model, "command #{n} at {ctx:?}: {cmd:#?}");
        self.log.push((cmd, ctx, real.clone()));
        self.check_state(n);
        real
    }

    /// Every account and transfer id ever sent (and the reserved ones) reads back as the
    /// model's record, or as absent in both.
    pub(crate) fn check_state(&self, n: usize) {
        let store = self.real.store();
        let s = &self.model.s;
        assert_eq!(
            read_last_timestamp(store).unwrap(),
            self.model.last_ts,
            "clock after command #{n}"
        );
        let ids: Vec<u128> = self.account_ids.iter().copied().collect();
        let mut accounts = Vec::new();
        for ids in ids.chunks(BATCH_MAX) {
            let real = lookup_accounts(store, ids).unwrap();
            let model: Vec<Account> = ids
                .iter()
                .filter_map(|id| s.accounts.get(id).copied())
                .collect();
            assert_eq!(real, model, "accounts after command #{n}");
            accounts.extend(real);
        }
        let ids: Vec<u128> = self.transfer_ids.iter().copied().collect();
        for ids in ids.chunks(BATCH_MAX) {
            let real = lookup_transfers(store, ids).unwrap();
            let model: Vec<Transfer> = ids
                .iter()
                .filter_map(|id| s.transfers.get(id).copied())
                .collect();
            assert_eq!(real, model, "transfers after command #{n}");
        }
        check_invariants(&accounts);
        check_expiry_floor(store, n);
    }

    /// Replicas fed the same log end byte-identical: one through `Ledger::apply` with a tiny
    /// account cache, one through the pure `execute` with none.
    pub(crate) fn check_replay(&self) {
        let mut replay = Ledger::with_cache(MemStore::new(), 2).unwrap();
        let mut pure = Ledger::with_cache(MemStore::new(), 0).unwrap().into_store();
        for (cmd, ctx, outcome) in &self.log {
            assert_eq!(&clock_out_of_range(replay.apply(cmd, ctx, None)), outcome);
            let mut batch = WriteBatch::new();
            let out = clock_out_of_range(execute(&pure, cmd, ctx, &mut batch, None));
            assert_eq!(&out, outcome);
            pure.write(&batch).unwrap();
        }
        let hash = self.real.state_hash().unwrap();
        assert_eq!(replay.state_hash().unwrap(), hash);
        assert_eq!(state_hash(&pure).unwrap(), hash);
    }

    pub(crate) fn check_read(&self, r: &ReadSpec) {
        let store = self.real.store();
        let m = &self.model;
        let mut times: Vec<u64> = (m.s.transfers.values().map(|t| t.timestamp))
            .chain(m.s.accounts.values().map(|a| a.timestamp))
            .chain(m.s.history.values().flatten().map(|b| b.timestamp))
            .collect();
        times.sort();
        let at = |b: Bound| match b {
            Bound::Open => 0,
            Bound::Max => u64::MAX,
            Bound::Near(i, d) => {
                let t = times.get(i.index(times.len().max(1))).copied().unwrap_or(1);
                t.saturating_add_signed(d.into())
            }
        };
        let (u128_, u64_, u32_) = match r.user_data {
            None => (0, 0, 0),
            Some((0, v)) => (v.into(), 0, 0),
            Some((1, v)) => (0, v, 0),
            Some((_, v)) => (0, 0, v as u32),
        };
        let f = AccountFilter {
            account_id: r.account,
            user_data_128: u128_,
            user_data_64: u64_,
            user_data_32: u32_,
            code: r.code,
            timestamp_min: at(r.min),
            timestamp_max: at(r.max),
            limit: r.limit,
            flags: r.flags,
        };
        same(
            &format!("{f:?}"),
            get_account_transfers(store, &f),
            m.account_transfers(&f),
        );
        same(
            &format!("{f:?}"),
            get_account_balances(store, &f),
            m.account_balances(&f),
        );
        let q = QueryFilter {
            user_data_128: u128_,
            user_data_64: u64_,
            user_data_32: u32_,
            ledger: r.ledger,
            code: r.code,
            timestamp_min: f.timestamp_min,
            timestamp_max: f.timestamp_max,
            limit: r.limit,
            flags: r.flags >> 2,
        };
        self.check_queries(&q);
    }

    fn check_queries(&self, q: &QueryFilter) {
        let (store, m) = (self.real.store(), &self.model);
        let accounts = Model::query(q, m.s.accounts.values().copied(), |a| {
            (
                a.user_data_128,
                a.user_data_64,
                a.user_data_32,
                a.ledger,
                a.code,
                a.timestamp,
            )
        });
        same(&format!("{q:?}"), query_accounts(store, q), accounts);
        let transfers = Model::query(q, m.s.transfers.values().copied(), |t| {
            (
                t.user_data_128,
                t.user_data_64,
                t.user_data_32,
                t.ledger,
                t.code,
                t.timestamp,
            )
        });
        same(&format!("{q:?}"), query_transfers(store, q), transfers);
    }
}

/// The outcome, or `None` for `ClockOutOfRange` (the only error a command may give here).
fn clock_out_of_range(r: Result<Outcome, LedgerError>) -> Option<Outcome> {
    match r {
        Ok(outcome) => Some(outcome),
        Err(LedgerError::ClockOutOfRange { .. }) => None,
        Err(e) => panic!("command failed: {e}"),
    }
}

pub(crate) fn same<T: PartialEq + Debug>(
    what: &str,
    real: Result<Vec<T>, LedgerError>,
    model: Option<Vec<T>>,
) {
    match (real, model) {
        (Ok(r), Some(m)) => assert_eq!(r, m, "{what}"),
        (Err(LedgerError::InvalidFilter(_)), None) => {}
        (r, m) => panic!("{what}: real {r:?}, model {m:?}"),
    }
}

/// A sum of u128s that cannot overflow: (wraps, low part).
fn add_wide(sum: &mut (u32, u128), v: u128) {
    let (low, wrapped) = sum.1.overflowing_add(v);
    *sum = (sum.0 + u32::from(wrapped), low);
}

/// Money is conserved per ledger, and no account breaks its limit.
/// The scan for due pending transfers starts at `meta` `expiry_floor`: no `expiry` entry may
/// lie below it, or its transfer would never expire.
fn check_expiry_floor(store: &MemStore, n: usize) {
    use tally_ledger::keys;
    use tally_ledger::store::{Cf, KvRead, KEY_MAX};
    let mut floor = 0u64;
    store
        .get(Cf::Meta, keys::META_EXPIRY_FLOOR, &mut |v| {
            floor = u64::from_le_bytes(v.try_into().expect("8 bytes"))
        })
        .unwrap();
    store
        .scan(Cf::Expiry, &[], &KEY_MAX, false, &mut |k, _| {
            let (at, _) = keys::decode_expiry_key(k).unwrap();
            assert!(
                at >= floor,
                "expiry entry at {at} below the floor {floor} after command #{n}"
            );
            true
        })
        .unwrap();
}

fn check_invariants(accounts: &[Account]) {
    let mut sums: BTreeMap<u32, [(u32, u128); 4]> = BTreeMap::new();
    for a in accounts {
        let s = sums.entry(a.ledger).or_default();
        add_wide(&mut s[0], a.debits_pending);
        add_wide(&mut s[1], a.credits_pending);
        add_wide(&mut s[2], a.debits_posted);
        add_wide(&mut s[3], a.credits_posted);
        if af(a).contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS) {
            assert!(
                a.debits_pending + a.debits_posted <= a.credits_posted,
                "{a:?}"
            );
        }
        if af(a).contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS) {
            assert!(
                a.credits_pending + a.credits_posted <= a.debits_posted,
                "{a:?}"
            );
        }
    }
    for (ledger, s) in sums {
        assert_eq!(s[0], s[1], "pending on ledger {ledger}");
        assert_eq!(s[2], s[3], "posted on ledger {ledger}");
    }
}
