//! One test run: start the cluster, set up the accounts, run clients and nemesis together,
//! heal, wait for recovery, read the final state, check, and write everything to `out`.
//!
//! `out/` then holds `history.jsonl` (every operation and fault), `summary.json`, `final.json`
//! (the final balances and transfers as read) and `cluster/n<i>.log` (each node's stderr).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use tokio::sync::Mutex;

use crate::checker::{self, Anomaly, Expect, FinalState};
use crate::client::{balance, Client, Outcome};
use crate::cluster::{
    check_faultfs_possible, find_faultfs_bin, Cluster, ClusterOptions, FaultFsOptions,
};
use crate::history::{self, Balance, Recorder, Type, F};
use crate::nemesis::{self, Family, Schedule};
use crate::workload::{self, Shape, Worker, SOURCE};

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The `tally` binary.
    pub bin: PathBuf,
    /// 3 or 5.
    pub nodes: u64,
    /// How long clients and nemesis run.
    pub time: Duration,
    /// Fault families.
    pub nemeses: Vec<Family>,
    /// Fault timing.
    pub schedule: Schedule,
    /// Seed of every random choice (the cluster's own timing is not reproducible).
    pub seed: u64,
    /// Output directory.
    pub out: PathBuf,
    /// Bank clients.
    pub bank_clients: u64,
    /// Idempotency clients.
    pub idem_clients: u64,
    /// Accounts per workload.
    pub shape: Shape,
    /// Extra flags for every `tally start` (e.g. `--snapshot-every=100`).
    pub tally_args: Vec<String>,
    /// A deliberately broken client mode, to show that the checkers catch what it breaks.
    pub broken: Option<Broken>,
}

/// A deliberately broken mode of the harness's clients. A run with one must find anomalies;
/// `server/tests/jepsen_broken_mode.rs` checks that it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Broken {
    /// The bank's balance reads, recorded as linearizable, are stale reads from a random node
    /// (a follower, or a node cut off from the majority, answers with what it has applied).
    StaleReads,
    /// Every node runs with `tally start --unsafe-skip-log-fsync`: it acknowledges log appends
    /// without fsyncing them, so a power cut of a majority loses acknowledged transfers. Needs
    /// the `power-loss` nemesis.
    SkipLogFsync,
}

/// The flag `--broken skip-log-fsync` adds to every `tally start`.
pub const SKIP_LOG_FSYNC_FLAG: &str = "--unsafe-skip-log-fsync";

/// What the run saw, written to `summary.json`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Summary {
    /// Seed used.
    pub seed: u64,
    /// The deliberately broken mode the run used, if any (its anomalies are expected).
    pub broken: Option<String>,
    /// ok / fail / info counts per function (`transfer`, `read`).
    pub ops: BTreeMap<String, BTreeMap<String, u64>>,
    /// Faults injected, by kind.
    pub faults: BTreeMap<String, u64>,
    /// Anomaly counts by kind.
    pub anomalies_by_kind: BTreeMap<String, u64>,
    /// Every anomaly (the first 200).
    pub anomalies: Vec<Anomaly>,
    /// Checks that could not finish (e.g. a linearizability search over budget).
    pub notes: Vec<String>,
    /// Transfers found at the end.
    pub transfers_found: usize,
    /// Operations the linearizability search covered, per bank account.
    pub linearizability_ops: BTreeMap<String, usize>,
    /// Latency of `ok` operations per function: p50, p99 and max in ms.
    pub latency_ms: BTreeMap<String, [f64; 3]>,
    /// `info` transfer operations, by what the final state says: `applied` or `not applied`.
    pub info_resolved: BTreeMap<String, u64>,
    /// Total anomalies.
    pub anomaly_count: usize,
}

impl Summary {
    /// A short human-readable report.
    pub fn render(&self) -> String {
        let mut s = format!("seed {}\n", self.seed);
        if let Some(b) = &self.broken {
            s += &format!("BROKEN MODE {b}: anomalies are expected\n");
        }
        for (f, counts) in &self.ops {
            s += &format!("ops {f}: {counts:?}\n");
        }
        s += &format!("faults: {:?}\n", self.faults);
        s += &format!("transfers found at the end: {}\n", self.transfers_found);
        for (f, [p50, p99, max]) in &self.latency_ms {
            s += &format!("latency {f} ok: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms\n");
        }
        s += &format!("info transfers resolved: {:?}\n", self.info_resolved);
        let lin: usize = self.linearizability_ops.values().sum();
        s += &format!(
            "linearizability: {lin} operations over {} accounts\n",
            self.linearizability_ops.len()
        );
        for n in &self.notes {
            s += &format!("note: {n}\n");
        }
        if self.anomaly_count == 0 {
            s += "no anomalies\n";
        } else {
            s += &format!(
                "{} ANOMALIES: {:?}\n",
                self.anomaly_count, self.anomalies_by_kind
            );
            for a in self.anomalies.iter().take(20) {
                s += &format!("  {}: {}\n", a.kind, a.detail);
            }
        }
        s
    }
}

