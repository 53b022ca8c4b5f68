//! `tally.v1.Ledger`: writes through the coalescer, reads from the local state after a read
//! barrier (linearizable, the default) or directly (stale, on request).

use tally_ledger::{query, KvRead, LedgerError, BATCH_MAX};
use tally_proto::u128_from_wire;
use tally_proto::v1::ledger_server::{Ledger as LedgerRpc, LedgerServer};
use tally_proto::v1::{self, ReadConsistency};
use tokio::time::Instant;
use tonic::{Request, Response, Status};

use super::Ctx;
use crate::coalesce::Events;
use crate::convert::{self, Invalid};
use crate::grpc_error;

/// Largest request or response message, in bytes: 8,189 transfers take about 1.3 MB encoded.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

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

    /// The tonic server for it, with Tally's message size limits.
    pub fn into_server(self) -> LedgerServer<Self> {
        LedgerServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
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
}

fn check_len(what: &str, n: usize) -> Result<(), Status> {
    if n > BATCH_MAX {
        return Err(Status::invalid_argument(format!(
            "{n} {what} in one request; at most {BATCH_MAX}"
        )));
    }
    Ok(())
}

fn ids(v: &[v1::U128]) -> Vec<u128> {
    v.iter().map(|x| u128_from_wire(Some(*x))).collect()
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
        let deadline = self.ctx.deadline(&req);
        let accounts = req.into_inner().accounts;
        check_len("accounts", accounts.len())?;
        let events = accounts
            .iter()
            .enumerate()
            .map(|(i, a)| convert::account_from_wire(i, a))
            .collect::<Result<Vec<_>, Invalid>>()
            .map_err(grpc_error::invalid)?;
        let codes = self
            .ctx
            .coalescer
            .submit(Events::Accounts(events), deadline)
            .await?;
        let results = results(codes, |c| {
            i32::try_from(c)
                .ok()
                .and_then(|c| v1::CreateAccountResult::try_from(c).ok())
        })?;
        Ok(Response::new(v1::CreateAccountsResponse { results }))
    }

    async fn create_transfers(
        &self,
        req: Request<v1::CreateTransfersRequest>,
    ) -> Result<Response<v1::CreateTransfersResponse>, Status> {
        let deadline = self.ctx.deadline(&req);
        let transfers = req.into_inner().transfers;
        check_len("transfers", transfers.len())?;
        let events = transfers
            .iter()
            .enumerate()
            .map(|(i, t)| convert::transfer_from_wire(i, t))
            .collect::<Result<Vec<_>, Invalid>>()
            .map_err(grpc_error::invalid)?;
        let codes = self
            .ctx
            .coalescer
            .submit(Events::Transfers(events), deadline)
            .await?;
        let results = results(codes, |c| {
            i32::try_from(c)
                .ok()
                .and_then(|c| v1::CreateTransferResult::try_from(c).ok())
        })?;
        Ok(Response::new(v1::CreateTransfersResponse { results }))
    }

    async fn lookup_accounts(
        &self,
        req: Request<v1::LookupAccountsRequest>,
    ) -> Result<Response<v1::LookupAccountsResponse>, Status> {
        let deadline = self.ctx.deadline(&req);
        let r = req.into_inner();
        check_len("ids", r.ids.len())?;
        let ids = ids(&r.ids);
        let found = self
            .read(r.consistency, deadline, move |l| {
                query::lookup_accounts(l, &ids)
            })
            .await?;
        let accounts = found.iter().map(convert::account_to_wire).collect();
        Ok(Response::new(v1::LookupAccountsResponse { accounts }))
    }

    async fn lookup_transfers(
        &self,
        req: Request<v1::LookupTransfersRequest>,
    ) -> Result<Response<v1::LookupTransfersResponse>, Status> {
        let deadline = self.ctx.deadline(&req);
        let r = req.into_inner();
        check_len("ids", r.ids.len())?;
        let ids = ids(&r.ids);
        let found = self
            .read(r.consistency, deadline, move |l| {
                query::lookup_transfers(l, &ids)
            })
            .await?;
        let transfers = found.iter().map(convert::transfer_to_wire).collect();
        Ok(Response::new(v1::LookupTransfersResponse { transfers }))
    }

    async fn get_account_transfers(
        &self,
        req: Request<v1::GetAccountTransfersRequest>,
    ) -> Result<Response<v1::GetAccountTransfersResponse>, Status> {
        let deadline = self.ctx.deadline(&req);
        let r = req.into_inner();
        let f =
            convert::account_filter_from_wire(r.filter.as_ref()).map_err(grpc_error::invalid)?;
        let found = self
            .read(r.consistency, deadline, move |l| {
                query::get_account_transfers(l, &f)
            })
            .await?;
        let transfers = found.iter().map(convert::transfer_to_wire).collect();
        Ok(Response::new(v1::GetAccountTransfersResponse { transfers }))
    }

    async fn get_account_balances(
        &self,
        req: Request<v1::GetAccountBalancesRequest>,
    ) -> Result<Response<v1::GetAccountBalancesResponse>, Status> {
        let deadline = self.ctx.deadline(&req);
        let r = req.into_inner();
        let f =
            convert::account_filter_from_wire(r.filter.as_ref()).map_err(grpc_error::invalid)?;
        let found = self
            .read(r.consistency, deadline, move |l| {
                query::get_account_balances(l, &f)
            })
            .await?;
        let balances = found.iter().map(convert::balance_to_wire).collect();
        Ok(Response::new(v1::GetAccountBalancesResponse { balances }))
    }

    async fn query_accounts(
        &self,
        req: Request<v1::QueryAccountsRequest>,
    ) -> Result<Response<v1::QueryAccountsResponse>, Status> {
        let deadline = self.ctx.deadline(&req);
        let r = req.into_inner();
        let f = convert::query_filter_from_wire(r.filter.as_ref()).map_err(grpc_error::invalid)?;
        let found = self
            .read(r.consistency, deadline, move |l| {
                query::query_accounts(l, &f)
            })
            .await?;
        let accounts = found.iter().map(convert::account_to_wire).collect();
        Ok(Response::new(v1::QueryAccountsResponse { accounts }))
    }

    async fn query_transfers(
        &self,
        req: Request<v1::QueryTransfersRequest>,
    ) -> Result<Response<v1::QueryTransfersResponse>, Status> {
        let deadline = self.ctx.deadline(&req);
        let r = req.into_inner();
        let f = convert::query_filter_from_wire(r.filter.as_ref()).map_err(grpc_error::invalid)?;
        let found = self
            .read(r.consistency, deadline, move |l| {
                query::query_transfers(l, &f)
            })
            .await?;
        let transfers = found.iter().map(convert::transfer_to_wire).collect();
        Ok(Response::new(v1::QueryTransfersResponse { transfers }))
    }
}
