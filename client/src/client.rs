//! The typed client: one method per `tally.v1.Ledger` RPC, plus batched single-event writes.

use std::sync::{Arc, OnceLock};

use tally_proto::v1;
use tokio::time::Instant;

use crate::batcher::{Batcher, SendBatch};
use crate::filter::BATCH_MAX;
use crate::flags::{AccountFlags, TransferFlags};
use crate::transport::{Op, Target, Transport};
use crate::{
    Account, AccountBalance, AccountFilter, ClientOptions, CreateAccountResult,
    CreateTransferResult, Error, EventResult, QueryFilter, ReadConsistency, RetryStats, Transfer,
};

/// A handle on a Tally cluster. Cheap to clone; clones share connections, the known leader
/// and the batching queues.
///
/// Every call ends by [`ClientOptions::request_timeout`]: it finds the leader, follows leader
/// changes, and retries failures that may be transient with the identical request. See
/// [`Error`] for how a call that still fails ends.
#[derive(Clone, Debug)]
pub struct Client {
    shared: Arc<Shared>,
    consistency: ReadConsistency,
}

/// What all clones of a client share.
#[derive(Debug)]
struct Shared {
    transport: Arc<Transport>,
    /// Started on first use of `create_account`.
    accounts: OnceLock<Batcher<v1::Account, CreateAccountResult>>,
    /// Started on first use of `create_transfer`.
    transfers: OnceLock<Batcher<v1::Transfer, CreateTransferResult>>,
}

impl Client {
    /// A client for the cluster whose nodes listen at `addresses` (`host:port`, or URIs such
    /// as `http://host:port`), with default options. Nothing is connected yet: connections
    /// open on first use, so this fails only on a malformed address or an empty list.
    pub async fn connect<I, S>(addresses: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::connect_with(addresses, ClientOptions::default()).await
    }