/// Runs the whole test; `Err` only for harness failures (the cluster never became healthy,
/// setup could not complete), anomalies are in the summary.
pub async fn run(opts: RunOptions) -> Result<Summary> {
    let power_loss = opts.nemeses.contains(&Family::PowerLoss);
    if opts.broken == Some(Broken::SkipLogFsync) && !power_loss {
        anyhow::bail!("--broken skip-log-fsync needs the power-loss nemesis to show anything");
    }
    let faultfs = if power_loss {
        check_faultfs_possible()?;
        Some(FaultFsOptions {
            bin: find_faultfs_bin(&opts.bin)?,
            seed: opts.seed,
        })
    } else {
        None
    };
    let mut extra_args = opts.tally_args.clone();
    if opts.broken == Some(Broken::SkipLogFsync) {
        extra_args.push(SKIP_LOG_FSYNC_FLAG.into());
    }
    std::fs::create_dir_all(&opts.out)?;
    let cluster = Cluster::start_with(
        ClusterOptions {
            bin: opts.bin.clone(),
            nodes: opts.nodes,
            dir: opts.out.join("cluster"),
            extra_args,
        },
        faultfs,
    )
    .await?;
    let leader = cluster.wait_healthy(Duration::from_secs(30)).await?;
    eprintln!("jepsen: {} nodes up, leader n{leader}", opts.nodes);
    let addrs: Vec<_> = cluster.addrs().into_values().collect();
    let cluster = Arc::new(Mutex::new(cluster));
    let mut setup_client = Client::new(addrs.clone(), Duration::from_secs(2))?;
    workload::setup(&mut setup_client, opts.shape, Duration::from_secs(30))
        .await
        .context("setup")?;

    let history = Recorder::new();
    let until = Instant::now() + opts.time;
    let ids = Arc::new(AtomicU64::new(workload::FIRST_WORKLOAD_ID));
    let load = nemesis::Load {
        addrs: addrs.clone(),
        ids: ids.clone(),
        shape: opts.shape,
        first_process: opts.bank_clients + opts.idem_clients + 1,
    };
    let nemesis = tokio::spawn(nemesis::run(
        cluster.clone(),
        opts.nemeses.clone(),
        opts.schedule,
        history.clone(),
        opts.seed,
        until,
        load,
    ));
    let workers = spawn_workers(&opts, &addrs, &history, &ids, until)?;
    let faults = nemesis.await?;
    // A node that dies right after its restart shows up here and is restarted once more.
    tokio::time::sleep(Duration::from_secs(2)).await;
    nemesis::heal(&cluster, &history).await;
    eprintln!("jepsen: healed; waiting for recovery");
    cluster
        .lock()
        .await
        .wait_healthy(Duration::from_secs(60))
        .await?;
    for w in workers {
        w.await?;
    }
    let fin = {
        let c = cluster.lock().await;
        final_state(&c, &addrs, &opts, &history.snapshot()).await?
    };
    nemesis::heal(&cluster, &history).await;
    let ops = history.snapshot();
    history::write_jsonl(&opts.out.join("history.jsonl"), &ops)?;
    let crashes = crashes(&ops);
    write_final(&opts, &fin)?;
    cluster.lock().await.stop_all(Duration::from_secs(10));
    let summary = check(&opts, &ops, &fin, faults, crashes);
    std::fs::write(
        opts.out.join("summary.json"),
        serde_json::to_vec_pretty(&summary)?,
    )?;
    Ok(summary)
}

/// A `node-crashed` anomaly for every node the nemesis found dead without having killed it.
fn crashes(ops: &[history::Op]) -> Vec<Anomaly> {
    ops.iter()
        .filter_map(|o| match &o.value {
            history::Value::Fault { kind, detail } if kind == nemesis::CRASHED => {
                Some(Anomaly::new("node-crashed", detail.clone()))
            }
            _ => None,
        })
        .collect()
}

