//! Node.js (and V8) stacks: the error line (`TypeError: Cannot read properties of undefined`, with
//! Node's `[ERR_CODE]` when there is one), optionally preceded by the `file:line` header, source
//! line and caret Node prints for an uncaught exception, then `    at f (file:line:col)` frames,
//! `async` ones included, and the error's own properties (`{ code: 'ECONNREFUSED', ... }`). A stack
//! whose frames are in Java's format is left to [`super::java`].

use std::sync::LazyLock;

use regex::Regex;

use super::{library_path, number, pattern};
use crate::crash::{Crash, Frame, Language};

static HEADER: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"^((?:/|file://|node:|[A-Za-z]:\\).+):(\d+)$"));
static ERROR: LazyLock<Regex> = LazyLock::new(|| {
    pattern(
        r"^(?:Uncaught )?([A-Za-z_$][\w$]*(?:Error|Exception)|Error)(?: \[([A-Z0-9_]+)\])?(?:: (.*))?$",
    )
});
static CALL: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"^\s+at (async )?(.+?) \((.+?):(\d+):(\d+)\)$"));
static BARE: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"^\s+at (async )?((?:/|file://|node:|[A-Za-z]:\\).+?):(\d+):(\d+)$"));
static NATIVE: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"^\s+at (async )?(.+?) \((native|<anonymous>|index \d+)\)$"));

/// The Node.js crash at `lines[at]`, if one starts there.
pub fn parse(lines: &[&str], at: usize) -> Option<(Crash, usize)> {
    let mut next = at;
    // Node's header for an uncaught exception: `file:line`, the source line, the caret, a blank.
    if HEADER.is_match(lines[at]) {
        next += 1;
        while next < lines.len() && next < at + 4 && !ERROR.is_match(lines[next]) {
            next += 1;
        }
    }
    let error = ERROR.captures(lines.get(next)?)?;
    let first = lines.get(next + 1)?;
    let first = first.strip_suffix(" {").unwrap_or(first);
    if !(CALL.is_match(first) || BARE.is_match(first) || NATIVE.is_match(first)) {
        return None;
    }
    let mut message = error.get(3).map_or("", |m| m.as_str()).to_string();
    if let Some(code) = error.get(2) {
        message = format!("[{}] {message}", code.as_str());
    }
    let mut crash = Crash::new(Language::Node, &error[1], message);
    next += 1;
    while next < lines.len() {
        let line = lines[next];
        let line = line.strip_suffix(" {").unwrap_or(line);
        let frame = if let Some(c) = CALL.captures(line) {
            frame(
                c.get(1).is_some(),
                &c[2],
                Some(&c[3]),
                number(c.get(4)),
                number(c.get(5)),
            )
        } else if let Some(c) = BARE.captures(line) {
            frame(
                c.get(1).is_some(),
                "<anonymous>",
                Some(&c[2]),
                number(c.get(3)),
                number(c.get(4)),
            )
        } else if let Some(c) = NATIVE.captures(line) {
            frame(c.get(1).is_some(), &c[2], None, None, None)
        } else {
            break;
        };
        crash.frames.push(frame);
        let opens_properties = lines[next].ends_with(" {");
        next += 1;
        if opens_properties {
            while next < lines.len() && !lines[next].starts_with('}') {
                note_code(&mut crash, lines[next]);
                next += 1;
            }
            next += 1;
            break;
        }
    }
    // `Node.js v20.20.2` after a blank line ends an uncaught exception's report.
    if lines.get(next).is_some_and(|l| l.is_empty())
        && lines
            .get(next + 1)
            .is_some_and(|l| l.starts_with("Node.js v"))
    {
        next += 2;
    }
    Some((crash, next))
}

/// `  code: 'ECONNREFUSED',` among the error's properties: kept in the message when it is not there.
fn note_code(crash: &mut Crash, line: &str) {
    if let Some(code) = line.trim().strip_prefix("code: ") {
        let code = code.trim_end_matches(',').trim_matches('\'');
        if !crash.message.contains(code) {
            crash.message = format!("[{code}] {}", crash.message);
        }
    }
}

fn frame(
    is_async: bool,
    function: &str,
    file: Option<&str>,
    line: Option<u32>,
    column: Option<u32>,
) -> Frame {
    let file = file.map(|f| f.strip_prefix("file://").unwrap_or(f).to_string());
    Frame {
        function: function.to_string(),
        module: file.as_deref().and_then(package_of),
        in_app: file.as_deref().is_some_and(|f| !library_path(f)),
        file,
        line,
        column,
        is_async,
    }
}

/// The npm package a file is in (`express` of `.../node_modules/express/lib/router.js`), or `node`
/// for Node's own modules.
fn package_of(file: &str) -> Option<String> {
    if file.starts_with("node:") || file.starts_with("internal/") {
        return Some("node".into());
    }
    let (_, rest) = file.rsplit_once("/node_modules/")?;
    let mut parts = rest.split('/');
    let first = parts.next()?;
    Some(if first.starts_with('@') {
        format!("{first}/{}", parts.next().unwrap_or(""))
    } else {
        first.to_string()
    })
}
