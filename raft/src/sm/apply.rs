//! Applying one Raft entry to the ledger: exactly one ledger write per entry, carrying the new
//! applied position (`docs/internals/replication-design.md` §4.4).

use std::io;

use openraft::EntryPayload;
use tally_ledger::{Context, KvStore, Ledger, LedgerError};

use super::applied::Applied;
use crate::types::{Entry, Rejection, Request, Response};

/// Applies `entry` on top of position `applied` and returns the new position and the entry's
/// response. On `Ok` exactly one write reached the store, holding the entry's effects (if any)
/// and the new position; on `Err` nothing was written and the node must stop.
///
/// - A blank or membership entry writes only the position.
/// - A normal entry runs its command. A command every replica refuses the same way (malformed
///   bytes, [`LedgerError::is_deterministic`]) is answered with [`Response::Rejected`] and
///   still advances the position, so replay never meets it again.
/// - A store failure is an `io::Error`: openraft then stops the node.
pub(super) fn apply_entry<S: KvStore>(
    ledger: &mut Ledger<S>,
    applied: &Applied,
    entry: &Entry,
) -> io::Result<(Applied, Response)> {
    let next = applied.after(entry)?;
    let position = next.encode()?;
    let response = match &entry.payload {
        EntryPayload::Blank | EntryPayload::Membership(_) => {
            ledger.record_applied(&position).map_err(fatal)?;
            Response::Empty
        }
        EntryPayload::Normal(req) => apply_request(ledger, req, &position)?,
    };
    Ok((next, response))
}

fn apply_request<S: KvStore>(
    ledger: &mut Ledger<S>,
    req: &Request,
    position: &[u8],
) -> io::Result<Response> {
    let cmd = match req.command() {
        Ok(cmd) => cmd,
        Err(e) => {
            // Every replica holds the same bytes and fails the same way.
            ledger.record_applied(position).map_err(fatal)?;
            return Ok(Response::Rejected(Rejection::Malformed(e.to_string())));
        }
    };
    let ctx = Context {
        timestamp: req.leader_time_ns(),
    };
    match ledger.apply(&cmd, &ctx, Some(position)) {
        Ok(outcome) => Ok(Response::from_outcome(&outcome)),
        // The ledger has already written the position, alone, for a deterministic error.
        Err(e) if e.is_deterministic() => match Rejection::from_ledger_error(&e) {
            Some(r) => Ok(Response::Rejected(r)),
            // A deterministic error this crate cannot express: the position is written but
            // nobody could be told why, so stop rather than answer wrongly.
            None => Err(fatal(e)),
        },
        Err(e) => Err(fatal(e)),
    }
}

/// A ledger error that must stop the node.
fn fatal(e: LedgerError) -> io::Error {
    io::Error::other(e)
}
