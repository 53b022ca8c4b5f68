//! Repository-wide checks of Tally, run as ordinary tests (`cargo test --release -p
//! tally-checks`):
//!
//! - `tests/doc_links.rs`: every relative link in a tracked Markdown file resolves, anchors
//!   included, and every repository path named in backticks (in Markdown and in `//!` docs)
//!   exists.
//! - `tests/product_text.rs`: no tracked file speaks of the development process instead of the
//!   product (see [`diary_phrase`]).
//! - `tests/boundaries.rs`: the dependency boundaries of `tally-ledger`, `tally-client` and
//!   `tally-settle`, read from `cargo tree`.
//!
//! # Layout
//!
//! This file holds the small parsers the tests share: the tracked files ([`tracked_files`]),
//! Markdown prose without code blocks ([`prose`]), inline links ([`links`]), code spans
//! ([`code_spans`]), heading anchors ([`anchors`]) and repository paths ([`repo_paths`]). They
//! are deliberately simple (no Markdown crate): they read the subset of Markdown these docs use.
//!
//! The crate depends on nothing, and nothing depends on it; it is never published.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One problem found in a file, reported as `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Path relative to the repository root.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Panics with every finding listed, one per line, if there is any.
pub fn assert_none(what: &str, findings: &[Finding]) {
    if findings.is_empty() {
        return;
    }
    let list: Vec<String> = findings.iter().map(|f| f.to_string()).collect();
    panic!("{} {what}:\n{}", findings.len(), list.join("\n"));
}

/// The repository root: the parent of this crate's directory. The directory is taken from the
/// running `cargo test` when it sets one, so a test binary built in another checkout checks the
/// checkout it runs in.
pub fn repo_root() -> PathBuf {
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    dir.parent()
        .expect("the checks crate lives in a directory of the repository")
        .to_path_buf()
}

/// Every file git tracks, relative to `root`, in git's order. Panics when git is missing or
/// `root` is not a work tree: the checks must not pass by reading nothing.
pub fn tracked_files(root: &Path) -> Vec<String> {
    let out = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root)
        .output()
        .expect("git runs (the checks read the tracked files)");
    assert!(
        out.status.success(),
        "git ls-files failed in {}: {}",
        root.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let files: Vec<String> = String::from_utf8(out.stdout)
        .expect("file names are UTF-8")
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        // A file deleted in the work tree but not yet from the index is not there to read.
        .filter(|f| root.join(f).is_file())
        .collect();
    assert!(
        files.iter().any(|f| f == "Cargo.toml"),
        "git ls-files in {} listed no Cargo.toml",
        root.display()
    );
    files
}

/// The line (1-based) that byte `offset` of `text` is on.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// `text` with every fenced code block (```` ``` ```` or `~~~`, fence lines included) and every
/// HTML comment blanked to spaces, newlines kept, so byte offsets and line numbers still match.
pub fn prose(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fence: Option<(char, usize)> = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let run = |c: char| trimmed.chars().take_while(|&x| x == c).count();
        let opens = ['`', '~'].into_iter().find(|&c| run(c) >= 3);
        let blank = match (fence, opens) {
            (None, Some(c)) => {
                fence = Some((c, run(c)));
                true
            }
            (Some((c, n)), Some(o))
                if o == c && run(c) >= n && trimmed[run(c)..].trim().is_empty() =>
            {
                fence = None;
                true
            }
            (Some(_), _) => true,
            (None, None) => false,
        };
        if blank {
            out.extend(line.chars().map(|c| if c == '\n' { '\n' } else { ' ' }));
        } else {
            out.push_str(line);
        }
    }
    blank_between(&out, "<!--", "-->")
}

fn blank_between(text: &str, open: &str, close: &str) -> String {
    let mut out = text.to_owned();
    let mut from = 0;
    while let Some(s) = out[from..].find(open).map(|i| i + from) {
        let e = out[s..]
            .find(close)
            .map_or(out.len(), |i| s + i + close.len());
        let blanked: String = out[s..e]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        out.replace_range(s..e, &blanked);
        from = s + blanked.len();
    }
    out
}

