//! `go.sum`: the modules whose code the build downloaded (lines with an `h1:` hash of the module,
//! not only of its `go.mod`), each at the highest version listed, which is the one minimal version
//! selection keeps.

use std::collections::BTreeMap;

use super::{LockError, Package};
use crate::ecosystem::Ecosystem;

pub fn parse(file: &str, text: &str) -> Result<Vec<Package>, LockError> {
    let mut modules: BTreeMap<&str, (crate::ecosystem::Version, &str, usize)> = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [module, version, hash] = fields[..] else {
            return Err(LockError::new(
                file,
                number,
                format!(
                    "expected `module version h1:hash`, found {} fields",
                    fields.len()
                ),
            ));
        };
        if !hash.starts_with("h1:") {
            return Err(LockError::new(
                file,
                number,
                format!("`{hash}` is not an `h1:` hash"),
            ));
        }
        if version.ends_with("/go.mod") {
            continue;
        }
        let parsed = Ecosystem::Go
            .version(version)
            .map_err(|e| LockError::new(file, number, e))?;
        let newer = modules.get(module).is_none_or(|(v, _, _)| parsed > *v);
        if newer {
            modules.insert(module, (parsed, version, number));
        }
    }
    Ok(modules
        .into_iter()
        .map(|(module, (_, version, line))| Package {
            ecosystem: Ecosystem::Go,
            name: module.to_string(),
            version: Some(version.to_string()),
            allows: None,
            file: file.to_string(),
            line,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_downloaded_version_of_each_module() {
        let text = "golang.org/x/crypto v0.14.0 h1:a=\ngolang.org/x/crypto v0.14.0/go.mod h1:b=\ngolang.org/x/crypto v0.9.0 h1:c=\ngolang.org/x/net v0.1.0/go.mod h1:d=\n";
        let found = parse("go.sum", text).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].version.as_deref(), Some("v0.14.0"));
        assert_eq!(found[0].line, 1);
        assert_eq!(parse("go.sum", "x v1.0.0\n").unwrap_err().line, 1);
    }
}
