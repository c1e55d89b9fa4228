//! Finding crashes in text: [`scan`] walks a text line by line and, where one of the runtimes' crash
//! formats starts, lets that runtime's parser read it to its end; every other line is ignored (only
//! its timestamp is kept, for the crash after it). One module per runtime: [`rust`], [`python`],
//! [`node`] (which hands stacks in Java's format to [`java`]), [`go`], [`wasm`].

pub mod go;
pub mod java;
pub mod node;
pub mod python;
pub mod rust;
pub mod wasm;

use std::sync::LazyLock;

use regex::Regex;

use crate::crash::Crash;

/// The most crashes read from one text; a log with more is cut there (and says so).
pub const MAX_CRASHES: usize = 10_000;

/// A runtime's parser: the crash that starts at `lines[at]`, if one does, and the index of the line
/// after its end.
type Parser = fn(&[&str], usize) -> Option<(Crash, usize)>;

const PARSERS: [Parser; 6] = [
    rust::parse,
    python::parse,
    go::parse,
    wasm::parse,
    java::parse,
    node::parse,
];

/// Every crash in `text`, in order, each with its line range and the timestamp before it; `source`
/// names the text in the results. The second value is true when [`MAX_CRASHES`] cut the scan short.
pub fn scan(source: &str, text: &str) -> (Vec<Crash>, bool) {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut crashes = Vec::new();
    let mut time: Option<String> = None;
    let mut at = 0;
    while at < lines.len() {
        if let Some((mut crash, next)) = PARSERS.iter().find_map(|parse| parse(&lines, at)) {
            if crashes.len() == MAX_CRASHES {
                return (crashes, true);
            }
            crash.source = source.to_string();
            crash.line = at + 1;
            crash.end_line = next.max(at + 1);
            crash.time = time.clone();
            crashes.push(crash);
            at = next.max(at + 1);
            continue;
        }
        if let Some(stamp) = timestamp(lines[at]) {
            time = Some(stamp.to_string());
        }
        at += 1;
    }
    (crashes, false)
}

/// The timestamp a log line starts with (after an optional `[`), if any.
pub fn timestamp(line: &str) -> Option<&str> {
    static STAMP: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"^\[?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)",
        )
        .expect("a valid pattern")
    });
    STAMP
        .captures(line)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str())
}

/// A compiled pattern, for the parsers' statics.
pub(crate) fn pattern(text: &str) -> Regex {
    Regex::new(text).expect("a valid pattern")
}

/// A number from a capture, when it fits.
pub(crate) fn number(text: Option<regex::Match<'_>>) -> Option<u32> {
    text.and_then(|m| m.as_str().parse().ok())
}

/// Whether a path is in a place dependencies live (package caches, virtual environments,
/// `node_modules`, toolchains), rather than in the application.
pub(crate) fn library_path(path: &str) -> bool {
    const PLACES: [&str; 12] = [
        "/rustc/",
        "/.cargo/registry/",
        "/.cargo/git/",
        "/rustlib/",
        "/site-packages/",
        "/dist-packages/",
        "/lib/python",
        "/node_modules/",
        "/pkg/mod/",
        "/usr/lib/go",
        "/usr/local/go/",
        "/go/src/runtime/",
    ];
    PLACES.iter().any(|p| path.contains(p))
        || path.starts_with("node:")
        || path.starts_with("internal/")
        || path.starts_with("<frozen ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_read_from_log_lines() {
        assert_eq!(
            timestamp("2026-12-01T10:00:03Z ERROR x"),
            Some("2026-12-01T10:00:03Z")
        );
        assert_eq!(
            timestamp("[2026-12-01 10:00:03,123] x"),
            Some("2026-12-01 10:00:03,123")
        );
        assert_eq!(timestamp("request served"), None);
    }
}

#[cfg(test)]
mod fixtures {
    //! The parsers on the crash texts `tests/data/debug/regenerate.sh` made by running real programs.
    use super::*;
    use crate::crash::Language;

