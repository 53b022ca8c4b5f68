//! The client commands (`tally account`, `transfer`, `balances`, `transfers`) against a
//! `tally` process on 127.0.0.1: what they print, their exit codes, and their messages for
//! result codes and for an unreachable cluster.

mod common;

use std::path::Path;
use std::process::Command;

use common::process::*;
use common::*;
use nix::sys::signal::Signal;

/// Runs `tally ARGS` against the node at `addr`: whether it succeeded, its stdout and stderr.
fn tally(addr: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .env("TALLY_ADDRESSES", addr)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Starts a single node in a temporary directory, listening on `addr`.
/// Checks one `--json` result line of a create command and returns its timestamp.
fn json_result(out: &str, id: &str, ok: bool, result: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
    assert_eq!(v["id"], id, "{out}");
    assert_eq!(v["ok"], ok, "{out}");
    assert_eq!(v["result"], result, "{out}");
    let ts = v["timestamp"]
        .as_u64()
        .unwrap_or_else(|| panic!("no timestamp: {out}"));
    assert!(ts > 0, "{out}");
    ts
}

fn start_node(cwd: &Path, addr: &str) -> Proc {
    let p = Proc::start(
        &["start".into()],
        cwd,
        &[("TALLY_LISTEN", addr.to_string())],
    );
    p.wait_line("serving on");
    p
}

/// The client commands against a running node: create, post, look up, history; exit codes and
/// messages for result codes and for an unreachable cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_commands_against_a_node() {
    let cwd = tempfile::tempdir().unwrap();
    let port = free_ports(1)[0];
    let addr = format!("127.0.0.1:{port}");
    let p = start_node(cwd.path(), &addr);
    let run = |args: &[&str]| tally(&addr, args);
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

/// What the commands print, field by field: `account lookup` and `transfer lookup` (a table and
/// `--json`), `transfers` and `balances`, and the line of a create (applied, exists, refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_output_of_lookups_history_and_creates() {
    let cwd = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_ports(1)[0]);
    let p = start_node(cwd.path(), &addr);
    let ok = |args: &[&str]| {
        let (ok, out, err) = tally(&addr, args);
        assert!(ok, "tally {args:?}: {out}{err}");
        out
    };
    let out = ok(&[
        "account",
        "create",
        "--id",
        "1",
        "--ledger",
        "840",
        "--code",
        "1",
        "--flags",
        "history",
        "--user-data-128",
        "0xabc",
        "--user-data-64",
        "7",
        "--user-data-32",
        "3",
    ]);
    assert_eq!(out, "account 1 created\n");
    let out = ok(&[
        "account",
        "create",
        "--id",
        "2",
        "--ledger",
        "840",
        "--code",
        "7",
        "--flags",
        "debits_must_not_exceed_credits",
        "--json",
    ]);
    let created = json_result(&out, "2", true, "ok");
    // A resend: exists, not an error.
    let out = ok(&[
        "account",
        "create",
        "--id",
        "2",
        "--ledger",
        "840",
        "--code",
        "7",
        "--flags",
        "debits_must_not_exceed_credits",
        "--json",
    ]);
    // `exists` carries the original account's timestamp.
    assert_eq!(json_result(&out, "2", false, "exists"), created);
    let out = ok(&[
        "account",
        "create",
        "--id",
        "2",
        "--ledger",
        "840",
        "--code",
        "7",
        "--flags",
        "debits_must_not_exceed_credits",
    ]);
    assert_eq!(
        out,
        "account 2 not created: exists: The identical account already exists: a retry, nothing changed.\n"
    );
    // A refusal: the line, then a failing exit code with the result.
    let (ok_, out, err) = tally(
        &addr,
        &[
            "account", "create", "--id", "3", "--ledger", "0", "--code", "1",
        ],
    );
    assert!(!ok_);
    assert!(
        out.starts_with("account 3 not created: ledger_must_not_be_zero: "),
        "{out}"
    );
    assert_eq!(err, "tally: result ledger_must_not_be_zero\n");
    let (ok_, out, err) = tally(
        &addr,
        &[
            "transfer", "create", "--id", "11", "--debit", "2", "--credit", "1", "--amount", "1",
            "--ledger", "840",
        ],
    );
    assert!(!ok_);
    assert!(
        out.starts_with("transfer 11 not created: exceeds_credits: "),
        "{out}"
    );
    assert_eq!(err, "tally: result exceeds_credits\n");

    assert_eq!(
        ok(&[
            "transfer",
            "create",
            "--id",
            "10",
            "--debit",
            "1",
            "--credit",
            "2",
            "--amount",
            "12.34",
            "--scale",
            "2",
            "--ledger",
            "840",
            "--user-data-128",
            "99",
        ]),
        "transfer 10 created\n"
    );
    let pending = json_result(
        &ok(&[
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
            "--code",
            "3",
            "--pending",
            "--timeout",
            "60",
            "--json",
        ]),
        "12",
        true,
        "ok",
    );
    assert!(pending > created, "a later transfer has a later timestamp");
    assert_eq!(
        ok(&[
            "transfer",
            "post",
            "--id",
            "13",
            "--pending-id",
            "12",
            "--amount",
            "200"
        ]),
        "transfer 13 created\n"
    );
    // Accounts: a table, and every field in JSON (u128 as decimal strings).
    assert_eq!(
        ok(&["account", "lookup", "1", "2"]),
        "\
id  ledger  code  debits_pending  debits_posted  credits_pending  credits_posted  flags
1   840     1     0               1434           0                0               history
2   840     7     0               0              0                1434            debits_must_not_exceed_credits
"
    );
    let json = ok(&["account", "lookup", "1", "2", "--json"]);
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ts: Vec<u64> = rows
        .iter()
        .map(|r| r["timestamp"].as_u64().unwrap())
        .collect();
    assert!(ts[0] > 0 && ts[1] > ts[0], "{ts:?}");
    assert_eq!(
        json,
        format!(
            "{{\"code\":1,\"credits_pending\":\"0\",\"credits_posted\":\"0\",\"debits_pending\":\"0\",\"debits_posted\":\"1434\",\"flags\":\"history\",\"id\":\"1\",\"ledger\":840,\"timestamp\":{},\"user_data_128\":\"2748\",\"user_data_32\":3,\"user_data_64\":7}}\n\
             {{\"code\":7,\"credits_pending\":\"0\",\"credits_posted\":\"1434\",\"debits_pending\":\"0\",\"debits_posted\":\"0\",\"flags\":\"debits_must_not_exceed_credits\",\"id\":\"2\",\"ledger\":840,\"timestamp\":{},\"user_data_128\":\"0\",\"user_data_32\":0,\"user_data_64\":0}}\n",
            ts[0], ts[1]
        )
    );
    let (ok_, out, err) = tally(&addr, &["account", "lookup", "2", "5", "4"]);
    assert!(!ok_);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert_eq!(err, "tally: not found: 5, 4\n");

    // Transfers: the table ends with the timestamp, the one field that differs per run.
    let json = ok(&["transfer", "lookup", "10", "12", "13", "--json"]);
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let t: Vec<u64> = rows
        .iter()
        .map(|r| r["timestamp"].as_u64().unwrap())
        .collect();
    assert!(t[0] > ts[1] && t[1] > t[0] && t[2] > t[1], "{t:?}");
    assert_eq!(
        json,
        format!(
            "{{\"amount\":\"1234\",\"code\":1,\"credit_account_id\":\"2\",\"debit_account_id\":\"1\",\"flags\":\"-\",\"id\":\"10\",\"ledger\":840,\"pending_id\":\"0\",\"timeout\":0,\"timestamp\":{},\"user_data_128\":\"99\",\"user_data_32\":0,\"user_data_64\":0}}\n\
             {{\"amount\":\"500\",\"code\":3,\"credit_account_id\":\"2\",\"debit_account_id\":\"1\",\"flags\":\"pending\",\"id\":\"12\",\"ledger\":840,\"pending_id\":\"0\",\"timeout\":60,\"timestamp\":{},\"user_data_128\":\"0\",\"user_data_32\":0,\"user_data_64\":0}}\n\
             {{\"amount\":\"200\",\"code\":3,\"credit_account_id\":\"2\",\"debit_account_id\":\"1\",\"flags\":\"post_pending_transfer\",\"id\":\"13\",\"ledger\":840,\"pending_id\":\"12\",\"timeout\":0,\"timestamp\":{},\"user_data_128\":\"0\",\"user_data_32\":0,\"user_data_64\":0}}\n",
            t[0], t[1], t[2]
        )
    );
    let table = ok(&["transfer", "lookup", "10", "12", "13"]);
    assert_eq!(
        table,
        format!(
            "\
id  debit  credit  amount  ledger  code  flags                  timestamp
10  1      2       1234    840     1     -                      {}
12  1      2       500     840     3     pending                {}
13  1      2       200     840     3     post_pending_transfer  {}
",
            t[0], t[1], t[2]
        )
    );
    // An account's transfers print the same way, newest first here.
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        ok(&["transfers", "1", "--reversed"]),
        format!("{}\n{}\n{}\n{}\n", lines[0], lines[3], lines[2], lines[1])
    );

    // Balance history: one row per change of the account, oldest first.
    let json = ok(&["balances", "1", "--json"]);
    assert_eq!(
        json,
        format!(
            "{{\"credits_pending\":\"0\",\"credits_posted\":\"0\",\"debits_pending\":\"0\",\"debits_posted\":\"1234\",\"timestamp\":{}}}\n\
             {{\"credits_pending\":\"0\",\"credits_posted\":\"0\",\"debits_pending\":\"500\",\"debits_posted\":\"1234\",\"timestamp\":{}}}\n\
             {{\"credits_pending\":\"0\",\"credits_posted\":\"0\",\"debits_pending\":\"0\",\"debits_posted\":\"1434\",\"timestamp\":{}}}\n",
            t[0], t[1], t[2]
        )
    );
    // Timestamps are 19 digits (nanoseconds since 1970, until 2286): the column's width.
    assert!(t.iter().all(|t| t.to_string().len() == 19), "{t:?}");
    assert_eq!(
        ok(&["balances", "1"]),
        format!(
            "\
timestamp            debits_pending  debits_posted  credits_pending  credits_posted
{}  0               1234           0                0
{}  500             1234           0                0
{}  0               1434           0                0
",
            t[0], t[1], t[2]
        )
    );
    assert_eq!(
        ok(&["balances", "2"]),
        "timestamp  debits_pending  debits_posted  credits_pending  credits_posted\n\
         (no balance history: does the account have the history flag?)\n"
    );
    p.signal(Signal::SIGTERM);
}

/// `tally status` against a single node: the table and `--json` show the node leading, and
/// its leader contact (a lone voter is its own quorum, so always 0 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_leader_and_its_contact() {
    let cwd = tempfile::tempdir().unwrap();
    let port = free_ports(1)[0];
    let addr = format!("127.0.0.1:{port}");
    let _p = start_node(cwd.path(), &addr);
    wait_leading(addr.parse().unwrap()).await;
    let (ok, out, err) = tally(&addr, &["status"]);
    assert!(ok, "{err}");
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header.last(), Some(&"contact"), "{out}");
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[1..4], &[addr.as_str(), "leader", "1"], "{out}");
    assert_eq!(row.last(), Some(&"0ms"), "{out}");

    let (ok, out, err) = tally(&addr, &["status", "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
    assert_eq!(v["state"], "leader", "{out}");
    assert_eq!(v["leader_contact_ms"], 0, "{out}");
}
