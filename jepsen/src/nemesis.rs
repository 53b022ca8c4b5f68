//! The nemesis: injects one fault at a time, holds it, heals it, lets the cluster recover, and
//! again, until the run ends. Every fault and heal is recorded in the history (process 0).
//!
//! Families (`--nemesis`):
//! - `kill`: SIGKILL a random node, the leader, a majority, or every node; heal restarts them.
//! - `pause`: SIGSTOP a random node or the leader; heal sends SIGCONT.
//! - `partition`: cut the leader off from everyone, or split the nodes into a random majority and
//!   minority, or a bridge (two halves that only the middle node joins), or a ring (5 nodes: each
//!   node hears only its two neighbours), or make the leader deaf: its requests reach the others but no answer or request
//!   reaches it (a one-way partition); heal passes every link again.
//! - `clock`: restart a random node with `--clock-offset-ms` of +-0.5..3 s; heal restarts it at 0.
//! - `degrade`: make every link of a random node slow (delay) or lossy; heal passes them.
//! - `membership`: remove a voter (the leader or a random node) through the Admin service;
//!   heal adds it back as a learner, waits for it to catch up and promotes it to voter.
//! - `overload`: a burst of load from extra clients ([`BURST_WRITERS`] one-transfer writers and
//!   [`BURST_READERS`] linearizable readers, back to back), alongside the normal workload, for
//!   the length of a fault; half the time (when other families are chosen) together with one
//!   fault of another family. Their operations are recorded like any client's. Heal stops the
//!   burst and waits for its operations to end.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::client::Client;
use crate::cluster::Cluster;
use crate::history::{Recorder, Type, Value, F, NEMESIS};
use crate::proxy::Mode;
use crate::workload::{BurstCounts, Shape, Worker};

/// A family of faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    /// Process crashes.
    Kill,
    /// Process pauses.
    Pause,
    /// Network partitions.
    Partition,
    /// Leader clock offsets.
    Clock,
    /// Slow or lossy links.
    Degrade,
    /// Remove a voter; heal adds it back as a learner and promotes it.
    Membership,
    /// A burst of load from extra clients.
    Overload,
    /// Power cuts: unsynced writes are lost.
    PowerLoss,
}

impl Family {
    /// Every family.
    pub const ALL: [Family; 8] = [
        Family::Kill,
        Family::Pause,
        Family::Partition,
        Family::Clock,
        Family::Degrade,
        Family::Membership,
        Family::Overload,
        Family::PowerLoss,
    ];

    /// Parses `all` or a comma-separated list of family names.
    pub fn parse_list(s: &str) -> Result<Vec<Family>> {
        let mut out = Vec::new();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "all" => out.extend(Family::ALL),
                "none" => {}
                "kill" => out.push(Family::Kill),
                "pause" => out.push(Family::Pause),
                "partition" => out.push(Family::Partition),
                "clock" => out.push(Family::Clock),
                "degrade" => out.push(Family::Degrade),
                "membership" => out.push(Family::Membership),
                "overload" => out.push(Family::Overload),
                "power-loss" => out.push(Family::PowerLoss),
                other => bail!(
                    "unknown nemesis {other:?} (kill, pause, partition, clock, degrade, \
                     membership, overload, power-loss, all, none)"
                ),
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// How long faults last and how long the cluster gets to recover between them.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Fault held for a random time in this range (ms).
    pub fault_ms: (u64, u64),
    /// Quiet (healed) time between faults, in this range (ms).
    pub quiet_ms: (u64, u64),
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            fault_ms: (3_000, 6_000),
            quiet_ms: (2_000, 4_000),
        }
    }
}

/// Extra one-transfer writers in one overload burst.
pub const BURST_WRITERS: u64 = 96;
/// Extra linearizable readers of the bank balances in one overload burst.
pub const BURST_READERS: u64 = 8;
/// Clients (each with one connection per node) the processes of a burst share.
const BURST_CONNECTIONS: u64 = 8;
/// How long one attempt of a burst client may take.
const BURST_TIMEOUT: Duration = Duration::from_millis(1_500);

