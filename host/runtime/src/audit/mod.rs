//! The tamper-evident audit log: one JSON line per call and per refused delegation, each carrying
//! the hash of the line before it, so that [`verify`] finds any line that was edited, removed,
//! inserted or moved.
//!
//! A line is the record's JSON object with two more fields: `prev`, the previous line's `hash`
//! (64 zeros for the first line), and last `hash`, the SHA-256 of the line's text up to `,"hash"`
//! closed with `}`. Lines are written in batches (see [`writer`]: by the callers that wait for them,
//! or a background thread); [`AuditLog::written`] waits until everything recorded so far is in the
//! file (the server waits for it before it answers: an answered call survives `kill -9`), and
//! [`AuditLog::flush`] until it is on disk (fsync'd). Opening an existing log verifies it first,
//! ends a last line cut short after its last byte, and continues its chain; a second process cannot
//! open the same log.
//!
//! What a chain cannot show on its own: the removal of the last lines, or a rewrite of the whole
//! tail with freshly computed hashes. Keep the head hash that `tandem audit verify` prints somewhere
//! else to detect those.

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

mod rotation;
mod verify;
mod writer;

pub use rotation::{ChainPoint, Rotation, rotated_files};
use verify::check;
pub use verify::{FileProblem, Problem, Verified, VerifiedSet, verify, verify_set};
use writer::{Chain, Writer};

/// The longest `detail` kept in a line (an error message is cut, and marked, past this).
pub const MAX_DETAIL_BYTES: usize = 4096;

/// The `prev` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What one audit line records.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuditRecord {
    /// `call`, `denied-hop`, or a change to the loaded agents: `load`, `swap`, `rollback`,
    /// `rejected`, `remove`.
    pub event: &'static str,
    /// The trace of the call.
    pub trace_id: String,
    /// The agents that delegated down to this call, outermost first.
    pub chain: Vec<String>,
    /// The agent called (or acting, for admin records).
    pub agent: String,
    /// The agent's version and the SHA-256 of its component (empty when no such agent is loaded).
    pub version: String,
    /// The content hash of the agent version.
    pub agent_hash: String,
    /// The operation, or the admin action.
    pub operation: String,
    /// `ok` or the error class.
    pub outcome: &'static str,
    /// How long it took.
    pub duration_us: u64,
    /// Fuel it used.
    pub fuel: u64,
    /// Attempts made.
    pub attempts: u32,
    /// The error message or the reason for a refusal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Why an audit log could not be opened or verified.
// The fields are what each variant's message shows.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The log could not be read or written.
    #[error("audit log {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Another process holds the log.
    #[error("audit log {path} is in use by another process (one writer per log)")]
    Locked { path: PathBuf },
    /// The log fails verification.
    #[error(
        "audit log {path} fails verification, refusing to append to it (move it aside, with its `.checkpoint`, to start a new one, or cut a torn last line off after keeping a copy):\n{}",
        list(problems)
    )]
    Broken {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Serialize)]
struct Line<'a> {
    seq: u64,
    time: String,
    /// The host that wrote the line, when it is one of a cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
    #[serde(flatten)]
    record: &'a AuditRecord,
    prev: &'a str,
}

/// An open audit log.
pub struct AuditLog {
    path: PathBuf,
    writer: Arc<Writer>,
    background: Option<std::thread::JoinHandle<()>>,
}

impl AuditLog {
    /// Opens (or creates) the log at `path`, verifying what is already there.
    pub fn open(path: &Path) -> Result<AuditLog, AuditError> {
        AuditLog::open_with(path, Rotation::default())
    }

