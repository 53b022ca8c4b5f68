//! A `tally start` process with TLS reloads its certificate on SIGHUP: new connections see
//! the new one, and a file that does not load leaves the current one in place. The CLI's
//! `--tls-ca` reaches it.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::process::Proc;
use common::*;
use nix::sys::signal::Signal;
use tally_client::TlsOptions;

fn tally(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .output()
        .unwrap()
}

fn make_ca(dir: &Path) {
    let d = dir.to_str().unwrap();
    for args in [
        vec!["certs", "ca", "--out", d],
        vec![
            "certs",
            "node",
            "--ca-dir",
            d,
            "--name",
            "n1",
            "--host",
            "127.0.0.1",
        ],
    ] {
        let out = tally(&args);
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
}

/// Whether the node at `addr` answers over TLS verified against `ca`.
async fn trusted_by(addr: SocketAddr, ca: &Path) -> bool {
    let tls = TlsOptions::from_ca_file(ca.join("ca.pem")).unwrap();
    tally_client::node_status_with(&addr.to_string(), Duration::from_secs(2), Some(&tls))
        .await
        .is_ok()
}

fn install(from: &Path, node: &Path) {
    std::fs::copy(from.join("n1.key"), node.join("node.key")).unwrap();
    std::fs::copy(from.join("n1.pem"), node.join("node.pem")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate_for_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new, node) = (
        dir.path().join("old"),
        dir.path().join("new"),
        dir.path().join("node"),
    );
    make_ca(&old);
    make_ca(&new);
    std::fs::create_dir(&node).unwrap();
    install(&old, &node);
    let port = free_ports(1)[0];
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let p = |p: &Path| p.to_str().unwrap().to_string();
    let args: Vec<String> = [
        "start",
        "--listen",
        &addr.to_string(),
        "--data-dir",
        &p(&dir.path().join("data")),
        "--tls-cert",
        &p(&node.join("node.pem")),
        "--tls-key",
        &p(&node.join("node.key")),
        "--tls-peer-ca",
        &p(&old.join("ca.pem")),
    ]
    .map(String::from)
    .to_vec();
    let proc = Proc::start(&args, dir.path(), &[]);
    proc.wait_line("serving on");
    assert!(trusted_by(addr, &old).await);
    assert!(!trusted_by(addr, &new).await);

    install(&new, &node);
    proc.signal(Signal::SIGHUP);
    proc.wait_line("reloaded");
    assert!(
        trusted_by(addr, &new).await,
        "a new connection sees the new certificate"
    );
    assert!(!trusted_by(addr, &old).await);

    // The CLI speaks TLS with --tls-ca.
    let out = tally(&[
        "status",
        "--addresses",
        &addr.to_string(),
        "--tls-ca",
        &p(&new.join("ca.pem")),
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("leader"),
        "{out:?}"
    );
    let out = tally(&["status", "--addresses", &addr.to_string()]);
    assert!(
        !out.status.success(),
        "plaintext against a TLS node: {out:?}"
    );

    // A certificate file that does not load is logged and the current one kept.
    std::fs::write(node.join("node.pem"), "not a certificate\n").unwrap();
    proc.signal(Signal::SIGHUP);
    proc.wait_line("keeping the current ones");
    assert!(trusted_by(addr, &new).await);
}
