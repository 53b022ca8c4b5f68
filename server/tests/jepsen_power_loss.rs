//! Power loss under load, through the fault harness (tally-jepsen): each node's data directory
//! runs on its own `tally-faultfs` mount, and the `power-loss` nemesis cuts the power of one
//! node, a majority, or every node at once, dropping whatever they wrote and did not fsync.
//! A correct build loses no acknowledged transfer; a build that acknowledges log appends
//! without an fsync (`--broken skip-log-fsync`) is caught. It lives in tally-server so that
//! cargo builds the `tally` binary it runs; it needs root and /dev/fuse, and fails (never
//! skips) without them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use tally_jepsen::nemesis::{Family, Schedule};
use tally_jepsen::run::{run, Broken, RunOptions, Summary};
use tally_jepsen::workload::Shape;

/// The `tally` binary of this build, with `tally-faultfs` beside it, built here: cargo builds a
/// package's own binaries for its tests, not other packages', and a `tally-faultfs` left from
/// an older build would otherwise be used (cargo makes this a no-op when it is current).
fn binaries() -> PathBuf {
    static BUILT: Mutex<()> = Mutex::new(());
    let _once = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_tally"));
    let faultfs = bin.with_file_name("tally-faultfs");
    {
        let target = bin
            .parent()
            .and_then(Path::parent)
            .expect("the binary is in <target>/release");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "-p",
                "tally-faultfs",
                "--bin",
                "tally-faultfs",
            ])
            .env("CARGO_TARGET_DIR", target)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo to build tally-faultfs");
        assert!(status.success(), "building tally-faultfs failed: {status}");
    }
    assert!(faultfs.exists(), "no {}", faultfs.display());
    bin
}

fn options(out: &Path, seed: u64, time: u64, broken: Option<Broken>) -> RunOptions {
    RunOptions {
        bin: binaries(),
        nodes: 3,
        time: Duration::from_secs(time),
        nemeses: vec![Family::PowerLoss],
        schedule: Schedule {
            fault_ms: (1_500, 2_500),
            quiet_ms: (2_000, 3_000),
        },
        seed,
        out: out.to_path_buf(),
        bank_clients: 3,
        idem_clients: 2,
        shape: Shape {
            bank_accounts: 6,
            idem_accounts: 4,
        },
        // Snapshots and log purges within the run: a power cut also meets a snapshot being
        // built (a RocksDB checkpoint renamed into place) and a log purged behind one.
        tally_args: vec![
            "--snapshot-every=300".into(),
            "--snapshot-keep-log=50".into(),
        ],
        broken,
    }
}

fn faults(summary: &Summary, kind: &str) -> u64 {
    summary.faults.get(kind).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_loss_of_one_a_majority_and_all_nodes_loses_no_acknowledged_transfer() {
    let out = tempfile::tempdir().unwrap();
    let summary = run(options(out.path(), 7, 30, None))
        .await
        .expect("the run completes (it needs root and /dev/fuse)");
    eprintln!("{}", summary.render());
    assert_eq!(summary.anomaly_count, 0, "{:#?}", summary.anomalies);
    for kind in ["power-loss-one", "power-loss-majority", "power-loss-all"] {
        assert!(
            faults(&summary, kind) >= 1,
            "no {kind}: {:?}",
            summary.faults
        );
    }
    assert_eq!(faults(&summary, "error"), 0, "{:?}", summary.faults);
    let ok = summary.ops["transfer"].get("ok").copied().unwrap_or(0);
    assert!(ok > 100, "too few acknowledged transfers: {ok}");
    // The mounts are gone and the disks stay, for a post-mortem.
    let cluster = out.path().join("cluster");
    for i in 1..=3 {
        assert!(
            !cluster.join(format!("n{i}")).exists(),
            "n{i} still mounted"
        );
        assert!(cluster.join(format!("n{i}.disk/tally.id")).exists());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_skips_its_log_fsync_loses_acknowledged_transfers_on_power_loss() {
    let out = tempfile::tempdir().unwrap();
    let summary = run(options(out.path(), 5, 20, Some(Broken::SkipLogFsync)))
        .await
        .expect("the run completes (it needs root and /dev/fuse)");
    eprintln!("{}", summary.render());
    assert_eq!(summary.broken.as_deref(), Some("SkipLogFsync"));
    // By kind, not the first 200 anomalies in full: those may all be of another kind.
    let lost = summary
        .anomalies_by_kind
        .get("lost-ack")
        .copied()
        .unwrap_or(0);
    assert!(
        lost > 0,
        "acknowledged transfers lost by power cuts went unnoticed: {:?}, faults {:?}",
        summary.anomalies_by_kind,
        summary.faults
    );
}

#[test]
fn the_skip_log_fsync_flag_is_hidden_from_help() {
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["start", "--help"])
        .output()
        .expect("run tally start --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--data-dir"), "{help}");
    assert!(!help.contains("skip-log-fsync"), "{help}");
}
