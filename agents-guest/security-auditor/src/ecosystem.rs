//! The four ecosystems the auditor knows, how each names its packages and orders its versions:
//! crates.io, npm and Go by Semantic Versioning (`semver`; Go's leading `v` dropped, build metadata
//! ignored as OSV says), PyPI by PEP 440 (`pep440_rs`), names normalised as PEP 503 says.

use std::cmp::Ordering;
use std::str::FromStr;

use serde::Serialize;

/// An ecosystem, spelled as OSV spells it.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ecosystem {
    #[serde(rename = "crates.io")]
    CratesIo,
    #[serde(rename = "npm")]
    Npm,
    #[serde(rename = "PyPI")]
    PyPi,
    #[serde(rename = "Go")]
    Go,
}

impl Ecosystem {
    /// The ecosystem of an OSV `affected[].package.ecosystem` (a suffix such as `Go:1.21` ignored).
    pub fn from_osv(name: &str) -> Option<Ecosystem> {
        match name.split(':').next().unwrap_or(name) {
            "crates.io" => Some(Ecosystem::CratesIo),
            "npm" => Some(Ecosystem::Npm),
            "PyPI" => Some(Ecosystem::PyPi),
            "Go" => Some(Ecosystem::Go),
            _ => None,
        }
    }

    /// OSV's name for it.
    pub fn osv_name(self) -> &'static str {
        match self {
            Ecosystem::CratesIo => "crates.io",
            Ecosystem::Npm => "npm",
            Ecosystem::PyPi => "PyPI",
            Ecosystem::Go => "Go",
        }
    }

    /// A package name as the ecosystem compares names: PyPI's are case-insensitive with runs of
    /// `-`, `_`, `.` equal (PEP 503); the others compare exactly.
    pub fn normalize(self, name: &str) -> String {
        match self {
            Ecosystem::PyPi => {
                let mut out = String::with_capacity(name.len());
                let mut separator = false;
                for c in name.chars() {
                    if matches!(c, '-' | '_' | '.') {
                        separator = true;
                    } else {
                        if separator && !out.is_empty() {
                            out.push('-');
                        }
                        separator = false;
                        out.push(c.to_ascii_lowercase());
                    }
                }
                out
            }
            _ => name.to_string(),
        }
    }

    /// Whether an advisory's package name covers `package` (a normalised name): the same name, or
    /// for Go a package path inside the module (`golang.org/x/text/language` in `golang.org/x/text`).
    pub fn covers(self, advisory_name: &str, package: &str) -> bool {
        let name = self.normalize(advisory_name);
        name == package
            || (self == Ecosystem::Go
                && name
                    .strip_prefix(package)
                    .is_some_and(|rest| rest.starts_with('/')))
    }

    /// The names an advisory's package name may be audited under: itself, and for Go every
    /// module path that could hold it.
    pub fn candidates(self, advisory_name: &str) -> Vec<String> {
        let name = self.normalize(advisory_name);
        if self != Ecosystem::Go {
            return vec![name];
        }
        let mut out: Vec<String> = name
            .match_indices('/')
            .map(|(at, _)| name[..at].to_string())
            .collect();
        out.push(name);
        out
    }

    /// Parses a version of this ecosystem.
    pub fn version(self, text: &str) -> Result<Version, String> {
        let text = text.trim();
        match self {
            Ecosystem::PyPi => pep440_rs::Version::from_str(text)
                .map(Version::Pep440)
                .map_err(|e| format!("`{text}` is not a PEP 440 version: {e}")),
            Ecosystem::Go => semver(text.strip_prefix('v').unwrap_or(text)),
            Ecosystem::CratesIo | Ecosystem::Npm => semver(text),
        }
    }
}

fn semver(text: &str) -> Result<Version, String> {
    // OSV's "introduced: 0" means every version; `0` alone is no semver.
    if text == "0" {
        return Ok(Version::Semver(semver::Version::new(0, 0, 0), true));
    }
    let mut v = semver::Version::parse(text)
        .map_err(|e| format!("`{text}` is not a semantic version: {e}"))?;
    v.build = semver::BuildMetadata::EMPTY;
    Ok(Version::Semver(v, false))
}

/// A version of one ecosystem. Versions of different schemes never meet: a package's versions
/// all come from its ecosystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Version {
    /// A semantic version; `true` for OSV's `0` (below every version, pre-releases included).
    Semver(semver::Version, bool),
    /// A PEP 440 version.
    Pep440(pep440_rs::Version),
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Version::Semver(_, true), Version::Semver(_, true)) => Ordering::Equal,
            (Version::Semver(_, true), _) => Ordering::Less,
            (_, Version::Semver(_, true)) => Ordering::Greater,
            (Version::Semver(a, _), Version::Semver(b, _)) => a.cmp(b),
            (Version::Pep440(a), Version::Pep440(b)) => a.cmp(b),
            (Version::Semver(..), Version::Pep440(_)) => Ordering::Less,
            (Version::Pep440(_), Version::Semver(..)) => Ordering::Greater,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_as_their_ecosystem_says() {
        let py = |s| Ecosystem::PyPi.version(s).unwrap();
        assert!(py("5.4") > py("5.4b1"));
        assert!(py("5.3.1") < py("5.4"));
        assert!(py("1.0.post1") > py("1.0"));
        assert!(py("1!0.1") > py("2.0"));
        assert_eq!(py("2.31"), py("2.31.0"));
        let sv = |s| Ecosystem::CratesIo.version(s).unwrap();
        assert!(sv("0") < sv("0.0.0-0"));
        assert!(sv("0.0.0-0") < sv("0.0.0"));
        assert!(sv("1.2.6") > sv("1.2.6-rc.1"));
        let go = |s| Ecosystem::Go.version(s).unwrap();
        assert_eq!(go("v0.17.0"), go("0.17.0"));
        assert!(go("v0.0.0-20210921155107-089bfa567519") < go("v0.1.0"));
        assert_eq!(go("v2.0.0+incompatible"), go("2.0.0"));
        assert!(Ecosystem::Npm.version("^1.2").is_err());
    }

    #[test]
    fn pypi_names_are_normalised() {
        assert_eq!(Ecosystem::PyPi.normalize("PyYAML"), "pyyaml");
        assert_eq!(
            Ecosystem::PyPi.normalize("zope.interface"),
            "zope-interface"
        );
        assert_eq!(Ecosystem::PyPi.normalize("Foo__Bar-.baz"), "foo-bar-baz");
        assert_eq!(Ecosystem::Npm.normalize("@Scope/Pkg"), "@Scope/Pkg");
        assert!(Ecosystem::Go.covers("golang.org/x/text/language", "golang.org/x/text"));
        assert!(!Ecosystem::Go.covers("golang.org/x/textual", "golang.org/x/text"));
        assert!(!Ecosystem::Npm.covers("lodash/fp", "lodash"));
    }
}