    /// Like [`Client::connect`], with `options`.
    pub async fn connect_with<I, S>(addresses: I, options: ClientOptions) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let consistency = options.read_consistency;
        let transport = Arc::new(Transport::new(addresses, options)?);
        let shared = Arc::new(Shared {
            transport,
            accounts: OnceLock::new(),
            transfers: OnceLock::new(),
        });
        Ok(Self {
            shared,
            consistency,
        })
    }

    /// A clone of this client whose reads use `consistency`. Writes are unaffected.
    pub fn with_read_consistency(&self, consistency: ReadConsistency) -> Self {
        Self {
            shared: self.shared.clone(),
            consistency,
        }
    }

    /// The consistency this client's reads use.
    pub fn read_consistency(&self) -> ReadConsistency {
        self.consistency
    }

    /// What this client's retry machinery has done since it was created, over all its clones
    /// and calls: first attempts, retries, leader redirects, and retries refused by the retry
    /// budget (see [`ClientOptions::retry_budget_percent`]).
    pub fn retry_stats(&self) -> RetryStats {
        self.shared.transport.retry_stats()
    }

    /// The node the client believes leads (`http://host:port`), if it has learned one.
    pub fn leader(&self) -> Option<String> {
        self.shared.transport.leader()
    }

    /// Creates accounts, as one request (all or nothing per linked chain); one result per
    /// event, in order. At most 8189 events.
    pub async fn create_accounts(
        &self,
        accounts: &[Account],
    ) -> Result<Vec<CreateAccountResult>, Error> {
        check_len("accounts", accounts.len())?;
        let accounts = accounts.iter().map(v1::Account::from).collect();
        send_accounts(&self.shared.transport, accounts, self.deadline()).await
    }

    /// [`Client::create_accounts`], with the timestamp of each result ([`EventResult`]): an
    /// account's creation time without a lookup.
    pub async fn create_accounts_with_timestamps(
        &self,
        accounts: &[Account],
    ) -> Result<Vec<EventResult<CreateAccountResult>>, Error> {
        check_len("accounts", accounts.len())?;
        let accounts = accounts.iter().map(v1::Account::from).collect();
        let (results, timestamps) =
            send_accounts_timed(&self.shared.transport, accounts, self.deadline()).await?;
        Ok(zip_results(results, timestamps))
    }

    /// Creates transfers, as one request; one result per event, in order. At most 8189
    /// events. A linked chain inside is never split: the request travels whole.
    pub async fn create_transfers(
        &self,
        transfers: &[Transfer],
    ) -> Result<Vec<CreateTransferResult>, Error> {
        check_len("transfers", transfers.len())?;
        let transfers = transfers.iter().map(v1::Transfer::from).collect();
        send_transfers(&self.shared.transport, transfers, self.deadline()).await
    }

    /// [`Client::create_transfers`], with the timestamp of each result ([`EventResult`]): when,
    /// and so in which order, each transfer was applied, without a lookup.
    pub async fn create_transfers_with_timestamps(
        &self,
        transfers: &[Transfer],
    ) -> Result<Vec<EventResult<CreateTransferResult>>, Error> {
        check_len("transfers", transfers.len())?;
        let transfers = transfers.iter().map(v1::Transfer::from).collect();
        let (results, timestamps) =
            send_transfers_timed(&self.shared.transport, transfers, self.deadline()).await?;
        Ok(zip_results(results, timestamps))
    }

    /// Creates one account, batched with concurrent calls (see [`ClientOptions::linger`]).
    /// An account with the `linked` flag would chain onto another caller's event, so it is
    /// answered [`CreateAccountResult::LinkedEventChainOpen`] without being sent; send chains
    /// with [`Client::create_accounts`].
    pub async fn create_account(&self, account: Account) -> Result<CreateAccountResult, Error> {
        if account.flags.contains(AccountFlags::LINKED) {
            return Ok(CreateAccountResult::LinkedEventChainOpen);
        }
        let batcher = self.shared.accounts.get_or_init(|| {
            let transport = self.shared.transport.clone();
            let send: SendBatch<v1::Account, CreateAccountResult> =
                Arc::new(move |accounts, deadline| {
                    let transport = transport.clone();
                    Box::pin(async move { send_accounts(&transport, accounts, deadline).await })
                });
            Batcher::spawn(send, &self.shared.transport.options)
        });
        batcher.submit(v1::Account::from(&account)).await
    }

    /// Creates one transfer, batched with concurrent calls (see [`ClientOptions::linger`]).
    /// A transfer with the `linked` flag is answered
    /// [`CreateTransferResult::LinkedEventChainOpen`] without being sent; send chains with
    /// [`Client::create_transfers`].
    pub async fn create_transfer(&self, transfer: Transfer) -> Result<CreateTransferResult, Error> {
        if transfer.flags.contains(TransferFlags::LINKED) {
            return Ok(CreateTransferResult::LinkedEventChainOpen);
        }
        let batcher = self.shared.transfers.get_or_init(|| {
            let transport = self.shared.transport.clone();
            let send: SendBatch<v1::Transfer, CreateTransferResult> =
                Arc::new(move |transfers, deadline| {
                    let transport = transport.clone();
                    Box::pin(async move { send_transfers(&transport, transfers, deadline).await })
                });
            Batcher::spawn(send, &self.shared.transport.options)
        });
        batcher.submit(v1::Transfer::from(&transfer)).await
    }

    /// The accounts with these ids, in request order; ids that name no account are left out.
    /// At most 8189 ids.
    pub async fn lookup_accounts(&self, ids: &[u128]) -> Result<Vec<Account>, Error> {
        check_len("ids", ids.len())?;
        let request = v1::LookupAccountsRequest {
            ids: ids.iter().map(|&id| v1::U128::new(id)).collect(),
            consistency: self.wire_consistency(),
        };
        let reply = self
            .read(
                request,
                |mut c, r| async move { c.lookup_accounts(r).await },
            )
            .await?;
        reply.accounts.into_iter().map(Account::try_from).collect()
    }

    /// The transfers with these ids, in request order; ids that name no transfer are left out.
    /// At most 8189 ids.
    pub async fn lookup_transfers(&self, ids: &[u128]) -> Result<Vec<Transfer>, Error> {
        check_len("ids", ids.len())?;
        let request = v1::LookupTransfersRequest {
            ids: ids.iter().map(|&id| v1::U128::new(id)).collect(),
            consistency: self.wire_consistency(),
        };
        let reply = self
            .read(
                request,
                |mut c, r| async move { c.lookup_transfers(r).await },
            )
            .await?;
        reply
            .transfers
            .into_iter()
            .map(Transfer::try_from)
            .collect()
    }

    /// One account's transfers matching `filter`, by timestamp.
    pub async fn get_account_transfers(
        &self,
        filter: AccountFilter,
    ) -> Result<Vec<Transfer>, Error> {
        let request = v1::GetAccountTransfersRequest {
            filter: Some(v1::AccountFilter::from(&filter)),
            consistency: self.wire_consistency(),
        };
        let reply = self
            .read(request, |mut c, r| async move {
                c.get_account_transfers(r).await
            })
            .await?;
        reply
            .transfers
            .into_iter()
            .map(Transfer::try_from)
            .collect()
    }

    /// One account's balance history matching `filter` (accounts with the `history` flag).
    pub async fn get_account_balances(
        &self,
        filter: AccountFilter,
    ) -> Result<Vec<AccountBalance>, Error> {
        let request = v1::GetAccountBalancesRequest {
            filter: Some(v1::AccountFilter::from(&filter)),
            consistency: self.wire_consistency(),
        };
        let reply = self
            .read(request, |mut c, r| async move {
                c.get_account_balances(r).await
            })
            .await?;
        Ok(reply
            .balances
            .into_iter()
            .map(AccountBalance::from)
            .collect())
    }

    /// Accounts matching `filter`, by timestamp.
    pub async fn query_accounts(&self, filter: QueryFilter) -> Result<Vec<Account>, Error> {
        let request = v1::QueryAccountsRequest {
            filter: Some(v1::QueryFilter::from(&filter)),
            consistency: self.wire_consistency(),
        };
        let reply = self
            .read(request, |mut c, r| async move { c.query_accounts(r).await })
            .await?;
        reply.accounts.into_iter().map(Account::try_from).collect()
    }

    /// Transfers matching `filter`, by timestamp.
    pub async fn query_transfers(&self, filter: QueryFilter) -> Result<Vec<Transfer>, Error> {
        let request = v1::QueryTransfersRequest {
            filter: Some(v1::QueryFilter::from(&filter)),
            consistency: self.wire_consistency(),
        };
        let reply = self
            .read(
                request,
                |mut c, r| async move { c.query_transfers(r).await },
            )
            .await?;
        reply
            .transfers
            .into_iter()
            .map(Transfer::try_from)
            .collect()
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.shared.transport.options.request_timeout
    }

    fn wire_consistency(&self) -> i32 {
        v1::ReadConsistency::from(self.consistency) as i32
    }

    /// Sends a read to the leader (linearizable) or any node (stale).
    async fn read<Req, Resp, F, Fut>(&self, request: Req, rpc: F) -> Result<Resp, Error>
    where
        Req: Clone,
        F: Fn(LedgerClient, tonic::Request<Req>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
    {
        let target = match self.consistency {
            ReadConsistency::Linearizable => Target::Leader,
            ReadConsistency::Stale => Target::Any,
        };
        let op = Op {
            target,
            write: false,
        };
        self.shared
            .transport
            .call(op, self.deadline(), request, rpc)
            .await
    }
}

