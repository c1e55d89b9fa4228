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
//! An agent may also have a canary version beside its current one ([`Canary`]): it is kept in a
//! second map, published the same way, and is never part of the history until it is promoted.
//!
//! Every change takes a `reported` callback that runs while the writer still holds the lock, so
//! that changes are reported (logged, audited) in the order in which they took effect.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use arc_swap::ArcSwap;

use crate::agent::Agent;
use crate::canary::Canary;
use crate::error::{CallError, ErrorKind, LoadError};

type Agents = BTreeMap<String, Arc<Agent>>;
type Canaries = BTreeMap<String, Arc<Canary>>;

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
    /// The canaries by agent id (changed under the writer lock, like `agents`).
    canaries: ArcSwap<Canaries>,
    /// Every id's versions, oldest first; also serialises writers so that no update is lost
    /// between the copy and the publish.
    history: Mutex<Histories>,
    /// Called under the writer lock after every change (the host saves the set with it).
    on_change: std::sync::OnceLock<OnChange>,
    /// Counts the changes to the current versions, so that followers see there was one.
    generation: std::sync::atomic::AtomicU64,
    /// Wakes a follower waiting for a change (see [`next_change`](Registry::next_change)).
    change: tokio::sync::Notify,
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
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.change.notify_one();
    }

    /// How many times the current versions changed.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Resolves at the next change to the current versions (or at once if one happened since the
    /// last wait ended: one follower at a time).
    pub async fn next_change(&self) {
        self.change.notified().await;
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
        // A canary of the version that became current has nothing left to compare.
        if self
            .canary(agent.id())
            .is_some_and(|canary| same_version(&canary.agent, &agent))
        {
            self.publish_canary(agent.id(), None);
        }
        self.changed(&history);
        reported(previous.as_ref());
        previous
    }

    /// Puts `faster`, the same version as `serving` on other compiled code (see
    /// [`Agent::tier`]), wherever `serving` is: the current version, the history. Not a change of
    /// version: nothing is reported or saved, the generation stays. Returns whether `serving` was
    /// found (a version swapped out meanwhile may still be in the history, for a rollback).
    pub fn upgrade(&self, serving: &Arc<Agent>, faster: Arc<Agent>) -> bool {
        let mut history = self.writer();
        let kept = history
            .get_mut(serving.id())
            .and_then(|versions| versions.iter_mut().find(|v| Arc::ptr_eq(&v.agent, serving)))
            .map(|version| version.agent = faster.clone())
            .is_some();
        let current = self
            .agents
            .load()
            .get(serving.id())
            .is_some_and(|agent| Arc::ptr_eq(agent, serving));
        if current {
            let mut next = Agents::clone(&self.agents.load());
            next.insert(serving.id().to_string(), faster);
            self.agents.store(Arc::new(next));
        }
        kept || current
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
        self.publish_canary(id, None);
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

    /// The version of `id` that serves the calls of trace `trace_id`: the canary's when it takes
    /// that trace (then returned too), the current one otherwise.
    pub fn route(
        &self,
        id: &str,
        trace_id: &str,
    ) -> Result<(Arc<Agent>, Option<Arc<Canary>>), CallError> {
        let canaries = self.canaries.load();
        if !canaries.is_empty()
            && let Some(canary) = canaries.get(id).filter(|c| c.takes(trace_id))
        {
            return Ok((canary.agent.clone(), Some(canary.clone())));
        }
        self.get(id).map(|agent| (agent, None))
    }

    /// The canary of `id`, if it has one.
    pub fn canary(&self, id: &str) -> Option<Arc<Canary>> {
        self.canaries.load().get(id).cloned()
    }

    fn publish_canary(&self, id: &str, canary: Option<Arc<Canary>>) {
        let mut next = Canaries::clone(&self.canaries.load());
        match canary {
            Some(canary) => next.insert(id.to_string(), canary),
            None => next.remove(id),
        };
        self.canaries.store(Arc::new(next));
    }

    /// Serves `canary` beside the current version of its agent. Refused when the agent is not
    /// loaded, already has a canary, or the canary's version is the current one's (the figures of
    /// the two sides could not be told apart).
    pub fn start_canary(
        &self,
        canary: Canary,
        reported: impl FnOnce(&Arc<Canary>),
    ) -> Result<Arc<Canary>, CanaryError> {
        let _writer = self.writer();
        let id = canary.agent.id().to_string();
        let current = self.open_to_canary(&id)?;
        if current.info.version == canary.agent.info.version {
            return Err(CanaryError::SameVersion {
                id,
                version: current.info.version.to_string(),
            });
        }
        let canary = Arc::new(canary);
        self.publish_canary(&id, Some(canary.clone()));
        reported(&canary);
        Ok(canary)
    }

    /// The current version of `id`, when a canary of it may start: it is loaded and has none.
    pub fn open_to_canary(&self, id: &str) -> Result<Arc<Agent>, CanaryError> {
        let current = self
            .get(id)
            .map_err(|_| CanaryError::Unknown(id.to_string()))?;
        if let Some(running) = self.canary(id) {
            return Err(CanaryError::Running {
                id: id.to_string(),
                version: running.agent.info.version.to_string(),
                weight: running.weight(),
            });
        }
        Ok(current)
    }

    /// Sets the weight of `id`'s canary, returning it.
    pub fn set_canary_weight(
        &self,
        id: &str,
        weight: u8,
        reported: impl FnOnce(&Arc<Canary>),
    ) -> Result<Arc<Canary>, CanaryError> {
        let _writer = self.writer();
        let canary = self.running_canary(id)?;
        canary.set_weight(weight);
        reported(&canary);
        Ok(canary)
    }

    fn running_canary(&self, id: &str) -> Result<Arc<Canary>, CanaryError> {
        self.canary(id).ok_or_else(|| {
            if self.get(id).is_ok() {
                CanaryError::NoCanary(id.to_string())
            } else {
                CanaryError::Unknown(id.to_string())
            }
        })
    }

    /// Ends `id`'s canary (only when it is still `which`, if given: a guard's late verdict on a
    /// canary already replaced changes nothing); its calls go back to the current version. Returns
    /// the canary ended.
    pub fn abort_canary(
        &self,
        id: &str,
        which: Option<&Arc<Canary>>,
        reported: impl FnOnce(&Arc<Canary>),
    ) -> Result<Arc<Canary>, CanaryError> {
        let _writer = self.writer();
        let canary = self.running_canary(id)?;
        if which.is_some_and(|which| !Arc::ptr_eq(which, &canary)) {
            return Err(CanaryError::NoCanary(id.to_string()));
        }
        canary.set_weight(0);
        self.publish_canary(id, None);
        reported(&canary);
        Ok(canary)
    }

    /// Makes `id`'s canary its current version (pushed on the history like a swap, which ends
    /// the canary). `reported` is told the version it replaced.
    pub fn promote_canary(
        &self,
        id: &str,
        by: &str,
        reported: impl FnOnce(&Arc<Canary>, Option<&Arc<Agent>>),
    ) -> Result<Arc<Canary>, CanaryError> {
        let canary = self.running_canary(id)?;
        self.replace(canary.agent.clone(), by, |previous| {
            reported(&canary, previous)
        });
        canary.set_weight(0);
        Ok(canary)
    }
}

