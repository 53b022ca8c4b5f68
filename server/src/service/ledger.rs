//! `tally.v1.Ledger`: writes through the coalescer, reads from the local state after a read
//! barrier (linearizable, the default) or directly (stale, on request).

use tally_ledger::{query, AccountFilter, KvRead, LedgerError, QueryFilter, BATCH_MAX};
use tally_proto::u128_from_wire;
use tally_proto::v1::ledger_server::{Ledger as LedgerRpc, LedgerServer};
use tally_proto::v1::{self, ReadConsistency};
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use super::Ctx;
use crate::coalesce::Events;
use crate::convert::{self, Invalid};
use crate::framing::Framed;
use crate::grpc_error;
use crate::logging::RequestId;
use crate::metrics::Rpc;

/// Largest request or response message, in bytes. The largest message the service needs is
/// [`BATCH_MAX`] transfers with every field at its widest, about 1.5 MB (a test below checks
/// 2x headroom); 4 MiB is also gRPC's default receive limit, so any client can read every
/// answer without raising its own limit.
pub const MAX_MESSAGE_BYTES: usize = 4 << 20;

/// The Ledger service.
#[derive(Debug, Clone)]
pub struct LedgerService {
    ctx: Ctx,
}

impl LedgerService {
    /// A service over `ctx`.
    pub fn new(ctx: Ctx) -> Self {
        Self { ctx }
    }

    /// The tonic server for it, with Tally's message size limits, framing checks, and writes'
    /// admission decided from their headers.
    pub fn into_server(self) -> Framed<LedgerServer<Self>> {
        let admission = self.ctx.coalescer.admission().clone();
        let metrics = self.ctx.metrics.clone();
        let slow = self.ctx.slow_request;
        let server = LedgerServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Framed::new(server, MAX_MESSAGE_BYTES)
            .with_slow(slow)
            .with_admission(admission)
            .with_metrics(metrics)
    }

    /// Runs `f` on a snapshot of the local state, after a read barrier unless `consistency` is
    /// stale. It does not wait for the command being applied; a linearizable read also sees a
    /// command answered before it began whose state write is still in flight (through that
    /// write's batch: `StateReader::read_after`).
    async fn read<T, F>(&self, consistency: i32, deadline: Instant, f: F) -> Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(&dyn KvRead) -> Result<T, LedgerError> + Send + 'static,
    {
        let c = ReadConsistency::try_from(consistency).map_err(|_| {
            Status::invalid_argument(format!("unknown read consistency {consistency}"))
        })?;
        let reader = self.ctx.node.state().clone();
        let mut mark = 0;
        if c == ReadConsistency::Linearizable {
            mark = reader.write_mark();
            let left = deadline.saturating_duration_since(Instant::now());
            self.ctx
                .node
                .read_barrier(left)
                .await
                .map_err(grpc_error::propose)?;
        }
        let work = tokio::task::spawn_blocking(move || reader.read_after(mark, f));
        match tokio::time::timeout_at(deadline, work).await {
            Err(_) => Err(grpc_error::deadline("read")),
            Ok(Err(join)) => Err(Status::internal(format!("read task failed: {join}"))),
            Ok(Ok(Err(io))) => Err(grpc_error::io(io)),
            Ok(Ok(Ok(r))) => r.map_err(grpc_error::ledger),
        }
    }

    /// Every read RPC: takes a place under the read limit (or refuses at once), checks and
    /// converts what `req` asks for ([`ReadRequest::input`]), runs `query` on it
    /// ([`Self::read`]: after a read barrier unless the request asks for a stale read, within
    /// the request's deadline), and converts each record found to the wire.
    async fn serve_read<Q, R, W>(
        &self,
        req: Request<Q>,
        query: Query<Q::Input, R>,
        to_wire: fn(&R) -> W,
    ) -> Result<Vec<W>, Status>
    where
        Q: ReadRequest,
        R: Send + 'static,
    {
        let _place = self.ctx.reads.enter()?;
        let deadline = self.ctx.deadline(&req);
        let req = req.into_inner();
        let input = req.input()?;
        let found = self
            .read(req.consistency(), deadline, move |l| query(l, &input))
            .await?;
        Ok(found.iter().map(to_wire).collect())
    }
}

/// A ledger query: what it reads (ids or a filter) to the records found.
type Query<I, R> = fn(&dyn KvRead, &I) -> Result<Vec<R>, LedgerError>;

