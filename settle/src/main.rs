//! `tally-settle`: ingest provider feeds into Tally, print partner statements, reconcile
//! against providers' reports. See `settle/README.md`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use tally_client::Client;
use tally_settle::chart::Party;
use tally_settle::ingest::IngestReport;
use tally_settle::terms::Terms;
use tally_settle::{feeds, ingest, reconcile, statement};

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
        /// First day (YYYY-MM-DD).
        #[arg(long)]
        from: NaiveDate,
        /// Last day, inclusive.
        #[arg(long)]
        to: NaiveDate,
        /// Also write the lines as CSV here.
        #[arg(long)]
        csv: Option<PathBuf>,
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
    },
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
    let client = Client::connect(cli.addresses.iter().map(String::as_str)).await?;
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
        Command::Statement {
            party,
            from,
            to,
            csv,
        } => {
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
                let s = statement::statement(&client, &terms, p, from, to).await?;
                println!("{}", s.to_text(&terms));
                table.push_str(&s.to_csv(&terms, i == 0)?);
            }
            write_csv(csv.as_deref(), &table)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Reconcile {
            reports,
            csv,
            feeds,
        } => {
            let (events, errors) = read_feeds(&terms, &feeds)?;
            let held = ingest::quarantine(&events, &errors);
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
                let mut rec = reconcile::reconcile(&client, &terms, provider, &rows).await?;
                rec.mark_quarantined(&held);
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
        let parsed = feeds::parse(p.format, provider, &text, terms.currencies());
        events.extend(parsed.events);
        errors.extend(parsed.errors);
    }
    Ok((events, errors))
}

fn ingest_text(r: &IngestReport) -> String {
    let mut out = format!(
        "events read        {}\nparse errors       {}\nduplicates         {}\nbets posted        {}\n\
         rounds settled     {}\nrounds cancelled   {}\nalready closed     {}\nrounds open        {}\n\
         rounds quarantined {}\nrounds failed      {}\n",
        r.events,
        r.parse_errors.len(),
        r.duplicates,
        r.bets_posted,
        r.rounds_settled,
        r.rounds_cancelled,
        r.rounds_already_closed,
        r.rounds_open,
        r.quarantined.len(),
        r.failures.len()
    );
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

fn write_csv(path: Option<&Path>, table: &str) -> anyhow::Result<()> {
    if let Some(path) = path {
        std::fs::write(path, table).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
