//! Prometheus metrics of `tally` processes: a 3-node cluster started with `--metrics-addr`
//! exports every metric that the Grafana dashboard and the alert rules under
//! `docs/monitoring/` name; `promtool` (Debian's `prometheus` package, which `scripts/dev.sh
//! test` installs) accepts each node's exposition and the rules; and a real Prometheus scraping
//! the cluster answers queries about it.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::process::{cluster_args, find_leader, local_addrs, Proc};
use common::*;

/// `docs/monitoring/` in the repository.
fn monitoring_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/monitoring")
}

/// A 3-node cluster of `tally` processes on 127.0.0.1, each with an HTTP address; the
/// processes are killed when it is dropped.
struct Cluster {
    _dir: tempfile::TempDir,
    _procs: Vec<Proc>,
    addrs: Vec<SocketAddr>,
    http: Vec<SocketAddr>,
}

impl Cluster {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ports = free_ports(6);
        let (grpc, http) = ports.split_at(3);
        let procs = (0..3)
            .map(|i| {
                let mut args = cluster_args(i as u64 + 1, grpc, dir.path());
                args.extend(["--metrics-addr".into(), format!("127.0.0.1:{}", http[i])]);
                Proc::start(&args, dir.path(), &[])
            })
            .collect();
        let addrs = local_addrs(grpc);
        find_leader(&addrs, None).await;
        Self {
            _dir: dir,
            _procs: procs,
            addrs,
            http: local_addrs(http),
        }
    }
}

/// The metric names a text names: every `tally_*` and `process_*` word.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let bytes = text.as_bytes();
    let word = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        let starts = (i == 0 || !word(bytes[i - 1]))
            && (text[i..].starts_with("tally_") || text[i..].starts_with("process_"));
        if !starts {
            i += 1;
            continue;
        }
        let end = (i..bytes.len())
            .find(|j| !word(bytes[*j]))
            .unwrap_or(bytes.len());
        found.insert(text[i..end].to_owned());
        i = end;
    }
    found
}

