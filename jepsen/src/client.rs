//! A thin client over the raw generated `LedgerClient` that reports each operation's outcome as
//! Jepsen needs it: [`Outcome::Ok`], [`Outcome::Fail`] (certainly not applied) or
//! [`Outcome::Info`] (may have applied).
//!
//! Why not `tally-client`: the SDK resends a timed-out write with the same ids until its own
//! deadline, which is right for applications but hides the attempt's outcome and turns a lost
//! race into `Exists`. The harness wants to see indeterminate outcomes and decide itself whether
//! to retry (the idempotency workload does, later, on purpose). So this wrapper retries only
//! what certainly did not reach a log: a connection that could not be opened, `RESOURCE_EXHAUSTED`,
//! and `UNAVAILABLE` marked `tally-not-applied: true` (the server also answers `UNAVAILABLE`
//! with a leader hint when leadership changed after the proposal, which may still commit, so a
//! leader hint alone does not prove "not applied"). Everything else on a write is `Info`.
//! A read has no effect, so a read that gets no answer is `Fail`. An overloaded node's
//! `RESOURCE_EXHAUSTED` is retried at the same node after the wait it names
//! (`tally-retry-after-ms`) plus jitter, so a crowd refused together does not return together.

use std::net::SocketAddr;
use std::time::Duration;

use tally_proto::v1::ledger_client::LedgerClient;
use tally_proto::v1::{
    self, CreateAccountsRequest, CreateTransfersRequest, LookupAccountsRequest,
    LookupTransfersRequest, ReadConsistency,
};
use tally_proto::{u128_from_wire, u128_to_wire};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::history::{Balance, Xfer};

/// How one operation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    /// It happened; here is the answer.
    Ok(T),
    /// It certainly did not happen.
    Fail(String),
    /// It may or may not have happened.
    Info(String),
}

/// What one failed attempt proves.
#[derive(Debug)]
enum Verdict {
    /// Not applied; try this address next (or the next node if `None`).
    Retry(Option<SocketAddr>, Duration),
    /// Not applied: the node is overloaded; try it again after at least this wait.
    Again(Duration),
    /// Stop: the outcome is this.
    Done(bool, String),
}

/// A client of the whole cluster with a guess of the leader.
#[derive(Debug, Clone)]
pub struct Client {
    nodes: Vec<SocketAddr>,
    channels: Vec<LedgerClient<Channel>>,
    target: usize,
    timeout: Duration,
    /// The deliberately broken mode (`--broken stale-reads`): "linearizable" account reads are
    /// sent as stale reads to a random node. Only for showing that the checkers catch it.
    stale_reads: bool,
}

