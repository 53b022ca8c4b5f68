//! `tally-jepsen`: the fault-injection harness. Not built yet: it needs the cluster and the SDK
//! (issue 6). Until then this crate is empty on purpose.
