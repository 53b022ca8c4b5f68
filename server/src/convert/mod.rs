//! Wire (`tally_proto::v1`) to core (`tally_ledger`) conversions and back, one file per record.
//!
//! Inbound conversions validate what the wire can express but the core cannot: a `code` above
//! 65535 fails the whole request ([`Invalid`], mapped to `INVALID_ARGUMENT`). Flag bits the core
//! does not have (bits 16..32 of a `uint32`) are folded into a reserved bit of the core's `u16`,
//! so the event fails with the same `RESERVED_FLAG` result code that any other reserved bit gets.

mod account;
mod filter;
mod transfer;

pub use account::{account_from_wire, account_to_wire, balance_to_wire};
pub use filter::{account_filter_from_wire, query_filter_from_wire};
pub use transfer::{transfer_from_wire, transfer_to_wire};

/// A request the core cannot express: the whole request is refused with `INVALID_ARGUMENT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// Narrows a wire `code` to the core's 16 bits. `index` is the event's position in its request,
/// counting from 0 as the results do (and as the message says).
fn code(what: &str, index: usize, code: u32) -> Result<u16, Invalid> {
    u16::try_from(code).map_err(|_| {
        Invalid(format!(
            "{what} at index {index} (counting from 0): code {code} does not fit in 16 bits \
             (at most 65535)"
        ))
    })
}

/// Narrows wire flags to the core's 16 bits. Bits above 15 are reserved on every record, and
/// so is bit 15 in the core: folding them into bit 15 keeps the event's outcome
/// (`RESERVED_FLAG`) instead of failing the request.
fn flags(flags: u32) -> u16 {
    let low = (flags & 0xFFFF) as u16;
    if flags > 0xFFFF {
        low | 0x8000
    } else {
        low
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_flag_bits_fold_into_a_reserved_bit() {
        assert_eq!(flags(0x3), 0x3);
        assert_eq!(flags(0x1_0001), 0x8001);
        assert_eq!(flags(u32::MAX), 0xFFFF);
    }

    #[test]
    fn code_above_16_bits_is_refused() {
        assert_eq!(code("transfer", 0, 65535), Ok(65535));
        let e = code("transfer", 3, 65536).unwrap_err();
        assert!(e.0.contains("transfer at index 3 (counting from 0)"), "{e}");
    }
}
