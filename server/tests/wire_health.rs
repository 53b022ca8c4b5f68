//! Health for probes: HTTP `/healthz` and `/readyz` on `--http-addr`, and the standard gRPC
//! health service on the node's address. A single node becomes ready once it leads; the last
//! node of a 3-node cluster whose two peers stopped is alive but not ready (no leader), while
//! its Admin service stays `SERVING`.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tally_server::Node;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// The gRPC health status of `service` on the node at `addr`.
async fn grpc_health(addr: SocketAddr, service: &str) -> Result<ServingStatus, tonic::Status> {
    let ch = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    HealthClient::new(ch)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .map(|r| r.into_inner().status())
}

/// Waits (bounded) until `/readyz` of `http_addr` answers `code`; returns its body.
async fn wait_readyz(http_addr: SocketAddr, code: u16) -> String {
    let mut last = (0, String::new());
    let until = tokio::time::Instant::now() + BOUND;
    while tokio::time::Instant::now() < until {
        last = http(http_addr, "GET", "/readyz").await;
        if last.0 == code {
            return last.1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("/readyz never answered {code}; last {last:?}");
}

/// Waits (bounded) until the gRPC health of `service` is `want`.
async fn wait_grpc(addr: SocketAddr, service: &str, want: ServingStatus) {
    tokio::time::timeout(BOUND, async {
        while grpc_health(addr, service).await.ok() != Some(want) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{service:?} never became {want:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_is_alive_and_ready_over_http_and_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_single_with(dir.path(), |c| {
        c.http_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let web = node.http_addr().expect("an HTTP address");
    assert_eq!(http(web, "GET", "/healthz").await, (200, "ok\n".into()));
    assert_eq!(wait_readyz(web, 200).await, "ready\n");
    assert_eq!(http(web, "HEAD", "/readyz").await.0, 200);
    assert_eq!(http(web, "GET", "/metrics/nope").await.0, 404);
    assert_eq!(http(web, "POST", "/readyz").await.0, 405);

    for service in ["", "tally.v1.Ledger", "tally.v1.Admin"] {
        wait_grpc(node.addr(), service, ServingStatus::Serving).await;
    }
    let unknown = grpc_health(node.addr(), "no.such.Service")
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    node.shutdown().await.unwrap();
}

/// A single node is its own quorum: idle for longer than the silence the readiness rule
/// allows, it stays ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_single_node_stays_ready() {
    let dir = tempfile::tempdir().unwrap();
    let mut silence = Duration::ZERO;
    let node = start_single_with(dir.path(), |c| {
        c.http_addr = Some("127.0.0.1:0".parse().unwrap());
        silence = Duration::from_millis(2 * c.election_ms.1);
    })
    .await;
    let web = node.http_addr().expect("an HTTP address");
    wait_readyz(web, 200).await;
    tokio::time::sleep(silence * 2).await;
    assert_eq!(http(web, "GET", "/readyz").await, (200, "ready\n".into()));
    wait_grpc(node.addr(), "tally.v1.Ledger", ServingStatus::Serving).await;
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_lost_its_peers_is_alive_but_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    let configs: Vec<_> = (1..=3)
        .map(|id| {
            let mut c = cluster_config(dir.path(), id, &ports, 0x5eed);
            c.http_addr = Some("127.0.0.1:0".parse().unwrap());
            c
        })
        .collect();
    let mut nodes = start_all(&configs).await;
    let leader = wait_leader(&nodes).await;
    for n in nodes.iter().flatten() {
        wait_readyz(n.http_addr().unwrap(), 200).await;
        wait_grpc(n.addr(), "tally.v1.Ledger", ServingStatus::Serving).await;
    }
    // Stop the leader and one follower: the last node can elect no one.
    let last = (0..3).find(|&i| i != leader).unwrap();
    for (i, slot) in nodes.iter_mut().enumerate() {
        if i != last {
            let n: Node = slot.take().unwrap();
            n.halt().await.unwrap();
        }
    }
    let n = nodes[last].as_ref().unwrap();
    let body = wait_readyz(n.http_addr().unwrap(), 503).await;
    assert!(body.starts_with("not ready: no leader"), "{body}");
    assert_eq!(http(n.http_addr().unwrap(), "GET", "/healthz").await.0, 200);
    wait_grpc(n.addr(), "", ServingStatus::NotServing).await;
    wait_grpc(n.addr(), "tally.v1.Ledger", ServingStatus::NotServing).await;
    assert_eq!(
        grpc_health(n.addr(), "tally.v1.Admin").await.unwrap(),
        ServingStatus::Serving
    );
    nodes[last].take().unwrap().halt().await.unwrap();
}
