//! The `tally-settle` binary against an in-process server: exit codes, text and CSV output.

mod common;

use std::path::Path;
use std::process::{Command, Output};

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples");

fn settle(addr: &str, args: &[&str]) -> Output {
    let terms = format!("{SAMPLES}/terms.toml");
    let mut all = vec!["--addresses", addr, "--terms", &terms];
    all.extend_from_slice(args);
    let out = Command::new(env!("CARGO_BIN_EXE_tally-settle"))
        .args(&all)
        .output()
        .expect("the binary runs");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_statement_and_reconcile_from_the_command_line() {
    let server = common::start().await;
    let addr = server.node.addr().to_string();
    let dir = tempfile::tempdir().unwrap();
    let feeds = [
        "alpha=feeds/alpha.jsonl",
        "beta=feeds/beta.csv",
        "gamma=feeds/gamma.jsonl",
    ]
    .map(|f| f.replace('=', &format!("={SAMPLES}/")));
    let mut ingest = vec!["ingest"];
    for f in &feeds {
        ingest.extend(["--feed", f.as_str()]);
    }

    let addr2 = addr.clone();
    let ingest2 = ingest.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let run_ingest = move || {
        let args: Vec<&str> = ingest2.iter().map(String::as_str).collect();
        settle(&addr2, &args)
    };
    let first = tokio::task::spawn_blocking(run_ingest.clone())
        .await
        .unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", stdout(&first));
    let text = stdout(&first);
    assert!(text.contains("events read        49"), "{text}");
    assert!(text.contains("rounds settled     18"), "{text}");
    let again = tokio::task::spawn_blocking(run_ingest).await.unwrap();
    assert!(
        stdout(&again).contains("duplicates         49"),
        "{}",
        stdout(&again)
    );

    let statements = dir.path().join("statements.csv");
    let args = [
        "statement",
        "--party",
        "provider:alpha",
        "--party",
        "operator:royal",
        "--from",
        "2026-11-20",
        "--to",
        "2026-11-21",
        "--csv",
    ];
    let out = blocking(&addr, &args, &statements).await;
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("Statement for provider:alpha (USD)"),
        "{text}"
    );
    assert!(
        text.contains("balance in Tally             34.87"),
        "{text}"
    );
    assert!(
        text.contains("balance in Tally            272.44"),
        "{text}"
    );
    let csv = std::fs::read_to_string(&statements).unwrap();
    assert!(csv.starts_with("partner,currency,day,provider,round_key,transfer_id,kind,amount\n"));
    assert_eq!(
        csv.lines()
            .filter(|l| l.starts_with("provider:alpha,USD,"))
            .count(),
        8
    );

    let issues = dir.path().join("issues.csv");
    let reports = ["alpha", "beta", "gamma"].map(|p| format!("{p}={SAMPLES}/reports/{p}.csv"));
    let args = [
        "reconcile",
        "--report",
        &reports[0],
        "--report",
        &reports[1],
        "--report",
        &reports[2],
        "--csv",
    ];
    let out = blocking(&addr, &args, &issues).await;
    assert_eq!(out.status.code(), Some(1), "differences found exit 1");
    assert!(stdout(&out).contains("missing in Tally: round A1011"));
    assert_eq!(
        std::fs::read_to_string(&issues).unwrap(),
        "provider,issue,round,field,provider_value,tally_value\n\
         alpha,missing,A1011,,,\nbeta,mismatch,B-2001,stake,2500,2000\ngamma,duplicate,G-2,rows,2,1\n"
    );

    let out = blocking(
        &addr,
        &[
            "statement",
            "--party",
            "casino:x",
            "--from",
            "2026-11-20",
            "--to",
            "2026-11-20",
            "--csv",
        ],
        &issues,
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad partner"));
}

/// Runs the binary with `args` and a trailing path, off the async runtime.
async fn blocking(addr: &str, args: &[&str], path: &Path) -> Output {
    let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    args.push(path.display().to_string());
    let addr = addr.to_string();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        settle(&addr, &args)
    })
    .await
    .unwrap()
}
