//! The text rules, for every file that is not Python (whose pycodestyle codes cover the same
//! ground): long lines, trailing whitespace, tab and mixed indentation, TODO/FIXME markers, a
//! missing final newline. Line by line; `\r\n` ends are not trailing whitespace.

use guest_support::{Finding, Severity};

use crate::config::Config;

/// Lints one text named `file`.
pub fn lint(file: &str, text: &str, config: &Config) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut report = |line: usize, column: usize, rule: &'static str, severity, message: String| {
        findings.push(Finding::new(file, line, column, rule, severity, message))
    };
    let mut last_line = (0, 0);
    for (index, raw) in text.split_inclusive('\n').enumerate() {
        let number = index + 1;
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let length = line.chars().count();
        last_line = (number, length);

        if length > config.text_line_length() {
            report(
                number,
                config.text_line_length() + 1,
                "long-line",
                Severity::Warning,
                format!(
                    "line is {length} characters long (limit {})",
                    config.text_line_length()
                ),
            );
        }

        let trimmed = line.trim_end_matches([' ', '\t']);
        if trimmed.len() < line.len() {
            report(
                number,
                trimmed.chars().count() + 1,
                "trailing-whitespace",
                Severity::Warning,
                "trailing whitespace".to_string(),
            );
        }

        // Indentation is only meaningful on lines with content.
        if !trimmed.is_empty() {
            let indent: &str = &line[..line.len() - line.trim_start_matches([' ', '\t']).len()];
            let (tabs, spaces) = (indent.contains('\t'), indent.contains(' '));
            if tabs && spaces {
                report(
                    number,
                    1,
                    "mixed-indentation",
                    Severity::Error,
                    "indentation mixes tabs and spaces".to_string(),
                );
            } else if tabs && !config.allow_tabs() {
                report(
                    number,
                    1,
                    "tab-indentation",
                    Severity::Warning,
                    "indented with tabs".to_string(),
                );
            }
        }

        for marker in &config.markers() {
            for column in marker_columns(line, marker) {
                report(
                    number,
                    column,
                    "todo-marker",
                    Severity::Info,
                    format!("{marker} marker"),
                );
            }
        }
    }
    if !text.is_empty() && !text.ends_with('\n') {
        let (line, length) = last_line;
        report(
            line,
            length + 1,
            "missing-final-newline",
            Severity::Warning,
            "no newline at end of file".to_string(),
        );
    }
    findings
}

/// The text rules.
pub const RULES: &[(&str, &str)] = &[
    (
        "long-line",
        "line longer than `max-line-length` characters (default 100)",
    ),
    ("trailing-whitespace", "spaces or tabs at the end of a line"),
    (
        "tab-indentation",
        "indented with tabs (unless `allow-tabs`)",
    ),
    ("mixed-indentation", "indentation mixes tabs and spaces"),
    (
        "todo-marker",
        "a TODO/FIXME marker (the words in `markers`)",
    ),
    (
        "missing-final-newline",
        "the text does not end with a newline",
    ),
];

/// Character columns (1-based) where `marker` stands as a whole word in `line`.
fn marker_columns(line: &str, marker: &str) -> Vec<usize> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut columns = Vec::new();
    for (byte, _) in line.match_indices(marker) {
        let before = line[..byte].chars().next_back();
        let after = line[byte + marker.len()..].chars().next();
        if !before.is_some_and(is_word) && !after.is_some_and(is_word) {
            columns.push(line[..byte].chars().count() + 1);
        }
    }
    columns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules_at(text: &str, config: &Config) -> Vec<(usize, usize, String)> {
        lint("t", text, config)
            .into_iter()
            .map(|f| (f.line, f.column, f.rule))
            .collect()
    }

    #[test]
    fn clean_text_has_no_findings() {
        assert_eq!(
            rules_at("fn main() {\n    let x = 1;\n}\n", &Config::default()),
            Vec::<(usize, usize, String)>::new()
        );
        assert_eq!(rules_at("", &Config::default()), vec![]);
    }

    #[test]
    fn each_rule_reports_its_line_and_column() {
        let config = Config {
            max_line_length: Some(10),
            ..Config::default()
        };
        let text = "short\nthis line is long\nend  \n\tindented\n \tmixed\n// TODO: x, TODOS no, FIXME\nlast";
        assert_eq!(
            rules_at(text, &config),
            vec![
                (2, 11, "long-line".to_string()),
                (3, 4, "trailing-whitespace".to_string()),
                (4, 1, "tab-indentation".to_string()),
                (5, 1, "mixed-indentation".to_string()),
                (6, 11, "long-line".to_string()),
                (6, 4, "todo-marker".to_string()),
                (6, 23, "todo-marker".to_string()),
                (7, 5, "missing-final-newline".to_string()),
            ]
        );
    }

    #[test]
    fn columns_count_characters_and_crlf_is_not_trailing_whitespace() {
        let config = Config {
            max_line_length: Some(3),
            ..Config::default()
        };
        assert_eq!(
            rules_at("äöü\r\nääää\r\n", &config),
            vec![(2, 4, "long-line".to_string())]
        );
    }

    #[test]
    fn tabs_can_be_allowed() {
        let config = Config {
            allow_tabs: Some(true),
            ..Config::default()
        };
        assert_eq!(
            rules_at("\tok\n\t x\n", &config),
            vec![(2, 1, "mixed-indentation".to_string())]
        );
    }
}
