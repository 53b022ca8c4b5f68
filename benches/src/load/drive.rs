//! The clients: account creation, the load (closed loop, one transfer per request, or open
//! loop at a fixed rate), the queries afterwards, and validation.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use tally_client::{
    Account, AccountFilter, AccountFilterFlags, Client, CreateTransferResult, Transfer,
};
use tokio::task::JoinSet;

use super::gen::{expected_balances, Gen, Pending};
use super::report::{hist, Load, Slow, Slowest, Validation};
use super::BenchArgs;

/// Creates every account, in full batches.
pub async fn create_accounts(client: &Client, gen: &Gen) -> Result<()> {
    for chunk in gen.accounts().chunks(tally_client::BATCH_MAX) {
        let r = client
            .create_accounts(chunk)
            .await
            .context("create accounts")?;
        if let Some(bad) = r.iter().find(|r| !r.is_applied()) {
            bail!("create accounts: {bad}");
        }
    }
    Ok(())
}

/// Opens every connection before the timed load: one cheap read per client, all at once.
/// The SDK connects lazily, so without this the first request of each of 10,000 connections
/// would pay a TCP and HTTP/2 handshake inside the measured window, and the latencies would
/// show a connection storm rather than the steady state.
pub async fn warm_up(clients: &[Client], gen: &Gen) -> Result<()> {
    let id = gen.account_ids()[0];
    let mut tasks = JoinSet::new();
    for c in clients {
        let c = c.clone();
        tasks.spawn(async move { c.lookup_accounts(&[id]).await });
    }
    while let Some(r) = tasks.join_next().await {
        r.context("warm-up task")?.context("warm-up read")?;
    }
    Ok(())
}

/// What every driver shares while the load runs.
struct Shared {
    gen: Mutex<Gen>,
    /// Transfers not yet handed to a client.
    left: AtomicU64,
    done: AtomicU64,
    started: Instant,
    /// Transfers answered per 100 ms since the start.
    timeline: Mutex<Vec<u64>>,
    codes: Mutex<BTreeMap<&'static str, u64>>,
    /// Ids of transfers not created, kept only for `--validate` (a spike of refusals would
    /// otherwise grow it by every offered transfer).
    failed: Mutex<HashSet<u128>>,
    track_failed: bool,
    errors: AtomicU64,
    /// Requests refused as overload (`RESOURCE_EXHAUSTED`: nothing applied), and how long
    /// their refusals took, µs.
    refused: AtomicU64,
    /// Requests the SDK's overload throttle refused locally.
    throttled: AtomicU64,
    refusal_latency: Mutex<Histogram<u64>>,
    slowest: Mutex<Slowest>,
    /// Failed requests tolerated before the load stops (`--max-errors`).
    max_errors: u64,
    /// Why the load stopped early, once it has.
    stopped: Mutex<Option<String>>,
    bar: ProgressBar,
}

