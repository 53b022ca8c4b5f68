//! Request coalescing: concurrent write requests are merged into one Raft entry, up to the
//! batch limit, and each caller gets its own slice of the results back.
//!
//! One task owns the queue. It waits for a free proposal slot (at most
//! [`CoalesceOptions::max_in_flight`] entries are proposed and not yet applied), then takes
//! every request queued behind the first one that fits in the same entry: same kind (accounts
//! or transfers), at most [`BATCH_MAX`] events in all. With nothing in flight a request is
//! proposed alone at once; under load the requests that queue while the slots are busy become
//! one entry. So the batch size follows the load, with no timer.
//!
//! Imported and live events never share an entry: the ledger decides whether a batch is
//! imported from its first event, so a request merged behind one of the other kind would fail
//! every event.
//!
//! A request whose last event has the `linked` flag ends its entry: merging anything after it
//! would extend its open chain into another caller's events. Proposed last, it gets exactly the
//! outcome it would get alone (`linked_event_chain_open` for the open chain).
//!
//! Admission is decided before a request is queued ([`crate::admission`]): a request that
//! would wait longer than the node's queue-delay budget, or than its own deadline, or that
//! finds the event cap reached, is refused at once with `RESOURCE_EXHAUSTED` and never
//! waits. A request holds its events' [`Ticket`] from admission until it is answered, so
//! memory stays bounded.
//!
//! Work for callers that left is never done: when the task takes a request from the queue it
//! drops it unproposed if its caller has gone (the handler's future was dropped: the client
//! cancelled or its deadline fired) or its deadline has passed (even if the handler has not
//! yet run to notice), and counts it ([`Admission::abandoned`]). Every request is judged
//! this way when it is taken, in a quiet node or under load alike.
//!
//! Each request carries its [`RequestId`] and the time it was queued, and is answered with its
//! [`Phases`]: how long it waited for its entry, how long the entry took from proposal to the
//! start of its apply here (append, replication, commit), and how long the apply took. The
//! handler logs slow writes with them; the coalescer's own lines (`debug`) name the request id.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tally_ledger::{Account, AccountFlags, Command, Transfer, TransferFlags, BATCH_MAX};
use tally_raft::{RaftNode, Response, WireResults};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::Status;

use crate::admission::{Admission, Ticket};
use crate::grpc_error;
use crate::logging::RequestId;
use crate::metrics::Metrics;

/// Tuning of the coalescer.
#[derive(Debug, Clone)]
pub struct CoalesceOptions {
    /// Entries proposed and not yet applied at once. More overlaps the next entry's append
    /// with the previous one's replication; fewer makes bigger entries.
    pub max_in_flight: usize,
    /// How long a fresh leader's proposals are retried while it establishes its lease.
    pub lease_retry: Duration,
    /// Offset added to the leader's clock when it stamps an entry, in ms. For fault tests that
    /// make a leader's clock jump; 0 in production.
    pub clock_offset_ms: i64,
}

impl Default for CoalesceOptions {
    fn default() -> Self {
        Self {
            max_in_flight: 2,
            lease_retry: Duration::from_secs(2),
            clock_offset_ms: 0,
        }
    }
}

/// A write request's events.
#[derive(Debug, Clone)]
pub enum Events {
    /// `CreateAccounts`.
    Accounts(Vec<Account>),
    /// `CreateTransfers`.
    Transfers(Vec<Transfer>),
}

impl Events {
    fn len(&self) -> usize {
        match self {
            Self::Accounts(v) => v.len(),
            Self::Transfers(v) => v.len(),
        }
    }

    /// Whether `other` can share an entry with `self`: same operation, and the same
    /// `imported` flag on the first event, since the ledger judges every event of a batch
    /// against its first event's (bit 8 on transfers, bit 4 on accounts).
    fn same_kind(&self, other: &Self) -> bool {
        let imported = |e: &Self| match e {
            Self::Accounts(v) => v
                .first()
                .is_some_and(|a| a.flags & AccountFlags::IMPORTED.bits() != 0),
            Self::Transfers(v) => v
                .first()
                .is_some_and(|t| t.flags & TransferFlags::IMPORTED.bits() != 0),
        };
        let same_op = matches!(
            (self, other),
            (Self::Accounts(_), Self::Accounts(_)) | (Self::Transfers(_), Self::Transfers(_))
        );
        same_op && imported(self) == imported(other)
    }

