//! [`Snapshot`]: a read-only view of the committed state at one moment: a redb read transaction of
//! the host's file, or an agent's namespace as the cluster's shared state held it (see `shared`).

use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::PathBuf;

use redb::ReadOnlyTable;

use super::error::store_error;
use super::{StateError, Usage};

/// A read-only view of the committed state at one moment.
pub struct Snapshot {
    pub(super) view: View,
}

// A `Changes` keeps its snapshot boxed already: the variants' sizes cost no copies.
#[allow(clippy::large_enum_variant)]
pub(super) enum View {
    /// A redb read transaction of the host's file.
    Local {
        entries: ReadOnlyTable<(&'static str, &'static str), &'static [u8]>,
        usage: ReadOnlyTable<&'static str, (u64, u64)>,
        path: PathBuf,
    },
    /// One agent's namespace as read from the cluster, at `revision` (0: it had none).
    Shared {
        agent: String,
        revision: u64,
        entries: BTreeMap<String, Vec<u8>>,
        usage: Usage,
    },
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").finish_non_exhaustive()
    }
}

impl Snapshot {
    /// `agent`'s namespace as the cluster's shared state holds it at `revision` (0: none yet).
    pub fn shared(agent: &str, revision: u64, entries: BTreeMap<String, Vec<u8>>) -> Snapshot {
        let usage = Usage::of(&entries);
        Snapshot {
            view: View::Shared {
                agent: agent.to_string(),
                revision,
                entries,
                usage,
            },
        }
    }

    fn error(&self, e: impl Display) -> StateError {
        match &self.view {
            View::Local { path, .. } => store_error(path, e),
            View::Shared { .. } => store_error(std::path::Path::new(super::SHARED), e),
        }
    }

    /// A shared snapshot holds one agent's namespace: reading another's is a host bug.
    fn check_agent(&self, wanted: &str) -> Result<(), StateError> {
        match &self.view {
            View::Shared { agent, .. } if agent != wanted => Err(self.error(format!(
                "a snapshot of `{agent}`'s state was asked for `{wanted}`'s"
            ))),
            _ => Ok(()),
        }
    }

    pub(super) fn get(&self, agent: &str, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        self.check_agent(agent)?;
        match &self.view {
            View::Local { entries, .. } => {
                let value = entries.get((agent, key)).map_err(|e| self.error(e))?;
                Ok(value.map(|v| v.value().to_vec()))
            }
            View::Shared { entries, .. } => Ok(entries.get(key).cloned()),
        }
    }

    pub(super) fn usage(&self, agent: &str) -> Result<Usage, StateError> {
        self.check_agent(agent)?;
        match &self.view {
            View::Local { usage, .. } => {
                let usage = usage.get(agent).map_err(|e| self.error(e))?;
                Ok(usage.map_or(Usage::default(), |u| {
                    let (keys, bytes) = u.value();
                    Usage { keys, bytes }
                }))
            }
            View::Shared { usage, .. } => Ok(*usage),
        }
    }

    pub(super) fn scan<T>(
        &self,
        agent: &str,
        prefix: &str,
        mut each: impl FnMut(&str, &[u8]) -> T,
    ) -> Result<Vec<T>, StateError> {
        self.check_agent(agent)?;
        let mut found = Vec::new();
        match &self.view {
            View::Local { entries, .. } => {
                let range = entries
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
            }
            View::Shared { entries, .. } => {
                for (key, value) in entries.range(prefix.to_string()..) {
                    if !key.starts_with(prefix) {
                        break;
                    }
                    found.push(each(key, value));
                }
            }
        }
        Ok(found)
    }
}
