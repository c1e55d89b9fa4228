//! Python: parsed with rustpython-parser; a file that does not lex or parse gets one
//! `syntax-error` finding at the parser's position. Otherwise pycodestyle's checks ([`checker`],
//! [`physical`], [`logical`]) with pycodestyle's codes, and pyflakes' checks that need the tree
//! ([`flakes`]: F401 unused import, F811 redefinition of an unused name, F821 undefined name).

mod checker;
mod continuation;
mod flakes;
mod logical;
mod physical;
mod tokens;

use guest_support::{Finding, LineIndex, Severity};
use rustpython_parser::{Mode, Tok, parse_tokens};

use crate::config::Config;

/// Lints one Python file. `text` has `\n` line ends (the caller normalises `\r\n`).
pub fn lint(file: &str, text: &str, config: &Config) -> Vec<Finding> {
    let (tokens, raw) = match tokens::tokenize(text) {
        Ok(lexed) => lexed,
        Err(e) => return vec![syntax_error(file, text, e.offset, &e.message)],
    };
    let raw: Vec<_> = raw
        .into_iter()
        .filter(|(t, _)| !matches!(t, Tok::Comment(_) | Tok::NonLogicalNewline))
        .map(Ok)
        .collect();
    let module = match parse_tokens(raw, Mode::Module, file) {
        Ok(rustpython_parser::ast::Mod::Module(module)) => module,
        Ok(_) => return Vec::new(),
        Err(e) => {
            return vec![syntax_error(
                file,
                text,
                usize::from(e.offset),
                &e.error.to_string(),
            )];
        }
    };
    let mut findings = Vec::new();
    let mut checker =
        checker::Checker::new(text, config.python_line_length(), config.indent_size());
    checker.check_all(tokens);
    for report in checker.reports {
        let severity = if report.code.starts_with('W') {
            Severity::Warning
        } else {
            Severity::Error
        };
        findings.push(Finding::new(
            file,
            report.row,
            report.col + 1,
            report.code,
            severity,
            report.message,
        ));
    }
    let index = LineIndex::new(text);
    for (offset, code, message) in flakes::check(&module.body, text, file.ends_with("__init__.py"))
    {
        let (line, column) = index.position(offset);
        findings.push(Finding::new(
            file,
            line,
            column,
            code,
            Severity::Warning,
            message,
        ));
    }
    findings
}

fn syntax_error(file: &str, text: &str, offset: usize, message: &str) -> Finding {
    let (line, column) = LineIndex::new(text).position(offset);
    Finding::new(
        file,
        line,
        column,
        "syntax-error",
        Severity::Error,
        format!("Python does not parse: {message}"),
    )
}

/// The rules of this language: (code, description, fixable).
pub const RULES: &[(&str, &str)] = &[
    ("E101", "indentation contains mixed spaces and tabs"),
    ("E111", "indentation is not a multiple of the indent size"),
    ("E112", "expected an indented block"),
    ("E113", "unexpected indentation"),
    (
        "E114",
        "indentation is not a multiple of the indent size (comment)",
    ),
    ("E115", "expected an indented block (comment)"),
    ("E116", "unexpected indentation (comment)"),
    ("E117", "over-indented"),
    (
        "E121",
        "continuation line under-indented for hanging indent (off by default, as in pycodestyle)",
    ),
    ("E122", "continuation line missing indentation or outdented"),
    (
        "E123",
        "closing bracket does not match indentation of opening bracket's line (off by default)",
    ),
    ("E124", "closing bracket does not match visual indentation"),
    (
        "E125",
        "continuation line with same indent as next logical line",
    ),
    (
        "E126",
        "continuation line over-indented for hanging indent (off by default)",
    ),
    ("E127", "continuation line over-indented for visual indent"),
    ("E128", "continuation line under-indented for visual indent"),
    (
        "E129",
        "visually indented line with same indent as next logical line",
    ),
    ("E131", "continuation line unaligned for hanging indent"),
    ("E201", "whitespace after '(', '[' or '{'"),
    ("E202", "whitespace before ')', ']' or '}'"),
    ("E203", "whitespace before ',', ';' or ':'"),
    ("E204", "whitespace after decorator '@'"),
    ("E211", "whitespace before '(' or '['"),
    ("E221", "multiple spaces before operator"),
    ("E222", "multiple spaces after operator"),
    ("E223", "tab before operator"),
    ("E224", "tab after operator"),
    ("E225", "missing whitespace around operator"),
    (
        "E226",
        "missing whitespace around arithmetic operator (off by default, as in pycodestyle)",
    ),
    (
        "E227",
        "missing whitespace around bitwise or shift operator",
    ),
    ("E228", "missing whitespace around modulo operator"),
    ("E231", "missing whitespace after ',', ';' or ':'"),
    (
        "E251",
        "unexpected spaces around keyword / parameter equals",
    ),
    ("E252", "missing whitespace around parameter equals"),
    ("E261", "at least two spaces before inline comment"),
    ("E262", "inline comment should start with '# '"),
    ("E265", "block comment should start with '# '"),
    ("E266", "too many leading '#' for block comment"),
    ("E271", "multiple spaces after keyword"),
    ("E272", "multiple spaces before keyword"),
    ("E273", "tab after keyword"),
    ("E274", "tab before keyword"),
    ("E275", "missing whitespace after keyword"),
    ("E301", "expected 1 blank line"),
    ("E302", "expected 2 blank lines"),
    ("E303", "too many blank lines"),
    ("E304", "blank lines found after function decorator"),
    (
        "E305",
        "expected 2 blank lines after class or function definition",
    ),
    ("E306", "expected 1 blank line before a nested definition"),
    ("E401", "multiple imports on one line"),
    ("E402", "module level import not at top of file"),
    ("E501", "line too long"),
    ("E502", "the backslash is redundant between brackets"),
    ("E701", "multiple statements on one line (colon)"),
    ("E702", "multiple statements on one line (semicolon)"),
    ("E703", "statement ends with a semicolon"),
    (
        "E704",
        "multiple statements on one line (def) (off by default, as in pycodestyle)",
    ),
    ("E711", "comparison to None"),
    ("E712", "comparison to True or False"),
    ("E713", "test for membership should be 'not in'"),
    ("E714", "test for object identity should be 'is not'"),
    ("E721", "do not compare types"),
    ("E722", "do not use bare 'except'"),
    ("E731", "do not assign a lambda expression, use a def"),
    ("E741", "ambiguous variable name"),
    ("E742", "ambiguous class definition"),
    ("E743", "ambiguous function definition"),
    ("W191", "indentation contains tabs"),
    ("W291", "trailing whitespace"),
    ("W292", "no newline at end of file"),
    ("W293", "blank line contains whitespace"),
    ("W391", "blank line at end of file"),
    ("W605", "invalid escape sequence"),
    ("F401", "module imported but unused"),
    ("F811", "redefinition of unused name"),
    ("F821", "undefined name"),
    ("F822", "undefined name in __all__"),
];

/// pycodestyle's default ignore list (the codes it leaves off unless asked).
pub const DEFAULT_OFF: &[&str] = &[
    "E121", "E123", "E126", "E226", "E24", "E704", "W503", "W504",
];
