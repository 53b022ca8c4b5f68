//! `tally-faultfs`: mount a backing directory so that a signal can cut its power.
//!
//! ```text
//! tally-faultfs --backing DIR --mount MNT [--torn-seed N] [--writeback-limit-mb N]
//! ```
//!
//! Prints `mounted` on stdout once the mount serves. SIGUSR1: power cut (unsynced writes and
//! uncommitted directory changes are lost; with `--torn-seed`, a prefix of the last write
//! survives), then unmount and exit 0. SIGTERM or SIGINT: write everything back, commit, unmount,
//! exit 0. Either way the last line on stdout is a summary (`power-loss ...` or `clean ...`).

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use clap::Parser;
use fuser::MountOption;
use nix::sys::signal::{SigSet, Signal};
use tally_faultfs::fs::{FaultFs, State};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "A FUSE file system that loses unsynced writes on SIGUSR1"
)]
struct Args {
    /// Directory holding the data (what survives a power cut).
    #[arg(long)]
    backing: PathBuf,
    /// Where to mount the view (an existing, empty directory).
    #[arg(long)]
    mount: PathBuf,
    /// Where removed entries wait until committed [default: BACKING.trash].
    #[arg(long)]
    trash: Option<PathBuf>,
    /// Dirty bytes held before the largest file is written back early (no fsync).
    #[arg(long, default_value_t = 256)]
    writeback_limit_mb: u64,
    /// On a power cut, keep a pseudo-random prefix (1..=8192 bytes, from this seed) of the
    /// last write.
    #[arg(long)]
    torn_seed: Option<u64>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let backing = args.backing.canonicalize().context("backing directory")?;
    let trash = args.trash.unwrap_or_else(|| {
        let mut name = backing.file_name().unwrap_or_default().to_os_string();
        name.push(".trash");
        backing.with_file_name(name)
    });
    let mount = args.mount.canonicalize().context("mount point")?;

    // Block the signals before the session thread exists, so only `wait` below sees them.
    let mut signals = SigSet::empty();
    for sig in [Signal::SIGUSR1, Signal::SIGTERM, Signal::SIGINT] {
        signals.add(sig);
    }
    signals.thread_block().context("block signals")?;

    let state = State::new(backing, trash, args.writeback_limit_mb << 20)?;
    let shared = Arc::new(Mutex::new(state));
    let options = [
        MountOption::FSName("tally-faultfs".into()),
        MountOption::NoAtime,
    ];
    let session = fuser::spawn_mount2(FaultFs(shared.clone()), &mount, &options)
        .with_context(|| format!("mount {}", mount.display()))?;
    println!("mounted");
    std::io::stdout().flush()?;

    let sig = signals.wait().context("wait for a signal")?;
    let summary = {
        let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
        let stats = s.stats();
        if sig == Signal::SIGUSR1 {
            let dropped = s.dirty_bytes();
            let undone = s.pending_dir_changes();
            let keep = args.torn_seed.map(|seed| {
                let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                1 + x % 8192
            });
            let torn = s.power_loss(keep)?;
            format!(
                "power-loss dropped_bytes={dropped} dir_changes_undone={undone} torn_bytes={torn} \
                 fsyncs={} dir_syncs={} early_writebacks={}",
                stats.fsyncs, stats.dir_syncs, stats.early_writebacks
            )
        } else {
            s.sync_all()?;
            format!(
                "clean fsyncs={} dir_syncs={} early_writebacks={}",
                stats.fsyncs, stats.dir_syncs, stats.early_writebacks
            )
        }
    };
    // Detach first: a process still holding a file open must not keep the mount (and this
    // process) alive.
    nix::mount::umount2(&mount, nix::mount::MntFlags::MNT_DETACH)
        .with_context(|| format!("unmount {}", mount.display()))?;
    println!("{summary}");
    std::io::stdout().flush()?;
    // The session thread ends when the kernel closes the connection; do not wait for it.
    std::mem::forget(session);
    Ok(())
}