type LedgerClient = v1::ledger_client::LedgerClient<tonic::transport::Channel>;

const WRITE: Op = Op {
    target: Target::Leader,
    write: true,
};

/// Refuses a request the server would refuse with `INVALID_ARGUMENT`, without sending it.
fn check_len(what: &str, len: usize) -> Result<(), Error> {
    if len > BATCH_MAX {
        return Err(Error::InvalidArgument(format!(
            "{len} {what} in one request, at most {BATCH_MAX} allowed"
        )));
    }
    Ok(())
}

/// Sends one `CreateAccounts` request (shared by the direct call and the batcher).
async fn send_accounts(
    transport: &Transport,
    accounts: Vec<v1::Account>,
    deadline: Instant,
) -> Result<Vec<CreateAccountResult>, Error> {
    Ok(send_accounts_timed(transport, accounts, deadline).await?.0)
}

/// Sends one `CreateAccounts` request; one result and one timestamp per event.
async fn send_accounts_timed(
    transport: &Transport,
    accounts: Vec<v1::Account>,
    deadline: Instant,
) -> Result<(Vec<CreateAccountResult>, Vec<u64>), Error> {
    if accounts.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let count = accounts.len();
    let request = v1::CreateAccountsRequest { accounts };
    let reply = transport
        .call(WRITE, deadline, request, |mut c, r| async move {
            c.create_accounts(r).await
        })
        .await?;
    per_event(
        count,
        reply.results,
        reply.timestamps,
        CreateAccountResult::from_wire,
    )
}

