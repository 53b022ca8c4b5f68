//! `tally benchmark`: load a running (or temporary) cluster through the client SDK and print
//! what it accepted and how fast it answered.
//!
//! - [`BenchArgs`]: the command's flags.
//! - `cluster`: a temporary 1- or N-node cluster of `tally start` processes in a temp dir.
//! - `gen`: accounts and transfers from a seed (uniform, zipfian or hot-set account choice,
//!   a share of pending transfers with timeouts).
//! - `drive`: closed-loop batch clients, one-transfer-per-request clients (for server-side
//!   coalescing), and an open-loop mode at a fixed offered rate.
//! - `report`: latency histograms, the text report and JSON.
//! - `chart`: throughput (averaged per second) and latency by percentile, drawn with plotters
//!   into an SVG and a PNG.
//!
//! Latencies are recorded in HDR histograms (µs). In open-loop mode a batch's latency runs
//! from when it was due to be sent, not when it was sent, so a backlog shows up as latency
//! instead of hiding in a queue (coordinated omission).

mod chart;
mod cluster;
mod drive;
mod gen;
mod report;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tally_client::{Client, ClientOptions, TlsOptions};

pub use gen::Dist;

/// `tally benchmark`'s flags.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Run against an existing cluster (comma-separated host:port) instead of starting one.
    #[arg(long, value_delimiter = ',')]
    pub addresses: Option<Vec<String>>,
    /// Nodes of the temporary cluster (1, 3 or 5).
    #[arg(long, default_value_t = 1)]
    pub nodes: u64,
    /// Accounts to create.
    #[arg(long, default_value_t = 10_000)]
    pub accounts: u64,
    /// Transfers to submit.
    #[arg(long, default_value_t = 1_000_000)]
    pub transfers: u64,
    /// Transfers per request (at most 8189).
    #[arg(long, default_value_t = 8189)]
    pub batch: usize,
    /// Concurrent clients (closed loop: each sends its next request when the last returns).
    #[arg(long, default_value_t = 1)]
    pub clients: usize,
    /// gRPC connections the clients share (one SDK client each).
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// One transfer per request: every client sends single-transfer requests, so the
    /// server's coalescer does the batching.
    #[arg(long)]
    pub single: bool,
    /// One transfer per call through the SDK's batcher (`Client::create_transfer`): the calls
    /// of the clients sharing a connection leave together in batched requests (client-side
    /// coalescing, as TigerBeetle's clients do). Latency is per call.
    #[arg(long, conflicts_with = "single")]
    pub sdk_batching: bool,
    /// Open loop: offer this many transfers per second regardless of answers, and report
    /// latency at that rate.
    #[arg(long)]
    pub rate: Option<u64>,
    /// Open loop: requests outstanding at most. A request due when this many are outstanding
    /// leaves when one returns; its latency still counts from when it was due.
    #[arg(long, default_value_t = 10_000, requires = "rate")]
    pub max_in_flight: usize,
    /// How transfers choose accounts.
    #[arg(long, value_enum, default_value_t = Dist::Uniform)]
    pub distribution: Dist,
    /// Share (0..=1) of transfers that are pending with a timeout.
    #[arg(long, default_value_t = 0.0)]
    pub pending_share: f64,
    /// Timeout of pending transfers, in seconds.
    #[arg(long, default_value_t = 60)]
    pub pending_timeout: u32,
    /// Account-history queries to time after the load. With any, queries are also made during
    /// the load, one every 10 ms, and timed apart ("under load").
    #[arg(long, default_value_t = 1000)]
    pub queries: u64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Afterwards, look up every transfer and check every balance and debits = credits.
    /// Pending transfers are expected still pending, or, with a --pending-timeout of at most
    /// 30 s, expired: validation then waits their timeout out first.
    #[arg(long)]
    pub validate: bool,
    /// Print the result as JSON on stdout (the text report goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Write `benchmark.json`, and charts of throughput over time and latency by percentile
    /// as `benchmark.svg` and `benchmark.png`, into this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Keep the temporary cluster's data dir (printed) instead of deleting it.
    #[arg(long)]
    pub keep: bool,
    /// Failed requests (errors after the SDK's retries, not result codes) to tolerate before
    /// the load stops with an error. Figures from a run with failures mean little; raise it to
    /// measure through faults. Requests refused as overload (`RESOURCE_EXHAUSTED`, nothing
    /// applied) are counted apart and never stop the load.
    #[arg(long, default_value_t = 0)]
    pub max_errors: u64,
    /// Pin the temporary cluster's nodes to these CPUs (a `taskset -c` list, e.g. `0`), so
    /// the server and the load generator do not share cores (pin the benchmark itself with
    /// `taskset -c 1 tally benchmark ...`).
    #[arg(long)]
    pub server_cpus: Option<String>,
    /// Open loop only: send each request once, straight to the leader, without the SDK's
    /// retries: a request refused as overload is counted as refused and not resent, so the
    /// server sees exactly the offered rate and the refusals' own latency is measured.
    #[arg(long, requires = "rate", conflicts_with = "sdk_batching")]
    pub no_retry: bool,
    /// With --addresses: speak TLS to the cluster, verifying the nodes against this PEM CA.
    #[arg(long, requires = "addresses")]
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate to present (nodes started with --tls-client-ca require one).
    #[arg(long, requires_all = ["tls_ca", "tls_key"])]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl BenchArgs {
    /// The SDK's TLS settings, if --tls-ca is given.
    fn tls(&self) -> Result<Option<TlsOptions>> {
        Ok(TlsOptions::from_files(
            self.tls_ca.as_deref(),
            self.tls_cert.as_deref(),
            self.tls_key.as_deref(),
        )?)
    }
}

