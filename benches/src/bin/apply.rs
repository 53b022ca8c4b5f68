//! Ledger apply benchmark: 8,189-transfer batches applied to the RocksDB store, single thread.
//!
//! With no flags it runs the matrix {10,000, 1,000,000 accounts} x {uniform, hot} and prints
//! transfers/s and batch latency percentiles for each. Timings cover `Ledger::apply`: executing
//! the batch against committed state and writing its one atomic RocksDB batch. After the load it
//! times `--queries` account-history reads (newest 10 transfers of a random account).

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use clap::Parser;
use hdrhistogram::Histogram;
use tally_benches::{Distribution, Workload};
use tally_ledger::{
    query, AccountFilter, AccountFilterFlags, Command, Context, CreateTransferResult, Ledger,
    Outcome, BATCH_MAX,
};
use tally_raft::{Durability, RocksOptions, RocksStore};

/// The same allocator as the `tally` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DurabilityArg {
    /// fsync RocksDB's WAL on every batch.
    Sync,
    /// RocksDB WAL without fsync.
    Wal,
    /// No WAL (the Raft log is the WAL in a cluster).
    Nowal,
}

#[derive(Debug, Parser)]
#[command(about = "Applies transfer batches to the RocksDB ledger store and prints transfers/s")]
struct Args {
    /// Account counts to run (repeatable). Default: 10000 and 1000000.
    #[arg(long = "accounts")]
    accounts: Vec<u64>,
    /// Distributions to run (repeatable). Default: uniform and hot.
    #[arg(long = "dist", value_enum)]
    dist: Vec<Distribution>,
    /// Transfers per run (rounded up to whole batches).
    #[arg(long, default_value_t = 1_000_000)]
    transfers: u64,
    /// Transfers per batch.
    #[arg(long, default_value_t = BATCH_MAX)]
    batch_size: usize,
    /// Durability of each write.
    #[arg(long, value_enum, default_value_t = DurabilityArg::Nowal)]
    durability: DurabilityArg,
    /// RocksDB memtable size per column family, in MiB.
    #[arg(long, default_value_t = RocksOptions::default().write_buffer_bytes >> 20)]
    write_buffer_mb: usize,
    /// Account-history reads after the load (newest 10 transfers of a random account).
    #[arg(long, default_value_t = 2000)]
    queries: u64,
    /// Random transfer ids instead of counting ones (time-ordered ids, like the SDK's, are
    /// what the id index is laid out for; random ones are its worst case).
    #[arg(long)]
    random_ids: bool,
    /// Seed of the workload generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

struct Run {
    accounts: u64,
    dist: Distribution,
    transfers: u64,
    elapsed: Duration,
    hist: Histogram<u64>,
    queries: Histogram<u64>,
    bytes: u64,
}

/// Reads the newest 10 transfers of random accounts; returns the latency histogram (µs).
fn query_phase(store: &RocksStore, args: &Args, accounts: u64) -> Result<Histogram<u64>> {
    let mut rng = fastrand::Rng::with_seed(args.seed ^ 0x9e37_79b9);
    let mut hist = Histogram::<u64>::new(3)?;
    for _ in 0..args.queries {
        let filter = AccountFilter {
            account_id: u128::from(rng.u64(1..=accounts)),
            limit: 10,
            flags: (AccountFilterFlags::DEBITS
                | AccountFilterFlags::CREDITS
                | AccountFilterFlags::REVERSED)
                .bits(),
            ..AccountFilter::default()
        };
        let t0 = Instant::now();
        let found = query::get_account_transfers(store, &filter)?;
        hist.record(t0.elapsed().as_micros() as u64)?;
        ensure!(found.len() <= 10, "limit respected");
    }
    Ok(hist)
}

fn run(args: &Args, accounts: u64, dist: Distribution) -> Result<Run> {
    let dir = tempfile::tempdir()?;
    let durability = match args.durability {
        DurabilityArg::Sync => Durability::Sync,
        DurabilityArg::Wal => Durability::Wal,
        DurabilityArg::Nowal => Durability::NoWal,
    };
    let opts = RocksOptions {
        durability,
        write_buffer_bytes: args.write_buffer_mb << 20,
        ..RocksOptions::default()
    };
    let mut ledger = Ledger::open(RocksStore::open(dir.path(), &opts)?)?;
    let mut w = Workload::new(accounts, dist, args.seed);
    w.random_ids = args.random_ids;
    let mut now = 1_700_000_000_000_000_000u64;
    for batch in w.account_batches(BATCH_MAX) {
        now += 1_000_000;
        ledger.apply(
            &Command::CreateAccounts(batch),
            &Context { timestamp: now },
            None,
        )?;
    }
    let batches = args.transfers.div_ceil(args.batch_size as u64);
    // Generate before timing so the figures measure the ledger, not the generator.
    let work: Vec<_> = (0..batches)
        .map(|_| Command::CreateTransfers(w.transfer_batch(args.batch_size)))
        .collect();
    let mut hist = Histogram::<u64>::new(3)?;
    let start = Instant::now();
    for cmd in &work {
        now += 1_000_000;
        let t0 = Instant::now();
        let out = ledger.apply(cmd, &Context { timestamp: now }, Some(&now.to_le_bytes()))?;
        hist.record(t0.elapsed().as_micros() as u64)?;
        let Outcome::Transfers(results) = out else {
            anyhow::bail!("unexpected outcome");
        };
        ensure!(
            results.codes.iter().all(|r| *r == CreateTransferResult::Ok),
            "every generated transfer must apply"
        );
    }
    let elapsed = start.elapsed();
    let queries = query_phase(ledger.store(), args, accounts)?;
    Ok(Run {
        accounts,
        dist,
        transfers: batches * args.batch_size as u64,
        elapsed,
        hist,
        queries,
        bytes: ledger.store().approximate_size(),
    })
}

fn main() -> Result<()> {
    let mut args = Args::parse();
    if args.accounts.is_empty() {
        args.accounts = vec![10_000, 1_000_000];
    }
    if args.dist.is_empty() {
        args.dist = vec![Distribution::Uniform, Distribution::Hot];
    }
    ensure!(
        (1..=BATCH_MAX).contains(&args.batch_size),
        "--batch-size must be 1..={BATCH_MAX}"
    );
    println!(
        "ledger apply benchmark: {} transfers per run, batches of {}, durability {:?}, {} ids, seed {}",
        args.transfers,
        args.batch_size,
        args.durability,
        if args.random_ids { "random" } else { "time-ordered" },
        args.seed
    );
    println!(
        "{:>10} {:>8} {:>12} {:>14} {:>9} {:>9} {:>9} {:>10} {:>10} {:>8}",
        "accounts",
        "dist",
        "transfers",
        "transfers/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "read p50",
        "read p99",
        "MiB"
    );
    for &accounts in &args.accounts {
        for &dist in &args.dist {
            let r = run(&args, accounts, dist)?;
            let ms = |us: u64| us as f64 / 1000.0;
            println!(
                "{:>10} {:>8} {:>12} {:>14.0} {:>9.2} {:>9.2} {:>9.2} {:>8}us {:>8}us {:>8.1}",
                r.accounts,
                format!("{:?}", r.dist).to_lowercase(),
                r.transfers,
                r.transfers as f64 / r.elapsed.as_secs_f64(),
                ms(r.hist.value_at_quantile(0.5)),
                ms(r.hist.value_at_quantile(0.99)),
                ms(r.hist.max()),
                r.queries.value_at_quantile(0.5),
                r.queries.value_at_quantile(0.99),
                r.bytes as f64 / (1 << 20) as f64,
            );
        }
    }
    Ok(())
}
