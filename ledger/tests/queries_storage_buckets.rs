//! Transfers sharing a storage bucket across commands are all found, by lookup and by range.

mod support;

use support::queries::*;
use support::*;
use tally_ledger::query::{lookup_transfers, query_transfers};
use tally_ledger::{
    AccountFlags as AF, CreateTransferResult as R, QueryFilter, QueryFilterFlags, Transfer,
    TransferFlags as F,
};

/// Transfers are stored in buckets of 32 consecutive timestamps; a command whose first
/// timestamps fall in the bucket the previous command ended in must add to that bucket, and
/// reads must find every transfer whichever bucket, and however a range cuts through buckets.
#[test]
fn transfers_sharing_a_storage_bucket_across_commands() {
    use tally_ledger::keys::TRANSFER_BUCKET_SPAN;
    let span = TRANSFER_BUCKET_SPAN as u64;
    let mut l = ledger();
    let accounts = [acct(1, 1, AF::empty()), acct(2, 1, AF::empty())];
    assert!(l
        .create_accounts(&accounts, &ctx(T0))
        .unwrap()
        .iter()
        .all(|r| r.as_u32() == 0));
    // Command 1 starts two timestamps before a bucket boundary and crosses it; command 2 runs at
    // the same leader time, so it continues in command 1's last bucket; command 3 is later and
    // spans several buckets; command 4 posts a pending transfer stored in the shared bucket.
    let start = (T0 / span + 10) * span - 2;
    let run = |l: &mut L, ids: std::ops::Range<u128>, at: u64| {
        let events: Vec<Transfer> = ids
            .map(|id| {
                let t = tr(id, 1, 2, id);
                if id == 104 {
                    t.flag(F::PENDING)
                } else {
                    t
                }
            })
            .collect();
        let n = events.len();
        assert_eq!(
            l.create_transfers(&events, &ctx(at)).unwrap(),
            vec![R::Ok; n]
        );
    };
    run(&mut l, 100..104, start);
    run(&mut l, 104..107, start);
    run(&mut l, 200..270, start + 1_000);
    assert_eq!(
        l.create_transfers(&[post(300, 104, 50)], &ctx(start + 5_000))
            .unwrap(),
        [R::Ok]
    );
    let all: Vec<u128> = (100..107).chain(200..270).chain([300]).collect();
    let found = lookup_transfers(l.store(), &all).unwrap();
    assert_eq!(ids(&found), all);
    let ts: Vec<u64> = found.iter().map(|t| t.timestamp).collect();
    assert_eq!(ts[0], start);
    assert_eq!(
        ts[4],
        start + 4,
        "command 2 continues in command 1's bucket"
    );
    assert!(ts.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(transfer(&l, 300).unwrap().amount, 50);
    let q = |min, max, limit, reversed: bool| {
        let f = QueryFilter {
            timestamp_min: min,
            timestamp_max: max,
            limit,
            flags: if reversed {
                QueryFilterFlags::REVERSED.bits()
            } else {
                0
            },
            ..QueryFilter::default()
        };
        ids(&query_transfers(l.store(), &f).unwrap())
    };
    assert_eq!(q(0, 0, 1000, false), all);
    let mut rev = all.clone();
    rev.reverse();
    assert_eq!(q(0, 0, 1000, true), rev);
    // A range that starts and ends inside buckets.
    assert_eq!(q(ts[1], ts[5], 1000, false), all[1..=5]);
    assert_eq!(
        q(ts[1], ts[5], 1000, true),
        rev[rev.len() - 6..rev.len() - 1]
    );
    assert_eq!(q(ts[3], 0, 3, false), all[3..6]);
    assert_eq!(q(0, ts[40], 2, true), [all[40], all[39]]);
    assert_eq!(q(ts[6] + 1, ts[7] - 1, 1000, false), [] as [u128; 0]);
}
