//! Java (and other JVM) stack traces: `Exception in thread "main" java.lang.X: message` (or the
//! exception line alone), `\tat pkg.Class.method(File.java:12)` frames with the module
//! (`java.base/`) when printed, `... N more`, and `Caused by:` exceptions, each the cause of the
//! one before. `Suppressed:` exceptions are skipped.

use std::sync::LazyLock;

use regex::Regex;

use super::pattern;
use crate::crash::{Cause, Crash, Frame, Language};

static HEAD: LazyLock<Regex> = LazyLock::new(|| {
    pattern(
        r#"^(?:Exception in thread "([^"]*)" )?((?:[A-Za-z_$][\w$]*\.)+[A-Za-z_$][\w$]*)(?:: (.*))?$"#,
    )
});
static CAUSED_BY: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"^Caused by: ((?:[A-Za-z_$][\w$]*\.)*[A-Za-z_$][\w$]*)(?:: (.*))?$"));
static FRAME: LazyLock<Regex> = LazyLock::new(|| {
    pattern(r"^\s+at (?:([\w.$-]+(?:@[\w.-]+)?)/)?([\w$.<>]+)\.([\w$<>-]+)\(([^)]*)\)$")
});
static MORE: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"^\s+\.\.\. (\d+) (?:more|common frames omitted)$"));

/// Packages of the JDK and the common JVM languages' runtimes.
const RUNTIME_PACKAGES: [&str; 8] = [
    "java.",
    "javax.",
    "jdk.",
    "sun.",
    "com.sun.",
    "kotlin.",
    "scala.",
    "org.junit.",
];

/// The stack trace at `lines[at]`, if one starts there.
pub fn parse(lines: &[&str], at: usize) -> Option<(Crash, usize)> {
    let head = HEAD.captures(lines[at])?;
    if !lines.get(at + 1).is_some_and(|l| FRAME.is_match(l)) {
        return None;
    }
    let mut crash = Crash::new(
        Language::Java,
        &head[2],
        head.get(3).map_or("", |m| m.as_str()),
    );
    crash.thread = head.get(1).map(|m| m.as_str().to_string());
    let mut next = at + 1;
    let (frames, omitted, after) = read_frames(lines, next);
    crash.frames = frames;
    crash.frames_omitted = omitted;
    next = after;
    while let Some(cause) = lines.get(next).and_then(|l| CAUSED_BY.captures(l)) {
        let (frames, _, after) = read_frames(lines, next + 1);
        crash.causes.push(Cause {
            relation: "cause",
            kind: cause[1].to_string(),
            message: cause.get(2).map_or("", |m| m.as_str()).to_string(),
            frames,
        });
        next = after;
    }
    Some((crash, next))
}

/// The frames from `lines[at]` on, the frames said to be omitted, and the line after them.
fn read_frames(lines: &[&str], mut at: usize) -> (Vec<Frame>, u64, usize) {
    let mut frames = Vec::new();
    let mut omitted = 0;
    let mut suppressed = false;
    while at < lines.len() {
        let line = lines[at];
        if line.trim_start().starts_with("Suppressed: ") {
            suppressed = true;
        } else if let Some(frame) = FRAME.captures(line) {
            if !suppressed {
                frames.push(frame_of(&frame));
            }
        } else if let Some(more) = MORE.captures(line) {
            if !suppressed {
                omitted += more[1].parse::<u64>().unwrap_or(0);
            }
        } else {
            break;
        }
        at += 1;
    }
    (frames, omitted, at)
}

fn frame_of(c: &regex::Captures<'_>) -> Frame {
    let class = &c[2];
    let (file, line) = match c[4].split_once(':') {
        Some((file, line)) => (Some(file.to_string()), line.parse().ok()),
        None if c[4].ends_with(".java") || c[4].ends_with(".kt") => (Some(c[4].to_string()), None),
        None => (None, None),
    };
    let module = c.get(1).map(|m| m.as_str().to_string());
    let runtime = module
        .as_deref()
        .is_some_and(|m| m.starts_with("java.") || m.starts_with("jdk."))
        || RUNTIME_PACKAGES.iter().any(|p| class.starts_with(p));
    Frame {
        function: format!("{class}.{}", &c[3]),
        module: module.or_else(|| {
            class
                .rsplit_once('.')
                .map(|(package, _)| package.to_string())
        }),
        file,
        line,
        column: None,
        in_app: !runtime,
        is_async: false,
    }
}
