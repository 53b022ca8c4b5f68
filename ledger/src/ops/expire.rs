//! Expiry of pending transfers whose timeout has passed, on ledger time.
//!
//! Every non-imported command first expires what is due at its first timestamp, so expiry is a
//! deterministic part of the replicated log rather than a timer on each node. A post or void
//! that arrives after the deadline but before the expiry ran is rejected by the deadline check
//! itself (`pending_transfer_expired`), so the bound below changes only when the reservation is
//! released, never an outcome.

use crate::exec::Exec;
use crate::keys;
use crate::ops::create_transfer::{pending_accounts, release};
use crate::read::{expiry_floor, read_transfer_at};
use crate::store::{Cf, StoreError};
use crate::types::{PendingStatus, BATCH_MAX};

/// Most pending transfers expired by one command; the rest wait for the next command.
pub const EXPIRE_MAX: usize = BATCH_MAX;

/// Expires pending transfers due at or before the command's time. Returns how many.
pub(crate) fn expire_due(x: &mut Exec<'_>) -> Result<usize, StoreError> {
    let due_by = x.now.max(x.last_ts + 1);
    let floor = expiry_floor(x.base())?;
    let mut due = Vec::new();
    let mut bad = None;
    x.base().scan(
        Cf::Expiry,
        &keys::expiry_key(floor, 0),
        &keys::expiry_key(due_by, u64::MAX),
        false,
        &mut |k, _| {
            match keys::decode_expiry_key(k) {
                Ok(entry) => due.push(entry),
                Err(e) => bad = Some(e),
            }
            bad.is_none() && due.len() < EXPIRE_MAX
        },
    )?;
    if let Some(e) = bad {
        return Err(e);
    }
    for &(at, pending_ts) in &due {
        let p = read_transfer_at(x.base(), pending_ts)?.ok_or_else(|| {
            StoreError::Corrupt(format!("expiry entry for missing transfer {pending_ts}"))
        })?;
        if x.pending_status(pending_ts)? != PendingStatus::Pending {
            return Err(StoreError::Corrupt(format!(
                "expiry entry for resolved transfer {}",
                p.id
            )));
        }
        let (mut dr, mut cr) = pending_accounts(x, &p)?;
        release(&mut dr, &mut cr, &p, true);
        let ts = x.next_timestamp();
        x.record_history(&dr, ts);
        x.record_history(&cr, ts);
        x.put_account(dr);
        x.put_account(cr);
        x.pending.insert(pending_ts, PendingStatus::Expired);
        x.unexpire.insert((at, pending_ts), ());
    }
    // No entry is left below `due_by` + 1 when every due entry was expired (else below the last
    // one expired: more may share its time). Nor will one be created there if this command
    // assigns a timestamp, which is then at least `due_by`: a pending transfer expires after its
    // own timestamp, and later ones are later. So the floor is written only then
    // ([`Exec::encode`]), which also keeps a command that changes nothing from writing it.
    let empty_below = match due.last() {
        Some(&(at, _)) if due.len() == EXPIRE_MAX => at,
        _ => due_by.saturating_add(1),
    };
    if empty_below > floor {
        x.expiry_floor = Some(empty_below);
    }
    Ok(due.len())
}
