//! The client commands (`tally account`, `transfer`, `balances`, `transfers`) against a
//! `tally` process on 127.0.0.1: what they print, their exit codes, and their messages for
//! result codes and for an unreachable cluster.

mod common;

use std::process::Command;

use common::process::*;
use common::*;
use nix::sys::signal::Signal;

/// The client commands against a running node: create, post, look up, history; exit codes and
/// messages for result codes and for an unreachable cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_commands_against_a_node() {
    let cwd = tempfile::tempdir().unwrap();
    let port = free_ports(1)[0];
    let addr = format!("127.0.0.1:{port}");
    let p = Proc::start(
        &["start".into()],
        cwd.path(),
        &[("TALLY_LISTEN", addr.clone())],
    );
    p.wait_line("serving on");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tally"))
            .args(args)
            .env("TALLY_ADDRESSES", &addr)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, out, err) = run(&[
        "account", "create", "--id", "1", "--ledger", "840", "--code", "1", "--flags", "history",
    ]);
    assert!(ok && out.contains("account 1 created"), "{out}{err}");
    let (ok, ..) = run(&[
        "account",
        "create",
        "--id",
        "0x2",
        "--ledger",
        "840",
        "--code",
        "1",
        "--flags",
        "debits_must_not_exceed_credits",
    ]);
    assert!(ok);
    let (ok, out, _) = run(&[
        "transfer", "create", "--id", "10", "--debit", "1", "--credit", "2", "--amount", "12.34",
        "--scale", "2", "--ledger", "840",
    ]);
    assert!(ok && out.contains("transfer 10 created"), "{out}");
    // A business rejection: its name and meaning, and a failing exit code.
    let (ok, out, _) = run(&[
        "transfer", "create", "--id", "11", "--debit", "2", "--credit", "1", "--amount", "5000",
        "--ledger", "840",
    ]);
    assert!(!ok);
    assert!(
        out.contains("exceeds_credits") && out.contains("owe more than its credits"),
        "{out}"
    );
    // Resending an applied id is not an error: it reports exists.
    let (ok, out, _) = run(&[
        "transfer", "create", "--id", "10", "--debit", "1", "--credit", "2", "--amount", "1234",
        "--ledger", "840", "--json",
    ]);
    assert!(ok && out.contains("\"result\":\"exists\""), "{out}");
    let (ok, ..) = run(&[
        "transfer",
        "create",
        "--id",
        "12",
        "--debit",
        "1",
        "--credit",
        "2",
        "--amount",
        "500",
        "--ledger",
        "840",
        "--pending",
        "--timeout",
        "60",
    ]);
    assert!(ok);
    let (ok, ..) = run(&[
        "transfer",
        "post",
        "--id",
        "13",
        "--pending-id",
        "12",
        "--amount",
        "200",
    ]);
    assert!(ok);
    let (ok, out, _) = run(&["account", "lookup", "1", "2", "--json"]);
    assert!(ok);
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows[0]["debits_posted"], "1434");
    assert_eq!(rows[1]["credits_posted"], "1434");
    assert_eq!(rows[0]["debits_pending"], "0", "the post released the rest");
    let (ok, out, _) = run(&["transfers", "1", "--reversed"]);
    assert!(ok);
    let ids: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(ids, vec!["13", "12", "10"]);
    let (ok, out, _) = run(&["balances", "1", "--json"]);
    assert!(ok);
    assert_eq!(out.lines().count(), 3);
    let (ok, _, err) = run(&["transfer", "lookup", "10", "99"]);
    assert!(!ok && err.contains("1 of 2 not found"), "{err}");
    let (ok, _, err) = run(&[
        "account",
        "lookup",
        "1",
        "--addresses",
        "127.0.0.1:1",
        "--timeout-secs",
        "1",
    ]);
    assert!(!ok && err.contains("could not connect"), "{err}");
    p.signal(Signal::SIGTERM);
}
