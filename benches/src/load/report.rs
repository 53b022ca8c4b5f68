//! What a run measured, printed as text and JSON, and drawn as charts ([`super::chart`]).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde_json::json;

use super::chart;
use super::BenchArgs;

/// A latency histogram in µs, 1 µs to 10 min, 3 significant digits.
pub fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// The load phase.
#[derive(Debug)]
pub struct Load {
    /// Transfers answered (any result code).
    pub transfers: u64,
    /// Transfers per request.
    pub per_request: usize,
    /// Wall time of the load phase.
    pub secs: f64,
    /// Request latency, µs.
    pub latency_us: Histogram<u64>,
    /// Transfers answered per 100 ms.
    pub timeline: Vec<u64>,
    /// Result codes and their counts.
    pub codes: BTreeMap<&'static str, u64>,
    /// Ids of transfers not created (a result other than ok, or a failed request); kept only
    /// with `--validate`.
    pub failed: HashSet<u128>,
    /// Requests that failed as a whole (refusals as overload not included).
    pub errors: u64,
    /// Requests refused as overload (`RESOURCE_EXHAUSTED`: nothing applied) by the cluster.
    pub refused: u64,
    /// Requests the SDK's overload throttle refused locally, unsent (not in `refused`).
    pub throttled: u64,
    /// How long a refusal by the cluster took to arrive, µs (open loop: from when the request
    /// was due).
    pub refusal_latency_us: Histogram<u64>,
    /// When the load started (Unix time, ms): with `slowest`, lines slow requests up with the
    /// nodes' own logs (RocksDB's LOG files time their flushes and compactions).
    pub started_unix_ms: u64,
    /// The slowest requests, slowest first.
    pub slowest: Vec<Slow>,
}

/// One slow request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Slow {
    /// Its latency, µs.
    pub latency_us: u64,
    /// When it was sent (open loop: when it was due), ms after the load started.
    pub at_ms: u64,
}

/// The [`SLOWEST_KEPT`] slowest requests seen so far.
#[derive(Debug, Default)]
pub struct Slowest(Vec<Slow>);

/// How many slow requests a report keeps.
pub const SLOWEST_KEPT: usize = 10;

impl Slowest {
    /// Counts a request.
    pub fn record(&mut self, slow: Slow) {
        if self.0.len() < SLOWEST_KEPT {
            self.0.push(slow);
        } else if let Some(min) = self.0.iter_mut().min() {
            if slow > *min {
                *min = slow;
            }
        }
    }

    /// Slowest first.
    pub fn into_sorted(mut self) -> Vec<Slow> {
        self.0.sort_unstable_by(|a, b| b.cmp(a));
        self.0
    }
}

/// The validation pass.
#[derive(Debug)]
pub struct Validation {
    /// Transfers found with the expected fields.
    pub transfers_checked: u64,
    /// Acknowledged transfers missing or different.
    pub transfers_missing: u64,
    /// Accounts looked up.
    pub accounts_checked: u64,
    /// Accounts missing or with a balance other than the replay's.
    pub accounts_mismatched: u64,
    /// Sum of all debits equals sum of all credits.
    pub debits_equal_credits: bool,
}

impl Validation {
    /// Whether everything checked out.
    pub fn ok(&self) -> bool {
        self.transfers_missing == 0 && self.accounts_mismatched == 0 && self.debits_equal_credits
    }
}

/// One node of a temporary cluster, measured at the end.
#[derive(Debug, Clone, Default)]
pub struct NodeUsage {
    /// Node id.
    pub id: u64,
    /// Resident memory now, KiB.
    pub rss_kib: u64,
    /// Peak resident memory, KiB.
    pub peak_rss_kib: u64,
    /// Bytes in the node's data dir.
    pub data_bytes: u64,
}

