//! Per-event outcomes of `create_accounts` and `create_transfers`.
//!
//! A business rejection (an account that does not exist, a balance limit) is a result code, not
//! an [`Error`](crate::Error): the request succeeded and each event has its own outcome. The
//! enums mirror `tally.v1.CreateAccountResult` and `tally.v1.CreateTransferResult` value by value:
//! same numbers, same order (validation precedence), names in the reference docs' snake case.
//! A code this version does not know (a newer server) becomes `Unknown(code)` instead of a panic.

use std::fmt;

use tally_proto::v1;

/// Defines one result enum: the variants with their wire numbers and snake-case names, the
/// conversions from and to the wire, and `Display`.
macro_rules! result_enum {
    (
        $(#[$meta:meta])*
        $name:ident, proto = $proto:ident {
            $( $(#[doc = $doc:literal])* $variant:ident = $code:literal => $snake:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        #[repr(u32)]
        pub enum $name {
            $( $(#[doc = $doc])* $variant = $code, )*
            /// A code this version of the client does not know, from a newer server. The number
            /// is kept; [`Self::from_code`] never builds it for a known number.
            Unknown(u32) = u32::MAX,
        }

        impl $name {
            /// What the code means, in one sentence (the reference docs have more).
            pub fn description(self) -> &'static str {
                match self {
                    $( Self::$variant => concat!($($doc),*).trim_start(), )*
                    Self::Unknown(_) => "a result code this version of the client does not know",
                }
            }

            /// Every known code, in declaration order (which is validation precedence).
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The result for wire number `code`; an unknown number becomes `Unknown(code)`.
            pub const fn from_code(code: u32) -> Self {
                match code {
                    $($code => Self::$variant,)*
                    other => Self::Unknown(other),
                }
            }

            /// The wire number (for `Unknown`, the number the server sent).
            pub const fn code(self) -> u32 {
                match self {
                    $(Self::$variant => $code,)*
                    Self::Unknown(code) => code,
                }
            }

            /// The name used by the reference docs, e.g. `"exceeds_credits"`; `"unknown"` for
            /// an unknown code.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $snake,)*
                    Self::Unknown(_) => "unknown",
                }
            }

            /// `true` for `Ok`: the event was applied by this request.
            pub const fn is_ok(self) -> bool {
                matches!(self, Self::Ok)
            }

            /// `true` for `Ok` and `Exists`: an event exactly like this one is in the ledger.
            /// `Exists` answers a resend of an applied event, and the client resends on its own
            /// after a failure whose outcome was unknown (a timeout, a leader change), so a call
            /// can answer `Exists` for an event that only this call sent. Likewise a resent event
            /// that had failed for a transient reason answers `IdAlreadyFailed` (transfers).
            pub const fn is_applied(self) -> bool {
                matches!(self, Self::Ok | Self::Exists)
            }

            /// Decodes one element of a response's packed `results` field.
            pub(crate) fn from_wire(raw: i32) -> Self {
                // A negative number is no valid code; keep its bits rather than panic.
                Self::from_code(raw as u32)
            }
        }

        impl From<v1::$proto> for $name {
            fn from(value: v1::$proto) -> Self {
                Self::from_code(value as u32)
            }
        }

        impl TryFrom<$name> for v1::$proto {
            /// The code the proto enum does not name.
            type Error = u32;

            fn try_from(value: $name) -> Result<Self, u32> {
                i32::try_from(value.code())
                    .ok()
                    .and_then(|raw| v1::$proto::try_from(raw).ok())
                    .ok_or(value.code())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    Self::Unknown(code) => write!(f, "unknown ({code})"),
                    known => f.write_str(known.name()),
                }
            }
        }
    };
}

/// One event's result with the timestamp that goes with it, as
/// [`Client::create_accounts_with_timestamps`](crate::Client::create_accounts_with_timestamps)
/// and [`Client::create_transfers_with_timestamps`](crate::Client::create_transfers_with_timestamps)
/// answer.
///
/// The timestamp (ns since the Unix epoch) depends on the result:
/// - `Ok`: the timestamp the event was given, as a lookup returns it (an imported event's own);
/// - `Exists`: the original event's timestamp;
/// - any other code: the ledger time at which the event was validated. Each event of a batch
///   takes one tick of ledger time, in order, so these increase through the batch; an event
///   rolled back with its linked chain keeps the timestamp it was given.
///
/// A server older than the `timestamps` response field answers none: then every timestamp is 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EventResult<R> {
    /// The result code.
    pub result: R,
    /// The timestamp that goes with it (see above).
    pub timestamp: u64,
}

result_enum! {
    /// Outcome of one event of `create_accounts`
    /// (see `docs/reference/create_accounts.md`).
    CreateAccountResult, proto = CreateAccountResult {
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
        /// An imported `timestamp` must be in 1..2^63.
        ImportedEventTimestampOutOfRange = 6 => "imported_event_timestamp_out_of_range",
        /// An imported `timestamp` must not be ahead of the ledger's clock.
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
    /// Outcome of one event of `create_transfers` (see `docs/reference/create_transfers.md`).
    /// Codes marked "transient" burn the id: a retry with the same id answers
    /// `IdAlreadyFailed`, never a different outcome.
    CreateTransferResult, proto = CreateTransferResult {
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
        /// An imported `timestamp` must be in 1..2^63.
        ImportedEventTimestampOutOfRange = 6 => "imported_event_timestamp_out_of_range",
        /// An imported `timestamp` must not be ahead of the ledger's clock.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks every number a proto enum might use and checks the client enum against it: the
    /// same numbers, the same names (proto `PREFIX_NAME` = client `name()` upper-cased), and
    /// `Unknown` exactly where the proto names nothing.
    fn check_mirror<C, P>(prefix: &str, all: &[C], code: fn(C) -> u32, name: fn(C) -> &'static str)
    where
        C: Copy + PartialEq + std::fmt::Debug + From<P> + From<i32>,
        P: TryFrom<i32> + Copy,
        P: ProtoName,
    {
        let mut known = 0;
        for raw in 0..200_i32 {
            let client = C::from(raw);
            match P::try_from(raw) {
                Ok(proto) => {
                    known += 1;
                    assert_eq!(code(client), raw as u32);
                    assert_eq!(C::from(proto), client);
                    assert_eq!(
                        format!("{prefix}{}", name(client).to_uppercase()),
                        proto.proto_name(),
                        "code {raw}"
                    );
                    assert_eq!(
                        all[raw as usize], client,
                        "declaration order differs at {raw}"
                    );
                }
                Err(_) => assert_eq!(name(client), "unknown", "code {raw} should be unknown"),
            }
        }
        assert_eq!(
            known,
            all.len(),
            "client and proto know different numbers of codes"
        );
    }

    trait ProtoName {
        fn proto_name(self) -> &'static str;
    }
    impl ProtoName for v1::CreateAccountResult {
        fn proto_name(self) -> &'static str {
            self.as_str_name()
        }
    }
    impl ProtoName for v1::CreateTransferResult {
        fn proto_name(self) -> &'static str {
            self.as_str_name()
        }
    }
    impl From<i32> for CreateAccountResult {
        fn from(raw: i32) -> Self {
            Self::from_wire(raw)
        }
    }
    impl From<i32> for CreateTransferResult {
        fn from(raw: i32) -> Self {
            Self::from_wire(raw)
        }
    }

    #[test]
    fn every_code_has_a_description() {
        for r in CreateAccountResult::ALL {
            assert!(r.description().len() > 10, "{r}");
        }
        for r in CreateTransferResult::ALL {
            assert!(r.description().len() > 10, "{r}");
        }
        assert_eq!(
            CreateTransferResult::ExceedsCredits.description(),
            "The debit account would owe more than its credits (transient: burns the id)."
        );
    }

    #[test]
    fn create_account_result_mirrors_every_proto_value() {
        check_mirror::<CreateAccountResult, v1::CreateAccountResult>(
            "CREATE_ACCOUNT_RESULT_",
            CreateAccountResult::ALL,
            CreateAccountResult::code,
            CreateAccountResult::name,
        );
        assert_eq!(CreateAccountResult::ALL.len(), 26);
    }

    #[test]
    fn create_transfer_result_mirrors_every_proto_value() {
        check_mirror::<CreateTransferResult, v1::CreateTransferResult>(
            "CREATE_TRANSFER_RESULT_",
            CreateTransferResult::ALL,
            CreateTransferResult::code,
            CreateTransferResult::name,
        );
        assert_eq!(CreateTransferResult::ALL.len(), 68);
    }

    #[test]
    fn known_codes_convert_back_to_the_proto_enum() {
        for &r in CreateTransferResult::ALL {
            let proto = v1::CreateTransferResult::try_from(r).expect("known code");
            assert_eq!(proto as u32, r.code());
        }
        for &r in CreateAccountResult::ALL {
            let proto = v1::CreateAccountResult::try_from(r).expect("known code");
            assert_eq!(proto as u32, r.code());
        }
        assert_eq!(
            v1::CreateTransferResult::try_from(CreateTransferResult::Unknown(500)),
            Err(500)
        );
    }

    #[test]
    fn unknown_codes_keep_their_number_and_never_panic() {
        for raw in [68, 1000, i32::MAX, -1] {
            let r = CreateTransferResult::from_wire(raw);
            assert_eq!(r, CreateTransferResult::Unknown(raw as u32));
            assert_eq!(r.code(), raw as u32);
            assert!(!r.is_ok());
            assert_eq!(r.to_string(), format!("unknown ({})", raw as u32));
        }
        assert_eq!(
            CreateAccountResult::from_code(26),
            CreateAccountResult::Unknown(26)
        );
        assert_eq!(
            CreateTransferResult::ExceedsCredits.to_string(),
            "exceeds_credits"
        );
        assert!(CreateAccountResult::Ok.is_ok());
        assert!(CreateAccountResult::Exists.is_applied() && CreateAccountResult::Ok.is_applied());
        assert!(!CreateAccountResult::Exists.is_ok());
        assert!(CreateTransferResult::Exists.is_applied());
        assert!(!CreateTransferResult::ExistsWithDifferentAmount.is_applied());
        assert!(!CreateTransferResult::IdAlreadyFailed.is_applied());
    }
}
