//! [`ManifestError`]: a manifest that could not be read or is invalid, naming the file and the key.

use std::path::PathBuf;

/// A manifest that could not be read or is invalid. `key` names the offending setting.
#[derive(Debug, thiserror::Error)]
#[error("{}: {}{message}", path.display(), key.as_ref().map(|k| format!("`{k}`: ")).unwrap_or_default())]
pub struct ManifestError {
    /// The manifest file.
    pub path: PathBuf,
    /// The offending setting (`section.key`), when one is to blame.
    pub key: Option<String>,
    /// What is wrong with it.
    pub message: String,
}
