//! `tally benchmark` as a real process: a small load on a temporary cluster, validated end to
//! end; and a benchmark whose node dies stops at once and says why.

mod common;

use common::process::*;

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
