//! Explaining crashes: [`class_of`] recognises the error classes that have one usual cause (an index
//! out of range, a missing key, a null access, an unwrap, a division by zero, unbounded recursion,
//! a refused connection, a denied permission, a missing file, an overflow, and Tandem's error
//! kinds), and [`explain`] gives the cause and a fix that names the frame where it happened and, for
//! Tandem's kinds, the manifest setting. A chained exception's causes are explained when the crash
//! itself is not recognised (a `ConfigError` raised while handling a `KeyError`).

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::crash::{Crash, Frame, Language};
use crate::parse::pattern;

/// What `explain` says of one crash.
#[derive(Debug, Serialize)]
pub struct Explanation {
    pub class: &'static str,
    /// The crash's type and message it was recognised from (a cause's, for a chain).
    pub from: String,
    pub cause: String,
    pub fix: String,
    /// Where: the innermost frame of the application's code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame: Option<String>,
    /// For Tandem's kinds, the manifest setting involved (`[limits] fuel`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setting: Option<String>,
}

/// The class of an error of `kind` with `message` from `language`, when it is one of those known.
pub fn class_of(language: Language, kind: &str, message: &str) -> Option<&'static str> {
    static RULES: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
        [
            ("index-out-of-range", r"^(IndexError|.*IndexOutOfBoundsException|StringIndexOutOfBoundsException)\b|index out of (bounds|range)|range end index|range start index"),
            ("key-error", r"^KeyError\b|^java\.util\.NoSuchElementException\b"),
            ("unwrap-none", r"called `Option::unwrap\(\)` on a `None` value"),
            ("unwrap-err", r"called `Result::unwrap\(\)` on an `Err` value"),
            ("null-access", r"^java\.lang\.NullPointerException\b|Cannot read propert(y|ies) of (undefined|null)|Cannot set propert(y|ies) of (undefined|null)|is not a function|'NoneType' object|nil pointer dereference|entry in nil map|undefined is not an object"),
            ("division-by-zero", r"^ZeroDivisionError\b|divide by zero|divisor of zero|/ by zero"),
            ("recursion-limit", r"^RecursionError\b|StackOverflowError|Maximum call stack size exceeded|stack overflow|stack exceeds|has overflowed its stack"),
            ("connection-refused", r"ECONNREFUSED|ConnectionRefusedError|[Cc]onnection refused|java\.net\.ConnectException"),
            ("permission-denied", r"EACCES|EPERM|^PermissionError\b|[Pp]ermission denied|AccessDeniedException"),
            ("file-not-found", r"ENOENT|^FileNotFoundError\b|NoSuchFileException|FileNotFoundException|No such file or directory"),
            ("arithmetic-overflow", r"attempt to (add|subtract|multiply|negate|shift (left|right)) with overflow|^OverflowError\b"),
        ]
        .into_iter()
        .map(|(class, text)| (class, pattern(text)))
        .collect()
    });
    if language == Language::Wasm {
        return TANDEM_KINDS.iter().find(|k| **k == kind).copied();
    }
    // `Result::expect(msg)` panics with `msg: <the error's Debug>`, e.g.
    // `the port is a number: ParseIntError { kind: InvalidDigit }`: a class of its own only when no
    // rule above knows the error itself (`Os { kind: NotFound, .. }` is a missing file).
    static EXPECT: LazyLock<Regex> =
        LazyLock::new(|| pattern(r"^[^\n]*: [A-Z][A-Za-z0-9]*(?: \{.*\}|\(.*\))$"));
    let text = format!("{kind}: {message}");
    RULES
        .iter()
        .find(|(_, rule)| rule.is_match(&text) || rule.is_match(message))
        .map(|(class, _)| *class)
        .or_else(|| {
            (language == Language::Rust && kind == "panic" && EXPECT.is_match(message))
                .then_some("unwrap-err")
        })
}

/// Tandem's error kinds `explain` knows.
const TANDEM_KINDS: [&str; 10] = [
    "fuel-exhausted",
    "memory-limit",
    "timeout",
    "stack-overflow",
    "trap",
    "overloaded",
    "circuit-open",
    "denied",
    "quota-exceeded",
    "invalid-input",
];

/// `function` at `file:line:column`, as far as the frame says.
fn describe(frame: &Frame) -> String {
    let mut place = frame.file.clone().unwrap_or_default();
    if let Some(line) = frame.line {
        place = format!("{place}:{line}");
        if let Some(column) = frame.column {
            place = format!("{place}:{column}");
        }
    }
    match (frame.function.is_empty(), place.is_empty()) {
        (false, false) => format!("`{}` at {place}", frame.function),
        (false, true) => format!("`{}`", frame.function),
        (true, _) => place,
    }
}

