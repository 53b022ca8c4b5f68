//! TLS on the node port and peer authentication: a cluster over mutual TLS (certificates made
//! by `tally certs`), clients with and without certificates, the Raft service refusing callers
//! that are not cluster peers, and the cluster secret of clusters without TLS.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use tally_client::{Account, Client, ClientOptions, Error, TlsOptions, Transfer};
use tally_proto::v1::{self, raft_client::RaftClient};
use tally_raft::net::{CLUSTER_ID_KEY, CLUSTER_SECRET_KEY};
use tally_server::config::StartArgs;
use tally_server::Node;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic::Code;

/// Runs `tally certs ARGS`, which must succeed.
fn certs(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .arg("certs")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "tally certs {args:?}: {out:?}");
}

/// A CA in `dir`, with node certificates for 127.0.0.1 named `nodes` and client
/// certificates named `clients`.
fn make_ca(dir: &Path, nodes: &[&str], clients: &[&str]) -> PathBuf {
    let d = dir.to_str().unwrap();
    certs(&["ca", "--out", d]);
    for n in nodes {
        certs(&["node", "--ca-dir", d, "--name", n, "--host", "127.0.0.1"]);
    }
    for c in clients {
        certs(&["client", "--ca-dir", d, "--name", c]);
    }
    dir.to_path_buf()
}

/// `tally start` flags of a node with `ca`'s certificate `name`.
fn tls_args(args: StartArgs, ca: &Path, name: &str, client_ca: Option<&Path>) -> StartArgs {
    StartArgs {
        tls_cert: Some(ca.join(format!("{name}.pem"))),
        tls_key: Some(ca.join(format!("{name}.key"))),
        tls_peer_ca: Some(ca.join("ca.pem")),
        tls_client_ca: client_ca.map(|c| c.join("ca.pem")),
        ..args
    }
}

fn single_args(dir: &Path) -> StartArgs {
    StartArgs {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: Some(dir.join("data")),
        ..StartArgs::default()
    }
}

async fn wait_leads(node: &Node) {
    tokio::time::timeout(BOUND, async {
        while !node.raft().is_leader() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the node leads within the bound");
}

/// SDK settings trusting `ca`, presenting `ca`'s client certificate `client` if given.
fn sdk(ca: &Path, client: Option<&Path>) -> ClientOptions {
    let mut tls = TlsOptions::from_ca_file(ca.join("ca.pem")).unwrap();
    if let Some(c) = client {
        tls = tls
            .with_client_files(c.with_extension("pem"), c.with_extension("key"))
            .unwrap();
    }
    ClientOptions {
        tls: Some(tls),
        request_timeout: Duration::from_secs(3),
        ..ClientOptions::default()
    }
}

/// Creates two accounts and a transfer between them.
async fn one_transfer(client: &Client) -> Result<(), Error> {
    let (a, b) = (tally_client::id(), tally_client::id());
    let r = client
        .create_accounts(&[Account::new(a, 1, 1), Account::new(b, 1, 1)])
        .await?;
    assert!(r.iter().all(|r| r.is_applied()), "{r:?}");
    let r = client
        .create_transfers(&[Transfer::new(tally_client::id(), a, b, 5, 1, 1)])
        .await?;
    assert!(r.iter().all(|r| r.is_applied()), "{r:?}");
    Ok(())
}

/// A raw Raft client over TLS trusting `ca`, presenting `identity` (cert, key files) if given.
async fn raft_client(
    addr: SocketAddr,
    ca: &Path,
    identity: Option<(PathBuf, PathBuf)>,
) -> Result<RaftClient<Channel>, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(
        std::fs::read(ca.join("ca.pem")).unwrap(),
    ));
    if let Some((c, k)) = identity {
        tls = tls.identity(Identity::from_pem(
            std::fs::read(c).unwrap(),
            std::fs::read(k).unwrap(),
        ));
    }
    let ch = Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .connect()
        .await?;
    Ok(RaftClient::new(ch))
}

fn files(ca: &Path, name: &str) -> Option<(PathBuf, PathBuf)> {
    Some((
        ca.join(format!("{name}.pem")),
        ca.join(format!("{name}.key")),
    ))
}

