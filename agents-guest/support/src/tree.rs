//! Reading what the caller names: files, and directories walked recursively in sorted order, through
//! the agent's preopened directories. Every input is bounded before it is read: a file's size, the
//! number of files and the total bytes of a run. Symbolic links to directories are not followed (a
//! link cycle cannot loop), binary and non-UTF-8 files are skipped with a reason, never read as text.

use serde::Serialize;
use tandem_sdk::AgentError;

/// The bounds of one run.
#[derive(Clone, Copy, Debug)]
pub struct TreeLimits {
    /// Files larger than this are skipped.
    pub max_file_bytes: u64,
    /// At most this many files are read; the rest are skipped.
    pub max_files: usize,
    /// At most this many bytes in all; files past it are skipped.
    pub max_total_bytes: u64,
}

impl Default for TreeLimits {
    fn default() -> Self {
        TreeLimits {
            max_file_bytes: 4 * 1024 * 1024,
            max_files: 100_000,
            max_total_bytes: 256 * 1024 * 1024,
        }
    }
}

/// A file read as text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as the caller named it (or as found below a named directory).
    pub path: String,
    /// Its contents.
    pub text: String,
}

/// A file or directory not read, and why.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The path.
    pub file: String,
    /// Why: too large, binary, not UTF-8, a symbolic link to a directory, unreadable.
    pub reason: String,
}

/// The files of a run, and those skipped.
#[derive(Default, Debug)]
pub struct Tree {
    /// Files read, in the order named (directories: sorted).
    pub files: Vec<SourceFile>,
    /// Files skipped, with the reason.
    pub skipped: Vec<Skipped>,
    /// Bytes read.
    pub bytes: u64,
}

impl Tree {
    /// Reads every path. A path the caller named that does not exist or is not granted fails the
    /// whole call (it was asked for by name); problems found while walking are `skipped` entries.
    pub fn read(paths: &[String], limits: TreeLimits) -> Result<Tree, AgentError> {
        Tree::read_where(paths, limits, &|_, _| true)
    }

    /// Like [`Tree::read`], but below a named directory only entries `keep(path, is_dir)` accepts
    /// are read (a directory refused is not entered): e.g. only lockfiles, never `node_modules`.
    /// Files named by the caller are always read.
    pub fn read_where(
        paths: &[String],
        limits: TreeLimits,
        keep: &dyn Fn(&str, bool) -> bool,
    ) -> Result<Tree, AgentError> {
        let mut tree = Tree::default();
        for path in paths {
            if path.is_empty() {
                return Err(AgentError::invalid("a path is empty"));
            }
            let meta = std::fs::metadata(path).map_err(|e| io_error(path, &e))?;
            if meta.is_dir() {
                tree.walk(path, &limits, keep)?;
            } else {
                tree.read_file(path, meta.len(), &limits);
            }
        }
        Ok(tree)
    }

    /// Adds an inline file (counted against the same bounds).
    pub fn add_inline(&mut self, path: String, text: String, limits: &TreeLimits) {
        if !self.admit(&path, text.len() as u64, limits) {
            return;
        }
        self.bytes += text.len() as u64;
        self.files.push(SourceFile { path, text });
    }

    /// Moves the files an `allow` glob matches to `skipped`.
    pub fn leave_out(&mut self, allow: &[String]) {
        if allow.is_empty() {
            return;
        }
        let (kept, allowed): (Vec<_>, Vec<_>) = std::mem::take(&mut self.files)
            .into_iter()
            .partition(|f| !allow.iter().any(|p| crate::glob::matches_path(p, &f.path)));
        self.files = kept;
        self.skipped.extend(allowed.into_iter().map(|f| Skipped {
            file: f.path,
            reason: "allowed by an `allow` glob".into(),
        }));
    }

