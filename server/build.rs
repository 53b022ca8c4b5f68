//! Records the commit the `tally` binary is built from, as the compile-time variable
//! `TALLY_COMMIT` (printed by `tally --version`):
//!
//! 1. in a git checkout: `git rev-parse --short=12 HEAD`, plus `-dirty` when `git status`
//!    lists changes to tracked files (as `git describe --dirty`);
//! 2. else (a source archive, no git): the environment variable `TALLY_COMMIT`, as the
//!    packager sets it;
//! 3. else `unknown`.
//!
//! The script reruns when HEAD moves (a commit, a checkout), when the index changes (staging)
//! or when `TALLY_COMMIT` changes, and not on every build. An edit left unstaged after the
//! last run is therefore not seen as `-dirty` until one of those happens.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=TALLY_COMMIT");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let commit = from_git(&dir)
        .or_else(|| {
            std::env::var("TALLY_COMMIT")
                .ok()
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=TALLY_COMMIT={commit}");
}

/// The checkout's commit, `None` without git or outside a repository.
fn from_git(dir: &Path) -> Option<String> {
    let hash = git(dir, &["rev-parse", "--short=12", "HEAD"])?;
    // Rerun when HEAD moves: HEAD itself (a checkout), the branch it names (a commit), and the
    // packed refs (where the branch lives once git packs it). Only existing files: cargo reruns
    // every build for a path that does not exist.
    let mut watch = vec![
        "HEAD".to_string(),
        "index".to_string(),
        "packed-refs".to_string(),
    ];
    if let Some(r) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        watch.push(r);
    }
    for name in watch {
        if let Some(p) = git(dir, &["rev-parse", "--git-path", &name]) {
            let p = dir.join(p);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
    // `--no-optional-locks`: `git status` would otherwise rewrite the index it refreshes,
    // which would rerun this script on the next build.
    let changes = git(
        dir,
        &[
            "--no-optional-locks",
            "status",
            "--porcelain",
            "--untracked-files=no",
        ],
    )?;
    Some(if changes.is_empty() {
        hash
    } else {
        format!("{hash}-dirty")
    })
}

/// `git ARGS` run in `dir`: its trimmed stdout if it succeeds.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}
