//! The fixture and filter helpers shared by the `queries_*` tests.

use tally_ledger::query::get_account_transfers;
use tally_ledger::{
    Account, AccountFilter, AccountFilterFlags as AFF, AccountFlags as AF,
    CreateTransferResult as R, QueryFilter, Transfer, TransferFlags as F,
};

use super::{acct, ctx, ledger, tr, Build, L};

pub const T0: u64 = 1_000_000_000_000;
/// Transfer `10 + i` of [`fixture`] has timestamp `T1 + i`.
pub const T1: u64 = T0 + 1_000_000;
/// Account 1 keeps history; 4 does not.
pub const HIST: u128 = 1;

/// Accounts 1..=4 and transfers 10..=15; account 1 is on the debit side of 10, 12 and 15
/// (pending, 1 s timeout) and on the credit side of 11 and 13.
pub fn fixture() -> L {
    let mut l = ledger();
    let a = |id, ledger, code, ud128| {
        acct(id, ledger, AF::empty()).with(|a| (a.code, a.user_data_128) = (code, ud128))
    };
    let accounts = [
        a(1, 1, 10, 100)
            .flag(AF::HISTORY)
            .with(|a| (a.user_data_64, a.user_data_32) = (64, 32)),
        a(2, 1, 20, 200),
        a(3, 2, 10, 100),
        a(4, 1, 10, 0),
    ];
    assert!(l
        .create_accounts(&accounts, &ctx(T0))
        .unwrap()
        .iter()
        .all(|r| r.as_u32() == 0));
    let t = |id, dr, cr, code| tr(id, dr, cr, id - 9).with(|t| t.code = code);
    let transfers = [
        t(10, 1, 2, 1).with(|t| t.user_data_128 = 7),
        t(11, 2, 1, 2).with(|t| t.user_data_64 = 8),
        t(12, 1, 4, 1).with(|t| t.user_data_32 = 9),
        t(13, 4, 1, 3).with(|t| (t.user_data_128, t.user_data_64) = (7, 8)),
        t(14, 2, 4, 1),
        t(15, 1, 2, 4).flag(F::PENDING).with(|t| t.timeout = 1),
    ];
    assert_eq!(
        l.create_transfers(&transfers, &ctx(T1)).unwrap(),
        [R::Ok; 6]
    );
    l
}

pub fn filter(account_id: u128, flags: AFF) -> AccountFilter {
    AccountFilter {
        account_id,
        limit: 100,
        flags: flags.bits(),
        ..AccountFilter::default()
    }
}

pub fn both() -> AFF {
    AFF::DEBITS | AFF::CREDITS
}

pub fn ids(ts: &[Transfer]) -> Vec<u128> {
    ts.iter().map(|t| t.id).collect()
}

pub fn account_ids(accounts: &[Account]) -> Vec<u128> {
    accounts.iter().map(|a| a.id).collect()
}

pub fn transfers_of(l: &L, f: AccountFilter) -> Vec<u128> {
    ids(&get_account_transfers(l.store(), &f).unwrap())
}

/// A query filter with limit 100, changed by `g`.
pub fn query(g: fn(&mut QueryFilter)) -> QueryFilter {
    let mut f = QueryFilter {
        limit: 100,
        ..QueryFilter::default()
    };
    g(&mut f);
    f
}
