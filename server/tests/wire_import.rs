//! Importing a ledger's history over real gRPC, as a platform moving to Tally does: every
//! account first, then the transfers between them in time order, each with its original
//! timestamp; then live traffic. Also: the timestamps that create results carry.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use tally_proto::{u128_to_wire, v1};
use tonic::transport::Channel;

type Client = v1::ledger_client::LedgerClient<Channel>;

const ACCOUNTS: u64 = 400;
const TRANSFERS: u64 = 3_000;
/// `imported` on accounts and on transfers.
const ACCOUNT_IMPORTED: u32 = 0x10;
const TRANSFER_IMPORTED: u32 = 0x100;
const OK: i32 = 0;

/// Account `i` (1-based) was created at `base + i * 1000`.
fn account_ts(base: u64, i: u64) -> u64 {
    base + i * 1_000
}

/// Transfer `j` (0-based) happened at `base + 100_007 + j * 100`: after accounts 1 to 100 (its
/// own), interleaved with the creation of accounts 101 to 400, never at an account's time.
fn transfer_ts(base: u64, j: u64) -> u64 {
    base + 100_007 + j * 100
}

fn imported_transfer(base: u64, j: u64) -> v1::Transfer {
    v1::Transfer {
        flags: TRANSFER_IMPORTED,
        timestamp: transfer_ts(base, j),
        ..transfer(
            10_000 + u128::from(j),
            1 + u128::from(j % 50),
            51 + u128::from(j % 50),
            1 + u128::from(j % 7),
        )
    }
}

async fn create_accounts(c: &mut Client, accounts: Vec<v1::Account>) -> (Vec<i32>, Vec<u64>) {
    let r = c
        .create_accounts(v1::CreateAccountsRequest { accounts })
        .await
        .unwrap()
        .into_inner();
    (r.results, r.timestamps)
}

async fn create_transfers(c: &mut Client, transfers: Vec<v1::Transfer>) -> (Vec<i32>, Vec<u64>) {
    let r = c
        .create_transfers(v1::CreateTransfersRequest { transfers })
        .await
        .unwrap()
        .into_inner();
    (r.results, r.timestamps)
}

