//! A real cluster of `tally` processes on 127.0.0.1, with a proxy on every directed link.
//!
//! Node i listens on its own port; for every other node j it dials `proxy(i -> j)` instead of
//! j's address (`--peer-via`), so [`Cluster::set_link`] can partition any pair in either
//! direction. Clients talk to the nodes directly. Each node's stderr is appended to
//! `<dir>/n<i>.log` across restarts, and its data lives in `<dir>/n<i>/`.
//!
//! With [`FaultFsOptions`], `<dir>/n<i>/` is a `tally-faultfs` mount of `<dir>/n<i>.disk/`
//! (its own stderr in `<dir>/n<i>.faultfs.log`), and [`Cluster::power_loss`] cuts a node's
//! power: whatever the node wrote and did not fsync is gone when it starts again.
//!
//! Dropping a [`Cluster`] kills (SIGKILL) every node it started, then unmounts every faultfs
//! mount cleanly and removes the mount points.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tally_proto::v1::admin_client::AdminClient;
use tally_proto::v1::{GetStatusRequest, GetStatusResponse, ServerState};

use crate::proxy::{Mode, Proxy};

/// The `tally` binary to run: `explicit`, else `$TALLY_BIN`, else the release build in
/// `$CARGO_TARGET_DIR` (what `scripts/dev.sh` sets), else in the workspace's `target/`, else in
/// the shared cache `~/.cache/tally-target`, the first that exists.
pub fn find_tally_bin(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("TALLY_BIN") {
        return Some(PathBuf::from(p));
    }
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        let t = PathBuf::from(t);
        // A relative target dir is relative to the workspace.
        dirs.push(if t.is_absolute() {
            t
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(t)
        });
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cache/tally-target"));
    }
    dirs.into_iter()
        .map(|d| d.join("release/tally"))
        .find(|b| b.exists())
}

/// The `tally-faultfs` binary: `$TALLY_FAULTFS_BIN`, else the one beside `tally_bin` (cargo
/// builds both into the same `release/` directory).
pub fn find_faultfs_bin(tally_bin: &Path) -> Result<PathBuf> {
    let bin = std::env::var_os("TALLY_FAULTFS_BIN")
        .map_or_else(|| tally_bin.with_file_name("tally-faultfs"), PathBuf::from);
    if !bin.exists() {
        bail!(
            "no tally-faultfs binary at {} (power-loss faults need it): build it with \
             `cargo build --release -p tally-faultfs`, or set TALLY_FAULTFS_BIN",
            bin.display()
        );
    }
    Ok(bin)
}

/// Fails with a clear message unless this process can mount `tally-faultfs`: it mounts with
/// mount(2), which needs root, and talks to the kernel through `/dev/fuse`.
pub fn check_faultfs_possible() -> Result<()> {
    if !Path::new("/dev/fuse").exists() {
        bail!("power-loss faults need FUSE, and /dev/fuse does not exist (modprobe fuse)");
    }
    if !nix::unistd::geteuid().is_root() {
        bail!("power-loss faults mount tally-faultfs with mount(2), which needs root");
    }
    Ok(())
}

/// Run every node's data directory on its own `tally-faultfs` mount.
#[derive(Debug, Clone)]
pub struct FaultFsOptions {
    /// The `tally-faultfs` binary.
    pub bin: PathBuf,
    /// Seed of the torn-write seeds each mount gets (each power cut tears the last write at
    /// a point that seed chooses).
    pub seed: u64,
}

/// A running `tally-faultfs` process and its stdout (its summary line comes there).
#[derive(Debug)]
struct Mount {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

/// How long a faultfs process may take to mount, or to stop after a signal.
const MOUNT_TIMEOUT: Duration = Duration::from_secs(20);

/// Reads one line from `r` within `timeout`. On a timeout the reading thread is left behind,
/// blocked until the process it reads from exits.
fn read_line_within(
    r: BufReader<ChildStdout>,
    timeout: Duration,
) -> Result<(String, BufReader<ChildStdout>)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = r;
        let mut line = String::new();
        let got = r.read_line(&mut line).map(|_| line);
        let _ = tx.send(got.map(|l| (l, r)));
    });
    let (line, r) = rx.recv_timeout(timeout).context("no answer in time")??;
    Ok((line.trim().to_string(), r))
}

