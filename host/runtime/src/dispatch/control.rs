//! What a guest granted `control` may do to another agent's versions (the engine's [`Control`]
//! trait): list the versions the registry holds, roll back, or make a held version current. A
//! change is the same swap an operator makes (figures, event and audit line, `by` = `agent:<id>`),
//! plus an audit line with the acting call's trace.

use std::sync::Arc;

use tandem_engine::bindings::control::{ControlError, VersionInfo};
use tandem_engine::{CallState, Control};

use super::Dispatcher;
use crate::agent::Agent;
use crate::registry::{RollbackError, Version};

fn info(version: &Version, current: bool) -> VersionInfo {
    VersionInfo {
        version: version.agent.info.version.to_string(),
        content_hash: version.agent.content_hash.clone(),
        since: humantime::format_rfc3339_seconds(version.at).to_string(),
        by: version.by.clone(),
        current,
    }
}

impl Dispatcher {
    /// The versions of `agent`, with the current one marked.
    fn held(&self, agent: &str) -> Result<Vec<VersionInfo>, ControlError> {
        let history = self.registry().history(agent);
        if history.is_empty() {
            return Err(ControlError::NotFound(format!(
                "no agent `{agent}` is loaded"
            )));
        }
        let last = history.len() - 1;
        Ok(history
            .iter()
            .enumerate()
            .map(|(i, v)| info(v, i == last))
            .collect())
    }

    /// The version now current of `agent`.
    fn current(&self, agent: &str) -> Result<VersionInfo, ControlError> {
        self.held(agent)?
            .pop()
            .ok_or_else(|| ControlError::NotFound(format!("no agent `{agent}` is loaded")))
    }
}

impl Control for Dispatcher {
    fn versions(&self, agent: &str) -> Result<Vec<VersionInfo>, ControlError> {
        self.held(agent)
    }

    fn rollback(&self, actor: &CallState, agent: &str) -> Result<VersionInfo, ControlError> {
        let by = format!("agent:{}", actor.agent);
        self.registry()
            .rollback(agent, |current, replaced| {
                self.registered(current, Some(replaced), &by, "rollback")
            })
            .map_err(|e| match e {
                RollbackError::Unknown(_) => ControlError::NotFound(e.to_string()),
                RollbackError::NoPrevious(_) => ControlError::Invalid(e.to_string()),
            })?;
        let now = self.current(agent)?;
        let detail = format!("rollback: now {} ({})", now.version, now.content_hash);
        self.controlled(actor, agent, detail);
        Ok(now)
    }

    fn activate(
        &self,
        actor: &CallState,
        agent: &str,
        content_hash: &str,
    ) -> Result<VersionInfo, ControlError> {
        let held: Option<Arc<Agent>> = self
            .registry()
            .history(agent)
            .into_iter()
            .find(|v| v.agent.content_hash == content_hash)
            .map(|v| v.agent);
        let Some(held) = held else {
            return Err(ControlError::NotFound(format!(
                "the host holds no version of `{agent}` with content hash {content_hash} (see `versions`)"
            )));
        };
        if self
            .registry()
            .get(agent)
            .is_ok_and(|now| now.content_hash == content_hash)
        {
            // Already serving: nothing changes, nothing to report.
            return self.current(agent);
        }
        let by = format!("agent:{}", actor.agent);
        let made_current = held.clone();
        self.registry().replace(held, &by, |previous| {
            self.registered(&made_current, previous.map(|p| &**p), &by, "swap")
        });
        let now = self.current(agent)?;
        self.controlled(
            actor,
            agent,
            format!("activate: now {} ({})", now.version, now.content_hash),
        );
        Ok(now)
    }

    fn refused(&self, call: &CallState, what: &str) {
        self.denied_capability(
            call,
            "control",
            &format!("{what}: not named under `control` in the manifest"),
        );
    }
}
