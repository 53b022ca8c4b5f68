//! Health for probes and load balancers: the standard gRPC health service
//! (`grpc.health.v1.Health`) on the node's address, and HTTP `/healthz` and `/readyz` on
//! `--http-addr` (alias `--metrics-addr`), where Prometheus metrics are served too
//! (`/metrics`, [`crate::metrics`]).
//!
//! - **Alive** (`/healthz`): the process answers. Restart the node if it stops answering.
//! - **Ready** (`/readyz`; gRPC health of `""` and `tally.v1.Ledger`): the node knows a leader
//!   and has heard from it recently (a leader: a quorum acknowledged it; a follower: it accepted
//!   an append or heartbeat from it) within twice the longest election timeout, and has applied
//!   its log to within `--ready-max-lag` entries of what it knows to be committed, so a request
//!   sent to it is served (by it, or by the leader it names) with data that is not far behind. A node that is catching up after a restart, stands for election,
//!   or sits in a minority partition is not ready. `tally.v1.Admin` is always `SERVING` while
//!   the process runs, so operators can reach a node that is not ready.
//!
//! No endpoint needs a credential; `/metrics` reveals the node's figures (request counts,
//! Raft state, storage sizes), never a record of the ledger. The HTTP port is meant for a
//! management network.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::registry::Registry;
use tally_raft::{NodeStatus, RaftNode, Role};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

use crate::metrics;

/// How often the gRPC health statuses are recomputed.
const REFRESH: Duration = Duration::from_millis(250);

/// The gRPC service names whose status follows readiness (`""` is the whole server).
const READY_SERVICES: [&str; 2] = ["", "tally.v1.Ledger"];
/// Served whenever the process runs.
const ADMIN_SERVICE: &str = "tally.v1.Admin";

/// What makes a node ready: see the module doc.
#[derive(Debug, Clone, Copy)]
pub struct ReadyRule {
    /// Most entries the applied index may trail the commit index by.
    pub max_lag: u64,
    /// Longest time without word of a working leader.
    pub max_silence: Duration,
}

/// Whether a node in `status` is ready by `rule`, and if not, why.
pub fn readiness(status: &NodeStatus, rule: ReadyRule) -> Result<(), String> {
    if status.role == Role::Shutdown {
        return Err("the node is shutting down".into());
    }
    if status.leader.is_none() {
        return Err("no leader known".into());
    }
    match status.leader_contact {
        None => return Err("no word from a leader yet".into()),
        Some(age) if age > rule.max_silence => {
            return Err(format!(
                "no leader heard from for {} ms (ready within {} ms)",
                age.as_millis(),
                rule.max_silence.as_millis()
            ))
        }
        Some(_) => {}
    }
    let max_lag = rule.max_lag;
    let committed = status.commit_index.unwrap_or(0);
    let applied = status.applied_index.unwrap_or(0);
    let lag = committed.saturating_sub(applied);
    if lag > max_lag {
        return Err(format!(
            "applied index {applied} is {lag} entries behind the commit index {committed} \
             (ready within {max_lag})"
        ));
    }
    Ok(())
}

/// Keeps the gRPC health statuses of `reporter` up to date with the node's readiness.
pub fn track(raft: Arc<RaftNode>, reporter: HealthReporter, rule: ReadyRule) -> JoinHandle<()> {
    tokio::spawn(async move {
        reporter
            .set_service_status(ADMIN_SERVICE, ServingStatus::Serving)
            .await;
        let mut tick = tokio::time::interval(REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let status = match readiness(&raft.status(), rule) {
                Ok(()) => ServingStatus::Serving,
                Err(_) => ServingStatus::NotServing,
            };
            for service in READY_SERVICES {
                reporter.set_service_status(service, status).await;
            }
        }
    })
}

/// Serves `/healthz`, `/readyz` and `/metrics` (the exposition of `metrics`) over HTTP/1.1 on
/// `listener` until the task is aborted.
pub fn serve_http(
    listener: TcpListener,
    raft: Arc<RaftNode>,
    rule: ReadyRule,
    metrics: Arc<Registry>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of file descriptors, say: back off rather than spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let raft = raft.clone();
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let raft = raft.clone();
                    let metrics = metrics.clone();
                    async move { Ok::<_, Infallible>(answer(&req, &raft, rule, &metrics)) }
                });
                // A client that hangs up mid-request is no concern of the node's.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// The answer to one HTTP request.
fn answer<B>(
    req: &Request<B>,
    raft: &RaftNode,
    rule: ReadyRule,
    metrics: &Registry,
) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n".into());
    }
    match req.uri().path() {
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => match readiness(&raft.status(), rule) {
            Ok(()) => text(StatusCode::OK, "ready\n".into()),
            Err(why) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {why}\n"),
            ),
        },
        "/metrics" => {
            let mut r = text(StatusCode::OK, metrics::render(metrics));
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(metrics::CONTENT_TYPE),
            );
            r
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /healthz, /readyz or /metrics\n".into(),
        ),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn status(role: Role, leader: Option<u64>, commit: u64, applied: u64) -> NodeStatus {
        NodeStatus {
            id: 1,
            role,
            leader,
            term: 1,
            last_log_index: Some(commit),
            commit_index: Some(commit),
            applied_index: Some(applied),
            snapshot_index: None,
            purged_index: None,
            members: Vec::new(),
            replication: BTreeMap::new(),
            leader_contact: Some(Duration::from_millis(20)),
        }
    }

    fn rule(max_lag: u64) -> ReadyRule {
        ReadyRule {
            max_lag,
            max_silence: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_node_is_ready_with_a_leader_and_a_short_apply_lag() {
        assert_eq!(
            readiness(&status(Role::Follower, Some(2), 500, 450), rule(100)),
            Ok(())
        );
        assert_eq!(
            readiness(&status(Role::Leader, Some(1), 0, 0), rule(0)),
            Ok(())
        );
    }

    #[test]
    fn a_node_without_a_leader_or_far_behind_is_not_ready() {
        let no_leader = readiness(&status(Role::Candidate, None, 10, 10), rule(100)).unwrap_err();
        assert!(no_leader.contains("no leader"), "{no_leader}");
        let behind =
            readiness(&status(Role::Follower, Some(2), 5_000, 100), rule(1_000)).unwrap_err();
        assert!(behind.contains("4900 entries behind"), "{behind}");
        let stopping = readiness(&status(Role::Shutdown, Some(2), 1, 1), rule(1)).unwrap_err();
        assert!(stopping.contains("shutting down"), "{stopping}");
        // A follower cut off from its leader keeps naming it; silence makes it not ready.
        let mut cut_off = status(Role::Follower, Some(2), 10, 10);
        cut_off.leader_contact = Some(Duration::from_secs(5));
        let silent = readiness(&cut_off, rule(100)).unwrap_err();
        assert!(
            silent.contains("no leader heard from for 5000 ms"),
            "{silent}"
        );
        cut_off.leader_contact = None;
        assert!(readiness(&cut_off, rule(100)).is_err());
    }
}
