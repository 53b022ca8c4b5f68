//! The applied position: the last applied log id and the membership in force, stored in the
//! ledger's `meta/applied` value in the same RocksDB write as each entry's effects.

use std::io;

use openraft::alias::StoredMembershipOf;
use openraft::EntryPayload;
use serde::{Deserialize, Serialize};
use tally_ledger::{read_applied, KvRead};

use crate::codec::{self, CodecError};
use crate::types::{Entry, LogId, TypeConfig};

/// openraft's membership with the log id of the entry that set it.
pub type StoredMembership = StoredMembershipOf<TypeConfig>;

/// What `meta/applied` holds (postcard): written with every entry, so the state on disk always
/// names the exact prefix of the log it reflects (`docs/internals/replication.md`, "Durability
/// without a state WAL").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The last applied entry; `None` in a fresh store.
    pub log_id: Option<LogId>,
    /// The last membership config applied, with the log id of its entry.
    pub membership: StoredMembership,
}

impl Applied {
    /// Encodes for `meta/applied`.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        codec::to_bytes(self)
    }

    /// Decodes [`Applied::encode`]'s bytes.
    pub fn decode(b: &[u8]) -> Result<Self, CodecError> {
        codec::from_bytes(b)
    }

    /// Reads the position from a store; a store that never applied an entry gives the default
    /// (no log id, empty membership).
    pub fn read(store: &dyn KvRead) -> io::Result<Self> {
        match read_applied(store).map_err(io::Error::other)? {
            Some(b) => Ok(Self::decode(&b)?),
            None => Ok(Self::default()),
        }
    }

    /// The position after applying `entry`. The applied index must strictly increase: an entry
    /// at or below the current position would be applied twice, so it is an error that stops
    /// the node before anything is written.
    pub fn after(&self, entry: &Entry) -> io::Result<Self> {
        if let Some(cur) = &self.log_id {
            if entry.log_id.index <= cur.index {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "entry {} is not after the applied position {}",
                        entry.log_id, cur
                    ),
                ));
            }
        }
        let membership = match &entry.payload {
            EntryPayload::Membership(m) => StoredMembership::new(Some(entry.log_id), m.clone()),
            _ => self.membership.clone(),
        };
        Ok(Self {
            log_id: Some(entry.log_id),
            membership,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use openraft::alias::LeaderIdOf;
    use openraft::entry::RaftEntry;
    use openraft::vote::RaftLeaderIdExt;
    use openraft::Membership;

    use super::*;
    use crate::types::TallyNode;

    fn log_id(term: u64, index: u64) -> LogId {
        LogId::new(LeaderIdOf::<TypeConfig>::new_committed(term, 1), index)
    }

    fn membership() -> Membership<u64, TallyNode> {
        let voters: BTreeSet<u64> = [1, 2].into();
        let nodes = [(1, "a:1"), (2, "b:2")].map(|(id, a)| (id, TallyNode { addr: a.into() }));
        Membership::new(
            vec![voters],
            nodes
                .into_iter()
                .collect::<std::collections::BTreeMap<_, _>>(),
        )
        .unwrap()
    }

    #[test]
    fn after_advances_and_tracks_membership() {
        let a = Applied::default();
        let m = Entry::new(log_id(1, 3), EntryPayload::Membership(membership()));
        let a = a.after(&m).unwrap();
        assert_eq!(a.log_id, Some(log_id(1, 3)));
        assert_eq!(
            a.membership,
            StoredMembership::new(Some(log_id(1, 3)), membership())
        );
        let b = a.after(&Entry::new_blank(log_id(2, 4))).unwrap();
        assert_eq!(b.log_id, Some(log_id(2, 4)));
        assert_eq!(
            b.membership, a.membership,
            "a blank entry keeps the membership"
        );
        // Not strictly increasing: refused.
        for index in [3, 4] {
            let e = b.after(&Entry::new_blank(log_id(2, index))).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        }
        assert_eq!(Applied::decode(&b.encode().unwrap()).unwrap(), b);
    }

    /// The stored bytes, pinned: an openraft or codec change that alters them must fail here
    /// rather than misread the position of existing stores.
    #[test]
    fn golden_bytes() {
        let a = Applied::default()
            .after(&Entry::new_blank(log_id(5, 300)))
            .unwrap();
        // Some(log id: term 5, node 1, index 300 = varint 172 2), then the membership: no log
        // id, no configs, no nodes.
        assert_eq!(a.encode().unwrap(), [1, 5, 1, 172, 2, 0, 0, 0]);
        assert_eq!(Applied::default().encode().unwrap(), [0, 0, 0, 0]);
    }
}
