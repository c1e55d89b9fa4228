//! The dispatcher's side of canary routing: starting, reweighting, promoting and aborting an agent's
//! canary (each a log line, a `canary` event and an audit line naming who did it), and the guard
//! rails' verdicts, which abort a canary as soon as a call or a breaker change shows it passed a
//! bound.

use std::sync::Arc;
use std::time::Duration;

use super::Dispatcher;
use super::report::Observed;
use crate::agent::Agent;
use crate::audit::AuditRecord;
use crate::canary::{Canary, check_weight};
use crate::error::ErrorKind;
use crate::events::EventKind;
use crate::registry::CanaryError;

/// Who the guard rails act as in events and the audit log.
pub const GUARD: &str = "guard-rails";

impl Dispatcher {
    /// Serves `canary` beside its agent's current version; its figures are registered under its
    /// version.
    pub fn start_canary(&self, canary: Canary) -> Result<Arc<Canary>, CanaryError> {
        check_weight(canary.weight()).map_err(CanaryError::Invalid)?;
        canary.guard.check().map_err(CanaryError::Invalid)?;
        let by = canary.by.clone();
        self.registry().start_canary(canary, |canary| {
            let agent = &canary.agent;
            self.metrics().register(
                agent.id(),
                &agent.info.version.to_string(),
                agent.stats().clone(),
            );
            self.canary_changed(canary, Action::Start, &by, None);
        })
    }

    /// Sets the share of traces `id`'s canary serves.
    pub fn set_canary_weight(
        &self,
        id: &str,
        weight: u8,
        by: &str,
    ) -> Result<Arc<Canary>, CanaryError> {
        check_weight(weight).map_err(CanaryError::Invalid)?;
        self.registry().set_canary_weight(id, weight, |canary| {
            self.canary_changed(canary, Action::Weight, by, None)
        })
    }

    /// Makes `id`'s canary its current version.
    pub fn promote_canary(&self, id: &str, by: &str) -> Result<Arc<Canary>, CanaryError> {
        self.registry().promote_canary(id, by, |canary, previous| {
            self.canary_changed(canary, Action::Promote, by, None);
            self.registered(&canary.agent, previous.map(|p| &**p), by, "promote");
        })
    }

    /// Ends `id`'s canary; its traces go back to the current version.
    pub fn abort_canary(
        &self,
        id: &str,
        by: &str,
        reason: Option<&str>,
    ) -> Result<Arc<Canary>, CanaryError> {
        self.registry().abort_canary(id, None, |canary| {
            self.canary_changed(canary, Action::Abort, by, reason)
        })
    }

    /// Counts a call `canary` answered; aborts it when the guard rails say so.
    pub(super) fn canary_call(
        &self,
        canary: &Arc<Canary>,
        outcome: Result<(), ErrorKind>,
        latency: Duration,
    ) {
        if let Some(reason) = canary.observe(outcome, latency) {
            self.guard_abort(canary, &reason);
        }
    }

    /// `agent`'s breaker opened: when it is a canary, the canary is aborted.
    pub(super) fn canary_breaker_opened(&self, agent: &Agent) {
        if let Some(canary) = self.registry().canary(agent.id())
            && std::ptr::eq(&*canary.agent, agent)
        {
            self.guard_abort(&canary, "its circuit breaker opened");
        }
    }

    fn guard_abort(&self, canary: &Arc<Canary>, reason: &str) {
        // Another call may have aborted it a moment before: then nothing more is reported.
        let _ = self
            .registry()
            .abort_canary(canary.agent.id(), Some(canary), |canary| {
                self.canary_changed(canary, Action::Abort, GUARD, Some(reason))
            });
    }

    fn canary_changed(&self, canary: &Canary, action: Action, by: &str, reason: Option<&str>) {
        let agent = &canary.agent;
        self.tell_peers(agent.id(), by);
        let (version, weight) = (agent.info.version.to_string(), canary.weight());
        let (name, audit_event) = (action.name(), action.audit_event());
        match reason {
            Some(reason) => {
                tracing::warn!(agent = agent.id(), %version, action = name, by, reason, "canary")
            }
            None => {
                tracing::info!(agent = agent.id(), %version, weight, action = name, by, "canary")
            }
        }
        self.events().publish(EventKind::Canary {
            agent: agent.id().to_string(),
            action: name.to_string(),
            version,
            content_hash: agent.content_hash.clone(),
            weight,
            by: by.to_string(),
            reason: reason.map(str::to_string),
        });
        if let Some(audit) = self.audit() {
            let no_trace = Observed {
                trace_id: String::new(),
                chain: Vec::new(),
            };
            let detail = match reason {
                Some(reason) => format!("by {by}: {reason}"),
                None => format!("by {by}, weight {weight} %"),
            };
            audit.record(AuditRecord {
                detail: Some(detail),
                ..super::report::audit_record(audit_event, Some(agent), agent.id(), "", &no_trace)
            });
        }
    }
}

/// What was done to a canary.
#[derive(Clone, Copy)]
enum Action {
    Start,
    Weight,
    Promote,
    Abort,
}

impl Action {
    /// Its name in the `canary` event.
    fn name(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Weight => "weight",
            Action::Promote => "promote",
            Action::Abort => "abort",
        }
    }

    /// Its event name in the audit log.
    fn audit_event(self) -> &'static str {
        match self {
            Action::Start => "canary-start",
            Action::Weight => "canary-weight",
            Action::Promote => "canary-promote",
            Action::Abort => "canary-abort",
        }
    }
}
