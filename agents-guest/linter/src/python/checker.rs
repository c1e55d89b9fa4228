//! pycodestyle's checker, ported: tokens are grouped into logical lines (a statement over its
//! physical lines, strings muted, comments aside), physical-line checks run at the end of each
//! physical line and on every line inside a multi-line string, and logical-line checks report
//! offsets into the logical line that a mapping turns back into rows and columns. The order of
//! events and the state the checks see (blank lines before, previous logical line, indent levels,
//! the file's indent character) follow pycodestyle 2.x so that the same code gets the same codes.

use super::tokens::{Kind, Token};
use super::{logical, physical};

/// Where a check reports: an offset into the logical line, or a (row, column) of the file.
pub enum Pos {
    Offset(usize),
    At((usize, usize)),
}

/// One pycodestyle report: 1-based row, 0-based column, code, message.
pub struct Report {
    pub row: usize,
    pub col: usize,
    pub code: &'static str,
    pub message: String,
}

/// The state pycodestyle's checks read, by the names pycodestyle gives them.
pub struct Checker<'a> {
    pub lines: Vec<&'a str>,
    pub max_line_length: usize,
    pub indent_size: usize,
    pub indent_char: Option<char>,
    pub line_number: usize,
    lines_read: usize,
    /// The last row checked at an end-of-line token (the lexer may end the file with two).
    last_eol_row: usize,
    pub multiline: bool,
    pub physical_line: String,
    pub tokens: Vec<Token<'a>>,
    pub logical_line: String,
    pub indent_level: usize,
    pub previous_indent_level: usize,
    pub previous_logical: String,
    pub previous_unindented_logical_line: String,
    pub blank_lines: usize,
    pub blank_before: usize,
    pub seen_non_imports: bool,
    pub seen_docstring: bool,
    pub reports: Vec<Report>,
}

impl<'a> Checker<'a> {
    pub fn new(source: &'a str, max_line_length: usize, indent_size: usize) -> Self {
        Checker {
            lines: source.split_inclusive('\n').collect(),
            max_line_length,
            indent_size,
            indent_char: None,
            line_number: 0,
            lines_read: 0,
            last_eol_row: 0,
            multiline: false,
            physical_line: String::new(),
            tokens: Vec::new(),
            logical_line: String::new(),
            indent_level: 0,
            previous_indent_level: 0,
            previous_logical: String::new(),
            previous_unindented_logical_line: String::new(),
            blank_lines: 0,
            blank_before: 0,
            seen_non_imports: false,
            seen_docstring: false,
            reports: Vec::new(),
        }
    }

    pub fn total_lines(&self) -> usize {
        self.lines.len()
    }

