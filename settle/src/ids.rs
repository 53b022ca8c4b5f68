//! Deterministic ids: the same provider event always maps to the same transfer id, so replaying a
//! feed (or receiving an event twice) can never post twice: Tally answers `exists`.
//!
//! An id is the first 16 bytes of BLAKE3 over the parts, each prefixed with its length (so
//! `("ab", "c")` and `("a", "bc")` differ), with a domain tag first. Tally reserves 0 and
//! `u128::MAX`; a hash that lands on either (probability 2^-127) is moved to 1 or `u128::MAX - 1`.

/// A 128-bit id from a domain tag and parts.
pub fn derive(domain: &str, parts: &[&str]) -> u128 {
    let mut hasher = blake3::Hasher::new();
    for part in std::iter::once(&domain).chain(parts) {
        hasher.update(&(part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let bytes: [u8; 16] = hasher.finalize().as_bytes()[..16]
        .try_into()
        .expect("a BLAKE3 hash has 32 bytes");
    match u128::from_be_bytes(bytes) {
        0 => 1,
        u128::MAX => u128::MAX - 1,
        id => id,
    }
}

/// The key of one game round of one provider: every transfer of the round carries it in
/// `user_data_128`, so `query_transfers` finds the whole round.
pub fn round_key(provider: &str, round_id: &str) -> u128 {
    derive("round", &[provider, round_id])
}

/// The transfer id of a provider event (a bet or a win), from the provider's own event id.
pub fn event_transfer(provider: &str, round_id: &str, kind: &str, event_id: &str) -> u128 {
    derive("event", &[provider, round_id, kind, event_id])
}

/// The transfer id of a leg the kit adds to a round (the post or void of a bet, a split leg, an
/// FX leg), named by `leg` (e.g. `"post:<bet id>"`, `"share:provider"`).
pub fn leg_transfer(provider: &str, round_id: &str, leg: &str) -> u128 {
    derive("leg", &[provider, round_id, leg])
}

/// The id of an account, from its role and owner (see the chart in `chart.rs`).
pub fn account(role: &str, owner: &str, currency: &str) -> u128 {
    derive("account", &[role, owner, currency])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_event_always_gets_the_same_id() {
        let a = event_transfer("alpha", "1001", "bet", "tx-1");
        assert_eq!(a, event_transfer("alpha", "1001", "bet", "tx-1"));
        assert_ne!(a, event_transfer("alpha", "1001", "win", "tx-1"));
        assert_ne!(a, event_transfer("beta", "1001", "bet", "tx-1"));
        assert_ne!(a, event_transfer("alpha", "1002", "bet", "tx-1"));
    }

    #[test]
    fn part_boundaries_matter() {
        assert_ne!(derive("d", &["ab", "c"]), derive("d", &["a", "bc"]));
        assert_ne!(derive("d", &["a"]), derive("e", &["a"]));
        assert_ne!(round_key("a", "b"), account("a", "b", ""));
    }

    #[test]
    fn ids_are_never_reserved_values() {
        for i in 0..10_000 {
            let id = derive("t", &[&i.to_string()]);
            assert!(id != 0 && id != u128::MAX);
        }
    }

    #[test]
    fn ids_are_stable_across_versions() {
        // A changed derivation would re-post every replayed feed under new ids.
        let pinned = derive("pin", &[]);
        let expected = {
            let mut h = blake3::Hasher::new();
            h.update(&3u64.to_be_bytes());
            h.update(b"pin");
            u128::from_be_bytes(h.finalize().as_bytes()[..16].try_into().unwrap())
        };
        assert_eq!(pinned, expected);
        assert_eq!(
            format!("{:032x}", round_key("alpha", "A1001")),
            "4b43e8cea332644b489c6155d2051cc2"
        );
    }
}
