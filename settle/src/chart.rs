//! The chart of accounts and the transfer codes.
//!
//! Every account lives on the ledger of its currency; ids are derived from (role, owner,
//! currency) so every run, and every copy of the kit, finds the same accounts.
//!
//! | code | account | one per | holds |
//! |---|---|---|---|
//! | 1 | `players` | operator x currency | players' stakes, funded by the operator: debited by bets, credited by wins and refunds |
//! | 2 | `pool` | provider x currency | stakes in play: pending bets of open rounds; back to 0 once a round settles |
//! | 3 | `provider` | provider, in its settlement currency | the provider's fee |
//! | 4 | `aggregator` | the aggregator, in its settlement currency | the aggregator's share |
//! | 5 | `operator` | operator, in its settlement currency | the operator's revenue share (the remainder) |
//! | 6 | `agent` | agent, in its settlement currency | the agent's commission |
//! | 8 | `payout` | partner, in its settlement currency | what payouts moved out of its share account (`payout.rs`) |
//! | 7 | `fx` | currency | the FX desk's position: a share paid in another currency leaves the round's currency here and enters the partner's currency from here |
//!
//! An account's `user_data_128` is its owner's key ([`Party::key`], 0 for `fx`), `user_data_32`
//! its role code. Every transfer of a round carries `user_data_128` = the round key
//! (`ids::round_key`), `user_data_64` = the provider's event time (Unix seconds; the bet's for
//! bets, the result's for the rest) and `user_data_32` = the provider's id.

use tally_client::Account;

use crate::ids;
use crate::terms::Terms;

/// Account codes (roles).
pub mod account_code {
    /// Operator's player funds.
    pub const PLAYERS: u16 = 1;
    /// Provider's round pool.
    pub const POOL: u16 = 2;
    /// Provider fee.
    pub const PROVIDER: u16 = 3;
    /// Aggregator share.
    pub const AGGREGATOR: u16 = 4;
    /// Operator revenue share.
    pub const OPERATOR: u16 = 5;
    /// Agent commission.
    pub const AGENT: u16 = 6;
    /// FX desk position.
    pub const FX: u16 = 7;
    /// A partner's payout account (see `payout.rs`), created by the first payout.
    pub const PAYOUT: u16 = 8;
}

/// Transfer codes.
pub mod transfer_code {
    /// A bet (pending), and its post or void.
    pub const BET: u16 = 1;
    /// A win paid to the player.
    pub const WIN: u16 = 2;
    /// A partner's share in the round's currency (pool -> partner; reversed when GGR < 0).
    pub const SHARE: u16 = 3;
    /// The round-currency side of a converted share (pool -> fx).
    pub const FX_OUT: u16 = 4;
    /// The partner-currency side of a converted share (fx -> partner).
    pub const FX_IN: u16 = 5;
    /// A correction's stake leg: the reversal of the round's stake (pool -> players) or the
    /// corrected stake (players -> pool).
    pub const STAKE_ADJ: u16 = 6;
    /// A correction's wins leg: the reversal of the round's wins (players -> pool) or the
    /// corrected wins (pool -> players).
    pub const WIN_ADJ: u16 = 7;
    /// A correction's share leg in the round's currency (reversal or corrected share).
    pub const SHARE_ADJ: u16 = 8;
    /// A correction's round-currency FX leg (pool <-> fx).
    pub const FX_OUT_ADJ: u16 = 9;
    /// A correction's partner-currency FX leg (fx <-> partner).
    pub const FX_IN_ADJ: u16 = 10;
    /// The marker of a correction made by `tally-settle correct` (amount 0, players -> pool);
    /// its `user_data_64` holds the first 8 bytes of the corrected round's content digest.
    pub const CORRECTION: u16 = 11;
    /// The marker of a correction made by ingest for late events (amount 0, players -> pool).
    pub const LATE: u16 = 12;
    /// The record of the FX rates a converted share used, when either currency has dated
    /// rates: amount 0, fx -> partner in the partner's currency, right after the share's
    /// FX legs in the same chain; `user_data_64` = `rate(from) << 32 | rate(to)`, each packed
    /// by `money::pack_rate` (`mantissa << 5 | scale`).
    pub const FX_RATE: u16 = 13;
    /// A payout of a partner's net for a period: share account -> payout account; see
    /// `payout.rs` for its id and user data.
    pub const PAYOUT: u16 = 14;
    /// The record of an ingest run that refused a round's result (amount 0, players -> pool,
    /// id `leg(provider, round, "failure:<n>")` for the n-th): reconciliation alerts on rounds
    /// that keep failing.
    pub const FAILED: u16 = 15;

    /// The adjustment code of a share-class code (`SHARE` -> `SHARE_ADJ`, ...).
    pub const fn adjusted(code: u16) -> u16 {
        code + 5
    }
}

/// A partner that receives a share of GGR.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Party {
    /// A game provider (fee).
    Provider(String),
    /// The aggregator (share).
    Aggregator,
    /// An operator (revenue share, the remainder).
    Operator(String),
    /// An agent (commission).
    Agent(String),
}

