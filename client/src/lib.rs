//! `tally-client`: the Rust SDK for Tally, a Raft-replicated double-entry ledger.
//!
//! A [`Client`] speaks the `tally.v1.Ledger` gRPC service to a cluster. It finds the leader
//! (following the `tally-leader-addr` hint a follower answers with, otherwise trying the given
//! addresses in turn), follows leader changes, and retries failures that may be transient with
//! the identical request until an overall deadline. No call hangs: when the deadline passes, the
//! call ends with an [`Error`] that says whether a write may have been applied
//! ([`Error::is_indeterminate`]). Ids are idempotency keys, so resending the same events is
//! always safe: an event that was applied answers `Exists`. Because the client resends on its
//! own, a call can answer `Exists` for an event only it sent; `is_applied()` on a result
//! accepts both `Ok` and `Exists`.
//!
//! Business outcomes are result codes, one per event ([`CreateTransferResult`],
//! [`CreateAccountResult`]); errors are reserved for requests that failed as a whole.
//!
//! # Retries under overload
//!
//! Retries are limited so that a client calms a load spike instead of feeding it. A retry
//! budget shared by every call of one client lets retries be at most
//! [`ClientOptions::retry_budget_percent`] (20%) of the calls' first attempts over a sliding
//! window ([`ClientOptions::retry_budget_window`], 10 s), plus a small reserve
//! ([`ClientOptions::retry_budget_min_per_sec`], 10 a second) so a quiet client can still
//! retry; following a leader hint is not a retry. Waits between attempts are capped
//! exponential backoff with full jitter, never shorter than the wait a server names in
//! `tally-retry-after-ms` (an overloaded server's `RESOURCE_EXHAUSTED` carries one). When the
//! budget is spent, a call ends at once with the error of its last attempt: a refusal that
//! proved nothing was applied stays definite ([`Error::ResourceExhausted`], not
//! indeterminate), so the caller knows it may send the events again later.
//!
//! While the cluster keeps refusing requests as overloaded, the client also throttles itself
//! (after Google SRE's client-side throttling), writes and reads apart: it refuses locally, with
//! [`Error::ResourceExhausted`] and nothing sent ([`Error::is_throttled`]), a share of its
//! attempts chosen so that those it sends stay near
//! [`ClientOptions::overload_throttle_percent`] (110%) of those the cluster accepted in the
//! last [`ClientOptions::overload_throttle_interval`] (100 ms). A spike then costs the cluster
//! little beyond what it serves, even with one-event requests, whose refusal costs a server
//! about a third of serving them. Once refusals stop, the share sent doubles every interval. [`Client::retry_stats`] counts first attempts, retries, redirects, refused retries
//! and attempts the throttle refused.
//!
//! # Layout
//!
//! - [`client`](Client): the typed API, one method per RPC, plus single-event
//!   [`Client::create_transfer`] / [`Client::create_account`], which the batcher packs with
//!   concurrent calls into one request.
//! - `transport`: channels per node, the known leader, the retry loop and how each gRPC status is
//!   judged. `retry`: the retry budget and the backoff. `throttle`: the overload throttle.
//!   `window`: the retry budget's sliding window. `batcher`: the bounded queue and
//!   background task behind single-event calls.
//! - [`Account`], [`Transfer`], [`AccountBalance`], [`AccountFilter`], [`QueryFilter`] and
//!   their flag sets: plain `u128` fields, converted to and from `tally_proto::v1`.
//! - [`results`]: the result enums, mirroring the proto enums number by number.
//! - [`TlsOptions`]: the CA, client certificate and server name of a client that speaks TLS
//!   ([`ClientOptions::tls`]).
//! - [`node_status`] / [`admin_client`]: one node's Admin service, asked directly (no leader
//!   search, no retries), for tools that inspect a cluster node by node.
//! - Helpers: [`id`] / [`IdGenerator`] (time-ordered unique ids), [`Currency`] / [`Scale`]
//!   (`Decimal` <-> minor units), transfer builders on [`Transfer`], and [`LinkedChain`].
//! - `tests/`: the client against mock `tally.v1.Ledger` nodes on loopback (leader hints,
//!   retries, deadlines, the retry budget, batching, reads) and the dependency boundary. `examples/`: programs
//!   for a running node. Recipes: `docs/guides/client.md`.
//!
//! # Boundary
//!
//! This crate depends on `tally-proto` (the wire format) and small crates only, never on
//! `tally-ledger`, `tally-raft` or `tally-server`: an application links the client without the
//! storage engine. It assumes nothing about the server beyond the gRPC contract: statuses,
//! the leader-hint metadata, and one result per event in request order.
//!
//! # Example
//!
//! ```no_run
//! use tally_client::{id, Account, Client, CreateTransferResult, Currency, Transfer};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::connect(["127.0.0.1:7100"]).await?;
//! let usd = Currency::new("USD", 840, 2)?;
//!
//! let (alice, bob) = (id(), id());
//! let results = client
//!     .create_accounts(&[Account::new(alice, usd.ledger, 1), Account::new(bob, usd.ledger, 1)])
//!     .await?;
//! assert!(results.iter().all(|r| r.is_applied())); // Ok, or Exists after an internal resend
//!
//! let amount = usd.to_minor("12.50".parse()?)?; // 1250 cents
//! match client.create_transfer(Transfer::new(id(), alice, bob, amount, usd.ledger, 1)).await {
//!     Ok(CreateTransferResult::Ok) => println!("sent"),
//!     Ok(rejected) => println!("rejected: {rejected}"),
//!     // The transfer may or may not have applied: resend it with the same id to find out.
//!     Err(e) if e.is_indeterminate() => println!("unknown: {e}"),
//!     Err(e) => return Err(e.into()),
//! }
//!
//! let accounts = client.lookup_accounts(&[alice, bob]).await?;
//! for a in accounts {
//!     println!("{:x}: credits {}", a.id, usd.to_decimal(a.credits_posted)?);
//! }
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod account;
mod admin;
mod amount;
mod batcher;
mod chain;
mod client;
mod error;
mod filter;
mod flags;
mod ids;
mod options;
pub mod results;
mod retry;
mod throttle;
mod tls;
mod transfer;
mod transport;
mod window;

pub use account::{Account, AccountBalance};
pub use admin::{admin_client, admin_client_with, node_status, node_status_with};
pub use amount::{AmountError, Currencies, Currency, Scale};
pub use chain::{Linkable, LinkedChain};
pub use client::Client;
pub use error::Error;
pub use filter::{AccountFilter, QueryFilter, ReadConsistency, BATCH_MAX};
pub use flags::{AccountFilterFlags, AccountFlags, QueryFilterFlags, TransferFlags};
pub use ids::{id, IdGenerator};
pub use options::ClientOptions;
pub use results::{CreateAccountResult, CreateTransferResult, EventResult};
pub use retry::RetryStats;
/// The `Decimal` type the amount helpers take and return.
pub use rust_decimal::Decimal;
pub use tls::TlsOptions;
pub use transfer::{PostAmount, Transfer, AMOUNT_MAX};
pub use transport::{LEADER_ADDR_KEY, LEADER_ID_KEY, NOT_APPLIED_KEY, RETRY_AFTER_KEY};
