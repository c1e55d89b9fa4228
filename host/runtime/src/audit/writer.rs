//! Who writes the audit log's lines, and when: [`Writer`] holds the queue of recorded lines and the
//! [`Chain`] (the file and the hash chain so far).
//!
//! Lines are written by whoever waits for them. A caller of [`Writer::written`] (the server, before
//! it answers) that finds the chain free writes every queued line itself, in one `write(2)`, and
//! the callers waiting with it are done too; no thread is woken for it. Lines nobody waits for
//! (a trigger's calls, a denied hop inside a call) are written by a background thread, woken by the
//! first line recorded after it went idle, which then writes what is queued every [`LAG`] until
//! nothing is. So a busy server pays no thread hand-off per call, and an idle one no wake-ups at
//! all. The chain's lock is only ever tried from async code, never waited on. The slow part of a
//! rotation (syncing the full file to disk, deleting the oldest) is the background thread's too: a
//! caller that crosses the size limit only renames the file and opens the next.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::Thread;
use std::time::{Duration, SystemTime};

use super::rotation::{self, ChainPoint, Rotation};
use super::{AuditRecord, Line, verify::line_hash};

/// How long a line nobody waits for may stay queued before the background thread writes it.
pub(super) const LAG: Duration = Duration::from_millis(10);

/// The longest [`Writer::written`] waits (a log that cannot be written for this long is logged,
/// and the answer goes out without the wait).
const WRITTEN_WAIT: Duration = Duration::from_secs(10);

/// The queue, the chain, and how far writing has got.
pub(super) struct Writer {
    /// Lines recorded and not yet written, in order.
    queue: Mutex<Vec<(AuditRecord, SystemTime)>>,
    /// The file and the chain; whoever holds it writes.
    chain: Mutex<Chain>,
    /// Records queued so far (updated under the queue's lock, with the push).
    queued: AtomicU64,
    /// Records handed to the OS (or failed to be) so far.
    written: AtomicU64,
    advanced: tokio::sync::Notify,
    /// Set by the background thread before it parks with nothing queued; the next record wakes it.
    idle: AtomicBool,
    /// Set when the log is closed: the background thread ends (the closer flushes what is left).
    closed: AtomicBool,
    /// Set when a rotation left a file to sync and old files to delete.
    rotated: AtomicBool,
    thread: std::sync::OnceLock<Thread>,
}

impl Writer {
    /// Names `host` in every line written from now on.
    pub(super) fn name_host(&self, host: &str) {
        lock(&self.chain).host = Some(host.to_string());
    }

    pub(super) fn new(chain: Chain) -> Writer {
        Writer {
            queue: Mutex::new(Vec::new()),
            chain: Mutex::new(chain),
            queued: AtomicU64::new(0),
            written: AtomicU64::new(0),
            advanced: tokio::sync::Notify::new(),
            idle: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            rotated: AtomicBool::new(false),
            thread: std::sync::OnceLock::new(),
        }
    }

    /// Queues a line, waking the background thread when it is idle.
    pub(super) fn record(&self, record: AuditRecord, time: SystemTime) {
        {
            let mut queue = lock(&self.queue);
            queue.push((record, time));
            self.queued.fetch_add(1, Ordering::SeqCst);
        }
        // With `background`'s announce-then-check (SeqCst), either it sees this record queued or
        // this sees it idle and wakes it (an unpark before its park is not lost).
        if self.idle.load(Ordering::SeqCst)
            && self.idle.swap(false, Ordering::SeqCst)
            && let Some(thread) = self.thread.get()
        {
            thread.unpark();
        }
    }

    /// Waits until every line recorded so far has been handed to the OS, writing them itself when
    /// no one else is.
    pub(super) async fn written(&self, path: &std::path::Path) {
        let target = self.queued.load(Ordering::SeqCst);
        if self.written.load(Ordering::Acquire) >= target {
            return;
        }
        // Let the other tasks ready on this worker (other connections' calls) record their lines
        // first, so that one write takes them all.
        tokio::task::yield_now().await;
        let wait = async {
            loop {
                if self.written.load(Ordering::Acquire) >= target {
                    return;
                }
                if self.try_write() {
                    continue;
                }
                let advanced = self.advanced.notified();
                let mut advanced = std::pin::pin!(advanced);
                advanced.as_mut().enable();
                // The writer unlocks before it notifies: if it finished between the try above and
                // the `enable`, the chain is free now.
                if self.written.load(Ordering::Acquire) >= target || self.try_write() {
                    continue;
                }
                advanced.await;
            }
        };
        if tokio::time::timeout(WRITTEN_WAIT, wait).await.is_err() {
            tracing::error!(path = %path.display(), "the audit log fell {WRITTEN_WAIT:?} behind");
        }
    }

