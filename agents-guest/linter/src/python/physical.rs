//! pycodestyle's physical-line checks: E101, W191, W291, W293, W391, W292, E501.

use super::checker::Checker;

/// Every physical-line check on `checker.physical_line`: (column, code, message).
pub fn check(c: &Checker) -> Vec<(usize, &'static str, String)> {
    let line = c.physical_line.as_str();
    let mut out = Vec::new();
    let indent: String = line
        .chars()
        .take_while(|&ch| ch == ' ' || ch == '\t')
        .collect();
    // E101: the indent mixes the file's indent character with another.
    if let Some(offset) = indent.chars().position(|ch| Some(ch) != c.indent_char) {
        out.push((
            offset,
            "E101",
            "indentation contains mixed spaces and tabs".into(),
        ));
    }
    // W191
    if let Some(offset) = indent.chars().position(|ch| ch == '\t') {
        out.push((offset, "W191", "indentation contains tabs".into()));
    }
    // W291, W293
    let trimmed = line.trim_end_matches(['\n', '\r', '\x0c']);
    let stripped = trimmed.trim_end_matches([' ', '\t', '\x0b']);
    if trimmed != stripped {
        if stripped.is_empty() {
            out.push((0, "W293", "blank line contains whitespace".into()));
        } else {
            out.push((
                stripped.chars().count(),
                "W291",
                "trailing whitespace".into(),
            ));
        }
    }
    // W391, W292
    if c.line_number == c.total_lines() {
        let stripped_last = line.trim_end_matches(['\r', '\n']);
        if !line.is_empty() && stripped_last.is_empty() {
            out.push((0, "W391", "blank line at end of file".into()));
        }
        if stripped_last == line {
            let last = c.lines.last().map_or(0, |l| l.chars().count());
            out.push((last, "W292", "no newline at end of file".into()));
        }
    }
    // E501
    let rstripped = line.trim_end();
    let length = rstripped.chars().count();
    if length > c.max_line_length && !(c.line_number == 1 && rstripped.starts_with("#!")) {
        let chunks: Vec<&str> = rstripped.split_whitespace().collect();
        let url_like = ((chunks.len() == 1 && c.multiline)
            || (chunks.len() == 2 && chunks[0] == "#"))
            && length - chunks.last().map_or(0, |s| s.chars().count())
                < c.max_line_length.saturating_sub(7);
        if !url_like {
            out.push((
                c.max_line_length,
                "E501",
                format!(
                    "line too long ({length} > {} characters)",
                    c.max_line_length
                ),
            ));
        }
    }
    out
}
