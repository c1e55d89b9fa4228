//! Rust panics: `thread 'main' panicked at src/main.rs:5:5:` and the message below it (or the older
//! `panicked at 'message', src/main.rs:5:5`), then the backtrace when there is one, short
//! (`RUST_BACKTRACE=1`) or `full` (with addresses and hash suffixes, demangled here).

use std::sync::LazyLock;

use regex::Regex;

use super::{library_path, number, pattern};
use crate::crash::{Crash, Frame, Language, demangle, normalise_function};

static HEAD: LazyLock<Regex> = LazyLock::new(|| {
    pattern(r"^thread '([^']*)'(?: \(\d+\))? panicked at (?:'(.*)', )?(.+?):(\d+):(\d+):?$")
});
static FRAME: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"^\s*(\d+):\s+(?:(0x[0-9a-fA-F]+) - )?(.+)$"));
static AT: LazyLock<Regex> = LazyLock::new(|| pattern(r"^\s+at (.+?):(\d+)(?::(\d+))?$"));

/// Crates of the toolchain, whose frames are never the application's.
const RUNTIME_CRATES: [&str; 10] = [
    "std",
    "core",
    "alloc",
    "__rustc",
    "backtrace",
    "panic_unwind",
    "panic_abort",
    "std_detect",
    "rust_begin_unwind",
    "compiler_builtins",
];
/// Symbols of the C runtime and the linker.
const RUNTIME_SYMBOLS: [&str; 8] = [
    "main",
    "_start",
    "__libc_start_main",
    "__libc_start_main_impl",
    "__libc_start_call_main",
    "<unknown>",
    "abort",
    "__main_void",
];

/// The panic at `lines[at]`, if one starts there.
pub fn parse(lines: &[&str], at: usize) -> Option<(Crash, usize)> {
    let head = HEAD.captures(lines[at])?;
    let mut next = at + 1;
    let message = match head.get(2) {
        Some(inline) => inline.as_str().to_string(),
        None => {
            let mut message = Vec::new();
            while next < lines.len() && !ends_message(lines[next]) {
                message.push(lines[next]);
                next += 1;
            }
            message.join("\n")
        }
    };
    let mut crash = Crash::new(Language::Rust, "panic", message);
    crash.thread = Some(head[1].to_string());
    let mut frames: Vec<Frame> = Vec::new();
    if next < lines.len() && lines[next].trim() == "stack backtrace:" {
        next += 1;
        while next < lines.len() {
            let line = lines[next];
            if let Some(at) = AT.captures(line)
                && let Some(last) = frames.last_mut()
            {
                last.file = Some(at[1].to_string());
                last.line = number(at.get(2));
                last.column = number(at.get(3));
                last.in_app = in_app(last);
            } else if let Some(frame) = FRAME.captures(line) {
                frames.push(frame_of(frame[3].trim()));
            } else {
                break;
            }
            next += 1;
        }
        if frames.is_empty() {
            crash.truncated = true;
        }
    }
    if frames.is_empty() {
        // No backtrace: the panic's own location is the one frame known.
        frames.push(Frame {
            function: String::new(),
            file: Some(head[3].to_string()),
            line: number(head.get(4)),
            column: number(head.get(5)),
            in_app: !library_path(&head[3]),
            ..Frame::default()
        });
    }
    while next < lines.len() && lines[next].starts_with("note: ") {
        next += 1;
    }
    crash.frames = short_backtrace(frames);
    Some((crash, next))
}

fn ends_message(line: &str) -> bool {
    line.trim() == "stack backtrace:" || line.starts_with("note: ") || line.is_empty()
}

fn frame_of(symbol: &str) -> Frame {
    let function = demangle(symbol);
    let mut frame = Frame {
        module: Some(crate_of(&function).to_string()),
        function,
        ..Frame::default()
    };
    frame.in_app = in_app(&frame);
    frame
}

/// The crate a (demangled) path starts with: `crash` of `crash::pick`, `alloc` of
/// `<alloc::boxed::Box<F> as core::ops::FnOnce>::call_once`.
pub fn crate_of(function: &str) -> &str {
    let path = function.trim_start_matches(['<', '&']);
    let path = path.strip_prefix("dyn ").unwrap_or(path);
    let path = path.strip_prefix("mut ").unwrap_or(path);
    let end = path
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(path.len());
    &path[..end]
}

/// Whether a Rust frame is the application's: not in the toolchain's or a dependency's sources,
/// not a toolchain crate, not the C runtime.
pub fn in_app(frame: &Frame) -> bool {
    if let Some(file) = &frame.file {
        return !library_path(file);
    }
    let function = normalise_function(&frame.function);
    let krate = crate_of(&function);
    !(RUNTIME_CRATES.contains(&krate) || RUNTIME_SYMBOLS.contains(&function.as_str()))
}

/// A full backtrace cut to what `RUST_BACKTRACE=1` shows: the frames after the backtrace printer and
/// `rust_begin_unwind`, up to the start of `main` (`__rust_begin_short_backtrace`).
fn short_backtrace(frames: Vec<Frame>) -> Vec<Frame> {
    let name = |f: &Frame| normalise_function(&f.function);
    let start = frames
        .iter()
        .rposition(|f| {
            let n = name(f);
            n.ends_with("rust_begin_unwind") || n.contains("__rust_end_short_backtrace")
        })
        .map_or(0, |i| i + 1);
    let end = frames
        .iter()
        .position(|f| name(f).contains("__rust_begin_short_backtrace"))
        .unwrap_or(frames.len());
    frames
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i >= start && *i < end.max(start))
        .map(|(_, f)| f)
        .collect()
}
