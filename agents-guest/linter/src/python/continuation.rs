//! pycodestyle's `continued_indentation` (E121-E131), ported line for line: the indentation of
//! the continuation lines of a logical line, against the brackets opened on earlier lines (hanging
//! indents) and the columns a bracket's contents started at (visual indents). E121, E123 and E126
//! are computed but off by default, as in pycodestyle; E133 (hang-closing) is not offered.

use std::collections::BTreeMap;

use super::checker::{Checker, Pos, expand_indent};
use super::tokens::Kind;

/// What pycodestyle's `indent_chances` maps a column to: `True`, the type `str` (a string or
/// comment starts there) or a token's text (tokens may line up with it).
#[derive(Clone, PartialEq, Eq)]
enum Chance {
    Yes,
    Str,
    Text(String),
}

/// `visual_indent`: False, None (no chance at that column), or a chance.
#[derive(Clone, PartialEq, Eq)]
enum Visual {
    False,
    None,
    Chance(Chance),
}

impl Visual {
    /// Python's truthiness of the value.
    fn truthy(&self) -> bool {
        match self {
            Visual::Chance(Chance::Yes | Chance::Str) => true,
            Visual::Chance(Chance::Text(t)) => !t.is_empty(),
            Visual::False | Visual::None => false,
        }
    }
}

