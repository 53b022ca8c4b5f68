//! The kit's system errors (a rejected round is a line in a report, not an error).

/// A failure that stops a command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Tally could not be reached or answered with an error.
    #[error("tally: {0}")]
    Client(#[from] tally_client::Error),
    /// Tally refused to create one of the chart's accounts.
    #[error("account {id:032x} (code {code}) refused: {result}")]
    AccountRefused {
        /// The account id.
        id: u128,
        /// Its code.
        code: u16,
        /// Tally's result.
        result: tally_client::CreateAccountResult,
    },
    /// An amount in Tally does not convert for display, or a partner or currency is unknown.
    #[error(transparent)]
    Money(#[from] crate::money::MoneyError),
    /// A statement period whose first day is after its last.
    #[error("the period's first day {from} is after its last day {to}")]
    BadPeriod {
        /// `--from`.
        from: chrono::NaiveDate,
        /// `--to`.
        to: chrono::NaiveDate,
    },
    /// The request was refused as a whole (e.g. a payout period overlapping another).
    #[error("{0}")]
    Refused(String),
    /// The request names something the terms do not know.
    #[error("{0}")]
    Unknown(String),
}

/// The kit's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
