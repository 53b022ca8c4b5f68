//! The gRPC services, one file each: [`ledger::LedgerService`] (`tally.v1.Ledger`) and
//! [`admin::AdminService`] (`tally.v1.Admin`). Both share a [`Ctx`].

pub mod admin;
pub mod ledger;

use std::sync::Arc;
use std::time::Duration;

use tally_raft::{RaftNode, WireResults};
use tokio::time::Instant;
use tonic::Status;

use crate::admission::ReadLimit;
use crate::coalesce::{Coalescer, Phases};
use crate::logging::RequestId;
use crate::metrics::{Metrics, Rpc};

/// What every handler needs.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The node.
    pub node: Arc<RaftNode>,
    /// Where writes go (through its admission control).
    pub coalescer: Coalescer,
    /// The limit on reads served at once.
    pub reads: ReadLimit,
    /// Deadline of a request that names none, and the most any request gets.
    pub request_timeout: Duration,
    /// The request-path figures for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Requests slower than this are logged with their phases; `None`: not logged.
    pub slow_request: Option<Duration>,
}

impl Ctx {
    /// Logs a write answered after more than the slow-request threshold (see
    /// [`log_slow_write`]).
    pub fn log_slow_write(
        &self,
        rpc: Rpc,
        events: usize,
        started: Instant,
        result: &Result<WireResults, Status>,
        phases: Phases,
        id: &RequestId,
    ) {
        log_slow_write(self.slow_request, rpc, events, started, result, phases, id);
    }
}

/// Logs a write answered after more than `slow`: one warning with its RPC, events, result and
/// phases and its request id. Returns whether it was slow.
pub fn log_slow_write(
    slow: Option<Duration>,
    rpc: Rpc,
    events: usize,
    started: Instant,
    result: &Result<WireResults, Status>,
    phases: Phases,
    id: &RequestId,
) -> bool {
    let Some(slow) = slow else {
        return false;
    };
    let total = started.elapsed();
    if total <= slow {
        return false;
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (code, failed) = match result {
        Ok(r) => ("OK", r.codes.iter().filter(|c| **c != 0).count()),
        Err(e) => (crate::metrics::CODES[e.code() as usize], 0),
    };
    tracing::warn!(
        request_id = %id,
        rpc = rpc.label(),
        events,
        code,
        failed_events = failed,
        queued_ms = ms(phases.queued),
        commit_ms = ms(phases.commit),
        apply_ms = ms(phases.apply),
        total_ms = ms(total),
        "slow request"
    );
    true
}

impl Ctx {
    /// The request's deadline: its `grpc-timeout` if it has one, capped by the node's
    /// `request_timeout`.
    pub fn deadline<T>(&self, req: &tonic::Request<T>) -> Instant {
        let asked = req
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout);
        let d = asked.map_or(self.request_timeout, |a| a.min(self.request_timeout));
        Instant::now() + d
    }
}

/// Parses a `grpc-timeout` header value: at most 8 digits and a unit (`H`, `M`, `S`, `m`, `u`,
/// `n`), per the gRPC over HTTP/2 spec.
pub fn parse_grpc_timeout(v: &str) -> Option<Duration> {
    if v.len() < 2 || v.len() > 9 {
        return None;
    }
    let (digits, unit) = v.split_at(v.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log sink for one test: what a subscriber wrote.
    #[derive(Clone, Default)]
    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_slow_write_is_logged_once_with_its_phases_and_request_id() {
        let sink = Sink::default();
        let w = sink.clone();
        let sub = tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_writer(move || w.clone())
            .finish();
        let phases = Phases {
            queued: Duration::from_millis(3),
            commit: Duration::from_millis(5),
            apply: Duration::from_millis(7),
        };
        let results = Ok(WireResults {
            codes: vec![0, 21],
            timestamps: vec![1, 2],
            apply_started: None,
        });
        let started = Instant::now() - Duration::from_millis(20);
        let rpc = Rpc::CREATE_TRANSFERS;
        tracing::subscriber::with_default(sub, || {
            let id = RequestId::parse(b"abc-123").unwrap();
            assert!(!log_slow_write(
                None, rpc, 2, started, &results, phases, &id
            ));
            let long = Some(Duration::from_secs(60));
            assert!(!log_slow_write(
                long, rpc, 2, started, &results, phases, &id
            ));
            let short = Some(Duration::from_millis(10));
            assert!(log_slow_write(
                short, rpc, 2, started, &results, phases, &id
            ));
        });
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["level"], "WARN", "{v}");
        let f = &v["fields"];
        assert_eq!(f["request_id"], "abc-123", "{v}");
        assert_eq!(f["message"], "slow request", "{v}");
        assert_eq!(f["rpc"], rpc.label(), "{v}");
        assert_eq!((&f["events"], &f["failed_events"]), (&2.into(), &1.into()));
        assert_eq!(f["code"], "OK", "{v}");
        assert_eq!(f["queued_ms"], 3.0, "{v}");
        assert_eq!(f["commit_ms"], 5.0, "{v}");
        assert_eq!(f["apply_ms"], 7.0, "{v}");
        assert!(f["total_ms"].as_f64().unwrap() >= 20.0, "{v}");
    }

    #[test]
    fn grpc_timeout_units() {
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(
            parse_grpc_timeout("99999999u"),
            Some(Duration::from_micros(99_999_999))
        );
        assert_eq!(parse_grpc_timeout("S"), None);
        assert_eq!(parse_grpc_timeout("5s"), None);
        assert_eq!(parse_grpc_timeout("123456789S"), None);
    }
}
