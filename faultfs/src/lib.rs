//! A FUSE file system that loses unsynced writes on command.
//!
//! `tally-faultfs` mounts a pass-through view of a backing directory. Writes and size changes
//! stay in its memory until the file is fsynced; directory changes (create, remove, rename,
//! link) reach the backing tree at once but are taken back unless a directory is fsynced
//! afterwards. On SIGUSR1 it simulates a power cut: every unsynced write and uncommitted
//! directory change is dropped (optionally tearing the last write), the file system is
//! unmounted, and the backing directory holds exactly what a machine that lost power would
//! find on its disk. On SIGTERM it stops cleanly, writing everything back.
//!
//! Tally's fault harness runs each node's data directory on such a mount, kills the node, cuts
//! its power, and restarts it on a fresh mount of the same backing directory; a node that
//! acknowledged a write before making it durable then loses it, and the checkers see it.
//!
//! # Layout
//! - [`cache`]: one file's unsynced pages in front of its backing file.
//! - [`journal`]: uncommitted directory changes and how to undo them.
//! - [`fs`]: the FUSE file system over both.
//!
//! # Boundary
//! A test tool: no Tally crate depends on it, and it depends on none of them.
//!
//! # Example
//! ```no_run
//! use std::sync::{Arc, Mutex};
//! use tally_faultfs::fs::{FaultFs, State};
//!
//! let state = State::new("/data/node1".into(), "/data/node1.trash".into(), 256 << 20)?;
//! let shared = Arc::new(Mutex::new(state));
//! let session = fuser::spawn_mount2(FaultFs(shared.clone()), "/mnt/node1", &[])?;
//! // ... run a node on /mnt/node1, kill it, then:
//! shared.lock().unwrap().power_loss(None)?;
//! drop(session);
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod cache;
pub mod fs;
pub mod journal;
