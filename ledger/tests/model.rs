//! Model test: random command sequences run against the real [`Ledger`] and against a naive,
//! independent model written from the specification (the pages in `docs/reference/`). After every
//! command both must agree on every result code, every field of every account and transfer
//! ever named, and the ledger clock; money must balance per ledger and limits must hold. At
//! the end of a case the account reads and queries must agree, and two replays of the log (one
//! through `Ledger::apply` with a tiny cache, one through the pure `execute`) must reach the
//! same state hash.
//!
//! # Layout
//!
//! - `model/reference.rs`: the model, the simplest code that can be checked by eye against
//!   the spec: ordered maps, flat runs of checks in the spec's order, and linked chains that
//!   clone the whole state and put the clone back when they fail.
//! - `model/strategy.rs`: what proptest generates: abstract commands (small colliding id
//!   spaces, retries, every flag, faults, imported batches, clock steps and jumps).
//! - `model/harness.rs`: makes each abstract command concrete against the model's state, runs
//!   it on both sides and compares.
//! - here: the property, and named tests for bugs found and for corners random cases seldom
//!   reach.
//!
//! `PROPTEST_CASES=20000 cargo test --release -p tally-ledger --test model` runs it for longer
//! (the default is 128 cases).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use proptest::prelude::*;
use proptest::sample::{select, Index};
use tally_ledger::query::{
    get_account_balances, get_account_transfers, lookup_accounts, lookup_transfers, query_accounts,
    query_transfers,
};
use tally_ledger::{
    execute, read_last_timestamp, state_hash, Account, AccountBalance, AccountFilter, AccountFlags,
    Command, Context, CreateAccountResult as AR, CreateTransferResult as TR, EventResults, KvStore,
    Ledger, LedgerError, MemStore, Outcome, QueryFilter, Transfer, TransferFlags, WriteBatch,
    BATCH_MAX,
};

/// Account ids in use are `1..=ACCOUNTS` (plus `ACCOUNTS + 1`, 0 and `u128::MAX`, rarely);
/// each case starts by creating `1..=SETUP`.
const ACCOUNTS: u128 = 8;
const SETUP: u128 = 6;
/// Transfer ids drawn at random are `1..=TRANSFERS` (plus 0 and `u128::MAX`, rarely), so they
/// collide often; fresh ids count up from `FRESH`.
const TRANSFERS: u128 = 40;
const FRESH: u128 = 1000;
const NS: u64 = 1_000_000_000;
const TS_MAX: u64 = (1 << 63) - 1;
/// A flag bit no flag set defines.
const RESERVED: u16 = 1 << 12;

#[path = "model/harness.rs"]
mod harness;
#[path = "model/reference.rs"]
mod reference;
#[path = "model/strategy.rs"]
mod strategy;

use harness::*;
use reference::*;
use strategy::*;

fn run_case(case: &Case) {
    let mut h = Harness::new(case.base);
    let setup = (1..=SETUP)
        .zip(&case.setup)
        .map(|(id, flags)| AccountSpec::New {
            id,
            ledger: None,
            code: 1,
            flags: flags & !AccountFlags::LINKED.bits(),
            user_data: 0,
            fault: None,
        });
    let setup = CmdSpec {
        clock: Clock::Same,
        step: Step::Accounts(setup.chain(case.extra.iter().cloned()).collect()),
        imported: false,
        faults: vec![],
    };
    for spec in std::iter::once(&setup).chain(&case.cmds) {
        h.run(spec);
    }
    for r in &case.reads {
        h.check_read(r);
    }
    h.check_replay();
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok());
    ProptestConfig {
        cases: cases.unwrap_or(128),
        max_shrink_iters: 4096,
        // Failures become named regression tests below, not a seed file.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn ledger_matches_model(case in case()) {
        run_case(&case);
    }
}

// ------------------------------------------------------------------------------------------
// Named tests: one per bug the model found, and corners the random cases seldom reach.
// ------------------------------------------------------------------------------------------

fn account(id: u128, flags: AccountFlags) -> Account {
    Account {
        id,
        ledger: 1,
        code: 1,
        flags: flags.bits(),
        ..Account::default()
    }
}

fn transfer(id: u128, amount: u128, flags: TransferFlags) -> Transfer {
    Transfer {
        id,
        debit_account_id: 1,
        credit_account_id: 2,
        amount,
        ledger: 1,
        code: 1,
        flags: flags.bits(),
        ..Transfer::default()
    }
}