impl Client {
    /// A client of `nodes`; `timeout` bounds each attempt.
    pub fn new(nodes: Vec<SocketAddr>, timeout: Duration) -> anyhow::Result<Client> {
        let channels = nodes
            .iter()
            .map(|a| {
                let ep = crate::tls::endpoint(a)?
                    .connect_timeout(Duration::from_millis(500))
                    .timeout(timeout);
                Ok(LedgerClient::new(ep.connect_lazy()))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Client {
            target: fastrand::usize(..nodes.len()),
            nodes,
            channels,
            timeout,
            stale_reads: false,
        })
    }

    /// This client with its account reads broken on purpose (see [`crate::run::Broken`]).
    pub fn with_stale_reads(mut self) -> Client {
        self.stale_reads = true;
        self
    }

    /// Sends the transfers as one request; `Ok` holds one result code per transfer.
    pub async fn create_transfers(&mut self, ts: &[v1::Transfer]) -> Outcome<Vec<u32>> {
        let req = CreateTransfersRequest {
            transfers: ts.to_vec(),
        };
        self.call(true, |mut c| {
            let req = req.clone();
            async move { c.create_transfers(req).await }
        })
        .await
        .map(|r| r.results.iter().map(|&c| c as u32).collect())
    }

    /// Creates accounts; `Ok` holds one result code per account.
    pub async fn create_accounts(&mut self, accounts: &[v1::Account]) -> Outcome<Vec<u32>> {
        let req = CreateAccountsRequest {
            accounts: accounts.to_vec(),
        };
        self.call(true, |mut c| {
            let req = req.clone();
            async move { c.create_accounts(req).await }
        })
        .await
        .map(|r| r.results.iter().map(|&c| c as u32).collect())
    }

    /// Linearizable lookup of accounts (from the leader).
    pub async fn lookup_accounts(&mut self, ids: &[u128]) -> Outcome<Vec<v1::Account>> {
        if self.stale_reads {
            let node = self.nodes[fastrand::usize(..self.nodes.len())];
            return match self.lookup_accounts_stale(node, ids).await {
                Ok(accounts) => Outcome::Ok(accounts),
                Err(e) => Outcome::Fail(format!("stale read from {node}: {e}")),
            };
        }
        let req = lookup_accounts_req(ids, ReadConsistency::Linearizable);
        self.call(false, |mut c| {
            let req = req.clone();
            async move { c.lookup_accounts(req).await }
        })
        .await
        .map(|r| r.accounts)
    }

    /// Linearizable lookup of transfers; ids that name none are left out.
    pub async fn lookup_transfers(&mut self, ids: &[u128]) -> Outcome<Vec<v1::Transfer>> {
        let req = LookupTransfersRequest {
            ids: ids.iter().map(|&i| v1::U128::new(i)).collect(),
            consistency: ReadConsistency::Linearizable as i32,
        };
        self.call(false, |mut c| {
            let req = req.clone();
            async move { c.lookup_transfers(req).await }
        })
        .await
        .map(|r| r.transfers)
    }

    /// A stale read of accounts from one node, whatever it has applied.
    pub async fn lookup_accounts_stale(
        &self,
        node: SocketAddr,
        ids: &[u128],
    ) -> anyhow::Result<Vec<v1::Account>> {
        let i = self
            .nodes
            .iter()
            .position(|&a| a == node)
            .ok_or_else(|| anyhow::anyhow!("unknown node {node}"))?;
        let mut c = self.channels[i].clone();
        let req = lookup_accounts_req(ids, ReadConsistency::Stale);
        let r = tokio::time::timeout(self.timeout, c.lookup_accounts(req)).await??;
        Ok(r.into_inner().accounts)
    }

    /// Runs one operation: attempts while they certainly did not apply, at most a few times.
    async fn call<T, Fut>(
        &mut self,
        write: bool,
        mut send: impl FnMut(LedgerClient<Channel>) -> Fut,
    ) -> Outcome<T>
    where
        Fut: std::future::Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let mut last = String::new();
        // Attempts that certainly did not apply are retried for up to one attempt timeout,
        // backing off: after a leader dies, followers keep naming it until they elect another.
        let give_up = tokio::time::Instant::now() + self.timeout;
        for attempt in 1u64.. {
            if attempt > 1 && tokio::time::Instant::now() > give_up {
                break;
            }
            let c = self.channels[self.target].clone();
            let status = match tokio::time::timeout(self.timeout, send(c)).await {
                Ok(Ok(r)) => return Outcome::Ok(r.into_inner()),
                Ok(Err(s)) => s,
                Err(_) => Status::deadline_exceeded("client-side attempt timeout"),
            };
            match judge(&status, write) {
                Verdict::Done(true, m) => return Outcome::Info(m),
                Verdict::Done(false, m) => return Outcome::Fail(m),
                Verdict::Retry(next, wait) => {
                    last = format!("{:?}: {}", status.code(), status.message());
                    self.target = next
                        .and_then(|a| self.nodes.iter().position(|&n| n == a))
                        .unwrap_or((self.target + 1) % self.nodes.len());
                    let backoff = Duration::from_millis((10 * attempt).min(200));
                    tokio::time::sleep(wait.max(backoff)).await;
                }
                Verdict::Again(wait) => {
                    last = format!("{:?}: {}", status.code(), status.message());
                    tokio::time::sleep(with_jitter(wait)).await;
                }
            }
        }
        Outcome::Fail(format!("gave up: {last}"))
    }
}

fn lookup_accounts_req(ids: &[u128], c: ReadConsistency) -> LookupAccountsRequest {
    LookupAccountsRequest {
        ids: ids.iter().map(|&i| v1::U128::new(i)).collect(),
        consistency: c as i32,
    }
}

/// Classifies a failed attempt; see the module docs.
fn judge(status: &Status, write: bool) -> Verdict {
    let meta = |k: &str| {
        status
            .metadata()
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let msg = format!("{:?}: {}", status.code(), status.message());
    let not_sent = never_connected(status);
    match status.code() {
        Code::Unavailable if not_sent => Verdict::Retry(None, Duration::from_millis(20)),
        // The server marks refusals that prove the write never reached the log.
        Code::Unavailable if meta("tally-not-applied").as_deref() == Some("true") => {
            let hint = meta("tally-leader-addr").and_then(|a| a.parse().ok());
            let wait = meta("tally-retry-after-ms")
                .and_then(|m| m.parse().ok())
                .map_or(
                    Duration::from_millis(if hint.is_some() { 0 } else { 100 }),
                    |ms: u64| Duration::from_millis(ms.min(500)),
                );
            Verdict::Retry(hint, wait)
        }
        // Overloaded: nothing was applied. Wait as asked (at most 1 s; 50 ms without a hint).
        Code::ResourceExhausted => Verdict::Again(Duration::from_millis(
            meta("tally-retry-after-ms")
                .and_then(|m| m.trim().parse().ok())
                .map_or(50, |ms: u64| ms.min(1_000)),
        )),
        Code::InvalidArgument => Verdict::Done(false, msg),
        _ => Verdict::Done(write, msg),
    }
}

/// `wait` plus up to as much again, drawn at random.
fn with_jitter(wait: Duration) -> Duration {
    let micros = u64::try_from(wait.as_micros()).unwrap_or(u64::MAX);
    wait + Duration::from_micros(fastrand::u64(0..=micros))
}

/// `true` if the status comes from a connection that could not be opened (nothing was sent).
fn never_connected(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        if e.is::<tonic::transport::Error>() && e.to_string().contains("connect") {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
        }
        source = e.source();
    }
    false
}

