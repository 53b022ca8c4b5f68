//! A short real run of the fault-injection harness (tally-jepsen): 3 `tally` processes, kill,
//! partition and membership faults, both workloads, every checker; and the harness's own
//! control of real nodes. It lives in tally-server so that cargo builds the `tally` binary it
//! runs.

use std::path::PathBuf;
use std::time::Duration;

use tally_jepsen::cluster::{Cluster, ClusterOptions};
use tally_jepsen::history::{read_jsonl, Type, Value, F};
use tally_jepsen::nemesis::{Family, Schedule};
use tally_jepsen::run::{run, RunOptions};
use tally_jepsen::workload::Shape;

/// The `tally` binary of this build.
fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tally"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_partition_and_membership_run_finds_no_anomaly_and_injects_faults() {
    let bin = binary();
    let out = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        bin,
        nodes: 3,
        time: Duration::from_secs(35),
        nemeses: vec![Family::Kill, Family::Partition, Family::Membership],
        schedule: Schedule {
            fault_ms: (2_000, 4_000),
            quiet_ms: (1_500, 3_000),
        },
        seed: 42,
        out: out.path().to_path_buf(),
        bank_clients: 3,
        idem_clients: 2,
        shape: Shape {
            bank_accounts: 6,
            idem_accounts: 4,
        },
        tally_args: vec![],
        broken: None,
    };
    let summary = run(opts).await.expect("the run completes");
    eprintln!("{}", summary.render());
    assert_eq!(summary.anomaly_count, 0, "{:#?}", summary.anomalies);
    let faults: u64 = summary.faults.values().sum();
    assert!(faults >= 3, "too few faults: {:?}", summary.faults);
    assert!(
        summary
            .faults
            .keys()
            .all(|k| ["kill", "partition", "membership-remove"]
                .iter()
                .any(|p| k.starts_with(p))),
        "{:?}",
        summary.faults
    );
    let lin: usize = summary.linearizability_ops.values().sum();
    assert!(lin > 100, "linearizability covered only {lin} operations");
    let ok = |f: &str| {
        summary
            .ops
            .get(f)
            .and_then(|m| m.get("ok"))
            .copied()
            .unwrap_or(0)
    };
    assert!(ok("transfer") > 100 && ok("read") > 20, "{:?}", summary.ops);

    // The history on disk is complete: every client invocation has a completion, and the
    // nemesis recorded the faults it injected.
    let ops = read_jsonl(&out.path().join("history.jsonl")).unwrap();
    let invokes = ops.iter().filter(|o| o.kind == Type::Invoke).count();
    let completions = ops
        .iter()
        .filter(|o| o.f != F::Nemesis && o.kind != Type::Invoke)
        .count();
    assert_eq!(invokes, completions);
    let injected = ops
        .iter()
        .filter(|o| matches!(&o.value, Value::Fault { kind, .. } if kind != "heal" && kind != "crashed"))
        .count();
    assert_eq!(injected as u64, faults);
    for id in 1..=3 {
        let log = std::fs::read_to_string(out.path().join(format!("cluster/n{id}.log"))).unwrap();
        assert!(log.contains("serving on"), "node {id} log: {log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_kills_restarts_and_partitions_real_nodes() {
    let bin = binary();
    let dir = tempfile::tempdir().unwrap();
    let mut c = Cluster::start(ClusterOptions {
        bin,
        nodes: 3,
        dir: dir.path().to_path_buf(),
        extra_args: vec![],
    })
    .await
    .unwrap();
    let leader = c.wait_healthy(Duration::from_secs(30)).await.unwrap();
    // Isolating the leader elects another among the majority.
    c.partition(&[leader]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let new_leader = loop {
        let mut found = None;
        for id in c.ids().into_iter().filter(|&i| i != leader) {
            if let Ok(s) = c.status(id, Duration::from_millis(500)).await {
                if s.state == tally_proto::v1::ServerState::Leader as i32 {
                    found = Some(id);
                }
            }
        }
        if let Some(l) = found {
            break l;
        }
        assert!(std::time::Instant::now() < deadline, "no new leader");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_ne!(new_leader, leader);
    c.heal_links();
    assert!(c.faulty_links().is_empty());
    // A killed node is down; restarted on the same data dir it rejoins.
    c.kill(new_leader).unwrap();
    assert!(!c.is_up(new_leader));
    c.restart(new_leader).unwrap();
    c.wait_healthy(Duration::from_secs(30)).await.unwrap();
    assert!(c.crashed().is_empty());
    // A node killed behind the harness's back is reported as crashed, once, and is then down.
    let victim = c.ids()[0];
    let pid = nix::unistd::Pid::from_raw(c.pid(victim).unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let crashed = c.crashed();
    assert_eq!(crashed.len(), 1, "{crashed:?}");
    assert_eq!(crashed[0].0, victim);
    assert!(!c.is_up(victim) && c.crashed().is_empty());
    c.restart(victim).unwrap();
    c.wait_healthy(Duration::from_secs(30)).await.unwrap();
    c.stop_all(Duration::from_secs(10));
    assert!(c.ids().iter().all(|&i| !c.is_up(i)));
}
