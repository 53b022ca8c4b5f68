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
//! | 1 | tag: [`TAG_CREATE_ACCOUNTS`], [`TAG_PACKED_TRANSFERS`] or [`TAG_PULSE`] |
//! | 4 | event count `n`, little-endian `u32` (absent for `Pulse`) |
//! | ... | the `n` events |
//!
//! Accounts are `n` × 128 bytes, each in the ledger's 128-byte value layout. Transfers are
//! packed, because they are most of every log entry and every byte of an entry is written to
//! the log's WAL, its memtable and a blob file on each replica and sent to each follower
//! (measured: 128 more bytes per transfer cost a node ~0.5 µs of CPU per transfer, 15% of it).
//! Each transfer is
//!
//! | bytes | field |
//! |---|---|
//! | 2 | presence mask, little-endian `u16`: bit `i` set when optional field `i` is not zero |
//! | 1 | `L`, the length of `amount` in bytes (0 to 16) |
//! | 16 + 16 + 16 | `id`, `debit_account_id`, `credit_account_id`, little-endian |
//! | `L` | `amount`, little-endian, without its high zero bytes |
//! | ... | each present optional field, in bit order, little-endian at its full width |
//!
//! The optional fields, bit 0 first: `pending_id`, `user_data_128`, `user_data_64`,
//! `user_data_32`, `timeout`, `ledger`, `code`, `flags`, `timestamp` (see [`OPTIONAL`]). A
//! typical transfer (no user data, no pending id, amount below 2^24) takes 60 bytes instead of
//! 128. Tag [`TAG_CREATE_TRANSFERS`], the earlier layout (`n` × 128 bytes), is still decoded so
//! that logs written before the packed layout replay; nothing writes it any more.
//!
//! Decoding is total: any byte string gives a `Command` or a [`CodecError`], never a panic, and a
//! decoded command encodes back to the same bytes, earlier-layout transfers aside (the reserved
//! bytes of an account must be zero; a packed transfer must not mark a zero field present, give
//! its amount a high zero byte, or set an unknown mask bit).

use serde::de::DeserializeOwned;
use serde::Serialize;
use tally_ledger::keys::{self, ACCOUNT_SIZE, TRANSFER_SIZE};
use tally_ledger::{Command, Transfer};

/// Tag of [`Command::CreateAccounts`]. Tag values are part of the log format; never reuse one.
pub const TAG_CREATE_ACCOUNTS: u8 = 1;
/// Tag of [`Command::CreateTransfers`] in the earlier fixed layout (`n` × 128 bytes): decoded,
/// no longer written.
pub const TAG_CREATE_TRANSFERS: u8 = 2;
/// Tag of [`Command::Pulse`].
pub const TAG_PULSE: u8 = 3;
/// Tag of [`Command::CreateTransfers`] in the packed layout.
pub const TAG_PACKED_TRANSFERS: u8 = 4;