    fn walk(
        &mut self,
        dir: &str,
        limits: &TreeLimits,
        keep: &dyn Fn(&str, bool) -> bool,
    ) -> Result<(), AgentError> {
        let mut entries: Vec<_> = match std::fs::read_dir(dir) {
            Ok(entries) => entries.filter_map(|e| e.ok()).collect(),
            Err(e) => {
                self.skip(dir, e.to_string());
                return Ok(());
            }
        };
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = join(dir, &entry.file_name().to_string_lossy());
            let Ok(kind) = entry.file_type() else {
                self.skip(&path, "cannot read its type".into());
                continue;
            };
            if !keep(&path, kind.is_dir()) {
                continue;
            }
            if kind.is_symlink() {
                match std::fs::metadata(&path) {
                    Ok(meta) if meta.is_dir() => {
                        self.skip(&path, "symbolic link to a directory (not followed)".into())
                    }
                    Ok(meta) => self.read_file(&path, meta.len(), limits),
                    Err(e) => self.skip(&path, format!("broken or ungranted link: {e}")),
                }
            } else if kind.is_dir() {
                self.walk(&path, limits, keep)?;
            } else if kind.is_file() {
                match entry.metadata() {
                    Ok(meta) => self.read_file(&path, meta.len(), limits),
                    Err(e) => self.skip(&path, e.to_string()),
                }
            }
        }
        Ok(())
    }

    fn admit(&mut self, path: &str, len: u64, limits: &TreeLimits) -> bool {
        if len > limits.max_file_bytes {
            self.skip(
                path,
                format!("{len} bytes: larger than {} bytes", limits.max_file_bytes),
            );
        } else if self.files.len() >= limits.max_files {
            self.skip(
                path,
                format!("past the limit of {} files", limits.max_files),
            );
        } else if self.bytes + len > limits.max_total_bytes {
            self.skip(
                path,
                format!("past the limit of {} bytes in all", limits.max_total_bytes),
            );
        } else {
            return true;
        }
        false
    }

    fn read_file(&mut self, path: &str, len: u64, limits: &TreeLimits) {
        if !self.admit(path, len, limits) {
            return;
        }
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => return self.skip(path, e.to_string()),
        };
        // A file that grew since its metadata was read is still bounded.
        if bytes.len() as u64 > limits.max_file_bytes {
            return self.skip(path, "grew past the size limit while read".into());
        }
        if bytes.contains(&0) {
            return self.skip(path, "binary file".into());
        }
        match String::from_utf8(bytes) {
            Ok(text) => {
                self.bytes += text.len() as u64;
                self.files.push(SourceFile {
                    path: path.to_string(),
                    text,
                });
            }
            Err(_) => self.skip(path, "not UTF-8 text".into()),
        }
    }

    fn skip(&mut self, path: &str, reason: String) {
        self.skipped.push(Skipped {
            file: path.to_string(),
            reason,
        });
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// WASI's `ENOTCAPABLE`: the path is outside every granted directory.
const ENOTCAPABLE: i32 = 76;

/// The error for a path the caller named: `denied` when no grant covers it, else `invalid-input`.
pub fn io_error(path: &str, error: &std::io::Error) -> AgentError {
    if error.kind() == std::io::ErrorKind::PermissionDenied
        || error.raw_os_error() == Some(ENOTCAPABLE)
    {
        return AgentError::Denied(format!(
            "`{path}`: not readable here (is its directory granted?): {error}"
        ));
    }
    AgentError::InvalidInput(format!("`{path}`: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_sorted_skips_binary_large_and_linked_directories() {
        let dir = std::env::temp_dir().join(format!("guest-support-tree-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("b.txt"), "b\n").unwrap();
        std::fs::write(dir.join("a.txt"), "a\n").unwrap();
        std::fs::write(dir.join("bin"), [0u8, 1, 2]).unwrap();
        std::fs::write(dir.join("big"), vec![b'x'; 100]).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&dir, dir.join("sub/loop")).unwrap();
        let limits = TreeLimits {
            max_file_bytes: 50,
            ..TreeLimits::default()
        };
        let root = dir.to_string_lossy().into_owned();
        let tree = Tree::read(std::slice::from_ref(&root), limits).unwrap();
        let names: Vec<_> = tree.files.iter().map(|f| f.path.clone()).collect();
        assert_eq!(names, [format!("{root}/a.txt"), format!("{root}/b.txt")]);
        let reasons: Vec<_> = tree.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert!(reasons[0].contains("larger than 50"), "{reasons:?}");
        assert_eq!(reasons[1], "binary file");
        #[cfg(unix)]
        assert!(reasons[2].contains("not followed"), "{reasons:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
