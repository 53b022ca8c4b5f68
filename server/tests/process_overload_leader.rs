//! A 3-node cluster of `tally` processes whose leader is flooded with one-transfer writes far
//! beyond what it can apply: the leader keeps its leadership (no election, the same term on
//! every node), its status and linearizable reads keep answering, and the excess is refused as
//! overload (`RESOURCE_EXHAUSTED`, not applied). A small queue-delay budget makes the excess
//! certain on any machine. The figures (requests taken and refused, the slowest status and
//! read) are printed; the properties are asserted.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::process::*;
use common::*;
use tally_proto::v1;
use tokio::task::JoinSet;
use tonic::Code;

/// How long the flood lasts.
const FLOOD: Duration = Duration::from_secs(8);
/// Connections the flood opens to the leader, and requests each keeps outstanding.
const CONNECTIONS: usize = 16;
const PER_CONNECTION: usize = 64;

/// Sends one-transfer requests on `client`, one after another, until `stop`; counts what was
/// taken and what was refused. Ids are `base + n`.
async fn flood(
    mut client: tally_proto::v1::ledger_client::LedgerClient<tonic::transport::Channel>,
    base: u128,
    stop: Arc<AtomicBool>,
    taken: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    other: Arc<AtomicU64>,
) {
    let mut n = 0u128;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let r = client
            .create_transfers(v1::CreateTransfersRequest {
                transfers: vec![transfer(base + n, 1, 2, 1)],
            })
            .await;
        match r {
            Ok(_) => taken.fetch_add(1, Ordering::Relaxed),
            Err(s)
                if s.code() == Code::ResourceExhausted
                    && s.metadata().get("tally-not-applied").is_some() =>
            {
                refused.fetch_add(1, Ordering::Relaxed)
            }
            // Under a refusal flood a connection can also end (a transport error, a closed
            // connection, HTTP/2's own ENHANCE_YOUR_CALM without the node's metadata); counted
            // and printed, not a failure of what is tested here (leadership).
            Err(e) => {
                if other.load(Ordering::Relaxed) == 0 {
                    eprintln!("FLOOD: first failure other than a refusal: {e:?}");
                }
                other.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooded_leader_keeps_its_leadership_and_answers_reads_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    let addrs = local_addrs(&ports);
    // A 2 ms queue-delay budget makes the leader refuse part of the flood however fast the
    // machine is, so the test always meets overload, not merely a busy node.
    let _procs: Vec<Proc> = (1..=3)
        .map(|id| {
            let mut args = cluster_args(id, &ports, dir.path());
            args.push("--max-queue-delay-ms=2".into());
            Proc::start(&args, dir.path(), &[])
        })
        .collect();
    let l = find_leader(&addrs, None).await;
    let leader = addrs[l];
    ledger(leader)
        .await
        .create_accounts(v1::CreateAccountsRequest {
            accounts: vec![account(1, 0), account(2, 0)],
        })
        .await
        .unwrap();
    let terms_before: Vec<u64> = {
        let mut t = Vec::new();
        for a in &addrs {
            t.push(status(*a).await.expect("every node answers").term);
        }
        t
    };

    let stop = Arc::new(AtomicBool::new(false));
    let (taken, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let other = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for c in 0..CONNECTIONS {
        let client = ledger(leader).await;
        for k in 0..PER_CONNECTION {
            let base = 1_000_000_000 * (c * PER_CONNECTION + k + 1) as u128;
            tasks.spawn(flood(
                client.clone(),
                base,
                stop.clone(),
                taken.clone(),
                refused.clone(),
                other.clone(),
            ));
        }
    }

    // While the flood runs: the leader's status and a linearizable read, every 100 ms, each
    // on its own connection with a deadline far beyond an election timeout.
    let started = Instant::now();
    let (mut slowest_status, mut slowest_read, mut probes) = (Duration::ZERO, Duration::ZERO, 0);
    let mut reader = ledger(leader).await;
    while started.elapsed() < FLOOD {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let t0 = Instant::now();
        let s = tokio::time::timeout(Duration::from_secs(3), status(leader))
            .await
            .ok()
            .flatten()
            .expect("the flooded leader answers its status");
        slowest_status = slowest_status.max(t0.elapsed());
        assert_eq!(s.state, v1::ServerState::Leader as i32, "still the leader");
        let t0 = Instant::now();
        let r = tokio::time::timeout(
            Duration::from_secs(3),
            reader.lookup_accounts(v1::LookupAccountsRequest {
                ids: vec![v1::U128::new(1)],
                ..Default::default()
            }),
        )
        .await
        .expect("a linearizable read answers during the flood")
        .expect("the read succeeds");
        assert_eq!(r.into_inner().accounts.len(), 1);
        slowest_read = slowest_read.max(t0.elapsed());
        probes += 1;
    }
    stop.store(true, Ordering::Relaxed);
    while let Some(r) = tasks.join_next().await {
        r.expect("flood task");
    }
    let (taken, refused) = (
        taken.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
    );
    eprintln!(
        "FLOOD: {taken} requests taken, {refused} refused, {} transport errors in {FLOOD:?}; \
         {probes} probes, slowest status {slowest_status:?}, slowest linearizable read \
         {slowest_read:?}",
        other.load(Ordering::Relaxed)
    );
    assert!(
        refused > 0,
        "the flood went beyond what the leader could take"
    );

    for (i, a) in addrs.iter().enumerate() {
        let s = status(*a)
            .await
            .expect("every node answers after the flood");
        assert_eq!(
            s.term,
            terms_before[i],
            "node {} saw an election during the flood",
            i + 1
        );
    }
    assert_eq!(find_leader(&addrs, None).await, l, "the same leader");
}
