//! Result codes of the write operations.
//!
//! A business rejection is a result code, not an error. Each operation has one `#[repr(u32)]`
//! enum whose declaration order is the validation precedence: when several codes apply, the
//! first one listed is returned. The numbers are part of the wire format and are never reused;
//! a new code gets the next free number and is declared at its place in the precedence order.

/// The results of a create command: a code and a timestamp per event, in event order.
///
/// Two parallel vectors rather than one of pairs: the wire carries them as two packed fields,
/// and the codes alone are what most callers compare.
///
/// Which timestamp each result carries (as TigerBeetle's create results do):
/// - `ok`: the timestamp the event was given (for an imported event, its own);
/// - `exists`: the original event's timestamp;
/// - any other code: the ledger time at which the event was validated. Every event of a batch
///   takes one tick of ledger time, in event order, whatever its outcome; an event applied and
///   then rolled back with its chain (`linked_event_failed`) keeps the timestamp it was given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventResults<R> {
    /// One code per event.
    pub codes: Vec<R>,
    /// One timestamp per event (ns since the Unix epoch).
    pub timestamps: Vec<u64>,
}

impl<R> EventResults<R> {
    /// Room for `n` events.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            codes: Vec::with_capacity(n),
            timestamps: Vec::with_capacity(n),
        }
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Appends one event's result.
    pub fn push(&mut self, code: R, timestamp: u64) {
        self.codes.push(code);
        self.timestamps.push(timestamp);
    }
}

