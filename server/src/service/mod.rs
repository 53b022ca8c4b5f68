//! The gRPC services, one file each: [`ledger::LedgerService`] (`tally.v1.Ledger`) and
//! [`admin::AdminService`] (`tally.v1.Admin`). Both share a [`Ctx`].

pub mod admin;
pub mod ledger;

use std::sync::Arc;
use std::time::Duration;

use tally_raft::RaftNode;
use tokio::time::Instant;

use crate::admission::ReadLimit;
use crate::coalesce::Coalescer;
use crate::metrics::Metrics;

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
