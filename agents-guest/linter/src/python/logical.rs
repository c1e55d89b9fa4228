//! pycodestyle's logical-line checks, one function per check of pycodestyle's, in its order:
//! blank lines (E30x), whitespace (E20x, E21x, E22x, E23x, E25x, E26x, E27x), indentation (E11x),
//! imports (E401, E402), statements (E70x, E711-E714, E721, E722, E731, E741-E743), E502, W605.
//! Continuation lines (E12x) are in [`super::continuation`]. Not ported: the checks pycodestyle
//! leaves off by default (E24x, W503, W504, W505).

use std::sync::OnceLock;

use regex::Regex;

use super::checker::{Checker, Pos, expand_indent};
use super::tokens::{Kind, Token, is_keyword, is_soft_keyword};

type Out = Vec<(Pos, &'static str, String)>;

/// Every logical-line check: (position, code, message).
pub fn check(c: &Checker) -> Out {
    let mut out = Out::new();
    blank_lines(c, &mut out);
    extraneous_whitespace(c, &mut out);
    whitespace_around_keywords(c, &mut out);
    missing_whitespace_after_keyword(c, &mut out);
    indentation(c, &mut out);
    super::continuation::check(c, &mut out);
    whitespace_before_parameters(c, &mut out);
    whitespace_around_operator(c, &mut out);
    missing_whitespace(c, &mut out);
    whitespace_around_named_parameter_equals(c, &mut out);
    whitespace_before_comment(c, &mut out);
    imports_on_separate_lines(c, &mut out);
    module_imports_on_top_of_file(c, &mut out);
    compound_statements(c, &mut out);
    explicit_line_join(c, &mut out);
    comparison_to_singleton(c, &mut out);
    comparison_negative(c, &mut out);
    comparison_type(c, &mut out);
    bare_except(c, &mut out);
    ambiguous_identifier(c, &mut out);
    invalid_escape_sequence(c, &mut out);
    out
}

fn regex(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("a valid pattern"))
}

/// A byte offset of `s` as a character offset.
fn co(s: &str, byte: usize) -> usize {
    s[..byte].chars().count()
}

fn starts_with_top_level(line: &str) -> bool {
    static R: OnceLock<Regex> = OnceLock::new();
    regex(&R, r"^(async\s+def\s+|def\s+|class\s+|@)").is_match(line)
}

fn starts_with_def(line: &str) -> bool {
    static R: OnceLock<Regex> = OnceLock::new();
    regex(&R, r"^(async\s+def|def)\b").is_match(line)
}

fn is_one_liner(c: &Checker) -> bool {
    let logical = c.logical_line.as_str();
    if !starts_with_top_level(logical) {
        return false;
    }
    let lines = &c.lines;
    let mut line_idx = c.line_number.saturating_sub(1);
    let prev_indent = if line_idx < 1 {
        0
    } else {
        expand_indent(lines[line_idx - 1])
    };
    if prev_indent > c.indent_level {
        return false;
    }
    loop {
        if line_idx >= lines.len() {
            return false;
        }
        let line = lines[line_idx].trim();
        if !line.starts_with('@') && starts_with_top_level(line) {
            break;
        }
        line_idx += 1;
    }
    let mut next_idx = line_idx + 1;
    while next_idx < lines.len() {
        if !lines[next_idx].trim().is_empty() {
            return expand_indent(lines[next_idx]) <= c.indent_level;
        }
        next_idx += 1;
    }
    true
}

