//! Python tracebacks: `Traceback (most recent call last):`, `File "...", line N, in f` frames (the
//! source and caret lines under them skipped), `[Previous line repeated N more times]`, the exception
//! line; chains of them joined by "During handling of the above exception, another exception
//! occurred:" (the earlier one is the later one's `context`) or "The above exception was the direct
//! cause of the following exception:" (its `cause`). The last exception printed is the crash.
//! Exception groups (`+ Exception Group Traceback`, boxed in `|`) give the group as the crash and
//! each sub-exception as a cause.

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

static GROUP: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"^( *)\+ Exception Group Traceback \(most recent call last\):$"));

/// The traceback (and the chain it is the first of) at `lines[at]`, if one starts there.
pub fn parse(lines: &[&str], at: usize) -> Option<(Crash, usize)> {
    if let Some(group) = GROUP.captures(lines[at]) {
        return exception_group(lines, at, group[1].len());
    }
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

/// An exception group (Python 3.11's `ExceptionGroup`, as `asyncio.TaskGroup` raises): its own
/// traceback in a box of `| ` at `indent`, then each sub-exception in a box two columns deeper,
/// between `+---- n ----` separators. The group is the crash; each sub-exception (read like any
/// traceback, nested groups included) is a cause with the relation `sub-exception`.
fn exception_group(lines: &[&str], at: usize, indent: usize) -> Option<(Crash, usize)> {
    fn boxed(line: &str, indent: usize) -> Option<(usize, &str)> {
        let text = line.trim_start_matches(' ');
        let depth = line.len() - text.len();
        (depth >= indent && (text.starts_with('|') || text.starts_with('+')))
            .then_some((depth, text))
    }
    let mut end = at + 1;
    while end < lines.len() && boxed(lines[end], indent).is_some() {
        end += 1;
    }
    let unbox = |text: &str| {
        text.strip_prefix("| ")
            .or(text.strip_prefix('|'))
            .unwrap_or(text)
            .to_string()
    };
    let mut own = vec![HEAD.to_string()];
    let mut children: Vec<Vec<String>> = Vec::new();
    for line in &lines[at + 1..end] {
        let Some((depth, text)) = boxed(line, indent) else {
            break;
        };
        if text.starts_with('+') {
            if depth <= indent + 2 {
                children.push(Vec::new());
                continue;
            }
        } else if depth == indent {
            own.push(unbox(text));
            continue;
        }
        if let Some(child) = children.last_mut() {
            // Two columns deeper than the group: strip them and the child's own box.
            let inner = &line[(indent + 2).min(line.len())..];
            child.push(if depth == indent + 2 {
                unbox(text)
            } else {
                inner.to_string()
            });
        }
    }
    let own: Vec<&str> = own.iter().map(String::as_str).collect();
    let (mut crash, _) = parse(&own, 0)?;
    for child in children.iter().filter(|c| !c.is_empty()) {
        let (found, _) = super::scan("", &child.join("\n"));
        crash.causes.extend(found.into_iter().map(|c| Cause {
            relation: "sub-exception",
            kind: c.kind,
            message: c.message,
            frames: c.frames,
        }));
    }
    Some((crash, end))
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