/// Runs every checker over the history and the final state, and sums up.
fn check(
    opts: &RunOptions,
    ops: &[history::Op],
    fin: &FinalState,
    faults: BTreeMap<String, u64>,
    crashes: Vec<Anomaly>,
) -> Summary {
    let expect = Expect {
        bank_ids: opts.shape.bank_ids(),
        funding: workload::FUNDING,
    };
    let pairs = history::pairs(ops);
    let (mut anomalies, notes) = checker::check_all(&pairs, fin, &expect);
    anomalies.extend(crashes);
    let mut summary = summarize(
        opts.seed,
        ops,
        faults,
        anomalies,
        notes,
        fin.transfers.len(),
    );
    summary.broken = opts.broken.map(|b| format!("{b:?}"));
    summary.info_resolved = resolve_infos(&pairs, fin);
    summary.latency_ms = latencies(&pairs);
    summary.linearizability_ops = checker::linear::sizes(&pairs, fin, &expect)
        .into_iter()
        .map(|(a, n)| (a.to_string(), n))
        .collect();
    summary
}

fn spawn_workers(
    opts: &RunOptions,
    addrs: &[std::net::SocketAddr],
    history: &Recorder,
    ids: &Arc<AtomicU64>,
    until: Instant,
) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut handles = Vec::new();
    for p in 1..=opts.bank_clients + opts.idem_clients {
        let mut client = Client::new(addrs.to_vec(), Duration::from_millis(1500))?;
        if opts.broken == Some(Broken::StaleReads) && p <= opts.bank_clients {
            client = client.with_stale_reads();
        }
        let w = Worker {
            process: p,
            client,
            history: history.clone(),
            ids: ids.clone(),
            shape: opts.shape,
            until,
            seed: opts.seed.wrapping_mul(1_000_003).wrapping_add(p),
        };
        handles.push(if p <= opts.bank_clients {
            tokio::spawn(w.run_bank())
        } else {
            tokio::spawn(w.run_idempotency(Duration::from_secs(30)))
        });
    }
    Ok(handles)
}