/// Waits up to `timeout` for `child` to exit.
fn wait_within(child: &mut Child, timeout: Duration) -> Result<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            bail!("did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How to start the cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// The `tally` binary.
    pub bin: PathBuf,
    /// Number of voters (3 or 5).
    pub nodes: u64,
    /// Data dirs and logs go here.
    pub dir: PathBuf,
    /// Extra flags for every `tally start` (heartbeat, election timeout, snapshots).
    pub extra_args: Vec<String>,
}

#[derive(Debug)]
struct NodeProc {
    addr: SocketAddr,
    child: Option<Child>,
    paused: bool,
    clock_offset_ms: i64,
    mount: Option<Mount>,
}

/// A running cluster; see the module docs.
#[derive(Debug)]
pub struct Cluster {
    opts: ClusterOptions,
    cluster_id: u128,
    nodes: BTreeMap<u64, NodeProc>,
    proxies: BTreeMap<(u64, u64), Proxy>,
    /// Each node's data directory is a faultfs mount (power-loss faults).
    faultfs: Option<FaultFsOptions>,
    /// Chooses each mount's torn-write seed.
    torn_rng: fastrand::Rng,
}

/// A free port on 127.0.0.1 for a node, below Linux's ephemeral range (32768..): a node that is
/// down for a while must be able to bind its port again, and ports in the ephemeral range may be
/// taken meanwhile as the source port of some outgoing connection (the proxies', the clients').
fn free_port() -> Result<SocketAddr> {
    for _ in 0..1000 {
        let port = fastrand::u16(20_000..32_000);
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            return Ok(l.local_addr()?);
        }
    }
    bail!("no free port in 20000..32000")
}

impl Cluster {
    /// Starts every node and the proxies between them; does not wait for a leader.
    pub async fn start(opts: ClusterOptions) -> Result<Cluster> {
        Self::start_with(opts, None).await
    }

    /// Like [`Cluster::start`], with every node's data directory on its own faultfs mount when
    /// `faultfs` is given (see [`Cluster::power_loss`]).
    pub async fn start_with(
        opts: ClusterOptions,
        faultfs: Option<FaultFsOptions>,
    ) -> Result<Cluster> {
        std::fs::create_dir_all(&opts.dir)?;
        let mut nodes = BTreeMap::new();
        for id in 1..=opts.nodes {
            let mut addr = free_port()?;
            while nodes.values().any(|n: &NodeProc| n.addr == addr) {
                addr = free_port()?;
            }
            let node = NodeProc {
                addr,
                child: None,
                paused: false,
                clock_offset_ms: 0,
                mount: None,
            };
            nodes.insert(id, node);
        }
        let mut proxies = BTreeMap::new();
        for &i in nodes.keys() {
            for (&j, nj) in &nodes {
                if i != j {
                    proxies.insert((i, j), Proxy::start(nj.addr).await?);
                }
            }
        }
        let seed = faultfs.as_ref().map_or(0, |f| f.seed);
        let mut c = Cluster {
            opts,
            cluster_id: (fastrand::u128(1..) >> 1) | 1,
            nodes,
            proxies,
            faultfs,
            torn_rng: fastrand::Rng::with_seed(seed),
        };
        if c.faultfs.is_some() {
            // Dropping `c` on an error unmounts whatever was mounted.
            for id in c.ids() {
                c.mount(id)?;
            }
        }
        for id in c.ids() {
            c.spawn(id)?;
        }
        Ok(c)
    }

