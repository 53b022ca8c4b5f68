//! The crate's system-failure errors. Business rejections are result codes ([`crate::results`]),
//! never errors.

/// A storage failure. The ledger cannot continue past one: the caller stops applying.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend failed (I/O error, out of space, closed database).
    #[error("storage backend failed: {0}")]
    Backend(String),
    /// Stored bytes do not decode: the data is corrupt or of another format.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// A system failure (never a business rejection: those are result codes).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The store failed; the command had no effect and the caller must not continue applying.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A batch had more events than [`BATCH_MAX`](crate::types::BATCH_MAX); nothing was applied.
    #[error("batch of {len} events exceeds the maximum of {max}")]
    BatchTooLarge {
        /// Events in the rejected batch.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A read filter is malformed; the message says which field and why.
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    /// The leader's time, or the timestamps this command needs, pass 2^63-1; nothing was
    /// applied. Deterministic: every replica rejects the same command.
    #[error(
        "ledger time {timestamp} is out of range: a command needs room for {events} timestamps \
         (its events and any expiries) below 2^63"
    )]
    ClockOutOfRange {
        /// The first timestamp the command would use.
        timestamp: u64,
        /// Events (plus possible expiries) that need timestamps.
        events: usize,
    },
    /// The store holds data of another on-disk format version.
    #[error(
        "the store was written in storage format {found} and this build reads format \
         {expected}; there is no conversion between formats yet: run the build that wrote it, \
         or start this one on an empty data dir (docs/operating.md, \"Upgrading\")"
    )]
    FormatMismatch {
        /// Version found in the store.
        found: u32,
        /// Version this build writes.
        expected: u32,
    },
}

impl LedgerError {
    /// Whether every replica fed the same command fails the same way. Such a command is
    /// still consumed: its log position must advance (see [`crate::Ledger::apply`]). Store errors are
    /// not deterministic: the replica must stop instead.
    pub fn is_deterministic(&self) -> bool {
        matches!(
            self,
            LedgerError::BatchTooLarge { .. } | LedgerError::ClockOutOfRange { .. }
        )
    }
}
