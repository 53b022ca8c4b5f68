//! The data directory's identity: which cluster and which node it belongs to, written once in
//! `tally.id` when the directory is first used and checked on every start, so a data directory
//! of another cluster or node is refused instead of silently mixed in.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name inside the data directory.
pub const FILE: &str = "tally.id";
/// Version of the file's format.
const FORMAT: u32 = 1;

/// A data directory's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// The cluster the directory belongs to.
    pub cluster_id: u128,
    /// The node it belongs to.
    pub node_id: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    format: u32,
    cluster_id: String,
    node_id: u64,
}

/// Why the data directory cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// Reading or writing the directory failed.
    #[error("data dir {dir}")]
    Io {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The identity file does not parse.
    #[error("data dir {dir}: {FILE} is damaged: {msg}")]
    Damaged {
        /// The directory.
        dir: PathBuf,
        /// Why.
        msg: String,
    },
    /// The directory belongs to another cluster or node.
    #[error(
        "data dir {dir} belongs to cluster {found_cluster:032x} node {found_node}, but this node \
         is configured as cluster {want_cluster} node {want_node}; use the right --data-dir, or \
         an empty one for a new node"
    )]
    Mismatch {
        /// The directory.
        dir: PathBuf,
        /// Cluster in the directory.
        found_cluster: u128,
        /// Node in the directory.
        found_node: u64,
        /// Configured cluster, if any.
        want_cluster: String,
        /// Configured node.
        want_node: u64,
    },
    /// The directory holds Raft state but no identity: not a Tally data directory, or one
    /// whose identity file was removed.
    #[error("data dir {dir} holds Raft state but no {FILE}; refusing to guess whose it is")]
    Unknown {
        /// The directory.
        dir: PathBuf,
    },
    /// A new directory needs a cluster id and none was configured.
    #[error("data dir {dir} is new and no cluster id is configured (--cluster-id)")]
    NoClusterId {
        /// The directory.
        dir: PathBuf,
    },
}

/// Checks the identity of `dir` against the configured `node_id` and `cluster_id` (`None`:
/// take whatever the directory holds), writing it if the directory is new. A new directory
/// gets `cluster_id`, or, if `generate` is set and none is configured, a random one.
/// Returns the identity and whether the directory was new.
pub fn check_or_create(
    dir: &Path,
    node_id: u64,
    cluster_id: Option<u128>,
    generate: bool,
) -> Result<(Identity, bool), IdentityError> {
    let io = |source| IdentityError::Io {
        dir: dir.to_path_buf(),
        source,
    };
    fs::create_dir_all(dir).map_err(io)?;
    let path = dir.join(FILE);
    if path.exists() {
        let found = read(dir, &path)?;
        let cluster_ok = cluster_id.is_none_or(|c| c == found.cluster_id);
        if found.node_id != node_id || !cluster_ok {
            return Err(IdentityError::Mismatch {
                dir: dir.to_path_buf(),
                found_cluster: found.cluster_id,
                found_node: found.node_id,
                want_cluster: cluster_id.map_or("(any)".into(), |c| format!("{c:032x}")),
                want_node: node_id,
            });
        }
        return Ok((found, false));
    }
    if dir.join("raft-log").exists() || dir.join("state").exists() {
        return Err(IdentityError::Unknown {
            dir: dir.to_path_buf(),
        });
    }
    let cluster_id = match cluster_id {
        Some(c) => c,
        None if generate => loop {
            let c = fastrand::u128(..);
            if c != 0 {
                break c;
            }
        },
        None => {
            return Err(IdentityError::NoClusterId {
                dir: dir.to_path_buf(),
            })
        }
    };
    let id = Identity {
        cluster_id,
        node_id,
    };
    write(dir, &path, &id).map_err(io)?;
    Ok((id, true))
}

fn read(dir: &Path, path: &Path) -> Result<Identity, IdentityError> {
    let damaged = |msg: String| IdentityError::Damaged {
        dir: dir.to_path_buf(),
        msg,
    };
    let text = fs::read_to_string(path).map_err(|source| IdentityError::Io {
        dir: dir.to_path_buf(),
        source,
    })?;
    let d: OnDisk = toml::from_str(&text).map_err(|e| damaged(e.to_string()))?;
    if d.format != FORMAT {
        return Err(damaged(format!(
            "format {} (this build reads {FORMAT})",
            d.format
        )));
    }
    let cluster_id =
        u128::from_str_radix(&d.cluster_id, 16).map_err(|e| damaged(format!("cluster_id: {e}")))?;
    Ok(Identity {
        cluster_id,
        node_id: d.node_id,
    })
}

/// Writes the file atomically: a temporary file, fsync, rename, fsync of the directory.
fn write(dir: &Path, path: &Path, id: &Identity) -> std::io::Result<()> {
    let d = OnDisk {
        format: FORMAT,
        cluster_id: format!("{:032x}", id.cluster_id),
        node_id: id.node_id,
    };
    let text = toml::to_string(&d).map_err(std::io::Error::other)?;
    let tmp = dir.join(format!("{FILE}.tmp"));
    let mut f = fs::File::create(&tmp)?;
    f.write_all(b"# Which Tally cluster and node this data directory belongs to. Do not edit.\n")?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_dir_gets_identity_and_restart_needs_nothing() {
        let d = tempfile::tempdir().unwrap();
        let (id, new) = check_or_create(d.path(), 1, Some(42), false).unwrap();
        assert!(new);
        assert_eq!(id.cluster_id, 42);
        let (again, new) = check_or_create(d.path(), 1, None, false).unwrap();
        assert!(!new);
        assert_eq!(again, id);
    }

    #[test]
    fn other_cluster_or_node_is_refused() {
        let d = tempfile::tempdir().unwrap();
        check_or_create(d.path(), 1, Some(42), false).unwrap();
        let e = check_or_create(d.path(), 1, Some(43), false).unwrap_err();
        assert!(matches!(e, IdentityError::Mismatch { .. }), "{e}");
        assert!(e.to_string().contains("belongs to cluster"), "{e}");
        let e = check_or_create(d.path(), 2, Some(42), false).unwrap_err();
        assert!(matches!(e, IdentityError::Mismatch { .. }), "{e}");
    }

    #[test]
    fn raft_state_without_identity_is_refused() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("raft-log")).unwrap();
        let e = check_or_create(d.path(), 1, Some(1), false).unwrap_err();
        assert!(matches!(e, IdentityError::Unknown { .. }), "{e}");
    }

    #[test]
    fn new_dir_without_cluster_id_generates_or_refuses() {
        let d = tempfile::tempdir().unwrap();
        let e = check_or_create(d.path(), 1, None, false).unwrap_err();
        assert!(matches!(e, IdentityError::NoClusterId { .. }));
        let (id, _) = check_or_create(d.path(), 1, None, true).unwrap();
        assert_ne!(id.cluster_id, 0);
    }
}
