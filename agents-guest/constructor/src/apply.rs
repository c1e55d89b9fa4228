//! Writing a rendered template into its destination, incrementally, and taking it back.
//!
//! A file is created when absent, left alone when it already has the rendered content, and updated
//! only when it is still as CONSTRUCTOR last wrote it; a file the user changed, or one that was
//! there before and not written by CONSTRUCTOR, is a conflict: reported, not overwritten (unless
//! the caller says `overwrite`). `rollback` deletes the recorded files still as written, reports
//! the ones changed since (kept), and removes the directories it created once they are empty.

use std::collections::BTreeSet;
use std::io::ErrorKind;

use serde::Serialize;
use tandem_sdk::AgentError;

use crate::record::{Record, sha256};
use crate::render::Rendered;

/// A file not written, and why.
#[derive(Debug, Serialize)]
pub struct Kept {
    pub path: String,
    pub reason: String,
}

/// What a scaffold did (or, in a dry run, would do).
#[derive(Debug, Default, Serialize)]
pub struct Written {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub conflicts: Vec<Kept>,
}

fn io_error(action: &str, path: &str, e: &std::io::Error) -> AgentError {
    AgentError::failed(format!("cannot {action} `{path}`: {e}"))
}

/// Reads a file; `None` when it does not exist.
fn read(path: &str) -> Result<Option<Vec<u8>>, AgentError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", path, &e)),
    }
}

/// Creates the missing directories of `path`'s parent, recording each one created. The first
/// parts may lie outside what is granted (an absolute guest path): those are skipped, and a real
/// problem shows when the file is written. `ensured` holds the directories already seen in this run,
/// so each is tried once however many files it holds.
fn make_parents(path: &str, record: &mut Record, ensured: &mut BTreeSet<String>) {
    let Some((parent, _)) = path.rsplit_once('/') else {
        return;
    };
    let mut prefix = String::new();
    for (i, part) in parent.split('/').enumerate() {
        if i > 0 || parent.starts_with('/') {
            prefix.push('/');
        }
        prefix.push_str(part);
        if part.is_empty() || !ensured.insert(prefix.clone()) {
            continue;
        }
        if std::fs::create_dir(&prefix).is_ok() {
            record.dirs.push(prefix.clone());
        }
    }
}

/// Writes `files` under `dest`, updating `record`.
pub fn scaffold(
    dest: &str,
    files: &[Rendered],
    record: &mut Record,
    overwrite: bool,
    dry_run: bool,
) -> Result<Written, AgentError> {
    let mut written = Written::default();
    let mut ensured = BTreeSet::new();
    for file in files {
        let path = format!("{dest}/{}", file.path);
        let hash = sha256(file.text.as_bytes());
        let current = read(&path)?;
        let list = match &current {
            None => &mut written.created,
            Some(bytes) if sha256(bytes) == hash => {
                written.unchanged.push(file.path.clone());
                continue;
            }
            Some(bytes) if overwrite || record.files.get(&file.path) == Some(&sha256(bytes)) => {
                &mut written.updated
            }
            Some(_) => {
                let reason = if record.files.contains_key(&file.path) {
                    "changed since CONSTRUCTOR wrote it; not overwritten (`overwrite` replaces it)"
                } else {
                    "already there and not written by CONSTRUCTOR; not overwritten (`overwrite` replaces it)"
                };
                written.conflicts.push(Kept {
                    path: file.path.clone(),
                    reason: reason.to_string(),
                });
                continue;
            }
        };
        list.push(file.path.clone());
        if !dry_run {
            if current.is_none() {
                make_parents(&path, record, &mut ensured);
            }
            std::fs::write(&path, &file.text).map_err(|e| io_error("write", &path, &e))?;
            record.files.insert(file.path.clone(), hash);
        }
    }
    Ok(written)
}

/// What a rollback did.
#[derive(Debug, Default, Serialize)]
pub struct Removed {
    pub removed: Vec<String>,
    pub kept: Vec<Kept>,
    pub missing: Vec<String>,
    pub removed_dirs: Vec<String>,
    pub kept_dirs: Vec<String>,
}

/// Removes what `record` says was written under `dest`, keeping files changed since.
pub fn rollback(dest: &str, record: &Record) -> Result<Removed, AgentError> {
    let mut out = Removed::default();
    for (rel, hash) in &record.files {
        let path = format!("{dest}/{rel}");
        match read(&path)? {
            None => out.missing.push(rel.clone()),
            Some(bytes) if sha256(&bytes) == *hash => {
                std::fs::remove_file(&path).map_err(|e| io_error("remove", &path, &e))?;
                out.removed.push(rel.clone());
            }
            Some(_) => out.kept.push(Kept {
                path: rel.clone(),
                reason: "changed since CONSTRUCTOR wrote it; kept".to_string(),
            }),
        }
    }
    for dir in record.dirs.iter().rev() {
        if std::fs::remove_dir(dir).is_ok() {
            out.removed_dirs.push(dir.clone());
        } else if std::fs::metadata(dir).is_ok() {
            out.kept_dirs.push(dir.clone());
        }
    }
    Ok(out)
}
