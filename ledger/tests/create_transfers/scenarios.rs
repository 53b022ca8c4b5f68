//! Scenarios that check more than a result code: balances, stored fields, closing flags,
//! expiry and timestamps.

use super::*;
use tally_ledger::query::get_account_balances;
use tally_ledger::{keys, Cf, KvRead};
use tally_ledger::{
    AccountBalance, AccountFilter, AccountFilterFlags, Outcome, BATCH_MAX, EXPIRE_MAX,
};

fn at(l: &mut L, ts: u64, batch: &[Transfer]) -> Vec<R> {
    l.create_transfers(batch, &ctx(ts)).unwrap()
}

fn is_closed(l: &L, id: u128) -> bool {
    account(l, id).unwrap().flags().contains(AF::CLOSED)
}

fn pulse(l: &mut L, ts: u64) -> usize {
    match l.apply(&Command::Pulse, &ctx(ts), None).unwrap() {
        Outcome::Pulse { expired } => expired,
        other => panic!("pulse gave {other:?}"),
    }
}

#[test]
fn failed_chain_leaves_balances_unchanged() {
    let mut l = fixture();
    let chain = [
        linked(tr(10, A, B, 5)),
        linked(pend(11, A, C, 7)),
        tr(12, A, B, 1).with(|t| t.code = 0),
    ];
    let r = at(&mut l, T2, &chain);
    assert_eq!(
        r,
        [
            R::LinkedEventFailed,
            R::LinkedEventFailed,
            R::CodeMustNotBeZero
        ]
    );
    for id in [A, B, C] {
        assert_eq!(balances(&l, id), (0, 0, 0, 0));
    }
    assert_eq!(transfer(&l, 10), None);
    // Nothing was burned: the same chain, fixed, goes through.
    let fixed = [chain[0], chain[1], tr(12, A, B, 1)];
    assert_eq!(at(&mut l, T2, &fixed), [R::Ok, R::Ok, R::Ok]);
    assert_eq!(balances(&l, A), (7, 6, 0, 0));
}

#[test]
fn burned_ids_stay_burned_after_the_cause_is_gone() {
    let mut l = fixture();
    assert_eq!(
        at(&mut l, T2, &[tr(10, A, 50, 5)]),
        [R::CreditAccountNotFound]
    );
    let r = l
        .create_accounts(&[acct(50, 1, AF::empty())], &ctx(T2))
        .unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(at(&mut l, T2, &[tr(10, A, 50, 5)]), [R::IdAlreadyFailed]);
    assert_eq!(transfer(&l, 10), None);
    assert_eq!(balances(&l, A), (0, 0, 0, 0));
}

#[test]
fn balancing_stores_the_clamped_amount() {
    let mut l = fixture();
    let batch = [
        tr(9, B, A, 10),
        tr(10, A, C, 100).flag(F::BALANCING_DEBIT),
        tr(11, A, C, 100).flag(F::BALANCING_DEBIT),
        tr(12, D, B, 7),
        pend(13, C, D, 100).flag(F::BALANCING_CREDIT),
    ];
    assert_eq!(at(&mut l, T2, &batch), [R::Ok; 5]);
    assert_eq!(transfer(&l, 10).unwrap().amount, 10);
    assert_eq!(transfer(&l, 11).unwrap().amount, 0);
    assert_eq!(transfer(&l, 13).unwrap().amount, 7);
    assert_eq!(balances(&l, A), (0, 10, 0, 10));
    assert_eq!(balances(&l, D), (0, 7, 7, 0));
}