/// Everything a run measured.
#[derive(Debug)]
pub struct Report {
    /// Time to create the accounts.
    pub accounts_secs: f64,
    /// The highest Raft term the nodes reported before and after the load (`None`: no node
    /// answered the Admin status call).
    pub terms: (Option<u64>, Option<u64>),
    /// The load.
    pub load: Load,
    /// Query latency after the load, µs.
    pub queries: Histogram<u64>,
    /// Query latency during the load, µs.
    pub queries_under_load: Histogram<u64>,
    /// Linearizable account lookup latency during the load, µs.
    pub lookups_under_load: Histogram<u64>,
    /// Validation, if asked for.
    pub validation: Option<Validation>,
    /// Temporary cluster's nodes.
    pub nodes: Vec<NodeUsage>,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Transfers answered per `secs`-second bucket, from the 100 ms timeline.
pub fn per_bucket(timeline: &[u64], secs: usize) -> Vec<u64> {
    timeline
        .chunks(10 * secs.max(1))
        .map(|c| c.iter().sum())
        .collect()
}

fn pct(h: &Histogram<u64>) -> serde_json::Value {
    json!({
        "count": h.len(),
        "p1_ms": ms(h.value_at_quantile(0.01)),
        "p50_ms": ms(h.value_at_quantile(0.50)),
        "p99_ms": ms(h.value_at_quantile(0.99)),
        "p100_ms": ms(h.max()),
    })
}

/// The report as JSON.
pub fn to_json(args: &BenchArgs, r: &Report) -> serde_json::Value {
    let l = &r.load;
    json!({
        "config": {
            "nodes": if args.addresses.is_some() { serde_json::Value::Null } else { args.nodes.into() },
            "addresses": args.addresses,
            "accounts": args.accounts,
            "transfers": args.transfers,
            "per_request": l.per_request,
            "sdk_batching": args.sdk_batching,
            "clients": args.clients,
            "connections": args.connections,
            "rate": args.rate,
            "no_retry": args.no_retry,
            "server_cpus": args.server_cpus,
            "distribution": args.distribution,
            "pending_share": args.pending_share,
            "seed": args.seed,
        },
        "accounts_secs": r.accounts_secs,
        "raft_term": { "before_load": r.terms.0, "after_load": r.terms.1 },
        "load": {
            "transfers": l.transfers,
            "secs": l.secs,
            "transfers_per_sec": l.transfers as f64 / l.secs,
            "request_latency": pct(&l.latency_us),
            "result_codes": l.codes,
            "failed_requests": l.errors,
            "refused_requests": l.refused,
            "throttled_requests": l.throttled,
            "refusal_latency": pct(&l.refusal_latency_us),
            "accepted_per_sec": per_bucket(&l.timeline, 1),
            "timeline_per_100ms": l.timeline,
            "started_unix_ms": l.started_unix_ms,
            "slowest_requests": l.slowest.iter().map(|w| json!({
                "at_ms": w.at_ms, "latency_ms": ms(w.latency_us),
            })).collect::<Vec<_>>(),
        },
        "queries": pct(&r.queries),
        "queries_under_load": pct(&r.queries_under_load),
        "lookups_under_load": pct(&r.lookups_under_load),
        "validation": r.validation.as_ref().map(|v| json!({
            "ok": v.ok(),
            "transfers_checked": v.transfers_checked,
            "transfers_missing": v.transfers_missing,
            "accounts_checked": v.accounts_checked,
            "accounts_mismatched": v.accounts_mismatched,
            "debits_equal_credits": v.debits_equal_credits,
        })),
        "nodes": r.nodes.iter().map(|n| json!({
            "id": n.id, "rss_mib": n.rss_kib as f64 / 1024.0,
            "peak_rss_mib": n.peak_rss_kib as f64 / 1024.0,
            "data_mib": n.data_bytes as f64 / (1 << 20) as f64,
        })).collect::<Vec<_>>(),
    })
}

/// The run's setup in one line: where, how many accounts, how transfers are sent.
fn setup(args: &BenchArgs, l: &Load) -> String {
    let what = if args.sdk_batching {
        "1 transfer per call, batched by the SDK".to_string()
    } else if l.per_request == 1 {
        "1 transfer per request".to_string()
    } else {
        format!("{} transfers per request", l.per_request)
    };
    let target = match &args.addresses {
        Some(a) => format!("cluster at {}", a.join(",")),
        None => format!("temporary {}-node cluster", args.nodes),
    };
    let mode = match args.rate {
        Some(r) if args.no_retry => format!("open loop at {r} transfers/s, one attempt each"),
        Some(r) => format!("open loop at {r} transfers/s"),
        None if args.clients == 1 => "1 closed-loop client".to_string(),
        None => format!("{} closed-loop clients", args.clients),
    };
    let distribution = format!("{:?}", args.distribution).to_lowercase();
    format!(
        "{target}, {} accounts ({distribution}), {what}, {mode}",
        args.accounts
    )
}

/// What one latency sample is: a batch, or a single transfer.
fn latency_of(l: &Load) -> &'static str {
    if l.per_request == 1 {
        "transfer"
    } else {
        "batch"
    }
}

