//! Every behaviour on docs/reference/differences-from-tigerbeetle.md has a test: each `###`
//! section of "Behaviours that differ" and each bullet of "Behaviours that agree" names at least
//! one test as `path::test_name` in backticks, and each named file exists and defines
//! `fn test_name(`. All failures are reported at once, with line.

use tally_checks::{assert_none, code_spans, line_of, prose, read_text, repo_root, Finding};

const PAGE: &str = "docs/reference/differences-from-tigerbeetle.md";

/// The `path::name` test references in `text`: `(byte offset, path, name)`.
fn test_refs(text: &str) -> Vec<(usize, String, String)> {
    code_spans(text)
        .into_iter()
        .filter_map(|(at, span)| {
            let (path, name) = span.split_once("::")?;
            let is_name =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            (path.ends_with(".rs") && is_name).then(|| (at, path.to_owned(), name.to_owned()))
        })
        .collect()
}

/// The text of the `## heading` section (up to the next `## `), and its byte offset.
fn section<'a>(text: &'a str, heading: &str) -> (usize, &'a str) {
    let start = text
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("{PAGE} has no section \"## {heading}\""))
        + 1;
    let end = text[start + 3..]
        .find("\n## ")
        .map_or(text.len(), |i| start + 3 + i);
    (start, &text[start..end])
}

/// Splits `body` (at `base` in the page) into items that each start with a line beginning with
/// `marker`; text before the first item is dropped.
fn items<'a>(base: usize, body: &'a str, marker: &str) -> Vec<(usize, &'a str)> {
    let mut starts: Vec<usize> = body
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .filter(|&i| body[i..].starts_with(marker))
        .collect();
    let ends: Vec<usize> = starts.iter().skip(1).copied().chain([body.len()]).collect();
    starts.truncate(ends.len());
    starts
        .into_iter()
        .zip(ends)
        .map(|(s, e)| (base + s, &body[s..e]))
        .collect()
}

#[test]
fn every_difference_names_a_test_that_exists() {
    let root = repo_root();
    let text = prose(&read_text(&root.join(PAGE)).expect("the differences page exists"));
    let mut findings = Vec::new();
    let fail = |at: usize, message: String| Finding {
        file: PAGE.into(),
        line: line_of(&text, at),
        message,
    };

    let (base, differ) = section(&text, "Behaviours that differ");
    let differ = items(base, differ, "### ");
    let (base, agree) = section(&text, "Behaviours that agree");
    let agree = items(base, agree, "- **");
    assert!(
        differ.len() >= 2 && agree.len() >= 7,
        "{PAGE}: the sections lost their behaviours ({} differ, {} agree)",
        differ.len(),
        agree.len()
    );
    for (at, item) in differ.iter().chain(&agree) {
        if test_refs(item).is_empty() {
            let first = item.lines().next().unwrap_or_default();
            findings.push(fail(*at, format!("names no test: {first}")));
        }
    }

    let refs = test_refs(&text);
    for (at, path, name) in &refs {
        match read_text(&root.join(path)) {
            None => findings.push(fail(*at, format!("{path} does not exist"))),
            Some(code) if !code.contains(&format!("fn {name}(")) => {
                findings.push(fail(*at, format!("{path} has no `fn {name}(`")));
            }
            Some(_) => {}
        }
    }
    assert_none("tests named by the differences page", &findings);
    assert!(refs.len() >= 9, "too few tests named: {}", refs.len());
}

#[test]
fn test_refs_read_path_and_name() {
    let refs = test_refs("see `ledger/tests/a.rs::b_c` and `x::y`, `docs/a.md`");
    let got: Vec<_> = refs
        .iter()
        .map(|(_, p, n)| (p.as_str(), n.as_str()))
        .collect();
    assert_eq!(got, [("ledger/tests/a.rs", "b_c")]);
}
