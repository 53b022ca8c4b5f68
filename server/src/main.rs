//! `tally`: run a node (`start`), look at a cluster (`status`), or try a local 3-node cluster
//! (`dev-cluster`).

mod cli;

use std::path::PathBuf;
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tally_proto::v1::{self, MemberRole, ServerState};
use tally_server::config::{ConfigError, StartArgs, DEFAULT_LISTEN};
use tally_server::identity;
use tally_server::Node;
use tokio::signal::unix::{signal, SignalKind};

/// mimalloc instead of glibc malloc: see the workspace Cargo.toml.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Tally: a distributed double-entry ledger database.
#[derive(Debug, Parser)]
#[command(name = "tally", version = version(), about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run a node. With no flags: a single-node cluster on 127.0.0.1:7100, data in
    /// ./tally-data/node-1.
    Start(Box<StartArgs>),
    /// Print each node's view of the cluster.
    Status(StatusArgs),
    /// Run a local cluster of N nodes on loopback, as child processes, until Ctrl-C.
    DevCluster(DevArgs),
    /// Load a cluster and print what it accepted and how fast it answered. With no flags:
    /// a temporary single-node cluster, 10,000 accounts, 1,000,000 transfers in batches of
    /// 8,189.
    Benchmark(Box<tally_benches::load::BenchArgs>),
    /// Create and look up accounts.
    #[command(subcommand)]
    Account(cli::AccountCmd),
    /// Create, post, void and look up transfers.
    #[command(subcommand)]
    Transfer(cli::TransferCmd),
    /// An account's balance history (accounts with the history flag).
    Balances(cli::HistoryArgs),
    /// An account's transfers.
    Transfers(cli::HistoryArgs),
    /// Change the cluster: add a learner, set the voters, move leadership, snapshot.
    #[command(subcommand)]
    Admin(AdminCmd),
    /// Make a development CA, node and client certificates, or a cluster secret.
    #[command(subcommand)]
    Certs(cli::CertsCmd),
    /// Print the release, the storage format version and the commit (as --version does).
    Version,
}

/// What `tally --version` prints after the name: the release, the version of the storage
/// format it reads and writes (a data dir of another format is refused at start), and the
/// commit it was built from (`build.rs`).
fn version() -> &'static str {
    static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "{} (storage format {}, commit {})",
            env!("CARGO_PKG_VERSION"),
            tally_ledger::keys::FORMAT_VERSION,
            env!("TALLY_COMMIT")
        )
    });
    &VERSION
}

#[derive(Debug, Subcommand)]
enum AdminCmd {
    /// Add a node (started with --join) as a learner; returns once it has caught up.
    AddLearner {
        #[command(flatten)]
        to: AdminTo,
        /// The new node's id.
        #[arg(long)]
        node_id: u64,
        /// The new node's host:port.
        #[arg(long)]
        address: String,
    },
    /// Make exactly these nodes the voters (joint consensus takes the cluster there safely).
    ChangeMembership {
        #[command(flatten)]
        to: AdminTo,
        /// The complete new set of voter ids, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        voters: Vec<u64>,
        /// Keep removed voters as learners.
        #[arg(long)]
        retain: bool,
    },
    /// Hand leadership to a caught-up voter.
    TransferLeader {
        #[command(flatten)]
        to: AdminTo,
        /// The voter to lead.
        #[arg(long)]
        node_id: u64,
    },
    /// Build a snapshot on the answering node now.
    Snapshot {
        #[command(flatten)]
        to: AdminTo,
    },
}

#[derive(Debug, clap::Args)]
struct AdminTo {
    /// Nodes of the cluster, comma-separated host:port. Membership and leadership commands go
    /// to the leader (found through the others); `snapshot` runs on the first node that answers.
    #[arg(long, env = "TALLY_ADDRESSES", value_delimiter = ',', default_value = DEFAULT_LISTEN)]
    addresses: Vec<String>,
    #[command(flatten)]
    tls: cli::TlsArgs,
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// Nodes to ask, comma-separated host:port.
    #[arg(long, env = "TALLY_ADDRESSES", value_delimiter = ',', default_value = DEFAULT_LISTEN)]
    addresses: Vec<String>,
    /// Print JSON lines (one per node) instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    tls: cli::TlsArgs,
}