/// The inline code spans of `text` (already [`prose`]): `(byte offset, content)`. A span opens
/// with a run of backticks and closes with a run of the same length; it does not cross a blank
/// line. Content is trimmed of one surrounding space as in CommonMark, line breaks become
/// spaces.
pub fn code_spans(text: &str) -> Vec<(usize, String)> {
    let b = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'`' {
            i += 1;
            continue;
        }
        let n = b[i..].iter().take_while(|&&c| c == b'`').count();
        let start = i + n;
        let mut j = start;
        let mut close = None;
        while j < b.len() {
            if b[j] == b'\n'
                && text[j + 1..]
                    .lines()
                    .next()
                    .is_some_and(|l| l.trim().is_empty())
            {
                break;
            }
            if b[j] == b'`' {
                let m = b[j..].iter().take_while(|&&c| c == b'`').count();
                if m == n {
                    close = Some(j);
                    break;
                }
                j += m;
                continue;
            }
            j += 1;
        }
        match close {
            Some(j) => {
                let content = text[start..j].replace('\n', " ");
                spans.push((i, content.trim().to_owned()));
                i = j + n;
            }
            None => i = start,
        }
    }
    spans
}

/// `text` with the inside of every code span blanked, so that code is not read as links.
pub fn without_code_spans(text: &str) -> String {
    let mut out = text.to_owned();
    for (at, _) in code_spans(text) {
        let n = text[at..].bytes().take_while(|&c| c == b'`').count();
        let end = text[at + n..]
            .find(&"`".repeat(n))
            .map(|i| at + n + i + n)
            .expect("a span found by code_spans closes");
        let blanked: String = text[at..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        out.replace_range(at..end, &blanked);
    }
    out
}

/// The targets of the inline links and images (`[text](target)`, `![alt](target)`) and of the
/// reference definitions (`[label]: target`) of `text`, which should already be [`prose`]
/// without code spans: `(byte offset, target)`. The target loses its `<...>` and any title.
pub fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("](").map(|i| i + from) {
        let start = at + 2;
        let mut depth = 0usize;
        let mut end = None;
        for (k, c) in text[start..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    end = Some(start + k);
                    break;
                }
                ')' => depth -= 1,
                '\n' => break,
                _ => {}
            }
        }
        if let Some(end) = end {
            out.push((start, clean_target(&text[start..end])));
        }
        from = start;
    }
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with('[') && line.len() - t.len() <= 3 {
            if let Some(close) = t.find("]:") {
                let target = t[close + 2..].trim();
                if close > 1 && !target.is_empty() {
                    out.push((offset + line.len() - t.len(), clean_target(target)));
                }
            }
        }
        offset += line.len();
    }
    out
}

fn clean_target(raw: &str) -> String {
    let t = raw.trim();
    let t = match t.strip_prefix('<') {
        Some(rest) => rest.split('>').next().unwrap_or(""),
        None => t.split_whitespace().next().unwrap_or(""),
    };
    t.to_owned()
}

/// Whether a link target points outside the repository (a URL scheme such as `https:` or
/// `mailto:`), and so is not checked.
pub fn is_external(target: &str) -> bool {
    match target.find(':') {
        Some(i) => {
            let scheme = &target[..i];
            !scheme.is_empty()
                && !target[..i].contains('/')
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }
        None => false,
    }
}

