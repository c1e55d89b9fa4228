//! The loaded agents, keyed by agent id.
//!
//! Lookups are on every call's path, so readers never take a lock: they load the current map from an
//! [`ArcSwap`]. Writers (loading, and later swapping and removing agents) are rare; they copy the map,
//! change the copy and publish it, one writer at a time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::agent::Agent;
use crate::error::{CallError, LoadError};

type Agents = BTreeMap<String, Arc<Agent>>;

#[derive(Default)]
pub struct Registry {
    agents: ArcSwap<Agents>,
    /// Serialises writers so that no update is lost between the copy and the publish.
    writer: Mutex<()>,
}

impl Registry {
    /// Adds an agent; an agent with the same id already loaded is an error naming both files.
    pub fn insert(&self, agent: Arc<Agent>) -> Result<(), LoadError> {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.agents.load();
        if let Some(existing) = current.get(agent.id()) {
            return Err(LoadError::Duplicate {
                path: agent.source.clone(),
                id: agent.id().to_string(),
                existing: existing.source.clone(),
            });
        }
        let mut next = Agents::clone(&current);
        next.insert(agent.id().to_string(), agent);
        self.agents.store(Arc::new(next));
        Ok(())
    }

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