    /// Whether the last event leaves a linked chain open. Bit 0 is `linked` on both records.
    fn open_chain(&self) -> bool {
        let linked = TransferFlags::LINKED.bits();
        match self {
            Self::Accounts(v) => v.last().is_some_and(|a| a.flags & linked != 0),
            Self::Transfers(v) => v.last().is_some_and(|t| t.flags & linked != 0),
        }
    }
}

/// Where a write's time went on the leader, for the slow-request log. Zero for phases it
/// never reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases {
    /// From queueing to the proposal of its entry.
    pub queued: Duration,
    /// From the proposal to the start of the entry's apply here: append, replication, commit.
    pub commit: Duration,
    /// The entry's apply.
    pub apply: Duration,
}

/// A write's answer and its phases.
type Reply = (Result<WireResults, Status>, Phases);

/// One caller's request: its events and where its results go.
struct Submit {
    events: Events,
    reply: oneshot::Sender<Reply>,
    deadline: Instant,
    id: RequestId,
    queued: Instant,
    _ticket: Ticket,
}

impl Submit {
    /// Whether nobody waits for the answer any more: the caller dropped its receiver, or the
    /// deadline passed (the handler may not have run yet to notice).
    fn abandoned(&self, now: Instant) -> bool {
        self.reply.is_closed() || now >= self.deadline
    }
}

/// The handle callers submit through; cheap to clone.
#[derive(Debug, Clone)]
pub struct Coalescer {
    tx: mpsc::UnboundedSender<Submit>,
    admission: Admission,
}

impl std::fmt::Debug for Submit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Submit({} events)", self.events.len())
    }
}

impl Coalescer {
    /// Starts the coalescing task for `node`, admitting requests through `admission` and
    /// recording each entry's size in `metrics`. It ends when every handle is dropped.
    pub fn start(
        node: Arc<RaftNode>,
        opts: CoalesceOptions,
        admission: Admission,
        metrics: Arc<Metrics>,
    ) -> (Self, JoinHandle<()>) {
        // Unbounded channel, bounded by admission: its tickets count events, not requests.
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(node, opts, admission.clone(), metrics, rx));
        (Self { tx, admission }, task)
    }

    /// The admission this coalescer's requests go through.
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Submits `events` (at most [`BATCH_MAX`]; the caller checks) and waits for their results,
    /// one wire code and timestamp per event, until `deadline`, with the request's phases.
    /// Refused at once, never waiting, when the node cannot start it within its budget or its
    /// deadline.
    pub async fn submit(&self, events: Events, deadline: Instant, id: RequestId) -> Reply {
        let n = events.len();
        if n == 0 {
            return (Ok(WireResults::default()), Phases::default());
        }
        let ticket = match self.admission.admit(n, deadline) {
            Ok(t) => t,
            Err(e) => return (Err(e), Phases::default()),
        };
        let (reply, rx) = oneshot::channel();
        let queued = Instant::now();
        let sent = self.tx.send(Submit {
            events,
            reply,
            deadline,
            id,
            queued,
            _ticket: ticket,
        });
        if sent.is_err() {
            return (Err(grpc_error::shutting_down()), Phases::default());
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => (Err(grpc_error::stopped_before_answer()), Phases::default()),
            Err(_) => {
                let waited = Phases {
                    queued: queued.elapsed(),
                    ..Phases::default()
                };
                (Err(grpc_error::deadline("write")), waited)
            }
        }
    }
}

async fn run(
    node: Arc<RaftNode>,
    opts: CoalesceOptions,
    admission: Admission,
    metrics: Arc<Metrics>,
    mut rx: mpsc::UnboundedReceiver<Submit>,
) {
    let slots = Arc::new(Semaphore::new(opts.max_in_flight.max(1)));
    let mut held: Option<Submit> = None;
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let first = match held.take() {
            Some(s) => s,
            None => match rx.recv().await {
                Some(s) => s,
                None => return,
            },
        };
        let batch = gather(first, &mut rx, &mut held, &admission);
        if batch.is_empty() {
            continue;
        }
        let events = batch.iter().map(|s| s.events.len()).sum();
        metrics.batch(batch.len(), events);
        let node = node.clone();
        let opts = opts.clone();
        let admission = admission.clone();
        tokio::spawn(async move {
            let proposed = Instant::now();
            if propose(&node, &opts, batch).await {
                admission.entry_done(events, proposed, Instant::now());
            }
            drop(slot);
        });
    }
}

