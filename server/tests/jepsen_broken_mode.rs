//! The checkers catch a real bug: with `--broken stale-reads` the bank's balance reads,
//! recorded as linearizable, are stale reads from a random node, and partitions keep a
//! minority node's balances old for seconds. The run must report `nonlinearizable`, and
//! nothing about the writes (the server itself is still correct). It lives in tally-server so
//! that cargo builds the `tally` binary it runs.

use std::path::PathBuf;
use std::time::Duration;

use tally_jepsen::nemesis::{Family, Schedule};
use tally_jepsen::run::{run, Broken, RunOptions};
use tally_jepsen::workload::Shape;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_reads_are_reported_as_nonlinearizable() {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_tally"));
    let out = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        bin,
        nodes: 3,
        time: Duration::from_secs(30),
        nemeses: vec![Family::Partition],
        // Long partitions, short quiet phases: an isolated node serves old balances while
        // the majority moves money.
        schedule: Schedule {
            fault_ms: (3_000, 5_000),
            quiet_ms: (1_000, 2_000),
        },
        seed: 11,
        out: out.path().to_path_buf(),
        bank_clients: 4,
        idem_clients: 1,
        shape: Shape {
            bank_accounts: 6,
            idem_accounts: 4,
        },
        tally_args: vec![],
        broken: Some(Broken::StaleReads),
    };
    let summary = run(opts).await.expect("the run completes");
    eprintln!("{}", summary.render());
    let kinds: Vec<&str> = summary.anomalies.iter().map(|a| a.kind.as_str()).collect();
    assert!(
        kinds.contains(&"nonlinearizable"),
        "stale reads went unnoticed: {kinds:?}"
    );
    // Stale reads are whole applied states, and the writes are fine: nothing about money may
    // be reported, except `wrong-total` (or `missing-accounts`) from a stale read taken on a
    // node that had not yet applied the bank's setup (accounts created, then funded).
    let money = [
        "negative-balance",
        "unbalanced-pending",
        "balance-mismatch",
        "lost-ack",
        "ack-mismatch",
        "double-ok",
        "failed-but-applied",
        "partial-chain",
        "replay-rejected",
        "replay-mismatch",
        "replica-divergence",
    ];
    assert!(
        !kinds.iter().any(|k| money.contains(k)),
        "a correct server was blamed for money: {kinds:?}"
    );
    assert_eq!(summary.broken.as_deref(), Some("StaleReads"));
}
