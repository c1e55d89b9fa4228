//! `fix`: the rules whose fix cannot change what the code means, applied until nothing changes (at
//! most three passes). Python: trailing whitespace (W291, W293), blank lines at the end (W391), the
//! final newline (W292), indentation of tabs only (W191, four spaces per tab), blank lines before
//! and between definitions (E301, E302, E303, E304, E305, E306: inserted before the comments and
//! decorators that belong to the definition, extra ones removed). Other files but Markdown (where
//! two trailing spaces are a line break): trailing whitespace and the final newline. Import order is
//! not changed: moving an import can change what a module does at import time. A file that does not
//! parse before, or would not parse after, is left as it is.

use crate::config::Config;
use crate::lint::{Language, lint_file};

/// Codes `fix` repairs.
pub const FIXABLE: &[&str] = &[
    "W291",
    "W293",
    "W391",
    "W292",
    "W191",
    "E301",
    "E302",
    "E303",
    "E304",
    "E305",
    "E306",
    "trailing-whitespace",
    "missing-final-newline",
];

/// The outcome for one file: the fixed text, or why it was left alone.
pub enum Fixed {
    Changed { text: String, codes: Vec<String> },
    Unchanged,
    Refused(String),
}

pub fn fix(file: &str, original: &str, config: &Config) -> Fixed {
    let first = lint_file(file, original, config, &[], false);
    if first.iter().any(|f| f.rule == "syntax-error") {
        return Fixed::Refused("does not parse; nothing was changed".into());
    }
    let language = Language::of(file);
    let mut text = original.replace("\r\n", "\n");
    let mut codes: Vec<String> = Vec::new();
    for _ in 0..3 {
        let findings = lint_file(file, &text, config, &[], false);
        let fixable: Vec<_> = findings
            .iter()
            .filter(|f| FIXABLE.contains(&f.rule.as_str()))
            .filter(|f| language != Language::Markdown || f.rule != "trailing-whitespace")
            .collect();
        if fixable.is_empty() {
            break;
        }
        let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
        // `text` ends with "\n" → the last element is "" (the end), kept apart.
        let had_final_newline = text.ends_with('\n');
        if had_final_newline {
            lines.pop();
        }
        let mut final_newline = had_final_newline;
        // Line edits first, bottom-up so line numbers stay valid; blank-line edits after.
        let mut blank_edits: Vec<(usize, &str)> = Vec::new();
        for finding in &fixable {
            let i = finding.line - 1;
            match finding.rule.as_str() {
                "W291" | "W293" | "trailing-whitespace" => {
                    if let Some(line) = lines.get_mut(i) {
                        let trimmed = line.trim_end_matches([' ', '\t', '\x0b', '\x0c']).len();
                        line.truncate(trimmed);
                    }
                }
                "W292" | "missing-final-newline" => final_newline = true,
                "W191" => {
                    if let Some(line) = lines.get_mut(i) {
                        let indent: String = line
                            .chars()
                            .take_while(|c| *c == ' ' || *c == '\t')
                            .collect();
                        if !indent.contains(' ') {
                            let spaces = " ".repeat(indent.len() * config.indent_size());
                            *line = format!("{spaces}{}", &line[indent.len()..]);
                        }
                    }
                }
                code => blank_edits.push((i, code)),
            }
            if !codes.contains(&finding.rule) {
                codes.push(finding.rule.clone());
            }
        }
        blank_edits.sort_by_key(|e| std::cmp::Reverse(e.0));
        blank_edits.dedup_by_key(|e| e.0);
        // Two reports can share one run of blank lines (E303 on a comment, E302 on the def below
        // it): the lower one is applied, the other skipped.
        let mut floor = usize::MAX;
        for (i, code) in blank_edits {
            if i < floor {
                floor = apply_blank_lines(&mut lines, i, code);
            }
        }
        while lines.last().is_some_and(|l| l.trim().is_empty()) && !lines.is_empty() {
            if language == Language::Python || fixable.iter().any(|f| f.rule == "W391") {
                lines.pop();
            } else {
                break;
            }
        }
        let mut next = lines.join("\n");
        if final_newline && !next.is_empty() {
            next.push('\n');
        }
        if next == text {
            break;
        }
        text = next;
    }
    if text == original.replace("\r\n", "\n") {
        return Fixed::Unchanged;
    }
    if lint_file(file, &text, config, &[], false)
        .iter()
        .any(|f| f.rule == "syntax-error")
    {
        return Fixed::Refused("the fix would not parse; nothing was changed".into());
    }
    if original.contains("\r\n") {
        text = text.replace('\n', "\r\n");
    }
    Fixed::Changed { text, codes }
}

/// Sets the blank lines before line `i` (a definition, or the comment it was reported on) to what
/// `code` asks for. Returns where the run of blank lines starts.
fn apply_blank_lines(lines: &mut Vec<String>, i: usize, code: &str) -> usize {
    let wanted = match code {
        "E301" | "E306" => 1,
        "E302" | "E305" => 2,
        "E303" => {
            // Too many: keep two at the top level, one inside.
            let indented = lines.get(i).is_some_and(|l| l.starts_with([' ', '\t']));
            if indented { 1 } else { 2 }
        }
        "E304" => 0,
        _ => return i,
    };
    // Where the blank run sits: before the decorators and comments that lead to line i.
    let mut at = i;
    if code != "E303" && code != "E304" {
        while at > 0 {
            let previous = lines[at - 1].trim_start();
            if previous.starts_with('#') || previous.starts_with('@') {
                at -= 1;
            } else {
                break;
            }
        }
    }
    let mut start = at;
    while start > 0 && lines[start - 1].trim().is_empty() {
        start -= 1;
    }
    if start == 0 {
        return 0; // nothing above: pycodestyle expects no blank lines before the first line
    }
    let present = at - start;
    if present > wanted {
        lines.drain(start..start + (present - wanted));
    } else {
        for _ in present..wanted {
            lines.insert(at, String::new());
        }
    }
    start
}

/// A unified diff of the change, with `a/` and `b/` headers as `git diff` writes them.
pub fn unified_diff(file: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{file}"), &format!("b/{file}"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(file: &str, text: &str) -> String {
        match fix(file, text, &Config::default()) {
            Fixed::Changed { text, .. } => text,
            Fixed::Unchanged => text.to_string(),
            Fixed::Refused(why) => panic!("refused: {why}"),
        }
    }

    #[test]
    fn python_whitespace_and_blank_lines() {
        let text = "import os\ndef f():   \n\tif os:\n\t\treturn 1\n\n\n\n\n# about g\ndef g():\n    pass\nx = 1";
        assert_eq!(
            fixed("a.py", text),
            "import os\n\n\ndef f():\n    if os:\n        return 1\n\n\n# about g\ndef g():\n    pass\n\n\nx = 1\n"
        );
    }

    #[test]
    fn refuses_what_does_not_parse() {
        assert!(matches!(
            fix("a.py", "def f(:\n  \n", &Config::default()),
            Fixed::Refused(_)
        ));
        assert!(matches!(
            fix("a.py", "x = 1\n", &Config::default()),
            Fixed::Unchanged
        ));
    }
}
