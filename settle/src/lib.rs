//! `tally-settle`: the settlement kit. Game providers send bets, wins and rollbacks in their
//! own formats; the kit normalizes them, posts them to Tally with deterministic ids (a replay
//! never posts twice), splits each round's gross gaming revenue between the provider, the
//! aggregator, the operator and its agent by per-partner terms, in several currencies with FX,
//! and reads statements and reconciliations back from Tally.
//!
//! # Layout
//!
//! - [`format`]: provider feed formats as TOML configuration (three shipped);
//!   [`feeds`]: the generic engine reading any of them -> [`event::GameEvent`]; [`ids`]:
//!   deterministic ids.
//! - [`terms`]: the TOML terms; [`money`]: currencies and FX; [`split`]: exact splitting and
//!   the rounding rule; [`chart`]: the chart of accounts and transfer codes.
//! - [`round`]: a round's transfers (pure); [`ingest`]: posting them through `tally-client`,
//!   per-bet rollbacks and late events included; [`state`]: a round as Tally holds it;
//!   [`correct`]: corrections of settled rounds (one chain reversing and re-posting).
//! - [`statement`], [`reconcile`]: reports computed from Tally's accounts and transfers;
//!   [`payout`]: a partner's net for a period to its payout account, exactly once.
//! - `src/main.rs`: the `tally-settle` binary. `samples/`: feeds, terms, provider reports, the
//!   shipped format files (`samples/formats/`) and a provider defined in TOML (`samples/delta/`).
//!   `tests/`: the kit end to end against an in-process Tally server.
//!
//! # Boundary
//!
//! The kit talks to Tally only through `tally-client`; it keeps no state of its own. Everything
//! a report says is read back from the ledger.
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use tally_settle::{feeds, ingest, terms::Terms};
//! let terms = Terms::load("settle/samples/terms.toml".as_ref())?;
//! let client = tally_client::Client::connect(["127.0.0.1:7100"]).await?;
//! let provider = terms.provider("alpha").unwrap();
//! let text = std::fs::read_to_string("settle/samples/feeds/alpha.jsonl")?;
//! let parsed = feeds::parse(&provider.format, "alpha", &text, terms.currencies());
//! let report = ingest::ingest(&client, &terms, parsed.events, parsed.errors).await?;
//! println!("{} rounds settled, {} duplicates", report.rounds_settled, report.duplicates);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod chart;
pub mod correct;
pub mod error;
pub mod event;
pub mod feeds;
pub mod format;
pub mod ids;
pub mod ingest;
pub mod money;
pub mod payout;
pub mod query;
pub mod reconcile;
pub mod round;
pub mod split;
pub mod state;
pub mod statement;
pub mod terms;
pub mod wide;

pub use error::{Error, Result};
