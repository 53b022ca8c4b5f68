//! A `tally-faultfs` process mounted on a temporary directory, cleaned up on drop.
#![allow(dead_code)] // each test file uses part of it

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub struct Mount {
    child: Option<Child>,
    stdout: Option<BufReader<ChildStdout>>,
    pub mnt: PathBuf,
}

impl Mount {
    /// Mounts `backing` (created if missing) on a fresh directory under `base`.
    pub fn start(base: &Path, backing: &Path, extra: &[&str]) -> Mount {
        std::fs::create_dir_all(backing).unwrap();
        let mnt = base.join(format!("mnt-{}", std::process::id()));
        let mnt = (0..)
            .map(|i| mnt.with_extension(i.to_string()))
            .find(|p| !p.exists())
            .unwrap();
        std::fs::create_dir_all(&mnt).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tally-faultfs"))
            .arg("--backing")
            .arg(backing)
            .arg("--mount")
            .arg(&mnt)
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start tally-faultfs");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(
            line.trim(),
            "mounted",
            "tally-faultfs did not mount (needs root and /dev/fuse)"
        );
        Mount {
            child: Some(child),
            stdout: Some(stdout),
            mnt,
        }
    }

    /// Sends `sig`, waits (bounded) for the process to exit 0, and returns its summary line.
    fn stop(&mut self, sig: Signal) -> String {
        let mut child = self.child.take().expect("running");
        kill(Pid::from_raw(child.id() as i32), sig).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "tally-faultfs did not exit after {sig}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "tally-faultfs exited with {status}");
        let mut summary = String::new();
        self.stdout.take().unwrap().read_line(&mut summary).unwrap();
        summary.trim().to_string()
    }

    /// Cuts the power: returns the summary (`power-loss ...`).
    pub fn power_loss(mut self) -> String {
        self.stop(Signal::SIGUSR1)
    }

    /// Stops cleanly: returns the summary (`clean ...`).
    pub fn stop_clean(mut self) -> String {
        self.stop(Signal::SIGTERM)
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.mnt.join(rel)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = nix::mount::umount2(&self.mnt, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// Fsyncs a directory.
pub fn sync_dir(path: &Path) {
    std::fs::File::open(path).unwrap().sync_all().unwrap();
}