/// The sample names of an exposition (`name{labels} value` or `name value` lines).
fn sample_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// Runs `promtool ARGS` with `stdin` as its input; panics (never skips) if promtool is missing.
fn promtool(args: &[&str], stdin: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect(
            "promtool is missing: install Debian's `prometheus` package \
             (`scripts/dev.sh test` does it)",
        );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Scrapes `/metrics` of every node of `c`.
async fn scrape_all(c: &Cluster) -> Vec<String> {
    let mut out = Vec::new();
    for a in &c.http {
        let (code, body) = http(*a, "GET", "/metrics").await;
        assert_eq!(code, 200, "{body}");
        out.push(body);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_and_the_rules_name_is_exported_and_promtool_accepts_them() {
    let c = Cluster::start().await;
    let leader = find_leader(&c.addrs, None).await;
    // One write and one refused request, so the request metrics have samples of both kinds.
    let mut l = ledger(c.addrs[leader]).await;
    l.create_accounts(tally_proto::v1::CreateAccountsRequest {
        accounts: vec![account(1, 0), account(2, 0)],
    })
    .await
    .unwrap();
    let bad = l
        .lookup_accounts(tally_proto::v1::LookupAccountsRequest {
            ids: vec![tally_proto::u128_to_wire(1).unwrap(); 10_000],
            consistency: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    admin(c.addrs[leader])
        .await
        .trigger_snapshot(tally_proto::v1::TriggerSnapshotRequest {})
        .await
        .unwrap();
    // The leader reports replication to both followers once they have answered, and the
    // snapshot once it is built (the trigger does not wait for it).
    let until = tokio::time::Instant::now() + BOUND;
    let expositions = loop {
        let e = scrape_all(&c).await;
        let lags = e[leader]
            .lines()
            .filter(|l| l.starts_with("tally_raft_replication_lag_entries{"))
            .count();
        let built = e[leader].contains("\ntally_raft_snapshot_builds_total 1\n");
        if (lags == 2 && built) || tokio::time::Instant::now() > until {
            break e;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let exported: BTreeSet<String> = expositions.iter().flat_map(|e| sample_names(e)).collect();
    let leader_text = &expositions[leader];
    assert!(
        leader_text.contains("tally_requests_total{rpc=\"CreateAccounts\",code=\"OK\"} 1"),
        "{leader_text}"
    );
    assert!(
        leader_text
            .contains("tally_requests_total{rpc=\"LookupAccounts\",code=\"INVALID_ARGUMENT\"} 1"),
        "{leader_text}"
    );
    assert!(leader_text.contains("tally_raft_role{role=\"leader\"} 1"));
    assert!(leader_text.contains("\ntally_raft_snapshot_builds_total 1\n"));
    for (i, e) in expositions.iter().enumerate() {
        // The cluster's first membership is an entry every node applied.
        assert!(
            e.contains("\ntally_raft_membership_changes_total 1\n"),
            "node {}: {e}",
            i + 1
        );
        assert!(e.contains("\ntally_raft_members{kind=\"voter\"} 3\n"));
    }

    for file in ["grafana-dashboard.json", "alerts.yml"] {
        let text = std::fs::read_to_string(monitoring_dir().join(file)).unwrap();
        let named = names_in(&text);
        assert!(named.len() >= 10, "{file} names only {named:?}");
        let missing: Vec<_> = named.difference(&exported).collect();
        assert!(
            missing.is_empty(),
            "{file} names metrics no node exports: {missing:?}"
        );
    }

    for (i, e) in expositions.iter().enumerate() {
        let (ok, out) = promtool(&["check", "metrics"], e);
        assert!(ok && out.trim().is_empty(), "node {}: {out}", i + 1);
    }
    let rules = monitoring_dir().join("alerts.yml");
    let (ok, out) = promtool(&["check", "rules", rules.to_str().unwrap()], "");
    assert!(ok, "{out}");
}

/// A `prometheus` process, killed when dropped.
struct Prometheus {
    child: Child,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `s` percent-encoded for a URL's query.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of the single-sample answer of `query` at Prometheus `addr`, if there is one.
async fn query_one(addr: SocketAddr, query: &str) -> Option<f64> {
    let path = format!("/api/v1/query?query={}", url_encode(query));
    let (code, body) = http(addr, "GET", &path).await;
    if code != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    let result = v["data"]["result"].as_array()?;
    if result.len() != 1 {
        return None;
    }
    result[0]["value"][1].as_str()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_a_3_node_cluster_and_answers_queries_about_it() {
    let c = Cluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_ports(1)[0];
    let targets: Vec<String> = c.http.iter().map(|a| format!("\"{a}\"")).collect();
    let rules = monitoring_dir().join("alerts.yml").canonicalize().unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n  - \"{}\"\n\
         scrape_configs:\n  - job_name: tally\n    static_configs:\n      - targets: [{}]\n",
        rules.display(),
        targets.join(", ")
    );
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "prometheus is missing: install Debian's `prometheus` package \
             (`scripts/dev.sh test` does it)",
        );
    let _prometheus = Prometheus { child };

    let mut answers = (None, None, None);
    let until = tokio::time::Instant::now() + BOUND;
    while tokio::time::Instant::now() < until {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            answers = (
                query_one(addr, "count(tally_raft_term{job=\"tally\"})").await,
                query_one(addr, "sum(tally_raft_role{job=\"tally\",role=\"leader\"})").await,
                query_one(addr, "count(up{job=\"tally\"} == 1)").await,
            );
            if answers == (Some(3.0), Some(1.0), Some(3.0)) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        answers,
        (Some(3.0), Some(1.0), Some(3.0)),
        "(nodes with a term, leaders, targets up) as Prometheus sees them"
    );
    // The rules loaded: Prometheus evaluates them (none fires on a healthy cluster).
    let (code, body) = http(addr, "GET", "/api/v1/rules").await;
    assert_eq!(code, 200);
    assert!(body.contains("TallyNoLeader"), "{body}");
}