fn blank_lines(c: &Checker, out: &mut Out) {
    const TOP: usize = 2;
    const METHOD: usize = 1;
    let logical = c.logical_line.as_str();
    if c.previous_logical.is_empty() && c.blank_before < TOP {
        return;
    }
    if c.previous_logical.starts_with('@') {
        if c.blank_lines > 0 {
            out.push((
                Pos::Offset(0),
                "E304",
                "blank lines found after function decorator".into(),
            ));
        }
    } else if c.blank_lines > TOP || (c.indent_level > 0 && c.blank_lines == METHOD + 1) {
        out.push((
            Pos::Offset(0),
            "E303",
            format!("too many blank lines ({})", c.blank_lines),
        ));
    } else if starts_with_top_level(logical) {
        if is_one_liner(c) && c.blank_before == 0 {
            return;
        }
        if c.indent_level > 0 {
            static DOC: OnceLock<Regex> = OnceLock::new();
            if !(c.blank_before == METHOD
                || c.previous_indent_level < c.indent_level
                || regex(&DOC, r#"^u?r?["']"#).is_match(&c.previous_logical))
            {
                let mut ancestor_level = c.indent_level;
                let mut nested = false;
                let start = c.line_number as isize - TOP as isize;
                if start >= 0 && (start as usize) < c.lines.len() {
                    for line in c.lines[..=start as usize].iter().rev() {
                        if !line.trim().is_empty() && expand_indent(line) < ancestor_level {
                            ancestor_level = expand_indent(line);
                            nested = starts_with_def(line.trim_start());
                            if nested || ancestor_level == 0 {
                                break;
                            }
                        }
                    }
                }
                if nested {
                    out.push((
                        Pos::Offset(0),
                        "E306",
                        format!("expected {METHOD} blank line before a nested definition, found 0"),
                    ));
                } else {
                    out.push((
                        Pos::Offset(0),
                        "E301",
                        format!("expected {METHOD} blank line, found 0"),
                    ));
                }
            }
        } else if c.blank_before != TOP {
            out.push((
                Pos::Offset(0),
                "E302",
                format!("expected {TOP} blank lines, found {}", c.blank_before),
            ));
        }
    } else if !logical.is_empty()
        && c.indent_level == 0
        && c.blank_before != TOP
        && (c.previous_unindented_logical_line.starts_with("def ")
            || c.previous_unindented_logical_line.starts_with("class "))
    {
        out.push((
            Pos::Offset(0),
            "E305",
            format!(
                "expected {TOP} blank lines after class or function definition, found {}",
                c.blank_before
            ),
        ));
    }
}

fn extraneous_whitespace(c: &Checker, out: &mut Out) {
    let chars: Vec<char> = c.logical_line.chars().collect();
    let mut i = 0;
    while i + 1 < chars.len() {
        let (a, b) = (chars[i], chars[i + 1]);
        if "[({".contains(a) && (b == ' ' || b == '\t') {
            out.push((
                Pos::Offset(i + 1),
                "E201",
                format!("whitespace after '{a}'"),
            ));
            i += 2;
        } else if (a == ' ' || a == '\t') && "]}),;:".contains(b) && chars.get(i + 2) != Some(&'=')
        {
            if i == 0 || chars[i - 1] != ',' {
                let code = if "}])".contains(b) { "E202" } else { "E203" };
                out.push((Pos::Offset(i), code, format!("whitespace before '{b}'")));
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    if chars.first() == Some(&'@') && chars.get(1).is_some_and(|c| c.is_whitespace()) {
        out.push((
            Pos::Offset(1),
            "E204",
            "whitespace after decorator '@'".into(),
        ));
    }
}

fn keyword_regex() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| {
        let words: Vec<&str> = super::tokens::KEYWORDS
            .iter()
            .copied()
            .chain(["print"])
            .filter(|k| !matches!(*k, "False" | "None" | "True"))
            .collect();
        Regex::new(&format!(r"(\s*)\b(?:{})\b(\s*)", words.join("|"))).expect("a valid pattern")
    })
}

fn whitespace_around_keywords(c: &Checker, out: &mut Out) {
    let line = c.logical_line.as_str();
    for caps in keyword_regex().captures_iter(line) {
        let (before, after) = (caps.get(1).unwrap(), caps.get(2).unwrap());
        if before.as_str().contains('\t') {
            out.push((
                Pos::Offset(co(line, before.start())),
                "E274",
                "tab before keyword".into(),
            ));
        } else if before.as_str().chars().count() > 1 {
            out.push((
                Pos::Offset(co(line, before.start())),
                "E272",
                "multiple spaces before keyword".into(),
            ));
        }
        if after.as_str().contains('\t') {
            out.push((
                Pos::Offset(co(line, after.start())),
                "E273",
                "tab after keyword".into(),
            ));
        } else if after.as_str().chars().count() > 1 {
            out.push((
                Pos::Offset(co(line, after.start())),
                "E271",
                "multiple spaces after keyword".into(),
            ));
        }
    }
}

fn missing_whitespace_after_keyword(c: &Checker, out: &mut Out) {
    for pair in c.tokens.windows(2) {
        let (t0, t1) = (&pair[0], &pair[1]);
        if t0.end == t1.start
            && t0.kind == Kind::Name
            && is_keyword(t0.text)
            && !matches!(t0.text, "False" | "None" | "True")
            && !(t0.text == "except" && t1.text == "*")
            && !(t0.text == "yield" && t1.text == ")")
            && !t1.text.is_empty()
            && t1.text != ":"
            && t1.text != "\n"
        {
            out.push((
                Pos::At(t0.end),
                "E275",
                "missing whitespace after keyword".into(),
            ));
        }
    }
}

fn indentation(c: &Checker, out: &mut Out) {
    let comment = c.logical_line.is_empty();
    let base = if comment { 3 } else { 0 };
    let suffix = if comment { " (comment)" } else { "" };
    let codes = ["E111", "E112", "E113", "E114", "E115", "E116"];
    if !c.indent_level.is_multiple_of(c.indent_size) {
        out.push((
            Pos::Offset(0),
            codes[base],
            format!("indentation is not a multiple of {}{suffix}", c.indent_size),
        ));
    }
    let indent_expect = c.previous_logical.ends_with(':');
    if indent_expect && c.indent_level <= c.previous_indent_level {
        out.push((
            Pos::Offset(0),
            codes[1 + base],
            format!("expected an indented block{suffix}"),
        ));
    } else if !indent_expect && c.indent_level > c.previous_indent_level {
        out.push((
            Pos::Offset(0),
            codes[2 + base],
            format!("unexpected indentation{suffix}"),
        ));
    }
    if indent_expect {
        let amount = if c.indent_char == Some('\t') { 8 } else { 4 };
        if c.indent_level > c.previous_indent_level + amount {
            out.push((Pos::Offset(0), "E117", format!("over-indented{suffix}")));
        }
    }
}

fn whitespace_before_parameters(c: &Checker, out: &mut Out) {
    let tokens = &c.tokens;
    let Some(first) = tokens.first() else { return };
    let (mut prev_kind, mut prev_text, mut prev_end) = (first.kind, first.text, first.end);
    for (index, token) in tokens.iter().enumerate().skip(1) {
        if token.kind == Kind::Op
            && (token.text == "(" || token.text == "[")
            && token.start != prev_end
            && (prev_kind == Kind::Name || matches!(prev_text, "}" | "]" | ")" | ""))
            && (index < 2 || tokens[index - 2].text != "class")
            && !is_keyword(prev_text)
            && (prev_text == "type" || !is_soft_keyword(prev_text))
        {
            out.push((
                Pos::At(prev_end),
                "E211",
                format!("whitespace before '{}'", token.text),
            ));
        }
        prev_kind = token.kind;
        prev_text = token.text;
        prev_end = token.end;
    }
}

fn whitespace_around_operator(c: &Checker, out: &mut Out) {
    static R: OnceLock<Regex> = OnceLock::new();
    let line = c.logical_line.as_str();
    for caps in regex(&R, r"(?:[^,\s])(\s*)(?:[-+*/|!<=>%&^]+|:=)(\s*)").captures_iter(line) {
        let (before, after) = (caps.get(1).unwrap(), caps.get(2).unwrap());
        if before.as_str().contains('\t') {
            out.push((
                Pos::Offset(co(line, before.start())),
                "E223",
                "tab before operator".into(),
            ));
        } else if before.as_str().chars().count() > 1 {
            out.push((
                Pos::Offset(co(line, before.start())),
                "E221",
                "multiple spaces before operator".into(),
            ));
        }
        if after.as_str().contains('\t') {
            out.push((
                Pos::Offset(co(line, after.start())),
                "E224",
                "tab after operator".into(),
            ));
        } else if after.as_str().chars().count() > 1 {
            out.push((
                Pos::Offset(co(line, after.start())),
                "E222",
                "multiple spaces after operator".into(),
            ));
        }
    }
}

const WS_NEEDED: &[&str] = &[
    "**=", "*=", "/=", "//=", "+=", "-=", "!=", "<", ">", "%=", "^=", "&=", "|=", "==", "<=", ">=",
    "<<=", ">>=", "=", "and", "in", "is", "or", "->", ":=",
];
const UNARY: &[&str] = &[">>", "**", "*", "+", "-"];
const ARITHMETIC: &[&str] = &["**", "*", "/", "//", "+", "-", "@"];
const WS_OPTIONAL: &[&str] = &[
    "**", "*", "/", "//", "+", "-", "@", "^", "&", "|", "<<", ">>", "%",
];

/// E225-E231. `need_space` is pycodestyle's tri-state: None (no), Some(None) (True: a space is
/// needed), Some(Some((pos, spaced_before))) (optional, but must match the opening space).
fn missing_whitespace(c: &Checker, out: &mut Out) {
    enum Need {
        No,
        Yes,
        Match((usize, usize), bool),
    }
    let mut need = Need::No;
    let mut prev_kind = Kind::Op;
    let mut prev_text = "";
    let mut prev_end: Option<(usize, usize)> = None;
    let mut braces: Vec<char> = Vec::new();
    for token in &c.tokens {
        let (kind, text) = (token.kind, token.text);
        if kind == Kind::Op && matches!(text, "[" | "(" | "{") {
            braces.push(text.chars().next().unwrap());
        } else if kind == Kind::Name && text == "lambda" {
            braces.push('l');
        } else if !braces.is_empty() {
            let closes = kind == Kind::Op && matches!(text, "]" | ")" | "}");
            let ends_lambda = braces.last() == Some(&'l') && kind == Kind::Op && text == ":";
            if closes || ends_lambda {
                braces.pop();
            }
        }
        if matches!(
            kind,
            Kind::Nl | Kind::Newline | Kind::Indent | Kind::Dedent | Kind::Comment
        ) {
            continue;
        }
        if kind == Kind::Op && matches!(text, "," | ";" | ":") {
            let line = c.line(token.end.0);
            let next = line.chars().nth(token.end.1);
            let spaced = matches!(next, None | Some(' ' | '\t' | '\u{a0}' | '\r' | '\n'));
            if !spaced {
                let slice = text == ":" && braces.last() == Some(&'[');
                let tuple = text == "," && matches!(next, Some(')' | ']'));
                if !slice && !tuple {
                    out.push((
                        Pos::At(token.start),
                        "E231",
                        format!("missing whitespace after '{text}'"),
                    ));
                }
            }
        }
        let start = token.start;
        match need {
            Need::Yes | Need::Match(..) => {
                if Some(start) != prev_end {
                    if let Need::Match(pos, false) = need {
                        out.push((
                            Pos::At(pos),
                            "E225",
                            "missing whitespace around operator".into(),
                        ));
                    }
                    need = Need::No;
                } else if (prev_text == "/" && matches!(text, "," | ")" | ":"))
                    || (prev_text == ")" && text == ":")
                {
                    // PEP 570 positional-only marker.
                } else {
                    match need {
                        Need::Yes | Need::Match(_, true) => out.push((
                            Pos::At(prev_end.unwrap_or(start)),
                            "E225",
                            "missing whitespace around operator".into(),
                        )),
                        Need::Match(pos, false) if prev_text != "**" => {
                            let (code, kind) = if prev_text == "%" {
                                ("E228", "modulo")
                            } else if !ARITHMETIC.contains(&prev_text) {
                                ("E227", "bitwise or shift")
                            } else {
                                ("E226", "arithmetic")
                            };
                            out.push((
                                Pos::At(pos),
                                code,
                                format!("missing whitespace around {kind} operator"),
                            ));
                        }
                        _ => {}
                    }
                    need = Need::No;
                }
            }
            Need::No => {
                if matches!(kind, Kind::Op | Kind::Name)
                    && let Some(prev_end_v) = prev_end
                {
                    let mut optional = false;
                    if text == "=" && matches!(braces.last(), Some('l' | '(')) {
                        // keyword argument, default, lambda default
                    } else if WS_NEEDED.contains(&text) {
                        need = Need::Yes;
                    } else if UNARY.contains(&text) {
                        // pycodestyle's KEYWORDS: Python's keywords and `print`, less the singletons.
                        let keyword = prev_text == "print"
                            || (is_keyword(prev_text)
                                && !matches!(prev_text, "False" | "None" | "True"));
                        let binary = (prev_kind == Kind::Op
                            && matches!(prev_text, "}" | "]" | ")"))
                            || (prev_kind != Kind::Op && !keyword && !is_soft_keyword(prev_text));
                        optional = binary;
                    } else if WS_OPTIONAL.contains(&text) {
                        optional = true;
                    }
                    if optional {
                        need = Need::Match(prev_end_v, start != prev_end_v);
                    } else if matches!(need, Need::Yes) && start == prev_end_v {
                        out.push((
                            Pos::At(prev_end_v),
                            "E225",
                            "missing whitespace around operator".into(),
                        ));
                        need = Need::No;
                    }
                }
            }
        }
        prev_kind = kind;
        prev_text = text;
        prev_end = Some(token.end);
    }
}

fn whitespace_around_named_parameter_equals(c: &Checker, out: &mut Out) {
    static GENERIC: OnceLock<Regex> = OnceLock::new();
    let mut parens: Vec<&str> = Vec::new();
    let (mut no_space, mut require_space, mut annotated) = (false, false, false);
    let mut prev_end = (0, 0);
    let in_def = starts_with_def(&c.logical_line);
    let in_generic =
        regex(&GENERIC, r"^(async\s+def|def|class|type)\s+\w+\[").is_match(&c.logical_line);
    const UNEXPECTED: &str = "unexpected spaces around keyword / parameter equals";
    const MISSING: &str = "missing whitespace around parameter equals";
    for token in &c.tokens {
        if token.kind == Kind::Nl {
            continue;
        }
        if no_space {
            no_space = false;
            if token.start != prev_end {
                out.push((Pos::At(prev_end), "E251", UNEXPECTED.into()));
            }
        }
        if require_space {
            require_space = false;
            if token.start == prev_end {
                out.push((Pos::At(prev_end), "E252", MISSING.into()));
            }
        }
        if token.kind == Kind::Op {
            let text = token.text;
            if text == "(" || text == "[" {
                parens.push(text);
            } else if (text == ")" || text == "]") && !parens.is_empty() {
                parens.pop();
            } else if text == ":" && in_def && parens == ["("] {
                annotated = true;
            } else if parens.len() == 1 && text == "," {
                annotated = false;
            } else if !parens.is_empty() && text == "=" {
                if (in_generic && parens == ["["]) || (annotated && parens == ["("]) {
                    require_space = true;
                    if token.start == prev_end {
                        out.push((Pos::At(prev_end), "E252", MISSING.into()));
                    }
                } else {
                    no_space = true;
                    if token.start != prev_end {
                        out.push((Pos::At(prev_end), "E251", UNEXPECTED.into()));
                    }
                }
            }
            if parens.is_empty() {
                annotated = false;
            }
        }
        prev_end = token.end;
    }
}

fn whitespace_before_comment(c: &Checker, out: &mut Out) {
    let mut prev_end = (0, 0);
    for token in &c.tokens {
        if token.kind == Kind::Comment {
            let line = c.line(token.start.0);
            let before: String = line.chars().take(token.start.1).collect();
            let inline = !before.trim().is_empty();
            if inline && prev_end.0 == token.start.0 && token.start.1 < prev_end.1 + 2 {
                out.push((
                    Pos::At(prev_end),
                    "E261",
                    "at least two spaces before inline comment".into(),
                ));
            }
            let text = token.text;
            let (symbol, comment) = text.split_once(' ').unwrap_or((text, ""));
            let bad_prefix = if symbol == "#" || symbol == "#:" {
                None
            } else {
                Some(symbol.trim_start_matches('#').chars().next().unwrap_or('#'))
            };
            if inline {
                if bad_prefix.is_some() || comment.starts_with([' ', '\t', '\u{a0}']) {
                    out.push((
                        Pos::At(token.start),
                        "E262",
                        "inline comment should start with '# '".into(),
                    ));
                }
            } else if let Some(bad) = bad_prefix
                && (bad != '!' || token.start.0 > 1)
            {
                if bad != '#' {
                    out.push((
                        Pos::At(token.start),
                        "E265",
                        "block comment should start with '# '".into(),
                    ));
                } else if !comment.is_empty() {
                    out.push((
                        Pos::At(token.start),
                        "E266",
                        "too many leading '#' for block comment".into(),
                    ));
                }
            }
        } else if token.kind != Kind::Nl {
            prev_end = token.end;
        }
    }
}

fn imports_on_separate_lines(c: &Checker, out: &mut Out) {
    let line = c.logical_line.as_str();
    if let Some(rest) = line.strip_prefix("import ")
        && let Some(found) = rest.find(',')
    {
        let found = found + "import ".len();
        if !line[..found].contains(';') {
            out.push((
                Pos::Offset(co(line, found)),
                "E401",
                "multiple imports on one line".into(),
            ));
        }
    }
}

fn module_imports_on_top_of_file(c: &Checker, out: &mut Out) {
    // The state lives on the checker; this check updates it through interior copies in `update`.
    let line = c.logical_line.as_str();
    if c.indent_level > 0 || line.is_empty() {
        return;
    }
    if ["import ", "from "].iter().any(|p| line.starts_with(p)) && c.seen_non_imports {
        out.push((
            Pos::Offset(0),
            "E402",
            "module level import not at top of file".into(),
        ));
    }
}

/// Updates E402's state after a logical line (pycodestyle keeps it in `checker_state`).
pub fn update_import_state(c: &mut Checker) {
    static DUNDER: OnceLock<Regex> = OnceLock::new();
    let line = c.logical_line.as_str();
    if c.indent_level > 0 || line.is_empty() || c.seen_non_imports {
        return;
    }
    if ["import ", "from "].iter().any(|p| line.starts_with(p)) {
        return;
    }
    if regex(&DUNDER, r#"^__([^\s]+)__(?::\s*[a-zA-Z.0-9_\[\]"]+)? = "#).is_match(line) {
        return;
    }
    if ["try", "except", "else", "finally", "with", "if", "elif"]
        .iter()
        .any(|k| line.starts_with(k))
    {
        return;
    }
    let mut chars = line.chars();
    let mut first = chars.next();
    if matches!(first, Some('u' | 'U' | 'b' | 'B' | 'r' | 'R')) {
        first = chars.next();
    }
    if matches!(first, Some('"' | '\'')) {
        if c.seen_docstring {
            c.seen_non_imports = true;
        } else {
            c.seen_docstring = true;
        }
    } else {
        c.seen_non_imports = true;
    }
}

fn compound_statements(c: &Checker, out: &mut Out) {
    static LAMBDA: OnceLock<Regex> = OnceLock::new();
    static INDENT_STATEMENT: OnceLock<Regex> = OnceLock::new();
    let line = c.logical_line.as_str();
    let chars: Vec<char> = line.chars().collect();
    let last_char = chars.len() as isize - 1;
    let find = |ch: char, from: usize| {
        chars
            .iter()
            .skip(from)
            .position(|&c| c == ch)
            .map(|p| p + from)
    };
    let mut found = find(':', 0);
    let mut prev_found = 0;
    let mut counts = [0i64; 6]; // { } [ ] ( )
    while let Some(f) = found {
        if f as isize >= last_char {
            break;
        }
        for &ch in &chars[prev_found..f] {
            if let Some(i) = "{}[]()".chars().position(|b| b == ch) {
                counts[i] += 1;
            }
        }
        if counts[0] <= counts[1]
            && counts[2] <= counts[3]
            && counts[4] <= counts[5]
            && chars[f + 1] != '='
        {
            let head: String = chars[..f].iter().collect();
            if let Some(m) = regex(&LAMBDA, r"\blambda\b").find(&head) {
                let before = head[..m.start()].trim_end();
                if let Some(target) = before.strip_suffix('=')
                    && is_identifier(target.trim())
                {
                    out.push((
                        Pos::Offset(0),
                        "E731",
                        "do not assign a lambda expression, use a def".into(),
                    ));
                }
                break;
            }
            if starts_with_def(line) {
                out.push((Pos::Offset(0), "E704", "multiple statements on one line (def)".into()));
            } else if regex(
                &INDENT_STATEMENT,
                r"^\s*(def|async\s+def|for|async\s+for|if|elif|else|try|except|finally|with|async\s+with|class|while)\b",
            )
            .is_match(line)
            {
                out.push((Pos::Offset(f), "E701", "multiple statements on one line (colon)".into()));
            }
        }
        prev_found = f;
        found = find(':', f + 1);
    }
    let mut found = find(';', 0);
    while let Some(f) = found {
        if (f as isize) < last_char {
            out.push((
                Pos::Offset(f),
                "E702",
                "multiple statements on one line (semicolon)".into(),
            ));
        } else {
            out.push((
                Pos::Offset(f),
                "E703",
                "statement ends with a semicolon".into(),
            ));
        }
        found = find(';', f + 1);
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

fn explicit_line_join(c: &Checker, out: &mut Out) {
    let (mut prev_start, mut prev_end, mut parens) = (0usize, 0usize, 0i64);
    let mut comment = false;
    let mut backslash: Option<(usize, usize)> = None;
    for token in &c.tokens {
        if token.kind == Kind::Comment {
            comment = true;
        }
        if token.start.0 != prev_start
            && parens > 0
            && !comment
            && let Some(at) = backslash
        {
            out.push((
                Pos::At(at),
                "E502",
                "the backslash is redundant between brackets".into(),
            ));
        }
        if token.start.0 != prev_start {
            comment = false;
        }
        if token.end.0 != prev_end {
            let line = c.line(token.end.0);
            backslash = if line.trim_end_matches(['\r', '\n']).ends_with('\\') {
                Some((
                    token.end.0,
                    line.trim_end_matches(['\r', '\n']).chars().count() - 1,
                ))
            } else {
                None
            };
            prev_start = token.end.0;
            prev_end = token.end.0;
        } else {
            prev_start = token.start.0;
        }
        if token.kind == Kind::Op {
            match token.text {
                "(" | "[" | "{" => parens += 1,
                ")" | "]" | "}" => parens -= 1,
                _ => {}
            }
        }
    }
}

fn word_at(chars: &[char], i: usize) -> bool {
    chars
        .get(i)
        .is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

fn comparison_to_singleton(c: &Checker, out: &mut Out) {
    let chars: Vec<char> = c.logical_line.chars().collect();
    let singletons = ["None", "False", "True"];
    let mut i = 0;
    while i + 1 < chars.len() {
        if !((chars[i] == '=' || chars[i] == '!') && chars[i + 1] == '=') {
            i += 1;
            continue;
        }
        // Left: optional whitespace, then a singleton that starts at a word boundary.
        let mut j = i;
        while j > 0 && chars[j - 1].is_whitespace() {
            j -= 1;
        }
        let left = singletons.iter().find(|s| {
            let n = s.len();
            j >= n
                && chars[j - n..j].iter().copied().eq(s.chars())
                && !word_at(&chars, (j - n).wrapping_sub(1))
        });
        let mut k = i + 2;
        while k < chars.len() && chars[k].is_whitespace() {
            k += 1;
        }
        let singleton = match left {
            // `(?(1)|...)\b`: the boundary after the spaces (a word starts there).
            Some(s)
                if word_at(&chars, k) != word_at(&chars, k.wrapping_sub(1))
                    || k == chars.len() && word_at(&chars, k - 1) =>
            {
                Some(*s)
            }
            Some(_) => None,
            None => singletons.iter().copied().find(|s| {
                let n = s.len();
                chars.len() >= k + n
                    && chars[k..k + n].iter().copied().eq(s.chars())
                    && !word_at(&chars, k + n)
            }),
        };
        if let Some(singleton) = singleton {
            let same = chars[i] == '=';
            let mut message = format!(
                "'if cond is {}{singleton}:'",
                if same { "" } else { "not " }
            );
            let code = if singleton == "None" {
                "E711"
            } else {
                let nonzero = (singleton == "True" && same) || (singleton == "False" && !same);
                message.push_str(&format!(
                    " or 'if {}cond:'",
                    if nonzero { "" } else { "not " }
                ));
                "E712"
            };
            out.push((
                Pos::Offset(i),
                code,
                format!("comparison to {singleton} should be {message}"),
            ));
        }
        i += 2;
    }
}

fn comparison_negative(c: &Checker, out: &mut Out) {
    static R: OnceLock<Regex> = OnceLock::new();
    let line = c.logical_line.as_str();
    let re = regex(&R, r"\b(not)\s+[^\]\[)(}{ ]+\s+(in|is)\s");
    let mut from = 0;
    while let Some(caps) = re.captures_at(line, from) {
        let not = caps.get(1).unwrap();
        let before = &line[..not.start()];
        let preceded_by_is = before.len() >= 3
            && before[..before.len() - 1].ends_with("is")
            && before.ends_with(char::is_whitespace);
        if preceded_by_is {
            from = not.start() + 1;
            continue;
        }
        let (code, message) = if &caps[2] == "in" {
            ("E713", "test for membership should be 'not in'")
        } else {
            ("E714", "test for object identity should be 'is not'")
        };
        out.push((Pos::Offset(co(line, not.start())), code, message.into()));
        return;
    }
}

fn comparison_type(c: &Checker, out: &mut Out) {
    static A: OnceLock<Regex> = OnceLock::new();
    static B: OnceLock<Regex> = OnceLock::new();
    let line = c.logical_line.as_str();
    let first = regex(&A, r"[=!]=\s+type(?:\s*\(\s*([^)]*[^\s)])\s*\))").captures(line);
    let re_b = regex(&B, r"\btype(?:\s*\(\s*([^)]*[^\s)])\s*\))\s+[=!]=");
    let mut second = None;
    let mut from = 0;
    while let Some(m) = re_b.find_at(line, from) {
        if !line[..m.start()].ends_with('.') {
            second = Some(m.start());
            break;
        }
        from = m.start() + 1;
    }
    let (start, inst) = match (first, second) {
        (Some(a), Some(b)) if b < a.get(0).unwrap().start() => (b, None),
        (Some(a), _) => (
            a.get(0).unwrap().start(),
            a.get(1).map(|m| m.as_str().to_string()),
        ),
        (None, Some(b)) => (b, None),
        (None, None) => return,
    };
    if let Some(inst) = inst
        && is_identifier(&inst)
        && !matches!(inst.as_str(), "False" | "None" | "True")
    {
        return;
    }
    out.push((
        Pos::Offset(co(line, start)),
        "E721",
        "do not compare types, for exact checks use `is` / `is not`, for instance checks use `isinstance()`".into(),
    ));
}

fn bare_except(c: &Checker, out: &mut Out) {
    static R: OnceLock<Regex> = OnceLock::new();
    if regex(&R, r"^except\s*:").is_match(&c.logical_line) {
        out.push((Pos::Offset(0), "E722", "do not use bare 'except'".into()));
    }
}

fn ambiguous_identifier(c: &Checker, out: &mut Out) {
    let tokens: &[Token] = &c.tokens;
    let Some(first) = tokens.first() else { return };
    let avoid = |t: &str| matches!(t, "l" | "O" | "I");
    let mut func_depth: Option<i64> = None;
    let mut seen_colon = false;
    let mut brace_depth: i64 = 0;
    let (mut prev_text, mut prev_start) = (first.text, first.start);
    for index in 1..tokens.len() {
        let token = &tokens[index];
        let (text, start) = (token.text, token.start);
        let mut ident: Option<(&str, (usize, usize))> = None;
        if prev_text == "def" || prev_text == "lambda" {
            func_depth = Some(brace_depth);
            seen_colon = false;
        } else if func_depth.is_some() && text == ":" && Some(brace_depth) == func_depth {
            seen_colon = true;
        }
        // pycodestyle tests `text in '([{'`, which holds for the empty text of a DEDENT too.
        if matches!(text, "(" | "[" | "{" | "") {
            brace_depth += 1;
        } else if matches!(text, ")" | "]" | "}") {
            brace_depth -= 1;
        }
        if (text == ":=" || (text == "=" && brace_depth == 0)) && avoid(prev_text) {
            ident = Some((prev_text, prev_start));
        }
        if matches!(prev_text, "as" | "for" | "global" | "nonlocal") && avoid(text) {
            ident = Some((text, start));
        }
        if func_depth.is_some()
            && !seen_colon
            && index < tokens.len() - 1
            && matches!(tokens[index + 1].text, ":" | "," | "=" | ")")
            && matches!(prev_text, "lambda" | "," | "*" | "**" | "(")
            && avoid(text)
        {
            ident = Some((text, start));
        }
        if prev_text == "class" && avoid(text) {
            out.push((
                Pos::At(start),
                "E742",
                format!("ambiguous class definition '{text}'"),
            ));
        }
        if prev_text == "def" && avoid(text) {
            out.push((
                Pos::At(start),
                "E743",
                format!("ambiguous function definition '{text}'"),
            ));
        }
        if let Some((name, pos)) = ident {
            out.push((
                Pos::At(pos),
                "E741",
                format!("ambiguous variable name '{name}'"),
            ));
        }
        prev_text = text;
        prev_start = start;
    }
}

fn invalid_escape_sequence(c: &Checker, out: &mut Out) {
    const VALID: &str = "\n\\'\"abfnrtv01234567xNuU";
    for token in &c.tokens {
        if token.kind != Kind::String {
            continue;
        }
        let text = token.text;
        let Some(quote) = text.chars().last() else {
            continue;
        };
        let prefix_len = text.find(quote).unwrap_or(0);
        if text[..prefix_len].to_lowercase().contains('r') {
            continue;
        }
        let chars: Vec<char> = text.chars().collect();
        let mut pos = 0;
        while pos < chars.len() {
            if chars[pos] != '\\' {
                pos += 1;
                continue;
            }
            let next = pos + 1;
            if let Some(&ch) = chars.get(next)
                && !VALID.contains(ch)
            {
                let newlines = chars[..next].iter().filter(|&&c| c == '\n').count();
                let row = token.start.0 + newlines;
                let col = if newlines == 0 {
                    token.start.1 + next
                } else {
                    next - chars[..next].iter().rposition(|&c| c == '\n').unwrap() - 1
                };
                out.push((
                    Pos::At((row, col - 1)),
                    "W605",
                    format!("invalid escape sequence '\\{ch}'"),
                ));
            }
            pos = next + 1;
        }
    }
}
