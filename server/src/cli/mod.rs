//! The `tally` binary's client commands: `account`, `transfer`, `balances`, `transfers`,
//! through the client SDK against a running cluster. Tables for people by default, `--json`
//! (one object per line) for scripts; every result code is printed with what it means.

mod account;
mod certs;
mod transfer;

use std::time::Duration;

use anyhow::{bail, Result};
use tally_client::{
    Client, ClientOptions, CreateAccountResult, CreateTransferResult, EventResult, ReadConsistency,
    TlsOptions,
};

pub use account::AccountCmd;
pub use certs::CertsCmd;
pub use transfer::{history, HistoryArgs, TransferCmd};

use tally_server::config::DEFAULT_LISTEN;

/// Flags every client command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Conn {
    /// Nodes of the cluster, comma-separated host:port (any of them; the SDK finds the leader).
    #[arg(long, env = "TALLY_ADDRESSES", value_delimiter = ',', default_value = DEFAULT_LISTEN, global = true)]
    pub addresses: Vec<String>,
    /// Print JSON (one object per line) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Reads may come from any node and may miss the latest writes.
    #[arg(long, global = true)]
    pub stale: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 10, global = true)]
    pub timeout_secs: u64,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// How a client command speaks TLS to the nodes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// PEM CA certificate(s) the nodes' certificates chain to: with it, speak TLS.
    #[arg(long, env = "TALLY_TLS_CA", global = true)]
    pub tls_ca: Option<std::path::PathBuf>,
    /// PEM client certificate to present (nodes started with --tls-client-ca require one).
    #[arg(long, global = true, requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, global = true, requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}

impl TlsArgs {
    /// The SDK's TLS settings, if --tls-ca is given.
    pub fn options(&self) -> Result<Option<TlsOptions>> {
        if self.tls_ca.is_none() && self.tls_cert.is_some() {
            bail!("--tls-cert needs --tls-ca (the CA of the nodes' certificates)");
        }
        Ok(TlsOptions::from_files(
            self.tls_ca.as_deref(),
            self.tls_cert.as_deref(),
            self.tls_key.as_deref(),
        )?)
    }
}

impl Conn {
    /// A client for these flags.
    pub async fn client(&self) -> Result<Client> {
        let opts = ClientOptions {
            request_timeout: Duration::from_secs(self.timeout_secs.max(1)),
            read_consistency: if self.stale {
                ReadConsistency::Stale
            } else {
                ReadConsistency::Linearizable
            },
            tls: self.tls.options()?,
            ..ClientOptions::default()
        };
        Ok(Client::connect_with(self.addresses.iter().cloned(), opts).await?)
    }
}

/// Parses a u128 written in decimal or `0x` hex.
pub fn parse_u128(s: &str) -> Result<u128, String> {
    let s = s.replace('_', "");
    let r = match s.strip_prefix("0x") {
        Some(h) => u128::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("{s:?} is not a u128 (decimal or 0x-hex): {e}"))
}

/// Parses a flag list like `linked,history` against `names`, OR-ing their bits.
pub fn parse_flags(list: &str, names: &[(&str, u32)]) -> Result<u32> {
    let mut bits = 0;
    for f in list.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let f = f.replace('-', "_");
        match names.iter().find(|(n, _)| *n == f) {
            Some((_, b)) => bits |= b,
            None => bail!(
                "unknown flag {f:?}; known: {}",
                names.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ),
        }
    }
    Ok(bits)
}

/// Names of the set bits of `bits`, comma-separated (`-` for none).
pub fn flag_names(bits: u32, names: &[(&str, u32)]) -> String {
    let set: Vec<&str> = names
        .iter()
        .filter(|(_, b)| bits & b != 0)
        .map(|(n, _)| *n)
        .collect();
    if set.is_empty() {
        "-".into()
    } else {
        set.join(",")
    }
}

/// A record the commands print: a table row for people, a JSON object (one per line) for
/// scripts. Amounts and other u128s are decimal strings in JSON, so no parser rounds them.
pub trait Record {
    /// The table's column names.
    const COLUMNS: &'static [&'static str];
    /// The table row: one cell per column.
    fn row(&self) -> Vec<String>;
    /// The JSON object, with every field.
    fn json(&self) -> serde_json::Value;
}

/// Prints `records`: one JSON object per line with `as_json`, else an aligned table (its
/// header alone when there are none).
pub fn print<R: Record>(records: &[R], as_json: bool) {
    if as_json {
        for r in records {
            println!("{}", r.json());
        }
        return;
    }
    let rows: Vec<Vec<String>> = records.iter().map(R::row).collect();
    table(R::COLUMNS, &rows);
}

/// The result of creating one account or transfer, as the commands report it.
#[derive(Debug)]
pub struct Outcome {
    /// The code's name (`ok`, `exists`, `exceeds_credits`, ...).
    name: &'static str,
    /// The code as `Display` shows it (an unknown code with its number).
    shown: String,
    /// What the code means.
    description: &'static str,
    /// Created by this call.
    ok: bool,
    /// In the ledger: created by this call or an earlier one (`exists`).
    applied: bool,
    /// The result's timestamp: the record's (`ok`, `exists`), else when it was validated.
    timestamp: u64,
}

/// [`Outcome`] from the client's result enums.
macro_rules! outcome_from {
    ($($result:ty),+) => {$(
        impl From<EventResult<$result>> for Outcome {
            fn from(e: EventResult<$result>) -> Self {
                let r = e.result;
                Self {
                    name: r.name(),
                    shown: r.to_string(),
                    description: r.description(),
                    ok: r.is_ok(),
                    applied: r.is_applied(),
                    timestamp: e.timestamp,
                }
            }
        }
    )+};
}

outcome_from!(CreateAccountResult, CreateTransferResult);

/// Prints what became of creating `what` (`account`, `transfer`) `id`: a line for people or a
/// JSON object (with the result's timestamp). Fails (a non-zero exit) unless it is in the
/// ledger, created now or before.
pub fn report_created(what: &str, id: u128, r: impl Into<Outcome>, as_json: bool) -> Result<()> {
    let r = r.into();
    if as_json {
        println!(
            "{}",
            serde_json::json!({
                "id": id.to_string(),
                "result": r.name,
                "ok": r.ok,
                "timestamp": r.timestamp,
            })
        );
    } else if r.ok {
        println!("{what} {id} created");
    } else {
        println!("{what} {id} not created: {}: {}", r.shown, r.description);
    }
    if !r.applied {
        bail!("result {}", r.shown);
    }
    Ok(())
}

/// Prints rows as an aligned table under `header`.
fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let s: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = w[i]))
            .collect();
        println!("{}", s.join("  ").trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u128_in_decimal_and_hex() {
        assert_eq!(parse_u128("42"), Ok(42));
        assert_eq!(parse_u128("0xff"), Ok(255));
        assert_eq!(parse_u128("1_000"), Ok(1000));
        assert_eq!(
            parse_u128(&u128::MAX.to_string()),
            Ok(u128::MAX),
            "the whole range"
        );
        assert!(parse_u128("-1").is_err());
        assert!(parse_u128("12.5").is_err());
    }

    #[test]
    fn flags_by_name() {
        let names = [("linked", 1), ("history", 8)];
        assert_eq!(parse_flags("linked,history", &names).unwrap(), 9);
        assert_eq!(parse_flags("", &names).unwrap(), 0);
        assert!(parse_flags("closed", &names).is_err());
        assert_eq!(flag_names(9, &names), "linked,history");
        assert_eq!(flag_names(0, &names), "-");
    }
}