impl Shared {
    /// Takes up to `n` transfers from the sequence (none once the total is reached).
    fn take(&self, n: usize) -> Vec<Transfer> {
        let mut got = 0;
        let _ = self
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                got = left.min(n as u64);
                Some(left - got)
            });
        if got == 0 {
            return Vec::new();
        }
        self.gen.lock().expect("generator lock").batch(got as usize)
    }

    /// Counts an answered request sent at `sent` that took `latency_us`.
    fn record(
        &self,
        batch: &[Transfer],
        results: &[CreateTransferResult],
        sent: Instant,
        latency_us: u64,
    ) {
        self.slowest.lock().expect("slowest lock").record(Slow {
            latency_us,
            at_ms: sent.saturating_duration_since(self.started).as_millis() as u64,
        });
        let slot = (self.started.elapsed().as_millis() / 100) as usize;
        {
            let mut t = self.timeline.lock().expect("timeline lock");
            if t.len() <= slot {
                t.resize(slot + 1, 0);
            }
            t[slot] += batch.len() as u64;
        }
        let mut codes = self.codes.lock().expect("codes lock");
        for (t, r) in batch.iter().zip(results) {
            *codes.entry(r.name()).or_default() += 1;
            if !r.is_ok() {
                self.not_created(std::iter::once(t.id));
            }
        }
        self.done.fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.bar.inc(batch.len() as u64);
    }

    /// Counts a request that failed after `latency_us`: a refusal as overload is counted
    /// apart and never stops the load; any other failure counts towards `--max-errors`.
    fn error(&self, batch: &[Transfer], e: &tally_client::Error, latency_us: u64) {
        if e.is_throttled() {
            self.throttle(batch);
            return;
        }
        let refused = matches!(e, tally_client::Error::ResourceExhausted(_));
        self.failure(batch, e, refused, latency_us);
    }

    /// Leaves `ids` out of validation (when validating).
    fn not_created(&self, ids: impl Iterator<Item = u128>) {
        if self.track_failed {
            self.failed.lock().expect("failed lock").extend(ids);
        }
    }

    /// Counts a request the SDK's overload throttle refused without sending it.
    fn throttle(&self, batch: &[Transfer]) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
        self.not_created(batch.iter().map(|t| t.id));
    }

    /// [`Shared::error`] for any failure; `refused` when it was a refusal as overload.
    fn failure(
        &self,
        batch: &[Transfer],
        e: &dyn std::fmt::Display,
        refused: bool,
        latency_us: u64,
    ) {
        if refused {
            self.refused.fetch_add(1, Ordering::Relaxed);
            let _ = self
                .refusal_latency
                .lock()
                .expect("refusal histogram lock")
                .record(latency_us);
            // Not applied: left out of validation like any transfer not created.
            self.not_created(batch.iter().map(|t| t.id));
            return;
        }
        let n = self.errors.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= 5 {
            self.say(format!("request failed: {e}"));
        }
        if n > self.max_errors {
            // Hand out no more transfers; the requests in flight finish.
            self.left.store(0, Ordering::SeqCst);
            self.stopped
                .lock()
                .expect("stopped lock")
                .get_or_insert_with(|| {
                    format!(
                        "the load stopped after {n} failed request(s) (--max-errors {}); \
                         the first: {e}",
                        self.max_errors
                    )
                });
        }
        // A failed (or indeterminate) request's transfers are left out of validation.
        self.not_created(batch.iter().map(|t| t.id));
    }

    /// Prints a line above the progress bar, or on stderr when there is no bar (not a
    /// terminal), where the bar's own `println` prints nothing.
    fn say(&self, line: String) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }
}

/// A raw Ledger client: one gRPC attempt per call, no retries.
pub type Raw = tally_proto::v1::ledger_client::LedgerClient<tonic::transport::Channel>;

/// `n` raw clients (one connection each) to the leader among `addresses`, for `--no-retry`.
pub async fn raw_clients(
    addresses: &[String],
    n: usize,
    tls: Option<&tally_client::TlsOptions>,
) -> Result<Vec<Raw>> {
    let mut leader = None;
    for a in addresses {
        if let Ok(s) = tally_client::node_status_with(a, Duration::from_secs(2), tls).await {
            let addr = s
                .members
                .iter()
                .find(|m| Some(m.id) == s.leader_id)
                .map(|m| m.address.clone());
            if addr.is_some() {
                leader = addr;
                break;
            }
        }
    }
    let leader = leader.context("no node names a leader")?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut endpoint = match tls {
            Some(tls) => tonic::transport::Endpoint::from_shared(format!("https://{leader}"))?
                .tls_config(tls.tonic_config())?,
            None => tonic::transport::Endpoint::from_shared(format!("http://{leader}"))?,
        };
        endpoint = endpoint.connect_timeout(Duration::from_secs(2));
        let ch = endpoint
            .tcp_nodelay(true)
            .connect()
            .await
            .with_context(|| format!("connect to the leader at {leader}"))?;
        out.push(
            Raw::new(ch)
                .max_decoding_message_size(8 << 20)
                .max_encoding_message_size(8 << 20),
        );
    }
    Ok(out)
}