fn resolve_transfer(id: u128, pending_id: u128, amount: u128, flags: TransferFlags) -> Transfer {
    Transfer {
        id,
        pending_id,
        amount,
        flags: flags.bits(),
        ..Transfer::default()
    }
}

/// Bug: a post or void of a pending transfer created earlier in the same batch failed the whole
/// command with `Store(Corrupt("pending transfer .. has no status"))`, because the new pending
/// transfer's status was only written when the batch was encoded.
#[test]
fn resolving_a_pending_transfer_created_in_the_same_batch() {
    let ctx = Context {
        timestamp: 1_700_000_000 * NS,
    };
    let mut ledger = Ledger::open(MemStore::new()).unwrap();
    let (none, history) = (AccountFlags::empty(), AccountFlags::HISTORY);
    let r = ledger.create_accounts(&[account(1, history), account(2, none)], &ctx);
    assert_eq!(r.unwrap(), vec![AR::Ok, AR::Ok]);
    let batch = [
        transfer(10, 30, TransferFlags::PENDING),
        resolve_transfer(11, 10, 20, TransferFlags::POST_PENDING_TRANSFER),
        transfer(12, 5, TransferFlags::PENDING),
        resolve_transfer(13, 12, 0, TransferFlags::VOID_PENDING_TRANSFER),
        resolve_transfer(14, 12, 0, TransferFlags::POST_PENDING_TRANSFER),
    ];
    let r = ledger.create_transfers(&batch, &ctx).unwrap();
    assert_eq!(
        r,
        [
            TR::Ok,
            TR::Ok,
            TR::Ok,
            TR::Ok,
            TR::PendingTransferAlreadyVoided
        ]
    );
    let a = lookup_accounts(ledger.store(), &[1, 2]).unwrap();
    assert_eq!((a[0].debits_pending, a[0].debits_posted), (0, 20));
    assert_eq!((a[1].credits_pending, a[1].credits_posted), (0, 20));
    // The statuses were stored too: a later batch sees both resolved.
    let again = [
        resolve_transfer(15, 10, 0, TransferFlags::VOID_PENDING_TRANSFER),
        resolve_transfer(16, 12, 0, TransferFlags::VOID_PENDING_TRANSFER),
    ];
    let r = ledger.create_transfers(&again, &ctx).unwrap();
    assert_eq!(
        r,
        [
            TR::PendingTransferAlreadyPosted,
            TR::PendingTransferAlreadyVoided
        ]
    );
}

/// Spec decision (made while this test was written): when a linked chain of an imported batch
/// fails, the clock goes back to where the chain started, so the corrected chain can be sent
/// again with the same timestamps. Non-imported events keep consuming theirs.
#[test]
fn imported_chain_rollback_gives_back_its_timestamps() {
    let t0 = 1_700_000_000 * NS;
    let mut h = Harness::new(t0);
    let accounts = vec![
        account(1, AccountFlags::empty()),
        account(2, AccountFlags::empty()),
    ];
    let ctx = |timestamp| Context { timestamp };
    h.execute(Command::CreateAccounts(accounts), ctx(t0));
    let imported = |id, timestamp, code, linked: bool| Transfer {
        code,
        timestamp,
        flags: TransferFlags::IMPORTED.bits() | if linked { 1 } else { 0 },
        ..transfer(id, 7, TransferFlags::empty())
    };
    let bad = vec![
        imported(10, t0 + 10, 1, true),
        imported(11, t0 + 11, 0, false),
    ];
    let r = h.execute(Command::CreateTransfers(bad), ctx(t0 + 1000));
    let failed = [TR::LinkedEventFailed, TR::CodeMustNotBeZero];
    // The rolled-back event keeps the timestamp it was given; the failure carries its
    // validation time. Each event took a tick of the clock.
    assert_eq!(
        transfer_results(&r),
        (failed.to_vec(), vec![t0 + 10, t0 + 1001])
    );
    assert_eq!(h.model.last_ts, t0 + 1001);
    let good = vec![
        imported(10, t0 + 10, 1, true),
        imported(11, t0 + 11, 1, false),
    ];
    let r = h.execute(Command::CreateTransfers(good), ctx(t0 + 1000));
    assert_eq!(
        transfer_results(&r),
        (vec![TR::Ok, TR::Ok], vec![t0 + 10, t0 + 11])
    );
    // A failed non-imported chain keeps the ticks of its events too.
    let linked = TransferFlags::LINKED;
    let plain = vec![
        transfer(12, 1, linked),
        transfer(12, 1, linked),
        transfer(13, 1, TransferFlags::empty()),
    ];
    let r = h.execute(Command::CreateTransfers(plain), ctx(t0));
    let failed = [TR::LinkedEventFailed, TR::Exists, TR::LinkedEventFailed];
    let stamps = vec![t0 + 1004, t0 + 1004, t0 + 1006];
    assert_eq!(transfer_results(&r), (failed.to_vec(), stamps));
    assert_eq!(h.model.last_ts, t0 + 1006);
    h.check_replay();
}

