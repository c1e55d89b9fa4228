//! The lint rules, applied line by line to one text. Pure functions: unit-tested natively.

use serde::{Deserialize, Serialize};

/// How serious a finding is.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// One problem found in a text. Lines and columns are 1-based; columns count characters.
#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct Finding {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub rule: &'static str,
    pub severity: Severity,
    pub message: String,
}

/// Rule settings, all optional in the input.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Config {
    /// Lines longer than this many characters are reported by `long-line`.
    pub max_line_length: usize,
    /// When true, indenting with tabs alone is fine (only mixing tabs and spaces is reported).
    pub allow_tabs: bool,
    /// Words reported by `todo-marker`.
    pub markers: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_line_length: 100,
            allow_tabs: false,
            markers: vec!["TODO".into(), "FIXME".into()],
        }
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        if self.max_line_length == 0 {
            return Err("`config.max-line-length` must be at least 1".to_string());
        }
        if let Some(bad) = self
            .markers
            .iter()
            .find(|m| m.is_empty() || m.chars().any(char::is_whitespace))
        {
            return Err(format!("`config.markers`: {bad:?} is not a single word"));
        }
        Ok(())
    }
}

#[derive(Serialize)]
pub struct RuleInfo {
    pub rule: &'static str,
    pub severity: Severity,
    pub description: &'static str,
}

/// The rules, for the `rules` operation.
pub fn describe_rules() -> Vec<RuleInfo> {
    vec![
        RuleInfo {
            rule: "long-line",
            severity: Severity::Warning,
            description: "line longer than `max-line-length` characters (default 100)",
        },
        RuleInfo {
            rule: "trailing-whitespace",
            severity: Severity::Warning,
            description: "spaces or tabs at the end of a line",
        },
        RuleInfo {
            rule: "tab-indentation",
            severity: Severity::Warning,
            description: "line indented with tabs (off with `allow-tabs`)",
        },
        RuleInfo {
            rule: "mixed-indentation",
            severity: Severity::Error,
            description: "line indented with both tabs and spaces",
        },
        RuleInfo {
            rule: "todo-marker",
            severity: Severity::Info,
            description: "a TODO or FIXME marker (the words are set by `markers`)",
        },
        RuleInfo {
            rule: "missing-final-newline",
            severity: Severity::Warning,
            description: "the text does not end with a newline",
        },
    ]
}

/// Lints one text named `file`.
pub fn lint_text(file: &str, text: &str, config: &Config) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut report = |line: usize, column: usize, rule: &'static str, severity, message: String| {
        findings.push(Finding {
            file: file.to_string(),
            line,
            column,
            rule,
            severity,
            message,
        })
    };
    let mut last_line = (0, 0);
    for (index, raw) in text.split_inclusive('\n').enumerate() {
        let number = index + 1;
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let length = line.chars().count();
        last_line = (number, length);

        if length > config.max_line_length {
            report(
                number,
                config.max_line_length + 1,
                "long-line",
                Severity::Warning,
                format!(
                    "line is {length} characters long (limit {})",
                    config.max_line_length
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
            } else if tabs && !config.allow_tabs {
                report(
                    number,
                    1,
                    "tab-indentation",
                    Severity::Warning,
                    "indented with tabs".to_string(),
                );
            }
        }

        for marker in &config.markers {
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

    fn rules_at(text: &str, config: &Config) -> Vec<(usize, usize, &'static str)> {
        lint_text("t", text, config)
            .into_iter()
            .map(|f| (f.line, f.column, f.rule))
            .collect()
    }

    #[test]
    fn clean_text_has_no_findings() {
        assert_eq!(
            rules_at("fn main() {\n    let x = 1;\n}\n", &Config::default()),
            vec![]
        );
        assert_eq!(rules_at("", &Config::default()), vec![]);
    }

    #[test]
    fn each_rule_reports_its_line_and_column() {
        let config = Config {
            max_line_length: 10,
            ..Config::default()
        };
        let text = "short\nthis line is long\nend  \n\tindented\n \tmixed\n// TODO: x, TODOS no, FIXME\nlast";
        assert_eq!(
            rules_at(text, &config),
            vec![
                (2, 11, "long-line"),
                (3, 4, "trailing-whitespace"),
                (4, 1, "tab-indentation"),
                (5, 1, "mixed-indentation"),
                (6, 11, "long-line"),
                (6, 4, "todo-marker"),
                (6, 23, "todo-marker"),
                (7, 5, "missing-final-newline"),
            ]
        );
    }

    #[test]
    fn columns_count_characters_and_crlf_is_not_trailing_whitespace() {
        let config = Config {
            max_line_length: 3,
            ..Config::default()
        };
        assert_eq!(
            rules_at("äöü\r\nääää\r\n", &config),
            vec![(2, 4, "long-line")]
        );
    }

    #[test]
    fn tabs_can_be_allowed() {
        let config = Config {
            allow_tabs: true,
            ..Config::default()
        };
        assert_eq!(
            rules_at("\tok\n\t x\n", &config),
            vec![(2, 1, "mixed-indentation")]
        );
    }

    #[test]
    fn invalid_config_is_named() {
        let config = Config {
            max_line_length: 0,
            ..Config::default()
        };
        assert!(config.validate().unwrap_err().contains("max-line-length"));
        let config = Config {
            markers: vec!["TO DO".into()],
            ..Config::default()
        };
        assert!(config.validate().unwrap_err().contains("markers"));
    }
}
