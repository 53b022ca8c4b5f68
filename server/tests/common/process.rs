//! A `tally` process on 127.0.0.1 for the `process_*` tests: started from the built binary,
//! its stderr followed line by line, killed when dropped; and the node status it serves.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tally_proto::v1;

use super::BOUND;

/// A child `tally` process, killed when dropped so a failing test leaves nothing behind.
pub struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    /// Starts `tally ARGS` in `cwd`, with `env` added to its environment.
    pub fn start(args: &[String], cwd: &Path, env: &[(&str, String)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tally"));
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self::spawn(cmd, cwd)
    }

    /// Like [`Proc::start`], but no file the process writes may grow past `max_file_kib`
    /// (`RLIMIT_FSIZE`, with SIGXFSZ ignored): writes past it fail with EFBIG, the way they
    /// fail with ENOSPC on a full disk.
    pub fn start_limited(args: &[String], cwd: &Path, max_file_kib: u64) -> Self {
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(format!(
                "ulimit -f {max_file_kib} && trap '' XFSZ && exec \"$0\" \"$@\""
            ))
            .arg(env!("CARGO_BIN_EXE_tally"))
            .args(args);
        Self::spawn(cmd, cwd)
    }

    fn spawn(mut cmd: Command, cwd: &Path) -> Self {
        cmd.current_dir(cwd)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn tally");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[tally {}] {line}", std::process::id());
                let _ = tx.send(line);
            }
        });
        Self { child, lines }
    }

    /// Waits for a stderr line containing `needle`.
    pub fn wait_line(&self, needle: &str) -> String {
        let until = Instant::now() + BOUND;
        while Instant::now() < until {
            if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
                if l.contains(needle) {
                    return l;
                }
            }
        }
        panic!("no line with {needle:?} within the bound");
    }

    pub fn signal(&self, s: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), s).unwrap();
    }

    /// Waits (bounded) for the process to exit; returns whether it exited successfully.
    pub fn wait_exit(&mut self) -> bool {
        let until = Instant::now() + BOUND;
        while Instant::now() < until {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("process did not exit within the bound");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status of the node at `addr`, `None` if it does not answer within half a second.
pub async fn status(addr: SocketAddr) -> Option<v1::GetStatusResponse> {
    let ch = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_millis(300))
        .timeout(Duration::from_millis(500))
        .connect()
        .await
        .ok()?;
    let mut a = tally_proto::v1::admin_client::AdminClient::new(ch);
    a.get_status(v1::GetStatusRequest {})
        .await
        .ok()
        .map(|r| r.into_inner())
}

/// Waits (bounded) until the node at `addr` leads; returns its status then.
pub async fn wait_leading(addr: SocketAddr) -> v1::GetStatusResponse {
    tokio::time::timeout(BOUND, async {
        loop {
            if let Some(s) = status(addr).await {
                if s.state == v1::ServerState::Leader as i32 {
                    return s;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the node leads within the bound")
}

/// `127.0.0.1:PORT` for each of `ports`.
pub fn local_addrs(ports: &[u16]) -> Vec<SocketAddr> {
    ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}").parse().unwrap())
        .collect()
}

/// `tally start` arguments of node `id` of a cluster on `ports` (node i+1 on `ports[i]`),
/// its data dir under `dir`.
pub fn cluster_args(id: u64, ports: &[u16], dir: &Path) -> Vec<String> {
    let peers: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}=127.0.0.1:{p}", i + 1))
        .collect();
    vec![
        "start".into(),
        "--node-id".into(),
        id.to_string(),
        "--cluster-id".into(),
        "0x5eed".into(),
        "--peers".into(),
        peers.join(","),
        "--data-dir".into(),
        dir.join(format!("node-{id}")).display().to_string(),
    ]
}

/// Finds the leader among `addrs` (bounded); returns its index.
pub async fn find_leader(addrs: &[SocketAddr], skip: Option<usize>) -> usize {
    tokio::time::timeout(BOUND, async {
        loop {
            for (i, a) in addrs.iter().enumerate() {
                if Some(i) == skip {
                    continue;
                }
                if let Some(s) = status(*a).await {
                    if s.state == v1::ServerState::Leader as i32 {
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