/// The codes and timestamps of a `create_transfers` outcome.
fn transfer_results(r: &Option<Outcome>) -> (Vec<TR>, Vec<u64>) {
    match r {
        Some(Outcome::Transfers(r)) => (r.codes.clone(), r.timestamps.clone()),
        other => panic!("not a create_transfers outcome: {other:?}"),
    }
}

/// Expiry releases at most `BATCH_MAX` pending transfers per command, earliest deadline first;
/// the rest wait for the next command.
#[test]
fn expiry_is_capped_per_command() {
    let t0 = 1_700_000_000 * NS;
    let mut h = Harness::new(t0);
    let ctx = |timestamp| Context { timestamp };
    let history = AccountFlags::HISTORY;
    let accounts = vec![account(1, history), account(2, AccountFlags::empty())];
    h.execute(Command::CreateAccounts(accounts), ctx(t0));
    // Distinct amounts make the order visible in the balances left pending.
    let pending = |id: u128, timeout| Transfer {
        timeout,
        ..transfer(FRESH + id, id + 1, TransferFlags::PENDING)
    };
    // Created later but due sooner: expire in the first round.
    let late: Vec<Transfer> = (0..3).map(|i| pending(BATCH_MAX as u128 + i, 1)).collect();
    let early = (0..BATCH_MAX as u128).map(|i| pending(i, 2)).collect();
    h.execute(Command::CreateTransfers(early), ctx(t0));
    h.execute(Command::CreateTransfers(late), ctx(t0 + 1));
    let r = h.execute(Command::Pulse, ctx(t0 + 3 * NS));
    assert_eq!(r, Some(Outcome::Pulse { expired: BATCH_MAX }));
    let left: u128 = (BATCH_MAX as u128 - 3..BATCH_MAX as u128)
        .map(|i| i + 1)
        .sum();
    assert_eq!(h.model.s.accounts[&1].debits_pending, left);
    let r = h.execute(Command::Pulse, ctx(t0 + 3 * NS));
    assert_eq!(r, Some(Outcome::Pulse { expired: 3 }));
    let f = AccountFilter {
        account_id: 1,
        limit: BATCH_MAX as u32,
        flags: 3,
        ..AccountFilter::default()
    };
    let model = h.model.account_balances(&f);
    same("balances", get_account_balances(h.real.store(), &f), model);
    h.check_replay();
}

/// A pending transfer is expired from its deadline on (`expires_at <= ts`), even before the
/// expiry pass of a later command has released it.
#[test]
fn post_or_void_on_the_deadline_is_expired() {
    let t0 = 1_700_000_000 * NS;
    let mut h = Harness::new(t0);
    let ctx = |timestamp| Context { timestamp };
    let accounts = vec![
        account(1, AccountFlags::empty()),
        account(2, AccountFlags::empty()),
    ];
    h.execute(Command::CreateAccounts(accounts), ctx(t0));
    let pending = |id| Transfer {
        timeout: 1,
        ..transfer(id, 10, TransferFlags::PENDING)
    };
    let r = h.execute(
        Command::CreateTransfers(vec![pending(1), pending(2)]),
        ctx(t0 + 10),
    );
    assert_eq!(transfer_results(&r).0, vec![TR::Ok, TR::Ok]);
    // The first pending transfer times out at t0 + 10 + 1s, the second 1ns later.
    let deadline = t0 + 10 + NS;
    let batch = vec![
        resolve_transfer(3, 1, u128::MAX, TransferFlags::POST_PENDING_TRANSFER),
        transfer(4, 1, TransferFlags::empty()),
        resolve_transfer(5, 2, 0, TransferFlags::VOID_PENDING_TRANSFER),
    ];
    let r = h.execute(Command::CreateTransfers(batch), ctx(deadline - 1));
    let expected = [TR::Ok, TR::Ok, TR::PendingTransferExpired];
    assert_eq!(transfer_results(&r).0, expected.to_vec());
    assert_eq!(
        h.execute(Command::Pulse, ctx(deadline)),
        Some(Outcome::Pulse { expired: 1 })
    );
    h.check_replay();
}
