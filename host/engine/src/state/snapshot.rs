//! [`Snapshot`]: a read-only view of the committed state at one moment (a redb read transaction).

use std::fmt::Display;
use std::path::PathBuf;

use redb::ReadOnlyTable;

use super::error::store_error;
use super::{StateError, Usage};

/// A read-only view of the committed state at one moment (a redb read transaction).
pub struct Snapshot {
    pub(super) entries: ReadOnlyTable<(&'static str, &'static str), &'static [u8]>,
    pub(super) usage: ReadOnlyTable<&'static str, (u64, u64)>,
    pub(super) path: PathBuf,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").finish_non_exhaustive()
    }
}

impl Snapshot {
    pub(super) fn error(&self, e: impl Display) -> StateError {
        store_error(&self.path, e)
    }

    pub(super) fn get(&self, agent: &str, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        let value = self.entries.get((agent, key)).map_err(|e| self.error(e))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    pub(super) fn usage(&self, agent: &str) -> Result<Usage, StateError> {
        let usage = self.usage.get(agent).map_err(|e| self.error(e))?;
        Ok(usage.map_or(Usage::default(), |u| {
            let (keys, bytes) = u.value();
            Usage { keys, bytes }
        }))
    }

    pub(super) fn scan<T>(
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
