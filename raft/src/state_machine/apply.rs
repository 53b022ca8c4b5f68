//! Applying one Raft entry to the ledger: exactly one ledger write per entry, carrying the new
//! applied position (`docs/internals/replication.md`, "State machine"). The entry runs here; its
//! write is staged in a batch for the state machine's writer thread (`super::writer`).

use std::io;

use openraft::EntryPayload;
use tally_ledger::{stage_applied, Context, KvStore, Ledger, LedgerError, WriteBatch};

use super::applied::Applied;
use crate::types::{Entry, Rejection, Request, Response};

/// Runs `entry` on top of position `applied` and returns the new position and the entry's
/// response. On `Ok`, `out` holds the one write the entry makes, its effects (if any) and the
/// new position, which the caller must write before the ledger reads its store again; on
/// `Err` nothing is to be written and the node must stop.
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
    out: &mut WriteBatch,
) -> io::Result<(Applied, Response)> {
    let next = applied.after(entry)?;
    let position = next.encode()?;
    let response = match &entry.payload {
        EntryPayload::Blank | EntryPayload::Membership(_) => {
            stage_applied(&position, out);
            Response::Empty
        }
        EntryPayload::Normal(req) => apply_request(ledger, req, &position, out)?,
    };
    Ok((next, response))
}

fn apply_request<S: KvStore>(
    ledger: &mut Ledger<S>,
    req: &Request,
    position: &[u8],
    out: &mut WriteBatch,
) -> io::Result<Response> {
    let cmd = match req.command() {
        Ok(cmd) => cmd,
        Err(e) => {
            // Every replica holds the same bytes and fails the same way.
            stage_applied(position, out);
            return Ok(Response::Rejected(Rejection::Malformed(e.to_string())));
        }
    };
    let ctx = Context {
        timestamp: req.leader_time_ns(),
    };
    match ledger.stage(&cmd, &ctx, Some(position), out) {
        Ok(outcome) => Ok(Response::from_outcome(outcome)),
        // The ledger has staged the position, alone, for a deterministic error.
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
