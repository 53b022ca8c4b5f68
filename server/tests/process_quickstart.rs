//! The `tally` binary's no-flag quickstart as a real process on 127.0.0.1: `tally start`
//! serves a single-node cluster and stops cleanly on SIGTERM; a bad configuration fails with a
//! clear message.

mod common;

use std::net::SocketAddr;

use common::process::*;
use common::*;
use nix::sys::signal::Signal;
use tally_proto::v1;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_start_serves_and_stops_on_sigterm() {
    let cwd = tempfile::tempdir().unwrap();
    let port = free_ports(1)[0];
    let mut p = Proc::start(
        &["start".into()],
        cwd.path(),
        &[("TALLY_LISTEN", format!("127.0.0.1:{port}"))],
    );
    p.wait_line("serving on");
    assert!(cwd.path().join("tally-data/node-1/tally.id").exists());
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let s = wait_leading(addr).await;
    assert_eq!(s.members.len(), 1);
    let mut c = ledger(addr).await;
    let r = c
        .create_accounts(v1::CreateAccountsRequest {
            accounts: vec![account(1, 0)],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.results, vec![0]);
    p.signal(Signal::SIGTERM);
    p.wait_line("stopped");
    assert!(p.wait_exit(), "clean exit on SIGTERM");

    // Bad configuration: a clear message and a failing exit code.
    let mut bad = Proc::start(
        &["start".into(), "--peers".into(), "2=127.0.0.1:1".into()],
        cwd.path(),
        &[],
    );
    bad.wait_line("does not list this node");
    assert!(!bad.wait_exit());
}