/// Time `--validate` leaves itself, beyond the load's own duration again, to check every
/// transfer and balance: pending transfers whose timeout ends later are expected still pending.
const VALIDATION_MARGIN: Duration = Duration::from_secs(20);
/// The longest timeout `--validate` waits out so it can expect every pending transfer expired.
const EXPIRY_WAIT_MAX: Duration = Duration::from_secs(30);

/// How long `--validate`, after a short timeout has passed, waits for the leader's pulse to
/// expire every pending transfer.
const EXPIRY_SETTLE_MAX: Duration = Duration::from_secs(30);

/// What `--validate` should expect of the run's pending transfers. Their timeouts count from
/// their creation, on the cluster's clock, and the leader's pulse expires them shortly after:
/// a timeout longer than twice the load plus [`VALIDATION_MARGIN`] has not run out when
/// validation ends (still pending); a short one (at most [`EXPIRY_WAIT_MAX`]) is waited out,
/// and then until no account holds a pending amount (expired); anything between cannot be
/// validated exactly.
async fn expect_pending(
    args: &BenchArgs,
    load_started: Instant,
    client: &Client,
    gen: &gen::Gen,
) -> Result<gen::Pending> {
    let timeout = Duration::from_secs(u64::from(args.pending_timeout));
    if args.pending_share == 0.0 || timeout >= 2 * load_started.elapsed() + VALIDATION_MARGIN {
        return Ok(gen::Pending::Held);
    }
    if timeout > EXPIRY_WAIT_MAX {
        bail!(
            "cannot validate: pending transfers with a {timeout:?} timeout expire during the \
             run or its validation; use --pending-timeout of at most {EXPIRY_WAIT_MAX:?} (waited \
             out) or longer than twice the run plus {VALIDATION_MARGIN:?}"
        );
    }
    // The last pending transfer was created before now.
    tokio::time::sleep(timeout).await;
    drive::wait_for_expiry(client, gen, EXPIRY_SETTLE_MAX).await?;
    Ok(gen::Pending::Expired)
}

/// Runs the benchmark; `tally_bin` is the `tally` binary used to start a temporary cluster.
pub async fn run(args: BenchArgs, tally_bin: PathBuf) -> Result<()> {
    check(&args)?;
    let temp = match &args.addresses {
        Some(_) => None,
        None => Some(
            cluster::TempCluster::start(&tally_bin, args.nodes, args.server_cpus.as_deref())
                .await?,
        ),
    };
    let addresses = match (&args.addresses, &temp) {
        (Some(a), _) => a.clone(),
        (None, Some(t)) => t.addresses(),
        (None, None) => unreachable!("a temporary cluster is started without --addresses"),
    };
    let result = bench(&args, &addresses, temp.as_ref()).await;
    if let Some(t) = temp {
        t.stop(args.keep);
    }
    let report = result?;
    report::print(&args, &report)?;
    Ok(())
}