/// The usual guard in `language` for `class`.
fn idiom(language: Language, class: &str) -> &'static str {
    match (class, language) {
        ("index-out-of-range", Language::Rust | Language::Wasm) => {
            "use `slice.get(i)`, which returns `None` past the end, or check `i < v.len()`"
        }
        ("index-out-of-range", Language::Python) => {
            "check `i < len(items)` (or that the list is not empty) before indexing"
        }
        ("index-out-of-range", Language::Go) => "check `i < len(s)` before indexing",
        ("index-out-of-range", _) => "check the index against `size()`/`length` before the access",
        ("key-error", Language::Python) => {
            "use `mapping.get(key, default)` or test `key in mapping` first"
        }
        ("key-error", Language::Java) => {
            "use `map.getOrDefault(key, fallback)` or `containsKey`; for an iterator, `hasNext()` first"
        }
        ("key-error", Language::Go) => "use the two-value lookup `v, ok := m[key]`",
        ("key-error", _) => "look the key up with a default instead of assuming it is there",
        ("null-access", Language::Node) => {
            "use optional chaining (`a?.b`) and a default (`?? value`) where the value may be missing"
        }
        ("null-access", Language::Python) => {
            "test `is None` before using the result (`dict.get` and `re.match` return `None` when nothing is found)"
        }
        ("null-access", Language::Java) => {
            "check for `null` (or return `Optional`) where the value is produced"
        }
        ("null-access", Language::Go) => "check `!= nil` (and make maps with `make`) before use",
        _ => "check the value before using it",
    }
}

