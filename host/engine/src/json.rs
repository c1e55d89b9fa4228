//! The one check every JSON payload passes where it enters or leaves a guest: valid JSON text
//! (RFC 8259) nested at most [`MAX_DEPTH`] levels, so that whatever reads it later (the HTTP reply,
//! a graph's templates, the result cache) can parse it the same way.

/// How deep arrays and objects may nest: serde_json's own limit when it parses into a value.
pub const MAX_DEPTH: usize = 128;

/// Checks that `text` is JSON nested at most [`MAX_DEPTH`] levels; the error says what is wrong.
///
/// Every call's input and output pass here, so the common case is one pass over the bytes
/// ([`is_valid`]); only text it refuses goes through serde_json, whose error names the place.
pub fn check(text: &str) -> Result<(), String> {
    if is_valid(text.as_bytes()) {
        return Ok(());
    }
    check_with_serde(text)
}

/// The same check by serde_json and a count of the nesting: what [`check`] answers for text
/// [`is_valid`] refuses (serde_json's error names the line and column), and what it is held to.
pub fn check_with_serde(text: &str) -> Result<(), String> {
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

/// Whether `text` is JSON (the grammar serde_json accepts: RFC 8259, whitespace ` \t\n\r`, any
/// `\u` escape) nested at most [`MAX_DEPTH`] levels, in one pass without allocating. It never
/// accepts what serde_json refuses, nor refuses what it accepts (the fuzz target `json_check`).
pub fn is_valid(text: &[u8]) -> bool {
    // One bit per open container, set for an object; `depth` of them are in use.
    let (mut objects, mut depth) = (0u128, 0usize);
    let mut at = skip_whitespace(text, 0);
    loop {
        // A value starts at `at`.
        match text.get(at) {
            Some(b'{' | b'[') if depth == MAX_DEPTH => return false,
            Some(b'{') => {
                objects |= 1 << depth;
                depth += 1;
                at = skip_whitespace(text, at + 1);
                if text.get(at) != Some(&b'}') {
                    match key(text, at) {
                        Some(next) => at = next,
                        None => return false,
                    }
                    continue;
                }
                depth -= 1;
                at += 1;
            }
            Some(b'[') => {
                objects &= !(1 << depth);
                depth += 1;
                at = skip_whitespace(text, at + 1);
                if text.get(at) != Some(&b']') {
                    continue;
                }
                depth -= 1;
                at += 1;
            }
            Some(b'"') => match string_end(text, at + 1) {
                Some(end) => at = end,
                None => return false,
            },
            Some(b't') if text[at..].starts_with(b"true") => at += 4,
            Some(b'f') if text[at..].starts_with(b"false") => at += 5,
            Some(b'n') if text[at..].starts_with(b"null") => at += 4,
            Some(b'-' | b'0'..=b'9') => match number_end(text, at) {
                Some(end) => at = end,
                None => return false,
            },
            _ => return false,
        }
        // After a value: close containers until one goes on with a comma.
        loop {
            at = skip_whitespace(text, at);
            if depth == 0 {
                return at == text.len();
            }
            let in_object = objects & (1 << (depth - 1)) != 0;
            match (text.get(at), in_object) {
                (Some(b','), false) => {
                    at = skip_whitespace(text, at + 1);
                    break;
                }
                (Some(b','), true) => match key(text, skip_whitespace(text, at + 1)) {
                    Some(next) => {
                        at = next;
                        break;
                    }
                    None => return false,
                },
                (Some(b']'), false) | (Some(b'}'), true) => {
                    depth -= 1;
                    at += 1;
                }
                _ => return false,
            }
        }
    }
}

/// Past an object's key and its colon (and the whitespace after it), or `None` if there are not
/// a string, a colon and something after them at `at`.
fn key(text: &[u8], at: usize) -> Option<usize> {
    if text.get(at) != Some(&b'"') {
        return None;
    }
    let at = skip_whitespace(text, string_end(text, at + 1)?);
    (text.get(at) == Some(&b':')).then(|| skip_whitespace(text, at + 1))
}

fn skip_whitespace(text: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\t' | b'\r') = text.get(at) {
        at += 1;
    }
    at
}