/// Takes `first` and what queued behind it that fits in the same entry; the first request that
/// does not fit is left in `held`. Requests whose caller has gone or whose deadline passed are
/// dropped unproposed ([`drop_abandoned`]).
fn gather(
    first: Submit,
    rx: &mut mpsc::UnboundedReceiver<Submit>,
    held: &mut Option<Submit>,
    admission: &Admission,
) -> Vec<Submit> {
    let now = Instant::now();
    let mut events = first.events.len();
    let mut open = first.events.open_chain();
    let mut batch = Vec::new();
    if let Some(first) = drop_abandoned(first, now, admission) {
        batch.push(first);
    }
    while !open {
        let Ok(next) = rx.try_recv() else { break };
        let Some(next) = drop_abandoned(next, now, admission) else {
            continue;
        };
        let fits = batch
            .first()
            .is_none_or(|f: &Submit| f.events.same_kind(&next.events))
            && events + next.events.len() <= BATCH_MAX;
        if !fits {
            *held = Some(next);
            break;
        }
        events += next.events.len();
        open = next.events.open_chain();
        batch.push(next);
    }
    batch
}

/// `s`, unless nobody waits for it any more: then it is answered (if its caller still listens,
/// its deadline having passed) as not applied, counted, and dropped, its events freed.
fn drop_abandoned(s: Submit, now: Instant, admission: &Admission) -> Option<Submit> {
    if !s.abandoned(now) {
        return Some(s);
    }
    admission.abandoned();
    tracing::debug!(request_id = %s.id, "write dropped unproposed: its caller left or its deadline passed");
    let phases = Phases {
        queued: now.saturating_duration_since(s.queued),
        ..Phases::default()
    };
    let _ = s
        .reply
        .send((Err(grpc_error::expired_unproposed()), phases));
    None
}

/// Proposes `batch` as one entry and answers each caller with its slice of the results;
/// `true` if the entry was applied.
async fn propose(node: &RaftNode, opts: &CoalesceOptions, batch: Vec<Submit>) -> bool {
    let cmd = match &batch[0].events {
        Events::Accounts(_) => Command::CreateAccounts(
            batch
                .iter()
                .flat_map(|s| match &s.events {
                    Events::Accounts(v) => v.as_slice(),
                    Events::Transfers(_) => &[],
                })
                .copied()
                .collect(),
        ),
        Events::Transfers(_) => Command::CreateTransfers(
            batch
                .iter()
                .flat_map(|s| match &s.events {
                    Events::Transfers(v) => v.as_slice(),
                    Events::Accounts(_) => &[],
                })
                .copied()
                .collect(),
        ),
    };
    let proposed = Instant::now();
    let result = node
        .propose(leader_time_ns(opts.clock_offset_ms), &cmd, opts.lease_retry)
        .await;
    let done = Instant::now();
    let results = match result {
        Ok(Response::Accounts(r) | Response::Transfers(r)) => Ok(r),
        Ok(Response::Rejected(r)) => Err(grpc_error::rejection(&r)),
        Ok(other) => Err(Status::internal(format!("unexpected response {other:?}"))),
        Err(e) => Err(grpc_error::propose(e)),
    };
    // The apply began when the state machine stamped it; without a stamp (a failed proposal)
    // the whole wait counts as commit.
    let apply_started = match &results {
        Ok(r) => r.apply_started.map(Instant::from_std),
        Err(_) => None,
    }
    .unwrap_or(done)
    .clamp(proposed, done);
    let timing = EntryTiming {
        proposed,
        commit: apply_started - proposed,
        apply: done - apply_started,
    };
    let applied = results.is_ok();
    answer(batch, results, timing);
    applied
}

/// When an entry was proposed, and how long its commit and apply took.
#[derive(Debug, Clone, Copy)]
struct EntryTiming {
    proposed: Instant,
    commit: Duration,
    apply: Duration,
}

