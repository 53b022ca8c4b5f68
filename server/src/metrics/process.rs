//! The process's own figures, under the conventional `process_` names that Prometheus's client
//! libraries export: CPU time, memory, file descriptors, threads, start time. Read from
//! `/proc/self` at scrape time; on a system without `/proc` (not Linux) the figures are absent.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{counter, gauge};

/// Clock ticks per second of `/proc`'s CPU times (`USER_HZ`): 100 on every Linux platform.
const TICKS_PER_SEC: f64 = 100.0;

/// Collects the process's figures at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessCollector;

/// The figures of this process, from `/proc/self`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessFigures {
    /// User and system CPU time, seconds.
    pub cpu_seconds: f64,
    /// Resident set size, bytes.
    pub resident_bytes: u64,
    /// Virtual memory size, bytes.
    pub virtual_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The soft limit on open file descriptors.
    pub max_fds: u64,
    /// Threads.
    pub threads: u64,
    /// Start time, seconds since the Unix epoch.
    pub start_time_seconds: f64,
}

impl ProcessFigures {
    /// Reads them now; `None` without `/proc/self` or if its format is not understood.
    pub fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        // `rest` starts at field 3 (state); field n of proc(5) is f[n - 3].
        let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        let (utime, stime) = (field(14)?, field(15)?);
        let threads = field(20)?;
        let start_ticks = field(22)?;
        let virtual_bytes = field(23)?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let resident_bytes = kib_line(&status, "VmRSS:")? * 1024;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let boot_time = boot
            .lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<u64>().ok())?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
        let max_fds = limits
            .lines()
            .find_map(|l| l.strip_prefix("Max open files"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        Some(Self {
            cpu_seconds: (utime + stime) as f64 / TICKS_PER_SEC,
            resident_bytes,
            virtual_bytes,
            open_fds,
            max_fds,
            threads,
            start_time_seconds: boot_time as f64 + start_ticks as f64 / TICKS_PER_SEC,
        })
    }
}

/// The value of a `Name:   123 kB` line of `/proc/self/status`.
fn kib_line(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

impl Collector for ProcessCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let Some(p) = ProcessFigures::read() else {
            return Ok(());
        };
        counter(
            &mut enc,
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            p.cpu_seconds,
        )?;
        gauge(
            &mut enc,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            p.resident_bytes,
        )?;
        gauge(
            &mut enc,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            p.virtual_bytes,
        )?;
        gauge(
            &mut enc,
            "process_open_fds",
            "Number of open file descriptors.",
            p.open_fds,
        )?;
        gauge(
            &mut enc,
            "process_max_fds",
            "Maximum number of open file descriptors.",
            p.max_fds,
        )?;
        gauge(
            &mut enc,
            "process_threads",
            "Number of OS threads in the process.",
            p.threads,
        )?;
        gauge(
            &mut enc,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            p.start_time_seconds,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_plausible_figures() {
        let p = ProcessFigures::read().expect("Linux has /proc/self");
        assert!(p.resident_bytes > 1 << 20, "{p:?}");
        assert!(p.virtual_bytes >= p.resident_bytes, "{p:?}");
        assert!(p.open_fds >= 3 && p.open_fds <= p.max_fds, "{p:?}");
        assert!(p.threads >= 1, "{p:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            p.start_time_seconds > now - 3600.0 && p.start_time_seconds <= now + 1.0,
            "{p:?}"
        );
    }
}
