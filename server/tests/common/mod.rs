//! Helpers shared by the server's integration tests: nodes on 127.0.0.1 with temp data dirs,
//! raw gRPC clients, and record builders; [`process`]: `tally` processes.

#![allow(dead_code)]

pub mod process;
pub mod raw;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

use tally_proto::v1::admin_client::AdminClient;
use tally_proto::v1::ledger_client::LedgerClient;
use tally_proto::{u128_to_wire, v1};
use tally_server::config::{Config, StartArgs};
use tally_server::Node;
use tonic::transport::Channel;

/// Upper bound of every wait in these tests.
pub const BOUND: Duration = Duration::from_secs(30);

/// `n` free ports on 127.0.0.1 (bound and released; the tests then bind them again).
pub fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    ls.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

/// Config of a single node on a free port.
pub fn single_config(dir: &Path) -> Config {
    StartArgs {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: Some(dir.to_path_buf()),
        ..StartArgs::default()
    }
    .resolve()
    .unwrap()
}

/// Config of node `id` of a cluster whose node i listens on `ports[i-1]`.
pub fn cluster_config(dir: &Path, id: u64, ports: &[u16], cluster_id: u128) -> Config {
    let peers = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1))
        .collect();
    StartArgs {
        node_id: Some(id),
        cluster_id: Some(format!("{cluster_id}")),
        data_dir: Some(dir.join(format!("node-{id}"))),
        peers: Some(peers),
        ..StartArgs::default()
    }
    .resolve()
    .unwrap()
}

/// A Ledger client for `addr`.
pub async fn ledger(addr: SocketAddr) -> LedgerClient<Channel> {
    let ch = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    LedgerClient::new(ch)
        .max_decoding_message_size(16 << 20)
        .max_encoding_message_size(16 << 20)
}

/// An Admin client for `addr`.
pub async fn admin(addr: SocketAddr) -> AdminClient<Channel> {
    let ch = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    AdminClient::new(ch)
}

/// An account on ledger 1 with code 1.
pub fn account(id: u128, flags: u32) -> v1::Account {
    v1::Account {
        id: u128_to_wire(id),
        ledger: 1,
        code: 1,
        flags,
        ..Default::default()
    }
}

/// A transfer of `amount` from `dr` to `cr` on ledger 1.
pub fn transfer(id: u128, dr: u128, cr: u128, amount: u128) -> v1::Transfer {
    v1::Transfer {
        id: u128_to_wire(id),
        debit_account_id: u128_to_wire(dr),
        credit_account_id: u128_to_wire(cr),
        amount: u128_to_wire(amount),
        ledger: 1,
        code: 1,
        ..Default::default()
    }
}

/// Waits until `node` knows a leader that is itself a leader; returns its index in `nodes`.
pub async fn wait_leader(nodes: &[Option<Node>]) -> usize {
    tokio::time::timeout(BOUND, async {
        loop {
            for (i, n) in nodes.iter().enumerate() {
                if let Some(n) = n {
                    if n.raft().is_leader() {
                        return i;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a leader within the bound")
}

/// Starts the nodes of `configs` concurrently.
pub async fn start_all(configs: &[Config]) -> Vec<Option<Node>> {
    let futs = configs.iter().map(Node::start);
    futures_util::future::join_all(futs)
        .await
        .into_iter()
        .map(|r| Some(r.expect("node starts")))
        .collect()
}

/// Each node's state hash and applied index.
pub fn hashes(nodes: &[Option<Node>]) -> BTreeMap<u64, ([u8; 32], Option<u64>)> {
    nodes
        .iter()
        .flatten()
        .map(|n| {
            let (h, at) = n.raft().state().state_hash().unwrap();
            (n.identity().node_id, (h, at.map(|l| l.index)))
        })
        .collect()
}

/// Starts a single node in `dir` and waits until it leads.
pub async fn start_single(dir: &Path) -> Node {
    start_single_with(dir, |_| {}).await
}

/// Starts a single node in `dir` with `tune` applied to its config and waits until it leads.
pub async fn start_single_with(dir: &Path, tune: impl FnOnce(&mut Config)) -> Node {
    let mut config = single_config(dir);
    tune(&mut config);
    let node = Node::start(&config).await.unwrap();
    tokio::time::timeout(BOUND, async {
        while !node.raft().is_leader() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the single node leads within the bound");
    node
}

/// A TCP proxy on 127.0.0.1 in front of `target`, for cutting one directed link between two
/// nodes. While cut it closes every connection it holds and drops new ones at once.
pub struct Proxy {
    /// Where it listens.
    pub addr: SocketAddr,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Connections accepted so far.
    pub accepted: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Proxy {
    /// Starts a proxy to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::Arc;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let (c, n) = (cut.clone(), accepted.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = l.accept().await {
                if c.load(Ordering::SeqCst) {
                    continue; // dropped: the dialer sees the connection closed
                }
                n.fetch_add(1, Ordering::SeqCst);
                let c = c.clone();
                tokio::spawn(async move {
                    let Ok(mut out) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let copy = tokio::io::copy_bidirectional(&mut inbound, &mut out);
                    let watch = async {
                        while !c.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    };
                    tokio::select! {
                        _ = copy => {}
                        _ = watch => {}
                    }
                });
            }
        });
        Self {
            addr,
            cut,
            accepted,
        }
    }

    /// Cuts (true) or heals (false) the link.
    pub fn set_cut(&self, cut: bool) {
        self.cut.store(cut, std::sync::atomic::Ordering::SeqCst);
    }
}

/// `METHOD path` over HTTP/1.0 (so the answer is never chunked) to `addr`: the status code and
/// the body.
pub async fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let code = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (code, body)
}
