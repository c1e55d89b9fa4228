//! Tandem's trap reports (`error[trap]: agent.op: the guest trapped: ...` as `tandem run` prints
//! them, the same text in an HTTP error's message) and wasmtime's wasm backtraces
//! (`error while executing at wasm backtrace:` then `  0: 0x1234 - module!function` frames, with
//! `at file:line:col` under them when `WASMTIME_BACKTRACE_DETAILS=1`). A Tandem error without a
//! backtrace (`error[fuel-exhausted]: ...`) is a crash with no frames. An HTTP error answer on one
//! line (`{"error":{"kind":...,"message":...}}`) is read for the report in its message.

use std::sync::LazyLock;

use regex::Regex;

use super::{library_path, number, pattern};
use crate::crash::{Crash, Frame, Language, demangle, normalise_function};

const BACKTRACE: &str = "error while executing at wasm backtrace:";

static TANDEM: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"^error\[([a-z-]+)\]: ([\w-]+)\.([\w.-]+): (.*)$"));
static FRAME: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"^\s*(\d+):\s+(?:(0x[0-9a-f]+) - )?(.*?)!(.*)$"));
static INLINED: LazyLock<Regex> = LazyLock::new(|| pattern(r"^\s+- (.+)$"));
static AT: LazyLock<Regex> = LazyLock::new(|| pattern(r"^\s+at (.+?):(\d+)(?::(\d+))?$"));
static MORE: LazyLock<Regex> = LazyLock::new(|| pattern(r"^\s+\.\.\. (\d+) more lines$"));

/// Symbols of the guest's runtime: Rust's standard library and panic machinery, WASI's libc, the
/// bindings.
const RUNTIME: [&str; 10] = [
    "std",
    "core",
    "alloc",
    "__rustc",
    "abort",
    "wit_bindgen",
    "wit_bindgen_rt",
    "__wasi",
    "dlmalloc",
    "cabi_realloc",
];

/// The report at `lines[at]`, if one starts there.
pub fn parse(lines: &[&str], at: usize) -> Option<(Crash, usize)> {
    if lines[at].starts_with("{\"error\"") {
        return from_http(lines[at]).map(|crash| (crash, at + 1));
    }
    let mut crash;
    let mut next = at + 1;
    if let Some(head) = TANDEM.captures(lines[at]) {
        crash = Crash::new(Language::Wasm, &head[1], &head[4]);
        crash.site = Some(format!("{}.{}", &head[2], &head[3]));
        if lines.get(next) != Some(&BACKTRACE) {
            return Some((crash, next));
        }
        next += 1;
    } else if lines[at]
        .trim_start()
        .trim_start_matches(|c: char| c.is_ascii_digit() || c == ':')
        .trim()
        == BACKTRACE
    {
        crash = Crash::new(Language::Wasm, "trap", "wasm trap");
    } else {
        return None;
    }
    while next < lines.len() {
        let line = lines[next];
        if let Some(frame) = FRAME.captures(line) {
            crash.frames.push(frame_of(&frame[4], Some(&frame[3])));
        } else if let Some(inlined) = INLINED.captures(line) {
            let module = crash.frames.last().and_then(|f| f.module.clone());
            crash.frames.push(frame_of(&inlined[1], module.as_deref()));
        } else if let Some(at) = AT.captures(line)
            && let Some(last) = crash.frames.last_mut()
        {
            last.file = Some(at[1].to_string());
            last.line = number(at.get(2));
            last.column = number(at.get(3));
            if library_path(&at[1]) {
                last.in_app = false;
            }
        } else if let Some(more) = MORE.captures(line) {
            crash.frames_omitted += more[1].parse::<u64>().unwrap_or(0);
        } else if !line.starts_with("note: using the `WASMTIME_BACKTRACE_DETAILS") {
            break;
        }
        next += 1;
    }
    Some((crash, next))
}

/// An HTTP error answer of `tandem serve` on one line (`{"error":{"kind":"trap","message":"..."}}`,
/// as a log or `curl` shows it): the report its message holds.
fn from_http(line: &str) -> Option<Crash> {
    let body: serde_json::Value = serde_json::from_str(line).ok()?;
    let kind = body["error"]["kind"].as_str()?;
    let message = body["error"]["message"].as_str()?;
    let text = format!("error[{kind}]: {message}");
    let lines: Vec<&str> = text.lines().collect();
    parse(&lines, 0).map(|(crash, _)| crash)
}

fn frame_of(symbol: &str, module: Option<&str>) -> Frame {
    let function = demangle(symbol);
    let normal = normalise_function(&function);
    let krate = super::rust::crate_of(&normal);
    // A component's export (`tandem:agent/handler@0.1.1#handle`) holds the agent's own code
    // inlined into it.
    let in_app = normal.contains('#')
        || !(RUNTIME.contains(&krate)
            || normal.starts_with("<wasm function")
            || normal.starts_with("__"));
    Frame {
        module: module.map(str::to_string),
        function,
        in_app,
        ..Frame::default()
    }
}