    /// Opens (or creates) the log at `path`, rotated by `rotation`. What is already there is
    /// verified: from the checkpoint on when there is a valid one (the start-up reads only the
    /// tail), the whole active file otherwise, its chain continuing from the newest rotated file.
    pub fn open_with(path: &Path, rotation: Rotation) -> Result<AuditLog, AuditError> {
        let io = |source| AuditError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let file = open_locked(path)?;
        let len = file.metadata().map_err(io)?.len();
        let (mut reader, from) = match rotation::read_checkpoint(path) {
            Some(checkpoint)
                if checkpoint.offset <= len && ends_a_line(&file, checkpoint.offset) =>
            {
                let mut reader = BufReader::new(&file);
                reader
                    .seek(std::io::SeekFrom::Start(checkpoint.offset))
                    .map_err(io)?;
                (reader, Some(checkpoint.point))
            }
            _ => {
                let newest = rotation::rotated_files(path).map_err(io)?.pop();
                let from = match newest {
                    Some(rotated) => rotation::last_point(&rotated).map_err(io)?,
                    None => None,
                };
                (BufReader::new(&file), from)
            }
        };
        let checked = check(&mut reader, from.as_ref());
        drop(reader);
        let mut file = file;
        if checked.unterminated {
            // The last line is intact but for its newline (a write cut short): end it, so that
            // the next line does not run onto it.
            tracing::warn!(path = %path.display(), line = checked.verified.lines, "the audit log's last line had no newline: added");
            file.write_all(b"\n").map_err(io)?;
        } else if !checked.problems.is_empty() {
            return Err(AuditError::Broken {
                path: path.to_path_buf(),
                problems: checked.problems,
            });
        }
        let verified = checked.verified;
        let size = file.metadata().map_err(io)?.len();
        let chain = Chain {
            out: BufWriter::with_capacity(64 * 1024, file),
            path: path.to_path_buf(),
            seq: verified.last_seq,
            head: verified.head,
            failed: false,
            retired: Vec::new(),
            host: None,
            rotation,
            size,
            first_seq: if size == 0 {
                verified.last_seq + 1
            } else {
                first_seq_of(path).unwrap_or(1)
            },
        };
        let writer = Arc::new(Writer::new(chain));
        let background = writer.clone();
        let background = std::thread::Builder::new()
            .name("tandem-audit".into())
            .spawn(move || background.background())
            .map_err(io)?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            writer,
            background: Some(background),
        })
    }

    /// The log's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names `host` in every line written from now on (a `host` field after `time`; lines still
    /// queued get it too): the host joined a cluster, whose hosts each keep a log of their own.
    pub fn name_host(&self, host: &str) {
        self.writer.name_host(host);
    }

    /// Queues a line; it reaches the file by the next [`written`] or [`flush`], or within
    /// [`writer::LAG`] when nobody waits for it.
    ///
    /// [`written`]: AuditLog::written
    /// [`flush`]: AuditLog::flush
    pub fn record(&self, mut record: AuditRecord) {
        record.detail = record
            .detail
            .map(|detail| crate::text::truncate(detail, MAX_DETAIL_BYTES));
        self.writer.record(record, SystemTime::now());
    }

    /// Waits until every line recorded so far has been written to the file (handed to the OS:
    /// it survives the process being killed, though not a power loss). The server waits for this
    /// before it answers, so an answered call is in the log. The first waiter to find the log free
    /// writes every queued line in one `write(2)`, so concurrent callers share one write.
    pub async fn written(&self) {
        self.writer.written(&self.path).await;
    }

    /// Waits until every line recorded so far is written and synced to disk.
    pub fn flush(&self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        // The background thread stops first, so the one flush below writes and syncs everything.
        self.writer.close();
        if let Some(background) = self.background.take() {
            let _ = background.join();
        }
        if let Err(e) = self.flush() {
            tracing::error!(path = %self.path.display(), error = %e, "cannot flush the audit log");
        }
    }
}