impl EntryTiming {
    /// The phases of `s`, one of the entry's requests.
    fn phases(&self, s: &Submit) -> Phases {
        Phases {
            queued: self.proposed.saturating_duration_since(s.queued),
            commit: self.commit,
            apply: self.apply,
        }
    }
}

/// Sends `s` its answer, and logs it (`debug`) under its request id.
fn reply(s: Submit, r: Result<WireResults, Status>, timing: &EntryTiming) {
    let phases = timing.phases(&s);
    tracing::debug!(
        request_id = %s.id,
        events = s.events.len(),
        code = ?r.as_ref().map_or_else(|e| e.code(), |_| tonic::Code::Ok),
        queued_ms = phases.queued.as_secs_f64() * 1e3,
        commit_ms = phases.commit.as_secs_f64() * 1e3,
        apply_ms = phases.apply.as_secs_f64() * 1e3,
        "write answered"
    );
    let _ = s.reply.send((r, phases));
}

fn answer(batch: Vec<Submit>, results: Result<WireResults, Status>, timing: EntryTiming) {
    match results {
        Ok(results) => {
            let total: usize = batch.iter().map(|s| s.events.len()).sum();
            let n = results.codes.len();
            if n != total || results.timestamps.len() != total {
                let e = Status::internal(format!("{n} results for {total} events"));
                tracing::error!("{n} results for an entry of {total} events");
                for s in batch {
                    reply(s, Err(e.clone()), &timing);
                }
                return;
            }
            if batch.len() == 1 {
                // The whole entry is one caller's: hand the results over without copying.
                if let Some(one) = batch.into_iter().next() {
                    reply(one, Ok(results), &timing);
                }
                return;
            }
            let mut at = 0;
            for s in batch {
                let n = s.events.len();
                let part = results.slice(at..at + n);
                reply(s, Ok(part), &timing);
                at += n;
            }
        }
        Err(e) => {
            for s in batch {
                reply(s, Err(e.clone()), &timing);
            }
        }
    }
}

