//! What a template variable may be, by its kind: the naming rules of each ecosystem (cargo for Rust
//! crates, PEP 508 and PEP 503 for Python distributions, npm's `validate-npm-package-name`, the
//! host's agent ids), and one-line text that is safe inside the quoted strings of every template.

use serde::{Deserialize, Serialize};

/// The kind of a template variable, which says how its value is checked.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    RustCrate,
    PythonPackage,
    NpmPackage,
    AgentId,
    Text,
}

/// Checks `value` for a variable of `kind`; the error says which rule it breaks.
pub fn check(kind: Kind, value: &str) -> Result<(), String> {
    match kind {
        Kind::RustCrate => rust_crate(value),
        Kind::PythonPackage => python_package(value),
        Kind::NpmPackage => npm_package(value),
        Kind::AgentId => agent_id(value),
        Kind::Text => text(value),
    }
}

/// Rust's strict and reserved keywords, as cargo refuses them (a crate named after one cannot be
/// used in code).
const RUST_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "if", "impl", "in",
    "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "Self", "static", "struct", "super", "trait", "true", "try", "type",
    "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Names cargo refuses (`test`) or warns about for a package, refused here: the standard library's
/// crates, its own artifact directories, and the file names Windows reserves.
const CARGO_RESERVED: &[&str] = &[
    "alloc",
    "core",
    "std",
    "test",
    "proc_macro",
    "proc-macro",
    "deps",
    "examples",
    "build",
    "incremental",
    "con",
    "prn",
    "aux",
    "nul",
    "com1",
    "com2",
    "com3",
    "com4",
    "com5",
    "com6",
    "com7",
    "com8",
    "com9",
    "lpt1",
    "lpt2",
    "lpt3",
    "lpt4",
    "lpt5",
    "lpt6",
    "lpt7",
    "lpt8",
    "lpt9",
];

fn rust_crate(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err(format!(
            "the crate name `{name}` must be 1-64 characters (crates.io's limit)"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "the crate name `{name}` has `{c}`: only ASCII letters, digits, `-` and `_` are allowed"
        ));
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "the crate name `{name}` starts with a digit, which cargo refuses"
        ));
    }
    let snake = name.replace('-', "_");
    if RUST_KEYWORDS.contains(&snake.as_str()) {
        return Err(format!("the crate name `{name}` is a Rust keyword"));
    }
    if CARGO_RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "the crate name `{name}` is reserved (a standard library crate, a cargo directory or a Windows device name)"
        ));
    }
    Ok(())
}

/// Python's keywords (an import name may not be one).
const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

fn python_package(name: &str) -> Result<(), String> {
    // PEP 508: ^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$, case-insensitive.
    if name.is_empty() || name.len() > 100 {
        return Err(format!(
            "the package name `{name}` must be 1-100 characters"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "the package name `{name}` has `{c}`: PEP 508 allows ASCII letters, digits, `.`, `_` and `-`"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !name.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Err(format!(
            "the package name `{name}` must start and end with a letter or digit (PEP 508)"
        ));
    }
    let module = python_module(name);
    if module.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "the import name `{module}` of `{name}` starts with a digit, which Python cannot import"
        ));
    }
    if PYTHON_KEYWORDS.contains(&module.as_str()) {
        return Err(format!(
            "the import name `{module}` of `{name}` is a Python keyword"
        ));
    }
    Ok(())
}

/// The import name of a Python distribution: its PEP 503 normalized name (lower case, each run of
/// `-`, `_` and `.` one separator) with `_` as the separator.
pub fn python_module(name: &str) -> String {
    let mut module = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !module.ends_with('_') {
                module.push('_');
            }
        } else {
            module.push(c.to_ascii_lowercase());
        }
    }
    module
}

/// Node.js's built-in modules, which npm refuses as package names.
const NODE_BUILTINS: &[&str] = &[
    "assert",
    "async_hooks",
    "buffer",
    "child_process",
    "cluster",
    "console",
    "constants",
    "crypto",
    "dgram",
    "diagnostics_channel",
    "dns",
    "domain",
    "events",
    "fs",
    "http",
    "http2",
    "https",
    "inspector",
    "module",
    "net",
    "os",
    "path",
    "perf_hooks",
    "process",
    "punycode",
    "querystring",
    "readline",
    "repl",
    "stream",
    "string_decoder",
    "sys",
    "timers",
    "tls",
    "trace_events",
    "tty",
    "url",
    "util",
    "v8",
    "vm",
    "wasi",
    "worker_threads",
    "zlib",
];