    /// The text of 1-based `row` (with its newline), or "" past the end.
    pub fn line(&self, row: usize) -> &'a str {
        self.lines.get(row.wrapping_sub(1)).copied().unwrap_or("")
    }

    /// `token.line` in `tokenize`: the physical lines the token spans.
    pub fn token_line(&self, token: &Token) -> String {
        (token.start.0..=token.end.0)
            .map(|r| self.line(r))
            .collect()
    }

    /// Reads lines up to `row` the way the tokenizer's `readline` does: the first line that starts
    /// with whitespace sets the file's indent character.
    fn read_through(&mut self, row: usize) {
        while self.lines_read < row.min(self.lines.len()) {
            let line = self.lines[self.lines_read];
            self.lines_read += 1;
            if self.indent_char.is_none()
                && let Some(c @ (' ' | '\t' | '\u{a0}')) = line.chars().next()
            {
                self.indent_char = Some(c);
            }
        }
    }

    /// Runs every check over the tokens of a file that lexed.
    pub fn check_all(&mut self, tokens: Vec<Token<'a>>) {
        let mut parens: i64 = 0;
        for token in tokens {
            if token.start.0 > self.total_lines() {
                break;
            }
            self.read_through(token.end.0);
            self.line_number = self.lines_read;
            self.maybe_check_physical(&token);
            let (kind, text) = (token.kind, token.text);
            self.tokens.push(token);
            if kind == Kind::Op {
                match text {
                    "(" | "[" | "{" => parens += 1,
                    ")" | "]" | "}" => parens -= 1,
                    _ => {}
                }
            } else if parens == 0 && matches!(kind, Kind::Newline | Kind::Nl) {
                if kind == Kind::Newline {
                    self.check_logical();
                    self.blank_before = 0;
                } else if self.tokens.len() == 1 {
                    self.blank_lines += 1;
                    self.tokens.clear();
                } else {
                    self.check_logical();
                }
            }
        }
        if !self.tokens.is_empty() {
            let last = self.lines.last().copied().unwrap_or("");
            self.check_physical(last);
            self.check_logical();
        }
    }

    fn maybe_check_physical(&mut self, token: &Token) {
        let line = self.token_line(token);
        let last_line = line.rsplit_inclusive_last();
        let rest: String = last_line.chars().skip(token.end.1).collect();
        let eol = matches!(token.kind, Kind::Newline | Kind::Nl) || rest.trim_start() == "\\\n";
        if eol && token.end.0 == self.last_eol_row {
            return;
        }
        if eol {
            self.last_eol_row = token.end.0;
            let physical = if token.kind == Kind::Newline && token.text.is_empty() {
                self.line(token.start.0)
            } else {
                self.line(token.end.0)
            };
            self.line_number = token.end.0;
            self.check_physical(physical);
        } else if token.kind == Kind::String && token.text.contains('\n') {
            self.multiline = true;
            let saved = self.line_number;
            for row in token.start.0..token.end.0 {
                self.line_number = row;
                let physical = format!("{}\n", self.line(row));
                self.check_physical(&physical);
            }
            self.line_number = saved;
            self.multiline = false;
        }
    }

    fn check_physical(&mut self, line: &str) {
        self.physical_line = line.to_string();
        for (col, code, message) in physical::check(self) {
            let is_e101 = code == "E101";
            self.reports.push(Report {
                row: self.line_number,
                col,
                code,
                message,
            });
            if is_e101 {
                self.indent_char = line.chars().next();
            }
        }
    }

    /// Builds the logical line; returns the offset mapping (logical offset -> (row, col)).
    fn build_tokens_line(&mut self) -> Vec<(usize, (usize, usize))> {
        let mut logical = String::new();
        let mut length = 0;
        let mut mapping: Vec<(usize, (usize, usize))> = Vec::new();
        let mut prev: Option<(usize, usize)> = None;
        for token in &self.tokens {
            if matches!(
                token.kind,
                Kind::Nl | Kind::Newline | Kind::Indent | Kind::Dedent
            ) {
                continue;
            }
            if mapping.is_empty() {
                mapping.push((0, token.start));
            }
            if token.kind == Kind::Comment {
                continue;
            }
            let mut text = if token.kind == Kind::String {
                mute_string(token.text)
            } else {
                token.text.to_string()
            };
            if let Some((prev_row, prev_col)) = prev {
                let (start_row, start_col) = token.start;
                if prev_row != start_row {
                    let prev_text = self
                        .line(prev_row)
                        .chars()
                        .nth(prev_col.wrapping_sub(1))
                        .unwrap_or(' ');
                    if prev_text == ','
                        || (!"{[(".contains(prev_text) && !"}])".contains(text.as_str()))
                    {
                        text.insert(0, ' ');
                    }
                } else if prev_col != start_col {
                    let between: String = self
                        .line(start_row)
                        .chars()
                        .skip(prev_col)
                        .take(start_col.saturating_sub(prev_col))
                        .collect();
                    text.insert_str(0, &between);
                }
            }
            length += text.chars().count();
            logical.push_str(&text);
            mapping.push((length, token.end));
            prev = Some(token.end);
        }
        self.logical_line = logical;
        mapping
    }

    fn check_logical(&mut self) {
        let mapping = self.build_tokens_line();
        if mapping.is_empty() {
            self.tokens.clear();
            return;
        }
        let (start_row, start_col) = mapping[0].1;
        let start_line: String = self.line(start_row).chars().take(start_col).collect();
        self.indent_level = expand_indent(&start_line);
        if self.blank_before < self.blank_lines {
            self.blank_before = self.blank_lines;
        }
        let reports = logical::check(self);
        logical::update_import_state(self);
        for (pos, code, message) in reports {
            let (row, col) = match pos {
                Pos::At(at) => at,
                Pos::Offset(offset) => {
                    let i = mapping.partition_point(|(o, _)| *o < offset);
                    let (token_offset, (row, col)) = mapping[i.min(mapping.len() - 1)];
                    (row, (col + offset).saturating_sub(token_offset))
                }
            };
            self.reports.push(Report {
                row,
                col,
                code,
                message,
            });
        }
        if !self.logical_line.is_empty() {
            self.previous_indent_level = self.indent_level;
            self.previous_logical = std::mem::take(&mut self.logical_line);
            if self.indent_level == 0 {
                self.previous_unindented_logical_line = self.previous_logical.clone();
            }
        }
        self.blank_lines = 0;
        self.tokens.clear();
    }
}

trait LastLine {
    fn rsplit_inclusive_last(&self) -> &str;
}

impl LastLine for String {
    /// The last physical line of a token's lines.
    fn rsplit_inclusive_last(&self) -> &str {
        self.split_inclusive('\n').next_back().unwrap_or("")
    }
}

/// pycodestyle's `expand_indent`: the indentation width, tabs to the next multiple of 8.
pub fn expand_indent(line: &str) -> usize {
    let line = line.trim_end_matches(['\n', '\r']);
    if !line.contains('\t') {
        return line.chars().count() - line.trim_start().chars().count();
    }
    let mut result = 0;
    for c in line.chars() {
        match c {
            '\t' => result = result / 8 * 8 + 8,
            ' ' => result += 1,
            _ => break,
        }
    }
    result
}

/// pycodestyle's `mute_string`: a string literal's contents replaced by `x`.
pub fn mute_string(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let Some(&quote) = chars.last() else {
        return String::new();
    };
    let mut start = chars.iter().position(|&c| c == quote).unwrap_or(0) + 1;
    let mut end = chars.len() - 1;
    if text.ends_with("\"\"\"") || text.ends_with("'''") {
        start += 2;
        end = end.saturating_sub(2);
    }
    if start > end {
        return text.to_string();
    }
    let mut out: String = chars[..start].iter().collect();
    out.extend(std::iter::repeat_n('x', end - start));
    out.extend(&chars[end..]);
    out
}
