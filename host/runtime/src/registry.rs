//! The loaded agents, keyed by agent id, and each agent's recent versions.
//!
//! Lookups are on every call's path, so readers never take a lock: they load the current map from an
//! [`ArcSwap`]. Writers (loading, swapping, rolling back, removing) are rare; they copy the map, change
//! the copy and publish it, one writer at a time. A swap is that one publish: a call that already
//! holds the old version finishes on it, every lookup after the publish gets the new one.
//!
//! Each id keeps its last [`MAX_HISTORY`] versions, the current one last, so that a rollback is a
//! publish of an agent that is already compiled and warm.
//!
//! Every change takes a `reported` callback that runs while the writer still holds the lock, so
//! that changes are reported (logged, audited) in the order in which they took effect.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use arc_swap::ArcSwap;

use crate::agent::Agent;
use crate::error::{CallError, LoadError};

type Agents = BTreeMap<String, Arc<Agent>>;

/// Versions kept per agent, the current one included.
pub const MAX_HISTORY: usize = 8;

/// One version of an agent as it entered the registry.
#[derive(Clone)]
pub struct Version {
    /// The agent version.
    pub agent: Arc<Agent>,
    /// Who or what put it there: `startup`, `api`, `watch`, ...
    pub by: String,
    /// When it became current.
    pub at: SystemTime,
}

/// Every id's versions, oldest first.
pub type Histories = BTreeMap<String, Vec<Version>>;

/// What is told of every change, with every id's versions after it (to save them).
pub type OnChange = Box<dyn Fn(&Histories) + Send + Sync>;

#[derive(Default)]
/// The loaded agents by id, each with its recent versions; reads take no lock.
pub struct Registry {
    agents: ArcSwap<Agents>,
    /// Every id's versions, oldest first; also serialises writers so that no update is lost
    /// between the copy and the publish.
    history: Mutex<Histories>,
    /// Called under the writer lock after every change (the host saves the set with it).
    on_change: std::sync::OnceLock<OnChange>,
}

impl Registry {
    fn writer(&self) -> MutexGuard<'_, Histories> {
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets what is told of every change (once).
    pub fn on_change(&self, on_change: OnChange) {
        let _ = self.on_change.set(on_change);
    }

    fn changed(&self, history: &Histories) {
        if let Some(on_change) = self.on_change.get() {
            on_change(history);
        }
    }

    /// Tells the change callback again (after something it saves besides the versions changed).
    pub fn touch(&self) {
        let history = self.writer();
        self.changed(&history);
    }

    /// Puts back an agent's saved versions (oldest first, the current one last) as they were.
    pub fn restore(&self, versions: Vec<Version>, reported: impl FnOnce()) {
        let Some(current) = versions.last().map(|v| v.agent.clone()) else {
            return;
        };
        let mut history = self.writer();
        history.insert(current.id().to_string(), versions);
        self.publish(|agents| {
            agents.insert(current.id().to_string(), current.clone());
        });
        self.changed(&history);
        reported();
    }

    fn publish(&self, change: impl FnOnce(&mut Agents)) {
        let mut next = Agents::clone(&self.agents.load());
        change(&mut next);
        self.agents.store(Arc::new(next));
    }

    /// Adds an agent; an agent with the same id already loaded is an error naming both files.
    pub fn insert(
        &self,
        agent: Arc<Agent>,
        by: &str,
        reported: impl FnOnce(),
    ) -> Result<(), LoadError> {
        let mut history = self.writer();
        if let Some(existing) = self.agents.load().get(agent.id()) {
            return Err(LoadError::Duplicate {
                path: agent.source.clone(),
                id: agent.id().to_string(),
                existing: existing.source.clone(),
            });
        }
        history.insert(agent.id().to_string(), vec![version(&agent, by)]);
        self.publish(|agents| {
            agents.insert(agent.id().to_string(), agent.clone());
        });
        self.changed(&history);
        reported();
        Ok(())
    }