macro_rules! result_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[doc = $doc:literal])* $variant:ident = $value:literal => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u32)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[doc = $doc])* $variant = $value, )*
        }

        impl $name {
            /// Every code, in precedence order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// Decodes a wire value; `None` for numbers this build does not know.
            pub fn from_u32(value: u32) -> Option<Self> {
                match value {
                    $( $value => Some($name::$variant), )*
                    _ => None,
                }
            }

            /// The stable snake_case name, as used in docs and the wire enums.
            pub fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )*
                }
            }

            /// The wire value.
            pub fn as_u32(self) -> u32 {
                self as u32
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

result_enum! {
    /// Outcome of one event of `create_accounts`.
    pub enum CreateAccountResult {
        /// The account was created.
        Ok = 0 => "ok",
        /// Another event of the linked chain failed, so this one was not applied.
        LinkedEventFailed = 1 => "linked_event_failed",
        /// The last event of the batch has `linked` set: the chain never closes.
        LinkedEventChainOpen = 2 => "linked_event_chain_open",
        /// The batch's first event is imported but this one is not.
        ImportedEventExpected = 3 => "imported_event_expected",
        /// The batch's first event is not imported but this one is.
        ImportedEventNotExpected = 4 => "imported_event_not_expected",
        /// `timestamp` must be zero unless the event is imported.
        TimestampMustBeZero = 5 => "timestamp_must_be_zero",
        /// An imported `timestamp` must be in `1..2^63`.
        ImportedEventTimestampOutOfRange = 6 => "imported_event_timestamp_out_of_range",
        /// An imported `timestamp` must not be after the command's leader time.
        ImportedEventTimestampMustNotAdvance = 7 => "imported_event_timestamp_must_not_advance",
        /// Unknown flag bits are set.
        ReservedFlag = 8 => "reserved_flag",
        /// `id` 0 is reserved.
        IdMustNotBeZero = 9 => "id_must_not_be_zero",
        /// `id` 2^128-1 is reserved.
        IdMustNotBeIntMax = 10 => "id_must_not_be_int_max",
        /// The id exists with other `flags`.
        ExistsWithDifferentFlags = 11 => "exists_with_different_flags",
        /// The id exists with another `user_data_128`.
        ExistsWithDifferentUserData128 = 12 => "exists_with_different_user_data_128",
        /// The id exists with another `user_data_64`.
        ExistsWithDifferentUserData64 = 13 => "exists_with_different_user_data_64",
        /// The id exists with another `user_data_32`.
        ExistsWithDifferentUserData32 = 14 => "exists_with_different_user_data_32",
        /// The id exists with another `ledger`.
        ExistsWithDifferentLedger = 15 => "exists_with_different_ledger",
        /// The id exists with another `code`.
        ExistsWithDifferentCode = 16 => "exists_with_different_code",
        /// The identical account already exists: a retry, nothing changed.
        Exists = 17 => "exists",
        /// `debits_must_not_exceed_credits` and `credits_must_not_exceed_debits` together.
        FlagsAreMutuallyExclusive = 18 => "flags_are_mutually_exclusive",
        /// Balances start at zero.
        DebitsPendingMustBeZero = 19 => "debits_pending_must_be_zero",
        /// Balances start at zero.
        DebitsPostedMustBeZero = 20 => "debits_posted_must_be_zero",
        /// Balances start at zero.
        CreditsPendingMustBeZero = 21 => "credits_pending_must_be_zero",
        /// Balances start at zero.
        CreditsPostedMustBeZero = 22 => "credits_posted_must_be_zero",
        /// `ledger` 0 is reserved.
        LedgerMustNotBeZero = 23 => "ledger_must_not_be_zero",
        /// `code` 0 is reserved.
        CodeMustNotBeZero = 24 => "code_must_not_be_zero",
        /// An imported `timestamp` must be after the newest account's and not a transfer's.
        ImportedEventTimestampMustNotRegress = 25 => "imported_event_timestamp_must_not_regress",
    }
}

result_enum! {
    /// Outcome of one event of `create_transfers`.
    pub enum CreateTransferResult {
        /// The transfer was created.
        Ok = 0 => "ok",
        /// Another event of the linked chain failed, so this one was not applied.
        LinkedEventFailed = 1 => "linked_event_failed",
        /// The last event of the batch has `linked` set: the chain never closes.
        LinkedEventChainOpen = 2 => "linked_event_chain_open",
        /// The batch's first event is imported but this one is not.
        ImportedEventExpected = 3 => "imported_event_expected",
        /// The batch's first event is not imported but this one is.
        ImportedEventNotExpected = 4 => "imported_event_not_expected",
        /// `timestamp` must be zero unless the event is imported.
        TimestampMustBeZero = 5 => "timestamp_must_be_zero",
        /// An imported `timestamp` must be in `1..2^63`.
        ImportedEventTimestampOutOfRange = 6 => "imported_event_timestamp_out_of_range",
        /// An imported `timestamp` must not be after the command's leader time.
        ImportedEventTimestampMustNotAdvance = 7 => "imported_event_timestamp_must_not_advance",
        /// Unknown flag bits are set.
        ReservedFlag = 8 => "reserved_flag",
        /// `id` 0 is reserved.
        IdMustNotBeZero = 9 => "id_must_not_be_zero",
        /// `id` 2^128-1 is reserved.
        IdMustNotBeIntMax = 10 => "id_must_not_be_int_max",
        /// The id exists with other `flags`.
        ExistsWithDifferentFlags = 11 => "exists_with_different_flags",
        /// The id exists with another `pending_id`.
        ExistsWithDifferentPendingId = 12 => "exists_with_different_pending_id",
        /// The id exists with another `timeout`.
        ExistsWithDifferentTimeout = 13 => "exists_with_different_timeout",
        /// The id exists with another `debit_account_id`.
        ExistsWithDifferentDebitAccountId = 14 => "exists_with_different_debit_account_id",
        /// The id exists with another `credit_account_id`.
        ExistsWithDifferentCreditAccountId = 15 => "exists_with_different_credit_account_id",
        /// The id exists with another `amount`.
        ExistsWithDifferentAmount = 16 => "exists_with_different_amount",
        /// The id exists with another `user_data_128`.
        ExistsWithDifferentUserData128 = 17 => "exists_with_different_user_data_128",
        /// The id exists with another `user_data_64`.
        ExistsWithDifferentUserData64 = 18 => "exists_with_different_user_data_64",
        /// The id exists with another `user_data_32`.
        ExistsWithDifferentUserData32 = 19 => "exists_with_different_user_data_32",
        /// The id exists with another `ledger`.
        ExistsWithDifferentLedger = 20 => "exists_with_different_ledger",
        /// The id exists with another `code`.
        ExistsWithDifferentCode = 21 => "exists_with_different_code",
        /// The identical transfer already exists: a retry, nothing changed.
        Exists = 22 => "exists",
        /// An earlier event with this id failed transiently; the id is burned.
        IdAlreadyFailed = 23 => "id_already_failed",
        /// The flags contradict each other.
        FlagsAreMutuallyExclusive = 24 => "flags_are_mutually_exclusive",
        /// `debit_account_id` 0 is reserved.
        DebitAccountIdMustNotBeZero = 25 => "debit_account_id_must_not_be_zero",
        /// `debit_account_id` 2^128-1 is reserved.
        DebitAccountIdMustNotBeIntMax = 26 => "debit_account_id_must_not_be_int_max",
        /// `credit_account_id` 0 is reserved.
        CreditAccountIdMustNotBeZero = 27 => "credit_account_id_must_not_be_zero",
        /// `credit_account_id` 2^128-1 is reserved.
        CreditAccountIdMustNotBeIntMax = 28 => "credit_account_id_must_not_be_int_max",
        /// An account cannot pay itself.
        AccountsMustBeDifferent = 29 => "accounts_must_be_different",
        /// Only post/void transfers reference a pending transfer.
        PendingIdMustBeZero = 30 => "pending_id_must_be_zero",
        /// Post/void transfers must reference a pending transfer.
        PendingIdMustNotBeZero = 31 => "pending_id_must_not_be_zero",
        /// `pending_id` 2^128-1 is reserved.
        PendingIdMustNotBeIntMax = 32 => "pending_id_must_not_be_int_max",
        /// A transfer cannot resolve itself.
        PendingIdMustBeDifferent = 33 => "pending_id_must_be_different",
        /// Only pending transfers may have a timeout.
        TimeoutReservedForPendingTransfer = 34 => "timeout_reserved_for_pending_transfer",
        /// Closing transfers must be pending (so that voiding them reopens the account).
        ClosingTransferMustBePending = 35 => "closing_transfer_must_be_pending",
        /// `ledger` 0 is reserved.
        LedgerMustNotBeZero = 36 => "ledger_must_not_be_zero",
        /// `code` 0 is reserved.
        CodeMustNotBeZero = 37 => "code_must_not_be_zero",
        /// The debit account does not exist (transient: burns the id).
        DebitAccountNotFound = 38 => "debit_account_not_found",
        /// The credit account does not exist (transient: burns the id).
        CreditAccountNotFound = 39 => "credit_account_not_found",
        /// The two accounts are on different ledgers.
        AccountsMustHaveTheSameLedger = 40 => "accounts_must_have_the_same_ledger",
        /// The transfer's ledger differs from its accounts' ledger.
        TransferMustHaveTheSameLedgerAsAccounts = 41 => "transfer_must_have_the_same_ledger_as_accounts",
        /// `pending_id` names no transfer (transient: burns the id).
        PendingTransferNotFound = 42 => "pending_transfer_not_found",
        /// `pending_id` names a transfer that is not pending.
        PendingTransferNotPending = 43 => "pending_transfer_not_pending",
        /// `debit_account_id` is neither 0 nor the pending transfer's.
        PendingTransferHasDifferentDebitAccountId = 44 => "pending_transfer_has_different_debit_account_id",
        /// `credit_account_id` is neither 0 nor the pending transfer's.
        PendingTransferHasDifferentCreditAccountId = 45 => "pending_transfer_has_different_credit_account_id",
        /// `ledger` is neither 0 nor the pending transfer's.
        PendingTransferHasDifferentLedger = 46 => "pending_transfer_has_different_ledger",
        /// `code` is neither 0 nor the pending transfer's.
        PendingTransferHasDifferentCode = 47 => "pending_transfer_has_different_code",
        /// A post or void for more than was reserved.
        ExceedsPendingTransferAmount = 48 => "exceeds_pending_transfer_amount",
        /// A void for less than the pending amount (and not 0).
        PendingTransferHasDifferentAmount = 49 => "pending_transfer_has_different_amount",
        /// The pending transfer was already posted.
        PendingTransferAlreadyPosted = 50 => "pending_transfer_already_posted",
        /// The pending transfer was already voided.
        PendingTransferAlreadyVoided = 51 => "pending_transfer_already_voided",
        /// The pending transfer's timeout has passed.
        PendingTransferExpired = 52 => "pending_transfer_expired",
        /// An imported `timestamp` must be after the newest transfer's and not an account's.
        ImportedEventTimestampMustNotRegress = 53 => "imported_event_timestamp_must_not_regress",
        /// An imported transfer must be later than its debit account.
        ImportedEventTimestampMustPostdateDebitAccount = 54 => "imported_event_timestamp_must_postdate_debit_account",
        /// An imported transfer must be later than its credit account.
        ImportedEventTimestampMustPostdateCreditAccount = 55 => "imported_event_timestamp_must_postdate_credit_account",
        /// Imported pending transfers cannot expire by ledger time.
        ImportedEventTimeoutMustBeZero = 56 => "imported_event_timeout_must_be_zero",
        /// The debit account is closed (transient: burns the id).
        DebitAccountAlreadyClosed = 57 => "debit_account_already_closed",
        /// The credit account is closed (transient: burns the id).
        CreditAccountAlreadyClosed = 58 => "credit_account_already_closed",
        /// `debits_pending + amount` overflows u128.
        OverflowsDebitsPending = 59 => "overflows_debits_pending",
        /// `credits_pending + amount` overflows u128.
        OverflowsCreditsPending = 60 => "overflows_credits_pending",
        /// `debits_posted + amount` overflows u128.
        OverflowsDebitsPosted = 61 => "overflows_debits_posted",
        /// `credits_posted + amount` overflows u128.
        OverflowsCreditsPosted = 62 => "overflows_credits_posted",
        /// `debits_pending + debits_posted + amount` overflows u128.
        OverflowsDebits = 63 => "overflows_debits",
        /// `credits_pending + credits_posted + amount` overflows u128.
        OverflowsCredits = 64 => "overflows_credits",
        /// `timestamp + timeout` (in ns) passes 2^63.
        OverflowsTimeout = 65 => "overflows_timeout",
        /// The debit account would owe more than its credits (transient: burns the id).
        ExceedsCredits = 66 => "exceeds_credits",
        /// The credit account would hold more than its debits (transient: burns the id).
        ExceedsDebits = 67 => "exceeds_debits",
    }
}

impl CreateTransferResult {
    /// Failures that depend on state that can change later. They burn the id: a retry with the
    /// same id answers [`CreateTransferResult::IdAlreadyFailed`], never a different outcome.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Self::DebitAccountNotFound
                | Self::CreditAccountNotFound
                | Self::PendingTransferNotFound
                | Self::ExceedsCredits
                | Self::ExceedsDebits
                | Self::DebitAccountAlreadyClosed
                | Self::CreditAccountAlreadyClosed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_numbered_in_precedence_order() {
        for (i, code) in CreateAccountResult::ALL.iter().enumerate() {
            assert_eq!(code.as_u32() as usize, i);
            assert_eq!(CreateAccountResult::from_u32(code.as_u32()), Some(*code));
        }
        for (i, code) in CreateTransferResult::ALL.iter().enumerate() {
            assert_eq!(code.as_u32() as usize, i);
            assert_eq!(CreateTransferResult::from_u32(code.as_u32()), Some(*code));
        }
        assert_eq!(CreateTransferResult::from_u32(10_000), None);
    }
}
