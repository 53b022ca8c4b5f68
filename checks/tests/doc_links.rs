//! Every relative link in a tracked Markdown file resolves to a file or directory of the
//! repository, and an anchor into a Markdown file names one of its headings (GitHub's slugs).
//! Every repository path named in backticks, in Markdown and in `//!` docs, exists. External
//! links (`https:`, `mailto:`, ...) are not fetched. All failures are reported at once, with
//! file and line.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use tally_checks::{
    anchors, assert_none, code_spans, inner_docs, is_external, line_of, links, prose, read_text,
    repo_paths, repo_root, tracked_files, without_code_spans, Finding,
};

/// `base/target` with `.` and `..` folded, or `None` when it climbs above the root.
fn resolve(root: &Path, base: &Path, target: &str) -> Option<PathBuf> {
    let joined = match target.strip_prefix('/') {
        Some(abs) => PathBuf::from(abs),
        None => base.join(target),
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    Some(root.join(out))
}

#[test]
fn markdown_links_and_anchors_resolve() {
    let root = repo_root();
    let files = tracked_files(&root);
    let markdown: Vec<&String> = files.iter().filter(|f| f.ends_with(".md")).collect();
    assert!(
        markdown.iter().any(|f| *f == "README.md"),
        "no README.md among the tracked files"
    );
    let mut anchor_cache: HashMap<PathBuf, std::collections::HashSet<String>> = HashMap::new();
    let mut findings = Vec::new();
    let mut checked = 0;
    for file in markdown {
        let text = read_text(&root.join(file)).expect("Markdown files are UTF-8 text");
        let base = Path::new(file).parent().unwrap_or(Path::new(""));
        let body = without_code_spans(&prose(&text));
        for (at, target) in links(&body) {
            if target.is_empty() || is_external(&target) {
                continue;
            }
            checked += 1;
            let line = line_of(&body, at);
            let fail = |message: String| Finding {
                file: file.clone(),
                line,
                message,
            };
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            let dest = if path.is_empty() {
                root.join(file)
            } else {
                match resolve(&root, base, path) {
                    Some(d) => d,
                    None => {
                        findings.push(fail(format!("link `{target}` leaves the repository")));
                        continue;
                    }
                }
            };
            if !dest.exists() {
                findings.push(fail(format!("link `{target}`: no such file or directory")));
                continue;
            }
            let Some(anchor) = anchor else { continue };
            if dest.extension().is_some_and(|e| e == "md") {
                let known = anchor_cache.entry(dest.clone()).or_insert_with(|| {
                    anchors(&read_text(&dest).expect("Markdown files are UTF-8 text"))
                });
                if !known.contains(anchor) {
                    findings.push(fail(format!(
                        "link `{target}`: no heading with the anchor `#{anchor}`"
                    )));
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} relative links found: is the parser broken?"
    );
    assert_none("broken Markdown links", &findings);
}

#[test]
fn repository_paths_named_in_docs_exist() {
    let root = repo_root();
    let files = tracked_files(&root);
    let mut findings = Vec::new();
    let mut checked = 0;
    for file in &files {
        let docs = if file.ends_with(".md") {
            prose(&read_text(&root.join(file)).expect("Markdown files are UTF-8 text"))
        } else if file.ends_with(".rs") {
            inner_docs(&read_text(&root.join(file)).expect("Rust files are UTF-8 text"))
        } else {
            continue;
        };
        for (at, span) in code_spans(&docs) {
            for path in repo_paths(&span) {
                checked += 1;
                if !root.join(&path).exists() {
                    findings.push(Finding {
                        file: file.clone(),
                        line: line_of(&docs, at),
                        message: format!("`{path}` does not exist"),
                    });
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} repository paths found: is the parser broken?"
    );
    assert_none(
        "repository paths named in docs that do not exist",
        &findings,
    );
}
