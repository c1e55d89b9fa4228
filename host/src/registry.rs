//! The loaded agents, keyed by agent id. Lookups are on every call's path: a read lock and an `Arc`
//! clone.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use crate::agent::Agent;
use crate::error::{CallError, LoadError};

#[derive(Default)]
pub struct Registry {
    agents: RwLock<BTreeMap<String, Arc<Agent>>>,
}

impl Registry {
    /// Adds an agent; an agent with the same id already loaded is an error naming both files.
    pub fn insert(&self, agent: Arc<Agent>) -> Result<(), LoadError> {
        let mut agents = self.agents.write().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = agents.get(agent.id()) {
            return Err(LoadError::Duplicate {
                path: agent.source.clone(),
                id: agent.id().to_string(),
                existing: existing.source.clone(),
            });
        }
        agents.insert(agent.id().to_string(), agent);
        Ok(())
    }

    pub fn get(&self, id: &str) -> Result<Arc<Agent>, CallError> {
        let agents = self.agents.read().unwrap_or_else(|e| e.into_inner());
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
        self.agents
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }
}
