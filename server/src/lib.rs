//! `tally-server`: the gRPC server and the `tally` binary. Not built yet: it arrives with the
//! replicated cluster (issue 3). Until then this crate is empty on purpose.
