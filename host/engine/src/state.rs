//! Durable per-agent state: [`StateStore`], the redb file under the host's data directory that holds
//! every agent's key-value namespace; [`Changes`], the writes of one call, kept together when the call
//! succeeds; and [`StateAccess`], which opens the store the first time it is needed.
//!
//! Layout: table `entries` maps (agent id, key) to the value's bytes; table `usage` maps an agent id
//! to its (keys, bytes), kept in step by every commit so that quota checks need no scan. An entry's
//! size is its key's length plus its value's.
//!
//! Commits go through one thread that takes every commit waiting for it into one redb write
//! transaction (group commit): each call's writes are checked (compare-and-swap expectations, quota)
//! and applied all or nothing, and the batch is on disk (redb's `Immediate` durability: fsync) before
//! any of those calls returns. The file is opened in redb's multi-writer mode, so `tandem state` can
//! read and change it while a server runs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, mpsc};

use redb::{
    ConcurrencyMode, Database, DatabaseError, ReadOnlyTable, ReadableDatabase, ReadableTable,
    Table, TableDefinition,
};

use crate::error::ErrorKind;

pub mod export;

const ENTRIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("entries");
const USAGE: TableDefinition<&str, (u64, u64)> = TableDefinition::new("usage");

/// The longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// Commits taken into one write transaction at most.
const MAX_BATCH: usize = 256;

const THREAD_STOPPED: &str = "the commit thread stopped";

/// redb's page cache: enough for the hot part of every agent's state.
const CACHE_BYTES: usize = 32 << 20;

pub use tandem_manifest::Quota;

/// What one agent keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    /// Keys kept.
    pub keys: u64,
    /// Keys plus values, in bytes.
    pub bytes: u64,
}

/// Why a state operation or a call's commit failed.
// The fields are what each variant's message shows.
#[allow(missing_docs)]
#[derive(Debug, Clone, thiserror::Error)]
pub enum StateError {
    /// A key that is empty or too long.
    #[error("invalid state key: {0}")]
    InvalidKey(String),
    /// A write would take the agent past its quota.
    #[error("over the state quota: {what} would be {would_be}, the limit is {limit}")]
    QuotaExceeded {
        what: &'static str,
        would_be: u64,
        limit: u64,
    },
    /// A compare-and-swap found another value.
    #[error(
        "state key `{key}` was changed by another call after this call compared it; none of this \
         call's writes were kept"
    )]
    Conflict { key: String },
    /// The host keeps no state.
    #[error("this host keeps no state (it has no data directory)")]
    Disabled,
    /// The store failed.
    #[error("state store {}: {reason}", path.display())]
    Store { path: PathBuf, reason: String },
}

impl StateError {
    /// The class of the failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StateError::InvalidKey(_) => ErrorKind::InvalidInput,
            StateError::QuotaExceeded { .. } => ErrorKind::QuotaExceeded,
            StateError::Conflict { .. } => ErrorKind::Conflict,
            StateError::Disabled | StateError::Store { .. } => ErrorKind::Unavailable,
        }
    }
}

