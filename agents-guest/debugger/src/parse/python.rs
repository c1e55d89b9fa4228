//! Python tracebacks: `Traceback (most recent call last):`, `File "...", line N, in f` frames (the
//! source and caret lines under them skipped), `[Previous line repeated N more times]`, the exception
//! line; chains of them joined by "During handling of the above exception, another exception
//! occurred:" (the earlier one is the later one's `context`) or "The above exception was the direct
//! cause of the following exception:" (its `cause`). The last exception printed is the crash.

use std::sync::LazyLock;

use regex::Regex;

use super::{library_path, number, pattern};
use crate::crash::{Cause, Crash, Frame, Language};

const HEAD: &str = "Traceback (most recent call last):";
const DURING: &str = "During handling of the above exception, another exception occurred:";
const CAUSE: &str = "The above exception was the direct cause of the following exception:";

static FRAME: LazyLock<Regex> =
    LazyLock::new(|| pattern(r#"^  File "(.+)", line (\d+)(?:, in (.+))?$"#));
static REPEATED: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"^  \[Previous line repeated (\d+) more times?\]$"));
static EXCEPTION: LazyLock<Regex> = LazyLock::new(|| pattern(r"^([A-Za-z_][\w.]*)(?:: ?(.*))?$"));

/// One traceback of a chain.
struct Part {
    kind: String,
    message: String,
    frames: Vec<Frame>,
    omitted: u64,
    truncated: bool,
}

/// The traceback (and the chain it is the first of) at `lines[at]`, if one starts there.
pub fn parse(lines: &[&str], at: usize) -> Option<(Crash, usize)> {
    if lines[at] != HEAD {
        return None;
    }
    let mut parts: Vec<(Part, &'static str)> = Vec::new();
    let mut next = at;
    loop {
        let (part, after) = traceback(lines, next + 1);
        next = after;
        // A chain goes on with: a blank line, the sentence, a blank line, the next traceback.
        let relation = match lines.get(next..next + 4) {
            Some([blank, sentence, blank2, head])
                if blank.is_empty() && blank2.is_empty() && *head == HEAD =>
            {
                match *sentence {
                    DURING => Some("context"),
                    CAUSE => Some("cause"),
                    _ => None,
                }
            }
            _ => None,
        };
        match relation {
            Some(relation) if !part.truncated => {
                parts.push((part, relation));
                next += 3;
            }
            _ => {
                parts.push((part, ""));
                break;
            }
        }
    }
    let (last, _) = parts.pop()?;
    let mut crash = Crash::new(Language::Python, last.kind, last.message);
    crash.frames = last.frames;
    crash.frames_omitted = last.omitted;
    crash.truncated = last.truncated;
    crash.causes = parts
        .into_iter()
        .rev()
        .map(|(part, relation)| Cause {
            relation,
            kind: part.kind,
            message: part.message,
            frames: part.frames,
        })
        .collect();
    Some((crash, next))
}

/// Reads one traceback's frames and exception from `lines[at]` on.
fn traceback(lines: &[&str], mut at: usize) -> (Part, usize) {
    let mut frames = Vec::new();
    let mut omitted = 0;
    while at < lines.len() {
        let line = lines[at];
        if let Some(frame) = FRAME.captures(line) {
            let file = frame[1].to_string();
            frames.push(Frame {
                function: frame.get(3).map_or("<module>", |m| m.as_str()).to_string(),
                module: module_of(&file),
                in_app: !library_path(&file) && !file.starts_with('<'),
                line: number(frame.get(2)),
                file: Some(file),
                ..Frame::default()
            });
        } else if let Some(repeated) = REPEATED.captures(line) {
            omitted += repeated[1].parse::<u64>().unwrap_or(0);
        } else if !line.starts_with("    ") {
            break;
        }
        at += 1;
    }
    frames.reverse();
    match lines.get(at).and_then(|l| EXCEPTION.captures(l)) {
        Some(exception) if !frames.is_empty() => (
            Part {
                kind: exception[1].to_string(),
                message: exception.get(2).map_or("", |m| m.as_str()).to_string(),
                frames,
                omitted,
                truncated: false,
            },
            at + 1,
        ),
        _ => (
            Part {
                kind: String::new(),
                message: String::new(),
                frames,
                omitted,
                truncated: true,
            },
            at,
        ),
    }
}

/// The module a file is, when it is a file of a package under `site-packages` or the standard
/// library (`requests.adapters`, `json.decoder`); the file's stem otherwise.
fn module_of(file: &str) -> Option<String> {
    let path = file.strip_suffix(".py")?;
    let inner = ["/site-packages/", "/dist-packages/"]
        .iter()
        .find_map(|p| path.split_once(p).map(|(_, rest)| rest))
        .or_else(|| {
            let (_, rest) = path.split_once("/lib/python")?;
            rest.split_once('/').map(|(_, rest)| rest)
        });
    Some(match inner {
        Some(inner) => inner.trim_end_matches("/__init__").replace('/', "."),
        None => path.rsplit('/').next().unwrap_or(path).to_string(),
    })
}