    fn one(name: &str) -> Crash {
        let path = format!(
            "{}/../../tests/data/debug/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let (mut crashes, _) = scan(name, &text);
        assert_eq!(crashes.len(), 1, "{name}: {crashes:#?}");
        crashes.remove(0)
    }

    fn functions(crash: &Crash) -> Vec<String> {
        crash
            .frames
            .iter()
            .filter(|f| f.in_app)
            .map(|f| crate::crash::normalise_function(&f.function))
            .collect()
    }

    #[test]
    fn rust_short_and_full_backtraces_give_the_same_app_frames() {
        for name in ["rust-index.txt", "rust-index-full.txt"] {
            let crash = one(name);
            assert_eq!(crash.language, Language::Rust);
            assert_eq!(
                crash.message,
                "index out of bounds: the len is 3 but the index is 7"
            );
            assert_eq!(
                functions(&crash),
                ["crash::pick", "crash::run", "crash::main"],
                "{name}"
            );
            let top = crash.culprit().unwrap();
            assert_eq!((top.line, top.column), (Some(5), Some(5)));
            assert!(top.file.as_deref().unwrap().ends_with("crash.rs"));
        }
        let expect = one("rust-expect.txt");
        assert_eq!(expect.frames.len(), 1);
        assert_eq!(expect.frames[0].line, Some(17));
        assert!(expect.message.starts_with("the port is a number"));
    }

    #[test]
    fn python_chains_keep_context_and_cause() {
        let chained = one("python-chained.txt");
        assert_eq!(
            (chained.kind.as_str(), chained.message.as_str()),
            ("ConfigError", "no port in the configuration")
        );
        assert_eq!(functions(&chained), ["read_port", "main", "<module>"]);
        assert_eq!(chained.causes.len(), 1);
        assert_eq!(
            (chained.causes[0].relation, chained.causes[0].kind.as_str()),
            ("context", "KeyError")
        );
        let cause = one("python-cause.txt");
        assert_eq!(cause.causes[0].relation, "cause");
        assert_eq!(one("python-recursion.txt").frames_omitted, 995);
    }

    #[test]
    fn python_exception_groups_keep_every_sub_exception() {
        let group = one("python-group.txt");
        assert_eq!(group.kind, "ExceptionGroup");
        assert_eq!(
            group.message,
            "unhandled errors in a TaskGroup (2 sub-exceptions)"
        );
        assert_eq!(functions(&group), ["gather", "main", "<module>"]);
        let subs: Vec<(&str, &str)> = group
            .causes
            .iter()
            .map(|c| (c.relation, c.kind.as_str()))
            .collect();
        assert_eq!(
            subs,
            [
                ("sub-exception", "ConnectionRefusedError"),
                ("sub-exception", "KeyError")
            ]
        );
        assert_eq!(group.causes[1].frames[0].function, "lookup");
        assert_eq!(group.causes[1].frames[0].line, Some(49));
    }

    #[test]
    fn node_keeps_async_frames_and_error_codes() {
        let crash = one("node-async.txt");
        assert_eq!(crash.kind, "TypeError");
        assert_eq!(functions(&crash), ["nameOf", "fetchUser", "handler"]);
        assert!(crash.frames[2].is_async);
        let refused = one("node-refused.txt");
        assert!(
            refused.message.contains("ECONNREFUSED"),
            "{}",
            refused.message
        );
        assert!(!refused.frames[0].in_app);
        let undefined = one("node-undefined.txt");
        assert_eq!(undefined.frames.iter().filter(|f| f.in_app).count(), 2);
    }

    #[test]
    fn go_panics_and_goroutine_dumps() {
        let crash = one("go-index.txt");
        assert_eq!(
            crash.message,
            "runtime error: index out of range [7] with length 3"
        );
        assert_eq!(functions(&crash), ["main.pick", "main.main"]);
        let all = one("go-map.txt");
        assert_eq!(all.message, "assignment to entry in nil map");
        assert!(all.threads.len() >= 2, "{all:#?}");
    }

    #[test]
    fn java_causes_and_omitted_frames() {
        let crash = one("java-cause.txt");
        assert_eq!(crash.kind, "java.lang.IllegalStateException");
        assert_eq!(crash.thread.as_deref(), Some("main"));
        assert_eq!(functions(&crash), ["Crash$Store.load", "Crash.main"]);
        assert_eq!(crash.causes[0].kind, "java.nio.file.NoSuchFileException");
        assert_eq!(
            crash.causes[0].frames.iter().filter(|f| f.in_app).count(),
            2
        );
    }

    #[test]
    fn tandem_trap_reports_with_their_wasm_backtrace() {
        let crash = one("tandem-panic.txt");
        assert_eq!(crash.kind, "trap");
        assert_eq!(crash.site.as_deref(), Some("hostile.panic"));
        assert!(crash.frames.len() > 5);
        assert_eq!(crash.frames[0].function, "abort");
        assert!(
            crash
                .culprit()
                .unwrap()
                .function
                .contains("Hostile as tandem_sdk::agent::Agent>::handle")
        );
        let fuel = one("tandem-spin.txt");
        assert_eq!(fuel.kind, "fuel-exhausted");
        assert!(fuel.culprit().unwrap().function.ends_with("::handle"));
        let recursion = one("tandem-recurse.txt");
        assert_eq!(recursion.kind, "stack-overflow");
        assert!(
            recursion
                .frames
                .iter()
                .all(|f| f.function == "hostile::recurse")
        );
    }

    #[test]
    fn a_mixed_log_gives_every_crash_and_nothing_else() {
        let path = format!(
            "{}/../../tests/data/debug/mixed.log",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(path).unwrap();
        let (crashes, cut) = scan("mixed.log", &text);
        assert!(!cut);
        let kinds: Vec<(Language, &str)> = crashes
            .iter()
            .map(|c| (c.language, c.kind.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (Language::Python, "KeyError"),
                (Language::Python, "KeyError"),
                (Language::Python, "KeyError"),
                (Language::Rust, "panic"),
                (Language::Node, "TypeError"),
                (Language::Rust, "panic"),
                (Language::Java, "java.lang.IllegalStateException"),
                (Language::Go, "panic"),
                (Language::Python, "ConfigError"),
            ]
        );
        assert!(crashes.iter().all(|c| c.time.is_some() && !c.truncated));
        assert_eq!(crashes[0].time.as_deref(), Some("2026-12-01T10:00:03Z"));
    }
}
