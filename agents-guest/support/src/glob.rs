//! Globs on `/`-separated paths, as users write them to leave files out (`tests/fixtures/**`,
//! `*.example`): `*` and `?` within a segment, `**` across segments.

use tandem_sdk::AgentError;

/// Glob matching on `/`-separated paths: `*` and `?` within a segment, `**` across segments. A
/// pattern without `/` matches the file name anywhere (as in .gitignore).
pub fn matches_path(pattern: &str, path: &str) -> bool {
    let path = path.trim_start_matches("./");
    if !pattern.contains('/') {
        let name = path.rsplit('/').next().unwrap_or(path);
        return matches(pattern.as_bytes(), name.as_bytes(), false);
    }
    matches(
        pattern.trim_start_matches("./").as_bytes(),
        path.as_bytes(),
        true,
    )
}

fn matches(p: &[u8], s: &[u8], slashes: bool) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) if p.get(1) == Some(&b'*') => {
            let rest = if p.get(2) == Some(&b'/') {
                &p[3..]
            } else {
                &p[2..]
            };
            (0..=s.len()).any(|i| {
                (i == 0 || s[i - 1] == b'/' || rest.is_empty()) && matches(rest, &s[i..], slashes)
            })
        }
        (Some(b'*'), _) => (0..=s.len())
            .take_while(|&i| i == 0 || !slashes || s[i - 1] != b'/')
            .any(|i| matches(&p[1..], &s[i..], slashes)),
        (Some(b'?'), Some(c)) if !slashes || *c != b'/' => matches(&p[1..], &s[1..], slashes),
        (Some(a), Some(b)) if a == b => matches(&p[1..], &s[1..], slashes),
        _ => false,
    }
}

/// Refuses globs no one means: empty, or longer than 1000 characters.
pub fn check(globs: &[String]) -> Result<(), AgentError> {
    for pattern in globs {
        if pattern.is_empty() || pattern.len() > 1000 {
            return Err(AgentError::invalid(format!(
                "`allow`: {pattern:?} is not a usable glob (1 to 1000 characters)"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::matches_path as glob;

    #[test]
    fn globs() {
        assert!(glob("tests/fixtures/**", "tests/fixtures/a/b.py"));
        assert!(glob("**/fixtures/*.env", "src/x/fixtures/a.env"));
        assert!(!glob("tests/*.py", "tests/a/b.py"));
        assert!(glob("*.example", "config/app.env.example"));
        assert!(!glob("*.example", "config/app.env"));
    }
}