fn store_error(path: &Path, e: impl Display) -> StateError {
    StateError::Store {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Keys are 1 to [`MAX_KEY_BYTES`] bytes of UTF-8.
pub fn check_key(key: &str) -> Result<(), StateError> {
    if key.is_empty() {
        return Err(StateError::InvalidKey("the key is empty".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(StateError::InvalidKey(format!(
            "the key is {} bytes long, over the limit of {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    Ok(())
}

fn entry_size(key: &str, value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64
}

/// What replacing an entry of size `old` with one of size `new` (`None`: no entry) adds to an
/// agent's keys and bytes.
fn growth(old: Option<u64>, new: Option<u64>) -> (i64, i64) {
    (
        i64::from(new.is_some()) - i64::from(old.is_some()),
        new.unwrap_or(0) as i64 - old.unwrap_or(0) as i64,
    )
}

/// A write a call has made but not committed.
#[derive(Debug)]
struct Pending {
    /// The new value; `None` deletes the key.
    value: Option<Vec<u8>>,
    /// The size of the key's committed entry when the call first wrote it.
    committed_size: Option<u64>,
}

/// A read-only view of the committed state at one moment (a redb read transaction).
pub struct Snapshot {
    entries: ReadOnlyTable<(&'static str, &'static str), &'static [u8]>,
    usage: ReadOnlyTable<&'static str, (u64, u64)>,
    path: PathBuf,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").finish_non_exhaustive()
    }
}

impl Snapshot {
    fn error(&self, e: impl Display) -> StateError {
        store_error(&self.path, e)
    }

    fn get(&self, agent: &str, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        let value = self.entries.get((agent, key)).map_err(|e| self.error(e))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    fn usage(&self, agent: &str) -> Result<Usage, StateError> {
        let usage = self.usage.get(agent).map_err(|e| self.error(e))?;
        Ok(usage.map_or(Usage::default(), |u| {
            let (keys, bytes) = u.value();
            Usage { keys, bytes }
        }))
    }

    fn scan<T>(
        &self,
        agent: &str,
        prefix: &str,
        mut each: impl FnMut(&str, &[u8]) -> T,
    ) -> Result<Vec<T>, StateError> {
        let mut found = Vec::new();
        let range = self
            .entries
            .range((agent, prefix)..)
            .map_err(|e| self.error(e))?;
        for entry in range {
            let (key, value) = entry.map_err(|e| self.error(e))?;
            let (owner, key) = key.value();
            if owner != agent || !key.starts_with(prefix) {
                break;
            }
            found.push(each(key, value.value()));
        }
        Ok(found)
    }
}

/// The writes of one call: read back by the call itself, committed together when it succeeds.
/// The call reads the committed state from one snapshot, taken at its first state operation.
#[derive(Debug, Default)]
pub struct Changes {
    /// Boxed: a call that touches no state moves this struct around and should move little.
    snapshot: Option<Box<Snapshot>>,
    writes: BTreeMap<String, Pending>,
    /// For keys the call compared (compare-and-swap) against their committed value: that value.
    /// The commit fails with [`StateError::Conflict`] when one changed meanwhile.
    expected: BTreeMap<String, Option<Vec<u8>>>,
    /// What the writes add to the agent's committed keys and bytes.
    delta_keys: i64,
    delta_bytes: i64,
    /// A write of this call refused over quota, if any.
    refused: Option<StateError>,
}

impl Changes {
    /// Whether the call wrote nothing.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Whether the call did anything with state at all.
    fn touched(&self) -> bool {
        self.snapshot.is_some() || !self.writes.is_empty() || self.refused.is_some()
    }

    /// Forgets everything (and lets go of the snapshot): for the next call on the same instance.
    pub fn clear(&mut self) {
        if self.touched() {
            *self = Changes::default();
        }
    }

    /// Takes what the call did, leaving nothing behind; `None` when it did nothing with state.
    pub fn take(&mut self) -> Option<Changes> {
        self.touched().then(|| std::mem::take(self))
    }

    /// The call's snapshot of the committed state, taken now if it has none yet.
    fn snapshot(&mut self, store: &StateStore) -> Result<&Snapshot, StateError> {
        if self.snapshot.is_none() {
            self.snapshot = Some(Box::new(store.snapshot()?));
        }
        Ok(self.snapshot.as_ref().expect("just set"))
    }

    /// The quota refusal a write of this call got, if any.
    pub fn refused(&self) -> Option<&StateError> {
        self.refused.as_ref()
    }

    /// The size of `key`'s entry as the call sees it, if it exists.
    fn pending_size(&self, key: &str) -> Option<Option<u64>> {
        self.writes
            .get(key)
            .map(|p| p.value.as_deref().map(|v| entry_size(key, v)))
    }

    /// Records a write whose `growth` over what the call saw before was already worked out.
    fn record(
        &mut self,
        key: &str,
        value: Option<Vec<u8>>,
        committed_size: Option<u64>,
        (keys, bytes): (i64, i64),
    ) {
        self.delta_keys += keys;
        self.delta_bytes += bytes;
        self.writes.insert(
            key.to_string(),
            Pending {
                value,
                committed_size,
            },
        );
    }
}

/// One call's writes on their way to the commit thread.
struct Commit {
    agent: String,
    changes: Changes,
    quota: Quota,
    reply: tokio::sync::oneshot::Sender<Result<(), StateError>>,
}

/// The state store: one redb file.
pub struct StateStore {
    db: Arc<Database>,
    path: PathBuf,
    commits: mpsc::Sender<Commit>,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl StateStore {
    /// Opens the store at `path`, creating it (and its directory) if needed, and starts its commit
    /// thread.
    pub fn open(path: &Path) -> Result<StateStore, StateError> {
        let fail = |reason: String| StateError::Store {
            path: path.to_path_buf(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
        }
        let db = Database::builder()
            .set_concurrency_mode(ConcurrencyMode::MultiWriter)
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| {
                fail(match e {
                    DatabaseError::DatabaseAlreadyOpen => {
                        "another process holds it exclusively".to_string()
                    }
                    DatabaseError::LockProtocolMismatch => {
                        "another process with an incompatible version of redb has it open"
                            .to_string()
                    }
                    e => format!("cannot open: {e}"),
                })
            })?;
        let txn = db.begin_write().map_err(|e| fail(e.to_string()))?;
        txn.open_table(ENTRIES).map_err(|e| fail(e.to_string()))?;
        txn.open_table(USAGE).map_err(|e| fail(e.to_string()))?;
        txn.commit().map_err(|e| fail(e.to_string()))?;
        let db = Arc::new(db);
        let (commits, queue) = mpsc::channel();
        let (thread_db, thread_path) = (db.clone(), path.to_path_buf());
        std::thread::Builder::new()
            .name("tandem-state-commit".into())
            .spawn(move || commit_loop(&thread_db, &thread_path, &queue))
            .map_err(|e| fail(format!("cannot start the commit thread: {e}")))?;
        Ok(StateStore {
            db,
            path: path.to_path_buf(),
            commits,
        })
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, e: impl Display) -> StateError {
        store_error(&self.path, e)
    }

    /// A consistent view of what is committed now.
    pub fn snapshot(&self) -> Result<Snapshot, StateError> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        Ok(Snapshot {
            entries: txn.open_table(ENTRIES).map_err(|e| self.error(e))?,
            usage: txn.open_table(USAGE).map_err(|e| self.error(e))?,
            path: self.path.clone(),
        })
    }

    /// The committed value of `agent`'s `key`.
    pub fn get(&self, agent: &str, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        self.snapshot()?.get(agent, key)
    }

    /// `agent`'s committed entries whose keys start with `prefix`, in key order.
    pub fn entries(&self, agent: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StateError> {
        self.snapshot()?.scan(agent, prefix, |key, value| {
            (key.to_string(), value.to_vec())
        })
    }

    /// `agent`'s committed keys that start with `prefix`, in order, with their values' sizes.
    pub fn keys(&self, agent: &str, prefix: &str) -> Result<Vec<(String, usize)>, StateError> {
        self.snapshot()?
            .scan(agent, prefix, |key, value| (key.to_string(), value.len()))
    }

    /// What `agent` keeps.
    pub fn usage(&self, agent: &str) -> Result<Usage, StateError> {
        self.snapshot()?.usage(agent)
    }

    /// Every agent that keeps state, with what it keeps, by id.
    pub fn agents(&self) -> Result<Vec<(String, Usage)>, StateError> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let table = txn.open_table(USAGE).map_err(|e| self.error(e))?;
        let mut agents = Vec::new();
        for entry in table.iter().map_err(|e| self.error(e))? {
            let (agent, usage) = entry.map_err(|e| self.error(e))?;
            let (keys, bytes) = usage.value();
            if keys > 0 {
                agents.push((agent.value().to_string(), Usage { keys, bytes }));
            }
        }
        Ok(agents)
    }

    /// What a call sees under `key`: its own write if it made one, else the committed value.
    pub fn read(
        &self,
        agent: &str,
        changes: &mut Changes,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StateError> {
        check_key(key)?;
        match changes.writes.get(key) {
            Some(pending) => Ok(pending.value.clone()),
            None => changes.snapshot(self)?.get(agent, key),
        }
    }

    /// Records a call's write of `key` (`None` deletes it) and returns whether the key existed. A
    /// write that adds keys or bytes past `quota` is refused, remembered in `changes`, and changes
    /// nothing.
    pub fn write(
        &self,
        agent: &str,
        changes: &mut Changes,
        quota: Quota,
        key: &str,
        value: Option<Vec<u8>>,
    ) -> Result<bool, StateError> {
        check_key(key)?;
        let committed_size = match changes.writes.get(key) {
            Some(pending) => pending.committed_size,
            None => changes
                .snapshot(self)?
                .get(agent, key)?
                .map(|value| entry_size(key, &value)),
        };
        let old_size = changes.pending_size(key).unwrap_or(committed_size);
        let new_size = value.as_deref().map(|v| entry_size(key, v));
        let (more_keys, more_bytes) = growth(old_size, new_size);
        if more_keys > 0 || more_bytes > 0 {
            let usage = changes.snapshot(self)?.usage(agent)?;
            let keys = usage.keys as i64 + changes.delta_keys + more_keys;
            let bytes = usage.bytes as i64 + changes.delta_bytes + more_bytes;
            if let Err(refusal) = check_quota(quota, more_keys > 0, keys, more_bytes > 0, bytes) {
                changes.refused = Some(refusal.clone());
                return Err(refusal);
            }
        }
        changes.record(key, value, committed_size, (more_keys, more_bytes));
        Ok(old_size.is_some())
    }

    /// Compare-and-swap within a call: when `key` holds `expected` (`None`: absent), writes `new`
    /// and returns true. The comparison is checked again when the call commits.
    pub fn compare_and_swap(
        &self,
        agent: &str,
        changes: &mut Changes,
        quota: Quota,
        key: &str,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    ) -> Result<bool, StateError> {
        let seen_committed = !changes.writes.contains_key(key);
        if self.read(agent, changes, key)? != expected {
            return Ok(false);
        }
        self.write(agent, changes, quota, key, new)?;
        if seen_committed {
            changes.expected.entry(key.to_string()).or_insert(expected);
        }
        Ok(true)
    }

    /// The keys a call sees that start with `prefix`: the committed ones with its own writes laid
    /// over them.
    pub fn list(
        &self,
        agent: &str,
        changes: &mut Changes,
        prefix: &str,
    ) -> Result<Vec<String>, StateError> {
        let committed = changes
            .snapshot(self)?
            .scan(agent, prefix, |key, _| key.to_string())?;
        if changes.writes.is_empty() {
            return Ok(committed);
        }
        let mut keys: BTreeSet<String> = committed.into_iter().collect();
        for (key, pending) in changes.writes.range(prefix.to_string()..) {
            if !key.starts_with(prefix) {
                break;
            }
            if pending.value.is_some() {
                keys.insert(key.clone());
            } else {
                keys.remove(key);
            }
        }
        Ok(keys.into_iter().collect())
    }

    /// Commits a call's writes, all or nothing, durably; returns once they are on disk.
    pub async fn commit(
        &self,
        agent: &str,
        changes: Changes,
        quota: Quota,
    ) -> Result<(), StateError> {
        let answer = self.send(agent, changes, quota)?;
        answer.await.map_err(|_| self.error(THREAD_STOPPED))?
    }

    /// [`commit`](StateStore::commit) for code that runs outside an async runtime.
    pub fn commit_blocking(
        &self,
        agent: &str,
        changes: Changes,
        quota: Quota,
    ) -> Result<(), StateError> {
        let answer = self.send(agent, changes, quota)?;
        answer
            .blocking_recv()
            .map_err(|_| self.error(THREAD_STOPPED))?
    }

    /// Hands a commit to the commit thread; the answer comes on the returned channel.
    fn send(
        &self,
        agent: &str,
        changes: Changes,
        quota: Quota,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<(), StateError>>, StateError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let commit = Commit {
            agent: agent.to_string(),
            changes,
            quota,
            reply,
        };
        self.commits
            .send(commit)
            .map_err(|_| self.error(THREAD_STOPPED))?;
        Ok(answer)
    }

    /// Replaces (`replace`) or adds to `agent`'s entries with `entries`, in one transaction,
    /// without a quota: for operators.
    pub async fn import(
        &self,
        agent: &str,
        entries: Vec<(String, Vec<u8>)>,
        replace: bool,
    ) -> Result<(), StateError> {
        let mut changes = Changes::default();
        if replace {
            for (key, _) in self.keys(agent, "")? {
                self.write(agent, &mut changes, Quota::UNLIMITED, &key, None)?;
            }
        }
        for (key, value) in entries {
            self.write(agent, &mut changes, Quota::UNLIMITED, &key, Some(value))?;
        }
        self.commit(agent, changes, Quota::UNLIMITED).await
    }
}

/// Refuses a change that adds keys (`adds_keys`) or bytes (`adds_bytes`) when the agent would then
/// keep more than its quota.
fn check_quota(
    quota: Quota,
    adds_keys: bool,
    keys: i64,
    adds_bytes: bool,
    bytes: i64,
) -> Result<(), StateError> {
    if adds_keys && keys > 0 && keys as u64 > quota.max_keys {
        return Err(StateError::QuotaExceeded {
            what: "keys",
            would_be: keys as u64,
            limit: quota.max_keys,
        });
    }
    if adds_bytes && bytes > 0 && bytes as u64 > quota.max_bytes {
        return Err(StateError::QuotaExceeded {
            what: "bytes",
            would_be: bytes as u64,
            limit: quota.max_bytes,
        });
    }
    Ok(())
}

/// The commit thread: batches waiting commits into one durable write transaction.
fn commit_loop(db: &Database, path: &Path, queue: &mpsc::Receiver<Commit>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(commit) => batch.push(commit),
                Err(_) => break,
            }
        }
        match commit_batch(db, &batch) {
            Ok(outcomes) => {
                for (commit, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = commit.reply.send(outcome);
                }
            }
            Err(reason) => {
                tracing::error!(path = %path.display(), reason, "state commit failed");
                for commit in batch {
                    let _ = commit.reply.send(Err(StateError::Store {
                        path: path.to_path_buf(),
                        reason: format!("commit failed: {reason}"),
                    }));
                }
            }
        }
    }
}

/// Applies each commit of `batch` that passes its checks, then commits them all. The outer error
/// (storage) fails the whole batch; the inner ones are each commit's own.
fn commit_batch(db: &Database, batch: &[Commit]) -> Result<Vec<Result<(), StateError>>, String> {
    let txn = db.begin_write().map_err(|e| e.to_string())?;
    let mut outcomes = Vec::with_capacity(batch.len());
    {
        let mut entries = txn.open_table(ENTRIES).map_err(|e| e.to_string())?;
        let mut usage = txn.open_table(USAGE).map_err(|e| e.to_string())?;
        for commit in batch {
            outcomes.push(apply(&mut entries, &mut usage, commit)?);
        }
    }
    txn.commit().map_err(|e| e.to_string())?;
    Ok(outcomes)
}

/// Checks one call's writes against the store as it is now and applies them if they pass.
fn apply(
    entries: &mut Table<(&str, &str), &[u8]>,
    usage: &mut Table<&str, (u64, u64)>,
    commit: &Commit,
) -> Result<Result<(), StateError>, String> {
    let agent = commit.agent.as_str();
    let size_of = |entries: &Table<(&str, &str), &[u8]>, key: &str| {
        entries
            .get((agent, key))
            .map(|v| v.map(|v| entry_size(key, v.value())))
            .map_err(|e| e.to_string())
    };
    for (key, expected) in &commit.changes.expected {
        let current = entries
            .get((agent, key.as_str()))
            .map_err(|e| e.to_string())?
            .map(|v| v.value().to_vec());
        if current != *expected {
            return Ok(Err(StateError::Conflict { key: key.clone() }));
        }
    }
    let (old_keys, old_bytes) = usage
        .get(agent)
        .map_err(|e| e.to_string())?
        .map_or((0, 0), |u| u.value());
    let (mut keys, mut bytes) = (old_keys as i64, old_bytes as i64);
    for (key, pending) in &commit.changes.writes {
        let old = size_of(entries, key)?;
        let new = pending.value.as_deref().map(|v| entry_size(key, v));
        let (more_keys, more_bytes) = growth(old, new);
        keys += more_keys;
        bytes += more_bytes;
    }
    let adds_keys = keys > old_keys as i64;
    let adds_bytes = bytes > old_bytes as i64;
    if let Err(refusal) = check_quota(commit.quota, adds_keys, keys, adds_bytes, bytes) {
        return Ok(Err(refusal));
    }
    for (key, pending) in &commit.changes.writes {
        match &pending.value {
            Some(value) => {
                entries
                    .insert((agent, key.as_str()), value.as_slice())
                    .map_err(|e| e.to_string())?;
            }
            None => {
                entries
                    .remove((agent, key.as_str()))
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    let (keys, bytes) = (keys.max(0) as u64, bytes.max(0) as u64);
    if keys == 0 {
        usage.remove(agent).map_err(|e| e.to_string())?;
    } else {
        usage
            .insert(agent, (keys, bytes))
            .map_err(|e| e.to_string())?;
    }
    Ok(Ok(()))
}

/// The state store of a host, opened the first time a call or command needs it, so that a host whose
/// agents keep no state never touches the file.
#[derive(Debug)]
pub struct StateAccess {
    file: Option<PathBuf>,
    store: OnceLock<StateStore>,
    opening: Mutex<()>,
}

impl StateAccess {
    /// Access to the store at `file`; `None` keeps no state (every state operation is refused as
    /// [`StateError::Disabled`]).
    pub fn new(file: Option<PathBuf>) -> StateAccess {
        StateAccess {
            file,
            store: OnceLock::new(),
            opening: Mutex::new(()),
        }
    }

    /// The store file, if the host keeps state.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The store, opened now if it was not yet (an open that fails is tried again next time).
    pub fn store(&self) -> Result<&StateStore, StateError> {
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        let file = self.file.as_deref().ok_or(StateError::Disabled)?;
        let _opening = self.opening.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        let store = StateStore::open(file)?;
        Ok(self.store.get_or_init(|| store))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, StateStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(&dir.path().join("state.redb")).unwrap();
        (dir, store)
    }

    fn set(store: &StateStore, agent: &str, pairs: &[(&str, &str)]) -> Result<(), StateError> {
        let mut changes = Changes::default();
        for (key, value) in pairs {
            store.write(
                agent,
                &mut changes,
                Quota::default(),
                key,
                Some(value.as_bytes().to_vec()),
            )?;
        }
        store.commit_blocking(agent, changes, Quota::default())
    }

    #[test]
    fn a_call_reads_its_own_writes_and_commits_them_together() {
        let (_dir, store) = store();
        set(&store, "a", &[("x", "1"), ("y", "22")]).unwrap();
        let mut changes = Changes::default();
        let quota = Quota::default();
        store
            .write("a", &mut changes, quota, "x", Some(b"333".to_vec()))
            .unwrap();
        assert!(store.write("a", &mut changes, quota, "y", None).unwrap());
        store
            .write("a", &mut changes, quota, "z", Some(b"4".to_vec()))
            .unwrap();
        assert_eq!(
            store.read("a", &mut changes, "x").unwrap(),
            Some(b"333".to_vec())
        );
        assert_eq!(store.read("a", &mut changes, "y").unwrap(), None);
        assert_eq!(store.list("a", &mut changes, "").unwrap(), ["x", "z"]);
        // Nothing is visible outside the call until it commits.
        assert_eq!(store.get("a", "x").unwrap(), Some(b"1".to_vec()));
        store.commit_blocking("a", changes, quota).unwrap();
        assert_eq!(
            store.entries("a", "").unwrap(),
            [("x".into(), b"333".to_vec()), ("z".into(), b"4".to_vec())]
        );
        assert_eq!(store.usage("a").unwrap(), Usage { keys: 2, bytes: 6 });
    }

    #[test]
    fn namespaces_and_prefixes_do_not_leak() {
        let (_dir, store) = store();
        set(&store, "a", &[("k", "a's")]).unwrap();
        set(&store, "ab", &[("k", "ab's"), ("kk", "2"), ("l", "3")]).unwrap();
        assert_eq!(store.get("a", "k").unwrap(), Some(b"a's".to_vec()));
        assert_eq!(store.keys("a", "").unwrap(), [("k".to_string(), 3)]);
        let mut changes = Changes::default();
        assert_eq!(store.list("ab", &mut changes, "k").unwrap(), ["k", "kk"]);
        assert_eq!(
            store.list("b", &mut changes, "").unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            store.agents().unwrap(),
            [
                ("a".to_string(), Usage { keys: 1, bytes: 4 }),
                ("ab".to_string(), Usage { keys: 3, bytes: 10 })
            ]
        );
    }

    #[test]
    fn quota_refuses_growth_but_allows_shrinking() {
        let (_dir, store) = store();
        let quota = Quota {
            max_keys: 2,
            max_bytes: 10,
        };
        let mut changes = Changes::default();
        store
            .write("a", &mut changes, quota, "k1", Some(b"1234".to_vec()))
            .unwrap();
        store
            .write("a", &mut changes, quota, "k2", Some(b"1".to_vec()))
            .unwrap();
        let refused = store
            .write("a", &mut changes, quota, "k3", Some(b"1".to_vec()))
            .unwrap_err();
        assert!(
            matches!(
                refused,
                StateError::QuotaExceeded {
                    what: "keys",
                    would_be: 3,
                    limit: 2
                }
            ),
            "{refused}"
        );
        let refused = store
            .write("a", &mut changes, quota, "k2", Some(b"12345".to_vec()))
            .unwrap_err();
        assert!(
            matches!(
                refused,
                StateError::QuotaExceeded {
                    what: "bytes",
                    would_be: 13,
                    limit: 10
                }
            ),
            "{refused}"
        );
        assert!(changes.refused().is_some());
        // The refused writes changed nothing; a smaller value still fits.
        assert_eq!(
            store.read("a", &mut changes, "k2").unwrap(),
            Some(b"1".to_vec())
        );
        store
            .write("a", &mut changes, quota, "k1", Some(b"12".to_vec()))
            .unwrap();
        store.commit_blocking("a", changes, quota).unwrap();
        assert_eq!(store.usage("a").unwrap(), Usage { keys: 2, bytes: 7 });
    }

    #[test]
    fn the_commit_checks_the_quota_against_other_calls_commits() {
        let (_dir, store) = store();
        let quota = Quota {
            max_keys: 1,
            max_bytes: 100,
        };
        let (mut first, mut second) = (Changes::default(), Changes::default());
        store
            .write("a", &mut first, quota, "x", Some(b"1".to_vec()))
            .unwrap();
        store
            .write("a", &mut second, quota, "y", Some(b"2".to_vec()))
            .unwrap();
        store.commit_blocking("a", first, quota).unwrap();
        let refused = store.commit_blocking("a", second, quota).unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::QuotaExceeded, "{refused}");
        assert_eq!(store.keys("a", "").unwrap(), [("x".to_string(), 1)]);
    }

    #[test]
    fn compare_and_swap_conflicts_with_a_commit_in_between() {
        let (_dir, store) = store();
        set(&store, "a", &[("n", "1")]).unwrap();
        let quota = Quota::default();
        let mut changes = Changes::default();
        assert!(
            !store
                .compare_and_swap(
                    "a",
                    &mut changes,
                    quota,
                    "n",
                    Some(b"0".to_vec()),
                    Some(b"9".to_vec())
                )
                .unwrap()
        );
        assert!(changes.is_empty());
        assert!(
            store
                .compare_and_swap(
                    "a",
                    &mut changes,
                    quota,
                    "n",
                    Some(b"1".to_vec()),
                    Some(b"2".to_vec())
                )
                .unwrap()
        );
        store
            .write("a", &mut changes, quota, "other", Some(b"x".to_vec()))
            .unwrap();
        set(&store, "a", &[("n", "5")]).unwrap();
        let conflict = store.commit_blocking("a", changes, quota).unwrap_err();
        assert!(
            matches!(&conflict, StateError::Conflict { key } if key == "n"),
            "{conflict}"
        );
        assert_eq!(conflict.kind(), ErrorKind::Conflict);
        // None of the call's writes were kept.
        assert_eq!(store.get("a", "n").unwrap(), Some(b"5".to_vec()));
        assert_eq!(store.get("a", "other").unwrap(), None);
    }

    #[test]
    fn import_replaces_or_merges_and_keys_are_checked() {
        let (_dir, store) = store();
        set(&store, "a", &[("old", "1"), ("kept", "2")]).unwrap();
        let import = |entries, replace| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(store.import("a", entries, replace))
        };
        import(vec![("new".into(), b"3".to_vec())], false).unwrap();
        assert_eq!(store.keys("a", "").unwrap().len(), 3);
        import(vec![("new".into(), b"4".to_vec())], true).unwrap();
        assert_eq!(
            store.entries("a", "").unwrap(),
            [("new".into(), b"4".to_vec())]
        );
        assert_eq!(store.usage("a").unwrap(), Usage { keys: 1, bytes: 4 });
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        assert!(matches!(check_key(""), Err(StateError::InvalidKey(_))));
        assert!(matches!(check_key(&long), Err(StateError::InvalidKey(_))));
    }

    #[test]
    fn a_second_handle_sees_commits_and_the_data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/state.redb");
        let first = StateStore::open(&path).unwrap();
        let second = StateStore::open(&path).unwrap();
        set(&first, "a", &[("k", "v")]).unwrap();
        assert_eq!(second.get("a", "k").unwrap(), Some(b"v".to_vec()));
        drop((first, second));
        let reopened = StateStore::open(&path).unwrap();
        assert_eq!(reopened.get("a", "k").unwrap(), Some(b"v".to_vec()));
        let access = StateAccess::new(None);
        assert!(matches!(access.store(), Err(StateError::Disabled)));
    }
}
