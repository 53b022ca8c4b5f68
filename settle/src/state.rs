//! A round as Tally holds it now, read back with one `query_transfers` (by the round key and the
//! provider's id): its bets and what became of each, its effective stake and wins after any
//! corrections, and the corrections applied so far.

use std::collections::BTreeMap;

use tally_client::{Client, QueryFilter, Transfer, TransferFlags};

use crate::chart::{players_account, pool_account, transfer_code};
use crate::error::Result;
use crate::query;
use crate::round::RoundContext;

/// What became of a pending bet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BetStatus {
    /// Still reserved (or expired, which only Tally knows: a post of it is then refused).
    Open,
    /// Posted by a settlement or a late-event correction.
    Posted,
    /// Voided by a rollback or a correction.
    Voided,
}

/// One round in Tally.
#[derive(Clone, Debug, Default)]
pub struct RoundState {
    /// Every transfer of the round, oldest first.
    pub transfers: Vec<Transfer>,
    /// Its pending bets by id, with their status.
    pub bets: BTreeMap<u128, (Transfer, BetStatus)>,
    /// Effective stake: posted bets plus the net of stake adjustments.
    pub stake: u128,
    /// Effective wins: win transfers plus the net of win adjustments.
    pub paid: u128,
    /// The correction markers (codes `CORRECTION` and `LATE`), oldest first.
    pub corrections: Vec<Transfer>,
}

impl RoundState {
    /// The round settled: a bet of it is posted or a correction exists.
    pub fn settled(&self) -> bool {
        !self.corrections.is_empty() || self.bets.values().any(|(_, s)| *s == BetStatus::Posted)
    }

    /// Bets still open.
    pub fn open_bets(&self) -> Vec<Transfer> {
        self.bets
            .values()
            .filter(|(_, s)| *s == BetStatus::Open)
            .map(|(t, _)| *t)
            .collect()
    }

    /// Whether a transfer with this id is part of the round.
    pub fn has(&self, id: u128) -> bool {
        self.transfers.iter().any(|t| t.id == id)
    }

    /// The number the next correction of this round gets (1 for the first).
    pub fn next_correction(&self) -> u32 {
        u32::try_from(self.corrections.len() + 1).unwrap_or(u32::MAX)
    }
}

/// Reads round `ctx` from Tally.
pub async fn read(client: &Client, ctx: &RoundContext<'_>) -> Result<RoundState> {
    let filter = QueryFilter {
        user_data_128: ctx.key(),
        user_data_32: ctx.provider_id,
        ..QueryFilter::new()
    };
    let transfers = query::transfers(client, filter).await?;
    Ok(from_transfers(ctx, transfers))
}

/// The state of round `ctx` from its transfers (pure).
pub fn from_transfers(ctx: &RoundContext<'_>, transfers: Vec<Transfer>) -> RoundState {
    let code = &ctx.currency.code;
    let (players, pool) = (
        players_account(&ctx.operator, code),
        pool_account(&ctx.provider, code),
    );
    let mut s = RoundState::default();
    // Signed so a reversal and its re-post net out in any order; a ledger amount is below 2^127.
    let (mut stake, mut paid) = (0i128, 0i128);
    let signed = |v: u128| i128::try_from(v).unwrap_or(i128::MAX);
    for t in &transfers {
        if t.flags.contains(TransferFlags::PENDING) && t.code == transfer_code::BET {
            s.bets.insert(t.id, (*t, BetStatus::Open));
        }
    }
    for t in &transfers {
        if t.flags.contains(TransferFlags::POST_PENDING_TRANSFER) {
            if let Some(b) = s.bets.get_mut(&t.pending_id) {
                b.1 = BetStatus::Posted;
            }
            stake = stake.saturating_add(signed(t.amount));
        } else if t.flags.contains(TransferFlags::VOID_PENDING_TRANSFER) {
            if let Some(b) = s.bets.get_mut(&t.pending_id) {
                b.1 = BetStatus::Voided;
            }
        } else if t.flags.contains(TransferFlags::PENDING) {
            // A bet: counted in the stake once posted.
        } else if t.code == transfer_code::WIN {
            paid = paid.saturating_add(signed(t.amount));
        } else if t.code == transfer_code::STAKE_ADJ {
            let sign = if t.credit_account_id == pool { 1 } else { -1 };
            stake = stake.saturating_add(sign * signed(t.amount));
        } else if t.code == transfer_code::WIN_ADJ {
            let sign = if t.credit_account_id == players {
                1
            } else {
                -1
            };
            paid = paid.saturating_add(sign * signed(t.amount));
        } else if t.code == transfer_code::CORRECTION || t.code == transfer_code::LATE {
            s.corrections.push(*t);
        }
    }
    s.stake = u128::try_from(stake).unwrap_or(0);
    s.paid = u128::try_from(paid).unwrap_or(0);
    s.transfers = transfers;
    s
}
