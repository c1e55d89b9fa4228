//! [`StateStore`]: the redb file, its reads (through the call's snapshot and writes), its writes
//! (checked against the quota as they are made) and the commit of a call's writes.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};

use redb::{ConcurrencyMode, Database, DatabaseError, ReadableDatabase, ReadableTable};
use tandem_manifest::Quota;

use super::error::store_error;
use super::snapshot::View;
use super::usage::{check_quota, entry_size, growth};
use super::writer::{Commit, commit_loop};
use super::{Changes, ENTRIES, Snapshot, StateError, USAGE, Usage, check_key};

const THREAD_STOPPED: &str = "the commit thread stopped";

/// redb's page cache: enough for the hot part of every agent's state.
const CACHE_BYTES: usize = 32 << 20;

/// The state store: one redb file.
pub struct StateStore {
    pub(super) db: Arc<Database>,
    pub(super) path: PathBuf,
    pub(super) commits: mpsc::Sender<Commit>,
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

    pub(super) fn error(&self, e: impl Display) -> StateError {
        store_error(&self.path, e)
    }

    /// A consistent view of what is committed now.
    pub fn snapshot(&self) -> Result<Snapshot, StateError> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        Ok(Snapshot {
            view: View::Local {
                entries: txn.open_table(ENTRIES).map_err(|e| self.error(e))?,
                usage: txn.open_table(USAGE).map_err(|e| self.error(e))?,
                path: self.path.clone(),
            },
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
    pub(super) fn send(
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