/// Past the closing quote of a string whose content starts at `at`, or `None` if it is not
/// closed, holds a control character or an escape JSON does not have.
fn string_end(text: &[u8], mut at: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Bytes that end a run of plain characters: `"`, `\` and controls (below 0x20).
    let stops = |word: u64| {
        let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
        zero(word ^ (ONES * u64::from(b'"')))
            | zero(word ^ (ONES * u64::from(b'\\')))
            | (word.wrapping_sub(ONES * 0x20) & !word & HIGH)
    };
    loop {
        // Eight bytes at a time to the next stop (the lowest flagged byte is exact).
        while let Some(chunk) = text.get(at..at + 8) {
            let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            let found = stops(word);
            if found != 0 {
                at += found.trailing_zeros() as usize / 8;
                break;
            }
            at += 8;
        }
        match *text.get(at)? {
            b'"' => return Some(at + 1),
            b'\\' => match *text.get(at + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => at += 2,
                b'u' if text.get(at + 2..at + 6)?.iter().all(u8::is_ascii_hexdigit) => at += 6,
                _ => return None,
            },
            0..0x20 => return None,
            _ => at += 1,
        }
    }
}

/// Past the number starting at `at` (`-`, no leading zeros, a fraction and an exponent each with a
/// digit at least), or `None`.
fn number_end(text: &[u8], mut at: usize) -> Option<usize> {
    let digits = |mut at: usize| {
        while text.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        at
    };
    if text[at] == b'-' {
        at += 1;
    }
    match *text.get(at)? {
        b'0' => at += 1,
        b'1'..=b'9' => at = digits(at + 1),
        _ => return None,
    }
    if text.get(at) == Some(&b'.') {
        let end = digits(at + 1);
        if end == at + 1 {
            return None;
        }
        at = end;
    }
    if let Some(b'e' | b'E') = text.get(at) {
        at += 1;
        if let Some(b'+' | b'-') = text.get(at) {
            at += 1;
        }
        let end = digits(at);
        if end == at {
            return None;
        }
        at = end;
    }
    // A digit right after a leading zero (`01`) is refused by what follows: no value continues
    // with a digit.
    Some(at)
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

    #[test]
    fn the_one_pass_check_agrees_with_serde_json() {
        let texts = [
            "0",
            "-0",
            "-0.5e+3",
            "1E9",
            "12.50",
            " true ",
            "false",
            "null",
            "\"\"",
            r#""a\"b\\c\/\b\f\n\r\t\u00e9\uD800""#,
            "[]",
            "{}",
            "[ ]",
            "{ }",
            r#"{"a":1,"b":[true,{"c":null}]}"#,
            " \t\n\r[1 , 2]\n",
            "\"\u{7f}é😀\"",
            r#""a string longer than eight bytes with \"escapes\" in it, and more""#,
            // Refused:
            "",
            " ",
            "01",
            "-",
            "-a",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "[1,]",
            "{\"a\":1,}",
            "[1 2]",
            "{\"a\" 1}",
            "{a:1}",
            "{1:2}",
            "\"a",
            "\"\\x\"",
            "\"\\u12G4\"",
            "\"\\u12\"",
            "\"\t\"",
            "\"\u{0}\"",
            "tru",
            "nulll",
            "[",
            "]",
            "{",
            "[}",
            "{]",
            "1 2",
            "[1]]",
            "\u{c}1",
            "1\u{b}",
            "{\"a\":}",
            "[,1]",
            "{,}",
            "NaN",
            "Infinity",
            "\"abcdefgh\u{1f}ijklmnop\"",
        ];
        for text in texts {
            assert_eq!(
                is_valid(text.as_bytes()),
                check_with_serde(text).is_ok(),
                "{text:?}"
            );
        }
        let deep = |n: usize| "[{\"a\":".repeat(n) + "1" + &"}]".repeat(n);
        assert!(is_valid(deep(64).as_bytes()));
        assert!(!is_valid(deep(65).as_bytes()));
        assert!(check(&deep(65)).unwrap_err().contains("130 levels deep"));
    }
}
