//! What an agent id or an operation name may be: 1 to 64 characters of lower-case ASCII letters,
//! digits and `-`, starting with a letter. Ids name files, metrics labels and routes, so they stay
//! plain.

/// Ids and operation names: 1 to 64 characters of lower-case ASCII letters, digits and `-`,
/// starting with a letter.
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(format!(
            "{what} `{name}` must be 1-64 characters of a-z, 0-9 and `-`, starting with a letter"
        ))
    }
}

/// Whether `name` is a valid agent id or operation name (see [`check_name`]).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lower_case_ascii_starting_with_a_letter() {
        for good in ["a", "linter", "security-auditor", "x1", &"a".repeat(64)] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in ["", "1a", "-a", "Linter", "a_b", "a b", "é", &"a".repeat(65)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
        assert_eq!(
            check_name("agent id", "Bad").unwrap_err(),
            "agent id `Bad` must be 1-64 characters of a-z, 0-9 and `-`, starting with a letter"
        );
    }
}
