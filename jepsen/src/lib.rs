//! `tally-jepsen`: a Jepsen-style harness for Tally.
pub mod checker;
pub mod client;
pub mod cluster;
pub mod history;
pub mod nemesis;
pub mod proxy;
pub mod run;
pub mod workload;
