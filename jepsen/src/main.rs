//! `tally-jepsen`: run a real cluster under faults, record the history, check it.
//!
//! ```text
//! cargo run -p tally-jepsen -- --time 600 --nemesis all --nodes 5 --out jepsen-out
//! ```
//! Exits 0 when no anomaly was found, 1 when the checkers found one, 2 when the harness itself
//! could not run (no binary, the cluster never became healthy), 130 on ctrl-c.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tally_jepsen::cluster::{check_faultfs_possible, find_faultfs_bin, find_tally_bin};
use tally_jepsen::nemesis::{Family, Schedule};
use tally_jepsen::run::{run, RunOptions};
use tally_jepsen::workload::Shape;

/// Jepsen-style test of a real Tally cluster on 127.0.0.1.
#[derive(Debug, Parser)]
#[command(name = "tally-jepsen", version, about)]
struct Args {
    /// The `tally` binary [default: $TALLY_BIN, else release/tally in $CARGO_TARGET_DIR, target/ or
    /// ~/.cache/tally-target].
    #[arg(long)]
    tally_bin: Option<PathBuf>,
    /// Seconds of workload under faults.
    #[arg(long, default_value_t = 60)]
    time: u64,
    /// Fault families: all, none, or a comma-separated list of kill, pause, partition, clock,
    /// degrade, membership, overload, power-loss (needs root, /dev/fuse and tally-faultfs: each
    /// node's data directory then runs on its own faultfs mount; `all` leaves it out, and says
    /// so, when they are missing).
    #[arg(long, default_value = "all")]
    nemesis: String,
    /// Cluster size (3 or 5).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(3..=5))]
    nodes: u64,
    /// Seed of the workload's and nemesis's random choices [default: from the clock].
    #[arg(long)]
    seed: Option<u64>,
    /// Output directory (history.jsonl, summary.json, final.json, node logs).
    #[arg(long, default_value = "jepsen-out")]
    out: PathBuf,
    /// Bank clients.
    #[arg(long, default_value_t = 4)]
    bank_clients: u64,
    /// Idempotency clients.
    #[arg(long, default_value_t = 2)]
    idem_clients: u64,
    /// Bank accounts (at least 3).
    #[arg(long, default_value_t = 8)]
    accounts: u64,
    /// Shortest and longest fault, in ms.
    #[arg(long, value_delimiter = ',', default_values_t = [3000u64, 6000])]
    fault_ms: Vec<u64>,
    /// Run a deliberately broken client mode; the run must then report anomalies (exit 1).
    #[arg(long, value_enum)]
    broken: Option<tally_jepsen::run::Broken>,
    /// Extra flag for every `tally start`, repeatable, e.g. `--tally-arg=--snapshot-every=200`.
    #[arg(long, allow_hyphen_values = true)]
    tally_arg: Vec<String>,
    /// Run the cluster over TLS: the harness makes a CA and a node certificate in OUT/tls with
    /// `tally certs` (reused if there), starts the nodes with mutual TLS between them, and
    /// speaks TLS to them.
    #[arg(long)]
    tls: bool,
    /// Shortest and longest quiet time between faults, in ms.
    #[arg(long, value_delimiter = ',', default_values_t = [2000u64, 4000])]
    quiet_ms: Vec<u64>,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let Some(bin) = find_tally_bin(a.tally_bin.as_deref()) else {
        eprintln!("tally-jepsen: no tally binary: pass --tally-bin or set TALLY_BIN");
        return ExitCode::from(2);
    };
    let mut nemeses = match Family::parse_list(&a.nemesis) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("tally-jepsen: {e}");
            return ExitCode::from(2);
        }
    };
    // `all` means every family this machine can run: power cuts need root, /dev/fuse and
    // tally-faultfs. Named on its own, `power-loss` stops the run when they are missing.
    let named = a.nemesis.split(',').any(|n| n.trim() == "power-loss");
    if nemeses.contains(&Family::PowerLoss) && !named {
        if let Err(e) = check_faultfs_possible().and_then(|()| find_faultfs_bin(&bin)) {
            eprintln!("tally-jepsen: `all` without power-loss: {e:#}");
            nemeses.retain(|&f| f != Family::PowerLoss);
        }
    }
    let range = |v: &[u64]| match v {
        [lo, hi] if lo <= hi => Some((*lo, *hi)),
        _ => None,
    };
    let (Some(fault_ms), Some(quiet_ms)) = (range(&a.fault_ms), range(&a.quiet_ms)) else {
        eprintln!("tally-jepsen: --fault-ms and --quiet-ms take min,max");
        return ExitCode::from(2);
    };
    if a.nodes == 4 {
        eprintln!("tally-jepsen: --nodes must be 3 or 5");
        return ExitCode::from(2);
    }
    if a.accounts < 3 {
        eprintln!("tally-jepsen: --accounts must be at least 3");
        return ExitCode::from(2);
    }
    let seed = a.seed.unwrap_or_else(|| fastrand::u64(..));
    let mut tally_args = a.tally_arg.clone();
    if a.tls {
        match tally_jepsen::tls::setup(&bin, &a.out.join("tls")) {
            Ok(args) => tally_args.extend(args),
            Err(e) => {
                eprintln!("tally-jepsen: --tls: {e:#}");
                return ExitCode::from(2);
            }
        }
    }
    let opts = RunOptions {
        bin,
        nodes: a.nodes,
        time: Duration::from_secs(a.time),
        nemeses,
        schedule: Schedule { fault_ms, quiet_ms },
        seed,
        out: a.out.clone(),
        bank_clients: a.bank_clients,
        idem_clients: a.idem_clients,
        shape: Shape {
            bank_accounts: u128::from(a.accounts),
            idem_accounts: 4,
        },
        tally_args,
        broken: a.broken,
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tally-jepsen: {e}");
            return ExitCode::from(2);
        }
    };
    // Ctrl-c drops the run: every task ends, and the last one to let go of the cluster kills
    // the nodes, then unmounts their faultfs mounts and removes the mount points.
    let outcome = rt.block_on(async {
        tokio::select! {
            r = run(opts) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    rt.shutdown_timeout(Duration::from_secs(60));
    let Some(outcome) = outcome else {
        eprintln!("tally-jepsen: interrupted; nodes stopped");
        return ExitCode::from(130);
    };
    match outcome {
        Ok(s) => {
            print!("{}", s.render());
            println!("output in {}", a.out.display());
            if s.anomaly_count == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("tally-jepsen: {e:#}");
            ExitCode::from(2)
        }
    }
}
