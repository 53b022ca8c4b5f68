//! `tally-settle`: ingest provider feeds into Tally, print partner statements, reconcile
//! against providers' reports. See `settle/README.md`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use tally_client::{Client, ClientOptions, TlsOptions};
use tally_settle::chart::Party;
use tally_settle::correct::CorrectReport;
use tally_settle::ingest::IngestReport;
use tally_settle::payout::{Outcome, Payout};
use tally_settle::terms::Terms;
use tally_settle::{correct, feeds, ingest, payout, reconcile, statement};

#[derive(Parser, Debug)]
#[command(name = "tally-settle", about = "Settlement kit on Tally")]
struct Cli {
    /// Tally node addresses, comma-separated.
    #[arg(
        long,
        env = "TALLY_ADDRESSES",
        default_value = "127.0.0.1:7100",
        value_delimiter = ','
    )]
    addresses: Vec<String>,
    /// Speak TLS to the nodes, verifying them against this PEM CA.
    #[arg(long, env = "TALLY_TLS_CA")]
    tls_ca: Option<PathBuf>,
    /// PEM client certificate to present (nodes started with --tls-client-ca require one).
    #[arg(long, requires_all = ["tls_ca", "tls_key"])]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The terms file.
    #[arg(long, default_value = "settle/samples/terms.toml")]
    terms: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Post feeds: `--feed alpha=settle/samples/feeds/alpha.jsonl` (repeatable).
    Ingest {
        /// `provider=path`; the provider's format comes from the terms.
        #[arg(long = "feed", required = true)]
        feeds: Vec<String>,
    },
    /// Statements of partners for the days `--from..=--to`.
    Statement {
        /// `provider:alpha`, `aggregator`, `operator:royal`, `agent:kim`; all if omitted.
        #[arg(long)]
        party: Vec<String>,
        #[command(flatten)]
        period: Period,
        /// Also write the lines as CSV here.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// `provider=path` feeds or correction files naming the rounds (repeatable).
        #[arg(long = "feed")]
        feeds: Vec<String>,
    },
    /// Correct settled rounds: `--feed beta=corrected.csv` holds each round's complete
    /// corrected lines (bets and result) in the provider's format (repeatable).
    Correct {
        /// `provider=path`; the provider's format comes from the terms.
        #[arg(long = "feed", required = true)]
        feeds: Vec<String>,
        /// The business day the adjustment is booked on (YYYY-MM-DD, UTC); today if omitted.
        #[arg(long)]
        on: Option<NaiveDate>,
    },
    /// Pay out a partner's net for the days `--from..=--to` to its payout account, exactly once.
    Payout {
        /// `provider:alpha`, `aggregator`, `operator:royal` or `agent:kim` (repeatable).
        #[arg(long, required = true)]
        party: Vec<String>,
        #[command(flatten)]
        period: Period,
        /// The business day the payout is booked on (UTC); today if omitted.
        #[arg(long)]
        on: Option<NaiveDate>,
    },
    /// Reconcile against providers' reports: `--report alpha=settle/samples/reports/alpha.csv`.
    Reconcile {
        /// `provider=path` (repeatable).
        #[arg(long = "report", required = true)]
        reports: Vec<String>,
        /// Also write the issues as CSV here.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// `provider=path` feeds whose rejected lines name quarantined rounds (repeatable).
        #[arg(long = "feed")]
        feeds: Vec<String>,
        /// Alert on reserved bets that expire within this many seconds.
        #[arg(long, default_value_t = 3600)]
        expiring_within: u32,
        /// Alert on an unsettled round whose result ingest refused this many times (at least 1).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
        failing_after: u32,
    },
}