/// The human-readable report.
pub fn to_text(args: &BenchArgs, r: &Report) -> String {
    let l = &r.load;
    let mut s = String::new();
    let _ = writeln!(s, "{}", setup(args, l));
    let _ = writeln!(s, "accounts created in {:.2} s", r.accounts_secs);
    let _ = writeln!(
        s,
        "load accepted = {:.0} transfers/s ({} transfers in {:.2} s)",
        l.transfers as f64 / l.secs,
        l.transfers,
        l.secs
    );
    let h = &l.latency_us;
    let label = latency_of(l);
    let _ = writeln!(
        s,
        "{label} latency p1 = {:.1} ms, p50 = {:.1} ms, p99 = {:.1} ms, p100 = {:.1} ms",
        ms(h.value_at_quantile(0.01)),
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max())
    );
    if !l.slowest.is_empty() {
        let worst: Vec<String> = l
            .slowest
            .iter()
            .take(5)
            .map(|w| {
                format!(
                    "{:.1} ms at {:.2} s",
                    ms(w.latency_us),
                    w.at_ms as f64 / 1e3
                )
            })
            .collect();
        let what = if l.per_request == 1 {
            "transfers"
        } else {
            "batches"
        };
        let _ = writeln!(s, "slowest {what}: {}", worst.join(", "));
    }
    if l.per_request > 1 && !h.is_empty() {
        let per = h.mean() / l.per_request as f64;
        let _ = writeln!(
            s,
            "per-transfer share of a batch's latency (mean) = {:.2} µs",
            per
        );
    }
    if l.refused > 0 {
        let q = &l.refusal_latency_us;
        let _ = writeln!(
            s,
            "refused by the cluster (RESOURCE_EXHAUSTED, not applied): {} requests, refusal \
             latency p50 = {:.2} ms, p99 = {:.2} ms, p100 = {:.2} ms",
            l.refused,
            ms(q.value_at_quantile(0.5)),
            ms(q.value_at_quantile(0.99)),
            ms(q.max())
        );
    }
    if l.throttled > 0 {
        let _ = writeln!(
            s,
            "refused by the SDK's overload throttle (not sent, not applied): {} requests",
            l.throttled
        );
    }
    let per_5s = per_bucket(&l.timeline, 5);
    if per_5s.len() > 1 {
        let full = per_bucket(&l.timeline, 1);
        // The last second is usually partial.
        let whole = &full[..full.len().saturating_sub(1)];
        let min = whole.iter().min().copied().unwrap_or(0);
        let rates: Vec<String> = per_5s.iter().map(|n| format!("{}", n / 5)).collect();
        let _ = writeln!(
            s,
            "answered transfers/s per 5 s: {} (slowest whole second: {min})",
            rates.join(", ")
        );
    }
    if !r.lookups_under_load.is_empty() {
        let q = &r.lookups_under_load;
        let _ = writeln!(
            s,
            "linearizable lookup latency under load p50 = {:.2} ms, p99 = {:.2} ms, p100 = {:.2} ms",
            ms(q.value_at_quantile(0.5)),
            ms(q.value_at_quantile(0.99)),
            ms(q.max())
        );
    }
    for (q, when) in [(&r.queries, ""), (&r.queries_under_load, " under load")] {
        if !q.is_empty() {
            let _ = writeln!(
                s,
                "query latency{when} (account history, 10 newest) p50 = {:.2} ms, p99 = {:.2} ms, \
                 p100 = {:.2} ms",
                ms(q.value_at_quantile(0.5)),
                ms(q.value_at_quantile(0.99)),
                ms(q.max())
            );
        }
    }
    let not_ok: u64 = l
        .codes
        .iter()
        .filter(|(k, _)| **k != "ok")
        .map(|(_, v)| v)
        .sum();
    if not_ok > 0 || l.errors > 0 || l.refused > 0 || l.throttled > 0 {
        let _ = writeln!(
            s,
            "not created: {not_ok} by result code {:?}, {} refused and {} throttled requests, {} \
             failed requests",
            l.codes, l.refused, l.throttled, l.errors
        );
    }
    if let (Some(before), Some(after)) = r.terms {
        let _ = writeln!(
            s,
            "raft term {before} before the load, {after} after{}",
            if after > before {
                " (leader elections during the load)"
            } else {
                ""
            }
        );
    }
    for n in &r.nodes {
        let _ = writeln!(
            s,
            "node {}: rss = {:.0} MiB (peak {:.0} MiB), data = {:.0} MiB",
            n.id,
            n.rss_kib as f64 / 1024.0,
            n.peak_rss_kib as f64 / 1024.0,
            n.data_bytes as f64 / (1 << 20) as f64
        );
    }
    if let Some(v) = &r.validation {
        let _ = writeln!(
            s,
            "validation {}: {} transfers found as acknowledged ({} missing), {} accounts ({} wrong), debits = credits: {}",
            if v.ok() { "passed" } else { "FAILED" },
            v.transfers_checked,
            v.transfers_missing,
            v.accounts_checked,
            v.accounts_mismatched,
            v.debits_equal_credits
        );
    }
    s
}

/// Prints the report (text to stdout, or to stderr with JSON on stdout) and writes the files.
pub fn print(args: &BenchArgs, r: &Report) -> Result<()> {
    let text = to_text(args, r);
    let json = to_json(args, r);
    if args.json {
        eprint!("{text}");
        println!("{json}");
    } else {
        print!("{text}");
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        std::fs::write(
            dir.join("benchmark.json"),
            serde_json::to_string_pretty(&json)?,
        )?;
        let run = chart::Run {
            setup: setup(args, &r.load),
            timeline: &r.load.timeline,
            secs: r.load.secs,
            transfers: r.load.transfers,
            latency_us: &r.load.latency_us,
            latency_of: latency_of(&r.load),
        };
        chart::write(dir, &run)?;
        eprintln!(
            "wrote {}/benchmark.json, benchmark.svg and benchmark.png",
            dir.display()
        );
    }
    if let Some(v) = &r.validation {
        if !v.ok() {
            anyhow::bail!("validation failed");
        }
    }
    Ok(())
}