    /// The node's data directory (its faultfs mount point, when faults are on).
    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.opts.dir.join(format!("n{id}"))
    }

    /// Where the node's data really lives when it runs on faultfs: what survives a power cut.
    pub fn disk_dir(&self, id: u64) -> PathBuf {
        self.opts.dir.join(format!("n{id}.disk"))
    }

    /// Whether every node runs on faultfs.
    pub fn has_faultfs(&self) -> bool {
        self.faultfs.is_some()
    }

    /// Mounts the node's disk on its data directory with a fresh `tally-faultfs` and waits
    /// until it serves.
    fn mount(&mut self, id: u64) -> Result<()> {
        let fopts = self.faultfs.clone().context("faultfs is off")?;
        let (mnt, disk) = (self.data_dir(id), self.disk_dir(id));
        std::fs::create_dir_all(&mnt)?;
        std::fs::create_dir_all(&disk)?;
        let log_path = self.opts.dir.join(format!("n{id}.faultfs.log"));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let mut child = Command::new(&fopts.bin)
            .arg("--backing")
            .arg(&disk)
            .arg("--mount")
            .arg(&mnt)
            .arg(format!("--torn-seed={}", self.torn_rng.u64(..)))
            // Its own process group: a ctrl-c at the terminal must not unmount a node's data
            // under it; the harness stops the nodes first, then unmounts.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", fopts.bin.display()))?;
        let stdout = BufReader::new(child.stdout.take().context("faultfs stdout")?);
        match read_line_within(stdout, MOUNT_TIMEOUT) {
            Ok((line, stdout)) if line == "mounted" => {
                let node = self.nodes.get_mut(&id).context("no such node")?;
                node.mount = Some(Mount { child, stdout });
                Ok(())
            }
            other => {
                let _ = child.kill();
                let _ = child.wait();
                let said = other.map_or_else(|e| e.to_string(), |(l, _)| format!("{l:?}"));
                bail!(
                    "tally-faultfs did not mount n{id} on {} ({said}; it needs root and \
                     /dev/fuse); see {}",
                    mnt.display(),
                    log_path.display()
                )
            }
        }
    }

    /// Signals the node's faultfs (SIGUSR1: power cut; SIGTERM: clean stop), waits for it to
    /// unmount and exit, and returns its summary line.
    fn unmount(&mut self, id: u64, sig: Signal) -> Result<String> {
        let mnt = self.data_dir(id);
        let node = self.nodes.get_mut(&id).context("no such node")?;
        let Mount { mut child, stdout } = node.mount.take().context("not mounted")?;
        let pid = Pid::from_raw(i32::try_from(child.id())?);
        let sent = kill(pid, sig);
        let status = sent
            .map_err(anyhow::Error::from)
            .and_then(|()| wait_within(&mut child, MOUNT_TIMEOUT));
        let status = match status {
            Ok(s) => s,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = nix::mount::umount2(&mnt, nix::mount::MntFlags::MNT_DETACH);
                return Err(e.context(format!("tally-faultfs of n{id} after {sig}")));
            }
        };
        if !status.success() {
            bail!("tally-faultfs of n{id} exited with {status} after {sig}");
        }
        let (summary, _) = read_line_within(stdout, Duration::from_secs(1))
            .with_context(|| format!("tally-faultfs of n{id}: no summary"))?;
        Ok(summary)
    }

    /// A power cut of `ids` at once: SIGKILL every one of them, then drop everything each
    /// wrote and did not fsync (the last write torn), and mount their disks again. The nodes
    /// stay down; [`Cluster::restart`] starts them with their old command. Returns what each
    /// cut dropped, as faultfs reports it.
    pub fn power_loss(&mut self, ids: &[u64]) -> Result<Vec<String>> {
        if !self.has_faultfs() {
            bail!("power loss needs the data directories on faultfs");
        }
        for &id in ids {
            self.kill(id)?;
        }
        let mut out = Vec::new();
        for &id in ids {
            let summary = self.unmount(id, Signal::SIGUSR1)?;
            out.push(format!("n{id}: {summary}"));
            self.mount(id)?;
        }
        Ok(out)
    }

    /// Unmounts every faultfs cleanly (writing back what is cached) and removes the mount
    /// points. Nodes must be down.
    fn unmount_all(&mut self) {
        for id in self.ids() {
            if self.nodes[&id].mount.is_none() {
                continue;
            }
            if let Err(e) = self.unmount(id, Signal::SIGTERM) {
                eprintln!("jepsen: {e:#}");
            }
            // The mount point, and faultfs's trash when nothing waits in it.
            let _ = std::fs::remove_dir(self.data_dir(id));
            let _ = std::fs::remove_dir(self.opts.dir.join(format!("n{id}.disk.trash")));
        }
    }

    /// Node ids, ascending.
    pub fn ids(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    /// A node's client address.
    pub fn addr(&self, id: u64) -> SocketAddr {
        self.nodes[&id].addr
    }

    /// Every node's client address, by id.
    pub fn addrs(&self) -> BTreeMap<u64, SocketAddr> {
        self.nodes.iter().map(|(&i, n)| (i, n.addr)).collect()
    }

    /// Whether the node's process is running (possibly paused).
    pub fn is_up(&self, id: u64) -> bool {
        self.nodes[&id].child.is_some()
    }

    /// The node's process id, while it runs.
    pub fn pid(&self, id: u64) -> Option<u32> {
        self.nodes[&id].child.as_ref().map(Child::id)
    }

    /// Whether the node is stopped with SIGSTOP.
    pub fn is_paused(&self, id: u64) -> bool {
        self.nodes[&id].paused
    }

    /// The clock offset the node was last started with.
    pub fn clock_offset(&self, id: u64) -> i64 {
        self.nodes[&id].clock_offset_ms
    }

    /// Where the node's stderr goes.
    pub fn log_path(&self, id: u64) -> PathBuf {
        self.opts.dir.join(format!("n{id}.log"))
    }

    fn spawn(&mut self, id: u64) -> Result<()> {
        let peers: Vec<String> = self
            .nodes
            .iter()
            .map(|(i, n)| format!("{i}={}", n.addr))
            .collect();
        let via: Vec<String> = self
            .proxies
            .iter()
            .filter(|((from, _), _)| *from == id)
            .map(|((_, to), p)| format!("{to}={}", p.addr()))
            .collect();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(id))?;
        let data_dir = self.data_dir(id);
        let node = self.nodes.get_mut(&id).context("no such node")?;
        if self.faultfs.is_some() && node.mount.is_none() {
            bail!("n{id}'s faultfs is not mounted");
        }
        let mut cmd = Command::new(&self.opts.bin);
        cmd.arg("start")
            .args(["--node-id", &id.to_string()])
            .args(["--cluster-id", &format!("0x{:x}", self.cluster_id)])
            .args(["--peers", &peers.join(",")])
            .args(["--peer-via", &via.join(",")])
            .arg("--data-dir")
            .arg(&data_dir)
            .arg(format!("--clock-offset-ms={}", node.clock_offset_ms))
            .args(&self.opts.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let child = cmd
            .spawn()
            .with_context(|| format!("spawn {}", self.opts.bin.display()))?;
        node.child = Some(child);
        node.paused = false;
        Ok(())
    }

    fn signal(&self, id: u64, sig: Signal) -> Result<()> {
        let child = self.nodes[&id].child.as_ref().context("node is down")?;
        let pid = Pid::from_raw(i32::try_from(child.id())?);
        kill(pid, sig).with_context(|| format!("signal {sig} to node {id}"))
    }

    /// SIGKILL and reap. A node that is already down is left alone.
    pub fn kill(&mut self, id: u64) -> Result<()> {
        if self.nodes[&id].child.is_none() {
            return Ok(());
        }
        self.signal(id, Signal::SIGKILL)?;
        let node = self.nodes.get_mut(&id).context("no such node")?;
        if let Some(mut child) = node.child.take() {
            child.wait()?;
        }
        node.paused = false;
        Ok(())
    }

    /// Starts a node that is down, with the same flags and data dir (mounting its disk again
    /// first if its faultfs is gone).
    pub fn restart(&mut self, id: u64) -> Result<()> {
        if self.is_up(id) {
            bail!("node {id} is already running");
        }
        if self.has_faultfs() {
            let node = self.nodes.get_mut(&id).context("no such node")?;
            let exited = match node.mount.as_mut() {
                Some(m) => m.child.try_wait()?.is_some(),
                None => true,
            };
            if exited {
                node.mount = None;
                let _ = nix::mount::umount2(&self.data_dir(id), nix::mount::MntFlags::MNT_DETACH);
                self.mount(id)?;
            }
        }
        self.spawn(id)
    }

    /// Kills the node (if up) and starts it again with this clock offset.
    pub fn restart_with_clock_offset(&mut self, id: u64, offset_ms: i64) -> Result<()> {
        self.kill(id)?;
        self.nodes
            .get_mut(&id)
            .context("no such node")?
            .clock_offset_ms = offset_ms;
        self.spawn(id)
    }

    /// SIGSTOP.
    pub fn pause(&mut self, id: u64) -> Result<()> {
        self.signal(id, Signal::SIGSTOP)?;
        self.nodes.get_mut(&id).context("no such node")?.paused = true;
        Ok(())
    }

    /// SIGCONT.
    pub fn resume(&mut self, id: u64) -> Result<()> {
        if self.nodes[&id].child.is_some() {
            self.signal(id, Signal::SIGCONT)?;
        }
        self.nodes.get_mut(&id).context("no such node")?.paused = false;
        Ok(())
    }

    /// Node ids whose process exited without the harness killing it, with the exit status.
    pub fn crashed(&mut self) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        for (&id, n) in &mut self.nodes {
            if let Some(child) = n.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    out.push((id, status.to_string()));
                    n.child = None;
                }
            }
        }
        out
    }

    /// Sets the mode of the link `from -> to`.
    pub fn set_link(&self, from: u64, to: u64, mode: Mode) {
        if let Some(p) = self.proxies.get(&(from, to)) {
            p.set_mode(mode);
        }
    }

    /// Cuts every link between `side` and the other nodes, both directions.
    pub fn partition(&self, side: &[u64]) {
        for ((from, to), p) in &self.proxies {
            if side.contains(from) != side.contains(to) {
                p.set_mode(Mode::Cut);
            }
        }
    }

    /// Every link back to [`Mode::Pass`].
    pub fn heal_links(&self) {
        for p in self.proxies.values() {
            p.set_mode(Mode::Pass);
        }
    }

    /// Links not in [`Mode::Pass`].
    pub fn faulty_links(&self) -> Vec<(u64, u64, Mode)> {
        self.proxies
            .iter()
            .filter(|(_, p)| p.mode() != Mode::Pass)
            .map(|(&(f, t), p)| (f, t, p.mode()))
            .collect()
    }

    /// One node's status, within `timeout`.
    pub async fn status(&self, id: u64, timeout: Duration) -> Result<GetStatusResponse> {
        let endpoint = crate::tls::endpoint(self.addr(id))?;
        let call = async {
            let mut c = AdminClient::new(endpoint.connect().await?);
            anyhow::Ok(c.get_status(GetStatusRequest {}).await?.into_inner())
        };
        tokio::time::timeout(timeout, call).await?
    }

    /// The node that says it leads with the highest term, among running, unpaused nodes.
    pub async fn leader(&self) -> Option<u64> {
        self.leader_status().await.map(|(id, _)| id)
    }

    /// Like [`Cluster::leader`], with the status that leader answered.
    pub async fn leader_status(&self) -> Option<(u64, GetStatusResponse)> {
        let mut best: Option<(u64, GetStatusResponse)> = None;
        for id in self.ids() {
            if !self.is_up(id) || self.is_paused(id) {
                continue;
            }
            let Ok(s) = self.status(id, Duration::from_millis(500)).await else {
                continue;
            };
            if s.state == ServerState::Leader as i32
                && best.as_ref().is_none_or(|(_, b)| s.term > b.term)
            {
                best = Some((id, s));
            }
        }
        best
    }

    /// Waits until every running, unpaused node answers and names the same leader, and that
    /// leader says it leads.
    pub async fn wait_healthy(&self, timeout: Duration) -> Result<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.agreed_leader().await {
                return Ok(l);
            }
            if Instant::now() > deadline {
                bail!("cluster not healthy after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn agreed_leader(&self) -> Option<u64> {
        let mut leader = None;
        for id in self.ids() {
            if !self.is_up(id) || self.is_paused(id) {
                continue;
            }
            let s = self.status(id, Duration::from_millis(500)).await.ok()?;
            let named = s.leader_id?;
            if leader.is_some_and(|l| l != named) {
                return None;
            }
            leader = Some(named);
        }
        let l = leader?;
        let s = self.status(l, Duration::from_millis(500)).await.ok()?;
        (s.state == ServerState::Leader as i32).then_some(l)
    }

    /// SIGCONT every paused node, then SIGTERM every node and wait up to `grace` for each to
    /// exit; SIGKILL the rest. Then unmount every faultfs cleanly.
    pub fn stop_all(&mut self, grace: Duration) {
        for id in self.ids() {
            let _ = self.resume(id);
            let _ = self.signal(id, Signal::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        for n in self.nodes.values_mut() {
            let Some(mut child) = n.child.take() else {
                continue;
            };
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.unmount_all();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in self.nodes.values_mut() {
            if let Some(mut child) = n.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        self.unmount_all();
    }
}