/// Why a canary change cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum CanaryError {
    /// No such agent is loaded.
    #[error("no agent `{0}` is loaded")]
    Unknown(String),
    /// The agent has no canary.
    #[error("agent `{0}` has no canary (start one with `POST /v1/agents/{0}/canary`)")]
    NoCanary(String),
    /// The agent has a canary already.
    #[error(
        "agent `{id}` has a canary already (version {version} at {weight} %): promote or abort it first"
    )]
    Running {
        /// The agent.
        id: String,
        /// The canary's version.
        version: String,
        /// Its weight.
        weight: u8,
    },
    /// The canary describes itself with the current version's version.
    #[error(
        "the canary's version {version} is the version `{id}` serves now: give the new build another version in its describe() so the two sides' figures can be told apart"
    )]
    SameVersion {
        /// The agent.
        id: String,
        /// The version both have.
        version: String,
    },
    /// A weight or guard rail out of range; the message names it.
    #[error("{0}")]
    Invalid(String),
    /// The canary's component failed a check.
    #[error(transparent)]
    Load(#[from] LoadError),
}

impl CanaryError {
    /// The class of the error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CanaryError::Unknown(_) => ErrorKind::Unavailable,
            CanaryError::NoCanary(_) | CanaryError::Running { .. } => ErrorKind::Conflict,
            CanaryError::SameVersion { .. } | CanaryError::Invalid(_) => ErrorKind::InvalidInput,
            CanaryError::Load(error) => error.kind(),
        }
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
