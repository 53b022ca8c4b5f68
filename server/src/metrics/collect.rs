//! Tally's figures at scrape time: the request path's [`Metrics`], Raft's state, the stores'
//! counters, RocksDB's properties, admission control and the data directory's file system.
//! Names are given without the `tally_` prefix, which the registry adds.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use tally_raft::stats::HistogramSnapshot;
use tally_raft::{RaftNode, RocksFigures, Role};

use super::encode::{counter, counters, gauge, gauges, histograms};
use super::{Metrics, Rpc, CODES, RPC_COUNT};
use crate::admission::{Admission, ReadLimit};
use crate::health::{self, ReadyRule};

/// Nanoseconds to seconds.
const NS: f64 = 1e-9;

/// Collects a node's figures at scrape time.
#[derive(Debug)]
pub struct NodeCollector {
    /// The node.
    pub raft: Arc<RaftNode>,
    /// Its request-path figures.
    pub metrics: Arc<Metrics>,
    /// Its write admission.
    pub admission: Admission,
    /// Its read limit.
    pub reads: ReadLimit,
    /// Its readiness rule (`/readyz`).
    pub ready: ReadyRule,
    /// Its data directory, whose file system's free space is reported.
    pub data_dir: PathBuf,
}

/// The roles reported by `tally_raft_role`, as labels.
const ROLES: [(Role, &str); 5] = [
    (Role::Leader, "leader"),
    (Role::Follower, "follower"),
    (Role::Candidate, "candidate"),
    (Role::Learner, "learner"),
    (Role::Shutdown, "shutdown"),
];

impl Collector for NodeCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        gauges(
            &mut enc,
            "build_info",
            "Always 1; the version of the running tally binary is in the label.",
            &[([("version", env!("CARGO_PKG_VERSION"))], 1u64)],
        )?;
        self.requests(&mut enc)?;
        self.raft(&mut enc)?;
        self.stores(&mut enc)?;
        self.rocks(&mut enc)?;
        self.admission(&mut enc)?;
        self.disk(&mut enc)
    }
}