#[test]
fn post_and_void_move_balances_and_store_inherited_fields() {
    let mut l = fixture();
    let p = full(20).flag(F::PENDING);
    assert_eq!(at(&mut l, T2, &[p]), [R::Ok]);
    assert_eq!(
        (balances(&l, A), balances(&l, B)),
        ((5, 0, 0, 0), (0, 0, 5, 0))
    );
    let partial = post(21, 20, 3).with(|t| t.user_data_64 = 99);
    assert_eq!(at(&mut l, T2, &[partial]), [R::Ok]);
    assert_eq!(
        (balances(&l, A), balances(&l, B)),
        ((0, 3, 0, 0), (0, 0, 0, 3))
    );
    let stored = transfer(&l, 21).unwrap();
    let want = Transfer {
        id: 21,
        pending_id: 20,
        amount: 3,
        user_data_64: 99,
        flags: F::POST_PENDING_TRANSFER.bits(),
        timestamp: stored.timestamp,
        ..p
    };
    assert_eq!(stored, want);
    assert_eq!(
        at(&mut l, T2, &[pend(22, A, B, 4), void(23, 22)]),
        [R::Ok, R::Ok]
    );
    assert_eq!(transfer(&l, 23).unwrap().amount, 4);
    assert_eq!(
        (balances(&l, A), balances(&l, B)),
        ((0, 3, 0, 0), (0, 0, 0, 3))
    );
}

#[test]
fn closing_transfers_close_and_void_or_expiry_reopen() {
    let mut l = fixture();
    let close = |id, t: u32| timeout(pend(id, A, B, 1).flag(F::CLOSING_DEBIT), t);
    assert_eq!(at(&mut l, T2, &[close(20, 0)]), [R::Ok]);
    assert!(is_closed(&l, A) && !is_closed(&l, B));
    assert_eq!(at(&mut l, T2, &[void(21, 20)]), [R::Ok]);
    assert!(!is_closed(&l, A));
    assert_eq!(
        at(&mut l, T2, &[close(22, 0), post(23, 22, MAX)]),
        [R::Ok, R::DebitAccountAlreadyClosed]
    );
    assert!(is_closed(&l, A), "a closing transfer cannot be posted");

    let mut l = fixture();
    assert_eq!(at(&mut l, T2, &[close(20, 1)]), [R::Ok]);
    assert!(is_closed(&l, A));
    assert_eq!(pulse(&mut l, T2 + NS), 1);
    assert!(!is_closed(&l, A), "expiry reopens");
    assert_eq!(balances(&l, A), (0, 0, 0, 0));
}

fn history(l: &L, id: u128) -> Vec<AccountBalance> {
    let filter = AccountFilter {
        account_id: id,
        limit: 100,
        flags: (AccountFilterFlags::DEBITS | AccountFilterFlags::CREDITS).bits(),
        ..AccountFilter::default()
    };
    get_account_balances(l.store(), &filter).unwrap()
}

#[test]
fn expiry_releases_in_deadline_order_with_history() {
    let mut l = fixture();
    let batch = [
        timeout(pend(20, A, HIST, 5), 2),
        timeout(pend(21, HIST, B, 3), 1),
    ];
    assert_eq!(at(&mut l, T2, &batch), [R::Ok, R::Ok]);
    // 21 is due at T2 + 1 + NS, before 20 (T2 + 2 NS): it expires first.
    assert_eq!(pulse(&mut l, T2 + 3 * NS), 2);
    let snap = |ts, dp, cp| AccountBalance {
        debits_pending: dp,
        credits_pending: cp,
        timestamp: ts,
        ..AccountBalance::default()
    };
    let want = [
        snap(T2, 0, 5),
        snap(T2 + 1, 3, 5),
        snap(T2 + 3 * NS, 0, 5),
        snap(T2 + 3 * NS + 1, 0, 0),
    ];
    assert_eq!(history(&l, HIST), want);
    for id in [A, B, HIST] {
        assert_eq!(balances(&l, id), (0, 0, 0, 0));
    }
    assert_eq!(pulse(&mut l, T2 + 4 * NS), 0);
    assert_eq!(at(&mut l, T2, &[void(22, 20)]), [R::PendingTransferExpired]);
}

#[test]
fn expiry_runs_before_the_batch_and_takes_the_first_timestamps() {
    let mut l = fixture();
    assert_eq!(at(&mut l, T2, &[timeout(pend(20, A, HIST, 5), 1)]), [R::Ok]);
    assert_eq!(at(&mut l, T2 + NS, &[tr(30, B, HIST, 1)]), [R::Ok]);
    assert_eq!(transfer(&l, 30).unwrap().timestamp, T2 + NS + 1);
    let stamps: Vec<u64> = history(&l, HIST).iter().map(|b| b.timestamp).collect();
    assert_eq!(stamps, [T2, T2 + NS, T2 + NS + 1]);
}

