//! `Cargo.lock` (versions 1 to 4): every `[[package]]` from crates.io (its git index or its sparse
//! one). Path, git and other registries' packages are left out: advisories name crates.io releases,
//! and a private registry's `time` is not crates.io's.

use super::{LockError, Package, TomlLock, toml_error, toml_package};
use crate::ecosystem::Ecosystem;

/// The `source` of a crates.io package, through its git index and its sparse index.
const CRATES_IO: [&str; 2] = [
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
];

pub fn parse(file: &str, text: &str) -> Result<Vec<Package>, LockError> {
    let lock: TomlLock<String> = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
    Ok(lock
        .package
        .into_iter()
        .filter(|p| p.source.as_deref().is_some_and(|s| CRATES_IO.contains(&s)))
        .map(|p| toml_package(Ecosystem::CratesIo, file, text, p.name, p.version))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_packages_with_their_lines() {
        let text = "version = 4\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"time\"\nversion = \"0.1.45\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.0\"\nsource = \"registry+https://my-company.example/index\"\n";
        let found = parse("Cargo.lock", text).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].name.as_str(), found[0].line), ("time", 8));
        let err = parse("Cargo.lock", "[[package]]\nname = \"x\"\nversion = 3\n").unwrap_err();
        assert_eq!(err.line, 3, "{err:?}");
    }
}