fn npm_package(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 214 {
        return Err(format!(
            "the package name `{name}` must be 1-214 characters"
        ));
    }
    let bare = match name.strip_prefix('@') {
        Some(scoped) => {
            let Some((scope, bare)) = scoped.split_once('/') else {
                return Err(format!(
                    "the scoped package name `{name}` must be `@scope/name`"
                ));
            };
            npm_part(name, scope)?;
            bare
        }
        None => name,
    };
    npm_part(name, bare)?;
    if name == "node_modules" || name == "favicon.ico" || NODE_BUILTINS.contains(&name) {
        return Err(format!(
            "the package name `{name}` is reserved (a Node.js built-in module or a name npm refuses)"
        ));
    }
    Ok(())
}

fn npm_part(name: &str, part: &str) -> Result<(), String> {
    if part.is_empty() {
        return Err(format!("the package name `{name}` has an empty part"));
    }
    if part.starts_with('.') || part.starts_with('_') {
        return Err(format!(
            "the package name `{name}` may not start with `.` or `_`"
        ));
    }
    if let Some(c) = part.chars().find(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "the package name `{name}` has the capital `{c}`: npm names are lower case"
        ));
    }
    if let Some(c) = part
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '_')))
    {
        return Err(format!(
            "the package name `{name}` has `{c}`: npm allows lower-case letters, digits, `-`, `.` and `_` (URL-safe)"
        ));
    }
    Ok(())
}

fn agent_id(name: &str) -> Result<(), String> {
    let plain = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    if !plain {
        return Err(format!(
            "the agent id `{name}` must be 1-64 characters of a-z, 0-9 and `-`, starting with a letter"
        ));
    }
    // The id is also the guest crate's name.
    rust_crate(name).map_err(|e| format!("the agent id `{name}` names its crate too: {e}"))
}

fn text(value: &str) -> Result<(), String> {
    if value.chars().count() > 200 {
        return Err("the text is longer than 200 characters".to_string());
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() || matches!(c, '"' | '\\' | '`'))
    {
        return Err(format!(
            "the text has {c:?}: one line without quotes, backslashes or backticks (it goes into quoted strings and doc comments)"
        ));
    }
    Ok(())
}

/// `hello-world` -> `HelloWorld`: a Rust type name from a crate name.
pub fn pascal(name: &str) -> String {
    name.split(['-', '_', '.'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_ecosystem_has_its_rules() {
        for good in ["serde", "my-crate", "my_crate2", "a"] {
            assert_eq!(check(Kind::RustCrate, good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "2fast",
            "fn",
            "self",
            "std",
            "con",
            "a b",
            "ünï",
            &"a".repeat(65),
        ] {
            assert!(check(Kind::RustCrate, bad).is_err(), "{bad}");
        }
        for good in ["requests", "My.Package", "zope.interface", "a1"] {
            assert_eq!(check(Kind::PythonPackage, good), Ok(()), "{good}");
        }
        for bad in ["-x", "x-", "a b", "class", "1abc", "x/y"] {
            assert!(check(Kind::PythonPackage, bad).is_err(), "{bad}");
        }
        for good in ["express", "@babel/core", "lodash.merge", "a-b_c"] {
            assert_eq!(check(Kind::NpmPackage, good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "Express",
            ".hidden",
            "_x",
            "fs",
            "node_modules",
            "a b",
            "@scope",
            "a~b",
        ] {
            assert!(check(Kind::NpmPackage, bad).is_err(), "{bad}");
        }
        for good in ["hello", "my-agent2"] {
            assert_eq!(check(Kind::AgentId, good), Ok(()), "{good}");
        }
        for bad in ["Hello", "my_agent", "-x", "fn", "test"] {
            assert!(check(Kind::AgentId, bad).is_err(), "{bad}");
        }
        assert!(check(Kind::Text, "A tool; it works").is_ok());
        for bad in ["say \"hi\"", "a\nb", "c:\\x"] {
            assert!(check(Kind::Text, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn derived_names() {
        assert_eq!(python_module("Zope.Interface--x"), "zope_interface_x");
        assert_eq!(pascal("hello-world_x"), "HelloWorldX");
    }
}