/// Waits for pending transfers to resolve, then reads every account and every transfer the run
/// sent (linearizable), and every node's balances (stale, once it has caught up).
async fn final_state(
    c: &Cluster,
    addrs: &[std::net::SocketAddr],
    opts: &RunOptions,
    ops: &[history::Op],
) -> Result<FinalState> {
    let mut client = Client::new(addrs.to_vec(), Duration::from_secs(3))?;
    let mut account_ids = vec![SOURCE];
    account_ids.extend(opts.shape.bank_ids());
    account_ids.extend(opts.shape.idem_ids());
    // Pending transfers time out after at most 2 s of ledger time; a clock offset may have
    // pushed ledger time ahead of the wall clock, so allow for that too.
    let deadline = Instant::now() + Duration::from_secs(30);
    let accounts = loop {
        let accs = must(client.lookup_accounts(&account_ids).await, "final accounts")?;
        let pending = accs
            .iter()
            .map(balance)
            .any(|b| b.debits_pending + b.credits_pending > 0);
        if !pending || Instant::now() > deadline {
            if pending {
                eprintln!("jepsen: pending amounts left after 30 s; the replay will differ");
            }
            break accs;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let mut ids = workload::attempted_ids(ops);
    ids.extend(opts.shape.funding_ids());
    let mut transfers = Vec::new();
    for chunk in ids.chunks(8000) {
        transfers.extend(must(
            client.lookup_transfers(chunk).await,
            "final transfers",
        )?);
    }
    let want: Vec<Balance> = accounts.iter().map(balance).collect();
    let mut replicas = BTreeMap::new();
    for (id, addr) in c.addrs() {
        let deadline = Instant::now() + Duration::from_secs(15);
        let got = loop {
            let got: Vec<Balance> = match client.lookup_accounts_stale(addr, &account_ids).await {
                Ok(accs) => accs.iter().map(balance).collect(),
                Err(_) => Vec::new(),
            };
            if got == want || Instant::now() > deadline {
                break got;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        replicas.insert(id, got);
    }
    Ok(FinalState {
        accounts,
        transfers,
        replicas,
    })
}

fn must<T>(o: Outcome<T>, what: &str) -> Result<T> {
    match o {
        Outcome::Ok(t) => Ok(t),
        Outcome::Fail(m) | Outcome::Info(m) => anyhow::bail!("{what}: {m}"),
    }
}

/// p50, p99 and max latency (ms) of the `ok` operations of each function.
fn latencies(pairs: &[history::Pair]) -> BTreeMap<String, [f64; 3]> {
    let mut by_f: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for p in pairs.iter().filter(|p| p.kind == Type::Ok) {
        let name = if p.f == F::Read { "read" } else { "transfer" };
        if let Some(done) = p.done_ns {
            by_f.entry(name.into())
                .or_default()
                .push(done - p.invoke_ns);
        }
    }
    by_f.into_iter()
        .map(|(f, mut ns)| {
            ns.sort_unstable();
            let at = |q: f64| ns[((ns.len() - 1) as f64 * q).round() as usize] as f64 / 1e6;
            (f, [at(0.5), at(0.99), at(1.0)])
        })
        .collect()
}

/// Counts `info` transfers by outcome: their first id found at the end or not.
fn resolve_infos(pairs: &[history::Pair], fin: &FinalState) -> BTreeMap<String, u64> {
    let found: std::collections::HashSet<u128> = fin
        .transfers
        .iter()
        .map(|t| tally_proto::u128_from_wire(t.id))
        .collect();
    let mut out = BTreeMap::new();
    for p in pairs.iter().filter(|p| p.kind == Type::Info) {
        let history::Value::Transfers { transfers, .. } = &p.invoke else {
            continue;
        };
        let applied = transfers.first().is_some_and(|x| found.contains(&x.id));
        let key = if applied { "applied" } else { "not applied" };
        *out.entry(key.to_string()).or_insert(0) += 1;
    }
    out
}

fn write_final(opts: &RunOptions, fin: &FinalState) -> Result<()> {
    let balances: Vec<Balance> = fin.accounts.iter().map(balance).collect();
    let doc = serde_json::json!({
        "balances": balances,
        "transfers_found": fin.transfers.len(),
        "transfer_ids_found": fin
            .transfers
            .iter()
            .map(|t| tally_proto::u128_from_wire(t.id))
            .collect::<Vec<_>>(),
        "replicas": fin.replicas,
    });
    std::fs::write(
        opts.out.join("final.json"),
        serde_json::to_vec_pretty(&doc)?,
    )?;
    Ok(())
}

fn summarize(
    seed: u64,
    ops: &[history::Op],
    faults: BTreeMap<String, u64>,
    anomalies: Vec<Anomaly>,
    notes: Vec<String>,
    transfers_found: usize,
) -> Summary {
    let mut s = Summary {
        seed,
        faults,
        notes,
        transfers_found,
        anomaly_count: anomalies.len(),
        ..Summary::default()
    };
    for op in ops
        .iter()
        .filter(|o| o.kind != Type::Invoke && o.f != F::Nemesis)
    {
        let f = serde_json::to_value(op.f).map(|v| v.as_str().unwrap_or("?").to_owned());
        let k = serde_json::to_value(op.kind).map(|v| v.as_str().unwrap_or("?").to_owned());
        if let (Ok(f), Ok(k)) = (f, k) {
            *s.ops.entry(f).or_default().entry(k).or_insert(0) += 1;
        }
    }
    for a in &anomalies {
        *s.anomalies_by_kind.entry(a.kind.clone()).or_insert(0) += 1;
    }
    s.anomalies = anomalies.into_iter().take(200).collect();
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Recorder, Value, Xfer};

    fn xfer(id: u128) -> Value {
        let x = Xfer::new(id, 1, 2, 1, 0, 1);
        Value::Transfers {
            transfers: vec![x],
            results: None,
        }
    }

    #[test]
    fn infos_are_resolved_by_the_final_state_and_latency_counts_only_ok() {
        let r = Recorder::new();
        for (p, id) in [(1, 7), (2, 8)] {
            r.record(p, Type::Invoke, F::Transfer, xfer(id), None);
            r.record(p, Type::Info, F::Transfer, xfer(id), Some("timeout".into()));
        }
        let pairs = history::pairs(&r.snapshot());
        let mut found = crate::client::to_wire(&match xfer(7) {
            Value::Transfers { transfers, .. } => transfers[0],
            _ => unreachable!(),
        });
        found.timestamp = 1;
        let fin = FinalState {
            transfers: vec![found],
            ..FinalState::default()
        };
        let got = resolve_infos(&pairs, &fin);
        assert_eq!(got.get("applied"), Some(&1));
        assert_eq!(got.get("not applied"), Some(&1));
        assert!(
            latencies(&pairs).is_empty(),
            "info operations have no latency"
        );
    }

    #[test]
    fn latency_percentiles_come_from_ok_operations() {
        let pairs: Vec<history::Pair> = (1..=100u64)
            .map(|ms| history::Pair {
                process: 1,
                f: F::Read,
                kind: Type::Ok,
                invoke: Value::Read { balances: None },
                result: Value::Read { balances: None },
                invoke_ns: 0,
                done_ns: Some(ms * 1_000_000),
            })
            .collect();
        let l = latencies(&pairs);
        let [p50, p99, max] = l["read"];
        assert!((50.0..=51.0).contains(&p50), "{p50}");
        assert_eq!((p99, max), (99.0, 100.0));
    }
}
