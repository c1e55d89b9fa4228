//! Lockfiles and requirement files, read into the packages they pin: `Cargo.lock` ([`cargo`]),
//! `package-lock.json`/`npm-shrinkwrap.json` v1-v3 and `yarn.lock` v1 and Berry ([`npm`]),
//! `requirements*.txt`, `poetry.lock`, `uv.lock` and, where no Python lockfile sits beside it,
//! `pyproject.toml`'s dependencies ([`python`]), `go.sum` ([`go`]). Every package keeps the
//! line it was found on; a file that does not parse is one error naming its line.

pub mod cargo;
pub mod go;
pub mod npm;
pub mod python;

use serde::Serialize;

use crate::ecosystem::Ecosystem;

/// One package a lockfile names.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Package {
    pub ecosystem: Ecosystem,
    pub name: String,
    /// The exact version installed; `None` for a requirement that is not pinned.
    pub version: Option<String>,
    /// For a requirement that is not pinned: what it allows (a PEP 440 specifier, `""` for any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allows: Option<String>,
    /// The file and line it was found on.
    pub file: String,
    pub line: usize,
}

/// A lockfile that could not be read.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct LockError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl LockError {
    pub fn new(file: &str, line: usize, message: impl Into<String>) -> LockError {
        LockError {
            file: file.to_string(),
            line,
            message: message.into(),
        }
    }
}

/// The formats, known by file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    CargoLock,
    PackageLock,
    YarnLock,
    Requirements,
    PoetryLock,
    /// `uv.lock`: the same `[[package]]` shape as `poetry.lock`.
    UvLock,
    /// `pyproject.toml`: PEP 621's `project.dependencies` (and optional ones), Poetry's
    /// `tool.poetry.dependencies`, read as requirements.
    Pyproject,
    GoSum,
}

impl Format {
    /// The format of a file by its name, if it is a lockfile the auditor reads.
    pub fn of(path: &str) -> Option<Format> {
        let name = path.rsplit('/').next().unwrap_or(path);
        Some(match name {
            "Cargo.lock" => Format::CargoLock,
            "package-lock.json" | "npm-shrinkwrap.json" => Format::PackageLock,
            "yarn.lock" => Format::YarnLock,
            "poetry.lock" => Format::PoetryLock,
            "uv.lock" => Format::UvLock,
            "pyproject.toml" => Format::Pyproject,
            "go.sum" => Format::GoSum,
            _ if name.starts_with("requirements") && name.ends_with(".txt") => Format::Requirements,
            _ => return None,
        })
    }

    /// Reads the packages of `text`, the contents of `file`.
    pub fn parse(self, file: &str, text: &str) -> Result<Vec<Package>, LockError> {
        match self {
            Format::CargoLock => cargo::parse(file, text),
            Format::PackageLock => npm::package_lock(file, text),
            Format::YarnLock => npm::yarn_lock(file, text),
            Format::Requirements => python::requirements(file, text),
            Format::PoetryLock | Format::UvLock => python::poetry_lock(file, text),
            Format::Pyproject => python::pyproject(file, text),
            Format::GoSum => go::parse(file, text),
        }
    }
}

/// The 1-based line of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// A TOML lockfile of `[[package]]` tables (`Cargo.lock`, `poetry.lock`, `uv.lock`); `S` is how
/// the format says where a package comes from.
#[derive(serde::Deserialize)]
pub struct TomlLock<S> {
    #[serde(default = "Vec::new")]
    pub package: Vec<TomlEntry<S>>,
}

#[derive(serde::Deserialize)]
pub struct TomlEntry<S> {
    pub name: toml::Spanned<String>,
    pub version: String,
    pub source: Option<S>,
}

/// A package of a TOML lockfile, on the line of its `name`.
pub fn toml_package(
    ecosystem: Ecosystem,
    file: &str,
    text: &str,
    name: toml::Spanned<String>,
    version: String,
) -> Package {
    Package {
        ecosystem,
        line: line_of(text, name.span().start),
        name: name.into_inner(),
        version: Some(version),
        allows: None,
        file: file.to_string(),
    }
}

/// A TOML error as a [`LockError`] at its line.
pub fn toml_error(file: &str, text: &str, error: &toml::de::Error) -> LockError {
    let line = error.span().map(|s| line_of(text, s.start)).unwrap_or(1);
    LockError::new(file, line, error.message().trim().to_string())
}