/// Runs the load and returns what it measured, or an error once more than `--max-errors`
/// requests have failed. With `raw` clients (`--no-retry`, open loop only) each request is
/// one attempt at the leader.
pub async fn load(
    clients: &[Client],
    raw: &[Raw],
    gen: &mut Gen,
    args: &BenchArgs,
) -> Result<Load> {
    let bar = ProgressBar::new(args.transfers);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{bar:40}] {pos}/{len} transfers ({per_sec})",
        )
        .expect("valid template"),
    );
    let started_unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let shared = Arc::new(Shared {
        gen: Mutex::new(gen.clone()),
        left: AtomicU64::new(args.transfers),
        done: AtomicU64::new(0),
        started: Instant::now(),
        timeline: Mutex::new(Vec::new()),
        codes: Mutex::new(BTreeMap::new()),
        failed: Mutex::new(HashSet::new()),
        track_failed: args.validate,
        errors: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        throttled: AtomicU64::new(0),
        refusal_latency: Mutex::new(hist()),
        slowest: Mutex::new(Slowest::default()),
        max_errors: args.max_errors,
        stopped: Mutex::new(None),
        bar,
    });
    let per_request = if args.single || args.sdk_batching {
        1
    } else {
        args.batch
    };
    let send = Submit {
        per_request,
        sdk_batching: args.sdk_batching,
    };
    let latency = match args.rate {
        None => closed_loop(clients, &shared, args.clients, send).await,
        Some(rate) => {
            let senders = if raw.is_empty() {
                clients
                    .iter()
                    .map(|c| Sender::Sdk(c.clone(), send))
                    .collect()
            } else {
                raw.iter().cloned().map(Sender::Raw).collect()
            };
            // On a worker thread, not the runtime's main thread: its spawns then queue locally
            // instead of waking a worker through a futex each, which on a core pinned for the
            // load generator cost more than the requests.
            let (shared, max_in_flight) = (shared.clone(), args.max_in_flight);
            tokio::spawn(async move {
                open_loop(senders, &shared, rate, per_request, max_in_flight).await
            })
            .await
            .context("open-loop task")?
        }
    }?;
    let secs = shared.started.elapsed().as_secs_f64();
    shared.bar.finish_and_clear();
    if let Some(why) = shared.stopped.lock().expect("stopped lock").take() {
        bail!(why);
    }
    let shared =
        Arc::try_unwrap(shared).map_err(|_| anyhow::anyhow!("load tasks still running"))?;
    Ok(Load {
        transfers: shared.done.load(Ordering::Relaxed),
        per_request,
        secs,
        latency_us: latency,
        timeline: shared.timeline.into_inner().expect("timeline lock"),
        codes: shared.codes.into_inner().expect("codes lock"),
        failed: shared.failed.into_inner().expect("failed lock"),
        errors: shared.errors.load(Ordering::Relaxed),
        refused: shared.refused.load(Ordering::Relaxed),
        throttled: shared.throttled.load(Ordering::Relaxed),
        refusal_latency_us: shared
            .refusal_latency
            .into_inner()
            .expect("refusal histogram lock"),
        started_unix_ms,
        slowest: shared
            .slowest
            .into_inner()
            .expect("slowest lock")
            .into_sorted(),
    })
}

/// How the load's transfers leave a client.
#[derive(Debug, Clone, Copy)]
struct Submit {
    /// Transfers per call.
    per_request: usize,
    /// Calls go through the SDK's batcher (`create_transfer`, one transfer each) instead of
    /// one request per call.
    sdk_batching: bool,
}

impl Submit {
    /// Submits `batch` (one transfer when `sdk_batching`) and returns its results.
    async fn submit(
        self,
        client: &Client,
        batch: &[Transfer],
    ) -> Result<Vec<CreateTransferResult>, tally_client::Error> {
        if self.sdk_batching {
            let mut results = Vec::with_capacity(batch.len());
            for t in batch {
                results.push(client.create_transfer(*t).await?);
            }
            Ok(results)
        } else {
            client.create_transfers(batch).await
        }
    }
}

