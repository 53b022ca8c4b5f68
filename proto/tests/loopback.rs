//! The generated client and server talk to each other over a real TCP connection: batches,
//! per-event result codes in order, u128 ids at the edges and the read-consistency field all
//! survive the trip.

use tally_proto::v1::ledger_client::LedgerClient;
use tally_proto::v1::ledger_server::{Ledger, LedgerServer};
use tally_proto::{u128_from_wire, u128_to_wire, v1};
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// A stand-in ledger: rejects transfers above 100 and echoes looked-up ids back.
#[derive(Debug)]
struct FakeLedger;

#[tonic::async_trait]
impl Ledger for FakeLedger {
    async fn create_accounts(
        &self,
        request: Request<v1::CreateAccountsRequest>,
    ) -> Result<Response<v1::CreateAccountsResponse>, Status> {
        let n = request.into_inner().accounts.len();
        let results = vec![v1::CreateAccountResult::Ok as i32; n];
        let timestamps = (1..=n as u64).collect();
        Ok(Response::new(v1::CreateAccountsResponse {
            results,
            timestamps,
        }))
    }

    async fn create_transfers(
        &self,
        request: Request<v1::CreateTransfersRequest>,
    ) -> Result<Response<v1::CreateTransfersResponse>, Status> {
        let transfers = request.into_inner().transfers;
        let results = transfers
            .iter()
            .map(|t| match u128_from_wire(t.amount) {
                a if a > 100 => v1::CreateTransferResult::ExceedsCredits as i32,
                _ => v1::CreateTransferResult::Ok as i32,
            })
            .collect();
        // Timestamps near the top of the range: fixed64 carries all 64 bits.
        let timestamps = (0..transfers.len() as u64).map(|i| u64::MAX - i).collect();
        Ok(Response::new(v1::CreateTransfersResponse {
            results,
            timestamps,
        }))
    }

    async fn lookup_accounts(
        &self,
        request: Request<v1::LookupAccountsRequest>,
    ) -> Result<Response<v1::LookupAccountsResponse>, Status> {
        let request = request.into_inner();
        if request.consistency() != v1::ReadConsistency::Stale {
            return Err(Status::unavailable("fake: only stale reads"));
        }
        let accounts = request
            .ids
            .into_iter()
            .map(|id| v1::Account {
                id: Some(id),
                ledger: 1,
                ..Default::default()
            })
            .collect();
        Ok(Response::new(v1::LookupAccountsResponse { accounts }))
    }

    async fn lookup_transfers(
        &self,
        _: Request<v1::LookupTransfersRequest>,
    ) -> Result<Response<v1::LookupTransfersResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn get_account_transfers(
        &self,
        _: Request<v1::GetAccountTransfersRequest>,
    ) -> Result<Response<v1::GetAccountTransfersResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn get_account_balances(
        &self,
        _: Request<v1::GetAccountBalancesRequest>,
    ) -> Result<Response<v1::GetAccountBalancesResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn query_accounts(
        &self,
        _: Request<v1::QueryAccountsRequest>,
    ) -> Result<Response<v1::QueryAccountsResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn query_transfers(
        &self,
        _: Request<v1::QueryTransfersRequest>,
    ) -> Result<Response<v1::QueryTransfersResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
}

#[tokio::test]
async fn client_and_server_round_trip_over_tcp() {
    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = incoming.local_addr().unwrap();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(LedgerServer::new(FakeLedger))
            .serve_with_incoming(incoming),
    );
    let mut client = LedgerClient::connect(format!("http://{addr}"))
        .await
        .unwrap();

    let transfer = |id: u128, amount: u128| v1::Transfer {
        id: u128_to_wire(id),
        amount: u128_to_wire(amount),
        ..Default::default()
    };
    let batch = vec![
        transfer(1, 10),
        transfer(u128::MAX - 1, 101),
        transfer(3, 0),
    ];
    let reply = client
        .create_transfers(v1::CreateTransfersRequest { transfers: batch })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        reply.results().collect::<Vec<_>>(),
        [
            v1::CreateTransferResult::Ok,
            v1::CreateTransferResult::ExceedsCredits,
            v1::CreateTransferResult::Ok
        ]
    );
    assert_eq!(reply.timestamps, [u64::MAX, u64::MAX - 1, u64::MAX - 2]);

    let ids = [u128::from(u64::MAX) + 1, u128::MAX]
        .map(v1::U128::from)
        .to_vec();
    let stale = v1::LookupAccountsRequest {
        ids: ids.clone(),
        consistency: v1::ReadConsistency::Stale as i32,
    };
    let accounts = client
        .lookup_accounts(stale)
        .await
        .unwrap()
        .into_inner()
        .accounts;
    let got: Vec<u128> = accounts.iter().map(|a| u128_from_wire(a.id)).collect();
    assert_eq!(got, [u128::from(u64::MAX) + 1, u128::MAX]);

    // The default consistency is linearizable, which the fake refuses: the field really travels.
    let default = v1::LookupAccountsRequest {
        ids,
        ..Default::default()
    };
    let status = client.lookup_accounts(default).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);

    server.abort();
}
