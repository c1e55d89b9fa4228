//! Data files. TOML through the `toml` crate (a key given twice is a TOML error, reported as
//! `toml-duplicate-key`; other errors as `syntax-error`). JSON through `serde_json`, then a scan of
//! the (valid) text for `json-duplicate-key`: JSON parsers silently keep the last one.

use guest_support::{Finding, LineIndex, Severity};

/// Lints one TOML file.
pub fn lint_toml(file: &str, text: &str) -> Vec<Finding> {
    let Err(e) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let offset = e.span().map_or(0, |s| s.start);
    let (line, column) = LineIndex::new(text).position(offset);
    let message = e.message().trim().to_string();
    let rule = if message.contains("duplicate key") {
        "toml-duplicate-key"
    } else {
        "syntax-error"
    };
    vec![Finding::new(
        file,
        line,
        column,
        rule,
        Severity::Error,
        format!("TOML: {message}"),
    )]
}

/// Lints one JSON file.
pub fn lint_json(file: &str, text: &str) -> Vec<Finding> {
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        return vec![Finding::new(
            file,
            e.line().max(1),
            e.column().max(1),
            "syntax-error",
            Severity::Error,
            format!("JSON does not parse: {e}"),
        )];
    }
    let index = LineIndex::new(text);
    duplicate_json_keys(text)
        .into_iter()
        .map(|(offset, key)| {
            let (line, column) = index.position(offset);
            Finding::new(
                file,
                line,
                column,
                "json-duplicate-key",
                Severity::Error,
                format!("duplicate key {key:?} (parsers keep only the last)"),
            )
        })
        .collect()
}

/// Byte offsets and names of keys repeated within one object of a valid JSON text.
fn duplicate_json_keys(text: &str) -> Vec<(usize, String)> {
    let bytes = text.as_bytes();
    // Per open container: None for arrays, Some(keys) for objects.
    let mut stack: Vec<Option<Vec<String>>> = Vec::new();
    let mut expect_key = false;
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => {
                stack.push(Some(Vec::new()));
                expect_key = true;
            }
            b'[' => {
                stack.push(None);
                expect_key = false;
            }
            b'}' | b']' => {
                stack.pop();
                expect_key = false;
            }
            b',' => expect_key = matches!(stack.last(), Some(Some(_))),
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if expect_key {
                    let key: String = serde_json::from_str(&text[start..=i.min(text.len() - 1)])
                        .unwrap_or_default();
                    if let Some(Some(keys)) = stack.last_mut() {
                        if keys.contains(&key) {
                            out.push((start, key));
                        } else {
                            keys.push(key);
                        }
                    }
                    expect_key = false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The rules of these languages.
pub const RULES: &[(&str, &str)] = &[
    ("toml-duplicate-key", "a TOML key defined twice"),
    ("json-duplicate-key", "a JSON key given twice in one object"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(findings: Vec<Finding>) -> Vec<(usize, usize, String)> {
        findings
            .into_iter()
            .map(|f| (f.line, f.column, f.rule))
            .collect()
    }

    #[test]
    fn json_duplicates_and_errors() {
        let text = "{\n  \"a\": 1,\n  \"b\": {\"a\": [1, {\"x\": 1}]},\n  \"a\": \"}\\\"\"\n}\n";
        assert_eq!(
            rules(lint_json("x.json", text)),
            [(4, 3, "json-duplicate-key".into())]
        );
        assert_eq!(
            rules(lint_json("x.json", "{\"a\": 1,}\n")),
            [(1, 9, "syntax-error".into())]
        );
    }

    #[test]
    fn toml_duplicates_and_errors() {
        assert_eq!(
            rules(lint_toml("x.toml", "a = 1\nb = 2\na = 3\n")),
            [(3, 1, "toml-duplicate-key".into())]
        );
        assert_eq!(
            rules(lint_toml("x.toml", "a = \n")),
            [(1, 5, "syntax-error".into())]
        );
        assert!(lint_toml("x.toml", "[x]\na = 1\n").is_empty());
    }
}