async fn lookup_transfers(c: &mut Client, ids: Vec<u128>) -> Vec<v1::Transfer> {
    let ids = ids.into_iter().map(v1::U128::from).collect();
    c.lookup_transfers(v1::LookupTransfersRequest {
        ids,
        consistency: 0,
    })
    .await
    .unwrap()
    .into_inner()
    .transfers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_imports_accounts_first_then_transfers_with_their_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_single(dir.path()).await;
    let mut c = ledger(node.addr()).await;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    // A month ago.
    let base = u64::try_from(now.as_nanos()).unwrap() - 30 * 86_400 * 1_000_000_000;

    // Every account, in one request, in time order.
    let accounts: Vec<v1::Account> = (1..=ACCOUNTS)
        .map(|i| v1::Account {
            timestamp: account_ts(base, i),
            ..account(u128::from(i), ACCOUNT_IMPORTED)
        })
        .collect();
    let (codes, stamps) = create_accounts(&mut c, accounts).await;
    assert!(codes.iter().all(|&r| r == OK), "{codes:?}");
    let want: Vec<u64> = (1..=ACCOUNTS).map(|i| account_ts(base, i)).collect();
    assert_eq!(
        stamps, want,
        "an imported account's result carries its own timestamp"
    );

    // Then the transfers, in time order: most of them before the newest account.
    for chunk in (0..TRANSFERS).collect::<Vec<_>>().chunks(1_000) {
        let batch = chunk.iter().map(|&j| imported_transfer(base, j)).collect();
        let (codes, stamps) = create_transfers(&mut c, batch).await;
        assert!(codes.iter().all(|&r| r == OK), "{codes:?}");
        let want: Vec<u64> = chunk.iter().map(|&j| transfer_ts(base, j)).collect();
        assert_eq!(stamps, want);
    }

    // Lookups return the original timestamps.
    let ids = (1..=ACCOUNTS)
        .map(|i| v1::U128::from(u128::from(i)))
        .collect();
    let found = c
        .lookup_accounts(v1::LookupAccountsRequest {
            ids,
            consistency: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .accounts;
    let got: Vec<u64> = found.iter().map(|a| a.timestamp).collect();
    assert_eq!(
        got,
        (1..=ACCOUNTS)
            .map(|i| account_ts(base, i))
            .collect::<Vec<_>>()
    );
    let found = lookup_transfers(
        &mut c,
        (0..TRANSFERS).map(|j| 10_000 + u128::from(j)).collect(),
    )
    .await;
    let got: Vec<u64> = found.iter().map(|t| t.timestamp).collect();
    assert_eq!(
        got,
        (0..TRANSFERS)
            .map(|j| transfer_ts(base, j))
            .collect::<Vec<_>>()
    );

    // The import codes, each reached over the wire, with nothing applied.
    let last = transfer_ts(base, TRANSFERS - 1);
    let refused = vec![
        // Before the newest transfer.
        v1::Transfer {
            timestamp: last - 50,
            ..imported_transfer(base, 0)
        },
        // After the newest transfer, but at an account's timestamp.
        v1::Transfer {
            timestamp: account_ts(base, ACCOUNTS),
            ..imported_transfer(base, 0)
        },
    ];
    for (i, t) in refused.into_iter().enumerate() {
        let t = v1::Transfer {
            id: u128_to_wire(90_000 + i as u128),
            ..t
        };
        let (codes, _) = create_transfers(&mut c, vec![t]).await;
        assert_eq!(
            codes,
            [v1::CreateTransferResult::ImportedEventTimestampMustNotRegress as i32]
        );
    }
    // A later account (imported after the transfers) and transfers that predate it.
    let late_ts = last + 1_000;
    let late = v1::Account {
        timestamp: late_ts,
        ..account(999, ACCOUNT_IMPORTED)
    };
    assert_eq!(create_accounts(&mut c, vec![late]).await.0, [OK]);
    let from_late = v1::Transfer {
        timestamp: late_ts - 1,
        ..imported_transfer(base, 0)
    };
    let before_debit = v1::Transfer {
        id: u128_to_wire(90_010),
        debit_account_id: u128_to_wire(999),
        ..from_late
    };
    let before_credit = v1::Transfer {
        id: u128_to_wire(90_011),
        credit_account_id: u128_to_wire(999),
        ..from_late
    };
    let (codes, _) = create_transfers(&mut c, vec![before_debit]).await;
    let postdate_debit = v1::CreateTransferResult::ImportedEventTimestampMustPostdateDebitAccount;
    assert_eq!(codes, [postdate_debit as i32]);
    let (codes, _) = create_transfers(&mut c, vec![before_credit]).await;
    let postdate_credit = v1::CreateTransferResult::ImportedEventTimestampMustPostdateCreditAccount;
    assert_eq!(codes, [postdate_credit as i32]);
    assert!(
        lookup_transfers(&mut c, vec![90_000, 90_001, 90_010, 90_011])
            .await
            .is_empty()
    );

    // Live traffic continues after everything imported, with increasing timestamps that the
    // results carry; a resend answers `exists` with the original's timestamp.
    let live: Vec<v1::Transfer> = (0..20)
        .map(|k| transfer(50_000 + k, 1 + k % 50, 51 + k % 50, 1))
        .collect();
    let (codes, stamps) = create_transfers(&mut c, live.clone()).await;
    assert!(codes.iter().all(|&r| r == OK), "{codes:?}");
    assert!(stamps[0] > late_ts, "{} after {late_ts}", stamps[0]);
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
    let found = lookup_transfers(&mut c, (0..20).map(|k| 50_000 + k).collect()).await;
    let got: Vec<u64> = found.iter().map(|t| t.timestamp).collect();
    assert_eq!(got, stamps, "results carry the timestamps a lookup returns");
    let resend = vec![live[3], transfer(60_000, 1, 1, 1)];
    let (codes, again) = create_transfers(&mut c, resend).await;
    let same = v1::CreateTransferResult::AccountsMustBeDifferent as i32;
    assert_eq!(codes, [v1::CreateTransferResult::Exists as i32, same]);
    assert_eq!(
        again[0], stamps[3],
        "exists carries the original's timestamp"
    );
    assert!(
        again[1] > stamps[19],
        "a failure carries its validation time"
    );
    node.shutdown().await.unwrap();
}
