//! An in-process mock of the `tally.v1.Ledger` service for the client's tests.
//!
//! Each mock node records every request it receives (failed attempts included), counts calls,
//! and fails, delays or hangs according to a script; once the script is used up it follows its
//! default action. A node made a follower answers writes and linearizable reads with
//! `UNAVAILABLE` plus the leader's address, as the real server does, and serves stale reads.
//!
//! Answers are derived from the request so a test can check that each caller got its own:
//! the result code of a created event is its `user_data_32`.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tally_proto::v1::ledger_server::{Ledger, LedgerServer};
use tally_proto::{u128_from_wire, u128_to_wire, v1};
use tonic::metadata::MetadataValue;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};

/// What a node does with one call.
#[derive(Clone, Debug)]
pub enum Action {
    /// Answer normally.
    Answer,
    /// Answer after a pause.
    Delay(Duration),
    /// Never answer.
    Hang,
    /// Fail with this status and metadata.
    Fail(Code, &'static str, Vec<(&'static str, String)>),
}

/// A node's recordings and behaviour.
#[derive(Debug)]
pub struct State {
    pub calls: AtomicUsize,
    pub transfer_requests: Mutex<Vec<Vec<v1::Transfer>>>,
    pub account_requests: Mutex<Vec<Vec<v1::Account>>>,
    /// The `consistency` field of every read.
    pub read_consistency: Mutex<Vec<i32>>,
    script: Mutex<VecDeque<Action>>,
    otherwise: Mutex<Action>,
    /// When set, this node is a follower of the leader at this `host:port`.
    follower_of: Mutex<Option<String>>,
    /// The next this many `CreateTransfers` calls apply their events and then never answer,
    /// like a leader that commits and then stalls.
    apply_then_hang: AtomicUsize,
    /// Transfer ids applied so far by such calls; a later event with one answers `EXISTS`.
    applied: Mutex<HashSet<u128>>,
}

/// A running mock node.
#[derive(Debug)]
pub struct MockNode {
    pub addr: SocketAddr,
    pub state: Arc<State>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for MockNode {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl MockNode {
    /// Starts a node on a free loopback port that answers everything.
    pub fn start() -> Self {
        let state = Arc::new(State {
            calls: AtomicUsize::new(0),
            transfer_requests: Mutex::default(),
            account_requests: Mutex::default(),
            read_consistency: Mutex::default(),
            script: Mutex::default(),
            otherwise: Mutex::new(Action::Answer),
            follower_of: Mutex::default(),
            apply_then_hang: AtomicUsize::new(0),
            applied: Mutex::default(),
        });
        let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = incoming.local_addr().unwrap();
        let service = LedgerServer::new(Mock(state.clone()));
        let server = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await
                .unwrap();
        });
        Self {
            addr,
            state,
            server,
        }
    }

    /// `host:port`, as the client takes it.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// The next calls do these actions, in order.
    pub fn script(&self, actions: impl IntoIterator<Item = Action>) {
        self.state.script.lock().unwrap().extend(actions);
    }

    /// What every call does once the script is used up.
    pub fn otherwise(&self, action: Action) {
        *self.state.otherwise.lock().unwrap() = action;
    }

    /// Makes this node a follower of `leader`.
    pub fn follow(&self, leader: &MockNode) {
        *self.state.follower_of.lock().unwrap() = Some(leader.address());
    }

    /// The next `n` `CreateTransfers` calls apply their events, then never answer.
    pub fn apply_then_hang(&self, n: usize) {
        self.state.apply_then_hang.store(n, Ordering::SeqCst);
    }

    pub fn calls(&self) -> usize {
        self.state.calls.load(Ordering::SeqCst)
    }

    pub fn transfer_requests(&self) -> Vec<Vec<v1::Transfer>> {
        self.state.transfer_requests.lock().unwrap().clone()
    }

    pub fn account_requests(&self) -> Vec<Vec<v1::Account>> {
        self.state.account_requests.lock().unwrap().clone()
    }
}

/// The `Ledger` implementation over a node's state.
#[derive(Debug)]
struct Mock(Arc<State>);

impl Mock {
    /// Counts the call, refuses it if this node is a follower and the call needs the leader,
    /// then does the next scripted action.
    async fn gate(&self, needs_leader: bool) -> Result<(), Status> {
        self.0.calls.fetch_add(1, Ordering::SeqCst);
        let leader = self.0.follower_of.lock().unwrap().clone();
        if let (true, Some(leader)) = (needs_leader, leader) {
            let mut status = Status::unavailable("not the leader");
            let metadata = status.metadata_mut();
            metadata.insert("tally-leader-id", MetadataValue::from_static("2"));
            metadata.insert(
                "tally-leader-addr",
                MetadataValue::try_from(leader).unwrap(),
            );
            return Err(status);
        }
        let next = self.0.script.lock().unwrap().pop_front();
        let action = next.unwrap_or_else(|| self.0.otherwise.lock().unwrap().clone());
        match action {
            Action::Answer => Ok(()),
            Action::Delay(pause) => {
                tokio::time::sleep(pause).await;
                Ok(())
            }
            Action::Hang => std::future::pending().await,
            Action::Fail(code, message, metadata) => {
                let mut status = Status::new(code, message);
                for (key, value) in metadata {
                    let value = MetadataValue::try_from(value).unwrap();
                    status.metadata_mut().insert(key, value);
                }
                Err(status)
            }
        }
    }