/// GitHub's anchor for a heading's text: the rendered text lowercased, every character that is
/// not a letter, digit, space, `-` or `_` dropped, spaces turned into `-`.
pub fn slug(heading: &str) -> String {
    rendered(heading)
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// A heading's text as rendered: links and images replaced by their text, HTML tags dropped.
fn rendered(heading: &str) -> String {
    let mut s = heading.to_owned();
    // [text](url) -> text
    while let Some(at) = s.find("](") {
        let Some(open) = s[..at].rfind('[') else {
            break;
        };
        let Some(close) = s[at..].find(')').map(|i| at + i) else {
            break;
        };
        let text = s[open + 1..at].to_owned();
        let bang = open > 0 && s.as_bytes()[open - 1] == b'!';
        s.replace_range(if bang { open - 1 } else { open }..=close, &text);
    }
    // <tag ...> -> nothing
    while let Some(open) = s.find('<') {
        let Some(close) = s[open..].find('>').map(|i| open + i) else {
            break;
        };
        s.replace_range(open..=close, "");
    }
    s
}

/// Every anchor a Markdown file offers: the slugs of its ATX headings (a repeated slug gets
/// `-1`, `-2`, ... as on GitHub) and the `id`/`name` of its HTML anchors.
pub fn anchors(text: &str) -> HashSet<String> {
    let prose = prose(text);
    let mut seen: HashSet<String> = HashSet::new();
    for line in prose.lines() {
        let t = line.trim_start();
        let level = t.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&level)
            && line.len() - t.len() <= 3
            && t[level..].starts_with([' ', '\t'])
        {
            let text = t[level..].trim().trim_end_matches('#').trim_end();
            let base = slug(text);
            let mut s = base.clone();
            let mut k = 0;
            while seen.contains(&s) {
                k += 1;
                s = format!("{base}-{k}");
            }
            seen.insert(s);
        }
    }
    for attr in ["id=\"", "name=\""] {
        let mut from = 0;
        while let Some(at) = prose[from..].find(attr).map(|i| i + from + attr.len()) {
            if let Some(end) = prose[at..].find('"') {
                seen.insert(prose[at..at + end].to_owned());
            }
            from = at;
        }
    }
    seen
}

/// The top-level directories whose paths the docs name in backticks (`notes` is not one: it is
/// listed so that a doc naming a file there is caught).
pub const PATH_ROOTS: &[&str] = &[
    "ledger", "raft", "server", "client", "proto", "jepsen", "benches", "settle", "docs",
    "scripts", "checks", ".ci", "notes",
];

/// The repository paths named in a code span: whitespace-separated words that start with one of
/// [`PATH_ROOTS`] and a `/`, and end with `/` or a file extension. Surrounding punctuation and a
/// `:line` suffix are dropped; words with placeholders (`*`, `<`, `{`, `$`, `...`) are skipped.
pub fn repo_paths(span: &str) -> Vec<String> {
    span.split_whitespace()
        .filter_map(|w| {
            let w = w.trim_start_matches(['(', '"', '\'', '[']);
            let w = w.trim_end_matches([')', '"', '\'', ',', ';', ']']);
            let w = match w.find(':') {
                Some(i) => &w[..i],
                None => w,
            };
            let w = w.trim_end_matches('.');
            let (root, rest) = w.split_once('/')?;
            if !PATH_ROOTS.contains(&root)
                || w.contains(['*', '<', '{', '$', '#'])
                || w.contains("...")
                || w.contains("//")
            {
                return None;
            }
            let last = rest.rsplit('/').next().unwrap_or("");
            let has_ext = last.rsplit_once('.').is_some_and(|(stem, ext)| {
                !stem.is_empty()
                    && !ext.is_empty()
                    && ext.len() <= 5
                    && ext.chars().all(|c| c.is_ascii_alphanumeric())
            });
            (rest.is_empty() || w.ends_with('/') || has_ext).then(|| w.to_owned())
        })
        .collect()
}