/// The leader's clock in ns since the Unix epoch, plus the test offset.
pub fn leader_time_ns(offset_ms: i64) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    let offset = offset_ms.saturating_mul(1_000_000);
    if offset >= 0 {
        now.saturating_add(offset.unsigned_abs())
    } else {
        now.saturating_sub(offset.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::{AdmissionOptions, ReadLimit};

    fn admission() -> Admission {
        Admission::new(&AdmissionOptions::default())
    }

    fn submit_due(events: Events, deadline: Instant) -> (Submit, oneshot::Receiver<Reply>) {
        let (reply, rx) = oneshot::channel();
        let ticket = admission().admit(1, deadline).unwrap();
        (
            Submit {
                events,
                reply,
                deadline,
                id: RequestId::generate(),
                queued: Instant::now(),
                _ticket: ticket,
            },
            rx,
        )
    }

    fn submit(events: Events) -> (Submit, oneshot::Receiver<Reply>) {
        submit_due(events, Instant::now() + Duration::from_secs(60))
    }

    fn transfers(n: usize, linked_last: bool) -> Events {
        let mut v = vec![Transfer::default(); n];
        if linked_last {
            v[n - 1].flags = TransferFlags::LINKED.bits();
        }
        Events::Transfers(v)
    }

    #[test]
    fn gather_merges_same_kind_up_to_the_limit() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (first, _r0) = submit(transfers(3, false));
        let mut keep = Vec::new();
        for n in [4, BATCH_MAX - 7, 1] {
            let (s, r) = submit(transfers(n, false));
            keep.push(r);
            tx.send(s).unwrap();
        }
        let mut held = None;
        let batch = gather(first, &mut rx, &mut held, &admission());
        let sizes: Vec<usize> = batch.iter().map(|s| s.events.len()).collect();
        assert_eq!(sizes, vec![3, 4, BATCH_MAX - 7]);
        assert_eq!(held.map(|s| s.events.len()), Some(1));
    }

    #[test]
    fn gather_stops_at_a_kind_change_and_after_an_open_chain() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (first, _r0) = submit(transfers(2, false));
        let (a, _r1) = submit(Events::Accounts(vec![Account::default()]));
        tx.send(a).unwrap();
        let mut held = None;
        assert_eq!(gather(first, &mut rx, &mut held, &admission()).len(), 1);
        assert!(matches!(held.as_ref().unwrap().events, Events::Accounts(_)));

        let (first, _r2) = submit(transfers(2, false));
        let (open, _r3) = submit(transfers(2, true));
        let (after, _r4) = submit(transfers(1, false));
        tx.send(open).unwrap();
        tx.send(after).unwrap();
        let mut held = None;
        let batch = gather(first, &mut rx, &mut held, &admission());
        assert_eq!(batch.len(), 2, "the open chain ends the entry");
        assert!(held.is_none());
        assert_eq!(rx.try_recv().unwrap().events.len(), 1);
    }

    #[test]
    fn gather_keeps_imported_and_live_events_apart() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (first, _r0) = submit(transfers(2, false));
        let mut imported = vec![Transfer::default(); 3];
        imported[0].flags = TransferFlags::IMPORTED.bits();
        let (imp, _r1) = submit(Events::Transfers(imported));
        tx.send(imp).unwrap();
        let mut held = None;
        assert_eq!(gather(first, &mut rx, &mut held, &admission()).len(), 1);
        assert_eq!(held.map(|s| s.events.len()), Some(3));
    }

    #[test]
    fn gather_drops_requests_whose_caller_left() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (first, _r0) = submit(transfers(1, false));
        let (gone, r1) = submit(transfers(1, false));
        drop(r1);
        let (kept, _r2) = submit(transfers(5, false));
        tx.send(gone).unwrap();
        tx.send(kept).unwrap();
        let mut held = None;
        let sizes: Vec<usize> = gather(first, &mut rx, &mut held, &admission())
            .iter()
            .map(|s| s.events.len())
            .collect();
        assert_eq!(sizes, vec![1, 5]);
    }

    #[tokio::test]
    async fn gather_drops_requests_whose_deadline_passed_and_says_not_applied() {
        let a = admission();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (first, _r0) = submit(transfers(1, false));
        let past = Instant::now() - Duration::from_millis(1);
        let (late, r1) = submit_due(transfers(2, false), past);
        let (kept, _r2) = submit(transfers(3, false));
        tx.send(late).unwrap();
        tx.send(kept).unwrap();
        let mut held = None;
        let sizes: Vec<usize> = gather(first, &mut rx, &mut held, &a)
            .iter()
            .map(|s| s.events.len())
            .collect();
        assert_eq!(sizes, vec![1, 3]);
        let s = r1.await.unwrap().0.unwrap_err();
        assert_eq!(s.code(), tonic::Code::DeadlineExceeded);
        assert_eq!(s.metadata().get(grpc_error::NOT_APPLIED).unwrap(), "true");
        assert_eq!(a.stats(&ReadLimit::new(1)).abandoned, 1);
    }

    #[tokio::test]
    async fn answer_hands_each_caller_its_slice() {
        let (a, ra) = submit(transfers(2, false));
        let (b, rb) = submit(transfers(3, false));
        let results = WireResults {
            codes: vec![0, 1, 2, 3, 4],
            timestamps: vec![10, 11, 12, 13, 14],
            apply_started: None,
        };
        let timing = EntryTiming {
            proposed: Instant::now(),
            commit: Duration::from_millis(3),
            apply: Duration::from_millis(2),
        };
        answer(vec![a, b], Ok(results), timing);
        let (a, phases) = ra.await.unwrap();
        let a = a.unwrap();
        assert_eq!((a.codes, a.timestamps), (vec![0, 1], vec![10, 11]));
        assert_eq!(
            (phases.commit, phases.apply),
            (Duration::from_millis(3), Duration::from_millis(2))
        );
        let b = rb.await.unwrap().0.unwrap();
        assert_eq!((b.codes, b.timestamps), (vec![2, 3, 4], vec![12, 13, 14]));
    }

    #[test]
    fn clock_offset_moves_leader_time() {
        let base = leader_time_ns(0);
        assert!(leader_time_ns(-60_000) < base);
        assert!(leader_time_ns(60_000) > base + 59_000_000_000);
    }
}
