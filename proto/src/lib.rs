//! `tally-proto`: Tally's wire format, the protobuf data model and its gRPC services.
//!
//! Any language with a gRPC toolchain can speak to Tally from the `.proto` files in this
//! crate's `proto/` directory; this crate is the Rust side of them, generated at build time.
//!
//! - `Ledger` (`ledger.proto`): the public API. Accounts, transfers, balances and filters
//!   mirror the ledger core field by field; the result enums mirror the core's result codes
//!   number by number, in precedence order. Writes take batches and answer one result code per
//!   event; reads take a [`v1::ReadConsistency`].
//! - `Admin` (`admin.proto`): cluster status, membership changes, leadership transfer,
//!   snapshots.
//! - `Raft` (`raft.proto`): node-to-node transport carrying opaque bytes that `tally-raft`
//!   encodes; not a public API.
//!
//! Every `u128` travels as a [`v1::U128`] of two `fixed64` halves, never as a string or a
//! float. proto3 message fields are optional, so the generated structs hold `Option<U128>`;
//! an absent value means 0. [`u128_from_wire`] and [`u128_to_wire`] apply that rule.
//!
//! # Layout
//!
//! - `proto/tally/v1/*.proto`: the source of truth for the wire format.
//! - `build.rs`: parses them with the pure-Rust `protox` (no system `protoc` needed) and
//!   generates messages, clients and servers with `tonic-prost-build`.
//! - [`v1`]: the generated code (`v1::ledger_client::LedgerClient`,
//!   `v1::ledger_server::{Ledger, LedgerServer}`, and likewise for `Admin` and `Raft`).
//! - [`codec`]: the servers' codec: a request that cannot be decoded is `INVALID_ARGUMENT`.
//! - This file: `u128` conversions and the encoded [`FILE_DESCRIPTOR_SET`].
//!
//! # Boundary
//!
//! This crate holds the wire format and nothing else: no conversions to the core types, no
//! validation, no business rules. It depends on prost and tonic and never on `tally-ledger` in
//! normal builds (only its tests do, to prove the enums and flag bits mirror the core).
//! Converting between wire and core types is the server's job (`server/src/convert/`), and the
//! client SDK depends on this crate without pulling in the ledger.
//!
//! # Example
//!
//! ```
//! use prost::Message;
//! use tally_proto::{u128_from_wire, u128_to_wire, v1};
//!
//! let transfer = v1::Transfer {
//!     id: u128_to_wire(u128::MAX - 1),
//!     debit_account_id: u128_to_wire(1),
//!     credit_account_id: u128_to_wire(2),
//!     amount: u128_to_wire(250),
//!     ledger: 1,
//!     code: 1,
//!     flags: v1::TransferFlag::Pending as u32 | v1::TransferFlag::Linked as u32,
//!     ..Default::default()
//! };
//! let request = v1::CreateTransfersRequest { transfers: vec![transfer] };
//!
//! let decoded = v1::CreateTransfersRequest::decode(request.encode_to_vec().as_slice()).unwrap();
//! assert_eq!(u128_from_wire(decoded.transfers[0].id), u128::MAX - 1);
//! assert_eq!(u128_from_wire(decoded.transfers[0].pending_id), 0); // absent means 0
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod codec;

/// Generated from `proto/tally/v1/*.proto` (protobuf package `tally.v1`).
// Not our code to fix: the lints stay on for the hand-written code around it.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/tally.v1.rs"));
    include!(concat!(env!("OUT_DIR"), "/client/tally.v1.rs"));
}

/// The encoded `google.protobuf.FileDescriptorSet` of every `.proto` file in this crate, for
/// gRPC server reflection and for tests that inspect the schema.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/tally_descriptor.bin"));

impl v1::U128 {
    /// Splits `value` into its two 64-bit halves.
    pub const fn new(value: u128) -> Self {
        // Truncation is the point: `lo` keeps the low 64 bits, `hi` the rest.
        Self {
            lo: value as u64,
            hi: (value >> 64) as u64,
        }
    }

    /// Joins the two halves back into one `u128`.
    pub const fn get(self) -> u128 {
        ((self.hi as u128) << 64) | self.lo as u128
    }
}

impl From<u128> for v1::U128 {
    fn from(value: u128) -> Self {
        Self::new(value)
    }
}

impl From<v1::U128> for u128 {
    fn from(value: v1::U128) -> Self {
        value.get()
    }
}

/// Reads an optional `U128` field: absent means 0, as for every proto3 scalar.
pub fn u128_from_wire(value: Option<v1::U128>) -> u128 {
    value.map_or(0, v1::U128::get)
}

/// Writes a `U128` field. Zero is left absent, which decodes as 0 and saves two bytes per field;
/// any other value is present. `u128_from_wire(u128_to_wire(x)) == x` for every `x`.
pub fn u128_to_wire(value: u128) -> Option<v1::U128> {
    (value != 0).then(|| v1::U128::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn u128_halves_are_little_end_first() {
        let v = v1::U128::new((7u128 << 64) | 9);
        assert_eq!((v.lo, v.hi), (9, 7));
    }

    #[test]
    fn u128_encodes_as_two_fixed64_fields() {
        // Field 1, wire type 1 (64-bit): tag byte 0x09; field 2: 0x11. Zero halves are omitted.
        assert_eq!(
            v1::U128::new(1).encode_to_vec(),
            [0x09, 1, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            v1::U128::new(1 << 64).encode_to_vec(),
            [0x11, 1, 0, 0, 0, 0, 0, 0, 0]
        );
        assert!(v1::U128::new(0).encode_to_vec().is_empty());
    }

    #[test]
    fn zero_is_absent_on_the_wire_and_reads_back_as_zero() {
        assert_eq!(u128_to_wire(0), None);
        assert_eq!(u128_from_wire(None), 0);
        assert_eq!(u128_to_wire(5), Some(v1::U128 { lo: 5, hi: 0 }));
        // A present zero (another encoder's choice) reads the same as an absent one.
        assert_eq!(u128_from_wire(Some(v1::U128::default())), 0);
    }

    #[test]
    fn reads_default_to_linearizable() {
        let request = v1::LookupAccountsRequest::default();
        assert_eq!(request.consistency(), v1::ReadConsistency::Linearizable);
        assert_eq!(v1::ReadConsistency::Linearizable as i32, 0);
        assert_eq!(v1::ReadConsistency::Stale as i32, 1);
    }
}