/// `n` clients, each sending its next request when the last one returned.
///
/// Each client keeps its latencies in a plain list, merged into one histogram at the end: a
/// histogram per client is ~160 KB of zeroed memory, 1.6 GB for 10,000 clients (the kernel's
/// page zeroing was the benchmark client's top cost).
async fn closed_loop(
    clients: &[Client],
    shared: &Arc<Shared>,
    n: usize,
    send: Submit,
) -> Result<Histogram<u64>> {
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let client = clients[i % clients.len()].clone();
        let shared = shared.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let batch = shared.take(send.per_request);
                if batch.is_empty() {
                    return latencies;
                }
                let t0 = Instant::now();
                match send.submit(&client, &batch).await {
                    Ok(r) => {
                        let us = t0.elapsed().as_micros() as u64;
                        latencies.push(us);
                        shared.record(&batch, &r, t0, us);
                    }
                    Err(e) => shared.error(&batch, &e, t0.elapsed().as_micros() as u64),
                }
            }
        });
    }
    let mut h = hist();
    while let Some(latencies) = tasks.join_next().await {
        for us in latencies.context("client task")? {
            let _ = h.record(us);
        }
    }
    Ok(h)
}

/// How an open-loop request leaves the benchmark.
#[derive(Clone)]
enum Sender {
    /// Through the SDK (its retries, its retry budget, its overload throttle).
    Sdk(Client, Submit),
    /// One raw attempt at the leader (`--no-retry`).
    Raw(Raw),
}

/// How a request ended.
enum Outcome {
    Answered(Vec<CreateTransferResult>),
    /// Through the SDK: its error.
    Error(tally_client::Error),
    /// Raw: its failure, `refused` when refused as overload.
    Failed {
        error: String,
        refused: bool,
    },
}

impl Sender {
    async fn send(self, batch: &[Transfer]) -> Outcome {
        use tally_proto::v1;
        match self {
            Sender::Sdk(client, submit) => match submit.submit(&client, batch).await {
                Ok(r) => Outcome::Answered(r),
                Err(e) => Outcome::Error(e),
            },
            Sender::Raw(mut client) => {
                let mut req = tonic::Request::new(v1::CreateTransfersRequest {
                    transfers: batch.iter().map(v1::Transfer::from).collect(),
                });
                req.set_timeout(Duration::from_secs(30));
                match client.create_transfers(req).await {
                    Ok(r) => r
                        .into_inner()
                        .results
                        .into_iter()
                        .map(|c| v1::CreateTransferResult::try_from(c).map(Into::into))
                        .collect::<Result<Vec<_>, _>>()
                        .map_or_else(
                            |e| Outcome::Failed {
                                error: e.to_string(),
                                refused: false,
                            },
                            Outcome::Answered,
                        ),
                    Err(s) => Outcome::Failed {
                        refused: s.code() == tonic::Code::ResourceExhausted,
                        error: s.to_string(),
                    },
                }
            }
        }
    }
}

/// Requests of `per_request` transfers offered at a fixed rate of `rate` transfers/s, whether
/// or not earlier ones were answered; latency counts from when each was due.
///
/// At most `max_in_flight` requests are outstanding: one due when all are will leave as soon
/// as one returns, and its latency still counts from when it was due (no coordinated
/// omission). The bound keeps the benchmark's own memory and CPU flat when the cluster falls
/// behind: without it every late request is a live task, and a generator with hundreds of
/// thousands of them spends its core zeroing fresh pages and stops offering the load it
/// reports.
async fn open_loop(
    senders: Vec<Sender>,
    shared: &Arc<Shared>,
    rate: u64,
    per_request: usize,
    max_in_flight: usize,
) -> Result<Histogram<u64>> {
    let interval = Duration::from_secs_f64(per_request as f64 / rate as f64);
    let start = tokio::time::Instant::now();
    let hist_all = Arc::new(Mutex::new(hist()));
    let slots = Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1)));
    let mut tasks = JoinSet::new();
    let mut k: u64 = 0;
    loop {
        let due = start + interval.mul_f64(k as f64);
        tokio::time::sleep_until(due).await;
        let slot = slots.clone().acquire_owned().await?;
        let batch = shared.take(per_request);
        if batch.is_empty() {
            break;
        }
        let sender = senders[(k as usize) % senders.len()].clone();
        let (shared, h) = (shared.clone(), hist_all.clone());
        tasks.spawn(async move {
            let outcome = sender.send(&batch).await;
            let us = due.elapsed().as_micros() as u64;
            match outcome {
                Outcome::Answered(r) => {
                    let _ = h.lock().expect("histogram lock").record(us);
                    shared.record(&batch, &r, due.into_std(), us);
                }
                Outcome::Error(e) => shared.error(&batch, &e, us),
                Outcome::Failed { error, refused } => shared.failure(&batch, &error, refused, us),
            }
            drop(slot);
        });
        // Reap finished requests so the set stays small.
        while tasks.try_join_next().is_some() {}
        k += 1;
    }
    while tasks.join_next().await.is_some() {}
    let h = Arc::try_unwrap(hist_all)
        .map_err(|_| anyhow::anyhow!("open-loop tasks still running"))?
        .into_inner()
        .expect("histogram lock");
    Ok(h)
}