/// What the overload nemesis needs to start extra clients.
#[derive(Debug, Clone)]
pub struct Load {
    /// The nodes' client addresses.
    pub addrs: Vec<SocketAddr>,
    /// The run's source of unique transfer ids.
    pub ids: Arc<AtomicU64>,
    /// The run's accounts.
    pub shape: Shape,
    /// The first process id no other client uses; bursts number theirs from here on.
    pub first_process: u64,
}

/// A running burst.
struct Burst {
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<BurstCounts>>,
}

impl Load {
    /// Starts the clients of one burst as processes `first..`; they stop at `until` at the latest.
    fn start_burst(
        &self,
        history: &Recorder,
        first: u64,
        seed: u64,
        until: Instant,
    ) -> Result<Burst> {
        let clients = (0..BURST_CONNECTIONS)
            .map(|_| Client::new(self.addrs.clone(), BURST_TIMEOUT))
            .collect::<Result<Vec<_>>>()?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for i in 0..BURST_WRITERS + BURST_READERS {
            let worker = Worker {
                process: first + i,
                client: clients[(i % BURST_CONNECTIONS) as usize].clone(),
                history: history.clone(),
                ids: self.ids.clone(),
                shape: self.shape,
                until,
                seed: seed.wrapping_mul(1_000_003).wrapping_add(i),
            };
            tasks.push(tokio::spawn(
                worker.run_burst(i >= BURST_WRITERS, stop.clone()),
            ));
        }
        Ok(Burst { stop, tasks })
    }
}

/// Stops a burst, waits for its operations to end, and records what it did.
async fn stop_burst(burst: Burst, history: &Recorder) {
    burst.stop.store(true, Ordering::Relaxed);
    let mut total = BurstCounts::default();
    for task in burst.tasks {
        if let Ok(counts) = task.await {
            total += counts;
        }
    }
    let value = Value::Fault {
        kind: "heal".into(),
        detail: format!(
            "overload stopped: transfers ok {}, refused or failed {}, unknown {}; {} reads",
            total.ok, total.fail, total.info, total.reads
        ),
    };
    history.record(NEMESIS, Type::Info, F::Nemesis, value, None);
}

/// Runs the nemesis until `until`, then returns with every fault healed (links passed, nodes
/// resumed and restarted, clocks reset, bursts stopped). Returns how many faults of each kind it
/// injected. `load` is what the overload family's extra clients need.
pub async fn run(
    cluster: Arc<Mutex<Cluster>>,
    families: Vec<Family>,
    schedule: Schedule,
    history: Recorder,
    seed: u64,
    until: Instant,
    load: Load,
) -> BTreeMap<String, u64> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut counts = BTreeMap::new();
    let mut next_process = load.first_process;
    while !families.is_empty() && Instant::now() < until {
        sleep_until(rng.u64(schedule.quiet_ms.0..=schedule.quiet_ms.1), until).await;
        if Instant::now() >= until {
            break;
        }
        let family = families[rng.usize(..families.len())];
        let mut chosen = vec![family];
        let others: Vec<Family> = families
            .iter()
            .copied()
            .filter(|&f| f != Family::Overload)
            .collect();
        if family == Family::Overload && !others.is_empty() && rng.bool() {
            // Overload during another fault: refusals and leader changes at once.
            chosen.push(others[rng.usize(..others.len())]);
        }
        let mut burst = None;
        for family in chosen {
            let (kind, detail) = if family == Family::Overload {
                match load.start_burst(&history, next_process, rng.u64(..), until) {
                    Ok(b) => {
                        burst = Some(b);
                        let detail = format!(
                            "{BURST_WRITERS} writers and {BURST_READERS} readers as processes \
                             {next_process}..{}",
                            next_process + BURST_WRITERS + BURST_READERS - 1
                        );
                        next_process += BURST_WRITERS + BURST_READERS;
                        ("overload".to_string(), detail)
                    }
                    Err(e) => ("error".to_string(), e.to_string()),
                }
            } else {
                let mut c = cluster.lock().await;
                match inject(&mut c, family, &mut rng).await {
                    Ok(f) => f,
                    Err(e) => ("error".to_string(), e.to_string()),
                }
            };
            let value = Value::Fault {
                kind: kind.clone(),
                detail,
            };
            history.record(NEMESIS, Type::Info, F::Nemesis, value, None);
            *counts.entry(kind).or_insert(0) += 1;
        }
        sleep_until(rng.u64(schedule.fault_ms.0..=schedule.fault_ms.1), until).await;
        if let Some(burst) = burst {
            stop_burst(burst, &history).await;
        }
        heal(&cluster, &history).await;
    }
    heal(&cluster, &history).await;
    counts
}

