//! What a guest granted `control` may do to another agent's versions (the engine's [`Control`]
//! trait): list the versions the registry holds, roll back, make a held version current, and run
//! a canary of a held version (start, reweight, promote, abort). A change is the same one an
//! operator makes (figures, event and audit line, `by` = `agent:<id>`), plus an audit line with
//! the acting call's trace.

use std::sync::Arc;

use futures::future::BoxFuture;
use tandem_engine::bindings::control::{CanaryInfo, ControlError, VersionInfo};
use tandem_engine::{CallState, Control};

use super::Dispatcher;
use crate::agent::Agent;
use crate::canary::{Canary, GuardRails};
use crate::registry::{CanaryError, RollbackError, Version};
use crate::sandbox::Policy;

/// Components the host keeps besides the versions in the registry (its agent store), loaded on
/// demand for a guest granted `control`: defined here, implemented by the host's loader.
pub trait StoredComponents: Send + Sync {
    /// The stored component with `content_hash` as a version of `agent` under `policy`
    /// (compiled, described as `agent` and health-probed), not yet serving; or why not.
    fn load<'a>(
        &'a self,
        agent: &'a str,
        content_hash: &'a str,
        policy: Policy,
    ) -> BoxFuture<'a, Result<Arc<Agent>, String>>;
}

fn info(version: &Version, current: bool) -> VersionInfo {
    VersionInfo {
        version: version.agent.info.version.to_string(),
        content_hash: version.agent.content_hash.clone(),
        since: humantime::format_rfc3339_seconds(version.at).to_string(),
        by: version.by.clone(),
        current,
    }
}

fn canary_info(canary: &Canary) -> CanaryInfo {
    CanaryInfo {
        version: canary.agent.info.version.to_string(),
        content_hash: canary.agent.content_hash.clone(),
        weight: canary.weight(),
        since: humantime::format_rfc3339_seconds(canary.since).to_string(),
        by: canary.by.clone(),
    }
}

fn canary_error(error: CanaryError) -> ControlError {
    match error {
        CanaryError::Unknown(_) => ControlError::NotFound(error.to_string()),
        _ => ControlError::Invalid(error.to_string()),
    }
}

fn by(actor: &CallState) -> String {
    format!("agent:{}", actor.agent)
}

impl Dispatcher {
    /// The version of `agent` with `content_hash`: one of its versions in the registry, or a
    /// component of the agent store, loaded with the current version's policy.
    async fn held_version(
        &self,
        agent: &str,
        content_hash: &str,
    ) -> Result<Arc<Agent>, ControlError> {
        if let Some(held) = self
            .registry()
            .history(agent)
            .into_iter()
            .find(|v| v.agent.content_hash == content_hash)
        {
            return Ok(held.agent);
        }
        let current = self
            .registry()
            .get(agent)
            .map_err(|e| ControlError::NotFound(e.to_string()))?;
        let Some(stored) = self.stored() else {
            return Err(ControlError::NotFound(format!(
                "the host holds no version of `{agent}` with content hash {content_hash} (see `versions`)"
            )));
        };
        stored
            .load(agent, content_hash, current.policy().clone())
            .await
            .map_err(ControlError::NotFound)
    }

    /// Makes the held version of `agent` with `content_hash` current.
    async fn make_current(
        &self,
        actor: &CallState,
        agent: &str,
        content_hash: &str,
    ) -> Result<VersionInfo, ControlError> {
        let held = self.held_version(agent, content_hash).await?;
        if self
            .registry()
            .get(agent)
            .is_ok_and(|now| now.content_hash == content_hash)
        {
            // Already serving: nothing changes, nothing to report.
            return self.current(agent);
        }
        let by = by(actor);
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
        let by = by(actor);
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

    fn activate<'a>(
        self: Arc<Self>,
        actor: &'a CallState,
        agent: &'a str,
        content_hash: &'a str,
    ) -> BoxFuture<'a, Result<VersionInfo, ControlError>> {
        Box::pin(async move { self.make_current(actor, agent, content_hash).await })
    }

    fn canary(&self, agent: &str) -> Result<Option<CanaryInfo>, ControlError> {
        self.registry()
            .get(agent)
            .map_err(|e| ControlError::NotFound(e.to_string()))?;
        Ok(self.registry().canary(agent).as_deref().map(canary_info))
    }

    fn start_canary<'a>(
        self: Arc<Self>,
        actor: &'a CallState,
        agent: &'a str,
        content_hash: &'a str,
        weight: u8,
    ) -> BoxFuture<'a, Result<CanaryInfo, ControlError>> {
        Box::pin(async move {
            let held = self.held_version(agent, content_hash).await?;
            let canary = Canary::new(held, weight, GuardRails::default(), &by(actor));
            let canary = Dispatcher::start_canary(&self, canary).map_err(canary_error)?;
            let info = canary_info(&canary);
            let detail = format!(
                "canary: {} ({}) at {weight} %",
                info.version, info.content_hash
            );
            self.controlled(actor, agent, detail);
            Ok(info)
        })
    }

    fn set_weight(
        &self,
        actor: &CallState,
        agent: &str,
        weight: u8,
    ) -> Result<CanaryInfo, ControlError> {
        let canary = self
            .set_canary_weight(agent, weight, &by(actor))
            .map_err(canary_error)?;
        self.controlled(actor, agent, format!("canary weight: {weight} %"));
        Ok(canary_info(&canary))
    }

    fn promote(&self, actor: &CallState, agent: &str) -> Result<VersionInfo, ControlError> {
        self.promote_canary(agent, &by(actor))
            .map_err(canary_error)?;
        let now = self.current(agent)?;
        let detail = format!("promote: now {} ({})", now.version, now.content_hash);
        self.controlled(actor, agent, detail);
        Ok(now)
    }

    fn abort(&self, actor: &CallState, agent: &str) -> Result<CanaryInfo, ControlError> {
        let canary = self
            .abort_canary(agent, &by(actor), None)
            .map_err(canary_error)?;
        let info = canary_info(&canary);
        let detail = format!("abort: canary {} ({})", info.version, info.content_hash);
        self.controlled(actor, agent, detail);
        Ok(info)
    }

    fn refused(&self, call: &CallState, what: &str) {
        self.denied_capability(
            call,
            "control",
            &format!("{what}: not named under `control` in the manifest"),
        );
    }
}
