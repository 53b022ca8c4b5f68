//! The `tally` binary as real processes on 127.0.0.1: the no-flag quickstart and SIGTERM, and a
//! 3-node cluster whose leader is killed with SIGKILL under writes: a new leader takes writes
//! (the failover time is printed), the killed node restarts with the same command and catches
//! up, and no acknowledged transfer is lost. A node whose disk fails exits and loses nothing
//! it acknowledged; `tally benchmark` stops when one of its nodes does.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tally_proto::u128_from_wire;
use tally_proto::v1::{self, CreateTransferResult as Tr};
use tonic::Code;

/// A child `tally` process, killed when dropped so a failing test leaves nothing behind.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    fn start(args: &[String], cwd: &Path, env: &[(&str, String)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tally"));
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self::spawn(cmd, cwd)
    }

    /// Like [`Proc::start`], but no file the process writes may grow past `max_file_kib`
    /// (`RLIMIT_FSIZE`, with SIGXFSZ ignored): writes past it fail with EFBIG, the way they
    /// fail with ENOSPC on a full disk.
    fn start_limited(args: &[String], cwd: &Path, max_file_kib: u64) -> Self {
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(format!(
                "ulimit -f {max_file_kib} && trap '' XFSZ && exec \"$0\" \"$@\""
            ))
            .arg(env!("CARGO_BIN_EXE_tally"))
            .args(args);
        Self::spawn(cmd, cwd)
    }

    fn spawn(mut cmd: Command, cwd: &Path) -> Self {
        cmd.current_dir(cwd)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn tally");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[tally {}] {line}", std::process::id());
                let _ = tx.send(line);
            }
        });
        Self { child, lines }
    }

    /// Waits for a stderr line containing `needle`.
    fn wait_line(&self, needle: &str) -> String {
        let until = Instant::now() + BOUND;
        while Instant::now() < until {
            if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
                if l.contains(needle) {
                    return l;
                }
            }
        }
        panic!("no line with {needle:?} within the bound");
    }

    fn signal(&self, s: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), s).unwrap();
    }

    /// Waits (bounded) for the process to exit; returns whether it exited successfully.
    fn wait_exit(&mut self) -> bool {
        let until = Instant::now() + BOUND;
        while Instant::now() < until {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("process did not exit within the bound");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn status(addr: SocketAddr) -> Option<v1::GetStatusResponse> {
    let ch = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_millis(300))
        .timeout(Duration::from_millis(500))
        .connect()
        .await
        .ok()?;
    let mut a = tally_proto::v1::admin_client::AdminClient::new(ch);
    a.get_status(v1::GetStatusRequest {})
        .await
        .ok()
        .map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_start_serves_and_stops_on_sigterm() {
    let cwd = tempfile::tempdir().unwrap();
    let port = free_ports(1)[0];
    let mut p = Proc::start(
        &["start".into()],
        cwd.path(),
        &[("TALLY_LISTEN", format!("127.0.0.1:{port}"))],
    );
    p.wait_line("serving on");
    assert!(cwd.path().join("tally-data/node-1/tally.id").exists());
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let s = wait_leading(addr).await;
    assert_eq!(s.members.len(), 1);
    let mut c = ledger(addr).await;
    let r = c
        .create_accounts(v1::CreateAccountsRequest {
            accounts: vec![account(1, 0)],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.results, vec![0]);
    p.signal(Signal::SIGTERM);
    p.wait_line("stopped");
    assert!(p.wait_exit(), "clean exit on SIGTERM");

    // Bad configuration: a clear message and a failing exit code.
    let mut bad = Proc::start(
        &["start".into(), "--peers".into(), "2=127.0.0.1:1".into()],
        cwd.path(),
        &[],
    );
    bad.wait_line("does not list this node");
    assert!(!bad.wait_exit());
}

/// Waits (bounded) until the node at `addr` leads; returns its status then.
async fn wait_leading(addr: SocketAddr) -> v1::GetStatusResponse {
    tokio::time::timeout(BOUND, async {
        loop {
            if let Some(s) = status(addr).await {
                if s.state == v1::ServerState::Leader as i32 {
                    return s;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the node leads within the bound")
}

/// A disk that stops taking writes mid-load (here a file-size limit; a full disk fails the
/// same writes with ENOSPC): the node exits non-zero and says why, instead of staying up with
/// its Raft stopped and clients retrying until their deadlines; restarted with room, it
/// replays its log, and every transfer it acknowledged is there, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_disk_fails_exits_and_keeps_every_acknowledged_transfer() {
    let cwd = tempfile::tempdir().unwrap();
    let port = free_ports(1)[0];
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let args: Vec<String> = ["start", "--listen", &addr.to_string()]
        .map(String::from)
        .to_vec();
    // 8 MiB: the Raft log's first WAL file reaches it after ~100,000 transfers.
    let mut p = Proc::start_limited(&args, cwd.path(), 8 * 1024);
    p.wait_line("serving on");
    wait_leading(addr).await;
    let mut c = ledger(addr).await;
    let r = c
        .create_accounts(v1::CreateAccountsRequest {
            accounts: vec![account(1, 0), account(2, 0)],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.results, vec![0, 0]);

    const BATCH: u128 = 8000;
    let mut acked = 0u128;
    let mut sent = 0u128;
    let until = Instant::now() + BOUND;
    loop {
        assert!(Instant::now() < until, "the node kept taking writes");
        let batch = (sent + 1..=sent + BATCH)
            .map(|id| transfer(id, 1, 2, 1))
            .collect();
        sent += BATCH;
        let r = c
            .create_transfers(v1::CreateTransfersRequest { transfers: batch })
            .await;
        match r {
            Ok(r) => {
                let results = r.into_inner().results;
                assert!(results.iter().all(|&x| x == Tr::Ok as i32), "{results:?}");
                acked = sent;
            }
            Err(_) => break,
        }
    }
    assert!(
        acked >= BATCH,
        "some batches were acknowledged before the failure"
    );
    let said = p.wait_line("node stopped");
    assert!(
        said.contains("Raft failed") && said.contains("File too large"),
        "{said}"
    );
    assert!(!p.wait_exit(), "a failing exit status");
    drop(c);

    let _p = Proc::start(&args, cwd.path(), &[]);
    wait_leading(addr).await;
    let mut c = ledger(addr).await;
    let mut found = 0u128;
    for start in (1..=sent).step_by(BATCH as usize) {
        let ids: Vec<u128> = (start..start + BATCH).collect();
        let got = c
            .lookup_transfers(v1::LookupTransfersRequest {
                ids: ids.iter().map(|&id| v1::U128::new(id)).collect(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .transfers;
        for t in &got {
            let id = u128_from_wire(t.id);
            assert!(ids.contains(&id));
        }
        // Acknowledged batches are complete; the failed one is all or nothing.
        if start + BATCH - 1 <= acked {
            assert_eq!(
                got.len() as u128,
                BATCH,
                "acknowledged batch at {start} lost"
            );
        } else {
            assert!(
                got.is_empty() || got.len() as u128 == BATCH,
                "{}",
                got.len()
            );
        }
        found += got.len() as u128;
    }
    let accounts = c
        .lookup_accounts(v1::LookupAccountsRequest {
            ids: vec![v1::U128::new(1), v1::U128::new(2)],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .accounts;
    let posted = |a: &v1::Account, debit: bool| {
        u128_from_wire(if debit {
            a.debits_posted
        } else {
            a.credits_posted
        })
    };
    assert_eq!(
        posted(&accounts[0], true),
        found,
        "each transfer applied exactly once"
    );
    assert_eq!(posted(&accounts[1], false), found);
}

/// `tally benchmark` whose node fails mid-load (the file-size limit is inherited by the
/// temporary cluster's nodes): it stops at once with the node's own account of why, instead
/// of retrying each request until its 60 s deadline.
#[test]
fn benchmark_stops_when_a_node_of_its_cluster_dies() {
    let cwd = tempfile::tempdir().unwrap();
    let args = ["benchmark", "--transfers", "1000000", "--queries", "0"].map(String::from);
    let mut p = Proc::start_limited(&args, cwd.path(), 8 * 1024);
    let said = p.wait_line("exited");
    assert!(said.contains("node 1 exited"), "{said}");
    assert!(said.contains("node stopped: Raft failed"), "{said}");
    assert!(!p.wait_exit(), "a failing exit status");
}

fn node_args(id: u64, ports: &[u16], dir: &Path) -> Vec<String> {
    let peers: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1))
        .collect();
    vec![
        "start".into(),
        "--node-id".into(),
        id.to_string(),
        "--cluster-id".into(),
        "0x5eed".into(),
        "--peers".into(),
        peers.join(","),
        "--data-dir".into(),
        dir.join(format!("node-{id}")).display().to_string(),
    ]
}

/// Finds the leader among `addrs` (bounded); returns its index.
async fn find_leader(addrs: &[SocketAddr], skip: Option<usize>) -> usize {
    tokio::time::timeout(BOUND, async {
        loop {
            for (i, a) in addrs.iter().enumerate() {
                if Some(i) == skip {
                    continue;
                }
                if let Some(s) = status(*a).await {
                    if s.state == v1::ServerState::Leader as i32 {
                        return i;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a leader within the bound")
}

/// One transfer through any node, following leader hints, until `until`. `Ok(true)` if
/// acknowledged as created.
async fn try_write(addrs: &[SocketAddr], id: u128, until: Instant) -> Result<bool, tonic::Status> {
    let mut at = addrs[(id % addrs.len() as u128) as usize];
    loop {
        let r = match tokio::time::timeout(Duration::from_secs(2), ledger_or_none(at)).await {
            Ok(Some(mut c)) => {
                c.create_transfers(v1::CreateTransfersRequest {
                    transfers: vec![transfer(id, 1, 2, 1)],
                })
                .await
            }
            _ => Err(tonic::Status::unavailable("connect failed")),
        };
        match r {
            Ok(r) => {
                let code = r.into_inner().results[0];
                // A retry of an indeterminate attempt may find it already applied.
                return Ok(code == Tr::Ok as i32 || code == Tr::Exists as i32);
            }
            Err(e) if Instant::now() >= until => return Err(e),
            Err(e) => {
                if let Some(h) = e.metadata().get("tally-leader-addr") {
                    at = h.to_str().unwrap().parse().unwrap();
                } else {
                    at = addrs[fastrand::usize(..addrs.len())];
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                if e.code() != Code::Unavailable && e.code() != Code::DeadlineExceeded {
                    eprintln!("write {id}: {e}");
                }
            }
        }
    }
}

async fn ledger_or_none(
    addr: SocketAddr,
) -> Option<tally_proto::v1::ledger_client::LedgerClient<tonic::transport::Channel>> {
    let ch = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_millis(300))
        .timeout(Duration::from_secs(2))
        .connect()
        .await
        .ok()?;
    Some(tally_proto::v1::ledger_client::LedgerClient::new(ch))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_leader_fails_over_and_the_node_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    let addrs: Vec<SocketAddr> = ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}").parse().unwrap())
        .collect();
    let mut procs: Vec<Option<Proc>> = (1..=3)
        .map(|id| {
            Some(Proc::start(
                &node_args(id, &ports, dir.path()),
                dir.path(),
                &[],
            ))
        })
        .collect();
    let l = find_leader(&addrs, None).await;
    ledger(addrs[l])
        .await
        .create_accounts(v1::CreateAccountsRequest {
            accounts: vec![account(1, 0), account(2, 0)],
        })
        .await
        .unwrap();

    let mut acked = Vec::new();
    let mut id = 100u128;
    for _ in 0..50 {
        id += 1;
        if try_write(&addrs, id, Instant::now() + BOUND).await.unwrap() {
            acked.push(id);
        }
    }
    // SIGKILL the leader, then time how long until a write is acknowledged again.
    procs[l].as_ref().unwrap().signal(Signal::SIGKILL);
    procs[l].as_mut().unwrap().wait_exit();
    let killed = Instant::now();
    id += 1;
    let ok = try_write(&addrs, id, Instant::now() + BOUND).await.unwrap();
    let failover = killed.elapsed();
    eprintln!("FAILOVER: SIGKILL of the leader to the next acknowledged write: {failover:?}");
    assert!(ok);
    acked.push(id);
    for _ in 0..50 {
        id += 1;
        if try_write(&addrs, id, Instant::now() + BOUND).await.unwrap() {
            acked.push(id);
        }
    }

    // The killed node restarts with the same command and catches up.
    procs[l] = Some(Proc::start(
        &node_args(l as u64 + 1, &ports, dir.path()),
        dir.path(),
        &[],
    ));
    let leader = find_leader(&addrs, None).await;
    let target = status(addrs[leader]).await.unwrap().applied_index;
    tokio::time::timeout(BOUND, async {
        loop {
            if let Some(s) = status(addrs[l]).await {
                if s.applied_index >= target {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the restarted node catches up");

    for a in &addrs {
        let mut c = ledger(*a).await;
        let found = c
            .lookup_transfers(v1::LookupTransfersRequest {
                ids: acked.iter().map(|i| v1::U128::new(*i)).collect(),
                consistency: v1::ReadConsistency::Stale as i32,
            })
            .await
            .unwrap()
            .into_inner()
            .transfers;
        assert_eq!(
            found.len(),
            acked.len(),
            "every acknowledged transfer on {a}"
        );
        let acct = c
            .lookup_accounts(v1::LookupAccountsRequest {
                ids: vec![v1::U128::new(2)],
                consistency: v1::ReadConsistency::Stale as i32,
            })
            .await
            .unwrap()
            .into_inner()
            .accounts;
        // Writes that timed out may have applied too, never twice: credits >= acked count.
        let credits = u128_from_wire(acct[0].credits_posted);
        assert!(
            credits >= acked.len() as u128 && credits <= id - 100,
            "{credits} on {a}"
        );
    }
    for p in procs.iter_mut().flatten() {
        p.signal(Signal::SIGTERM);
        assert!(p.wait_exit());
    }
}

/// `tally benchmark` end to end: a temporary cluster, the load, and a validation pass that
/// finds every acknowledged transfer and exact balances. Small sizes: this checks the tool,
/// the figures come from the full-size runs in docs/benchmarks.md.
#[test]
fn benchmark_runs_and_validates() {
    let cwd = tempfile::tempdir().unwrap();
    for extra in [
        &["--transfers", "30000", "--batch", "1000", "--clients", "2"][..],
        &[
            "--nodes",
            "3",
            "--transfers",
            "3000",
            "--single",
            "--clients",
            "300",
            "--connections",
            "4",
            "--pending-share",
            "0.2",
        ][..],
        &[
            "--transfers",
            "4000",
            "--batch",
            "100",
            "--rate",
            "20000",
            "--distribution",
            "zipfian",
        ][..],
        // One transfer per call through the SDK's batcher.
        &[
            "--transfers",
            "5000",
            "--sdk-batching",
            "--clients",
            "500",
            "--connections",
            "2",
        ][..],
        // Pending transfers that expire before validation: it waits them out and expects
        // every reservation released (it used to expect them still pending, and failed).
        &[
            "--transfers",
            "20000",
            "--batch",
            "2000",
            "--pending-share",
            "0.5",
            "--pending-timeout",
            "1",
        ][..],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tally"))
            .args([
                "benchmark",
                "--accounts",
                "500",
                "--queries",
                "50",
                "--validate",
                "--json",
            ])
            .args(["--out", &cwd.path().display().to_string()])
            .args(extra)
            .current_dir(cwd.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{extra:?}: {stderr}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let want: u64 = extra[extra.iter().position(|a| *a == "--transfers").unwrap() + 1]
            .parse()
            .unwrap();
        assert_eq!(v["load"]["transfers"], want, "{extra:?}");
        assert_eq!(v["validation"]["ok"], true, "{extra:?}: {stderr}");
        assert_eq!(v["load"]["result_codes"]["ok"], want, "{extra:?}");
        // Every node answered its status: a term before and after the load, never lower.
        let term = |when: &str| v["raft_term"][when].as_u64();
        assert!(
            term("before_load").is_some_and(|b| b >= 1 && term("after_load") >= Some(b)),
            "{extra:?}: {}",
            v["raft_term"]
        );
        assert_eq!(
            v["config"]["sdk_batching"],
            extra.contains(&"--sdk-batching"),
            "{extra:?}"
        );
        assert!(v["load"]["transfers_per_sec"].as_f64().unwrap() > 0.0);
        // The slowest requests, slowest first, each no slower than the maximum, timed within
        // the load.
        let slow = v["load"]["slowest_requests"].as_array().unwrap();
        let lat: Vec<f64> = slow
            .iter()
            .map(|w| w["latency_ms"].as_f64().unwrap())
            .collect();
        assert!(!lat.is_empty() && lat.len() <= 10, "{slow:?}");
        assert!(lat.windows(2).all(|w| w[0] >= w[1]), "{lat:?}");
        let max = v["load"]["request_latency"]["p100_ms"].as_f64().unwrap();
        assert!(
            (lat[0] - max).abs() <= max * 0.01 + 0.01,
            "{lat:?} vs {max}"
        );
        let secs = v["load"]["secs"].as_f64().unwrap();
        assert!(slow
            .iter()
            .all(|w| w["at_ms"].as_f64().unwrap() <= secs * 1e3));
        assert!(v["load"]["started_unix_ms"].as_u64().unwrap() > 1_600_000_000_000);
        assert!(cwd.path().join("benchmark.svg").exists());
    }
}

/// The client commands against a running node: create, post, look up, history; exit codes and
/// messages for result codes and for an unreachable cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_commands_against_a_node() {
    let cwd = tempfile::tempdir().unwrap();
    let port = free_ports(1)[0];
    let addr = format!("127.0.0.1:{port}");
    let p = Proc::start(
        &["start".into()],
        cwd.path(),
        &[("TALLY_LISTEN", addr.clone())],
    );
    p.wait_line("serving on");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tally"))
            .args(args)
            .env("TALLY_ADDRESSES", &addr)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, out, err) = run(&[
        "account", "create", "--id", "1", "--ledger", "840", "--code", "1", "--flags", "history",
    ]);
    assert!(ok && out.contains("account 1 created"), "{out}{err}");
    let (ok, ..) = run(&[
        "account",
        "create",
        "--id",
        "0x2",
        "--ledger",
        "840",
        "--code",
        "1",
        "--flags",
        "debits_must_not_exceed_credits",
    ]);
    assert!(ok);
    let (ok, out, _) = run(&[
        "transfer", "create", "--id", "10", "--debit", "1", "--credit", "2", "--amount", "12.34",
        "--scale", "2", "--ledger", "840",
    ]);
    assert!(ok && out.contains("transfer 10 created"), "{out}");
    // A business rejection: its name and meaning, and a failing exit code.
    let (ok, out, _) = run(&[
        "transfer", "create", "--id", "11", "--debit", "2", "--credit", "1", "--amount", "5000",
        "--ledger", "840",
    ]);
    assert!(!ok);
    assert!(
        out.contains("exceeds_credits") && out.contains("owe more than its credits"),
        "{out}"
    );
    // Resending an applied id is not an error: it reports exists.
    let (ok, out, _) = run(&[
        "transfer", "create", "--id", "10", "--debit", "1", "--credit", "2", "--amount", "1234",
        "--ledger", "840", "--json",
    ]);
    assert!(ok && out.contains("\"result\":\"exists\""), "{out}");
    let (ok, ..) = run(&[
        "transfer",
        "create",
        "--id",
        "12",
        "--debit",
        "1",
        "--credit",
        "2",
        "--amount",
        "500",
        "--ledger",
        "840",
        "--pending",
        "--timeout",
        "60",
    ]);
    assert!(ok);
    let (ok, ..) = run(&[
        "transfer",
        "post",
        "--id",
        "13",
        "--pending-id",
        "12",
        "--amount",
        "200",
    ]);
    assert!(ok);
    let (ok, out, _) = run(&["account", "lookup", "1", "2", "--json"]);
    assert!(ok);
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows[0]["debits_posted"], "1434");
    assert_eq!(rows[1]["credits_posted"], "1434");
    assert_eq!(rows[0]["debits_pending"], "0", "the post released the rest");
    let (ok, out, _) = run(&["transfers", "1", "--reversed"]);
    assert!(ok);
    let ids: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(ids, vec!["13", "12", "10"]);
    let (ok, out, _) = run(&["balances", "1", "--json"]);
    assert!(ok);
    assert_eq!(out.lines().count(), 3);
    let (ok, _, err) = run(&["transfer", "lookup", "10", "99"]);
    assert!(!ok && err.contains("1 of 2 not found"), "{err}");
    let (ok, _, err) = run(&[
        "account",
        "lookup",
        "1",
        "--addresses",
        "127.0.0.1:1",
        "--timeout-secs",
        "1",
    ]);
    assert!(!ok && err.contains("could not connect"), "{err}");
    p.signal(Signal::SIGTERM);
}
