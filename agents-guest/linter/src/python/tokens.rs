//! Python tokens as pycodestyle sees them (the standard library's `tokenize`): kind, text, start and
//! end as (1-based row, 0-based character column), from rustpython-parser's lexer. Keywords are names,
//! as in `tokenize`; the lexer's comments and non-logical newlines are kept.

use rustpython_parser::{Mode, Tok, lexer::lex};

/// The token kinds pycodestyle's checks tell apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Name,
    Number,
    String,
    Op,
    Comment,
    /// A newline that does not end a statement (blank line, comment line, inside brackets).
    Nl,
    /// The newline that ends a logical line (empty text at the end of a file without one).
    Newline,
    Indent,
    Dedent,
    EndMarker,
}

/// One token. Rows count from 1, columns from 0 in characters (as `tokenize` does).
#[derive(Clone, Debug)]
pub struct Token<'a> {
    pub kind: Kind,
    pub text: &'a str,
    pub start: (usize, usize),
    pub end: (usize, usize),
}

/// A lexing failure: the byte offset and the lexer's message.
pub struct LexError {
    pub offset: usize,
    pub message: String,
}

/// Row starts of a text, for offset -> (row, column) in characters.
pub struct Rows {
    starts: Vec<usize>,
}

impl Rows {
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Rows { starts }
    }

    pub fn position(&self, text: &str, offset: usize) -> (usize, usize) {
        let row = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[row];
        (row + 1, text[start..offset].chars().count())
    }
}

/// The lexer's own tokens, which the parser takes.
pub type Raw = Vec<(Tok, rustpython_parser::text_size::TextRange)>;

/// Tokenizes `source` (lines end in `\n`), with the raw lexer tokens kept for the parser.
pub fn tokenize(source: &str) -> Result<(Vec<Token<'_>>, Raw), LexError> {
    let rows = Rows::new(source);
    let mut raw = Vec::new();
    for item in lex(source, Mode::Module) {
        match item {
            Ok(spanned) => raw.push(spanned),
            Err(e) => {
                return Err(LexError {
                    offset: usize::from(e.location),
                    message: e.error.to_string(),
                });
            }
        }
    }
    let tokens = raw
        .iter()
        .filter_map(|(tok, range)| {
            let kind = kind_of(tok)?;
            let (start, end) = (usize::from(range.start()), usize::from(range.end()));
            let text = &source[start..end];
            let start = rows.position(source, start);
            // `tokenize` ends a newline token on its own row, one past its start.
            let end = if matches!(kind, Kind::Newline | Kind::Nl) {
                (start.0, start.1 + text.chars().count())
            } else {
                rows.position(source, end)
            };
            Some(Token {
                kind,
                text,
                start,
                end,
            })
        })
        .collect();
    Ok((tokens, raw))
}

fn kind_of(tok: &Tok) -> Option<Kind> {
    Some(match tok {
        Tok::Name { .. } => Kind::Name,
        Tok::Int { .. } | Tok::Float { .. } | Tok::Complex { .. } => Kind::Number,
        Tok::String { .. } => Kind::String,
        Tok::Comment(_) => Kind::Comment,
        Tok::Newline => Kind::Newline,
        Tok::NonLogicalNewline => Kind::Nl,
        Tok::Indent => Kind::Indent,
        Tok::Dedent => Kind::Dedent,
        Tok::EndOfFile => Kind::EndMarker,
        Tok::StartModule | Tok::StartInteractive | Tok::StartExpression => return None,
        Tok::False
        | Tok::None
        | Tok::True
        | Tok::And
        | Tok::As
        | Tok::Assert
        | Tok::Async
        | Tok::Await
        | Tok::Break
        | Tok::Class
        | Tok::Continue
        | Tok::Def
        | Tok::Del
        | Tok::Elif
        | Tok::Else
        | Tok::Except
        | Tok::Finally
        | Tok::For
        | Tok::From
        | Tok::Global
        | Tok::If
        | Tok::Import
        | Tok::In
        | Tok::Is
        | Tok::Lambda
        | Tok::Nonlocal
        | Tok::Not
        | Tok::Or
        | Tok::Pass
        | Tok::Raise
        | Tok::Return
        | Tok::Try
        | Tok::While
        | Tok::Match
        | Tok::Type
        | Tok::Case
        | Tok::With
        | Tok::Yield => Kind::Name,
        _ => Kind::Op,
    })
}

/// Python's keywords (`keyword.kwlist`).
pub const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// Python's soft keywords (`keyword.softkwlist`).
pub const SOFT_KEYWORDS: &[&str] = &["_", "case", "match", "type"];

pub fn is_keyword(text: &str) -> bool {
    KEYWORDS.contains(&text)
}

pub fn is_soft_keyword(text: &str) -> bool {
    SOFT_KEYWORDS.contains(&text)
}
