//! Byte encodings owned by `tally-raft`: the ledger command inside a Raft entry, and postcard for
//! everything openraft hands us (entries, votes, log ids).
//!
//! # Command layout
//!
//! A [`Command`] is encoded without serde, from the ledger's own fixed-width records
//! ([`keys::encode_account`], [`keys::encode_transfer`]), so `tally-ledger` stays serde-free:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | tag: [`TAG_CREATE_ACCOUNTS`], [`TAG_CREATE_TRANSFERS`] or [`TAG_PULSE`] |
//! | 4 | event count `n`, little-endian `u32` (absent for `Pulse`) |
//! | `n` × 128 | the events, each in the ledger's 128-byte value layout |
//!
//! Decoding is total: any byte string gives a `Command` or a [`CodecError`], never a panic, and a
//! decoded command encodes back to the same bytes (the reserved bytes of an account must be zero).

use serde::de::DeserializeOwned;
use serde::Serialize;
use tally_ledger::keys::{self, ACCOUNT_SIZE, TRANSFER_SIZE};
use tally_ledger::Command;

/// Tag of [`Command::CreateAccounts`]. Tag values are part of the log format; never reuse one.
pub const TAG_CREATE_ACCOUNTS: u8 = 1;
/// Tag of [`Command::CreateTransfers`].
pub const TAG_CREATE_TRANSFERS: u8 = 2;
/// Tag of [`Command::Pulse`].
pub const TAG_PULSE: u8 = 3;

/// Bytes before the events: tag and count.
const HEADER: usize = 1 + 4;
/// Offset of the account record's 4 reserved bytes (after five balances/ids, user_data_128,
/// user_data_64 and user_data_32); see [`keys::encode_account`].
const ACCOUNT_RESERVED: std::ops::Range<usize> = 108..112;

