//! The ledger core's dependency boundary, enforced: no storage engine, runtime, network or
//! serialisation framework may enter its normal dependency tree.

use std::process::Command;

#[test]
fn ledger_core_depends_on_no_engine_runtime_or_network() {
    let out = Command::new(
        // The cargo running the tests, not the one that compiled them: a test binary reused
        // from a build in another checkout or machine may name a cargo that no longer exists.
        std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
    )
    .args([
        "tree",
        "--offline",
        "-p",
        "tally-ledger",
        "-e",
        "normal",
        "--prefix",
        "none",
        "--format",
        "{p}",
    ])
    // The package directory of this run too: the one baked in at compile time may be another
    // checkout's, gone since (a test binary reused from CI's build in the shared target dir).
    .current_dir(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .output()
    .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).expect("utf-8");
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        crates.contains(&"tally-ledger"),
        "unexpected output: {tree}"
    );
    for forbidden in [
        "rocksdb",
        "librocksdb-sys",
        "tokio",
        "tonic",
        "openraft",
        "prost",
        "serde",
    ] {
        assert!(
            !crates.contains(&forbidden),
            "tally-ledger must not depend on {forbidden}:\n{tree}"
        );
    }
}