    /// Records a read's consistency and gates it: linearizable reads need the leader.
    async fn read(&self, consistency: i32) -> Result<(), Status> {
        self.0.read_consistency.lock().unwrap().push(consistency);
        self.gate(consistency == v1::ReadConsistency::Linearizable as i32)
            .await
    }
}

/// An account echoing `id`, with a non-trivial balance so conversions are exercised.
fn account(id: v1::U128) -> v1::Account {
    v1::Account {
        id: Some(id),
        credits_posted: u128_to_wire(u128::MAX - 7),
        ledger: 840,
        code: 65_535,
        flags: v1::AccountFlag::History as u32,
        timestamp: 1 << 60,
        ..Default::default()
    }
}

/// A transfer echoing `id`.
fn transfer(id: u128) -> v1::Transfer {
    v1::Transfer {
        id: u128_to_wire(id),
        debit_account_id: u128_to_wire(1),
        credit_account_id: u128_to_wire(2),
        amount: u128_to_wire(1 << 100),
        ledger: 840,
        code: 9,
        ..Default::default()
    }
}

#[tonic::async_trait]
impl Ledger for Mock {
    async fn create_accounts(
        &self,
        request: Request<v1::CreateAccountsRequest>,
    ) -> Result<Response<v1::CreateAccountsResponse>, Status> {
        let accounts = request.into_inner().accounts;
        self.0
            .account_requests
            .lock()
            .unwrap()
            .push(accounts.clone());
        self.gate(true).await?;
        let results = accounts.iter().map(|a| a.user_data_32 as i32).collect();
        // Each event's timestamp is its `user_data_64`.
        let timestamps = accounts.iter().map(|a| a.user_data_64).collect();
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
        self.0
            .transfer_requests
            .lock()
            .unwrap()
            .push(transfers.clone());
        let stall = self
            .0
            .apply_then_hang
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if stall {
            let ids = transfers.iter().map(|t| u128_from_wire(t.id));
            self.0.applied.lock().unwrap().extend(ids);
            return std::future::pending().await;
        }
        self.gate(true).await?;
        let applied = self.0.applied.lock().unwrap();
        let exists = v1::CreateTransferResult::Exists as i32;
        let results = transfers
            .iter()
            .map(|t| match applied.contains(&u128_from_wire(t.id)) {
                true => exists,
                false => t.user_data_32 as i32,
            })
            .collect();
        // Each event's timestamp is its `user_data_64`.
        let timestamps = transfers.iter().map(|t| t.user_data_64).collect();
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
        self.read(request.consistency).await?;
        let accounts = request.ids.into_iter().map(account).collect();
        Ok(Response::new(v1::LookupAccountsResponse { accounts }))
    }

    async fn lookup_transfers(
        &self,
        request: Request<v1::LookupTransfersRequest>,
    ) -> Result<Response<v1::LookupTransfersResponse>, Status> {
        let request = request.into_inner();
        self.read(request.consistency).await?;
        let transfers = request
            .ids
            .into_iter()
            .map(|id| transfer(id.get()))
            .collect();
        Ok(Response::new(v1::LookupTransfersResponse { transfers }))
    }

    async fn get_account_transfers(
        &self,
        request: Request<v1::GetAccountTransfersRequest>,
    ) -> Result<Response<v1::GetAccountTransfersResponse>, Status> {
        let request = request.into_inner();
        self.read(request.consistency).await?;
        let filter = request.filter.unwrap_or_default();
        // One transfer per requested result, ids after the account's.
        let first = u128_from_wire(filter.account_id);
        let transfers = (1..=u128::from(filter.limit.min(3)))
            .map(|i| transfer(first + i))
            .collect();
        Ok(Response::new(v1::GetAccountTransfersResponse { transfers }))
    }

    async fn get_account_balances(
        &self,
        request: Request<v1::GetAccountBalancesRequest>,
    ) -> Result<Response<v1::GetAccountBalancesResponse>, Status> {
        let request = request.into_inner();
        self.read(request.consistency).await?;
        let filter = request.filter.unwrap_or_default();
        let balances = vec![v1::AccountBalance {
            debits_posted: filter.account_id,
            timestamp: filter.timestamp_min,
            ..Default::default()
        }];
        Ok(Response::new(v1::GetAccountBalancesResponse { balances }))
    }

    async fn query_accounts(
        &self,
        request: Request<v1::QueryAccountsRequest>,
    ) -> Result<Response<v1::QueryAccountsResponse>, Status> {
        let request = request.into_inner();
        self.read(request.consistency).await?;
        let filter = request.filter.unwrap_or_default();
        let accounts = vec![account(v1::U128::new(u128::from(filter.ledger)))];
        Ok(Response::new(v1::QueryAccountsResponse { accounts }))
    }

    async fn query_transfers(
        &self,
        request: Request<v1::QueryTransfersRequest>,
    ) -> Result<Response<v1::QueryTransfersResponse>, Status> {
        let request = request.into_inner();
        self.read(request.consistency).await?;
        let filter = request.filter.unwrap_or_default();
        let transfers = vec![transfer(u128::from(filter.code))];
        Ok(Response::new(v1::QueryTransfersResponse { transfers }))
    }
}
