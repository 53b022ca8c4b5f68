//! The harness refuses to start a cluster from a binary that does not exist. The runs against
//! real `tally` processes live in tally-server (`server/tests/jepsen_*.rs`), where cargo builds
//! the binary they need.

use tally_jepsen::cluster::{Cluster, ClusterOptions};

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
