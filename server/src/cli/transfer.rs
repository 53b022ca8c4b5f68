//! `tally transfer create|post|void|lookup`, and the account history commands
//! `tally balances` and `tally transfers`.

use anyhow::{bail, Context, Result};
use serde_json::json;
use tally_client::{
    AccountBalance, AccountFilter, AccountFilterFlags, Decimal, PostAmount, Scale, Transfer,
    TransferFlags,
};

use super::{flag_names, parse_flags, parse_u128, print, report_created, Conn, Record};

const FLAGS: &[(&str, u32)] = &[
    ("linked", TransferFlags::LINKED.bits()),
    ("pending", TransferFlags::PENDING.bits()),
    (
        "post_pending_transfer",
        TransferFlags::POST_PENDING_TRANSFER.bits(),
    ),
    (
        "void_pending_transfer",
        TransferFlags::VOID_PENDING_TRANSFER.bits(),
    ),
    ("balancing_debit", TransferFlags::BALANCING_DEBIT.bits()),
    ("balancing_credit", TransferFlags::BALANCING_CREDIT.bits()),
    ("closing_debit", TransferFlags::CLOSING_DEBIT.bits()),
    ("closing_credit", TransferFlags::CLOSING_CREDIT.bits()),
    ("imported", TransferFlags::IMPORTED.bits()),
];

/// An amount: minor units, or a decimal with `--scale`.
#[derive(Debug, Clone, clap::Args)]
pub struct AmountArg {
    /// Amount in minor units (e.g. cents), or a decimal (e.g. 12.34) with --scale.
    #[arg(long)]
    amount: String,
    /// Decimal places of the ledger's currency (e.g. 2 for USD, 0 for KRW): --amount is then
    /// in major units and must fit exactly.
    #[arg(long)]
    scale: Option<u32>,
}

impl AmountArg {
    fn minor(&self) -> Result<u128> {
        match self.scale {
            None => parse_u128(&self.amount).map_err(anyhow::Error::msg),
            Some(places) => {
                let d: Decimal = self
                    .amount
                    .parse()
                    .with_context(|| format!("amount {:?}", self.amount))?;
                Ok(Scale::new(places)?.to_minor(d)?)
            }
        }
    }
}

/// `tally transfer ...`.
#[derive(Debug, clap::Subcommand)]
pub enum TransferCmd {
    /// Move an amount from one account to another (or reserve it, with --pending).
    Create {
        /// The transfer's id and idempotency key; a new time-ordered id if omitted. Resending
        /// the same id never applies it twice.
        #[arg(long, value_parser = parse_u128)]
        id: Option<u128>,
        /// The account debited.
        #[arg(long, value_parser = parse_u128)]
        debit: u128,
        /// The account credited.
        #[arg(long, value_parser = parse_u128)]
        credit: u128,
        #[command(flatten)]
        amount: AmountArg,
        /// The ledger of both accounts.
        #[arg(long)]
        ledger: u32,
        /// Reason code, 1..=65535.
        #[arg(long, default_value_t = 1)]
        code: u16,
        /// Reserve the amount: a pending transfer to post or void later.
        #[arg(long)]
        pending: bool,
        /// Seconds until a pending transfer expires (0 = never).
        #[arg(long, default_value_t = 0)]
        timeout: u32,
        /// More flags, comma-separated (e.g. balancing_debit, closing_credit).
        #[arg(long, default_value = "")]
        flags: String,
        /// Opaque reference data.
        #[arg(long, value_parser = parse_u128, default_value = "0")]
        user_data_128: u128,
        #[command(flatten)]
        conn: Conn,
    },
    /// Post a pending transfer: in full, or --amount for part of it.
    Post {
        /// The new transfer's id; a new one if omitted.
        #[arg(long, value_parser = parse_u128)]
        id: Option<u128>,
        /// The pending transfer.
        #[arg(long, value_parser = parse_u128)]
        pending_id: u128,
        /// Post only this much (minor units); the rest is released.
        #[arg(long, value_parser = parse_u128)]
        amount: Option<u128>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Void a pending transfer, releasing its reservation.
    Void {
        /// The new transfer's id; a new one if omitted.
        #[arg(long, value_parser = parse_u128)]
        id: Option<u128>,
        /// The pending transfer.
        #[arg(long, value_parser = parse_u128)]
        pending_id: u128,
        #[command(flatten)]
        conn: Conn,
    },
    /// Look transfers up by id.
    Lookup {
        /// Transfer ids.
        #[arg(required = true, value_parser = parse_u128)]
        ids: Vec<u128>,
        #[command(flatten)]
        conn: Conn,
    },
}

impl TransferCmd {
    /// Runs the command.
    pub async fn run(self) -> Result<()> {
        let (t, conn) = match self {
            Self::Lookup { ids, conn } => {
                let found = conn.client().await?.lookup_transfers(&ids).await?;
                print(&found, conn.json);
                if found.len() < ids.len() {
                    bail!("{} of {} not found", ids.len() - found.len(), ids.len());
                }
                return Ok(());
            }
            Self::Create {
                id,
                debit,
                credit,
                amount,
                ledger,
                code,
                pending,
                timeout,
                flags,
                user_data_128,
                conn,
            } => {
                let id = id.unwrap_or_else(tally_client::id);
                let mut t = Transfer::new(id, debit, credit, amount.minor()?, ledger, code);
                if pending {
                    t = t.pending(timeout);
                } else {
                    t.timeout = timeout;
                }
                t.flags |= TransferFlags::from_bits_retain(parse_flags(&flags, FLAGS)?);
                t.user_data_128 = user_data_128;
                (t, conn)
            }
            Self::Post {
                id,
                pending_id,
                amount,
                conn,
            } => {
                let how = amount.map_or(PostAmount::Full, PostAmount::Partial);
                let id = id.unwrap_or_else(tally_client::id);
                (Transfer::post(id, pending_id, how), conn)
            }
            Self::Void {
                id,
                pending_id,
                conn,
            } => (
                Transfer::void(id.unwrap_or_else(tally_client::id), pending_id),
                conn,
            ),
        };
        let client = conn.client().await?;
        let r = client.create_transfers_with_timestamps(&[t]).await?[0];
        report_created("transfer", t.id, r, conn.json)
    }
}

impl Record for Transfer {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "debit",
        "credit",
        "amount",
        "ledger",
        "code",
        "flags",
        "timestamp",
    ];

