//! `Cargo.lock` (versions 1 to 4): every `[[package]]` from a registry. Path and git packages are
//! left out: advisories name crates.io releases.

use serde::Deserialize;
use toml::Spanned;

use super::{LockError, Package, toml_error, toml_package};
use crate::ecosystem::Ecosystem;

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: Spanned<String>,
    version: String,
    source: Option<String>,
}

pub fn parse(file: &str, text: &str) -> Result<Vec<Package>, LockError> {
    let lock: Lock = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
    Ok(lock
        .package
        .into_iter()
        .filter(|p| {
            p.source
                .as_deref()
                .is_some_and(|s| s.starts_with("registry+") || s.starts_with("sparse+"))
        })
        .map(|p| toml_package(Ecosystem::CratesIo, file, text, p.name, p.version))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_packages_with_their_lines() {
        let text = "version = 4\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"time\"\nversion = \"0.1.45\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
        let found = parse("Cargo.lock", text).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].name.as_str(), found[0].line), ("time", 8));
        let err = parse("Cargo.lock", "[[package]]\nname = \"x\"\nversion = 3\n").unwrap_err();
        assert_eq!(err.line, 3, "{err:?}");
    }
}