/// Bytes that do not decode.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// A command payload is malformed; the message says how.
    #[error("malformed command: {0}")]
    Command(&'static str),
    /// A ledger record inside a command does not decode.
    #[error("malformed command record: {0}")]
    Record(#[from] tally_ledger::StoreError),
    /// postcard failed to encode or decode a value (truncated or corrupt bytes).
    #[error("postcard: {0}")]
    Postcard(#[from] postcard::Error),
    /// A postcard value decoded but did not fill its slot: corrupt or of another type.
    #[error("{0} trailing bytes after value")]
    TrailingBytes(usize),
}

impl From<CodecError> for std::io::Error {
    fn from(e: CodecError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }
}

/// Encodes `cmd` in the layout above.
pub fn encode_command(cmd: &Command) -> Vec<u8> {
    match cmd {
        Command::CreateAccounts(v) => {
            let mut out = header(TAG_CREATE_ACCOUNTS, v.len(), ACCOUNT_SIZE);
            for a in v {
                out.extend_from_slice(&keys::encode_account(a));
            }
            out
        }
        Command::CreateTransfers(v) => {
            let mut out = header(TAG_CREATE_TRANSFERS, v.len(), TRANSFER_SIZE);
            for t in v {
                out.extend_from_slice(&keys::encode_transfer(t));
            }
            out
        }
        Command::Pulse => vec![TAG_PULSE],
    }
}

fn header(tag: u8, n: usize, size: usize) -> Vec<u8> {
    // A batch never comes near u32::MAX events (the ledger caps it at BATCH_MAX, and an entry
    // that large could not be allocated); saturate rather than wrap so a bug cannot produce a
    // count that decodes as a different, valid command.
    let count = u32::try_from(n).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(HEADER + n * size);
    out.push(tag);
    out.extend_from_slice(&count.to_le_bytes());
    out
}

/// Decodes [`encode_command`]'s layout.
pub fn decode_command(b: &[u8]) -> Result<Command, CodecError> {
    let (&tag, rest) = b
        .split_first()
        .ok_or(CodecError::Command("empty payload"))?;
    match tag {
        TAG_PULSE if rest.is_empty() => Ok(Command::Pulse),
        TAG_PULSE => Err(CodecError::Command("bytes after pulse")),
        TAG_CREATE_ACCOUNTS => {
            let records = records(rest, ACCOUNT_SIZE)?;
            let mut v = Vec::with_capacity(records.len() / ACCOUNT_SIZE);
            for r in records.chunks_exact(ACCOUNT_SIZE) {
                if r[ACCOUNT_RESERVED].iter().any(|&x| x != 0) {
                    return Err(CodecError::Command("account reserved bytes are not zero"));
                }
                v.push(keys::decode_account(r)?);
            }
            Ok(Command::CreateAccounts(v))
        }
        TAG_CREATE_TRANSFERS => {
            let records = records(rest, TRANSFER_SIZE)?;
            let mut v = Vec::with_capacity(records.len() / TRANSFER_SIZE);
            for r in records.chunks_exact(TRANSFER_SIZE) {
                v.push(keys::decode_transfer(r)?);
            }
            Ok(Command::CreateTransfers(v))
        }
        _ => Err(CodecError::Command("unknown tag")),
    }
}

/// Checks the count against the length and returns the record bytes.
fn records(b: &[u8], size: usize) -> Result<&[u8], CodecError> {
    let (count, records) = b
        .split_first_chunk::<4>()
        .ok_or(CodecError::Command("truncated count"))?;
    let expected = (u32::from_le_bytes(*count) as usize).checked_mul(size);
    if expected != Some(records.len()) {
        return Err(CodecError::Command("length does not match event count"));
    }
    Ok(records)
}

/// postcard-encodes `value` (entries, votes, log ids: anything openraft gives us).
pub fn to_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    Ok(postcard::to_stdvec(value)?)
}

/// Decodes [`to_bytes`]'s output. Trailing bytes are an error: a value must fill its slot.
pub fn from_bytes<T: DeserializeOwned>(b: &[u8]) -> Result<T, CodecError> {
    let (value, rest) = postcard::take_from_bytes(b)?;
    if !rest.is_empty() {
        return Err(CodecError::TrailingBytes(rest.len()));
    }
    Ok(value)
}

#[cfg(test)]
pub(crate) mod tests {
    use tally_ledger::{Account, Transfer};

    use super::*;

    fn max_account() -> Account {
        Account {
            id: u128::MAX,
            debits_pending: u128::MAX,
            debits_posted: u128::MAX,
            credits_pending: u128::MAX,
            credits_posted: u128::MAX,
            user_data_128: u128::MAX,
            user_data_64: u64::MAX,
            user_data_32: u32::MAX,
            ledger: u32::MAX,
            code: u16::MAX,
            flags: u16::MAX,
            timestamp: u64::MAX,
        }
    }

    fn max_transfer() -> Transfer {
        Transfer {
            id: u128::MAX,
            debit_account_id: u128::MAX,
            credit_account_id: u128::MAX,
            amount: u128::MAX,
            pending_id: u128::MAX,
            user_data_128: u128::MAX,
            user_data_64: u64::MAX,
            user_data_32: u32::MAX,
            timeout: u32::MAX,
            ledger: u32::MAX,
            code: u16::MAX,
            flags: u16::MAX,
            timestamp: u64::MAX,
        }
    }

    /// Distinct values in every field, so a swapped field cannot round-trip by accident.
    fn distinct_transfer(i: u128) -> Transfer {
        Transfer {
            id: i + 1,
            debit_account_id: i + 2,
            credit_account_id: i + 3,
            amount: i + 4,
            pending_id: i + 5,
            user_data_128: i + 6,
            user_data_64: 7,
            user_data_32: 8,
            timeout: 9,
            ledger: 10,
            code: 11,
            flags: 12,
            timestamp: 13,
        }
    }

    pub(crate) fn every_command() -> Vec<Command> {
        let a = Account {
            id: 1,
            debits_pending: 2,
            debits_posted: 3,
            credits_pending: 4,
            credits_posted: 5,
            user_data_128: 6,
            user_data_64: 7,
            user_data_32: 8,
            ledger: 9,
            code: 10,
            flags: 11,
            timestamp: 12,
        };
        vec![
            Command::CreateAccounts(vec![]),
            Command::CreateAccounts(vec![a]),
            Command::CreateAccounts(vec![a, max_account(), Account::default()]),
            Command::CreateTransfers(vec![]),
            Command::CreateTransfers((0..50).map(distinct_transfer).collect()),
            Command::CreateTransfers(vec![max_transfer(), Transfer::default()]),
            Command::Pulse,
        ]
    }

    #[test]
    fn every_command_kind_round_trips() {
        for cmd in every_command() {
            let b = encode_command(&cmd);
            assert_eq!(decode_command(&b).unwrap(), cmd);
            // Canonical: one command, one byte string.
            assert_eq!(encode_command(&decode_command(&b).unwrap()), b);
        }
    }

    #[test]
    fn layout_is_tag_count_records() {
        let b = encode_command(&Command::CreateTransfers(vec![Transfer::default(); 3]));
        assert_eq!(b.len(), HEADER + 3 * TRANSFER_SIZE);
        assert_eq!(b[..HEADER], [TAG_CREATE_TRANSFERS, 3, 0, 0, 0]);
        assert_eq!(encode_command(&Command::Pulse), [TAG_PULSE]);
        assert_eq!(
            encode_command(&Command::CreateAccounts(vec![])),
            [TAG_CREATE_ACCOUNTS, 0, 0, 0, 0]
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        for cmd in every_command() {
            let b = encode_command(&cmd);
            for len in 0..b.len() {
                assert!(decode_command(&b[..len]).is_err(), "{cmd:?} cut at {len}");
            }
        }
    }

    #[test]
    fn malformed_payloads_are_errors() {
        let mut cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![4],
            vec![0xff; 64],
            vec![TAG_PULSE, 0],
            vec![TAG_CREATE_ACCOUNTS, 1, 0, 0],
            // Count says 1, no record.
            vec![TAG_CREATE_TRANSFERS, 1, 0, 0, 0],
            // Count says u32::MAX: must not overflow or allocate.
            vec![TAG_CREATE_TRANSFERS, 0xff, 0xff, 0xff, 0xff],
        ];
        // One byte too many.
        let mut extra = encode_command(&Command::CreateTransfers(vec![Transfer::default()]));
        extra.push(0);
        cases.push(extra);
        // Non-zero reserved bytes in an account.
        let mut reserved = encode_command(&Command::CreateAccounts(vec![Account::default()]));
        reserved[HEADER + ACCOUNT_RESERVED.start] = 1;
        cases.push(reserved);
        for b in cases {
            assert!(decode_command(&b).is_err(), "{b:?}");
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = fastrand::Rng::with_seed(7);
        let base = encode_command(&Command::CreateAccounts(vec![Account::default(); 2]));
        for _ in 0..2_000 {
            let mut b = base.clone();
            // Flip a few bytes, sometimes in the header, then maybe cut.
            for _ in 0..rng.usize(1..4) {
                let i = rng.usize(..b.len());
                b[i] = rng.u8(..);
            }
            b.truncate(rng.usize(..=b.len()));
            if let Ok(cmd) = decode_command(&b) {
                assert_eq!(encode_command(&cmd), b, "decoded bytes are canonical");
            }
        }
    }

    #[test]
    fn from_bytes_rejects_trailing_and_truncated() {
        let b = to_bytes(&(7u64, 9u32)).unwrap();
        assert_eq!(from_bytes::<(u64, u32)>(&b).unwrap(), (7, 9));
        let mut long = b.clone();
        long.push(0);
        assert!(from_bytes::<(u64, u32)>(&long).is_err());
        assert!(from_bytes::<(u64, u32)>(&b[..b.len() - 1]).is_err());
    }
}