/// Times `args.queries` account-history queries (newest 10 transfers of a random account).
pub async fn queries(
    client: &Client,
    gen_ids: &[u128],
    args: &BenchArgs,
) -> Result<Histogram<u64>> {
    let mut h = hist();
    let mut rng = fastrand::Rng::with_seed(args.seed);
    for _ in 0..args.queries {
        history_query(client, gen_ids, &mut rng, &mut h).await?;
    }
    Ok(h)
}

/// Pause between two queries under load: about 100 a second, a small load of their own.
pub const UNDER_LOAD_PAUSE: Duration = Duration::from_millis(10);

/// Times account-history queries and account lookups (both linearizable), made one at a time,
/// [`UNDER_LOAD_PAUSE`] apart, until `stop` is set: what a reader sees while the load runs.
/// Returns the queries' and the lookups' latencies.
pub async fn queries_under_load(
    client: Client,
    gen_ids: Vec<u128>,
    seed: u64,
    stop: Arc<AtomicBool>,
) -> Result<(Histogram<u64>, Histogram<u64>)> {
    let (mut h, mut lookups) = (hist(), hist());
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
    while !stop.load(Ordering::Relaxed) {
        history_query(&client, &gen_ids, &mut rng, &mut h).await?;
        let id = gen_ids[rng.usize(..gen_ids.len())];
        let t0 = Instant::now();
        client.lookup_accounts(&[id]).await.context("lookup")?;
        let _ = lookups.record(t0.elapsed().as_micros() as u64);
        tokio::time::sleep(UNDER_LOAD_PAUSE).await;
    }
    Ok((h, lookups))
}

/// One linearizable "newest 10 transfers of a random account" query, timed into `h`.
async fn history_query(
    client: &Client,
    gen_ids: &[u128],
    rng: &mut fastrand::Rng,
    h: &mut Histogram<u64>,
) -> Result<()> {
    let id = gen_ids[rng.usize(..gen_ids.len())];
    let mut f = AccountFilter::new(id);
    f.limit = 10;
    f.flags =
        AccountFilterFlags::DEBITS | AccountFilterFlags::CREDITS | AccountFilterFlags::REVERSED;
    let t0 = Instant::now();
    client.get_account_transfers(f).await.context("query")?;
    let _ = h.record(t0.elapsed().as_micros() as u64);
    Ok(())
}

/// Looks up `ids` in requests of at most [`tally_client::BATCH_MAX`]: every account found, in
/// the order of the answers (missing ones left out).
async fn lookup_accounts_chunked(client: &Client, ids: &[u128]) -> Result<Vec<Account>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(tally_client::BATCH_MAX) {
        out.extend(
            client
                .lookup_accounts(chunk)
                .await
                .context("lookup accounts")?,
        );
    }
    Ok(out)
}