/// The explanation of a crash, or `None` when neither it nor a cause is of a known class.
pub fn explain(crash: &Crash) -> Option<Explanation> {
    let mut candidates = vec![(crash.kind.as_str(), crash.message.as_str(), crash.culprit())];
    for cause in &crash.causes {
        let culprit = cause
            .frames
            .iter()
            .find(|f| f.in_app)
            .or(cause.frames.first());
        candidates.push((
            cause.kind.as_str(),
            cause.message.as_str(),
            culprit.or(crash.culprit()),
        ));
    }
    let (kind, message, frame, class) = candidates
        .into_iter()
        .find_map(|(k, m, f)| class_of(crash.language, k, m).map(|c| (k, m, f, c)))?;
    let at = frame.map(describe);
    let here = at.clone().unwrap_or_else(|| "the failing code".into());
    let agent = crash
        .site
        .as_deref()
        .and_then(|s| s.split('.').next())
        .unwrap_or("the agent");
    let manifest = format!("{agent}.toml");
    let (cause, fix, setting) = match class {
        "index-out-of-range" => (
            format!("an index past the end of a sequence: {message}"),
            format!(
                "in {here}, {}, and handle the empty case",
                idiom(crash.language, class)
            ),
            None,
        ),
        "key-error" => (
            format!("a lookup of a key the mapping does not have: {message}"),
            format!(
                "in {here}, {}, and validate the input that should carry the key",
                idiom(crash.language, class)
            ),
            None,
        ),
        "unwrap-none" => (
            "`unwrap()` on an `Option` that was `None`".to_string(),
            format!(
                "in {here}, handle `None` (`if let Some(..)`, `ok_or(..)?` into an error the caller sees, or a default with `unwrap_or`)"
            ),
            None,
        ),
        "unwrap-err" => (
            format!("`unwrap()` on a `Result` that was an error: {message}"),
            format!(
                "in {here}, propagate the error with `?` (adding context) instead of unwrapping, or handle the failure"
            ),
            None,
        ),
        "null-access" => (
            format!("a value that was null/None/undefined/nil was used as an object: {message}"),
            format!(
                "in {here}, {}, and find why it was missing",
                idiom(crash.language, class)
            ),
            None,
        ),
        "division-by-zero" => (
            format!("a division (or remainder) by zero: {message}"),
            format!(
                "in {here}, guard the divisor (an empty collection's length is the usual zero) and decide what the result is then"
            ),
            None,
        ),
        "recursion-limit" => (
            format!("recursion that does not end (or is deeper than the stack allows): {message}"),
            format!(
                "in {here}, check the base case of the recursion; if the depth is legitimate, turn it into a loop with an explicit stack"
            ),
            None,
        ),
        "connection-refused" => (
            format!("nothing was listening at the address connected to: {message}"),
            format!(
                "from {here}: check the service is up and the host/port configuration, and retry with backoff while it starts"
            ),
            None,
        ),
        "permission-denied" => (
            format!("the process lacks the permission for the operation: {message}"),
            format!(
                "from {here}: check the file modes or the account it runs as; do not widen permissions beyond what the operation needs"
            ),
            None,
        ),
        "file-not-found" => (
            format!("a path that does not exist: {message}"),
            format!(
                "from {here}: check the path (relative paths resolve against the working directory) and create or mount it, or handle its absence"
            ),
            None,
        ),
        "arithmetic-overflow" => (
            format!("an integer overflowed its type: {message}"),
            format!(
                "in {here}, use checked or saturating arithmetic (`checked_add`, `saturating_mul`) or a wider type"
            ),
            None,
        ),
        "fuel-exhausted" => (
            format!("the agent used up the fuel (instructions) one call may use: {message}"),
            format!(
                "if the work is legitimate, raise `[limits] fuel` in {manifest}; otherwise find the loop that does not end{}",
                at.as_ref()
                    .map(|a| format!(" (last seen in {a})"))
                    .unwrap_or_default()
            ),
            Some("[limits] fuel"),
        ),
        "memory-limit" if message.contains("handles") || message.contains("open files") => (
            format!("the agent held too many handles (open files, streams) at once: {message}"),
            format!(
                "close files when done; if more must be open at once, raise `[limits] max-open-files` in {manifest}"
            ),
            Some("[limits] max-open-files"),
        ),
        "memory-limit" => (
            format!("the agent's linear memory would have grown past its limit: {message}"),
            format!(
                "if the input is legitimately that large, raise `[limits] memory` in {manifest} (and `max-input`); otherwise stream the input instead of holding it whole{}",
                at.as_ref()
                    .map(|a| format!(" (growth requested in {a})"))
                    .unwrap_or_default()
            ),
            Some("[limits] memory"),
        ),
        "timeout" => (
            format!("the call ran past its deadline: {message}"),
            format!(
                "raise `[limits] timeout` in {manifest} if the work needs longer (the caller's own deadline still bounds it), or make the operation cheaper"
            ),
            Some("[limits] timeout"),
        ),
        "stack-overflow" => (
            format!("the guest's call stack overflowed, usually unbounded recursion: {message}"),
            format!(
                "check the recursion's base case{}; the wasm stack is fixed by the host, so deep legitimate recursion must become a loop",
                at.as_ref().map(|a| format!(" in {a}")).unwrap_or_default()
            ),
            None,
        ),
        "trap" => (
            format!(
                "the guest trapped: a Rust panic (which aborts to `unreachable`) or another wasm trap: {message}"
            ),
            format!(
                "look at {here}; to see the panic message, set `[capabilities] stdio = \"log\"` in {manifest} and read the host's log"
            ),
            Some("[capabilities] stdio"),
        ),
        "overloaded" => (
            format!(
                "every instance of the agent was busy and the queue was full or the deadline passed while waiting: {message}"
            ),
            format!(
                "raise `[limits] max-instances` (and `max-queue`) in {manifest} if the host has the memory, or spread the load; clients should retry after the Retry-After"
            ),
            Some("[limits] max-instances"),
        ),
        "circuit-open" => (
            format!("the agent's circuit breaker is open after repeated failures: {message}"),
            format!(
                "fix the failures that opened it (the host's metrics show which kind); `[resilience]` in {manifest} sets how many open it and for how long"
            ),
            Some("[resilience]"),
        ),
        "denied" => (
            format!("the agent asked for something its manifest does not grant: {message}"),
            format!(
                "grant it in `[capabilities]` of {manifest} (`dirs`, `env`, `delegate`) if the agent should have it; otherwise the agent must not ask"
            ),
            Some("[capabilities]"),
        ),
        "quota-exceeded" => (
            format!("the agent's durable state is full: {message}"),
            format!(
                "delete keys it no longer needs, or raise `[state] max-keys` / `max-bytes` in {manifest}"
            ),
            Some("[state]"),
        ),
        _ => (
            format!("the input was refused: {message}"),
            format!(
                "fix the input the message names; the largest accepted is `[limits] max-input` in {manifest}"
            ),
            Some("[limits] max-input"),
        ),
    };
    Some(Explanation {
        class,
        from: if message.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}: {message}")
        },
        cause,
        fix,
        frame: at,
        setting: setting.map(str::to_string),
    })
}