/// Opens the active file for appending, locked: one writer per log, as a second process appending
/// would interleave the chain.
fn open_locked(path: &Path) -> Result<File, AuditError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .map_err(|source| AuditError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(AuditError::Locked {
            path: path.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(AuditError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Whether `offset` is the start of a file or just after a newline in it.
fn ends_a_line(file: &File, offset: u64) -> bool {
    use std::os::unix::fs::FileExt;
    if offset == 0 {
        return true;
    }
    let mut byte = [0u8];
    file.read_at(&mut byte, offset - 1).is_ok() && byte[0] == b'\n'
}

/// The seq of the first line of the file at `path`.
fn first_seq_of(path: &Path) -> Option<u64> {
    rotation::first_point(path)
        .ok()
        .flatten()
        .map(|p| p.seq + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(agent: &str) -> AuditRecord {
        AuditRecord {
            event: "call",
            trace_id: "t1".into(),
            chain: vec!["director".into()],
            agent: agent.into(),
            version: "0.1.0".into(),
            agent_hash: "ab".into(),
            operation: "echo".into(),
            outcome: "ok",
            duration_us: 12,
            fuel: 345,
            attempts: 1,
            detail: None,
        }
    }

    fn write_log(path: &Path, agents: &[&str]) {
        let log = AuditLog::open(path).unwrap();
        for agent in agents {
            log.record(record(agent));
        }
        log.flush().unwrap();
    }

    fn lines_of(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    fn problems(lines: &[String]) -> Vec<Problem> {
        let text = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
        verify(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn written_returns_once_every_recorded_line_is_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for round in 1..=3 {
            for _ in 0..500 {
                log.record(record("a"));
            }
            runtime.block_on(log.written());
            // Not flushed, not synced: in the file (the OS has it) all the same.
            let lines = std::fs::read_to_string(&path).unwrap().lines().count();
            assert_eq!(lines, 500 * round);
        }
    }

    #[test]
    fn lines_nobody_waits_for_are_written_by_the_background_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        let lines = || std::fs::read_to_string(&path).unwrap().lines().count();
        // Twice: the second time the background thread was idle and must be woken.
        for round in 1..=2 {
            for _ in 0..10 {
                log.record(record("a"));
            }
            let started = std::time::Instant::now();
            while lines() < 10 * round {
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(5),
                    "round {round}: {} lines after 5 s",
                    lines()
                );
                std::thread::sleep(writer::LAG);
            }
            // Let the thread go idle (nothing queued) before the next round.
            std::thread::sleep(writer::LAG * 5);
        }
    }

    #[test]
    fn concurrent_waiters_each_find_their_lines_written_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = Arc::new(AuditLog::open(&path).unwrap());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let tasks: Vec<_> = (0..8)
                .map(|task| {
                    let (log, path) = (log.clone(), path.clone());
                    tokio::spawn(async move {
                        for i in 0..200 {
                            let agent = format!("t{task}-{i}");
                            log.record(record(&agent));
                            log.written().await;
                            // This waiter's own line is in the file when `written` returns.
                            let text = std::fs::read_to_string(&path).unwrap();
                            assert!(text.contains(&format!("\"agent\":\"{agent}\"")));
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
        log.flush().unwrap();
        let verified = verify(std::io::BufReader::new(File::open(&path).unwrap())).unwrap();
        assert_eq!(verified.lines, 1600);
    }

    #[test]
    fn a_log_verifies_and_reopening_continues_its_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        write_log(&path, &["a", "b"]);
        write_log(&path, &["c"]);
        let lines = lines_of(&path);
        assert_eq!(lines.len(), 3);
        let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(first["prev"], GENESIS);
        assert_eq!(first["agent"], "a");
        assert_eq!(first["chain"], serde_json::json!(["director"]));
        let verified = verify(std::fs::read(&path).unwrap().as_slice()).unwrap();
        assert_eq!(verified.lines, 3);
        assert_eq!(verified.last_seq, 3);
        let last: serde_json::Value = serde_json::from_str(&lines[2]).unwrap();
        assert_eq!(verified.head, last["hash"]);
    }

    #[test]
    fn a_host_of_a_cluster_is_named_in_its_lines_and_the_log_still_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        log.record(record("a"));
        log.flush().unwrap();
        log.name_host("h1");
        log.record(record("b"));
        log.flush().unwrap();
        let lines = lines_of(&path);
        let fields: Vec<serde_json::Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(fields[0].get("host"), None);
        assert_eq!(fields[1]["host"], "h1");
        assert!(lines[1].starts_with(r#"{"seq":2,"time":"#), "{}", lines[1]);
        assert_eq!(
            verify(std::fs::read(&path).unwrap().as_slice())
                .unwrap()
                .lines,
            2
        );
    }

    #[test]
    fn edits_removals_and_reordering_are_named_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        write_log(&path, &["a", "b", "c", "d"]);
        let lines = lines_of(&path);

        let mut edited = lines.clone();
        edited[1] = edited[1].replace("\"fuel\":345", "\"fuel\":1");
        assert_eq!(
            problems(&edited),
            [Problem {
                line: 2,
                what: "was edited: its hash does not match its content".into()
            }]
        );

        let mut removed = lines.clone();
        removed.remove(2);
        let found = problems(&removed);
        assert_eq!(found[0].line, 3, "{found:?}");
        assert!(
            found[0].what.contains("does not follow line 2"),
            "{found:?}"
        );

        let mut swapped = lines.clone();
        swapped.swap(1, 2);
        let found = problems(&swapped);
        assert_eq!(found[0].line, 2, "{found:?}");

        let head_cut = lines[1..].to_vec();
        assert!(problems(&head_cut)[0].what.contains("not the first line"));

        let mut torn = lines.clone();
        torn[3].truncate(40);
        assert!(problems(&torn)[0].what.contains("no `hash` field"));

        let mut unterminated = lines.join("\n");
        let found = verify(unterminated.as_bytes()).unwrap_err();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].what.contains("no newline at its end"), "{found:?}");
        assert_eq!(found[0].line, 4);
        // Opening repairs it, and appends on a line of its own.
        std::fs::write(&path, &unterminated).unwrap();
        write_log(&path, &["e"]);
        let verified = verify(std::fs::read(&path).unwrap().as_slice()).unwrap();
        assert_eq!(verified.lines, 5);
        // A torn last line is refused, not repaired.
        unterminated.truncate(unterminated.len() - 10);
        std::fs::write(&path, &unterminated).unwrap();
        let error = AuditLog::open(&path).err().expect("a torn log is refused");
        assert!(
            error.to_string().contains("line 4: has no `hash`"),
            "{error}"
        );

        std::fs::write(&path, edited.join("\n") + "\n").unwrap();
        let error = AuditLog::open(&path)
            .err()
            .expect("a broken log is refused");
        assert!(error.to_string().contains("line 2: was edited"), "{error}");
    }
}
