//! What a crash is once read: the [`Crash`] (its runtime, exception type, message, frames, the
//! exceptions chained to it and other threads), its [`Frame`]s, and how a frame's function name is
//! normalised for grouping.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

/// The runtime that printed a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Rust,
    Python,
    Node,
    Go,
    Java,
    /// A trap report of Tandem (or wasmtime): a classified error and its wasm backtrace.
    Wasm,
}

impl Language {
    /// The runtime's name as people write it.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "Rust",
            Language::Python => "Python",
            Language::Node => "Node.js",
            Language::Go => "Go",
            Language::Java => "Java",
            Language::Wasm => "Tandem (wasm)",
        }
    }
}

/// One frame of a stack, innermost first whatever order the runtime printed (Python prints the
/// outermost first; it is reversed).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Frame {
    /// The function, demangled: `crash::pick`, `read_port`, `Crash$Store.load`, `main.nameOf`.
    pub function: String,
    /// The crate, module, package or wasm module it belongs to, when the trace says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// The code of the application rather than of its runtime, standard library or dependencies.
    pub in_app: bool,
    /// `async` frames of Node.js.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_async: bool,
}

/// An exception chained to the crash: the one being handled when it happened (`context`, Python's
/// "During handling...") or its cause (`cause`: Python's "direct cause", Java's `Caused by:`).
#[derive(Debug, Clone, Serialize)]
pub struct Cause {
    pub relation: &'static str,
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    pub frames: Vec<Frame>,
}

/// Another thread's stack printed with the crash (Go's goroutine dump).
#[derive(Debug, Clone, Serialize)]
pub struct Thread {
    pub name: String,
    pub state: String,
    pub frames: Vec<Frame>,
}

/// One crash found in a text.
#[derive(Debug, Clone, Serialize)]
pub struct Crash {
    pub language: Language,
    /// The exception type (`KeyError`, `java.lang.IllegalStateException`, `TypeError`), `panic`
    /// for Rust and Go, or Tandem's error class (`trap`, `fuel-exhausted`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    /// For a Tandem trap report, the agent and operation that failed (`agent.op`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The thread or goroutine that crashed, when named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
    /// Where it failed, innermost first.
    pub frames: Vec<Frame>,
    /// Chained exceptions, nearest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<Cause>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub threads: Vec<Thread>,
    /// Frames the runtime elided (Python's "[Previous line repeated N more times]", Java's
    /// "... N more").
    #[serde(skip_serializing_if = "is_zero")]
    pub frames_omitted: u64,
    /// The text it was read from and its first and last line there (1-based).
    pub source: String,
    pub line: usize,
    pub end_line: usize,
    /// The timestamp of the nearest line before it that carries one (RFC 3339 or
    /// `YYYY-MM-DD HH:MM:SS`), as logs put them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// The crash's trace ended before its runtime would have ended it (a log cut off mid-trace).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Crash {
    /// A crash of `language` with no frames yet.
    pub fn new(language: Language, kind: impl Into<String>, message: impl Into<String>) -> Crash {
        Crash {
            language,
            kind: kind.into(),
            message: message.into(),
            site: None,
            thread: None,
            frames: Vec::new(),
            causes: Vec::new(),
            threads: Vec::new(),
            frames_omitted: 0,
            source: String::new(),
            line: 0,
            end_line: 0,
            time: None,
            truncated: false,
        }
    }

    /// The innermost frame of the application's own code, or the innermost frame when none is.
    pub fn culprit(&self) -> Option<&Frame> {
        self.frames
            .iter()
            .find(|f| f.in_app)
            .or_else(|| self.frames.first())
    }
}

/// A function name without the parts that are only there for the linker: Rust's crate
/// disambiguators (`std[e28293b1aa0f68bd]`) and hash suffixes (`::h0123...`).
pub fn readable(name: &str) -> String {
    static RULES: LazyLock<[Regex; 2]> = LazyLock::new(|| {
        let re = |pattern: &str| Regex::new(pattern).expect("a valid pattern");
        [re(r"\[[0-9a-f]{8,}\]"), re(r"::h[0-9a-f]{16}$")]
    });
    replace_all(name, RULES.iter().map(|r| (r, "")))
}

/// A function name without what changes from build to build, for grouping: what [`readable`]
/// drops, closure numbers, Go's elided arguments, Java's generated lambda classes.
pub fn normalise_function(name: &str) -> String {
    static RULES: LazyLock<[(Regex, &str); 3]> = LazyLock::new(|| {
        let re = |pattern: &str| Regex::new(pattern).expect("a valid pattern");
        [
            (re(r"\{\{closure\}\}|\{closure#\d+\}"), "{closure}"),
            (re(r"\$\$Lambda(?:\$\d+)?/0x[0-9a-f]+"), "$$$$Lambda"),
            (re(r"\(\.\.\.\)$"), ""),
        ]
    });
    replace_all(&readable(name), RULES.iter().map(|(r, with)| (r, *with)))
}

fn replace_all<'a>(name: &str, rules: impl Iterator<Item = (&'a Regex, &'a str)>) -> String {
    let mut out = name.to_string();
    for (pattern, with) in rules {
        if let std::borrow::Cow::Owned(changed) = pattern.replace_all(&out, with) {
            out = changed;
        }
    }
    out
}

/// A symbol as a person reads it: Rust's legacy (`_ZN...E`) and v0 (`_R...`) manglings through
/// `rustc-demangle`, C++'s (`_Z...`) through `cpp_demangle`; then [`readable`].
pub fn demangle(symbol: &str) -> String {
    if let Ok(rust) = rustc_demangle::try_demangle(symbol) {
        return readable(&format!("{rust:#}"));
    }
    if symbol.starts_with("_Z")
        && let Ok(cpp) = cpp_demangle::Symbol::new(symbol)
        && let Ok(text) = cpp.demangle()
    {
        return text;
    }
    readable(symbol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_lose_what_changes_between_builds() {
        assert_eq!(
            normalise_function("crash::pick::ha4574be829068f62"),
            "crash::pick"
        );
        assert_eq!(
            normalise_function("std[e28293b1aa0f68bd]::panicking::panic_handler::{closure#0}"),
            "std::panicking::panic_handler::{closure}"
        );
        assert_eq!(normalise_function("main.pick(...)"), "main.pick");
        assert_eq!(normalise_function("a::{{closure}}"), "a::{closure}");
        assert_eq!(normalise_function("items[0]"), "items[0]");
        assert_eq!(
            demangle("_ZN5crash4pick17ha4574be829068f62E"),
            "crash::pick"
        );
        assert_eq!(demangle("_ZN3foo3barEv"), "foo::bar()");
        assert_eq!(demangle("main.main"), "main.main");
        assert_eq!(
            normalise_function("Main$$Lambda$14/0x0000000800c03000.apply"),
            "Main$$Lambda.apply"
        );
    }
}