/// A read RPC's request: what it reads, and how consistently.
trait ReadRequest {
    /// What the query reads: ids or a filter, converted from the wire.
    type Input: Send + 'static;
    /// The wire `ReadConsistency`.
    fn consistency(&self) -> i32;
    /// What to read, checked (at most [`BATCH_MAX`] ids, a valid filter) and converted.
    fn input(&self) -> Result<Self::Input, Status>;
}

/// Implements [`ReadRequest`] for request types that read the same kind of input.
macro_rules! read_request {
    ($($req:ident)|+ => $input:ty, |$r:ident| $parse:expr) => {$(
        impl ReadRequest for v1::$req {
            type Input = $input;
            fn consistency(&self) -> i32 {
                self.consistency
            }
            fn input(&self) -> Result<$input, Status> {
                let $r = self;
                $parse
            }
        }
    )+};
}

read_request!(LookupAccountsRequest | LookupTransfersRequest => Vec<u128>,
    |r| lookup_ids(&r.ids));
read_request!(GetAccountTransfersRequest | GetAccountBalancesRequest => AccountFilter,
    |r| convert::account_filter_from_wire(r.filter.as_ref()).map_err(grpc_error::invalid));
read_request!(QueryAccountsRequest | QueryTransfersRequest => QueryFilter,
    |r| convert::query_filter_from_wire(r.filter.as_ref()).map_err(grpc_error::invalid));

/// Refuses a request of more than [`BATCH_MAX`] events or ids.
fn check_len(what: &str, n: usize) -> Result<(), Status> {
    if n > BATCH_MAX {
        return Err(Status::invalid_argument(format!(
            "{n} {what} in one request; at most {BATCH_MAX}"
        )));
    }
    Ok(())
}

/// The ids of a lookup: at most [`BATCH_MAX`] of them.
fn lookup_ids(v: &[v1::U128]) -> Result<Vec<u128>, Status> {
    check_len("ids", v.len())?;
    Ok(v.iter().map(|x| u128_from_wire(Some(*x))).collect())
}

fn results<E: Copy + Into<i32>>(
    codes: Vec<u32>,
    from: impl Fn(u32) -> Option<E>,
) -> Result<Vec<i32>, Status> {
    codes
        .into_iter()
        .map(|c| {
            from(c)
                .map(Into::into)
                .ok_or_else(|| Status::internal(format!("result code {c} has no wire value")))
        })
        .collect()
}

#[tonic::async_trait]
impl LedgerRpc for LedgerService {
    async fn create_accounts(
        &self,
        req: Request<v1::CreateAccountsRequest>,
    ) -> Result<Response<v1::CreateAccountsResponse>, Status> {
        let started = Instant::now();
        let deadline = self.ctx.deadline(&req);
        let id = RequestId::of(&req);
        let accounts = req.into_inner().accounts;
        check_len("accounts", accounts.len())?;
        self.ctx
            .metrics
            .write_events(Rpc::CREATE_ACCOUNTS, accounts.len());
        let events = accounts
            .iter()
            .enumerate()
            .map(|(i, a)| convert::account_from_wire(i, a))
            .collect::<Result<Vec<_>, Invalid>>()
            .map_err(grpc_error::invalid)?;
        let n = events.len();
        let (out, phases) = self
            .ctx
            .coalescer
            .submit(Events::Accounts(events), deadline, id)
            .await;
        self.ctx
            .log_slow_write(Rpc::CREATE_ACCOUNTS, n, started, &out, phases, &id);
        let out = out?;
        let results = results(out.codes, |c| {
            i32::try_from(c)
                .ok()
                .and_then(|c| v1::CreateAccountResult::try_from(c).ok())
        })?;
        Ok(Response::new(v1::CreateAccountsResponse {
            results,
            timestamps: out.timestamps,
        }))
    }

    async fn create_transfers(
        &self,
        req: Request<v1::CreateTransfersRequest>,
    ) -> Result<Response<v1::CreateTransfersResponse>, Status> {
        let started = Instant::now();
        let deadline = self.ctx.deadline(&req);
        let id = RequestId::of(&req);
        let transfers = req.into_inner().transfers;
        check_len("transfers", transfers.len())?;
        self.ctx
            .metrics
            .write_events(Rpc::CREATE_TRANSFERS, transfers.len());
        let events = transfers
            .iter()
            .enumerate()
            .map(|(i, t)| convert::transfer_from_wire(i, t))
            .collect::<Result<Vec<_>, Invalid>>()
            .map_err(grpc_error::invalid)?;
        let n = events.len();
        let (out, phases) = self
            .ctx
            .coalescer
            .submit(Events::Transfers(events), deadline, id)
            .await;
        self.ctx
            .log_slow_write(Rpc::CREATE_TRANSFERS, n, started, &out, phases, &id);
        let out = out?;
        let results = results(out.codes, |c| {
            i32::try_from(c)
                .ok()
                .and_then(|c| v1::CreateTransferResult::try_from(c).ok())
        })?;
        Ok(Response::new(v1::CreateTransfersResponse {
            results,
            timestamps: out.timestamps,
        }))
    }

