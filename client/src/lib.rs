//! `tally-client`: the Rust SDK. Not built yet: it arrives after the server (issue 4). Until then
//! this crate is empty on purpose.