async fn sleep_until(ms: u64, until: Instant) {
    let wake = (Instant::now() + Duration::from_millis(ms)).min(until);
    tokio::time::sleep_until(wake.into()).await;
}

/// The kind of the history event that reports a node found dead that the nemesis did not kill.
pub const CRASHED: &str = "crashed";

/// Records nodes that died by themselves (with their log), then undoes every fault (restarting
/// those nodes too) and records it.
pub async fn heal(cluster: &Mutex<Cluster>, history: &Recorder) {
    let mut c = cluster.lock().await;
    for (id, status) in c.crashed() {
        let detail = format!(
            "n{id} exited by itself ({status}); see {}",
            c.log_path(id).display()
        );
        let value = Value::Fault {
            kind: CRASHED.into(),
            detail,
        };
        history.record(NEMESIS, Type::Info, F::Nemesis, value, None);
    }
    let mut done = Vec::new();
    if !c.faulty_links().is_empty() {
        c.heal_links();
        done.push("links".to_string());
    }
    for id in c.ids() {
        if c.is_paused(id) && c.resume(id).is_ok() {
            done.push(format!("resume n{id}"));
        }
        if c.clock_offset(id) != 0 && c.restart_with_clock_offset(id, 0).is_ok() {
            done.push(format!("clock n{id}"));
        }
        if !c.is_up(id) && c.restart(id).is_ok() {
            done.push(format!("restart n{id}"));
        }
    }
    // Last, with every node running and every link passing: a removed voter comes back as a
    // learner and is promoted (a no-op, one status call, when the membership is whole).
    match crate::membership::restore(&c).await {
        Ok(Some(what)) => done.push(format!("membership: {what}")),
        Ok(None) => {}
        Err(e) => {
            let value = Value::Fault {
                kind: "membership-stuck".into(),
                detail: e.to_string(),
            };
            history.record(NEMESIS, Type::Info, F::Nemesis, value, None);
        }
    }
    if !done.is_empty() {
        let value = Value::Fault {
            kind: "heal".into(),
            detail: done.join(", "),
        };
        history.record(NEMESIS, Type::Info, F::Nemesis, value, None);
    }
}

