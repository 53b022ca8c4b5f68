//! The harness refuses to start a cluster from a binary that does not exist, and a power-loss
//! run without what it needs. The runs against
//! real `tally` processes live in tally-server (`server/tests/jepsen_*.rs`), where cargo builds
//! the binary they need.

use std::time::Duration;

use tally_jepsen::cluster::{Cluster, ClusterOptions};
use tally_jepsen::nemesis::{Family, Schedule};
use tally_jepsen::run::{run, Broken, RunOptions};
use tally_jepsen::workload::Shape;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_does_not_start_from_a_missing_binary() {
    let dir = tempfile::tempdir().unwrap();
    let r = Cluster::start(ClusterOptions {
        bin: dir.path().join("no-such-tally"),
        nodes: 3,
        dir: dir.path().join("c"),
        extra_args: vec![],
    })
    .await;
    assert!(r.is_err(), "a cluster started from a missing binary");
}

fn power_loss_run(
    dir: &std::path::Path,
    broken: Option<Broken>,
    nemeses: Vec<Family>,
) -> RunOptions {
    RunOptions {
        bin: dir.join("no-such-tally"),
        nodes: 3,
        time: Duration::from_secs(1),
        nemeses,
        schedule: Schedule::default(),
        seed: 1,
        out: dir.join("out"),
        bank_clients: 1,
        idem_clients: 0,
        shape: Shape {
            bank_accounts: 3,
            idem_accounts: 4,
        },
        tally_args: vec![],
        broken,
    }
}

/// Power cuts need tally-faultfs (and root and /dev/fuse): without them a run stops before it
/// starts a node, saying what is missing, rather than running without the faults it was asked
/// for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_loss_run_refuses_to_start_without_faultfs() {
    let dir = tempfile::tempdir().unwrap();
    let opts = power_loss_run(dir.path(), None, vec![Family::PowerLoss]);
    let err = run(opts)
        .await
        .expect_err("ran without faultfs")
        .to_string();
    assert!(
        err.contains("tally-faultfs") || err.contains("root") || err.contains("/dev/fuse"),
        "{err}"
    );
    assert!(
        !dir.path().join("out/cluster").exists(),
        "a node was started"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_skip_log_fsync_mode_needs_the_power_loss_nemesis() {
    let dir = tempfile::tempdir().unwrap();
    let opts = power_loss_run(dir.path(), Some(Broken::SkipLogFsync), vec![Family::Kill]);
    let err = run(opts)
        .await
        .expect_err("ran a broken mode it cannot show")
        .to_string();
    assert!(err.contains("power-loss"), "{err}");
}