/// A packed transfer's optional fields in mask-bit order: name and width in bytes.
pub const OPTIONAL: [(&str, usize); 9] = [
    ("pending_id", 16),
    ("user_data_128", 16),
    ("user_data_64", 8),
    ("user_data_32", 4),
    ("timeout", 4),
    ("ledger", 4),
    ("code", 2),
    ("flags", 2),
    ("timestamp", 8),
];
/// Mask bits that name no field.
const UNKNOWN_BITS: u16 = !((1 << OPTIONAL.len()) - 1);
/// A packed transfer's fixed part: mask, amount length and the three ids.
const PACKED_MIN: usize = 2 + 1 + 3 * 16;

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
            // Sized for typical transfers; a batch of full ones grows it once or twice.
            let mut out = header(TAG_PACKED_TRANSFERS, v.len(), 64);
            for t in v {
                pack_transfer(t, &mut out);
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
        TAG_PACKED_TRANSFERS => unpack_transfers(rest),
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

/// Appends `t` in the packed layout.
fn pack_transfer(t: &Transfer, out: &mut Vec<u8>) {
    // The optional fields in mask-bit order, as in OPTIONAL.
    let optional: [u128; OPTIONAL.len()] = [
        t.pending_id,
        t.user_data_128,
        t.user_data_64.into(),
        t.user_data_32.into(),
        t.timeout.into(),
        t.ledger.into(),
        t.code.into(),
        t.flags.into(),
        t.timestamp.into(),
    ];
    let mask = optional
        .iter()
        .enumerate()
        .filter(|(_, v)| **v != 0)
        .fold(0u16, |m, (i, _)| m | 1 << i);
    let amount = t.amount.to_le_bytes();
    let amount_len = 16 - t.amount.leading_zeros() as usize / 8;
    out.extend_from_slice(&mask.to_le_bytes());
    // At most 16: fits a byte.
    out.push(amount_len as u8);
    out.extend_from_slice(&t.id.to_le_bytes());
    out.extend_from_slice(&t.debit_account_id.to_le_bytes());
    out.extend_from_slice(&t.credit_account_id.to_le_bytes());
    out.extend_from_slice(&amount[..amount_len]);
    for (v, (_, width)) in optional.into_iter().zip(OPTIONAL) {
        if v != 0 {
            out.extend_from_slice(&v.to_le_bytes()[..width]);
        }
    }
}

/// Decodes the count and the packed transfers after the tag.
fn unpack_transfers(b: &[u8]) -> Result<Command, CodecError> {
    let (count, mut rest) = b
        .split_first_chunk::<4>()
        .ok_or(CodecError::Command("truncated count"))?;
    let n = u32::from_le_bytes(*count) as usize;
    // Every packed transfer takes at least PACKED_MIN bytes: a count the bytes cannot hold is
    // an error before anything is allocated for it.
    if n.checked_mul(PACKED_MIN).is_none_or(|min| min > rest.len()) {
        return Err(CodecError::Command("length does not match event count"));
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let (t, tail) = unpack_transfer(rest)?;
        v.push(t);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(CodecError::Command("length does not match event count"));
    }
    Ok(Command::CreateTransfers(v))
}

/// Splits `width` bytes off the front of `b` as a little-endian integer.
fn take(b: &[u8], width: usize) -> Result<(u128, &[u8]), CodecError> {
    if b.len() < width {
        return Err(CodecError::Command("truncated transfer"));
    }
    let (head, tail) = b.split_at(width);
    let mut le = [0u8; 16];
    le[..width].copy_from_slice(head);
    Ok((u128::from_le_bytes(le), tail))
}

/// Decodes one packed transfer from the front of `b`; returns it and the bytes after it.
fn unpack_transfer(b: &[u8]) -> Result<(Transfer, &[u8]), CodecError> {
    let (mask, b) = take(b, 2)?;
    let (amount_len, b) = take(b, 1)?;
    // `take` reads at most 2 bytes here: both fit their types.
    let (mask, amount_len) = (mask as u16, amount_len as usize);
    if mask & UNKNOWN_BITS != 0 {
        return Err(CodecError::Command(
            "unknown bits in a transfer's presence mask",
        ));
    }
    if amount_len > 16 {
        return Err(CodecError::Command("transfer amount longer than 16 bytes"));
    }
    let (id, b) = take(b, 16)?;
    let (debit_account_id, b) = take(b, 16)?;
    let (credit_account_id, b) = take(b, 16)?;
    let (amount, mut b) = take(b, amount_len)?;
    if amount_len > 0 && amount >> ((amount_len - 1) * 8) == 0 {
        return Err(CodecError::Command("transfer amount has a high zero byte"));
    }
    let mut optional = [0u128; OPTIONAL.len()];
    for (i, (slot, (_, width))) in optional.iter_mut().zip(OPTIONAL).enumerate() {
        if mask & 1 << i != 0 {
            let (v, tail) = take(b, width)?;
            if v == 0 {
                return Err(CodecError::Command("transfer field marked present is zero"));
            }
            *slot = v;
            b = tail;
        }
    }
    let [pending_id, user_data_128, user_data_64, user_data_32, timeout, ledger, code, flags, timestamp] =
        optional;
    // Each value was read at its field's width (OPTIONAL), so the narrowing casts are exact.
    let t = Transfer {
        id,
        debit_account_id,
        credit_account_id,
        amount,
        pending_id,
        user_data_128,
        user_data_64: user_data_64 as u64,
        user_data_32: user_data_32 as u32,
        timeout: timeout as u32,
        ledger: ledger as u32,
        code: code as u16,
        flags: flags as u16,
        timestamp: timestamp as u64,
    };
    Ok((t, b))
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

    /// The earlier layout: tag 2, count, 128-byte records.
    fn legacy_transfers(v: &[Transfer]) -> Vec<u8> {
        let mut b = header(TAG_CREATE_TRANSFERS, v.len(), TRANSFER_SIZE);
        for t in v {
            b.extend_from_slice(&keys::encode_transfer(t));
        }
        b
    }

    #[test]
    fn layout_is_tag_count_records() {
        let b = encode_command(&Command::CreateTransfers(vec![Transfer::default(); 3]));
        assert_eq!(b.len(), HEADER + 3 * PACKED_MIN);
        assert_eq!(b[..HEADER], [TAG_PACKED_TRANSFERS, 3, 0, 0, 0]);
        let accounts = encode_command(&Command::CreateAccounts(vec![Account::default(); 2]));
        assert_eq!(accounts.len(), HEADER + 2 * ACCOUNT_SIZE);
        assert_eq!(encode_command(&Command::Pulse), [TAG_PULSE]);
        assert_eq!(
            encode_command(&Command::CreateAccounts(vec![])),
            [TAG_CREATE_ACCOUNTS, 0, 0, 0, 0]
        );
    }

    #[test]
    fn a_packed_transfer_is_mask_amount_ids_and_the_present_fields() {
        let t = Transfer {
            id: 1,
            debit_account_id: 2,
            credit_account_id: 3,
            amount: 0x01_0000,
            ledger: 700,
            code: 1,
            user_data_64: 9,
            ..Transfer::default()
        };
        let b = encode_command(&Command::CreateTransfers(vec![t]));
        let mut want = vec![TAG_PACKED_TRANSFERS, 1, 0, 0, 0];
        // user_data_64 (bit 2), ledger (bit 5), code (bit 6); a 3-byte amount.
        want.extend_from_slice(&[0b0110_0100, 0, 3]);
        for id in [1u128, 2, 3] {
            want.extend_from_slice(&id.to_le_bytes());
        }
        want.extend_from_slice(&[0, 0, 1]);
        want.extend_from_slice(&9u64.to_le_bytes());
        want.extend_from_slice(&700u32.to_le_bytes());
        want.extend_from_slice(&1u16.to_le_bytes());
        assert_eq!(b, want);
        // The benchmark's shape (no user data, amount below 2^24): 60 bytes instead of 128.
        assert_eq!(b.len() - HEADER - 8, 60);
    }

    #[test]
    fn transfers_in_the_earlier_fixed_layout_still_decode() {
        let v: Vec<Transfer> = (0..5)
            .map(distinct_transfer)
            .chain([max_transfer()])
            .collect();
        let b = legacy_transfers(&v);
        assert_eq!(decode_command(&b).unwrap(), Command::CreateTransfers(v));
        let mut cut = legacy_transfers(&[Transfer::default()]);
        cut.pop();
        assert!(decode_command(&cut).is_err());
    }

    #[test]
    fn non_canonical_packed_transfers_are_errors() {
        let one = |t: Transfer| encode_command(&Command::CreateTransfers(vec![t]));
        let base = one(Transfer {
            amount: 5,
            ..Transfer::default()
        });
        let mask = HEADER..HEADER + 2;
        let amount_len = HEADER + 2;
        let mut cases = Vec::new();
        // An unknown mask bit.
        let mut b = base.clone();
        b[mask.clone()].copy_from_slice(&(1u16 << 9).to_le_bytes());
        cases.push(b);
        // A present field that is zero (pending_id present, 16 zero bytes).
        let mut b = base.clone();
        b[mask.clone()].copy_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&[0; 16]);
        cases.push(b);
        // An amount with a high zero byte (5 written as [5, 0]).
        let mut b = base.clone();
        b[amount_len] = 2;
        b.push(0);
        cases.push(b);
        // An amount longer than 16 bytes.
        let mut b = base.clone();
        b[amount_len] = 17;
        b.extend_from_slice(&[1; 16]);
        cases.push(b);
        // A count the bytes cannot hold (would allocate for u32::MAX transfers).
        let mut b = base.clone();
        b[1..HEADER].copy_from_slice(&u32::MAX.to_le_bytes());
        cases.push(b);
        for b in cases {
            assert!(decode_command(&b).is_err(), "{b:?}");
        }
        assert!(decode_command(&base).is_ok());
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
        let bases = [
            encode_command(&Command::CreateAccounts(vec![Account::default(); 2])),
            encode_command(&Command::CreateTransfers(vec![
                distinct_transfer(1),
                Transfer::default(),
                max_transfer(),
            ])),
            legacy_transfers(&[distinct_transfer(1), Transfer::default()]),
        ];
        for i in 0..6_000 {
            let base = &bases[i % bases.len()];
            let mut b = base.clone();
            // Flip a few bytes, sometimes in the header, then maybe cut.
            for _ in 0..rng.usize(1..4) {
                let at = rng.usize(..b.len());
                b[at] = rng.u8(..);
            }
            b.truncate(rng.usize(..=b.len()));
            if let Ok(cmd) = decode_command(&b) {
                if b[0] == TAG_CREATE_TRANSFERS {
                    // The earlier layout re-encodes packed, to the same command.
                    assert_eq!(decode_command(&encode_command(&cmd)).unwrap(), cmd);
                } else {
                    assert_eq!(encode_command(&cmd), b, "decoded bytes are canonical");
                }
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