/// Injects one fault of `family`; returns its kind and what it hit.
async fn inject(
    c: &mut Cluster,
    family: Family,
    rng: &mut fastrand::Rng,
) -> Result<(String, String)> {
    let ids = c.ids();
    let random = ids[rng.usize(..ids.len())];
    let leader = c.leader().await.unwrap_or(random);
    let (kind, detail) = match (family, rng.u8(0..10)) {
        (Family::Kill, 0) => {
            for &id in &ids {
                c.kill(id)?;
            }
            ("kill-all", format!("{ids:?}"))
        }
        (Family::Kill, 1) => {
            // A majority at once: the cluster cannot commit until heal restarts them.
            let mut shuffled = ids.clone();
            rng.shuffle(&mut shuffled);
            let majority = &shuffled[..ids.len() / 2 + 1];
            for &id in majority {
                c.kill(id)?;
            }
            ("kill-majority", format!("{majority:?}"))
        }
        (Family::Kill, 2..=4) => {
            c.kill(leader)?;
            ("kill-leader", format!("n{leader}"))
        }
        (Family::Kill, _) => {
            c.kill(random)?;
            ("kill-random", format!("n{random}"))
        }
        (Family::Pause, 0..=4) => {
            c.pause(leader)?;
            ("pause-leader", format!("n{leader}"))
        }
        (Family::Pause, _) => {
            c.pause(random)?;
            ("pause-random", format!("n{random}"))
        }
        (Family::Partition, 0..=2) => {
            c.partition(&[leader]);
            ("partition-leader", format!("n{leader} | rest"))
        }
        (Family::Partition, 3) => {
            let mut order = ids.clone();
            rng.shuffle(&mut order);
            cut_links(c, bridge_cuts(&order));
            (
                "partition-bridge",
                format!("{order:?}, the middle node bridges"),
            )
        }
        (Family::Partition, 4) if ids.len() >= 5 => {
            let mut order = ids.clone();
            rng.shuffle(&mut order);
            cut_links(c, ring_cuts(&order));
            (
                "partition-ring",
                format!("{order:?}, each node hears its ring neighbours"),
            )
        }
        (Family::Partition, 4..=5) => {
            for &id in ids.iter().filter(|&&i| i != leader) {
                c.set_link(id, leader, Mode::Cut);
                c.set_link(leader, id, Mode::DropReplies);
            }
            let detail = format!("n{leader} is heard but hears nothing");
            ("partition-leader-deaf", detail)
        }
        (Family::Partition, _) => {
            let mut shuffled = ids.clone();
            rng.shuffle(&mut shuffled);
            let minority = &shuffled[..ids.len() / 2];
            c.partition(minority);
            ("partition-halves", format!("{minority:?} | rest"))
        }
        (Family::Clock, _) => {
            let ms = i64::try_from(rng.u64(500..=3_000))? * if rng.bool() { 1 } else { -1 };
            c.restart_with_clock_offset(random, ms)?;
            ("clock", format!("n{random} {ms:+} ms"))
        }
        (Family::Membership, r) => {
            // Half the time the leader itself, which steps down once it is removed.
            let victim = if r < 5 { leader } else { random };
            crate::membership::remove_voter(c, victim).await?;
            (
                "membership-remove",
                format!("n{victim} removed from the voters"),
            )
        }
        (Family::Overload, _) => bail!("an overload burst is started by the nemesis loop"),
        (Family::PowerLoss, r) => {
            let victims = match r {
                0..=1 => ids.clone(),
                2..=4 => {
                    let mut shuffled = ids.clone();
                    rng.shuffle(&mut shuffled);
                    shuffled.truncate(ids.len() / 2 + 1);
                    shuffled.sort_unstable();
                    shuffled
                }
                5..=7 => vec![leader],
                _ => vec![random],
            };
            let kind = match victims.len() {
                1 => "power-loss-one",
                n if n == ids.len() => "power-loss-all",
                _ => "power-loss-majority",
            };
            let cuts = c.power_loss(&victims)?;
            (kind, cuts.join("; "))
        }
        (Family::Degrade, _) => {
            let mode = if rng.bool() {
                Mode::Delay(rng.u64(20..=150))
            } else {
                Mode::Lossy(0.2)
            };
            for &id in ids.iter().filter(|&&i| i != random) {
                c.set_link(random, id, mode);
                c.set_link(id, random, mode);
            }
            ("degrade", format!("n{random} links {mode:?}"))
        }
    };
    Ok((kind.to_string(), detail))
}

/// The directed links a bridge cuts: the nodes before the middle node of `order` and the nodes
/// after it form two halves that cannot talk, and the middle node talks to both (with 5 nodes
/// each half plus the bridge is a majority; neither half alone is).
fn bridge_cuts(order: &[u64]) -> Vec<(u64, u64)> {
    let mid = order.len() / 2;
    let side = |i: usize| i.cmp(&mid);
    cuts(order, |i, j| i != mid && j != mid && side(i) != side(j))
}

/// The directed links a ring cuts: each node of `order` talks only to its two neighbours, so
/// with 5 nodes every node sees 3 of 5 but no two non-adjacent nodes can talk.
fn ring_cuts(order: &[u64]) -> Vec<(u64, u64)> {
    let n = order.len();
    cuts(order, |i, j| {
        let d = i.abs_diff(j);
        d != 1 && d != n - 1
    })
}

fn cuts(order: &[u64], cut: impl Fn(usize, usize) -> bool) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for (i, &a) in order.iter().enumerate() {
        for (j, &b) in order.iter().enumerate() {
            if i != j && cut(i, j) {
                out.push((a, b));
            }
        }
    }
    out
}