impl<T> Outcome<T> {
    /// Maps the `Ok` value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        match self {
            Outcome::Ok(t) => Outcome::Ok(f(t)),
            Outcome::Fail(m) => Outcome::Fail(m),
            Outcome::Info(m) => Outcome::Info(m),
        }
    }
}

/// The wire transfer for a recorded [`Xfer`] (code 1).
pub fn to_wire(x: &Xfer) -> v1::Transfer {
    v1::Transfer {
        id: u128_to_wire(x.id),
        debit_account_id: u128_to_wire(x.debit),
        credit_account_id: u128_to_wire(x.credit),
        amount: u128_to_wire(x.amount),
        pending_id: u128_to_wire(x.pending_id),
        timeout: x.timeout,
        ledger: x.ledger,
        code: 1,
        flags: x.flags,
        ..Default::default()
    }
}

/// The core's transfer for a wire transfer (for the model replay).
pub fn to_core_transfer(t: &v1::Transfer) -> tally_ledger::Transfer {
    tally_ledger::Transfer {
        id: u128_from_wire(t.id),
        debit_account_id: u128_from_wire(t.debit_account_id),
        credit_account_id: u128_from_wire(t.credit_account_id),
        amount: u128_from_wire(t.amount),
        pending_id: u128_from_wire(t.pending_id),
        user_data_128: u128_from_wire(t.user_data_128),
        user_data_64: t.user_data_64,
        user_data_32: t.user_data_32,
        timeout: t.timeout,
        ledger: t.ledger,
        code: u16::try_from(t.code).unwrap_or(u16::MAX),
        flags: u16::try_from(t.flags).unwrap_or(u16::MAX),
        timestamp: t.timestamp,
    }
}

/// The four balances of a wire account.
pub fn balance(a: &v1::Account) -> Balance {
    Balance {
        id: u128_from_wire(a.id),
        debits_pending: u128_from_wire(a.debits_pending),
        debits_posted: u128_from_wire(a.debits_posted),
        credits_pending: u128_from_wire(a.credits_pending),
        credits_posted: u128_from_wire(a.credits_posted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_not_the_leader_and_refused_connections_are_retried() {
        let mut s = Status::unavailable("not the leader (leader: node 2 at 127.0.0.1:9)");
        s.metadata_mut()
            .insert("tally-leader-addr", "127.0.0.1:9".parse().unwrap());
        // A hint without the not-applied mark proves nothing.
        assert!(matches!(judge(&s, true), Verdict::Done(true, _)));
        s.metadata_mut()
            .insert("tally-not-applied", "true".parse().unwrap());
        assert!(matches!(judge(&s, true), Verdict::Retry(Some(a), _) if a.port() == 9));
        let mut lost = Status::unavailable("leadership changed after the command was proposed");
        lost.metadata_mut()
            .insert("tally-leader-addr", "127.0.0.1:9".parse().unwrap());
        assert!(matches!(judge(&lost, true), Verdict::Done(true, _)));
        assert!(matches!(judge(&lost, false), Verdict::Done(false, _)));
        let dl = Status::deadline_exceeded("x");
        assert!(matches!(judge(&dl, true), Verdict::Done(true, _)));
        assert!(matches!(
            judge(&Status::resource_exhausted("x"), true),
            Verdict::Again(w) if w == Duration::from_millis(50)
        ));
    }

    #[test]
    fn an_overloaded_node_is_retried_after_the_wait_it_names() {
        let mut busy = Status::resource_exhausted("overloaded");
        busy.metadata_mut()
            .insert("tally-retry-after-ms", "120".parse().unwrap());
        busy.metadata_mut()
            .insert("tally-not-applied", "true".parse().unwrap());
        let Verdict::Again(wait) = judge(&busy, true) else {
            panic!("an overload refusal is retried at the same node")
        };
        assert_eq!(wait, Duration::from_millis(120));
        for _ in 0..100 {
            let w = with_jitter(wait);
            assert!(w >= wait && w <= 2 * wait, "{w:?}");
        }
        // A hint beyond a second is capped: the harness's attempts last 1.5 s.
        busy.metadata_mut()
            .insert("tally-retry-after-ms", "60000".parse().unwrap());
        assert!(matches!(judge(&busy, true), Verdict::Again(w) if w == Duration::from_secs(1)));
    }

    #[tokio::test]
    async fn a_dead_node_is_a_certain_failure_for_writes() {
        // Nothing listens on this port: every attempt is refused, so nothing was applied.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut c = Client::new(vec![port], Duration::from_millis(500)).unwrap();
        let t = to_wire(&Xfer::new(1, 1, 2, 1, 0, 1));
        match c.create_transfers(&[t]).await {
            Outcome::Fail(m) => assert!(m.contains("gave up"), "{m}"),
            other => panic!("expected a certain failure, got {other:?}"),
        }
    }
}