/// The `//!` lines of a Rust file as Markdown, every other line left empty, so that line numbers
/// still match the file's.
pub fn inner_docs(rust: &str) -> String {
    rust.lines()
        .map(|l| {
            l.trim_start()
                .strip_prefix("//!")
                .map_or("", |d| d.strip_prefix(' ').unwrap_or(d))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first phrase of the development process found in `text` (case-insensitive): a numbered
/// session, a session named by "this", "next", "previous" or "that", a numbered issue, or the
/// phrase that announces an abandoned experiment. Returns the byte offset and the phrase's
/// kind. Words count only at a word start, so "tissue 3" is not an issue; the settlement kit's
/// reconciliation "issues" are not numbered and do not match.
pub fn diary_phrase(text: &str) -> Option<(usize, &'static str)> {
    let lower = text.to_lowercase();
    let l = lower.as_str();
    let word_start = |at: usize| at == 0 || !l.as_bytes()[at - 1].is_ascii_alphanumeric();
    let numbered = |at: usize| {
        let rest = l[at..].trim_start_matches([' ', '_', '-', '#']);
        rest.len() < l.len() - at && rest.starts_with(|c: char| c.is_ascii_digit())
    };
    let mut hits: Vec<(usize, &'static str)> = Vec::new();
    for (at, _) in l.match_indices("session") {
        if !word_start(at) {
            continue;
        }
        let after = at + "session".len();
        let after = if l[after..].starts_with('s') {
            after + 1
        } else {
            after
        };
        if numbered(after) {
            hits.push((at, "a numbered session"));
        }
        for w in ["this", "next", "previous", "that"] {
            let before = &l[..at];
            if let Some(s) = before.strip_suffix(' ').and_then(|b| b.strip_suffix(w)) {
                if word_start(s.len()) {
                    hits.push((s.len(), "a development session"));
                }
            }
        }
    }
    for (at, _) in l.match_indices("issue") {
        if word_start(at) && numbered(at + "issue".len()) {
            hits.push((at, "a numbered issue"));
        }
    }
    let dropped = concat!("tried", " and ", "dropped");
    if let Some(at) = l.find(dropped) {
        hits.push((at, "an abandoned-experiment story"));
    }
    hits.into_iter().min_by_key(|h| h.0)
}

/// Whether `file` holds text (UTF-8 without NUL bytes): binary files are not read.
pub fn read_text(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.contains(&0) {
        return None;
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_github() {
        assert_eq!(slug("A 3- or 5-node cluster"), "a-3--or-5-node-cluster");
        assert_eq!(slug("`tally status`"), "tally-status");
        assert_eq!(slug("`recent_accounts` (10)"), "recent_accounts-10");
        assert_eq!(slug("What made it fast"), "what-made-it-fast");
        assert_eq!(slug("See [docs](x.md#y)"), "see-docs");
    }

    #[test]
    fn anchors_number_repeated_headings_and_read_html_ids() {
        let a = anchors("# A\n## A\n```\n# not a heading\n```\n<a id=\"here\"></a>\n");
        assert!(a.contains("a") && a.contains("a-1") && a.contains("here"));
        assert!(!a.contains("not-a-heading"));
    }

    #[test]
    fn links_skip_code_and_read_titles_and_definitions() {
        let text = "see [x](a.md#b \"t\") and `[y](code.md)`\n\n[ref]: <c d.md>\n";
        let p = without_code_spans(&prose(text));
        let got: Vec<String> = links(&p).into_iter().map(|l| l.1).collect();
        assert_eq!(got, ["a.md#b", "c d.md"]);
        assert!(is_external("https://x.y/z") && is_external("mailto:a@b"));
        assert!(!is_external("docs/a.md") && !is_external("a.md#x:y"));
    }

    #[test]
    fn code_spans_pair_runs_and_stop_at_blank_lines() {
        let spans = code_spans("a `x` b ``y ` z`` c `open\n\nd `e\nf`");
        let got: Vec<&str> = spans.iter().map(|s| s.1.as_str()).collect();
        assert_eq!(got, ["x", "y ` z", "e f"]);
    }

    #[test]
    fn repo_paths_take_files_and_directories_only() {
        assert_eq!(
            repo_paths("bash scripts/bench.sh [OUT_DIR]"),
            ["scripts/bench.sh"]
        );
        assert_eq!(
            repo_paths("server/tests/cluster.rs:120"),
            ["server/tests/cluster.rs"]
        );
        assert_eq!(
            repo_paths("raft/src/state_machine/"),
            ["raft/src/state_machine/"]
        );
        assert!(repo_paths("raft/src/sm").is_empty());
        assert!(repo_paths("ledger/src/ops/*.rs").is_empty());
        assert!(repo_paths("state/ tally-data/node-1").is_empty());
    }

    #[test]
    fn diary_phrases_are_found_and_ordinary_words_are_not() {
        let hit = |s: &str| diary_phrase(s).is_some();
        let n = ["session", "7"].join(" ");
        assert!(hit(&format!("figures from {n}")));
        assert!(hit(&["Sessions", "3-4"].join(" ")));
        assert!(hit(&["measured in this", "session"].join(" ")));
        assert!(hit(&["see", "issue", "#12"].join(" ")));
        assert!(hit(&["fn issue", "5_regression"].join("_")));
        assert!(hit(&["Tried", "and", "dropped: x"].join(" ")));
        assert!(!hit("the reconciliation issues list"));
        assert!(!hit("tissue 3, sessions of a user, session ids"));
        assert!(!hit("an HTTP session 's state"));
    }
}
