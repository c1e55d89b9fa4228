//! The files of a rotated log and its checkpoint.
//!
//! The active file is `PATH`; when it would grow past [`Rotation::max_bytes`] it is renamed
//! `PATH.<seq of its first line, 12 digits>` and a new `PATH` continues the chain (its first line's
//! `prev` is the last line's hash of the file before). Past [`Rotation::keep`] rotated files, the
//! oldest are deleted. `PATH.checkpoint` records where the active file was last known good (offset,
//! seq, head hash), so that opening the log verifies only what was written after it.

use std::io::{BufRead, Read, Seek};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// When the log rotates and how many rotated files it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// The size past which the active file is rotated.
    pub max_bytes: u64,
    /// Rotated files kept; older ones are deleted.
    pub keep: usize,
}

impl Default for Rotation {
    /// 256 MiB files, 8 of them kept.
    fn default() -> Self {
        Rotation {
            max_bytes: 256 << 20,
            keep: 8,
        }
    }
}

/// A point of the chain: the hash and seq of a line, which the next line continues from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainPoint {
    /// The hash of the last line of the rotated file: the chain's link to the next file.
    pub head: String,
    /// The sequence number of that line.
    pub seq: u64,
}

/// A checkpoint: the active file verified up to `offset` bytes, ending at `point`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    pub offset: u64,
    #[serde(flatten)]
    pub point: ChainPoint,
}

fn checkpoint_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".checkpoint");
    PathBuf::from(name)
}

/// The checkpoint of the log at `log`, when there is a readable one.
pub fn read_checkpoint(log: &Path) -> Option<Checkpoint> {
    let text = std::fs::read(checkpoint_path(log)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Records a checkpoint (replacing the file, so a crash leaves the old one or the new one).
pub fn write_checkpoint(log: &Path, checkpoint: &Checkpoint) -> std::io::Result<()> {
    let path = checkpoint_path(log);
    let tmp = path.with_extension("checkpoint-tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec(checkpoint).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(tmp, path)
}

/// The name a rotated file gets: the log's name and the seq of its first line.
pub fn rotated_name(log: &Path, first_seq: u64) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(format!(".{first_seq:012}"));
    PathBuf::from(name)
}

/// The rotated files of the log at `log`, oldest first.
pub fn rotated_files(log: &Path) -> std::io::Result<Vec<PathBuf>> {
    let (Some(dir), Some(name)) = (log.parent(), log.file_name()) else {
        return Ok(Vec::new());
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let mut found: Vec<(u64, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if let Some(seq) = file
            .strip_prefix(&prefix)
            .filter(|rest| rest.len() == 12 && rest.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|rest| rest.parse().ok())
        {
            found.push((seq, dir.join(&file)));
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, path)| path).collect())
}

/// Deletes the oldest rotated files past `keep`.
pub fn apply_retention(log: &Path, keep: usize) -> std::io::Result<()> {
    let files = rotated_files(log)?;
    for old in files.iter().take(files.len().saturating_sub(keep)) {
        std::fs::remove_file(old)?;
    }
    Ok(())
}

/// The point a file's first line continues from (its `prev` and its seq less one), or `None` for
/// an empty file.
pub fn first_point(file: &Path) -> Result<Option<ChainPoint>, String> {
    let mut reader = std::io::BufReader::new(std::fs::File::open(file).map_err(|e| e.to_string())?);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|e| e.to_string())?;
    if line.is_empty() {
        return Ok(None);
    }
    let fields: serde_json::Value =
        serde_json::from_str(line.trim_end()).map_err(|e| format!("line 1: {e}"))?;
    match (fields["prev"].as_str(), fields["seq"].as_u64()) {
        (Some(prev), Some(seq)) => Ok(Some(ChainPoint {
            head: prev.to_string(),
            seq: seq.saturating_sub(1),
        })),
        _ => Err("line 1 has no `prev` or `seq`".to_string()),
    }
}

/// The point a file's last line leaves the chain at (read from its end), or `None` for an empty
/// file.
pub fn last_point(file: &Path) -> std::io::Result<Option<ChainPoint>> {
    let mut f = std::fs::File::open(file)?;
    let len = f.metadata()?.len();
    // A line is far shorter than this (details are cut at 4 KiB).
    let start = len.saturating_sub(64 * 1024);
    f.seek(std::io::SeekFrom::Start(start))?;
    let mut tail = String::new();
    f.read_to_string(&mut tail)?;
    let Some(line) = tail.lines().rev().find(|l| !l.trim().is_empty()) else {
        return Ok(None);
    };
    let fields: serde_json::Value = serde_json::from_str(line).map_err(std::io::Error::other)?;
    match (fields["hash"].as_str(), fields["seq"].as_u64()) {
        (Some(head), Some(seq)) => Ok(Some(ChainPoint {
            head: head.to_string(),
            seq,
        })),
        _ => Err(std::io::Error::other(
            "its last line has no `hash` or `seq`",
        )),
    }
}