impl NodeCollector {
    fn requests(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        let m = &self.metrics;
        let mut by_code = Vec::new();
        for (rpc, codes) in m.requests.iter().enumerate() {
            let label = Rpc(rpc).label();
            for (code, n) in codes.iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                // Every RPC shows an OK series from the start, so rates are defined at once.
                if n > 0 || code == 0 {
                    by_code.push(([("rpc", label), ("code", CODES[code])], n));
                }
            }
        }
        counters(
            enc,
            "requests",
            "gRPC requests answered, by RPC and gRPC status code; includes writes refused from \
             their headers alone (RESOURCE_EXHAUSTED) and requests whose message was refused \
             before a handler ran.",
            &by_code,
        )?;
        let latency: Vec<_> = (0..RPC_COUNT)
            .map(|i| ([("rpc", Rpc(i).label())], m.latency[i].snapshot()))
            .collect();
        histograms(
            enc,
            "request_duration_seconds",
            "Time from a request's headers to its response's, by RPC.",
            NS,
            &latency,
        )?;
        let events: Vec<_> = [Rpc::CREATE_ACCOUNTS, Rpc::CREATE_TRANSFERS]
            .iter()
            .map(|r| ([("rpc", r.label())], m.events[r.0].snapshot()))
            .collect();
        histograms(
            enc,
            "request_events",
            "Events per write request (CreateAccounts, CreateTransfers) that passed its checks.",
            1.0,
            &events,
        )?;
        one_histogram(
            enc,
            "coalesce_batch_events",
            "Events per Raft entry the coalescer proposed (write requests merged into one entry).",
            1.0,
            m.batch_events.snapshot(),
        )?;
        one_histogram(
            enc,
            "coalesce_batch_requests",
            "Write requests per Raft entry the coalescer proposed.",
            1.0,
            m.batch_requests.snapshot(),
        )
    }

    fn raft(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        let s = self.raft.status();
        gauge(enc, "raft_term", "The node's current Raft term.", s.term)?;
        let roles: Vec<_> = ROLES
            .iter()
            .map(|(r, l)| ([("role", *l)], u64::from(s.role == *r)))
            .collect();
        gauges(
            enc,
            "raft_role",
            "1 for the node's current Raft role, 0 for the others.",
            &roles,
        )?;
        gauge(
            enc,
            "raft_has_leader",
            "1 if the node knows a leader, else 0.",
            u64::from(s.leader.is_some()),
        )?;
        gauge(
            enc,
            "raft_leader_id",
            "Node id of the leader this node knows of; 0 if none.",
            s.leader.unwrap_or(0),
        )?;
        let ready = health::readiness(&s, self.ready).is_ok();
        gauge(
            enc,
            "ready",
            "1 if the node is ready (/readyz answers 200), else 0.",
            u64::from(ready),
        )?;
        if let Some(age) = s.leader_contact {
            gauge(
                enc,
                "raft_leader_contact_age_seconds",
                "Seconds since the node last had word of a working leader (a leader: since a \
                 quorum acknowledged it). Absent until the first contact.",
                age.as_secs_f64(),
            )?;
        }
        let index = |i: Option<u64>| i.unwrap_or(0);
        for (name, help, v) in [
            (
                "raft_last_log_index",
                "Index of the last entry in the node's Raft log.",
                s.last_log_index,
            ),
            (
                "raft_commit_index",
                "Highest log index the node knows to be committed.",
                s.commit_index,
            ),
            (
                "raft_applied_index",
                "Highest log index applied to the node's state.",
                s.applied_index,
            ),
            (
                "raft_snapshot_index",
                "Last log index covered by the node's current snapshot.",
                s.snapshot_index,
            ),
            (
                "raft_purged_index",
                "Last log index purged from the node's log.",
                s.purged_index,
            ),
        ] {
            gauge(enc, name, help, index(v))?;
        }
        let voters = s.members.iter().filter(|m| m.voter).count() as u64;
        let learners = s.members.len() as u64 - voters;
        gauges(
            enc,
            "raft_members",
            "Members of the cluster in the node's latest membership, by kind.",
            &[
                ([("kind", "voter")], voters),
                ([("kind", "learner")], learners),
            ],
        )?;
        let last = index(s.last_log_index);
        let peers: Vec<(String, Option<u64>)> = s
            .replication
            .iter()
            .map(|(id, m)| (id.to_string(), *m))
            .collect();
        let lag: Vec<_> = peers
            .iter()
            .map(|(id, m)| ([("peer", id.as_str())], last.saturating_sub(m.unwrap_or(0))))
            .collect();
        gauges(
            enc,
            "raft_replication_lag_entries",
            "On the leader: entries of the leader's log each other member has not matched yet.",
            &lag,
        )?;
        let matched: Vec<_> = peers
            .iter()
            .map(|(id, m)| ([("peer", id.as_str())], m.unwrap_or(0)))
            .collect();
        gauges(
            enc,
            "raft_replication_matched_index",
            "On the leader: the highest log index each other member has matched.",
            &matched,
        )
    }

    fn stores(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        let st = self.raft.stats();
        let (log, sm) = (&st.log, &st.state_machine);
        one_histogram(
            enc,
            "raft_log_fsync_duration_seconds",
            "Duration of each group-commit fsync of the Raft log's WAL (one per group of appends).",
            NS,
            log.fsync.snapshot(),
        )?;
        counter(
            enc,
            "raft_log_fsync_failures",
            "Raft log fsyncs that failed; after one the node refuses every append and stops.",
            log.fsync_failures.get(),
        )?;
        one_histogram(
            enc,
            "raft_apply_duration_seconds",
            "Time to apply one Raft entry to the ledger (its command and staging its write, \
             after the previous entry's write landed).",
            NS,
            sm.apply.snapshot(),
        )?;
        counter(
            enc,
            "raft_snapshot_builds",
            "Snapshots this node built.",
            sm.snapshot_builds.get(),
        )?;
        counter(
            enc,
            "raft_snapshot_build_failures",
            "Snapshot builds that failed.",
            sm.snapshot_build_failures.get(),
        )?;
        one_histogram(
            enc,
            "raft_snapshot_build_duration_seconds",
            "Duration of each snapshot build (flush, checkpoint, checksums, fsyncs).",
            NS,
            sm.snapshot_build.snapshot(),
        )?;
        counter(
            enc,
            "raft_snapshot_installs",
            "Snapshots received from a leader and installed.",
            sm.snapshot_installs.get(),
        )?;
        counter(
            enc,
            "raft_snapshot_install_failures",
            "Snapshot installs that failed.",
            sm.snapshot_install_failures.get(),
        )?;
        counter(
            enc,
            "raft_membership_changes",
            "Membership entries this node applied since it started (each step of a \
             membership change: a learner added, the joint and final configurations).",
            sm.membership_changes.get(),
        )
    }

    fn rocks(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        let figs = self.raft.rocks_figures();
        let per_cf = |f: fn(&RocksFigures) -> u64| -> Vec<_> {
            figs.iter()
                .map(|r| ([("db", r.db), ("cf", r.cf)], f(r)))
                .collect()
        };
        gauges(
            enc,
            "rocksdb_memtable_bytes",
            "Bytes in a column family's memtables, active and immutable.",
            &per_cf(|r| r.memtable_bytes),
        )?;
        gauges(
            enc,
            "rocksdb_pending_compaction_bytes",
            "Estimated bytes compaction has to rewrite to bring a column family's levels \
             within their targets.",
            &per_cf(|r| r.pending_compaction_bytes),
        )?;
        gauges(
            enc,
            "rocksdb_sst_bytes",
            "Bytes of a column family's SST files on disk (with those kept only by snapshots).",
            &per_cf(|r| r.sst_bytes),
        )?;
        gauges(
            enc,
            "rocksdb_live_sst_bytes",
            "Bytes of the SST files in a column family's current version.",
            &per_cf(|r| r.live_sst_bytes),
        )?;
        gauges(
            enc,
            "rocksdb_blob_bytes",
            "Bytes of a column family's blob files (the Raft log keeps entry bodies there).",
            &per_cf(|r| r.blob_bytes),
        )?;
        gauges(
            enc,
            "rocksdb_l0_files",
            "Files in a column family's level 0; RocksDB slows writes when they pile up.",
            &per_cf(|r| r.l0_files),
        )?;
        // Stalls are per database: one sample per `db`.
        let mut dbs: Vec<&RocksFigures> = Vec::new();
        for r in &figs {
            if !dbs.iter().any(|d| d.db == r.db) {
                dbs.push(r);
            }
        }
        let stopped: Vec<_> = dbs
            .iter()
            .map(|r| ([("db", r.db)], u64::from(r.write_stopped)))
            .collect();
        gauges(
            enc,
            "rocksdb_write_stopped",
            "1 while RocksDB stops writes to the database (a write stall), else 0.",
            &stopped,
        )?;
        let delayed: Vec<_> = dbs
            .iter()
            .map(|r| ([("db", r.db)], r.delayed_write_rate))
            .collect();
        gauges(
            enc,
            "rocksdb_delayed_write_rate_bytes",
            "Bytes per second RocksDB holds writes to while it delays them; 0 when writes are \
             not delayed.",
            &delayed,
        )
    }

    fn admission(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        let a = self.admission.stats(&self.reads);
        gauge(
            enc,
            "admission_pending_events",
            "Write events admitted and not yet answered.",
            a.pending_events,
        )?;
        gauge(
            enc,
            "admission_queue_delay_seconds",
            "Estimated wait of a write arriving now before its entry starts.",
            a.queue_delay_us as f64 * 1e-6,
        )?;
        counter(
            enc,
            "admission_refused",
            "Write requests refused as overload (RESOURCE_EXHAUSTED), from their headers or \
             when admitted.",
            a.refused,
        )?;
        counter(
            enc,
            "admission_abandoned",
            "Write requests dropped unproposed because their caller left (deadline passed or \
             cancelled).",
            a.abandoned,
        )?;
        counter(
            enc,
            "reads_refused",
            "Read requests refused by the read limit (RESOURCE_EXHAUSTED).",
            a.reads_refused,
        )
    }

    fn disk(&self, enc: &mut DescriptorEncoder) -> fmt::Result {
        let Ok(fs) = nix::sys::statvfs::statvfs(&self.data_dir) else {
            return Ok(());
        };
        let block = fs.fragment_size();
        gauge(
            enc,
            "data_dir_fs_size_bytes",
            "Size of the file system holding the node's data directory.",
            fs.blocks().saturating_mul(block),
        )?;
        gauge(
            enc,
            "data_dir_fs_free_bytes",
            "Bytes of the data directory's file system available to the node.",
            fs.blocks_available().saturating_mul(block),
        )
    }
}

/// A histogram without labels.
fn one_histogram(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    scale: f64,
    h: HistogramSnapshot,
) -> fmt::Result {
    histograms(enc, name, help, scale, &[([("", ""); 0], h)])
}
