//! The log database's key layout, all of it (described byte by byte in
//! `docs/internals/replication.md`, "Log store").
//!
//! Column family [`CF_ENTRIES`]: key = log index as a big-endian `u64` (8 bytes, so byte order
//! is index order), value = postcard of openraft's `Entry`. Column family [`CF_META`]: the fixed
//! keys below, each value postcard-encoded.

/// Column family of the log entries.
pub const CF_ENTRIES: &str = "entries";
/// Column family of the log's metadata.
pub const CF_META: &str = "meta";

/// Meta key: the last saved `Vote` (written with fsync).
pub const META_VOTE: &[u8] = b"vote";
/// Meta key: the last saved committed `Option<LogId>` (written without fsync).
pub const META_COMMITTED: &[u8] = b"committed";
/// Meta key: the `LogId` of the last purged entry (written in the purge's batch).
pub const META_LAST_PURGED: &[u8] = b"last_purged";

/// The key of the entry at `index`.
pub fn entry_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// An exclusive upper bound above every entry key (9 bytes sort after every 8-byte key).
pub const ENTRY_KEY_END: [u8; 9] = [0xff; 9];

/// The index of an entry key; `None` if the key is not 8 bytes.
pub fn decode_entry_key(k: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(k.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_keys_sort_by_index() {
        let idx = [0, 1, 255, 256, 1 << 32, u64::MAX - 1, u64::MAX];
        for w in idx.windows(2) {
            assert!(entry_key(w[0]) < entry_key(w[1]));
        }
        assert!(entry_key(u64::MAX).as_slice() < ENTRY_KEY_END.as_slice());
        for i in idx {
            assert_eq!(decode_entry_key(&entry_key(i)), Some(i));
        }
        assert_eq!(decode_entry_key(&[1, 2, 3]), None);
    }
}
