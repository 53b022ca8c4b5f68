//! One node's Admin service, asked directly: no leader search and no retries. Tools that look
//! at a cluster node by node (`tally status`, the benchmark's Raft-term check, a node checking
//! its peers before it creates a cluster) want each node's own answer, or to know it gave none;
//! the [`Client`](crate::Client) is for the ledger itself.

use std::time::{Duration, Instant};

use tally_proto::v1::admin_client::AdminClient;
use tally_proto::v1::{GetStatusRequest, GetStatusResponse};
use tonic::transport::{Channel, Endpoint};

use crate::tls::tls_reason;
use crate::transport::to_uri;
use crate::{Error, TlsOptions};

/// An Admin client for the node at `addr` (`host:port`), connected within `connect_timeout`;
/// every call on it times out after `timeout`.
pub async fn admin_client(
    addr: &str,
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<AdminClient<Channel>, Error> {
    admin_client_with(addr, connect_timeout, timeout, None).await
}

/// [`admin_client`] over TLS with `tls`, or plaintext with `None`.
pub async fn admin_client_with(
    addr: &str,
    connect_timeout: Duration,
    timeout: Duration,
    tls: Option<&TlsOptions>,
) -> Result<AdminClient<Channel>, Error> {
    let started = Instant::now();
    let mut endpoint =
        Endpoint::from_shared(to_uri(addr, tls.is_some())).map_err(|e| Error::InvalidAddress {
            address: addr.to_string(),
            reason: e.to_string(),
        })?;
    if let Some(tls) = tls {
        tls.check()?;
        endpoint = endpoint
            .tls_config(tls.config())
            .map_err(|e| Error::Tls(tls_reason(&e)))?;
    }
    let channel = endpoint
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .connect()
        .await
        .map_err(|e| Error::Connection {
            attempts: 1,
            elapsed: started.elapsed(),
            last: format!("{addr}: {}", tls_reason(&e)),
        })?;
    Ok(AdminClient::new(channel))
}

/// The status of the node at `addr` as that node sees it (Admin `GetStatus`: its id, role,
/// term, log positions and the members it knows), connecting and answering within `timeout`
/// each.
pub async fn node_status(addr: &str, timeout: Duration) -> Result<GetStatusResponse, Error> {
    node_status_with(addr, timeout, None).await
}

/// [`node_status`] over TLS with `tls`, or plaintext with `None`.
pub async fn node_status_with(
    addr: &str,
    timeout: Duration,
    tls: Option<&TlsOptions>,
) -> Result<GetStatusResponse, Error> {
    let started = Instant::now();
    let mut admin = admin_client_with(addr, timeout, timeout, tls).await?;
    match admin.get_status(GetStatusRequest {}).await {
        Ok(s) => Ok(s.into_inner()),
        Err(s) => Err(Error::Unavailable {
            attempts: 1,
            elapsed: started.elapsed(),
            last: format!("{addr}: {s}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node that cannot be reached and an address that cannot be one fail fast, each with
    /// its own error, and never as a status.
    #[tokio::test]
    async fn unreachable_and_invalid_addresses_are_errors() {
        // A port just freed: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let t = Duration::from_millis(500);
        let e = node_status(&format!("127.0.0.1:{port}"), t)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Connection { attempts: 1, .. }), "{e}");
        assert!(e.is_retryable());
        let e = node_status("not an address", t).await.unwrap_err();
        assert!(matches!(e, Error::InvalidAddress { .. }), "{e}");
    }
}