#[test]
fn a_pending_transfer_resolved_in_its_own_batch_never_expires() {
    let mut l = fixture();
    let batch = [timeout(pend(20, A, B, 5), 1), post(21, 20, 2)];
    assert_eq!(at(&mut l, T2, &batch), [R::Ok, R::Ok]);
    assert_eq!(pulse(&mut l, T2 + 2 * NS), 0);
    assert_eq!(balances(&l, A), (0, 2, 0, 0));
    assert_eq!(
        at(&mut l, T2, &[void(22, 20)]),
        [R::PendingTransferAlreadyPosted]
    );
}

#[test]
fn account_batches_run_expiry_too() {
    let mut l = fixture();
    assert_eq!(at(&mut l, T2, &[timeout(pend(20, A, B, 5), 1)]), [R::Ok]);
    let r = l
        .create_accounts(&[acct(50, 1, AF::empty())], &ctx(T2 + NS))
        .unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(balances(&l, A), (0, 0, 0, 0));
    assert_eq!(account(&l, 50).unwrap().timestamp, T2 + NS + 1);
}

#[test]
fn expiry_releases_at_most_expire_max_per_command() {
    let mut l = fixture();
    let n = EXPIRE_MAX as u128 + 1;
    let pending: Vec<Transfer> = (1..=n)
        .map(|id| timeout(pend(1000 + id, A, B, 1), 1))
        .collect();
    for chunk in pending.chunks(BATCH_MAX) {
        assert!(at(&mut l, T2, chunk).iter().all(|r| *r == R::Ok));
    }
    assert_eq!(pulse(&mut l, T2 + 2 * NS), EXPIRE_MAX);
    assert_eq!(balances(&l, A), (1, 0, 0, 0));
    assert_eq!(pulse(&mut l, T2 + 2 * NS), 1);
    assert_eq!(balances(&l, A), (0, 0, 0, 0));
}

#[test]
fn timestamps_strictly_increase_even_when_leader_time_goes_back() {
    let mut l = fixture();
    let batch = [
        tr(10, A, B, 1),
        tr(11, A, B, 1).with(|t| t.code = 0),
        tr(12, A, B, 1),
    ];
    assert_eq!(at(&mut l, T2, &batch), [R::Ok, R::CodeMustNotBeZero, R::Ok]);
    let ts = |l: &L, id| transfer(l, id).unwrap().timestamp;
    // The failed event consumed T2 + 1.
    assert_eq!((ts(&l, 10), ts(&l, 12)), (T2, T2 + 2));
    assert_eq!(at(&mut l, T1, &[tr(13, A, B, 1)]), [R::Ok]);
    assert_eq!(
        ts(&l, 13),
        T2 + 3,
        "leader time went back; ledger time did not"
    );
    assert_eq!(at(&mut l, T2 + 100, &[tr(14, A, B, 1)]), [R::Ok]);
    assert_eq!(ts(&l, 14), T2 + 100);
}

#[test]
fn every_event_takes_a_tick_whatever_its_outcome() {
    let mut l = fixture();
    let batch = [
        linked(tr(10, A, B, 1)),
        linked(tr(11, A, A, 1)),
        linked(tr(12, A, B, 1)),
        tr(13, A, B, 1),
        tr(14, A, B, 1).with(|t| t.timestamp = 5),
        tr(15, A, B, 1),
        linked(tr(16, A, B, 1)),
    ];
    let timed = l.create_transfers_timed(&batch, &ctx(T2)).unwrap();
    let r = timed.codes;
    let lef = R::LinkedEventFailed;
    let want = [
        lef,
        R::AccountsMustBeDifferent,
        lef,
        lef,
        R::TimestampMustBeZero,
        R::Ok,
    ];
    assert_eq!(r[..6], want);
    assert_eq!(r[6], R::LinkedEventChainOpen);
    // Executed, skipped after the chain failed, rejected before the timestamp checks, or never
    // executed (the open chain's last event): each event took its tick, and its result says so.
    let ticks: Vec<u64> = (0..7).map(|i| T2 + i).collect();
    assert_eq!(timed.timestamps, ticks);
    assert_eq!(transfer(&l, 15).unwrap().timestamp, T2 + 5);
    assert_eq!(at(&mut l, T2, &[tr(17, A, B, 1)]), [R::Ok]);
    assert_eq!(transfer(&l, 17).unwrap().timestamp, T2 + 7);
}

