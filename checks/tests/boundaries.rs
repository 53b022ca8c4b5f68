//! The workspace's dependency boundaries, read from `cargo tree` (normal dependencies only):
//!
//! - `tally-ledger`, the pure core: no storage engine, runtime, network or serialisation
//!   framework.
//! - `tally-client`, the SDK: an application links it without the ledger core, the Raft layer,
//!   the server or the storage engine.
//! - `tally-settle`, the settlement kit: it reaches Tally only through `tally-client` (the
//!   server is a dev-dependency, for its tests' in-process node).
//! - `tally-faultfs`, the power-loss file system: a test tool that knows nothing of Tally, so
//!   it can sit under any node of any version.

use std::process::Command;
use tally_checks::repo_root;

struct Boundary {
    package: &'static str,
    /// A crate the tree must list, so that an empty or unexpected output cannot pass.
    requires: &'static str,
    forbidden: &'static [&'static str],
}

const BOUNDARIES: &[Boundary] = &[
    Boundary {
        package: "tally-ledger",
        requires: "tally-ledger",
        forbidden: &[
            "rocksdb",
            "librocksdb-sys",
            "tokio",
            "tonic",
            "openraft",
            "prost",
            "serde",
        ],
    },
    Boundary {
        package: "tally-client",
        requires: "tally-proto",
        forbidden: &[
            "tally-ledger",
            "tally-raft",
            "tally-server",
            "rocksdb",
            "openraft",
        ],
    },
    Boundary {
        package: "tally-settle",
        requires: "tally-client",
        forbidden: &[
            "tally-ledger",
            "tally-raft",
            "tally-server",
            "rocksdb",
            "openraft",
        ],
    },
    Boundary {
        package: "tally-faultfs",
        requires: "fuser",
        forbidden: &[
            "tally-ledger",
            "tally-raft",
            "tally-server",
            "tally-client",
            "rocksdb",
        ],
    },
];

/// The names of the crates in `package`'s normal dependency tree.
fn normal_dependencies(package: &str) -> Result<Vec<String>, String> {
    // The cargo running the tests, not the one that compiled them: a test binary reused from a
    // build in another checkout or machine may name a cargo that no longer exists.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "--offline", "-p", package, "-e", "normal"])
        .args(["--prefix", "none", "--format", "{p}"])
        .current_dir(repo_root())
        .output()
        .map_err(|e| format!("cargo tree -p {package} did not run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo tree -p {package} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let tree = String::from_utf8(out.stdout).map_err(|e| e.to_string())?;
    Ok(tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

#[test]
fn crates_keep_their_dependency_boundaries() {
    let mut failures = Vec::new();
    for b in BOUNDARIES {
        let crates = match normal_dependencies(b.package) {
            Ok(c) => c,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        if !crates.iter().any(|c| c == b.requires) {
            failures.push(format!(
                "{}: cargo tree does not list {} (unexpected output: {crates:?})",
                b.package, b.requires
            ));
        }
        for f in b.forbidden {
            if crates.iter().any(|c| c == f) {
                failures.push(format!("{} must not depend on {f}", b.package));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
