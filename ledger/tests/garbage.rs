//! Arbitrary bytes in every field of every event: the ledger must answer each with a result code,
//! never panic, and keep its invariants.

use proptest::prelude::*;
use tally_ledger::query::lookup_accounts;
use tally_ledger::{
    Account, Context, Ledger, LedgerError, MemStore, Transfer, BATCH_MAX, TIMESTAMP_MAX,
};

/// Values that sit on the edges of the validation rules, mixed with anything at all.
fn edgy_u128() -> impl Strategy<Value = u128> {
    prop_oneof![
        Just(0u128),
        Just(1u128),
        Just(2u128),
        Just(3u128),
        Just(u128::MAX),
        Just(u128::MAX - 1),
        Just(u128::from(u64::MAX)),
        any::<u128>(),
    ]
}

fn account() -> impl Strategy<Value = Account> {
    (
        edgy_u128(),
        prop::array::uniform4(prop_oneof![3 => Just(0u128), 1 => edgy_u128()]),
        any::<(u128, u64, u32)>(),
        prop_oneof![Just(1u32), Just(0u32), any::<u32>()],
        prop_oneof![Just(1u16), any::<u16>()],
        prop_oneof![Just(0u16), 0u16..64, any::<u16>()],
        prop_oneof![Just(0u64), any::<u64>()],
    )
        .prop_map(|(id, bal, ud, ledger, code, flags, timestamp)| Account {
            id,
            debits_pending: bal[0],
            debits_posted: bal[1],
            credits_pending: bal[2],
            credits_posted: bal[3],
            user_data_128: ud.0,
            user_data_64: ud.1,
            user_data_32: ud.2,
            ledger,
            code,
            flags,
            timestamp,
        })
}

fn transfer() -> impl Strategy<Value = Transfer> {
    (
        (
            edgy_u128(),
            edgy_u128(),
            edgy_u128(),
            edgy_u128(),
            edgy_u128(),
        ),
        any::<(u128, u64, u32)>(),
        prop_oneof![Just(0u32), Just(1u32), any::<u32>()],
        prop_oneof![Just(1u32), Just(0u32), any::<u32>()],
        prop_oneof![Just(1u16), any::<u16>()],
        prop_oneof![Just(0u16), 0u16..512, any::<u16>()],
        prop_oneof![Just(0u64), any::<u64>()],
    )
        .prop_map(
            |(ids, ud, timeout, ledger, code, flags, timestamp)| Transfer {
                id: ids.0,
                debit_account_id: ids.1,
                credit_account_id: ids.2,
                amount: ids.3,
                pending_id: ids.4,
                user_data_128: ud.0,
                user_data_64: ud.1,
                user_data_32: ud.2,
                timeout,
                ledger,
                code,
                flags,
                timestamp,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_events_get_result_codes_and_keep_invariants(
        accounts in prop::collection::vec(account(), 0..24),
        batches in prop::collection::vec(
            (prop::collection::vec(transfer(), 0..24), any::<u64>()), 1..6),
    ) {
        let mut ledger = Ledger::open(MemStore::new()).unwrap();
        let r = ledger.create_accounts(&accounts, &Context { timestamp: 1 << 40 }).unwrap();
        prop_assert_eq!(r.len(), accounts.len());
        let ids: Vec<u128> = accounts.iter().map(|a| a.id).collect();
        for (batch, time) in &batches {
            let before = ledger.state_hash().unwrap();
            let r = match ledger.create_transfers(batch, &Context { timestamp: *time }) {
                Err(LedgerError::ClockOutOfRange { .. }) => {
                    prop_assert!(*time > TIMESTAMP_MAX - 2 * BATCH_MAX as u64);
                    prop_assert_eq!(ledger.state_hash().unwrap(), before, "rejected, unchanged");
                    continue;
                }
                other => other.unwrap(),
            };
            prop_assert_eq!(r.len(), batch.len());
            let mut seen = std::collections::BTreeSet::new();
            let all = lookup_accounts(ledger.store(), &ids).unwrap();
            let (mut dp, mut dpo, mut cp, mut cpo) = (0u128, 0u128, 0u128, 0u128);
            for a in all.iter().filter(|a| seen.insert(a.id)) {
                // Amounts may be huge: compare sums with wrapping arithmetic on both sides.
                dp = dp.wrapping_add(a.debits_pending);
                dpo = dpo.wrapping_add(a.debits_posted);
                cp = cp.wrapping_add(a.credits_pending);
                cpo = cpo.wrapping_add(a.credits_posted);
                let f = a.flags();
                if f.contains(tally_ledger::AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS) {
                    prop_assert!(a.debits_pending.checked_add(a.debits_posted)
                        .is_some_and(|d| d <= a.credits_posted));
                }
                if f.contains(tally_ledger::AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS) {
                    prop_assert!(a.credits_pending.checked_add(a.credits_posted)
                        .is_some_and(|c| c <= a.debits_posted));
                }
            }
            prop_assert_eq!(dp, cp, "pending debits equal pending credits");
            prop_assert_eq!(dpo, cpo, "posted debits equal posted credits");
        }
    }
}