fn check(args: &BenchArgs) -> Result<()> {
    if !(1..=tally_client::BATCH_MAX).contains(&args.batch) {
        bail!("--batch must be 1..=8189");
    }
    if args.accounts < 2 {
        bail!("--accounts must be at least 2");
    }
    if args.clients == 0 || args.connections == 0 {
        bail!("--clients and --connections must be at least 1");
    }
    if !(0.0..=1.0).contains(&args.pending_share) {
        bail!("--pending-share must be within 0..=1");
    }
    if args.addresses.is_none() && ![1, 3, 5].contains(&args.nodes) {
        bail!("--nodes must be 1, 3 or 5");
    }
    if args.rate == Some(0) {
        bail!("--rate must be positive");
    }
    Ok(())
}

fn options(tls: Option<&TlsOptions>) -> ClientOptions {
    ClientOptions {
        tls: tls.cloned(),
        request_timeout: Duration::from_secs(60),
        attempt_timeout: Duration::from_secs(30),
        ..ClientOptions::default()
    }
}

/// The highest Raft term any of `addresses` reports (Admin `GetStatus`), if any answers: a term
/// that grew during the load means leader elections, which explain slow batches.
async fn raft_term(addresses: &[String], tls: Option<&TlsOptions>) -> Option<u64> {
    let mut max = None;
    for addr in addresses {
        if let Ok(s) = tally_client::node_status_with(addr, Duration::from_secs(2), tls).await {
            max = max.max(Some(s.term));
        }
    }
    max
}

async fn bench(
    args: &BenchArgs,
    addresses: &[String],
    temp: Option<&cluster::TempCluster>,
) -> Result<report::Report> {
    let tls = args.tls()?;
    let tls = tls.as_ref();
    let mut clients = Vec::new();
    for _ in 0..args.connections {
        clients.push(
            Client::connect_with(addresses.iter().cloned(), options(tls))
                .await
                .context("connect")?,
        );
    }
    let mut gen = gen::Gen::new(args);
    let t0 = Instant::now();
    drive::create_accounts(&clients[0], &gen).await?;
    let accounts_secs = t0.elapsed().as_secs_f64();
    drive::warm_up(&clients, &gen).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let querier = (args.queries > 0).then(|| {
        tokio::spawn(drive::queries_under_load(
            clients[0].clone(),
            gen.account_ids(),
            args.seed,
            stop.clone(),
        ))
    });
    let term_before = raft_term(addresses, tls).await;
    let load_started = Instant::now();
    let raw = if args.no_retry {
        drive::raw_clients(addresses, args.connections, tls).await?
    } else {
        Vec::new()
    };
    let load = match temp {
        Some(t) => tokio::select! {
            load = drive::load(&clients, &raw, &mut gen, args) => load,
            died = t.died() => Err(died),
        },
        None => drive::load(&clients, &raw, &mut gen, args).await,
    };
    let terms = (term_before, raft_term(addresses, tls).await);
    stop.store(true, Ordering::Relaxed);
    let load = match load {
        Ok(load) => load,
        Err(e) => {
            // Its query may be retrying against the failed cluster until its deadline.
            if let Some(task) = querier {
                task.abort();
            }
            return Err(e);
        }
    };
    let (queries_under_load, lookups_under_load) = match querier {
        Some(task) => task.await.context("query task")??,
        None => (
            hdrhistogram::Histogram::new(3)?,
            hdrhistogram::Histogram::new(3)?,
        ),
    };
    let queries = drive::queries(&clients[0], &gen.account_ids(), args).await?;
    let validation = if args.validate {
        let pending = expect_pending(args, load_started, &clients[0], &gen).await?;
        Some(drive::validate(&clients[0], &gen, &load, pending).await?)
    } else {
        None
    };
    let nodes = temp.map(|t| t.usage()).unwrap_or_default();
    Ok(report::Report {
        accounts_secs,
        terms,
        load,
        queries,
        queries_under_load,
        lookups_under_load,
        validation,
        nodes,
    })
}