#[test]
fn imported_transfers_keep_their_timestamps_and_ledger_time_stays_after_them() {
    let mut l = fixture();
    let batch = [
        tr(10, A, B, 1).imported(TI),
        tr(11, A, B, 1).imported(TI + 5),
    ];
    let r = l.create_transfers_timed(&batch, &ctx(T2)).unwrap();
    assert_eq!(r.codes, [R::Ok, R::Ok]);
    assert_eq!(r.timestamps, [TI, TI + 5]);
    assert_eq!(transfer(&l, 11).unwrap().timestamp, TI + 5);
    // A failed imported event carries its tick, T2 + 2 (the batch before took T2 and T2 + 1).
    let late = tr(12, A, B, 1).imported(TI + 9).with(|t| t.code = 0);
    let r = l.create_transfers_timed(&[late], &ctx(T2)).unwrap();
    assert_eq!(
        (r.codes, r.timestamps),
        (vec![R::CodeMustNotBeZero], vec![T2 + 2])
    );
    // Ledger time continues after the ticks, which are after every imported timestamp, even at
    // an earlier leader time.
    assert_eq!(at(&mut l, T1, &[tr(13, A, B, 1)]), [R::Ok]);
    assert_eq!(transfer(&l, 13).unwrap().timestamp, T2 + 3);
}

/// Accounts first, then transfers: an imported transfer may be earlier than the newest account
/// as long as it postdates its own two, and an imported account may be earlier than the newest
/// transfer as long as no transfer has its timestamp.
#[test]
fn imported_accounts_and_transfers_are_ordered_apart() {
    let mut l = ledger();
    let imp = |id| acct(id, 1, AF::empty()).imported(T0 + 10 * id as u64);
    let r = l
        .create_accounts(&[imp(1), imp(2), imp(3), imp(4)], &ctx(T1))
        .unwrap();
    assert!(r.iter().all(|r| r.as_u32() == 0), "{r:?}");
    // Between account 2 (T0 + 20) and account 3 (T0 + 30).
    let t = tr(10, 1, 2, 5).imported(T0 + 25);
    assert_eq!(at(&mut l, T1, &[t]), [R::Ok]);
    // Before the newest transfer, after both accounts: regresses.
    let t = tr(11, 3, 4, 5).imported(T0 + 24);
    assert_eq!(
        at(&mut l, T1, &[t]),
        [R::ImportedEventTimestampMustNotRegress]
    );
    // An account imported after the transfer's timestamp, before account 4's: regresses among
    // accounts. One after account 4 but before the newest transfer is fine, unless a transfer
    // has its timestamp.
    let later = |id, ts| acct(id, 1, AF::empty()).imported(ts);
    let ar = tally_ledger::CreateAccountResult::ImportedEventTimestampMustNotRegress;
    assert_eq!(
        l.create_accounts(&[later(5, T0 + 35)], &ctx(T1)).unwrap(),
        [ar]
    );
    let t = tr(12, 3, 4, 5).imported(T0 + 60);
    assert_eq!(at(&mut l, T1, &[t]), [R::Ok]);
    assert_eq!(
        l.create_accounts(&[later(5, T0 + 60)], &ctx(T1)).unwrap(),
        [ar]
    );
    let ok = tally_ledger::CreateAccountResult::Ok;
    assert_eq!(
        l.create_accounts(&[later(5, T0 + 50)], &ctx(T1)).unwrap(),
        [ok]
    );
    // Transfers onto account 5 still follow the newest transfer.
    let t = tr(13, 5, 1, 1).imported(T0 + 55);
    assert_eq!(
        at(&mut l, T1, &[t]),
        [R::ImportedEventTimestampMustNotRegress]
    );
    let t = tr(13, 5, 1, 1).imported(T0 + 61);
    assert_eq!(at(&mut l, T1, &[t]), [R::Ok]);
    let t = tr(14, 1, 5, 1).imported(T0 + 62);
    assert_eq!(at(&mut l, T1, &[t]), [R::Ok]);
    // Live events come after everything.
    assert_eq!(at(&mut l, T0, &[tr(15, 1, 2, 1)]), [R::Ok]);
    assert!(transfer(&l, 15).unwrap().timestamp > T1);
}

