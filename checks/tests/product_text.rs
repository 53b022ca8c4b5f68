//! The product speaks of the product. No tracked file (docs, code, comments, test names,
//! manifests, scripts) names a development session, "this" or "the next" one, a numbered
//! issue, or the story of an abandoned experiment: how the code came to be lives in git history
//! and, for releases, in CHANGELOG.md. Cargo.lock and CHANGELOG.md are not checked.

use tally_checks::{assert_none, diary_phrase, read_text, repo_root, tracked_files, Finding};

const EXEMPT: &[&str] = &["Cargo.lock", "CHANGELOG.md"];

/// A line's text without its indentation and comment or quote markers, so that a phrase
/// wrapped onto the next line of a comment is still found.
fn continuation(line: &str) -> &str {
    let t = line.trim_start();
    let t = t.trim_start_matches(['/', '!', '#', '>', '*', '-']);
    t.trim_start()
}

#[test]
fn no_file_speaks_of_the_development_process() {
    let root = repo_root();
    let mut findings = Vec::new();
    let mut read = 0;
    for file in tracked_files(&root) {
        if EXEMPT.contains(&file.as_str()) {
            continue;
        }
        let Some(text) = read_text(&root.join(&file)) else {
            continue;
        };
        read += 1;
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            // The line, then the same line joined to the next (a phrase broken across lines
            // is reported at the line it starts on).
            let hit = diary_phrase(line).or_else(|| {
                let next = lines.get(i + 1).map_or("", |n| continuation(n));
                let joined = format!("{line} {next}");
                diary_phrase(&joined).filter(|(at, _)| *at < line.len())
            });
            if let Some((at, kind)) = hit {
                let from = line.get(at..).unwrap_or(line);
                let excerpt: String = from.chars().take(60).collect();
                findings.push(Finding {
                    file: file.clone(),
                    line: i + 1,
                    message: format!("{kind}: \"{}\"", excerpt.trim()),
                });
            }
        }
    }
    assert!(
        read > 100,
        "only {read} text files read: is the file list right?"
    );
    assert_none("lines that speak of the development process", &findings);
}
