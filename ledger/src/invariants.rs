//! The ledger's money invariants, asserted where they hold, as TigerBeetle's state machine
//! does. Validation turns every bad request into a result code before anything changes, so an
//! assertion here can only fire on a ledger bug or on corrupt stored state; either way the node
//! stops (panics) rather than write a wrong balance.
//!
//! Asserted elsewhere, where they hold:
//! - a post never exceeds its pending transfer's amount, and a post, void or expiry releases
//!   exactly the pending amount on both accounts ([`crate::ops::create_transfer`]);
//! - ledger time only grows: event timestamps strictly increase, imported ones included, and a
//!   command never moves `last_timestamp` back ([`crate::exec`]);
//! - a `transfers` bucket's records strictly increase in timestamp (the bucket writer).
//!
//! The applied position is opaque to the ledger; the Raft state machine checks that its index
//! strictly increases.

use rustc_hash::FxHashMap;

use crate::types::{Account, AccountFlags};

/// Balance limits hold on `a`: with `debits_must_not_exceed_credits`, its debits (pending and
/// posted) are at most its posted credits; with `credits_must_not_exceed_debits`, its credits
/// at most its posted debits. Checked on every account version the executor writes.
pub(crate) fn assert_limits(a: &Account) {
    let flags = a.flags();
    if flags.contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS) {
        let debits = a.debits_pending.checked_add(a.debits_posted);
        assert!(
            debits.is_some_and(|d| d <= a.credits_posted),
            "invariant: account {} debits {}+{} exceed its credits {}",
            a.id,
            a.debits_pending,
            a.debits_posted,
            a.credits_posted
        );
    }
    if flags.contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS) {
        let credits = a.credits_pending.checked_add(a.credits_posted);
        assert!(
            credits.is_some_and(|c| c <= a.debits_posted),
            "invariant: account {} credits {}+{} exceed its debits {}",
            a.id,
            a.credits_pending,
            a.credits_posted,
            a.debits_posted
        );
    }
}

/// Double entry, per ledger: over the accounts a command changed, the change of debits equals
/// the change of credits, pending and posted apart. Every transfer, post, void and expiry moves
/// the same amount on one debit and one credit account of one ledger, so this holds after every
/// event and so after every command.
///
/// Sums wrap (mod 2^128): balances are u128 and a command may move many of them near the top;
/// a real imbalance is never a multiple of 2^128.
///
/// It costs a lookup of every changed account's committed version, about 7% of the apply
/// thread, so the executor runs it in debug builds, in tests and with the `invariants` feature
/// (which this crate's integration tests and the model property test enable), not in default
/// release builds.
#[derive(Debug, Default)]
pub(crate) struct Conservation {
    /// Per ledger: change of debits_pending, debits_posted, credits_pending, credits_posted.
    sums: Vec<(u32, [u128; 4])>,
    /// Where each ledger's sums are in `sums`.
    at: FxHashMap<u32, usize>,
    /// The ledger last added to (most commands move money on one ledger).
    last: usize,
}

impl Conservation {
    /// Forgets every change, keeping the memory.
    pub(crate) fn clear(&mut self) {
        self.sums.clear();
        self.at.clear();
        self.last = 0;
    }

    fn sums_of(&mut self, ledger: u32) -> &mut [u128; 4] {
        if self.sums.get(self.last).is_none_or(|s| s.0 != ledger) {
            self.last = *self.at.entry(ledger).or_insert_with(|| {
                self.sums.push((ledger, [0; 4]));
                self.sums.len() - 1
            });
        }
        &mut self.sums[self.last].1
    }

    /// Adds one changed account: `new` its version after the command, `old` its committed
    /// version (`None` if the command created it).
    pub(crate) fn add(&mut self, new: &Account, old: Option<&Account>) {
        let zero = Account::default();
        let old = old.unwrap_or(&zero);
        assert!(
            old.id == 0 || old.ledger == new.ledger,
            "invariant: account {} moved from ledger {} to {}",
            new.id,
            old.ledger,
            new.ledger
        );
        let delta = [
            new.debits_pending.wrapping_sub(old.debits_pending),
            new.debits_posted.wrapping_sub(old.debits_posted),
            new.credits_pending.wrapping_sub(old.credits_pending),
            new.credits_posted.wrapping_sub(old.credits_posted),
        ];
        for (s, d) in self.sums_of(new.ledger).iter_mut().zip(delta) {
            *s = s.wrapping_add(d);
        }
    }

    /// Asserts that every ledger's debits moved as much as its credits.
    pub(crate) fn assert_balanced(&self) {
        for (ledger, [dp, dpost, cp, cpost]) in &self.sums {
            assert!(
                dp == cp && dpost == cpost,
                "invariant: ledger {ledger} debits moved by (pending {dp}, posted {dpost}) and \
                 credits by (pending {cp}, posted {cpost}) (mod 2^128)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: u128, ledger: u32, dp: u128, dpost: u128, cp: u128, cpost: u128) -> Account {
        Account {
            id,
            ledger,
            debits_pending: dp,
            debits_posted: dpost,
            credits_pending: cp,
            credits_posted: cpost,
            ..Account::default()
        }
    }

    #[test]
    fn balanced_changes_pass_even_when_they_wrap() {
        let mut c = Conservation::default();
        let max = u128::MAX;
        c.add(
            &account(1, 1, 0, max, 0, 0),
            Some(&account(1, 1, 0, 5, 0, 0)),
        );
        c.add(&account(2, 1, 0, 0, 0, max - 5), None);
        c.add(&account(3, 2, 7, 0, 0, 0), Some(&account(3, 2, 9, 0, 0, 0)));
        c.add(&account(4, 2, 0, 0, 1, 0), Some(&account(4, 2, 0, 0, 3, 0)));
        c.assert_balanced();
    }

    #[test]
    #[should_panic(expected = "invariant: ledger 2 debits moved")]
    fn a_one_sided_change_fires() {
        let mut c = Conservation::default();
        c.add(&account(1, 1, 0, 4, 0, 0), None);
        c.add(&account(2, 1, 0, 0, 0, 4), None);
        c.add(&account(3, 2, 0, 4, 0, 0), None);
        c.assert_balanced();
    }

    #[test]
    #[should_panic(expected = "exceed its credits")]
    fn a_broken_debit_limit_fires() {
        let a = Account {
            flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS.bits(),
            ..account(1, 1, 1, 5, 0, 5)
        };
        assert_limits(&a);
    }

    #[test]
    #[should_panic(expected = "exceed its debits")]
    fn a_broken_credit_limit_fires() {
        let a = Account {
            flags: AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS.bits(),
            ..account(1, 1, 0, 0, u128::MAX, 1)
        };
        assert_limits(&a);
    }

    #[test]
    fn limits_at_their_bound_pass() {
        let both = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS.bits();
        assert_limits(&Account {
            flags: both,
            ..account(1, 1, 2, 3, 9, 5)
        });
        let credit = AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS.bits();
        assert_limits(&Account {
            flags: credit,
            ..account(1, 1, 9, 5, 2, 3)
        });
    }
}
