//! Go panics and fatal errors: `panic: message` (or `fatal error: message`), an optional
//! `[signal ...]` line, then goroutine blocks (`goroutine 1 [running]:`, then a function line and
//! a `\tfile:line +0x..` line per frame, `created by ...`); the first block is the goroutine that
//! crashed, the others (with `GOTRACEBACK=all`) its threads.

use std::sync::LazyLock;

use regex::Regex;

use super::{library_path, number, pattern};
use crate::crash::{Crash, Frame, Language, Thread};

static HEAD: LazyLock<Regex> = LazyLock::new(|| pattern(r"^(panic|fatal error): (.*)$"));
static GOROUTINE: LazyLock<Regex> = LazyLock::new(|| pattern(r"^goroutine (\d+) \[([^\]]+)\]:$"));
static FUNCTION: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"^(?:created by )?(\S+?)(?:\((.*)\))?(?: in goroutine \d+)?$"));
static LOCATION: LazyLock<Regex> = LazyLock::new(|| pattern(r"^\t(.+):(\d+)(?: \+0x[0-9a-f]+)?$"));

/// The panic at `lines[at]`, if one starts there.
pub fn parse(lines: &[&str], at: usize) -> Option<(Crash, usize)> {
    let head = HEAD.captures(lines[at])?;
    let mut message = head[2].to_string();
    let mut next = at + 1;
    // `panic: ... [recovered]` then a second `panic:` line; and the `[signal ...]` line.
    while next < lines.len()
        && (lines[next].starts_with("[signal ")
            || lines[next].starts_with("\tpanic: ")
            || lines[next].starts_with("panic: "))
    {
        if let Some(again) = lines[next].trim_start().strip_prefix("panic: ") {
            message = again.to_string();
        }
        next += 1;
    }
    let mut crash = Crash::new(Language::Go, &head[1], message);
    let mut goroutines = Vec::new();
    loop {
        let mut look = next;
        while lines.get(look).is_some_and(|l| l.is_empty()) {
            look += 1;
        }
        let Some(goroutine) = lines.get(look).and_then(|l| GOROUTINE.captures(l)) else {
            break;
        };
        let (frames, after) = frames(lines, look + 1);
        goroutines.push(Thread {
            name: format!("goroutine {}", &goroutine[1]),
            state: goroutine[2].to_string(),
            frames,
        });
        next = after;
    }
    if lines
        .get(next)
        .is_some_and(|l| l.starts_with("exit status "))
    {
        next += 1;
    }
    if goroutines.is_empty() {
        crash.truncated = true;
    } else {
        let first = goroutines.remove(0);
        crash.thread = Some(first.name);
        crash.frames = first.frames;
        crash.threads = goroutines;
    }
    Some((crash, next))
}

/// A goroutine's frames from `lines[at]`: a function line, then its location line.
fn frames(lines: &[&str], mut at: usize) -> (Vec<Frame>, usize) {
    let mut frames = Vec::new();
    while at + 1 < lines.len() && !lines[at].is_empty() && !lines[at].starts_with('\t') {
        let (Some(function), Some(location)) = (
            FUNCTION.captures(lines[at]),
            LOCATION.captures(lines[at + 1]),
        ) else {
            break;
        };
        let file = location[1].to_string();
        let name = function[1].to_string();
        frames.push(Frame {
            module: Some(package_of(&name).to_string()),
            in_app: !library_path(&file) && !is_runtime(&name),
            function: name,
            line: number(location.get(2)),
            file: Some(file),
            ..Frame::default()
        });
        at += 2;
    }
    (frames, at)
}

/// The package of a Go function: `main` of `main.pick`, `net/http` of `net/http.(*conn).serve`.
fn package_of(function: &str) -> &str {
    let slash = function.rfind('/').map_or(0, |i| i + 1);
    let dot = function[slash..]
        .find('.')
        .map_or(function.len(), |i| slash + i);
    &function[..dot]
}

/// The standard library's packages have no dot in their first path element.
fn is_runtime(function: &str) -> bool {
    let package = package_of(function);
    package != "main" && !package.split('/').next().unwrap_or("").contains('.')
}
