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