/// A vote with no cluster id: a caller that passes peer authentication gets
/// FAILED_PRECONDITION (the next check) instead.
async fn vote(c: &mut RaftClient<Channel>, secret: Option<&str>) -> tonic::Status {
    let mut req = tonic::Request::new(v1::VoteRequest::default());
    if let Some(s) = secret {
        req.metadata_mut()
            .insert(CLUSTER_SECRET_KEY, s.parse().unwrap());
    }
    c.vote(req).await.unwrap_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_node_cluster_over_mutual_tls_elects_and_serves_a_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let ca = make_ca(&dir.path().join("ca"), &["n1", "n2", "n3"], &[]);
    let ports = free_ports(3);
    let peers: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1))
        .collect();
    let configs: Vec<_> = (1..=3u64)
        .map(|id| {
            let args = StartArgs {
                node_id: Some(id),
                cluster_id: Some("0x7a11e7".into()),
                data_dir: Some(dir.path().join(format!("node-{id}"))),
                peers: Some(peers.clone()),
                ..StartArgs::default()
            };
            tls_args(args, &ca, &format!("n{id}"), None)
                .resolve()
                .unwrap()
        })
        .collect();
    let nodes = start_all(&configs).await;
    wait_leader(&nodes).await;
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let client = Client::connect_with(addrs.clone(), sdk(&ca, None))
        .await
        .unwrap();
    one_transfer(&client).await.unwrap();
    // Every node applies it: replication ran over TLS.
    tokio::time::timeout(BOUND, async {
        loop {
            let h = hashes(&nodes);
            if h.values().all(|v| Some(v) == h.values().next()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the nodes converge");

    // A plaintext client cannot speak to a TLS node.
    let plain = ClientOptions {
        request_timeout: Duration::from_secs(1),
        ..ClientOptions::default()
    };
    let plain = Client::connect_with(addrs, plain).await.unwrap();
    // The node closes the connection at the handshake; the client cannot tell that apart from
    // a connection lost after sending, so the write's outcome is unknown to it.
    assert!(one_transfer(&plain).await.is_err());
    for n in nodes.into_iter().flatten() {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_ca_requires_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = make_ca(&dir.path().join("ca"), &["n1"], &[]);
    let clients = make_ca(&dir.path().join("clients"), &[], &["alice"]);
    let args = tls_args(single_args(dir.path()), &ca, "n1", Some(&clients));
    let node = Node::start(&args.resolve().unwrap()).await.unwrap();
    wait_leads(&node).await;
    let addr = [node.addr().to_string()];

    let anonymous = Client::connect_with(addr.clone(), sdk(&ca, None))
        .await
        .unwrap();
    // With TLS 1.3 the server refuses the missing certificate after the client's side of the
    // handshake is done: the client sees its first request fail on a closed connection.
    assert!(one_transfer(&anonymous).await.is_err());

    let alice = Client::connect_with(addr, sdk(&ca, Some(&clients.join("alice"))))
        .await
        .unwrap();
    one_transfer(&alice).await.unwrap();

    // A client certificate from the client CA is no peer credential.
    let mut c = raft_client(node.addr(), &ca, files(&clients, "alice"))
        .await
        .unwrap();
    let e = vote(&mut c, None).await;
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("cluster CA"), "{e:?}");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_raft_service_serves_only_certificates_of_the_cluster_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = make_ca(&dir.path().join("ca"), &["n1", "n2"], &[]);
    let foreign = make_ca(&dir.path().join("foreign"), &["n2"], &[]);
    let node = Node::start(
        &tls_args(single_args(dir.path()), &ca, "n1", None)
            .resolve()
            .unwrap(),
    )
    .await
    .unwrap();
    wait_leads(&node).await;

    // No client certificate: the client API serves it, the Raft service does not.
    let sdk_client = Client::connect_with([node.addr().to_string()], sdk(&ca, None))
        .await
        .unwrap();
    one_transfer(&sdk_client).await.unwrap();
    let mut anonymous = raft_client(node.addr(), &ca, None).await.unwrap();
    let e = vote(&mut anonymous, None).await;
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
    assert!(e.message().contains("cluster CA"), "{e:?}");

    // A "node" whose certificate another CA signed does not get past the handshake: its
    // call fails in the transport, with no status from the node.
    let mut stranger = raft_client(node.addr(), &ca, files(&foreign, "n2"))
        .await
        .unwrap();
    // Depending on when the refused handshake's alert arrives, the call ends as a transport
    // error or as a closed connection; either way the status is the client transport's own.
    let e = vote(&mut stranger, None).await;
    assert!(matches!(e.code(), Code::Unknown | Code::Cancelled), "{e:?}");
    let source = std::error::Error::source(&e);
    assert!(
        source.is_some_and(|s| s.is::<tonic::transport::Error>()),
        "{e:?}"
    );

    // A certificate of the cluster CA passes; the call then fails the cluster id check.
    let mut peer = raft_client(node.addr(), &ca, files(&ca, "n2"))
        .await
        .unwrap();
    let e = vote(&mut peer, None).await;
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains(CLUSTER_ID_KEY), "{e:?}");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_secret_is_required_of_every_raft_call() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    certs(&["secret", "--out", secret.to_str().unwrap()]);
    let text = std::fs::read_to_string(&secret).unwrap().trim().to_string();
    let ports = free_ports(3);
    let configs: Vec<_> = (1..=3u64)
        .map(|id| {
            let mut c = cluster_config(dir.path(), id, &ports, 0x5ec);
            c.cluster_secret = StartArgs {
                cluster_secret_file: Some(secret.clone()),
                ..StartArgs::default()
            }
            .resolve()
            .unwrap()
            .cluster_secret;
            c
        })
        .collect();
    let nodes = start_all(&configs).await;
    // The nodes send the secret to each other: they elect a leader.
    let leader = wait_leader(&nodes).await;
    let addr = nodes[leader].as_ref().unwrap().addr();
    let mut c = RaftClient::connect(format!("http://{addr}")).await.unwrap();
    for sent in [None, Some("0123456789abcdef-wrong")] {
        let e = vote(&mut c, sent).await;
        assert_eq!(e.code(), Code::Unauthenticated, "{sent:?}: {e:?}");
        assert!(e.message().contains(CLUSTER_SECRET_KEY), "{e:?}");
        assert!(!e.message().contains(&text), "the answer shows the secret");
    }
    let e = vote(&mut c, Some(&text)).await;
    assert_eq!(
        e.code(),
        Code::FailedPrecondition,
        "the secret passes: {e:?}"
    );
    for n in nodes.into_iter().flatten() {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_tls_files_do_not_load_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let ca = make_ca(&dir.path().join("ca"), &["n1"], &[]);
    std::fs::write(ca.join("n1.key"), "not a key\n").unwrap();
    let config = tls_args(single_args(dir.path()), &ca, "n1", None)
        .resolve()
        .unwrap();
    let e = Node::start(&config).await.unwrap_err();
    let text = format!("{e}: {}", std::error::Error::source(&e).unwrap());
    assert!(
        text.contains("n1.key") && text.contains("private key"),
        "{text}"
    );
    assert!(!dir.path().join("data").exists(), "nothing was created");
}
