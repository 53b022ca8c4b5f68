//! The one internal event type every provider feed is normalized into.

use std::fmt;

use chrono::{DateTime, NaiveDate};

/// What a provider event does to a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    /// The player stakes `amount`; the round is open until a win or a rollback arrives.
    Bet,
    /// The round's result: the player is paid `amount` (0 for a lost round). Closes the round.
    Win,
    /// A cancellation. Without a bet reference it cancels the round (every open bet of it is
    /// refunded, closing the round); with one ([`GameEvent::bet_ref`]) it cancels that bet alone
    /// and the round settles on its other bets.
    Rollback,
}

impl EventKind {
    /// A short lowercase name, used in ids and reports.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Bet => "bet",
            EventKind::Win => "win",
            EventKind::Rollback => "rollback",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One provider event, normalized: amounts in the currency's minor units, time in UTC seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GameEvent {
    /// The provider's name in the terms file.
    pub provider: String,
    /// The provider's own id of this event (its transaction id); unique per provider.
    pub event_id: String,
    /// The provider's round id.
    pub round_id: String,
    /// Bet, win or rollback.
    pub kind: EventKind,
    /// The player, as the provider names them.
    pub player: String,
    /// The operator (casino brand) the player plays at.
    pub operator: String,
    /// ISO currency code, upper case.
    pub currency: String,
    /// Amount in the currency's minor units (exact; see `money.rs`).
    pub amount: u128,
    /// When the provider says the event happened, seconds since the Unix epoch (UTC).
    pub time: i64,
    /// For a rollback of one bet: the provider's event id of that bet (`None`: the whole round).
    /// Only rollbacks carry it.
    pub bet_ref: Option<String>,
    /// 1-based line of the feed file it came from (for error messages).
    pub line: usize,
}

impl GameEvent {
    /// The UTC calendar day of the event (the provider's business day).
    pub fn day(&self) -> NaiveDate {
        day_of(self.time)
    }
}

/// The UTC calendar day of `unix_secs` (the epoch day for times out of chrono's range).
pub fn day_of(unix_secs: i64) -> NaiveDate {
    DateTime::from_timestamp(unix_secs, 0)
        .unwrap_or_default()
        .date_naive()
}

/// Seconds since the epoch of the start of `day` (UTC).
pub fn day_start(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp()
}
