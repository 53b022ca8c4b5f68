//! Soak: concurrent single-event transfers for a while, then an exactly-once check. Run it
//! while restarting or killing nodes to watch the client ride through leader changes.
//!
//! Every transfer moves 1 unit between the same two fresh accounts. At the end, transfers whose
//! outcome was indeterminate are looked up by id, and the debit account's `debits_posted` must
//! equal the number of transfers that applied: none lost, none applied twice.
//!
//! ```text
//! TALLY_ADDRESSES=127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103 \
//!     cargo run --release -p tally-client --example soak -- 30
//! ```
//! The argument is the duration in seconds (default 10); `TALLY_CONCURRENCY` sets the number of
//! concurrent callers (default 256).

use std::time::{Duration, Instant};

use tally_client::{id, Account, Client, Transfer};

#[derive(Debug, Default)]
struct Tally {
    applied: u64,
    rejected: u64,
    indeterminate: Vec<u128>,
    failed: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addresses = std::env::var("TALLY_ADDRESSES").unwrap_or_else(|_| "127.0.0.1:7100".into());
    let seconds: u64 = std::env::args().nth(1).map_or(Ok(10), |s| s.parse())?;
    let concurrency: usize = std::env::var("TALLY_CONCURRENCY").map_or(Ok(256), |s| s.parse())?;
    let client = Client::connect(addresses.split(',')).await?;

    let (from, to) = (id(), id());
    let created = client
        .create_accounts(&[Account::new(from, 1, 1), Account::new(to, 1, 1)])
        .await?;
    assert!(
        created.iter().all(|r| r.is_applied()),
        "accounts: {created:?}"
    );

    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..concurrency)
        .map(|_| tokio::spawn(worker(client.clone(), from, to, until)))
        .collect();
    let mut total = Tally::default();
    for worker in workers {
        let t = worker.await?;
        total.applied += t.applied;
        total.rejected += t.rejected;
        total.failed += t.failed;
        total.indeterminate.extend(t.indeterminate);
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "{} applied ({:.0}/s), {} rejected, {} failed, {} indeterminate",
        total.applied,
        total.applied as f64 / elapsed,
        total.rejected,
        total.failed,
        total.indeterminate.len()
    );

    // Settle the indeterminate ones: found means applied.
    let mut applied = total.applied;
    for ids in total.indeterminate.chunks(tally_client::BATCH_MAX) {
        applied += client.lookup_transfers(ids).await?.len() as u64;
    }
    let debited = client.lookup_accounts(&[from]).await?[0].debits_posted;
    println!("debits_posted {debited}, transfers applied {applied}");
    if debited != u128::from(applied) {
        return Err(format!("exactly-once violated: {debited} debited, {applied} applied").into());
    }
    println!("exactly once: ok");
    Ok(())
}

/// Sends transfers one at a time until `until`.
async fn worker(client: Client, from: u128, to: u128, until: Instant) -> Tally {
    let mut tally = Tally::default();
    while Instant::now() < until {
        let transfer = Transfer::new(id(), from, to, 1, 1, 1);
        match client.create_transfer(transfer).await {
            // `Exists`: the client resent it after an attempt with no answer, which had applied.
            Ok(result) if result.is_applied() => tally.applied += 1,
            Ok(other) => {
                eprintln!("rejected: {other}");
                tally.rejected += 1;
            }
            Err(e) if e.is_indeterminate() => {
                eprintln!("indeterminate: {e}");
                tally.indeterminate.push(transfer.id);
            }
            Err(e) => {
                eprintln!("failed: {e}");
                tally.failed += 1;
            }
        }
    }
    tally
}