impl Party {
    /// `provider:alpha`, `aggregator`, `operator:royal`, `agent:kim`.
    pub fn parse(text: &str) -> Option<Party> {
        match text.split_once(':') {
            Some(("provider", n)) => Some(Party::Provider(n.into())),
            Some(("operator", n)) => Some(Party::Operator(n.into())),
            Some(("agent", n)) => Some(Party::Agent(n.into())),
            None if text == "aggregator" => Some(Party::Aggregator),
            _ => None,
        }
    }

    /// The role name used in account ids.
    pub fn role(&self) -> &'static str {
        match self {
            Party::Provider(_) => "provider",
            Party::Aggregator => "aggregator",
            Party::Operator(_) => "operator",
            Party::Agent(_) => "agent",
        }
    }

    /// The partner's name (`""` for the aggregator).
    pub fn name(&self) -> &str {
        match self {
            Party::Provider(n) | Party::Operator(n) | Party::Agent(n) => n,
            Party::Aggregator => "",
        }
    }

    /// The account code of its share account.
    pub fn code(&self) -> u16 {
        match self {
            Party::Provider(_) => account_code::PROVIDER,
            Party::Aggregator => account_code::AGGREGATOR,
            Party::Operator(_) => account_code::OPERATOR,
            Party::Agent(_) => account_code::AGENT,
        }
    }

    /// The partner's key, in `user_data_128` of its accounts.
    pub fn key(&self) -> u128 {
        ids::derive("party", &[self.role(), self.name()])
    }

    /// The currency its share is credited in.
    pub fn settlement_currency<'t>(&self, terms: &'t Terms) -> Option<&'t str> {
        let code = match self {
            Party::Provider(n) => &terms.provider(n)?.settlement_currency,
            Party::Aggregator => &terms.aggregator.settlement_currency,
            Party::Operator(n) => &terms.operator(n)?.settlement_currency,
            Party::Agent(n) => &terms.agent(n)?.settlement_currency,
        };
        Some(code)
    }

    /// Its share account in `currency`.
    pub fn account(&self, currency: &str) -> u128 {
        ids::account(self.role(), self.name(), currency)
    }

    /// Every partner of `terms`.
    pub fn all(terms: &Terms) -> Vec<Party> {
        let providers = terms
            .providers
            .iter()
            .map(|p| Party::Provider(p.name.clone()));
        let operators = terms
            .operators
            .iter()
            .map(|o| Party::Operator(o.name.clone()));
        let agents = terms.agents.iter().map(|a| Party::Agent(a.name.clone()));
        providers
            .chain([Party::Aggregator])
            .chain(operators)
            .chain(agents)
            .collect()
    }
}

impl std::fmt::Display for Party {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Party::Aggregator => f.write_str("aggregator"),
            other => write!(f, "{}:{}", other.role(), other.name()),
        }
    }
}

/// The players account of `operator` in `currency`.
pub fn players_account(operator: &str, currency: &str) -> u128 {
    ids::account("players", operator, currency)
}

/// The round pool of `provider` in `currency`.
pub fn pool_account(provider: &str, currency: &str) -> u128 {
    ids::account("pool", provider, currency)
}

/// The FX desk's account in `currency`.
pub fn fx_account(currency: &str) -> u128 {
    ids::account("fx", "", currency)
}

/// Every account the terms call for.
pub fn accounts(terms: &Terms) -> Vec<Account> {
    let table = terms.currencies();
    let mut out = Vec::new();
    for c in table.all() {
        let new = |id, code, owner: u128| {
            Account::new(id, c.ledger, code).with_user_data(owner, 0, u32::from(code))
        };
        for o in &terms.operators {
            let owner = Party::Operator(o.name.clone()).key();
            out.push(new(
                players_account(&o.name, &c.code),
                account_code::PLAYERS,
                owner,
            ));
        }
        for p in &terms.providers {
            let owner = Party::Provider(p.name.clone()).key();
            out.push(new(
                pool_account(&p.name, &c.code),
                account_code::POOL,
                owner,
            ));
        }
        out.push(new(fx_account(&c.code), account_code::FX, 0));
    }
    for party in Party::all(terms) {
        let code = party.settlement_currency(terms).expect("validated terms");
        let ledger = table.get(code).expect("validated terms").ledger;
        out.push(
            Account::new(party.account(code), ledger, party.code()).with_user_data(
                party.key(),
                0,
                u32::from(party.code()),
            ),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parties_parse_and_print() {
        for text in [
            "provider:alpha",
            "aggregator",
            "operator:royal",
            "agent:kim",
        ] {
            assert_eq!(Party::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(Party::parse("casino:x"), None);
    }

    #[test]
    fn every_account_id_is_distinct() {
        let terms = Terms::parse(include_str!("../samples/terms.toml")).unwrap();
        let accounts = accounts(&terms);
        let ids: std::collections::BTreeSet<u128> = accounts.iter().map(|a| a.id).collect();
        assert_eq!(ids.len(), accounts.len());
        // players and pool per currency, fx per currency, one share account per partner.
        let c = terms.currencies.len();
        let expected =
            c * (terms.operators.len() + terms.providers.len() + 1) + Party::all(&terms).len();
        assert_eq!(accounts.len(), expected);
    }
}
