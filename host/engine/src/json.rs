//! The one check every JSON payload passes where it enters or leaves a guest: valid JSON text
//! (RFC 8259) nested at most [`MAX_DEPTH`] levels, so that whatever reads it later (the HTTP reply,
//! a graph's templates, the result cache) can parse it the same way.

/// How deep arrays and objects may nest: serde_json's own limit when it parses into a value.
pub const MAX_DEPTH: usize = 128;

/// Checks that `text` is JSON nested at most [`MAX_DEPTH`] levels; the error says what is wrong.
pub fn check(text: &str) -> Result<(), String> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| e.to_string())?;
    // Valid JSON nested `d` deep holds at least `2d` brackets: text shorter than that cannot be too
    // deep, and most payloads are spared the second pass.
    if text.len() < 2 * (MAX_DEPTH + 1) {
        return Ok(());
    }
    let depth = depth(text);
    if depth > MAX_DEPTH {
        return Err(format!(
            "it nests {depth} levels deep, more than the {MAX_DEPTH} allowed"
        ));
    }
    Ok(())
}

/// The deepest nesting of arrays and objects in JSON text (brackets inside strings do not count).
fn depth(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_shallow_json_passes_and_deep_or_broken_json_is_named() {
        assert_eq!(check(r#"{"a": ["[[[", {"b": "\"]]"}]}"#), Ok(()));
        assert_eq!(depth(r#"{"a": ["[[[", {"b": "\"]]"}]}"#), 3);
        let deep = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert_eq!(check(&deep), Ok(()));
        let deeper = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(check(&deeper).unwrap_err().contains("129 levels deep"));
        assert!(check("not json").is_err());
        assert!(check("{} trailing").is_err());
        // Just deep enough to be refused, padded or not.
        let padded = format!(
            "{} ",
            "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1)
        );
        assert!(check(&padded).unwrap_err().contains("129 levels deep"));
    }
}
