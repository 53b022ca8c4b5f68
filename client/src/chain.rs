//! Linked chains: events that succeed or fail together.
//!
//! The server applies a request's events in order; an event with the `linked` flag shares its
//! outcome with the next one, so a run of linked events closed by an unlinked one is all or
//! nothing. [`LinkedChain`] sets `linked` on every event but the last and clears it there, so the
//! chain always closes. Send it with one `create_transfers` (or `create_accounts`) call: the
//! client never splits or merges such a call.

use crate::account::Account;
use crate::flags::{AccountFlags, TransferFlags};
use crate::transfer::Transfer;

/// An event that can be part of a linked chain.
pub trait Linkable {
    /// Sets or clears the event's `linked` flag.
    fn set_linked(&mut self, linked: bool);
}

impl Linkable for Transfer {
    fn set_linked(&mut self, linked: bool) {
        self.flags.set(TransferFlags::LINKED, linked);
    }
}

impl Linkable for Account {
    fn set_linked(&mut self, linked: bool) {
        self.flags.set(AccountFlags::LINKED, linked);
    }
}

/// Builds an all-or-nothing group of events, e.g. a multi-leg payment with its fee.
///
/// ```
/// use tally_client::{LinkedChain, Transfer, TransferFlags};
///
/// let legs = LinkedChain::new()
///     .push(Transfer::new(11, 1, 2, 1_000, 840, 1)) // customer -> merchant
///     .push(Transfer::new(12, 2, 3, 30, 840, 2)) // merchant -> fee
///     .build();
/// assert!(legs[0].flags.contains(TransferFlags::LINKED));
/// assert!(!legs[1].flags.contains(TransferFlags::LINKED));
/// ```
#[derive(Clone, Debug, Default)]
pub struct LinkedChain<T> {
    events: Vec<T>,
}

impl<T: Linkable> LinkedChain<T> {
    /// An empty chain.
    pub fn new() -> Self {
        Self { events: Vec::new() }
    }

    /// Appends an event (its own `linked` flag is overwritten by [`LinkedChain::build`]).
    pub fn push(mut self, event: T) -> Self {
        self.events.push(event);
        self
    }

    /// Appends several events in order.
    pub fn extend(mut self, events: impl IntoIterator<Item = T>) -> Self {
        self.events.extend(events);
        self
    }

    /// The number of events so far.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// `true` before the first `push`.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The events, `linked` on all but the last.
    pub fn build(mut self) -> Vec<T> {
        let last = self.events.len().saturating_sub(1);
        for (i, event) in self.events.iter_mut().enumerate() {
            event.set_linked(i < last);
        }
        self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_but_the_last_is_linked() {
        let chain = LinkedChain::new()
            .push(Transfer::new(1, 1, 2, 1, 1, 1))
            .extend([
                Transfer::new(2, 1, 2, 1, 1, 1),
                // A stray linked flag on the last event would leave the chain open.
                Transfer::new(3, 1, 2, 1, 1, 1).with_flags(TransferFlags::LINKED),
            ]);
        assert_eq!(chain.len(), 3);
        let linked: Vec<bool> = chain
            .build()
            .iter()
            .map(|t| t.flags.contains(TransferFlags::LINKED))
            .collect();
        assert_eq!(linked, [true, true, false]);
    }

    #[test]
    fn a_single_event_and_an_empty_chain_are_unlinked() {
        let one = LinkedChain::new()
            .push(Account::new(1, 1, 1).with_flags(AccountFlags::LINKED))
            .build();
        assert!(!one[0].flags.contains(AccountFlags::LINKED));
        assert!(LinkedChain::<Account>::new().build().is_empty());
    }
}