pub fn check(c: &Checker, out: &mut Vec<(Pos, &'static str, String)>) {
    let tokens = &c.tokens;
    let (Some(first), Some(last)) = (tokens.first(), tokens.last()) else {
        return;
    };
    let first_row = first.start.0;
    let nrows = 1 + last.start.0 - first_row;
    if nrows == 1 {
        return;
    }
    let indent_size = c.indent_size as i64;
    let indent_level = c.indent_level as i64;
    let indent_next = c.logical_line.ends_with(':');
    let mut row = 0usize;
    let mut depth = 0usize;
    let valid_hangs: Vec<i64> = if c.indent_char != Some('\t') {
        vec![indent_size]
    } else {
        vec![indent_size, indent_size * 2]
    };
    let mut parens = vec![0i64; nrows + 1];
    let mut rel_indent = vec![0i64; nrows + 1];
    let mut open_rows: Vec<Vec<usize>> = vec![vec![0]];
    let mut hangs: Vec<Option<i64>> = vec![None];
    let mut indent_chances: BTreeMap<usize, Chance> = BTreeMap::new();
    let mut last_indent = first.start;
    let mut visual_indent = Visual::None;
    let mut last_token_multiline = false;
    let mut indent: Vec<usize> = vec![last_indent.1];
    let mut hang: i64 = 0;
    let mut hanging_indent = false;
    let truthy_hang = |h: Option<i64>| h.is_some_and(|h| h != 0);
    for token in tokens {
        let (kind, text, start, end) = (token.kind, token.text, token.start, token.end);
        let line = c.line(start.0);
        let mut newline = row < start.0 - first_row;
        if newline {
            row = start.0 - first_row;
            newline = !last_token_multiline && !matches!(kind, Kind::Nl | Kind::Newline);
        }
        if newline {
            last_indent = start;
            rel_indent[row] = expand_indent(line) as i64 - indent_level;
            let close_bracket = kind == Kind::Op && matches!(text, "]" | "}" | ")");
            for &open_row in open_rows[depth].iter().rev() {
                hang = rel_indent[row] - rel_indent[open_row];
                hanging_indent = valid_hangs.contains(&hang);
                if hanging_indent {
                    break;
                }
            }
            if truthy_hang(hangs[depth]) {
                hanging_indent = Some(hang) == hangs[depth];
            }
            visual_indent = if close_bracket || hang <= 0 {
                Visual::False
            } else {
                indent_chances
                    .get(&start.1)
                    .cloned()
                    .map_or(Visual::None, Visual::Chance)
            };
            if close_bracket && indent[depth] != 0 {
                if start.1 != indent[depth] {
                    out.push((
                        Pos::At(start),
                        "E124",
                        "closing bracket does not match visual indentation".into(),
                    ));
                }
            } else if close_bracket && hang == 0 {
                // E133 only with hang-closing.
            } else if indent[depth] != 0 && start.1 < indent[depth] {
                if visual_indent != Visual::Chance(Chance::Yes) {
                    out.push((
                        Pos::At(start),
                        "E128",
                        "continuation line under-indented for visual indent".into(),
                    ));
                }
            } else if hanging_indent || (indent_next && rel_indent[row] == 2 * indent_size) {
                if close_bracket {
                    out.push((
                        Pos::At(start),
                        "E123",
                        "closing bracket does not match indentation of opening bracket's line"
                            .into(),
                    ));
                }
                hangs[depth] = Some(hang);
            } else if visual_indent == Visual::Chance(Chance::Yes) {
                indent[depth] = start.1;
            } else if visual_indent == Visual::Chance(Chance::Str)
                || visual_indent == Visual::Chance(Chance::Text(text.to_string()))
            {
                // a token lined up with a matching one of a previous line
            } else {
                let (code, message) = if hang <= 0 {
                    ("E122", "missing indentation or outdented")
                } else if indent[depth] != 0 {
                    ("E127", "over-indented for visual indent")
                } else if !close_bracket && truthy_hang(hangs[depth]) {
                    ("E131", "unaligned for hanging indent")
                } else {
                    hangs[depth] = Some(hang);
                    if hang > indent_size {
                        ("E126", "over-indented for hanging indent")
                    } else {
                        ("E121", "under-indented for hanging indent")
                    }
                };
                out.push((Pos::At(start), code, format!("continuation line {message}")));
            }
        }
        // Look for visual indenting.
        if parens[row] != 0 && !matches!(kind, Kind::Nl | Kind::Comment) && indent[depth] == 0 {
            indent[depth] = start.1;
            indent_chances.insert(start.1, Chance::Yes);
        } else if matches!(kind, Kind::String | Kind::Comment) {
            indent_chances.insert(start.1, Chance::Str);
        } else if row == 0
            && depth == 0
            && (matches!(text, "assert" | "raise" | "with")
                // "if" too, as `len("if (") == 4`, when nothing else lined up yet.
                || (indent_chances.is_empty() && text == "if"))
        {
            indent_chances.insert(end.1 + 1, Chance::Yes);
        } else if text == ":" && {
            let rest: String = line.chars().skip(end.1).collect();
            !rest.is_empty() && rest.chars().all(char::is_whitespace)
        } {
            open_rows[depth].push(row);
        }
        if kind == Kind::Op {
            if matches!(text, "(" | "[" | "{") {
                depth += 1;
                indent.push(0);
                hangs.push(None);
                if open_rows.len() == depth {
                    open_rows.push(Vec::new());
                }
                open_rows[depth].push(row);
                parens[row] += 1;
            } else if matches!(text, ")" | "]" | "}") && depth > 0 {
                let popped = indent.pop().unwrap_or(0);
                let prev_indent = if popped != 0 { popped } else { last_indent.1 };
                hangs.pop();
                for d in indent.iter_mut().take(depth) {
                    if *d > prev_indent {
                        *d = 0;
                    }
                }
                indent_chances.retain(|&ind, _| ind < prev_indent);
                open_rows.truncate(depth + 1);
                depth -= 1;
                if depth > 0 {
                    indent_chances.insert(indent[depth], Chance::Yes);
                }
                for idx in (0..=row).rev() {
                    if parens[idx] != 0 {
                        parens[idx] -= 1;
                        break;
                    }
                }
            }
            indent_chances
                .entry(start.1)
                .or_insert_with(|| Chance::Text(text.to_string()));
        }
        last_token_multiline = start.0 != end.0;
        if last_token_multiline && end.0 - first_row <= nrows {
            rel_indent[end.0 - first_row] = rel_indent[row];
        }
    }
    let line = c.line(last.start.0);
    if indent_next && expand_indent(line) as i64 == indent_level + indent_size {
        let pos = (last.start.0, indent[0] + c.indent_size);
        let (code, what) = if visual_indent.truthy() {
            ("E129", "visually indented line")
        } else {
            ("E125", "continuation line")
        };
        out.push((
            Pos::At(pos),
            code,
            format!("{what} with same indent as next logical line"),
        ));
    }
}
