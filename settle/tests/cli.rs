//! The `tally-settle` binary against an in-process server: exit codes, text and CSV output.

mod common;

use std::path::Path;
use std::process::{Command, Output};

/// The sample files of this run's checkout: the package directory baked in at compile time may
/// be another checkout's, gone since (a test binary reused from CI's build in the shared target
/// dir).
fn samples() -> String {
    let dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    format!("{dir}/samples")
}

/// Runs the binary with `args` against `addr`, off the async runtime.
async fn settle(addr: &str, args: &[&str]) -> Output {
    settle_with(addr, &format!("{}/terms.toml", samples()), args).await
}

/// Runs the binary with the terms file `terms`.
async fn settle_with(addr: &str, terms: &str, args: &[&str]) -> Output {
    let terms = terms.to_string();
    let mut all = vec![
        "--addresses".to_string(),
        addr.to_string(),
        "--terms".into(),
        terms,
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_tally-settle"))
            .args(&all)
            .output()
            .expect("the binary runs")
    })
    .await
    .unwrap();
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
    let feeds = ["alpha=alpha.jsonl", "beta=beta.csv", "gamma=gamma.jsonl"]
        .map(|f| f.replace('=', &format!("={}/feeds/", samples())));
    let ingest = [
        "ingest", "--feed", &feeds[0], "--feed", &feeds[1], "--feed", &feeds[2],
    ];
    let first = settle(&addr, &ingest).await;
    let text = stdout(&first);
    assert_eq!(first.status.code(), Some(0), "{text}");
    assert!(text.contains("events read        49"), "{text}");
    assert!(text.contains("rounds settled     18"), "{text}");
    let again = stdout(&settle(&addr, &ingest).await);
    assert!(again.contains("duplicates         49"), "{again}");

    check_statements(&addr, &dir.path().join("statements.csv")).await;
    check_reconcile(&addr, &dir.path().join("issues.csv")).await;

    let bad = [
        "statement",
        "--party",
        "casino:x",
        "--from",
        "2026-11-20",
        "--to",
        "2026-11-20",
    ];
    let out = settle(&addr, &bad).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad partner"));
}

async fn check_statements(addr: &str, path: &Path) {
    let path_arg = path.display().to_string();
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
        &path_arg,
    ];
    let out = settle(addr, &args).await;
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
    let csv = std::fs::read_to_string(path).unwrap();
    assert!(csv.starts_with(
        "partner,currency,day,provider,round_key,transfer_id,kind,amount,round,note\n"
    ));
    let alpha = csv.lines().filter(|l| l.starts_with("provider:alpha,USD,"));
    assert_eq!(alpha.count(), 8);
}

async fn check_reconcile(addr: &str, path: &Path) {
    let path_arg = path.display().to_string();
    let reports = ["alpha", "beta", "gamma"].map(|p| format!("{p}={}/reports/{p}.csv", samples()));
    let args = [
        "reconcile",
        "--report",
        &reports[0],
        "--report",
        &reports[1],
        "--report",
        &reports[2],
        "--csv",
        &path_arg,
    ];
    let out = settle(addr, &args).await;
    assert_eq!(out.status.code(), Some(1), "differences found exit 1");
    assert!(stdout(&out).contains("missing in Tally: round A1011"));
    assert_eq!(
        std::fs::read_to_string(path).unwrap(),
        "provider,issue,round,field,provider_value,tally_value\n\
         alpha,missing,A1011,,,\nbeta,mismatch,B-2001,stake,2500,2000\ngamma,duplicate,G-2,rows,2,1\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typo_in_the_terms_is_refused_and_nothing_is_ingested() {
    let server = common::start().await;
    let addr = server.node.addr().to_string();
    let dir = tempfile::tempdir().unwrap();
    let terms = dir.path().join("terms.toml");
    let text = std::fs::read_to_string(format!("{}/terms.toml", samples())).unwrap();
    std::fs::write(
        &terms,
        text.replacen("agent = \"kim\"", "agnet = \"kim\"", 1),
    )
    .unwrap();
    let feed = format!("alpha={}/feeds/alpha.jsonl", samples());
    let out = settle_with(
        &addr,
        &terms.display().to_string(),
        &["ingest", "--feed", &feed],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown field `agnet`") && err.contains("[[operators]]"),
        "{err}"
    );
    let ids: Vec<u128> = tally_settle::chart::accounts(&common::sample_terms())
        .iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(server.client.lookup_accounts(&ids).await.unwrap(), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_format_file_payouts_and_alerts_from_the_command_line() {
    let server = common::start().await;
    let addr = server.node.addr().to_string();
    let delta = format!("{}/delta", samples());
    let terms = format!("{delta}/terms.toml");
    let feed = format!("delta={delta}/feed.csv");
    // The binary finds delta.toml next to the terms; D-3 has no EUR rate for its day.
    for _ in 0..2 {
        let out = settle_with(&addr, &terms, &["ingest", "--feed", &feed]).await;
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.contains("failed: delta round D-3: no FX rate for EUR valid on 2027-01-04"));
    }
    let report = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        report.path(),
        "date,round_id,currency,stake,payout\n2026-11-30,D-1,EUR,50.00,10.00\n\
         2026-12-01,D-2,EUR,50.00,10.00\n",
    )
    .unwrap();
    let report = format!("delta={}", report.path().display());
    let args = ["reconcile", "--report", &report, "--feed", &feed];
    let out = settle_with(&addr, &terms, &args).await;
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "alerts are not differences: {text}"
    );
    assert!(
        text.contains("alert: round D-3: ingest refused its result 2 times"),
        "{text}"
    );

    let pay = [
        "payout",
        "--party",
        "agent:kim",
        "--from",
        "2026-11-30",
        "--to",
        "2026-12-01",
        "--on",
        "2026-12-02",
    ];
    let first = stdout(&settle_with(&addr, &terms, &pay).await);
    assert!(
        first.contains("payout agent:kim 2026-11-30 to 2026-12-01: paid 4.36 USD"),
        "{first}"
    );
    let again = stdout(&settle_with(&addr, &terms, &pay).await);
    assert!(
        again.contains("already paid 4.36 USD; nothing posted"),
        "{again}"
    );
    let overlap = [
        "payout",
        "--party",
        "agent:kim",
        "--from",
        "2026-12-01",
        "--to",
        "2026-12-31",
    ];
    let out = settle_with(&addr, &terms, &overlap).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("overlaps the payout of agent:kim"));

    // A typo in the format file stops the command before anything is sent.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&terms, dir.path().join("terms.toml")).unwrap();
    let format = std::fs::read_to_string(format!("{delta}/delta.toml")).unwrap();
    std::fs::write(
        dir.path().join("delta.toml"),
        format.replacen("decimals = 3", "decimal = 3", 1),
    )
    .unwrap();
    let bad_terms = dir.path().join("terms.toml").display().to_string();
    let out = settle_with(&addr, &bad_terms, &["ingest", "--feed", &feed]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("provider delta: bad format delta.toml")
            && err.contains("unknown field `decimal`"),
        "{err}"
    );
}
