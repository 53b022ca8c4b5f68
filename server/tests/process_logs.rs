//! A `tally` process's logs on 127.0.0.1: JSON lines on stderr with `--log-format json`, the
//! request id taken from `x-request-id` (or made up) and returned to the caller, on errors too,
//! and named in the node's lines about the request; a bad `--log-level` refused at start.

mod common;

use std::process::Command;

use common::process::*;
use common::*;
use tally_proto::{u128_to_wire, v1};

/// Parses a stderr line as JSON, failing the test with the line if it is not.
fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id_returned_to_the_caller() {
    let cwd = tempfile::tempdir().unwrap();
    let addr = local_addrs(&free_ports(1))[0];
    let p = Proc::start(
        &[
            "start".into(),
            "--log-format".into(),
            "json".into(),
            "--log-level".into(),
            "info,openraft=warn,tally_server::coalesce=debug".into(),
        ],
        cwd.path(),
        &[("TALLY_LISTEN", addr.to_string())],
    );
    let serving = json(&p.wait_line("serving on"));
    assert_eq!(serving["level"], "INFO", "{serving}");
    assert!(serving["timestamp"].is_string(), "{serving}");
    assert_eq!(serving["fields"]["node_id"], 1, "{serving}");
    wait_leading(addr).await;
    let mut c = ledger(addr).await;

    // A sane id is taken and returned; the coalescer's line for the write names it.
    let mut req = tonic::Request::new(v1::CreateAccountsRequest {
        accounts: vec![account(1, 0)],
    });
    req.metadata_mut()
        .insert("x-request-id", "abc-123".parse().unwrap());
    let r = c.create_accounts(req).await.unwrap();
    assert_eq!(r.metadata().get("x-request-id").unwrap(), "abc-123");
    assert_eq!(r.into_inner().results, vec![0]);
    let line = json(&p.wait_line("abc-123"));
    assert_eq!(line["fields"]["request_id"], "abc-123", "{line}");
    assert_eq!(line["fields"]["message"], "write answered", "{line}");
    assert_eq!(line["fields"]["events"], 1, "{line}");

    // No id, or one that is not sane: a made-up one (32 hex digits) comes back.
    let r = c
        .create_accounts(v1::CreateAccountsRequest {
            accounts: vec![account(2, 0)],
        })
        .await
        .unwrap();
    let made_up = r.metadata().get("x-request-id").unwrap().to_str().unwrap();
    assert_eq!(made_up.len(), 32, "{made_up}");
    assert!(made_up.bytes().all(|b| b.is_ascii_hexdigit()), "{made_up}");
    let line = json(&p.wait_line(made_up));
    assert_eq!(line["fields"]["request_id"], made_up, "{line}");
    let mut req = tonic::Request::new(v1::CreateAccountsRequest {
        accounts: vec![account(3, 0)],
    });
    req.metadata_mut()
        .insert("x-request-id", "x".repeat(65).parse().unwrap());
    let r = c.create_accounts(req).await.unwrap();
    assert_eq!(r.metadata().get("x-request-id").unwrap().len(), 32);

    // An error carries the id too.
    let mut req = tonic::Request::new(v1::LookupAccountsRequest {
        ids: vec![u128_to_wire(1).unwrap(); tally_ledger::BATCH_MAX + 1],
        ..Default::default()
    });
    req.metadata_mut()
        .insert("x-request-id", "lookup-7".parse().unwrap());
    let e = c.lookup_accounts(req).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert_eq!(e.metadata().get("x-request-id").unwrap(), "lookup-7");
}

#[test]
fn a_bad_log_level_is_refused_at_start() {
    let cwd = tempfile::tempdir().unwrap();
    let addr = local_addrs(&free_ports(1))[0];
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["start", "--log-level", "info,openraft=loud"])
        .env("TALLY_LISTEN", addr.to_string())
        .current_dir(cwd.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("log level"), "{stderr}");
    assert!(stderr.contains("openraft=loud"), "{stderr}");
    assert!(
        !cwd.path().join("tally-data").exists(),
        "nothing is created"
    );
}
