//! `tally --version` and `tally version`: the release, the storage format version and the
//! commit the binary was built from.

use std::path::Path;
use std::process::Command;

/// Runs `tally ARGS`; its stdout, after checking that it succeeded.
fn tally(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .output()
        .expect("run tally");
    assert!(
        out.status.success(),
        "tally {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// `git ARGS` in this package's directory: its stdout, or `None` without git or a checkout.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn version_names_the_release_the_storage_format_and_the_commit() {
    let line = tally(&["--version"]);
    assert_eq!(tally(&["version"]), line, "the subcommand prints the same");
    let rest = line
        .strip_prefix(&format!(
            "tally {} (storage format ",
            env!("CARGO_PKG_VERSION")
        ))
        .unwrap_or_else(|| panic!("release: {line:?}"));
    let rest = rest
        .strip_prefix(&format!("{}, commit ", tally_ledger::keys::FORMAT_VERSION))
        .unwrap_or_else(|| panic!("storage format: {line:?}"));
    let commit = rest
        .strip_suffix(")\n")
        .unwrap_or_else(|| panic!("commit: {line:?}"));
    assert_eq!(commit, env!("TALLY_COMMIT"), "the commit build.rs recorded");
    match git(&["rev-parse", "--short=12", "HEAD"]) {
        // Built in a checkout: its HEAD (the binary is rebuilt when HEAD moves).
        Some(head) => {
            let hash = commit.strip_suffix("-dirty").unwrap_or(commit);
            assert_eq!(hash, head, "{line:?}");
        }
        // Built from a source archive: the packager's TALLY_COMMIT, else "unknown".
        None => assert!(
            !commit.is_empty() && !commit.contains(char::is_whitespace),
            "{line:?}"
        ),
    }
}
