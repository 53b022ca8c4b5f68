//! Whole-command rejections (malformed, oversized, clock out of range) change nothing but advance
//! the applied position; an entry at or below the position is refused.

mod common;

use std::io;

use common::*;
use openraft::alias::EntryOf;
use openraft::entry::RaftEntry;
use openraft::storage::RaftStateMachine;
use openraft::EntryPayload;
use tally_ledger::{Command, Transfer, BATCH_MAX};
use tally_raft::codec::from_bytes;
use tally_raft::{Rejection, Request, Response};

/// A normal entry whose command bytes do not decode: postcard of (leader time 5, 3 bytes).
fn malformed(index: u64) -> EntryOf<C> {
    let req: Request = from_bytes(&[5, 3, 9, 9, 9]).unwrap();
    assert!(req.command().is_err());
    EntryOf::<C>::new(log_id(1, index), EntryPayload::Normal(req))
}

#[tokio::test]
async fn rejected_entries_change_nothing_but_advance_the_position() {
    let (_dir, mut sm) = reference(6);
    let before = sm.state_hash().unwrap();
    let oversized = Command::CreateTransfers(vec![Transfer::default(); BATCH_MAX + 1]);
    let clock = EntryOf::<C>::new(
        log_id(1, 8),
        EntryPayload::Normal(Request::new(u64::MAX, &Command::Pulse)),
    );
    let cases = [
        (malformed(6), "malformed"),
        (normal(7, &oversized), "oversized"),
        (clock, "clock"),
    ];
    for (e, what) in cases {
        let r = sm.apply_entry(&e).unwrap();
        let Response::Rejected(why) = &r else {
            panic!("{what}: {r:?}")
        };
        match what {
            "malformed" => assert!(matches!(why, Rejection::Malformed(_)), "{why:?}"),
            "oversized" => assert_eq!(
                why,
                &Rejection::BatchTooLarge {
                    len: BATCH_MAX as u64 + 1,
                    max: BATCH_MAX as u64
                }
            ),
            _ => assert!(matches!(why, Rejection::ClockOutOfRange { .. }), "{why:?}"),
        }
        assert_eq!(
            sm.state_hash().unwrap(),
            before,
            "{what} changed the ledger"
        );
        let (applied, membership) = sm.applied_state().await.unwrap();
        assert_eq!(
            applied,
            Some(e.log_id),
            "{what} did not advance the position"
        );
        assert_eq!(membership.log_id(), &Some(log_id(1, 1)), "{what}");
    }
    // The same entries through openraft's stream path give the same result.
    let (_dir2, mut other) = reference(6);
    let stream = (6..=7)
        .map(|i| {
            if i == 6 {
                malformed(6)
            } else {
                normal(7, &oversized)
            }
        })
        .map(|e| Ok((e, None)));
    other
        .apply(futures_util::stream::iter(stream))
        .await
        .unwrap();
    assert_eq!(other.applied_state().await.unwrap().0, Some(log_id(1, 7)));
    assert_eq!(other.state_hash().unwrap(), before);
    // An entry at or below the position is refused, not applied twice.
    let e = sm.apply_entry(&entry(4)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    assert_eq!(sm.state_hash().unwrap(), before);
}
