//! The commit thread: it takes every commit waiting for it into one durable redb write transaction
//! (group commit), checking each call's writes (compare-and-swap expectations, quota) and applying
//! them all or nothing.

use std::path::Path;
use std::sync::mpsc;

use redb::{Database, ReadableTable, Table};
use tandem_manifest::Quota;

use super::usage::{check_quota, entry_size, growth};
use super::{Changes, ENTRIES, StateError, USAGE};

/// Commits taken into one write transaction at most.
const MAX_BATCH: usize = 256;

/// One call's writes on their way to the commit thread.
pub(super) struct Commit {
    pub(super) agent: String,
    pub(super) changes: Changes,
    pub(super) quota: Quota,
    pub(super) reply: tokio::sync::oneshot::Sender<Result<(), StateError>>,
}

/// The commit thread: batches waiting commits into one durable write transaction.
pub(super) fn commit_loop(db: &Database, path: &Path, queue: &mpsc::Receiver<Commit>) {
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
pub(super) fn commit_batch(
    db: &Database,
    batch: &[Commit],
) -> Result<Vec<Result<(), StateError>>, String> {
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
pub(super) fn apply(
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
