//! A temporary cluster of `tally start` processes on 127.0.0.1, in a temp dir, for one run.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::report::NodeUsage;

/// The running nodes; stopped (SIGTERM, then SIGKILL) by [`TempCluster::stop`] or on drop.
#[derive(Debug)]
pub struct TempCluster {
    dir: Option<tempfile::TempDir>,
    nodes: Vec<Node>,
}

/// Lines of a node's stderr kept to explain its exit.
const TAIL_LINES: usize = 20;

#[derive(Debug)]
struct Node {
    id: u64,
    addr: String,
    child: Mutex<Child>,
    /// The last [`TAIL_LINES`] lines the node wrote to stderr.
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl Node {
    fn child(&self) -> MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `n` free ports on 127.0.0.1.
fn free_ports(n: usize) -> Result<Vec<u16>> {
    let ls = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    ls.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

impl TempCluster {
    /// Starts `n` nodes of a new cluster, pinned to `cpus` (a `taskset -c` list) if given, and
    /// waits until each says it is serving.
    pub async fn start(bin: &Path, n: u64, cpus: Option<&str>) -> Result<Self> {
        if !bin.exists() {
            bail!("tally binary not found at {}", bin.display());
        }
        let dir = tempfile::Builder::new().prefix("tally-bench-").tempdir()?;
        let ports = free_ports(n as usize)?;
        let peers: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1))
            .collect();
        let cluster_id = format!("0x{:032x}", fastrand::u128(1..));
        let mut me = Self {
            dir: Some(dir),
            nodes: Vec::new(),
        };
        for id in 1..=n {
            let data = me.path().join(format!("node-{id}"));
            let mut cmd = match cpus {
                // Pinned from exec on, so every thread of the node inherits the CPU set.
                Some(list) => {
                    let mut c = Command::new("taskset");
                    c.args(["-c", list]).arg(bin);
                    c
                }
                None => Command::new(bin),
            };
            cmd.arg("start")
                .args(["--node-id", &id.to_string(), "--cluster-id", &cluster_id])
                .arg("--data-dir")
                .arg(&data)
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            if n == 1 {
                cmd.args(["--listen", &format!("127.0.0.1:{}", ports[0])]);
            } else {
                cmd.args(["--peers", &peers.join(",")]);
            }
            let mut child = cmd.spawn().context(if cpus.is_some() {
                "start a node under taskset (util-linux)"
            } else {
                "start a node"
            })?;
            let stderr = child.stderr.take().expect("piped stderr");
            let tail = Arc::new(Mutex::new(VecDeque::new()));
            me.nodes.push(Node {
                id,
                addr: format!("127.0.0.1:{}", ports[id as usize - 1]),
                child: Mutex::new(child),
                tail: tail.clone(),
            });
            wait_serving(stderr, id, tail)?;
        }
        Ok(me)
    }

    fn path(&self) -> PathBuf {
        self.dir
            .as_ref()
            .map(|d| d.path().to_path_buf())
            .unwrap_or_default()
    }

    /// The nodes' addresses.
    pub fn addresses(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.addr.clone()).collect()
    }

    /// Why a node is gone, if one has exited: its id, exit status and last lines of stderr.
    pub fn exited(&self) -> Option<String> {
        self.nodes.iter().find_map(|n| {
            let status = n.child().try_wait().ok().flatten()?;
            let tail = n.tail.lock().unwrap_or_else(|p| p.into_inner());
            let said: Vec<&str> = tail.iter().map(String::as_str).collect();
            Some(format!(
                "node {} exited ({status}); its last words: {}",
                n.id,
                if said.is_empty() {
                    "none".to_string()
                } else {
                    said.join(" | ")
                }
            ))
        })
    }

    /// Returns once a node has exited, with [`TempCluster::exited`]'s account of it: a node
    /// that dies mid-run fails the benchmark at once instead of leaving its clients to retry
    /// until their deadlines.
    pub async fn died(&self) -> anyhow::Error {
        loop {
            if let Some(why) = self.exited() {
                return anyhow::anyhow!(why);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Memory and disk use of each node now.
    pub fn usage(&self) -> Vec<NodeUsage> {
        self.nodes
            .iter()
            .map(|n| {
                let status = std::fs::read_to_string(format!("/proc/{}/status", n.child().id()))
                    .unwrap_or_default();
                let field = |name: &str| {
                    status
                        .lines()
                        .find(|l| l.starts_with(name))
                        .and_then(|l| l.split_whitespace().nth(1))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0)
                };
                NodeUsage {
                    id: n.id,
                    rss_kib: field("VmRSS:"),
                    peak_rss_kib: field("VmHWM:"),
                    data_bytes: dir_bytes(&self.path().join(format!("node-{}", n.id))),
                }
            })
            .collect()
    }

    /// Stops every node; keeps the data dir (and prints where) if `keep`.
    pub fn stop(mut self, keep: bool) {
        self.terminate();
        if let Some(d) = self.dir.take() {
            if keep {
                eprintln!("data kept in {}", d.keep().display());
            }
        }
    }

    fn terminate(&mut self) {
        for n in &self.nodes {
            if let Ok(pid) = i32::try_from(n.child().id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
        let until = Instant::now() + Duration::from_secs(10);
        for n in &self.nodes {
            let mut c = n.child();
            while Instant::now() < until && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        self.nodes.clear();
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Reads the node's stderr until it says it serves (bounded), then keeps draining it in the
/// background so the node never blocks on a full pipe, keeping its last lines in `tail`.
fn wait_serving(
    stderr: std::process::ChildStderr,
    id: u64,
    tail: Arc<Mutex<VecDeque<String>>>,
) -> Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut told = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            {
                let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                if t.len() == TAIL_LINES {
                    t.pop_front();
                }
                t.push_back(line.clone());
            }
            if !told && line.contains("serving on") {
                told = true;
                let _ = tx.send(Ok(()));
            } else if !told && line.starts_with("tally:") {
                let _ = tx.send(Err(line));
                told = true;
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(line)) => bail!("node {id} failed to start: {line}"),
        Err(_) => bail!("node {id} did not start within 30 s"),
    }
}

fn dir_bytes(p: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(p) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
