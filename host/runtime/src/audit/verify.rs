//! Verifying a log: every line's hash, its link to the line before, its `seq`, its newline; one
//! file ([`verify`]) or a rotated set ([`verify_set`]), the chain running on across files.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::GENESIS;
use super::rotation::{ChainPoint, rotated_files};

/// Something wrong with one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}")]
pub struct Problem {
    /// 1-based.
    pub line: u64,
    /// What is wrong, with the line it is on.
    pub what: String,
}

/// A log that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Lines checked.
    pub lines: u64,
    /// The last line's hash ([`GENESIS`] for an empty log): keep it to detect a cut-off tail.
    pub head: String,
    /// The sequence number of the last line.
    pub last_seq: u64,
}

/// Checks every line of a log: its hash matches its text, its `prev` is the line before's hash,
/// its `seq` follows, and it ends with a newline. Returns every problem found.
pub fn verify(reader: impl BufRead) -> Result<Verified, Vec<Problem>> {
    let checked = check(reader, None);
    if checked.problems.is_empty() {
        Ok(checked.verified)
    } else {
        Err(checked.problems)
    }
}

/// What [`check`] found: the chain as far as it goes, the problems, and whether the only thing wrong
/// with the last line is its missing newline (a write cut short after the line's last byte).
pub(super) struct Checked {
    pub verified: Verified,
    pub problems: Vec<Problem>,
    pub unterminated: bool,
}

pub(super) fn check(mut reader: impl BufRead, from: Option<&ChainPoint>) -> Checked {
    let mut problems = Vec::new();
    let (mut head, mut last_seq, mut lines) = match from {
        Some(point) => (point.head.clone(), point.seq, 0u64),
        None => (GENESIS.to_string(), 0u64, 0u64),
    };
    let mut unterminated = false;
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        let read = reader.read_until(b'\n', &mut buffer);
        if matches!(read, Ok(0)) {
            break;
        }
        let n = lines + 1;
        lines = n;
        let mut problem = |what: String| problems.push(Problem { line: n, what });
        if let Err(e) = read {
            problem(format!("cannot be read: {e}"));
            break;
        }
        let line = match buffer.strip_suffix(b"\n") {
            Some(line) => line,
            None => {
                unterminated = true;
                problem(
                    "has no newline at its end: the write was cut short (`tandem serve` adds the newline when the line is otherwise intact)"
                        .to_string(),
                );
                &buffer[..]
            }
        };
        let Ok(text) = std::str::from_utf8(line) else {
            problem("is not UTF-8 text".to_string());
            continue;
        };
        let Some((body, hash)) = split_hash(text) else {
            problem("has no `hash` field at its end (not an audit line, or cut short)".to_string());
            continue;
        };
        let fields: serde_json::Value = match serde_json::from_str(&format!("{body}}}")) {
            Ok(value) => value,
            Err(e) => {
                problem(format!("is not a JSON object: {e}"));
                continue;
            }
        };
        if line_hash(body) != hash {
            problem("was edited: its hash does not match its content".to_string());
        }
        match fields.get("prev").and_then(|v| v.as_str()) {
            Some(prev) if prev == head => {}
            Some(_) if n == 1 && from.is_some() => problem(
                "does not follow the chain before it (the previous file's last line, or the checkpoint)"
                    .to_string(),
            ),
            Some(_) if n == 1 => {
                problem("is not the first line of a log: a line before it was removed".to_string())
            }
            Some(_) => problem(format!(
                "does not follow line {}: a line between them was removed or inserted, or the lines were reordered",
                n - 1
            )),
            None => problem("has no `prev` field".to_string()),
        }
        match fields.get("seq").and_then(|v| v.as_u64()) {
            Some(seq) if (n == 1 && from.is_none()) || seq == last_seq + 1 => last_seq = seq,
            Some(seq) => {
                problem(format!("has seq {seq} where {} was due", last_seq + 1));
                last_seq = seq;
            }
            None => problem("has no `seq` field".to_string()),
        }
        head = hash.to_string();
    }
    Checked {
        verified: Verified {
            lines,
            head,
            last_seq,
        },
        unterminated: unterminated && problems.len() == 1,
        problems,
    }
}

/// Splits `…,"hash":"<64 hex>"}` into the text before `,"hash"` and the hash.
pub(super) fn split_hash(line: &str) -> Option<(&str, &str)> {
    let body = line.strip_suffix("\"}")?;
    let (body, hash) = body.rsplit_once(",\"hash\":\"")?;
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some((body, hash))
}

/// The hash of a line whose text before `,"hash"` is `body`.
pub(super) fn line_hash(body: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(body.as_bytes());
    hasher.update(b"}");
    hex::encode(hasher.finalize())
}

/// A rotated set that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSet {
    /// The files, oldest first, the active one last.
    pub files: Vec<PathBuf>,
    /// Lines checked, across the files.
    pub lines: u64,
    /// The hash of the last line: what the next line must link to.
    pub head: String,
    /// The seq of the set's first line: above 1 when older files were removed by retention.
    pub first_seq: u64,
}

/// A problem, with the file it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// The file it is in.
    pub file: PathBuf,
    /// What is wrong.
    pub problem: Problem,
}

impl std::fmt::Display for FileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.problem)
    }
}

/// Verifies the log at `path` with its rotated files (`path.<first seq>`), oldest first, the chain
/// running on from each file into the next. When older files were removed (retention), the set
/// starts where the oldest one kept does.
pub fn verify_set(path: &Path) -> Result<VerifiedSet, Vec<FileProblem>> {
    let mut files = rotated_files(path).map_err(|e| {
        vec![FileProblem {
            file: path.to_path_buf(),
            problem: Problem {
                line: 0,
                what: format!("cannot list its directory: {e}"),
            },
        }]
    })?;
    if path.exists() || files.is_empty() {
        files.push(path.to_path_buf());
    }
    let (mut point, mut problems, mut lines, mut first_seq) = (None, Vec::new(), 0u64, 1u64);
    for (i, file) in files.iter().enumerate() {
        let fail = |what: String| FileProblem {
            file: file.clone(),
            problem: Problem { line: 0, what },
        };
        let reader = match std::fs::File::open(file) {
            Ok(f) => std::io::BufReader::new(f),
            Err(e) => {
                problems.push(fail(format!("cannot be read: {e}")));
                break;
            }
        };
        if i == 0 && files.len() > 1 {
            // The oldest file kept may start mid-chain: it continues from its own first line.
            point = super::rotation::first_point(file).map_err(|e| vec![fail(e)])?;
            if let Some(p) = &point {
                first_seq = p.seq + 1;
            }
        }
        let checked = check(reader, point.as_ref());
        problems.extend(checked.problems.into_iter().map(|problem| FileProblem {
            file: file.clone(),
            problem,
        }));
        lines += checked.verified.lines;
        point = Some(ChainPoint {
            head: checked.verified.head,
            seq: checked.verified.last_seq,
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(VerifiedSet {
        files,
        lines,
        head: point.map_or_else(|| GENESIS.to_string(), |p| p.head),
        first_seq,
    })
}
