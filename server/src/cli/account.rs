//! `tally account create|lookup`.

use anyhow::{bail, Result};
use serde_json::json;
use tally_client::{Account, AccountFlags};

use super::{flag_names, parse_flags, parse_u128, print, report_created, Conn, Record};

const FLAGS: &[(&str, u32)] = &[
    ("linked", AccountFlags::LINKED.bits()),
    (
        "debits_must_not_exceed_credits",
        AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS.bits(),
    ),
    (
        "credits_must_not_exceed_debits",
        AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS.bits(),
    ),
    ("history", AccountFlags::HISTORY.bits()),
    ("imported", AccountFlags::IMPORTED.bits()),
    ("closed", AccountFlags::CLOSED.bits()),
];

/// `tally account ...`.
#[derive(Debug, clap::Subcommand)]
pub enum AccountCmd {
    /// Create an account.
    Create {
        /// The account's id (decimal or 0x-hex); a new time-ordered id if omitted.
        #[arg(long, value_parser = parse_u128)]
        id: Option<u128>,
        /// The ledger (e.g. currency) it belongs to.
        #[arg(long)]
        ledger: u32,
        /// Chart-of-accounts code, 1..=65535.
        #[arg(long)]
        code: u16,
        /// Comma-separated: linked, debits_must_not_exceed_credits,
        /// credits_must_not_exceed_debits, history.
        #[arg(long, default_value = "")]
        flags: String,
        /// Opaque reference data.
        #[arg(long, value_parser = parse_u128, default_value = "0")]
        user_data_128: u128,
        /// Opaque reference data.
        #[arg(long, default_value_t = 0)]
        user_data_64: u64,
        /// Opaque reference data.
        #[arg(long, default_value_t = 0)]
        user_data_32: u32,
        #[command(flatten)]
        conn: Conn,
    },
    /// Look accounts up by id.
    Lookup {
        /// Account ids.
        #[arg(required = true, value_parser = parse_u128)]
        ids: Vec<u128>,
        #[command(flatten)]
        conn: Conn,
    },
}

impl AccountCmd {
    /// Runs the command.
    pub async fn run(self) -> Result<()> {
        match self {
            Self::Create {
                id,
                ledger,
                code,
                flags,
                user_data_128,
                user_data_64,
                user_data_32,
                conn,
            } => {
                let mut a = Account::new(id.unwrap_or_else(tally_client::id), ledger, code);
                a.flags = AccountFlags::from_bits_retain(parse_flags(&flags, FLAGS)?);
                a.user_data_128 = user_data_128;
                a.user_data_64 = user_data_64;
                a.user_data_32 = user_data_32;
                let client = conn.client().await?;
                let r = client.create_accounts_with_timestamps(&[a]).await?[0];
                report_created("account", a.id, r, conn.json)
            }
            Self::Lookup { ids, conn } => {
                let found = conn.client().await?.lookup_accounts(&ids).await?;
                print(&found, conn.json);
                if found.len() < ids.len() {
                    let missing: Vec<String> = ids
                        .iter()
                        .filter(|i| !found.iter().any(|a| a.id == **i))
                        .map(u128::to_string)
                        .collect();
                    bail!("not found: {}", missing.join(", "));
                }
                Ok(())
            }
        }
    }
}

impl Record for Account {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "ledger",
        "code",
        "debits_pending",
        "debits_posted",
        "credits_pending",
        "credits_posted",
        "flags",
    ];

    fn row(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.ledger.to_string(),
            self.code.to_string(),
            self.debits_pending.to_string(),
            self.debits_posted.to_string(),
            self.credits_pending.to_string(),
            self.credits_posted.to_string(),
            flag_names(self.flags.bits(), FLAGS),
        ]
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "id": self.id.to_string(),
            "ledger": self.ledger,
            "code": self.code,
            "flags": flag_names(self.flags.bits(), FLAGS),
            "debits_pending": self.debits_pending.to_string(),
            "debits_posted": self.debits_posted.to_string(),
            "credits_pending": self.credits_pending.to_string(),
            "credits_posted": self.credits_posted.to_string(),
            "user_data_128": self.user_data_128.to_string(),
            "user_data_64": self.user_data_64,
            "user_data_32": self.user_data_32,
            "timestamp": self.timestamp,
        })
    }
}
