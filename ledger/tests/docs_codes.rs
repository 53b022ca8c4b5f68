//! The reference docs list every result code in precedence order; this test keeps them from
//! drifting from the enums. Each doc has one table whose rows start `| <number> | `<name>` |`;
//! those rows must be exactly `ALL`, in order, with the same numbers and names, and each must
//! give a meaning. And every code a doc lists is produced by a scenario run against the real
//! ledger core ([`scenarios`]): a documented code that nothing produces fails the test.

mod support;

#[path = "docs_codes/scenarios.rs"]
mod scenarios;

use std::collections::BTreeSet;

use scenarios::{Scenario, FIRST, T1};
use support::ctx;
use tally_ledger::{Command, CreateAccountResult, CreateTransferResult, Outcome};

const CREATE_ACCOUNTS_MD: &str = include_str!("../../docs/reference/create_accounts.md");
const CREATE_TRANSFERS_MD: &str = include_str!("../../docs/reference/create_transfers.md");

/// The (number, name, meaning) of every code row of a Markdown table.
fn code_rows(doc: &str) -> Vec<(u32, String, String)> {
    doc.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .trim()
                .strip_prefix('|')?
                .split('|')
                .map(str::trim)
                .collect();
            let number = cells.first()?.parse::<u32>().ok()?;
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let meaning = cells.get(2).copied().unwrap_or_default();
            Some((number, name.to_string(), meaning.to_string()))
        })
        .collect()
}

fn check(doc_name: &str, doc: &str, codes: &[(u32, &str)]) {
    let rows = code_rows(doc);
    let listed: Vec<(u32, &str)> = rows
        .iter()
        .map(|(n, name, _)| (*n, name.as_str()))
        .collect();
    assert_eq!(
        listed, codes,
        "{doc_name} must list every code as `| number | `name` | meaning |`, in precedence order"
    );
    for (number, name, meaning) in &rows {
        assert!(
            !meaning.is_empty(),
            "{doc_name}: code {number} `{name}` has no meaning"
        );
    }
}

#[test]
fn create_accounts_doc_lists_every_code_in_order() {
    let codes: Vec<(u32, &str)> = CreateAccountResult::ALL
        .iter()
        .map(|c| (c.as_u32(), c.name()))
        .collect();
    check(
        "docs/reference/create_accounts.md",
        CREATE_ACCOUNTS_MD,
        &codes,
    );
}

#[test]
fn create_transfers_doc_lists_every_code_in_order() {
    let codes: Vec<(u32, &str)> = CreateTransferResult::ALL
        .iter()
        .map(|c| (c.as_u32(), c.name()))
        .collect();
    check(
        "docs/reference/create_transfers.md",
        CREATE_TRANSFERS_MD,
        &codes,
    );
}

#[test]
fn parser_reads_code_rows_only() {
    let doc = "| # | name | meaning |\n|---|---|---|\n| 0 | `ok` | Created. |\n| x | `no` | no |\n";
    assert_eq!(
        code_rows(doc),
        vec![(0, "ok".to_string(), "Created.".to_string())]
    );
}

/// Runs each scenario on a fresh fixture and returns every code its batch produced (the
/// batch's whole results, not only the expected one), checking the expected one.
fn produced(scenarios: Vec<Scenario>) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    for (i, s) in scenarios.into_iter().enumerate() {
        let mut l = scenarios::fixture();
        for cmd in &s.setup {
            l.apply(cmd, &ctx(T1), None).unwrap();
        }
        let codes: Vec<u32> = match l.apply(&s.batch, &ctx(s.at), None).unwrap() {
            Outcome::Accounts(r) => r.codes.iter().map(|c| c.as_u32()).collect(),
            Outcome::Transfers(r) => r.codes.iter().map(|c| c.as_u32()).collect(),
            other => panic!("scenario {i}: {other:?}"),
        };
        let got = match s.expect & FIRST {
            0 => codes.last(),
            _ => codes.first(),
        };
        assert_eq!(got, Some(&(s.expect & !FIRST)), "scenario {i}: {codes:?}");
        out.extend(codes);
    }
    out
}

fn documented(doc: &str) -> BTreeSet<u32> {
    code_rows(doc).into_iter().map(|(n, _, _)| n).collect()
}

#[test]
fn every_documented_account_code_is_produced() {
    let batches = scenarios::account_scenarios();
    assert!(batches
        .iter()
        .all(|s| matches!(s.batch, Command::CreateAccounts(_))));
    assert_eq!(
        produced(batches),
        documented(CREATE_ACCOUNTS_MD),
        "codes produced by the scenarios vs codes in docs/reference/create_accounts.md"
    );
}

#[test]
fn every_documented_transfer_code_is_produced() {
    let batches = scenarios::transfer_scenarios();
    assert!(batches
        .iter()
        .all(|s| matches!(s.batch, Command::CreateTransfers(_))));
    assert_eq!(
        produced(batches),
        documented(CREATE_TRANSFERS_MD),
        "codes produced by the scenarios vs codes in docs/reference/create_transfers.md"
    );
}
