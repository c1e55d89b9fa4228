//! One file through the linter: its language from the extension, parsed by that language's
//! parser (a file that does not parse gets its one `syntax-error` finding and nothing else), the
//! language's rules, the text rules for non-Python files, the custom rules, then the rule selection
//! and inline suppressions (`# noqa`, `# noqa: E501,W291`, `// noqa: rust-unwrap`: any comment
//! marker, codes optional, flake8's semantics).

use std::sync::OnceLock;

use guest_support::Finding;
use regex::Regex;

use crate::config::{CompiledRule, Config};
use crate::{data, js, markdown, python, rust, text, yaml};

/// The languages the linter parses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    Python,
    Rust,
    JavaScript,
    Toml,
    Yaml,
    Json,
    Markdown,
    Text,
}

impl Language {
    pub fn of(path: &str) -> Language {
        let name = path.rsplit('/').next().unwrap_or(path);
        let ext = name
            .rsplit_once('.')
            .map_or("", |(_, e)| e)
            .to_ascii_lowercase();
        match ext.as_str() {
            "py" | "pyi" => Language::Python,
            "rs" => Language::Rust,
            "js" | "mjs" | "cjs" | "jsx" | "ts" | "mts" | "cts" | "tsx" => Language::JavaScript,
            "toml" => Language::Toml,
            "yaml" | "yml" => Language::Yaml,
            "json" => Language::Json,
            "md" | "markdown" => Language::Markdown,
            _ => Language::Text,
        }
    }
}

/// Lints one file's text (with `\r\n` or `\n` line ends).
pub fn lint_file(
    file: &str,
    text: &str,
    config: &Config,
    custom: &[CompiledRule],
    on_disk: bool,
) -> Vec<Finding> {
    // A UTF-8 byte order mark is not part of the text (columns count from after it).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let normalized;
    let text = if text.contains("\r\n") {
        normalized = text.replace("\r\n", "\n");
        normalized.as_str()
    } else {
        text
    };
    let language = Language::of(file);
    let mut findings = match language {
        Language::Python => python::lint(file, text, config),
        Language::Rust => rust::lint(file, text),
        Language::JavaScript => js::lint(file, text),
        Language::Toml => data::lint_toml(file, text),
        Language::Json => data::lint_json(file, text),
        Language::Yaml => yaml::lint(file, text),
        Language::Markdown => markdown::lint(file, text, on_disk),
        Language::Text => Vec::new(),
    };
    if findings.iter().any(|f| f.rule == "syntax-error") {
        findings.retain(|f| f.rule == "syntax-error");
        return findings;
    }
    if language != Language::Python {
        findings.extend(text::lint(file, text, config));
    }
    findings.extend(custom_rules(file, text, custom));
    let lines: Vec<&str> = text.split('\n').collect();
    findings.retain(|f| {
        f.rule == "syntax-error"
            || (config.enabled(&f.rule)
                && !suppressed(lines.get(f.line - 1).copied().unwrap_or(""), &f.rule))
    });
    findings.sort_by(|a, b| (a.line, a.column, &a.rule).cmp(&(b.line, b.column, &b.rule)));
    findings
}

fn custom_rules(file: &str, text: &str, rules: &[CompiledRule]) -> Vec<Finding> {
    let ext = file.rsplit_once('.').map_or("", |(_, e)| e);
    let mut findings = Vec::new();
    for compiled in rules {
        if let Some(exts) = &compiled.rule.extensions
            && !exts.iter().any(|e| e.trim_start_matches('.') == ext)
        {
            continue;
        }
        for (i, line) in text.split('\n').enumerate() {
            for m in compiled.regex.find_iter(line) {
                findings.push(Finding::new(
                    file,
                    i + 1,
                    line[..m.start()].chars().count() + 1,
                    compiled.rule.code.clone(),
                    compiled.rule.severity,
                    compiled.rule.message.clone(),
                ));
            }
        }
    }
    findings
}

/// Whether `line` suppresses `rule`: a `noqa` after a comment marker, bare (everything) or with a
/// list of codes (each a prefix of the rule, as in flake8).
pub fn suppressed(line: &str, rule: &str) -> bool {
    static NOQA: OnceLock<Regex> = OnceLock::new();
    let noqa = NOQA.get_or_init(|| {
        Regex::new(r"(?i)(?:#|//|/\*|<!--|--)\s*noqa(?::[\s]?(?P<codes>[\w-]+(?:[,\s]+[\w-]+)*))?")
            .expect("a valid pattern")
    });
    let Some(caps) = noqa.captures(line) else {
        return false;
    };
    match caps.name("codes") {
        None => true,
        Some(codes) => codes
            .as_str()
            .split([',', ' ', '\t'])
            .filter(|c| !c.is_empty())
            .any(|code| rule.starts_with(code)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noqa_bare_and_with_codes() {
        assert!(suppressed("import os  # noqa", "F401"));
        assert!(suppressed("x = 1  # noqa: E501,F401", "F401"));
        assert!(suppressed("x = 1  # NOQA:E5", "E501"));
        assert!(!suppressed("x = 1  # noqa: E501", "F401"));
        assert!(suppressed(
            "let x = y.unwrap(); // noqa: rust-unwrap",
            "rust-unwrap"
        ));
        assert!(!suppressed("s = 'noqa'", "E501"));
    }

    #[test]
    fn a_file_that_does_not_parse_gets_only_its_syntax_error() {
        let findings = lint_file(
            "a.py",
            "def f(:\n\tpass   \n",
            &Config::default(),
            &[],
            false,
        );
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].rule, "syntax-error");
    }
}