/// An expiry records a balance in a `history` account's history at its tick: an imported
/// transfer on that account must come after it, so its history stays in time order.
#[test]
fn imported_transfer_must_follow_the_history_an_expiry_recorded() {
    let mut l = ledger();
    let accounts = [
        acct(1, 1, AF::HISTORY),
        acct(2, 1, AF::empty()),
        acct(3, 1, AF::empty()),
    ];
    assert!(l
        .create_accounts(&accounts, &ctx(T0))
        .unwrap()
        .iter()
        .all(|r| r.as_u32() == 0));
    let p = pend(10, 1, 2, 5).with(|t| t.timeout = 1);
    assert_eq!(at(&mut l, T0, &[p]), [R::Ok]);
    // Expires at its tick, T0 + 5 s.
    assert_eq!(pulse(&mut l, T0 + 5 * NS), 1);
    let expired_at = T0 + 5 * NS;
    // After the newest transfer, but not after the expiry on account 1.
    let t = |id, dr, ts| tr(id, dr, 3, 1).imported(ts);
    let r = at(&mut l, T0 + 6 * NS, &[t(11, 1, expired_at)]);
    assert_eq!(r, [R::ImportedEventTimestampMustNotRegress]);
    // Account 2 keeps no history: fine there.
    assert_eq!(
        at(&mut l, T0 + 6 * NS, &[t(12, 2, expired_at - 1)]),
        [R::Ok]
    );
    assert_eq!(
        at(&mut l, T0 + 6 * NS, &[t(13, 1, expired_at + 1)]),
        [R::Ok]
    );
}

/// Ids 32..=47 share one `transfer_ids` entry (16 ids to an entry): records written by
/// different commands, created and burned, must each keep their own answer, and the entry must
/// hold exactly the ids recorded.
#[test]
fn ids_sharing_an_entry_across_commands_keep_their_own_records() {
    let mut l = fixture();
    let first = [tr(32, A, B, 1), tr(34, A, B, 2), pend(40, A, C, 5)];
    assert_eq!(at(&mut l, T2, &first), [R::Ok, R::Ok, R::Ok]);
    let second = [tr(33, A, B, 3), tr(35, MISSING, B, 1), post(41, 40, 5)];
    assert_eq!(
        at(&mut l, T2 + NS, &second),
        [R::Ok, R::DebitAccountNotFound, R::Ok]
    );
    let retries = [
        tr(32, A, B, 1),
        tr(33, A, B, 3),
        tr(35, A, B, 1),
        tr(47, A, B, 4),
        void(42, 40),
    ];
    assert_eq!(
        at(&mut l, T2 + 2 * NS, &retries),
        [
            R::Exists,
            R::Exists,
            R::IdAlreadyFailed,
            R::Ok,
            R::PendingTransferAlreadyPosted
        ]
    );
    for (id, amount) in [(32, 1), (33, 3), (34, 2), (40, 5), (41, 5), (47, 4)] {
        let t = transfer(&l, id).unwrap_or_else(|| panic!("transfer {id} missing"));
        assert_eq!((t.id, t.amount), (id, amount));
    }
    for id in [35, 36, 42, 48] {
        assert!(transfer(&l, id).is_none(), "{id} must not exist");
    }
    // One entry for the bucket, holding the six created ids and the burned one, in id order.
    let key = keys::id_bucket_key(keys::id_bucket(32));
    let mut slots = Vec::new();
    let found = l
        .store()
        .get(Cf::TransferIds, &key, &mut |v| {
            slots = keys::id_bucket_entries(v)
                .unwrap()
                .iter()
                .map(|e| e[0])
                .collect();
        })
        .unwrap();
    assert!(found);
    assert_eq!(slots, [0, 1, 2, 3, 8, 9, 15]);
}