/// The days `--from..=--to` of a statement or a payout.
#[derive(clap::Args, Debug)]
struct Period {
    /// First day (YYYY-MM-DD).
    #[arg(long)]
    from: NaiveDate,
    /// Last day, inclusive.
    #[arg(long)]
    to: NaiveDate,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let terms = Terms::load(&cli.terms)?;
    let tls = TlsOptions::from_files(
        cli.tls_ca.as_deref(),
        cli.tls_cert.as_deref(),
        cli.tls_key.as_deref(),
    )?;
    let options = ClientOptions {
        tls,
        ..ClientOptions::default()
    };
    let client = Client::connect_with(cli.addresses.iter().map(String::as_str), options).await?;
    match cli.command {
        Command::Ingest { feeds } => {
            let report = run_ingest(&client, &terms, &feeds).await?;
            print!("{}", ingest_text(&report));
            let clean = report.parse_errors.is_empty() && report.failures.is_empty();
            Ok(if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Correct { feeds, on } => {
            let (events, errors) = read_feeds(&terms, &feeds)?;
            let day = on.unwrap_or_else(|| chrono::Utc::now().date_naive());
            let time = tally_settle::event::day_start(day);
            let report = correct::correct(&client, &terms, events, errors, time).await?;
            print!("{}", correct_text(&terms, &report));
            let clean = report.parse_errors.is_empty() && report.failures.is_empty();
            Ok(if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Statement {
            party,
            period: Period { from, to },
            csv,
            feeds,
        } => {
            let (events, _) = read_feeds(&terms, &feeds)?;
            let names = statement::round_names(&events);
            let parties = if party.is_empty() {
                Party::all(&terms)
            } else {
                party
                    .iter()
                    .map(|p| Party::parse(p).with_context(|| format!("bad partner {p:?}")))
                    .collect::<anyhow::Result<_>>()?
            };
            let mut table = String::new();
            for (i, p) in parties.iter().enumerate() {
                let s = statement::statement_named(&client, &terms, p, from, to, &names).await?;
                println!("{}", s.to_text(&terms));
                table.push_str(&s.to_csv(&terms, i == 0)?);
            }
            write_csv(csv.as_deref(), &table)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Payout {
            party,
            period: Period { from, to },
            on,
        } => {
            let on = on.unwrap_or_else(|| chrono::Utc::now().date_naive());
            for p in &party {
                let p = Party::parse(p).with_context(|| format!("bad partner {p:?}"))?;
                let done = payout::payout(&client, &terms, &p, from, to, on).await?;
                println!("{}", payout_text(&terms, &done));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Reconcile {
            reports,
            csv,
            feeds,
            expiring_within,
            failing_after,
        } => {
            let (events, errors) = read_feeds(&terms, &feeds)?;
            let held = ingest::quarantine(&events, &errors);
            let names = statement::round_names(&events);
            let rules = reconcile::AlertRules {
                expiring_within: i64::from(expiring_within),
                failing_after: failing_after as usize,
                ..reconcile::AlertRules::now()
            };
            let mut table = String::new();
            let mut clean = true;
            for (i, spec) in reports.iter().enumerate() {
                let (provider, path) = split_spec(spec)?;
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
                let rows = match reconcile::parse_report(provider, &text, &terms) {
                    Ok(rows) => rows,
                    Err(errors) => {
                        errors.iter().for_each(|e| eprintln!("{path}: {e}"));
                        bail!("{} bad rows in {path}", errors.len());
                    }
                };
                let mut rec =
                    reconcile::reconcile_with_alerts(&client, &terms, provider, &rows, &rules)
                        .await?;
                rec.mark_quarantined(&held);
                rec.name_alerts(&names);
                clean &= rec.issues.is_empty();
                println!("{}", rec.to_text(&terms));
                table.push_str(&rec.to_csv(i == 0)?);
            }
            write_csv(csv.as_deref(), &table)?;
            Ok(if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn split_spec(spec: &str) -> anyhow::Result<(&str, &str)> {
    spec.split_once('=')
        .with_context(|| format!("expected provider=path, got {spec:?}"))
}

async fn run_ingest(
    client: &Client,
    terms: &Terms,
    specs: &[String],
) -> anyhow::Result<IngestReport> {
    let (events, errors) = read_feeds(terms, specs)?;
    Ok(ingest::ingest(client, terms, events, errors).await?)
}

type Feeds = (Vec<tally_settle::event::GameEvent>, Vec<feeds::FeedError>);

fn read_feeds(terms: &Terms, specs: &[String]) -> anyhow::Result<Feeds> {
    let (mut events, mut errors) = (vec![], vec![]);
    for spec in specs {
        let (provider, path) = split_spec(spec)?;
        let p = terms
            .provider(provider)
            .with_context(|| format!("provider {provider} is not in the terms"))?;
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        let parsed = feeds::parse(&p.format, provider, &text, terms.currencies());
        events.extend(parsed.events);
        errors.extend(parsed.errors);
    }
    Ok((events, errors))
}

fn ingest_text(r: &IngestReport) -> String {
    let mut out = format!(
        "events read        {}\nparse errors       {}\nduplicates         {}\nbets posted        {}\n\
         rounds settled     {}\nrounds cancelled   {}\nalready closed     {}\nrounds open        {}\n\
         bets rolled back   {}\nrounds late        {}\nrounds quarantined {}\nrounds failed      {}\n",
        r.events,
        r.parse_errors.len(),
        r.duplicates,
        r.bets_posted,
        r.rounds_settled,
        r.rounds_cancelled,
        r.rounds_already_closed,
        r.rounds_open,
        r.bets_rolled_back,
        r.late.len(),
        r.quarantined.len(),
        r.failures.len()
    );
    for l in &r.late {
        out.push_str(&format!(
            "  late: {} round {}: {} bets, {} wins after settlement, applied as correction #{}\n",
            l.provider, l.round_id, l.bets, l.wins, l.correction
        ));
    }
    for e in &r.parse_errors {
        out.push_str(&format!("  parse error: {e}\n"));
    }
    for q in &r.quarantined {
        out.push_str(&format!(
            "  quarantined: {} round {}: {}\n",
            q.provider, q.round_id, q.reason
        ));
    }
    for f in &r.failures {
        out.push_str(&format!(
            "  failed: {} round {}: {}\n",
            f.provider, f.round_id, f.reason
        ));
    }
    out
}

fn correct_text(terms: &Terms, r: &CorrectReport) -> String {
    let mut out = format!(
        "events read        {}\nparse errors       {}\ncorrected          {}\nalready applied    {}\n\
         unchanged          {}\nrounds quarantined {}\nrounds failed      {}\n",
        r.events,
        r.parse_errors.len(),
        r.applied.len(),
        r.already_applied.len(),
        r.unchanged.len(),
        r.quarantined.len(),
        r.failures.len()
    );
    for e in &r.parse_errors {
        out.push_str(&format!("  parse error: {e}\n"));
    }
    for a in &r.applied {
        let m = |v: u128| statement::show(terms, &a.currency, v as i128);
        out.push_str(&format!(
            "  correction #{}: {} round {}: stake {} -> {}, wins {} -> {} {}\n",
            a.number,
            a.provider,
            a.round_id,
            m(a.before.0),
            m(a.after.0),
            m(a.before.1),
            m(a.after.1),
            a.currency
        ));
    }
    let lists = [
        (
            "already applied",
            r.already_applied.iter().map(|(f, _)| f).collect::<Vec<_>>(),
        ),
        ("unchanged", r.unchanged.iter().collect()),
        ("quarantined", r.quarantined.iter().collect()),
        ("failed", r.failures.iter().collect()),
    ];
    for (label, list) in lists {
        for f in list {
            out.push_str(&format!(
                "  {label}: {} round {}: {}\n",
                f.provider, f.round_id, f.reason
            ));
        }
    }
    out
}

fn payout_text(terms: &Terms, p: &Payout) -> String {
    let m = |v: i128| statement::show(terms, &p.currency, v);
    let what = format!("payout {} {} to {}", p.party, p.from, p.to);
    match p.outcome {
        Outcome::Paid => format!(
            "{what}: paid {} {} (transfer {:032x})",
            m(p.net),
            p.currency,
            p.id
        ),
        Outcome::AlreadyPaid { amount } if amount as i128 == p.net => {
            format!(
                "{what}: already paid {} {}; nothing posted",
                m(p.net),
                p.currency
            )
        }
        Outcome::AlreadyPaid { amount } => format!(
            "{what}: already paid {} {}; nothing posted (the period's net is now {}: legs \
             booked in it after the payout are not paid)",
            m(amount as i128),
            p.currency,
            m(p.net)
        ),
        Outcome::NothingToPay => format!(
            "{what}: nothing to pay (the period's net is {} {})",
            m(p.net),
            p.currency
        ),
    }
}

fn write_csv(path: Option<&Path>, table: &str) -> anyhow::Result<()> {
    if let Some(path) = path {
        std::fs::write(path, table).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