    fn row(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.debit_account_id.to_string(),
            self.credit_account_id.to_string(),
            self.amount.to_string(),
            self.ledger.to_string(),
            self.code.to_string(),
            flag_names(self.flags.bits(), FLAGS),
            self.timestamp.to_string(),
        ]
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "id": self.id.to_string(),
            "debit_account_id": self.debit_account_id.to_string(),
            "credit_account_id": self.credit_account_id.to_string(),
            "amount": self.amount.to_string(),
            "pending_id": self.pending_id.to_string(),
            "ledger": self.ledger,
            "code": self.code,
            "flags": flag_names(self.flags.bits(), FLAGS),
            "timeout": self.timeout,
            "user_data_128": self.user_data_128.to_string(),
            "user_data_64": self.user_data_64,
            "user_data_32": self.user_data_32,
            "timestamp": self.timestamp,
        })
    }
}

impl Record for AccountBalance {
    const COLUMNS: &'static [&'static str] = &[
        "timestamp",
        "debits_pending",
        "debits_posted",
        "credits_pending",
        "credits_posted",
    ];

    fn row(&self) -> Vec<String> {
        vec![
            self.timestamp.to_string(),
            self.debits_pending.to_string(),
            self.debits_posted.to_string(),
            self.credits_pending.to_string(),
            self.credits_posted.to_string(),
        ]
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "timestamp": self.timestamp,
            "debits_pending": self.debits_pending.to_string(),
            "debits_posted": self.debits_posted.to_string(),
            "credits_pending": self.credits_pending.to_string(),
            "credits_posted": self.credits_posted.to_string(),
        })
    }
}

/// `tally balances` / `tally transfers`: one account's history.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The account.
    #[arg(value_parser = parse_u128)]
    account: u128,
    /// At most this many rows (1..=8189).
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// Newest first.
    #[arg(long)]
    reversed: bool,
    /// Only transfers that debit the account.
    #[arg(long, conflicts_with = "credits")]
    debits: bool,
    /// Only transfers that credit the account.
    #[arg(long)]
    credits: bool,
    #[command(flatten)]
    conn: Conn,
}

/// Prints an account's transfers (`balances == false`) or balance history.
pub async fn history(args: HistoryArgs, balances: bool) -> Result<()> {
    let mut f = AccountFilter::new(args.account);
    f.limit = args.limit;
    f.flags = match (args.debits, args.credits) {
        (true, false) => AccountFilterFlags::DEBITS,
        (false, true) => AccountFilterFlags::CREDITS,
        _ => AccountFilterFlags::DEBITS | AccountFilterFlags::CREDITS,
    };
    if args.reversed {
        f.flags |= AccountFilterFlags::REVERSED;
    }
    let client = args.conn.client().await?;
    if !balances {
        let ts = client.get_account_transfers(f).await?;
        print(&ts, args.conn.json);
        return Ok(());
    }
    let bs = client.get_account_balances(f).await?;
    print(&bs, args.conn.json);
    if bs.is_empty() && !args.conn.json {
        println!("(no balance history: does the account have the history flag?)");
    }
    Ok(())
}