    /// Writes what is queued when the chain is free; whether it was.
    fn try_write(&self) -> bool {
        match self.chain.try_lock() {
            Ok(chain) => {
                self.write_queued(chain);
                true
            }
            Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                self.write_queued(poisoned.into_inner());
                true
            }
            Err(std::sync::TryLockError::WouldBlock) => false,
        }
    }

    /// Writes every queued line and hands them to the OS, then tells the waiters (after unlocking
    /// the chain, so that a waiter that missed the notice finds it free).
    fn write_queued(&self, mut chain: MutexGuard<'_, Chain>) {
        let records = std::mem::take(&mut *lock(&self.queue));
        if records.is_empty() {
            return;
        }
        for (record, time) in &records {
            chain.append(record, *time);
        }
        chain.hand_over();
        let rotated = !chain.retired.is_empty();
        self.written
            .fetch_add(records.len() as u64, Ordering::Release);
        drop(chain);
        self.advanced.notify_waiters();
        if rotated {
            self.rotated.store(true, Ordering::SeqCst);
            if let Some(thread) = self.thread.get() {
                thread.unpark();
            }
        }
    }

    /// Syncs the files rotations left behind and deletes rotated files past the number kept.
    fn finish_rotations(&self) -> std::io::Result<()> {
        let (retired, path, keep) = {
            let mut chain = lock(&self.chain);
            let retired = std::mem::take(&mut chain.retired);
            (retired, chain.path.clone(), chain.rotation.keep)
        };
        if retired.is_empty() {
            return Ok(());
        }
        for file in &retired {
            file.sync_data()?;
        }
        rotation::apply_retention(&path, keep)
    }

    /// Writes what is queued and syncs the file to disk, recording a checkpoint.
    pub(super) fn flush(&self) -> std::io::Result<()> {
        let chain = lock(&self.chain);
        self.write_queued(chain);
        self.finish_rotations()?;
        let mut chain = lock(&self.chain);
        chain.out.flush()?;
        chain.out.get_ref().sync_data()?;
        chain.checkpoint()
    }

    /// The background thread: writes the lines nobody waits for, within [`LAG`], until closed.
    pub(super) fn background(&self) {
        let _ = self.thread.set(std::thread::current());
        loop {
            if self.closed.load(Ordering::SeqCst) {
                return;
            }
            if self.rotated.swap(false, Ordering::SeqCst)
                && let Err(error) = self.finish_rotations()
            {
                tracing::error!(%error, "cannot sync or prune the audit log's rotated files");
            }
            if self.queued.load(Ordering::SeqCst) > self.written.load(Ordering::SeqCst) {
                // Give the callers that wait for these lines the chance to write them themselves.
                std::thread::park_timeout(LAG);
                self.write_queued(lock(&self.chain));
                continue;
            }
            self.idle.store(true, Ordering::SeqCst);
            if self.queued.load(Ordering::SeqCst) == self.written.load(Ordering::SeqCst)
                && !self.closed.load(Ordering::SeqCst)
                && !self.rotated.load(Ordering::SeqCst)
            {
                std::thread::park();
            }
            self.idle.store(false, Ordering::SeqCst);
        }
    }

    /// Ends the background thread; what is still queued is left to the caller's [`flush`].
    ///
    /// [`flush`]: Writer::flush
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.get() {
            thread.unpark();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The file and the chain so far.
pub(super) struct Chain {
    pub(super) out: BufWriter<File>,
    pub(super) path: PathBuf,
    pub(super) seq: u64,
    pub(super) head: String,
    pub(super) rotation: Rotation,
    /// Bytes in the active file.
    pub(super) size: u64,
    /// The seq of the active file's first line (its name once rotated).
    pub(super) first_seq: u64,
    /// Whether the last write failed (a run of failures is reported once).
    pub(super) failed: bool,
    /// Files rotated out and not yet synced to disk (the background thread syncs them).
    pub(super) retired: Vec<File>,
    /// The host named in every line (one of a cluster).
    pub(super) host: Option<String>,
}

impl Chain {
    /// Appends one line (to the buffer; [`hand_over`](Chain::hand_over) writes it).
    fn append(&mut self, record: &AuditRecord, time: SystemTime) {
        if let Err(e) = self.try_append(record, time) {
            self.report(e);
        }
    }

    fn try_append(&mut self, record: &AuditRecord, time: SystemTime) -> std::io::Result<()> {
        let line = Line {
            seq: self.seq + 1,
            time: humantime::format_rfc3339_micros(time).to_string(),
            host: self.host.as_deref(),
            record,
            prev: &self.head,
        };
        let text = serde_json::to_string(&line).map_err(std::io::Error::other)?;
        let body = text.strip_suffix('}').unwrap_or(&text);
        let hash = line_hash(body);
        let line = format!("{body},\"hash\":\"{hash}\"}}\n");
        if self.size > 0 && self.size + line.len() as u64 > self.rotation.max_bytes {
            self.rotate()?;
        }
        self.out.write_all(line.as_bytes())?;
        self.size += line.len() as u64;
        self.seq += 1;
        self.head = hash;
        Ok(())
    }

    /// Hands the buffered lines to the OS (one `write(2)`): from then on they survive the process.
    fn hand_over(&mut self) {
        if let Err(e) = self.out.flush() {
            self.report(e);
        }
    }

    /// Renames the active file after its first line's seq, starts a new one that continues the
    /// chain and records a checkpoint at its start. The old file is left in `retired`, for the
    /// background thread to sync (and to delete rotated files past `keep`).
    fn rotate(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        std::fs::rename(
            &self.path,
            rotation::rotated_name(&self.path, self.first_seq),
        )?;
        let file = super::open_locked(&self.path).map_err(std::io::Error::other)?;
        let old = std::mem::replace(&mut self.out, BufWriter::with_capacity(64 * 1024, file));
        self.retired
            .push(old.into_inner().map_err(|e| e.into_error())?);
        self.size = 0;
        self.first_seq = self.seq + 1;
        self.checkpoint()
    }

    /// Records that the active file is good up to its current size.
    fn checkpoint(&mut self) -> std::io::Result<()> {
        rotation::write_checkpoint(
            &self.path,
            &rotation::Checkpoint {
                offset: self.size,
                point: ChainPoint {
                    head: self.head.clone(),
                    seq: self.seq,
                },
            },
        )
    }

    /// Logs a write failure once per run of failures.
    fn report(&mut self, error: std::io::Error) {
        if !self.failed {
            tracing::error!(path = %self.path.display(), %error, "cannot write the audit log");
        }
        self.failed = true;
    }
}