fn cut_links(c: &Cluster, links: Vec<(u64, u64)>) {
    for (a, b) in links {
        c.set_link(a, b, Mode::Cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_parse() {
        assert_eq!(Family::parse_list("all").unwrap(), Family::ALL.to_vec());
        assert_eq!(
            Family::parse_list("partition,kill,kill").unwrap(),
            vec![Family::Kill, Family::Partition]
        );
        assert_eq!(Family::parse_list("none").unwrap(), vec![]);
        assert_eq!(
            Family::parse_list("overload,kill").unwrap(),
            vec![Family::Kill, Family::Overload]
        );
        assert!(Family::ALL.contains(&Family::Overload));
        assert!(Family::parse_list("meteor").is_err());
        assert!(Family::ALL.contains(&Family::PowerLoss));
        assert_eq!(
            Family::parse_list("power-loss").unwrap(),
            vec![Family::PowerLoss]
        );
    }

    /// A burst against nodes that refuse every connection: each of its operations is recorded
    /// as an invocation and a `fail` under the burst's own processes, and heal reports them.
    #[tokio::test]
    async fn a_burst_records_its_operations_and_stops_on_heal() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let load = Load {
            addrs: vec![addr],
            ids: Arc::new(AtomicU64::new(5_000_000)),
            shape: Shape {
                bank_accounts: 3,
                idem_accounts: 4,
            },
            first_process: 7,
        };
        let history = Recorder::new();
        let until = Instant::now() + Duration::from_secs(30);
        let burst = load.start_burst(&history, 7, 1, until).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop_burst(burst, &history).await;

        let ops = history.snapshot();
        let last = ops.last().unwrap();
        let Value::Fault { kind, detail } = &last.value else {
            panic!("heal is recorded last: {last:?}")
        };
        assert_eq!(kind, "heal");
        assert!(detail.starts_with("overload stopped"), "{detail}");
        let procs = 7..7 + BURST_WRITERS + BURST_READERS;
        let clients: Vec<_> = ops.iter().filter(|o| o.process != NEMESIS).collect();
        assert!(clients.iter().all(|o| procs.contains(&o.process)));
        let invokes = clients.iter().filter(|o| o.kind == Type::Invoke).count();
        let fails = clients.iter().filter(|o| o.kind == Type::Fail).count();
        assert!(invokes as u64 >= BURST_WRITERS + BURST_READERS, "{invokes}");
        assert_eq!(invokes, fails, "every refused operation ends as fail");
        let transfers = clients
            .iter()
            .filter(|o| o.kind == Type::Invoke && o.f == F::Transfer)
            .count() as u64;
        assert!(
            detail.contains(&format!("refused or failed {transfers},")),
            "{detail}"
        );
    }

    fn peers(cuts: &[(u64, u64)], ids: &[u64], node: u64) -> Vec<u64> {
        ids.iter()
            .copied()
            .filter(|&o| o != node && !cuts.contains(&(node, o)) && !cuts.contains(&(o, node)))
            .collect()
    }

    #[test]
    fn bridge_joins_two_halves_through_the_middle_node() {
        let order = [4, 2, 5, 1, 3];
        let cuts = bridge_cuts(&order);
        assert_eq!(
            peers(&cuts, &order, 5),
            vec![4, 2, 1, 3],
            "the bridge hears everyone"
        );
        assert_eq!(peers(&cuts, &order, 4), vec![2, 5]);
        assert_eq!(peers(&cuts, &order, 1), vec![5, 3]);
        assert_eq!(cuts.len(), 8, "2 x 2 nodes across, both directions");
        let three = bridge_cuts(&[1, 2, 3]);
        assert_eq!(
            three,
            vec![(1, 3), (3, 1)],
            "3 nodes: only the ends are cut"
        );
    }

    #[test]
    fn ring_leaves_each_node_its_two_neighbours() {
        let order = [3, 1, 4, 5, 2];
        let cuts = ring_cuts(&order);
        assert_eq!(peers(&cuts, &order, 3), vec![1, 2]);
        assert_eq!(peers(&cuts, &order, 4), vec![1, 5]);
        assert_eq!(peers(&cuts, &order, 2), vec![3, 5]);
        assert_eq!(
            cuts.len(),
            10,
            "5 x 2 non-neighbours, each direction counted once per node"
        );
    }
}