/// Sends one `CreateTransfers` request (shared by the direct call and the batcher).
async fn send_transfers(
    transport: &Transport,
    transfers: Vec<v1::Transfer>,
    deadline: Instant,
) -> Result<Vec<CreateTransferResult>, Error> {
    Ok(send_transfers_timed(transport, transfers, deadline)
        .await?
        .0)
}

/// Sends one `CreateTransfers` request; one result and one timestamp per event.
async fn send_transfers_timed(
    transport: &Transport,
    transfers: Vec<v1::Transfer>,
    deadline: Instant,
) -> Result<(Vec<CreateTransferResult>, Vec<u64>), Error> {
    if transfers.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let count = transfers.len();
    let request = v1::CreateTransfersRequest { transfers };
    let reply = transport
        .call(WRITE, deadline, request, |mut c, r| async move {
            c.create_transfers(r).await
        })
        .await?;
    per_event(
        count,
        reply.results,
        reply.timestamps,
        CreateTransferResult::from_wire,
    )
}

/// One result and one timestamp per event, or an error if the server's count is wrong (then
/// nobody can tell which events applied). A server older than the `timestamps` field sends
/// none: then every timestamp is 0.
fn per_event<R>(
    count: usize,
    raw: Vec<i32>,
    mut timestamps: Vec<u64>,
    decode: fn(i32) -> R,
) -> Result<(Vec<R>, Vec<u64>), Error> {
    if timestamps.is_empty() {
        timestamps = vec![0; raw.len()];
    }
    if raw.len() != count || timestamps.len() != count {
        return Err(Error::Internal {
            message: format!(
                "server answered {} results and {} timestamps for {count} events",
                raw.len(),
                timestamps.len()
            ),
            indeterminate: true,
        });
    }
    Ok((raw.into_iter().map(decode).collect(), timestamps))
}

fn zip_results<R>(results: Vec<R>, timestamps: Vec<u64>) -> Vec<EventResult<R>> {
    results
        .into_iter()
        .zip(timestamps)
        .map(|(result, timestamp)| EventResult { result, timestamp })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_result_count_is_an_indeterminate_error() {
        let decode = CreateTransferResult::from_wire;
        let err = per_event(3, vec![0, 0], vec![], decode).unwrap_err();
        assert!(err.is_indeterminate(), "{err}");
        let err = per_event(2, vec![0, 0], vec![5], decode).unwrap_err();
        assert!(err.is_indeterminate(), "{err}");
        let (codes, stamps) = per_event(2, vec![0, 22], vec![7, 3], decode).unwrap();
        assert_eq!(
            codes,
            [CreateTransferResult::Ok, CreateTransferResult::Exists]
        );
        assert_eq!(stamps, [7, 3]);
        // A server without the field: zeros.
        let (_, stamps) = per_event(2, vec![0, 22], vec![], decode).unwrap();
        assert_eq!(stamps, [0, 0]);
        let zipped = zip_results(codes, vec![7, 3]);
        assert_eq!(zipped[1].result, CreateTransferResult::Exists);
        assert_eq!(zipped[1].timestamp, 3);
    }

    #[test]
    fn oversized_requests_are_refused_before_sending() {
        assert!(check_len("ids", BATCH_MAX).is_ok());
        assert!(matches!(
            check_len("ids", BATCH_MAX + 1),
            Err(Error::InvalidArgument(_))
        ));
    }
}