#[derive(Debug, clap::Args)]
struct DevArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Node i listens on 127.0.0.1:(base_port + i).
    #[arg(long, default_value_t = 7100)]
    base_port: u16,
    /// Parent of the nodes' data dirs (node-1, node-2, ...); reused across runs.
    #[arg(long, default_value = "tally-dev")]
    data_dir: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tally: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let r = rt.block_on(async {
        match cli.cmd {
            Cmd::Start(a) => start(*a).await,
            Cmd::Status(a) => status(a).await,
            Cmd::DevCluster(a) => dev_cluster(a).await,
            Cmd::Admin(a) => admin(a).await,
            Cmd::Benchmark(a) => benchmark(*a).await,
            Cmd::Account(c) => c.run().await,
            Cmd::Transfer(c) => c.run().await,
            Cmd::Balances(a) => cli::history(a, true).await,
            Cmd::Transfers(a) => cli::history(a, false).await,
            Cmd::Certs(c) => c.run(),
            Cmd::Version => print_version(),
        }
    });
    flush_out();
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tally: {e:#}");
            // A configuration error is a usage error, as clap's own are.
            if e.downcast_ref::<ConfigError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Waits for SIGINT or SIGTERM.
async fn stop_signal() -> Result<&'static str> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

async fn start(args: StartArgs) -> Result<()> {
    let config = args.resolve()?;
    tally_server::logging::init(&config.log).map_err(ConfigError)?;
    if config.unsafe_skip_log_fsync {
        tracing::warn!(
            "--unsafe-skip-log-fsync: log appends are acknowledged without an fsync; a power \
             loss can lose acknowledged writes (a test mode, never for real data)"
        );
    }
    let node = Node::start(&config).await?;
    let id = node.identity();
    tracing::info!(
        node_id = id.node_id,
        cluster_id = %format_args!("{:032x}", id.cluster_id),
        "node {} of cluster {:032x} serving on {} (data: {}{})",
        id.node_id,
        id.cluster_id,
        node.addr(),
        config.data_dir.display(),
        if config.tls.is_some() { ", TLS" } else { "" }
    );
    if config.tls.is_none() && config.cluster_secret.is_none() {
        tracing::warn!(
            "no TLS and no cluster secret: anyone who reaches {} can speak Raft to this node; \
             keep the port private (docs/operating.md, 'TLS')",
            node.addr()
        );
    }
    // A node whose Raft has failed (its disk is full, an fsync failed) can neither write nor
    // vote: exit non-zero with the cause, so a supervisor sees it and peers elect without it.
    let mut hup = signal(SignalKind::hangup())?;
    let stop = stop_signal();
    tokio::pin!(stop);
    let why = loop {
        tokio::select! {
            sig = &mut stop => {
                tracing::info!("{}: shutting down", sig?);
                node.shutdown().await?;
                tracing::info!("stopped");
                return Ok(());
            }
            _ = hup.recv() => match node.reload_tls() {
                Ok(true) => tracing::info!("SIGHUP: TLS files reloaded"),
                Ok(false) => tracing::info!("SIGHUP: no TLS configured, nothing to reload"),
                Err(e) => tracing::warn!(
                    "SIGHUP: TLS files do not load, keeping the current ones: {e}"
                ),
            },
            why = node.failure() => break why,
        }
    };
    let _ = node.halt().await;
    bail!(
        "node stopped: Raft failed: {why}. Fix the cause (e.g. free disk space), then start \
         the node again: it replays its log"
    )
}

/// Appends a line to the process's output buffer (see [`flush_out`]).
macro_rules! out {
    ($($t:tt)*) => {{
        use std::fmt::Write as _;
        let mut o = OUT.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(o, $($t)*);
    }};
}

static OUT: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Writes the buffered output; a closed pipe (`tally status | head`) is not an error.
fn flush_out() {
    use std::io::Write as _;
    let text = std::mem::take(&mut *OUT.lock().unwrap_or_else(|p| p.into_inner()));
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn print_version() -> Result<()> {
    out!("tally {}", version());
    Ok(())
}

async fn benchmark(args: tally_benches::load::BenchArgs) -> Result<()> {
    let exe = std::env::current_exe().context("locate the tally binary")?;
    tally_benches::load::run(args, exe).await
}

async fn status(args: StatusArgs) -> Result<()> {
    let mut answered = 0;
    if !args.json {
        out!(
            "{:<6} {:<22} {:<10} {:<7} {:<6} {:>10} {:>10} {:>10} {:>9}",
            "node",
            "address",
            "state",
            "leader",
            "term",
            "last log",
            "commit",
            "applied",
            "contact"
        );
    }
    let mut members = None;
    let tls = args.tls.options()?;
    for addr in &args.addresses {
        match get_status(addr, tls.as_ref()).await {
            Ok(s) => {
                answered += 1;
                if args.json {
                    out!("{}", status_json(addr, &s));
                } else {
                    print_status_row(addr, &s);
                }
                if members.is_none() || s.state == ServerState::Leader as i32 {
                    members = Some(s);
                }
            }
            Err(e) if args.json => out!(
                "{}",
                serde_json::json!({ "address": addr, "error": format!("{e:#}") })
            ),
            Err(e) => out!("{:<6} {addr:<22} unreachable: {e:#}", "-"),
        }
    }
    if let (Some(s), false) = (members, args.json) {
        print_members(&s);
    }
    if answered == 0 {
        bail!("no node answered");
    }
    Ok(())
}

/// Runs an admin command on the leader: tries each address, following leader hints.
async fn admin(cmd: AdminCmd) -> Result<()> {
    let (to, tls) = match &cmd {
        AdminCmd::AddLearner { to, .. }
        | AdminCmd::ChangeMembership { to, .. }
        | AdminCmd::TransferLeader { to, .. }
        | AdminCmd::Snapshot { to } => (to.addresses.clone(), to.tls.options()?),
    };
    let mut queue: Vec<String> = to.into_iter().rev().collect();
    let mut last = anyhow::anyhow!("no address given");
    let mut hops = 0;
    while let Some(addr) = queue.pop() {
        hops += 1;
        if hops > 10 {
            break;
        }
        let connect = Duration::from_secs(2);
        let timeout = Duration::from_secs(60);
        let mut c =
            match tally_client::admin_client_with(&addr, connect, timeout, tls.as_ref()).await {
                Ok(c) => c,
                Err(e) => {
                    last = e.into();
                    continue;
                }
            };
        let r = match &cmd {
            AdminCmd::AddLearner {
                node_id, address, ..
            } => c
                .add_learner(v1::AddLearnerRequest {
                    node_id: *node_id,
                    address: address.clone(),
                })
                .await
                .map(|r| print_member_list(&r.into_inner().members)),
            AdminCmd::ChangeMembership { voters, retain, .. } => c
                .change_membership(v1::ChangeMembershipRequest {
                    voter_ids: voters.clone(),
                    retain_removed_as_learners: *retain,
                })
                .await
                .map(|r| print_member_list(&r.into_inner().members)),
            AdminCmd::TransferLeader { node_id, .. } => c
                .transfer_leader(v1::TransferLeaderRequest { node_id: *node_id })
                .await
                .map(|_| out!("leadership transfer to node {node_id} started")),
            AdminCmd::Snapshot { .. } => c
                .trigger_snapshot(v1::TriggerSnapshotRequest {})
                .await
                .map(|_| out!("snapshot started on {addr}")),
        };
        match r {
            Ok(()) => return Ok(()),
            Err(e) if e.code() == tonic::Code::Unavailable => {
                if let Some(l) = e
                    .metadata()
                    .get("tally-leader-addr")
                    .and_then(|v| v.to_str().ok())
                {
                    queue.push(l.to_string());
                }
                last = anyhow::anyhow!("{addr}: {}", e.message());
            }
            Err(e) => bail!("{addr}: {:?}: {}", e.code(), e.message()),
        }
    }
    Err(last)
}

fn print_member_list(members: &[v1::Member]) {
    out!("members:");
    for m in members {
        let role = if m.role == MemberRole::Voter as i32 {
            "voter"
        } else {
            "learner"
        };
        out!("  {:<4} {:<22} {role}", m.id, m.address);
    }
}

async fn get_status(
    addr: &str,
    tls: Option<&tally_client::TlsOptions>,
) -> Result<v1::GetStatusResponse> {
    Ok(tally_client::node_status_with(addr, Duration::from_secs(2), tls).await?)
}

fn state_name(s: i32) -> &'static str {
    match ServerState::try_from(s) {
        Ok(ServerState::Leader) => "leader",
        Ok(ServerState::Follower) => "follower",
        Ok(ServerState::Candidate) => "candidate",
        Ok(ServerState::Learner) => "learner",
        Ok(ServerState::Shutdown) => "shutdown",
        _ => "unknown",
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

/// How long ago a node last had word of a working leader, for the status table.
fn contact(ms: Option<u64>) -> String {
    match ms {
        None => "-".into(),
        Some(ms) if ms < 10_000 => format!("{ms}ms"),
        Some(ms) => format!("{}s", ms / 1000),
    }
}

fn print_status_row(addr: &str, s: &v1::GetStatusResponse) {
    out!(
        "{:<6} {addr:<22} {:<10} {:<7} {:<6} {:>10} {:>10} {:>10} {:>9}",
        s.node_id,
        state_name(s.state),
        opt(s.leader_id),
        s.term,
        opt(s.last_log_index),
        opt(s.commit_index),
        opt(s.applied_index),
        contact(s.leader_contact_ms)
    );
}

fn print_members(s: &v1::GetStatusResponse) {
    out!("\nmembers (as node {} sees them):", s.node_id);
    for m in &s.members {
        let role = if m.role == MemberRole::Voter as i32 {
            "voter"
        } else {
            "learner"
        };
        let lag = s
            .replication
            .iter()
            .find(|r| r.node_id == m.id)
            .map(|r| format!("  lag {} entries", r.lag))
            .unwrap_or_default();
        out!("  {:<4} {:<22} {role}{lag}", m.id, m.address);
    }
}

fn status_json(addr: &str, s: &v1::GetStatusResponse) -> serde_json::Value {
    serde_json::json!({
        "address": addr,
        "node_id": s.node_id,
        "state": state_name(s.state),
        "leader_id": s.leader_id,
        "term": s.term,
        "last_log_index": s.last_log_index,
        "commit_index": s.commit_index,
        "applied_index": s.applied_index,
        "leader_contact_ms": s.leader_contact_ms,
        "members": s.members.iter().map(|m| serde_json::json!({
            "id": m.id,
            "address": m.address,
            "voter": m.role == MemberRole::Voter as i32,
        })).collect::<Vec<_>>(),
        "replication": s.replication.iter().map(|r| serde_json::json!({
            "node_id": r.node_id,
            "matched_index": r.matched_index,
            "lag": r.lag,
        })).collect::<Vec<_>>(),
    })
}

async fn dev_cluster(args: DevArgs) -> Result<()> {
    if !(1..=9).contains(&args.nodes) {
        bail!("--nodes must be between 1 and 9");
    }
    let cluster_id = dev_cluster_id(&args)?;
    let peers: Vec<String> = (1..=args.nodes)
        .map(|i| format!("{i}=127.0.0.1:{}", u64::from(args.base_port) + i))
        .collect();
    let exe = std::env::current_exe().context("locate the tally binary")?;
    let mut children: Vec<Child> = Vec::new();
    for i in 1..=args.nodes {
        let child = Command::new(&exe)
            .arg("start")
            .args(["--node-id", &i.to_string()])
            .args(["--cluster-id", &format!("0x{cluster_id:032x}")])
            .args(["--peers", &peers.join(",")])
            .arg("--data-dir")
            .arg(args.data_dir.join(format!("node-{i}")))
            .spawn();
        match child {
            Ok(c) => children.push(c),
            Err(e) => {
                stop_children(&mut children);
                bail!("start node {i}: {e}");
            }
        }
    }
    let addrs: Vec<&str> = peers
        .iter()
        .filter_map(|p| p.split_once('='))
        .map(|p| p.1)
        .collect();
    eprintln!(
        "tally dev-cluster: {} nodes, cluster {cluster_id:032x}, addresses {}\n\
         try: tally status --addresses {}",
        args.nodes,
        addrs.join(","),
        addrs.join(",")
    );
    let sig = stop_signal().await?;
    eprintln!("tally dev-cluster: {sig}: stopping the nodes");
    stop_children(&mut children);
    Ok(())
}

/// The dev cluster's id: the one node 1's data dir already holds, or a new random one.
fn dev_cluster_id(args: &DevArgs) -> Result<u128> {
    let dir = args.data_dir.join("node-1");
    if dir.join(identity::FILE).exists() {
        let (id, _) = identity::check_or_create(&dir, 1, None, false)?;
        return Ok(id.cluster_id);
    }
    Ok(fastrand::u128(1..))
}

/// SIGTERM to every child, then up to 10 s for them to exit, then SIGKILL.
fn stop_children(children: &mut [Child]) {
    for c in children.iter() {
        if let Ok(pid) = i32::try_from(c.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
    let until = Instant::now() + Duration::from_secs(10);
    for c in children.iter_mut() {
        while Instant::now() < until {
            if let Ok(Some(_)) = c.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Ok(None) = c.try_wait() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
