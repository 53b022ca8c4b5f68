//! Lookups by id: request order kept, missing and burned ids skipped.

mod support;

use support::queries::*;
use support::*;
use tally_ledger::query::{lookup_accounts, lookup_transfers};
use tally_ledger::CreateTransferResult as R;

#[test]
fn lookups_keep_request_order_and_skip_missing() {
    let mut l = fixture();
    let found = lookup_accounts(l.store(), &[3, 99, 1, 0, u128::MAX]).unwrap();
    assert_eq!(account_ids(&found), [3, 1]);
    assert_eq!(found[0].ledger, 2);
    assert_eq!(
        ids(&lookup_transfers(l.store(), &[13, 99, 10]).unwrap()),
        [13, 10]
    );
    // A burned id names no transfer.
    let r = l.create_transfers(&[tr(16, 1, 99, 1)], &ctx(T1)).unwrap();
    assert_eq!(r, [R::CreditAccountNotFound]);
    assert!(lookup_transfers(l.store(), &[16]).unwrap().is_empty());
    assert!(lookup_accounts(l.store(), &[]).unwrap().is_empty());
}