/// Waits until no account holds a pending amount (the run's pending transfers have expired),
/// polling every account's balances, for at most `limit`.
pub async fn wait_for_expiry(client: &Client, gen: &Gen, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let pending: u128 = lookup_accounts_chunked(client, &gen.account_ids())
            .await?
            .iter()
            .map(|a| a.debits_pending + a.credits_pending)
            .sum();
        if pending == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "pending transfers still hold {pending} after waiting {limit:?} for their expiry"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Looks up every transfer of the run and every account, and checks them against a replay of
/// the sequence: every acknowledged transfer present with its amount, every balance exact,
/// debits = credits.
pub async fn validate(
    client: &Client,
    gen: &Gen,
    load: &Load,
    pending: Pending,
) -> Result<Validation> {
    let total = load.transfers + load.failed.len() as u64;
    let mut replay = gen.replay();
    let mut checked = 0u64;
    let mut missing = 0u64;
    let mut left = total;
    while left > 0 {
        let n = left.min(tally_client::BATCH_MAX as u64) as usize;
        left -= n as u64;
        let want: Vec<Transfer> = replay
            .batch(n)
            .into_iter()
            .filter(|t| !load.failed.contains(&t.id))
            .collect();
        let ids: Vec<u128> = want.iter().map(|t| t.id).collect();
        let got = client
            .lookup_transfers(&ids)
            .await
            .context("lookup transfers")?;
        let by_id: BTreeMap<u128, &Transfer> = got.iter().map(|t| (t.id, t)).collect();
        for w in &want {
            match by_id.get(&w.id) {
                Some(g) if g.amount == w.amount && g.debit_account_id == w.debit_account_id => {
                    checked += 1;
                }
                _ => missing += 1,
            }
        }
    }
    let expected = expected_balances(gen, total, &load.failed, pending);
    let ids = gen.account_ids();
    let found = lookup_accounts_chunked(client, &ids).await?;
    let balances = compare_balances(&ids, &expected, &found);
    Ok(Validation {
        transfers_checked: checked,
        transfers_missing: missing,
        accounts_checked: ids.len() as u64,
        accounts_mismatched: balances.mismatched,
        debits_equal_credits: balances.debits == balances.credits,
    })
}

/// What [`compare_balances`] found.
#[derive(Debug, PartialEq, Eq)]
struct Balances {
    /// Accounts whose balances differ from the expected ones, or that were not found.
    mismatched: u64,
    /// Sum of debits (pending and posted) over the accounts found.
    debits: u128,
    /// Sum of credits (pending and posted) over the accounts found.
    credits: u128,
}

/// Compares the accounts `got` (in any order, missing ones left out, as `lookup_accounts`
/// answers) with `expected[i]`, the (debits pending, debits posted, credits pending, credits
/// posted) of `ids[i]`. Matching by id: pairing answers with ids by position reported every
/// account after a missing one as wrong.
fn compare_balances<'a>(
    ids: &[u128],
    expected: &[[u128; 4]],
    got: impl IntoIterator<Item = &'a Account>,
) -> Balances {
    let by_id: BTreeMap<u128, &Account> = got.into_iter().map(|a| (a.id, a)).collect();
    let mut out = Balances {
        mismatched: 0,
        debits: 0,
        credits: 0,
    };
    for (id, want) in ids.iter().zip(expected) {
        let Some(a) = by_id.get(id) else {
            out.mismatched += 1;
            continue;
        };
        out.debits += a.debits_pending + a.debits_posted;
        out.credits += a.credits_pending + a.credits_posted;
        let have = [
            a.debits_pending,
            a.debits_posted,
            a.credits_pending,
            a.credits_posted,
        ];
        if have != *want {
            out.mismatched += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: u128, debits_posted: u128, credits_posted: u128) -> Account {
        Account {
            id,
            debits_posted,
            credits_posted,
            ..Account::new(id, 1, 1)
        }
    }

    #[test]
    fn balances_are_matched_by_id_when_an_account_is_missing() {
        let ids = [1, 2, 3];
        let expected = [[0, 5, 0, 0], [0, 0, 0, 5], [0, 7, 0, 7]];
        // Account 2 missing from the answer: only it is wrong, not 3 after it.
        let got = [account(1, 5, 0), account(3, 7, 7)];
        assert_eq!(
            compare_balances(&ids, &expected, &got),
            Balances {
                mismatched: 1,
                debits: 12,
                credits: 7,
            }
        );
        let got = [account(3, 7, 7), account(2, 0, 5), account(1, 5, 0)];
        let all = compare_balances(&ids, &expected, &got);
        assert_eq!(all.mismatched, 0, "order of the answer does not matter");
        assert_eq!((all.debits, all.credits), (12, 12));
        let got = [account(1, 5, 0), account(2, 0, 6), account(3, 7, 7)];
        assert_eq!(compare_balances(&ids, &expected, &got).mismatched, 1);
    }
}