    /// Makes `agent` the current version of its id (adding the id when it is new) and returns the
    /// version it replaced.
    pub fn replace(
        &self,
        agent: Arc<Agent>,
        by: &str,
        reported: impl FnOnce(Option<&Arc<Agent>>),
    ) -> Option<Arc<Agent>> {
        let mut history = self.writer();
        let previous = self.agents.load().get(agent.id()).cloned();
        let versions = history.entry(agent.id().to_string()).or_default();
        // A version already in the history (same bytes, same policy) moves to the top rather than
        // being kept twice: re-uploads do not push other versions out.
        versions.retain(|v| !same_version(&v.agent, &agent));
        versions.push(version(&agent, by));
        if versions.len() > MAX_HISTORY {
            versions.remove(0);
        }
        self.publish(|agents| {
            agents.insert(agent.id().to_string(), agent.clone());
        });
        self.changed(&history);
        reported(previous.as_ref());
        previous
    }

    /// Goes back to the version before the current one of `id`, dropping the current one from the
    /// history. Returns (the version now current, the one it replaced).
    pub fn rollback(
        &self,
        id: &str,
        reported: impl FnOnce(&Arc<Agent>, &Arc<Agent>),
    ) -> Result<(Arc<Agent>, Arc<Agent>), RollbackError> {
        let mut history = self.writer();
        let versions = history
            .get_mut(id)
            .filter(|versions| !versions.is_empty())
            .ok_or_else(|| RollbackError::Unknown(id.to_string()))?;
        if versions.len() < 2 {
            return Err(RollbackError::NoPrevious(id.to_string()));
        }
        let replaced = versions.pop().map(|v| v.agent);
        let current = versions.last().map(|v| v.agent.clone());
        let (Some(current), Some(replaced)) = (current, replaced) else {
            return Err(RollbackError::NoPrevious(id.to_string()));
        };
        self.publish(|agents| {
            agents.insert(id.to_string(), current.clone());
        });
        self.changed(&history);
        reported(&current, &replaced);
        Ok((current, replaced))
    }

    /// Removes `id` and its history, returning the version that was current.
    pub fn remove(
        &self,
        id: &str,
        reported: impl FnOnce(&Arc<Agent>),
    ) -> Result<Arc<Agent>, CallError> {
        let mut history = self.writer();
        let current = self.get(id)?;
        history.remove(id);
        self.publish(|agents| {
            agents.remove(id);
        });
        self.changed(&history);
        reported(&current);
        Ok(current)
    }

    /// The versions of `id`, oldest first, the current one last.
    pub fn history(&self, id: &str) -> Vec<Version> {
        self.writer().get(id).cloned().unwrap_or_default()
    }

    /// The current version of agent `id`.
    pub fn get(&self, id: &str) -> Result<Arc<Agent>, CallError> {
        let agents = self.agents.load();
        match agents.get(id) {
            Some(agent) => Ok(agent.clone()),
            None => Err(CallError::UnknownAgent {
                agent: id.to_string(),
                loaded: agents.keys().cloned().collect(),
            }),
        }
    }

    /// All agents, ordered by id.
    pub fn all(&self) -> Vec<Arc<Agent>> {
        self.agents.load().values().cloned().collect()
    }
}

/// Whether two agents are the same version: the same component and the same policy.
pub fn same_version(a: &Agent, b: &Agent) -> bool {
    a.content_hash == b.content_hash && a.policy() == b.policy()
}

fn version(agent: &Arc<Agent>, by: &str) -> Version {
    Version {
        agent: agent.clone(),
        by: by.to_string(),
        at: SystemTime::now(),
    }
}

/// Why a rollback cannot be done.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    /// No such agent is loaded.
    #[error("no agent `{0}` is loaded")]
    Unknown(String),
    /// The agent has one version only.
    #[error("agent `{0}` has no earlier version to go back to")]
    NoPrevious(String),
}
