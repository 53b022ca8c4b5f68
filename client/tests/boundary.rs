//! The client's dependency boundary: an application links `tally-client` without the ledger
//! core, the Raft layer, the server or the storage engine.

use std::process::Command;

#[test]
fn the_client_depends_on_no_server_side_crate() {
    let output = Command::new(
        // The cargo running the tests, not the one that compiled them: a test binary reused
        // from a build in another checkout or machine may name a cargo that no longer exists.
        std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
    )
    .args([
        "tree",
        "-p",
        "tally-client",
        "-e",
        "normal",
        "--prefix",
        "none",
    ])
    // The package directory of this run too: the one baked in at compile time may be another
    // checkout's, gone since (a test binary reused from CI's build in the shared target dir).
    .current_dir(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .output()
    .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).unwrap();
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        crates.contains(&"tally-proto"),
        "unexpected cargo tree output:\n{tree}"
    );
    for forbidden in [
        "tally-ledger",
        "tally-raft",
        "tally-server",
        "rocksdb",
        "openraft",
    ] {
        assert!(
            !crates.contains(&forbidden),
            "tally-client depends on {forbidden}:\n{tree}"
        );
    }
}