    async fn lookup_accounts(
        &self,
        req: Request<v1::LookupAccountsRequest>,
    ) -> Result<Response<v1::LookupAccountsResponse>, Status> {
        let accounts = self
            .serve_read(
                req,
                |l, ids| query::lookup_accounts(l, ids),
                convert::account_to_wire,
            )
            .await?;
        Ok(Response::new(v1::LookupAccountsResponse { accounts }))
    }

    async fn lookup_transfers(
        &self,
        req: Request<v1::LookupTransfersRequest>,
    ) -> Result<Response<v1::LookupTransfersResponse>, Status> {
        let transfers = self
            .serve_read(
                req,
                |l, ids| query::lookup_transfers(l, ids),
                convert::transfer_to_wire,
            )
            .await?;
        Ok(Response::new(v1::LookupTransfersResponse { transfers }))
    }

    async fn get_account_transfers(
        &self,
        req: Request<v1::GetAccountTransfersRequest>,
    ) -> Result<Response<v1::GetAccountTransfersResponse>, Status> {
        let transfers = self
            .serve_read(req, query::get_account_transfers, convert::transfer_to_wire)
            .await?;
        Ok(Response::new(v1::GetAccountTransfersResponse { transfers }))
    }

    async fn get_account_balances(
        &self,
        req: Request<v1::GetAccountBalancesRequest>,
    ) -> Result<Response<v1::GetAccountBalancesResponse>, Status> {
        let balances = self
            .serve_read(req, query::get_account_balances, convert::balance_to_wire)
            .await?;
        Ok(Response::new(v1::GetAccountBalancesResponse { balances }))
    }

    async fn query_accounts(
        &self,
        req: Request<v1::QueryAccountsRequest>,
    ) -> Result<Response<v1::QueryAccountsResponse>, Status> {
        let accounts = self
            .serve_read(req, query::query_accounts, convert::account_to_wire)
            .await?;
        Ok(Response::new(v1::QueryAccountsResponse { accounts }))
    }

    async fn query_transfers(
        &self,
        req: Request<v1::QueryTransfersRequest>,
    ) -> Result<Response<v1::QueryTransfersResponse>, Status> {
        let transfers = self
            .serve_read(req, query::query_transfers, convert::transfer_to_wire)
            .await?;
        Ok(Response::new(v1::QueryTransfersResponse { transfers }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use tally_proto::u128_to_wire;

    fn widest_transfer() -> v1::Transfer {
        let max = u128_to_wire(u128::MAX);
        v1::Transfer {
            id: max,
            debit_account_id: max,
            credit_account_id: max,
            amount: max,
            pending_id: max,
            user_data_128: max,
            user_data_64: u64::MAX,
            user_data_32: u32::MAX,
            timeout: u32::MAX,
            ledger: u32::MAX,
            code: u32::MAX,
            flags: u32::MAX,
            timestamp: u64::MAX,
        }
    }

    fn widest_account() -> v1::Account {
        let max = u128_to_wire(u128::MAX);
        v1::Account {
            id: max,
            debits_pending: max,
            debits_posted: max,
            credits_pending: max,
            credits_posted: max,
            user_data_128: max,
            user_data_64: u64::MAX,
            user_data_32: u32::MAX,
            ledger: u32::MAX,
            code: u32::MAX,
            flags: u32::MAX,
            timestamp: u64::MAX,
        }
    }

    /// The message limit leaves at least 2x headroom over the largest message a full batch
    /// makes, in either direction.
    #[test]
    fn a_full_batch_of_the_widest_events_fits_twice_in_the_limit() {
        let transfers = vec![widest_transfer(); BATCH_MAX];
        let accounts = vec![widest_account(); BATCH_MAX];
        let sizes = [
            v1::CreateTransfersRequest {
                transfers: transfers.clone(),
            }
            .encoded_len(),
            v1::LookupTransfersResponse { transfers }.encoded_len(),
            v1::CreateAccountsRequest {
                accounts: accounts.clone(),
            }
            .encoded_len(),
            v1::QueryAccountsResponse { accounts }.encoded_len(),
        ];
        for size in sizes {
            assert!(size > 1_000_000, "{size}: the widest events were not wide");
            assert!(2 * size <= MAX_MESSAGE_BYTES, "{size} bytes");
        }
    }
}
