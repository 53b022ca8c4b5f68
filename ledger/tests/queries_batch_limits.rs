//! The batch size limit: writes and lookups over `BATCH_MAX` events are rejected whole.

mod support;

use support::queries::*;
use support::*;
use tally_ledger::query::{lookup_accounts, lookup_transfers};
use tally_ledger::{Account, AccountFlags as AF, LedgerError, Transfer, BATCH_MAX};

fn assert_too_large<T: std::fmt::Debug>(r: Result<T, LedgerError>) {
    let want = (BATCH_MAX + 1, BATCH_MAX);
    assert!(
        matches!(r, Err(LedgerError::BatchTooLarge { len, max }) if (len, max) == want),
        "{r:?}"
    );
}

#[test]
fn batches_over_batch_max_are_rejected_whole() {
    let mut l = fixture();
    let hash = l.state_hash().unwrap();
    let accounts: Vec<Account> = (0..=BATCH_MAX as u128)
        .map(|i| acct(100 + i, 1, AF::empty()))
        .collect();
    assert_too_large(l.create_accounts(&accounts, &ctx(T1 + 2 * NS)));
    let transfers: Vec<Transfer> = (0..=BATCH_MAX as u128)
        .map(|i| tr(100 + i, 1, 2, 1))
        .collect();
    assert_too_large(l.create_transfers(&transfers, &ctx(T1 + 2 * NS)));
    // Nothing changed, not even the expiry that a valid batch at that time would have run.
    assert_eq!(l.state_hash().unwrap(), hash);
    assert_eq!(balances(&l, 1), (6, 4, 0, 6));
    let ids: Vec<u128> = (0..=BATCH_MAX as u128).collect();
    assert_too_large(lookup_accounts(l.store(), &ids));
    assert_too_large(lookup_transfers(l.store(), &ids));
    // Exactly BATCH_MAX is fine.
    let r = l
        .create_accounts(&accounts[..BATCH_MAX], &ctx(T1 + 2 * NS))
        .unwrap();
    assert!(r.iter().all(|r| r.as_u32() == 0));
    let created = account_ids(&accounts[..BATCH_MAX]);
    assert_eq!(
        lookup_accounts(l.store(), &created).unwrap().len(),
        BATCH_MAX
    );
}
