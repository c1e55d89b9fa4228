//! Reporting the calls and changes the dispatcher handles: the end of each call counted in its
//! agent's figures, published as an event and written to the audit log ([`InFlight`], which also
//! reports a call whose future was dropped as `cancelled`); refused calls and delegations; breaker
//! changes; and changes to the loaded agents ([`AdminChange`]). Nothing here decides a call's fate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Dispatcher, Origin};
use crate::agent::{Agent, Response};
use crate::audit::AuditRecord;
use crate::breaker::{BreakerState, Change};
use crate::error::{CallError, ErrorKind, LoadError, Site};
use crate::events::EventKind;
use tandem_engine::{CallState, Caller, EgressOutcome, EgressRecord, EgressWatch, EventSink};

/// A change to the loaded agents, for the log, the event stream and the audit log.
// Each variant's fields are named in its doc.
#[allow(missing_docs)]
pub enum AdminChange<'a> {
    /// `agent` became current, replacing `previous`; `how` is `load`, `swap` or `rollback`.
    Current {
        agent: &'a Agent,
        previous: Option<&'a Agent>,
        by: &'a str,
        how: &'static str,
    },
    /// A new version failed its checks.
    Rejected { by: &'a str, error: &'a LoadError },
    /// An agent was unloaded.
    Removed { agent: &'a Agent, by: &'a str },
}

/// What a call's report needs of its request, kept only when someone listens.
pub(super) struct Observed {
    pub(super) trace_id: String,
    pub(super) chain: Vec<String>,
}

impl Dispatcher {
    /// A call refused before any attempt (unknown agent or operation, input not JSON): audited.
    pub(super) fn refused(
        &self,
        agent: Option<&Agent>,
        agent_id: &str,
        operation: &str,
        origin: Origin,
        error: CallError,
    ) -> (Result<Response, CallError>, u32) {
        if let Some(audit) = &self.audit {
            let observed = Observed {
                trace_id: origin.trace_id.unwrap_or_default(),
                chain: origin.chain,
            };
            audit.record(AuditRecord {
                outcome: error.kind().as_str(),
                detail: Some(error.to_string()),
                ..audit_record("call", agent, agent_id, operation, &observed)
            });
        }
        (Err(error), 0)
    }

    pub(super) fn breaker_changed(&self, agent: &Agent, change: Change) {
        match change.to {
            BreakerState::Open => {
                tracing::warn!(agent = agent.id(), reason = change.reason, reopens_in = ?agent.breaker().open_for(), "circuit opened")
            }
            state => tracing::info!(
                agent = agent.id(),
                reason = change.reason,
                ?state,
                "circuit changed"
            ),
        }
        self.events.publish(EventKind::Breaker {
            agent: agent.id().to_string(),
            state: change.to,
            reason: change.reason.to_string(),
        });
        if change.to == BreakerState::Open {
            self.canary_breaker_opened(agent);
        }
    }

    /// Publishes the end of a call and writes its audit line.
    fn report(
        &self,
        agent: &Agent,
        operation: &str,
        observed: &Observed,
        result: &Result<Response, CallError>,
        attempts: u32,
        elapsed: Duration,
    ) {
        let duration_us = elapsed.as_micros() as u64;
        if self.events.active() {
            let (agent_id, trace_id) = (agent.id().to_string(), observed.trace_id.clone());
            self.events.publish(match result {
                Ok(_) => EventKind::CallFinished {
                    agent: agent_id,
                    operation: operation.to_string(),
                    trace_id,
                    duration_us,
                    attempts,
                },
                Err(error) => EventKind::CallFailed {
                    agent: agent_id,
                    operation: operation.to_string(),
                    trace_id,
                    kind: error.kind(),
                    error: error.to_string(),
                    attempts,
                },
            });
        }
        if let Some(audit) = &self.audit {
            audit.record(AuditRecord {
                outcome: result.as_ref().map_or_else(|e| e.kind().as_str(), |_| "ok"),
                duration_us,
                fuel: result.as_ref().map_or(0, |response| response.fuel_used),
                attempts,
                detail: result.as_ref().err().map(ToString::to_string),
                ..audit_record("call", Some(agent), agent.id(), operation, observed)
            });
        }
    }

    /// Reports an agent version that became current (`how`: load, swap or rollback): its figures
    /// registered, a log line, an event, an audit line.
    pub fn registered(
        &self,
        agent: &Arc<Agent>,
        previous: Option<&Agent>,
        by: &str,
        how: &'static str,
    ) {
        let version = agent.info.version.to_string();
        self.metrics
            .register(agent.id(), &version, agent.stats().clone());
        if how != "load" {
            self.tell_peers(agent.id(), by);
        }
        self.admin_event(
            AdminChange::Current {
                agent,
                previous,
                by,
                how,
            },
            Some(agent.id()),
        );
    }

    /// Tells the cluster's other hosts, if any, that what this host serves of `agent` changed,
    /// unless a peer's change (`by` = `cluster:<host>`) is what changed it.
    pub(super) fn tell_peers(&self, agent: &str, by: &str) {
        if !by.starts_with(super::BY_PEER)
            && let Some(peers) = self.peers()
        {
            peers.versions_changed(agent);
        }
    }

    /// An agent acted on another's versions through `tandem:agent/control`: a log line, a `control`
    /// event and an audit line that carry its trace (the change itself is reported where it is
    /// made, e.g. by [`registered`](Dispatcher::registered)).
    pub fn controlled(&self, actor: &CallState, target: &str, detail: String) {
        tracing::info!(
            agent = &*actor.agent,
            target,
            trace_id = actor.trace_id,
            detail,
            "control"
        );
        self.events.publish(EventKind::Control {
            agent: actor.agent.to_string(),
            target: target.to_string(),
            trace_id: actor.trace_id.clone(),
            detail: detail.clone(),
        });
        if let Some(audit) = &self.audit {
            let observed = Observed {
                trace_id: actor.trace_id.clone(),
                chain: actor.chain.clone(),
            };
            let loaded = self.registry.get(&actor.agent).ok();
            audit.record(AuditRecord {
                detail: Some(detail),
                ..audit_record(
                    "control",
                    loaded.as_deref(),
                    &actor.agent,
                    target,
                    &observed,
                )
            });
        }
    }

    /// Reports a change to the loaded agents (about `id`, when known): a log line, an event and an
    /// audit line.
    pub fn admin_event(&self, change: AdminChange<'_>, id: Option<&str>) {
        let no_trace = Observed {
            trace_id: String::new(),
            chain: Vec::new(),
        };
        let (event, record) = match change {
            AdminChange::Current {
                agent,
                previous: None,
                by,
                how,
            } => {
                let version = agent.info.version.to_string();
                tracing::info!(agent = agent.id(), %version, source = %agent.source.display(), by, "agent loaded");
                let event = EventKind::AgentLoaded {
                    agent: agent.id().to_string(),
                    version,
                    content_hash: agent.content_hash.clone(),
                    source: agent.source.display().to_string(),
                    by: by.to_string(),
                };
                let record = AuditRecord {
                    detail: Some(format!("by {by} from {}", agent.source.display())),
                    ..audit_record(how, Some(agent), agent.id(), "", &no_trace)
                };
                (event, record)
            }
            AdminChange::Current {
                agent,
                previous: Some(previous),
                by,
                how,
            } => {
                let (from, version) = (
                    previous.info.version.to_string(),
                    agent.info.version.to_string(),
                );
                tracing::info!(agent = agent.id(), from = %from, %version, by, how, "agent version changed");
                let event = EventKind::AgentSwapped {
                    agent: agent.id().to_string(),
                    how: how.to_string(),
                    from_version: from.clone(),
                    from_hash: previous.content_hash.clone(),
                    version,
                    content_hash: agent.content_hash.clone(),
                    by: by.to_string(),
                };
                let record = AuditRecord {
                    detail: Some(format!(
                        "by {by}, replacing {from} ({})",
                        previous.content_hash
                    )),
                    ..audit_record(how, Some(agent), agent.id(), "", &no_trace)
                };
                (event, record)
            }
            AdminChange::Rejected { by, error } => {
                let agent = id.unwrap_or_default();
                tracing::warn!(agent, by, %error, "new agent version rejected");
                let event = EventKind::AgentRejected {
                    agent: agent.to_string(),
                    reason: error.to_string(),
                    by: by.to_string(),
                };
                let record = AuditRecord {
                    outcome: error.kind().as_str(),
                    detail: Some(format!("by {by}: {error}")),
                    ..audit_record("rejected", None, agent, "", &no_trace)
                };
                (event, record)
            }
            AdminChange::Removed { agent, by } => {
                let version = agent.info.version.to_string();
                tracing::info!(agent = agent.id(), %version, by, "agent removed");
                let event = EventKind::AgentRemoved {
                    agent: agent.id().to_string(),
                    version,
                    by: by.to_string(),
                };
                let record = AuditRecord {
                    detail: Some(format!("by {by}")),
                    ..audit_record("remove", Some(agent), agent.id(), "", &no_trace)
                };
                (event, record)
            }
        };
        self.events.publish(event);
        if let Some(audit) = &self.audit {
            audit.record(record);
        }
    }

    /// Reports a delegation the host refused: an event, a warning and an audit line.
    pub fn denied_hop(&self, caller: &Caller<'_>, callee: &str, operation: &str, reason: &str) {
        tracing::warn!(
            agent = caller.agent,
            callee,
            trace_id = caller.trace_id,
            reason,
            "delegation denied"
        );
        self.events.publish(EventKind::DelegationDenied {
            agent: caller.agent.to_string(),
            callee: callee.to_string(),
            trace_id: caller.trace_id.to_string(),
            reason: reason.to_string(),
        });
        let observed = Observed {
            trace_id: caller.trace_id.to_string(),
            chain: caller.chain.to_vec(),
        };
        let target = format!("{callee}.{operation}");
        self.audit_denial("denied-hop", caller.agent, &target, &observed, reason);
    }

    /// `call`'s agent asked for the host capability `capability` without the grant: logged,
    /// published and audited like a refused delegation.
    pub fn denied_capability(&self, call: &CallState, capability: &str, reason: &str) {
        tracing::warn!(
            agent = &*call.agent,
            capability,
            trace_id = call.trace_id,
            reason,
            "capability denied"
        );
        self.events.publish(EventKind::CapabilityDenied {
            agent: call.agent.to_string(),
            capability: capability.to_string(),
            trace_id: call.trace_id.clone(),
            reason: reason.to_string(),
        });
        let observed = Observed {
            trace_id: call.trace_id.clone(),
            chain: call.chain.clone(),
        };
        self.audit_denial(
            "denied-capability",
            &call.agent,
            capability,
            &observed,
            reason,
        );
    }

    /// The audit line of a refusal: `event` (`denied-hop`, `denied-capability`) by `agent` of
    /// `target`, outcome `denied`, the reason as its detail.
    fn audit_denial(
        &self,
        event: &'static str,
        agent: &str,
        target: &str,
        observed: &Observed,
        reason: &str,
    ) {
        if let Some(audit) = &self.audit {
            let loaded = self.registry.get(agent).ok();
            audit.record(AuditRecord {
                outcome: ErrorKind::Denied.as_str(),
                detail: Some(reason.to_string()),
                ..audit_record(event, loaded.as_deref(), agent, target, observed)
            });
        }
    }
}

/// A call under way. Its end is counted and reported by [`finish`](InFlight::finish), or, when the
/// call's future is dropped first (its caller went away, a graph or the server was stopped), by
/// `drop` as a `cancelled` failure.
pub(super) struct InFlight<'a> {
    pub(super) dispatcher: &'a Dispatcher,
    pub(super) agent: &'a Agent,
    pub(super) operation: &'a str,
    pub(super) observed: Option<Observed>,
    pub(super) started: Instant,
    pub(super) done: bool,
}

impl InFlight<'_> {
    pub(super) fn finish(&mut self, result: &Result<Response, CallError>, attempts: u32) {
        self.done = true;
        // A first attempt that succeeded measured the whole call already, from the same start.
        let elapsed = match result {
            Ok(response) if attempts == 1 => response.duration,
            _ => self.started.elapsed(),
        };
        self.agent.stats().record_call(
            result.as_ref().map(|_| ()).map_err(CallError::kind),
            elapsed,
        );
        if let Some(observed) = &self.observed {
            self.dispatcher.report(
                self.agent,
                self.operation,
                observed,
                result,
                attempts,
                elapsed,
            );
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.done {
            let site = Site {
                agent: self.agent.id().to_string(),
                operation: self.operation.to_string(),
            };
            self.finish(&Err(CallError::Cancelled { site }), 0);
        }
    }
}

/// An audit line about `agent_id` (`agent` when it is loaded) with no outcome filled in yet.
pub(super) fn audit_record(
    event: &'static str,
    agent: Option<&Agent>,
    agent_id: &str,
    operation: &str,
    observed: &Observed,
) -> AuditRecord {
    AuditRecord {
        event,
        trace_id: observed.trace_id.clone(),
        chain: observed.chain.clone(),
        agent: agent_id.to_string(),
        version: agent.map_or_else(String::new, |a| a.info.version.to_string()),
        agent_hash: agent.map_or_else(String::new, |a| a.content_hash.clone()),
        operation: operation.to_string(),
        outcome: "ok",
        duration_us: 0,
        fuel: 0,
        attempts: 0,
        detail: None,
    }
}

/// A guest's event (`tandem:agent/events`), published on the live event stream.
impl EventSink for Dispatcher {
    fn guest_event(&self, agent: &str, trace_id: &str, name: String, data: String) {
        self.events().publish(EventKind::Guest {
            agent: agent.to_string(),
            trace_id: trace_id.to_string(),
            name,
            data,
        });
    }
}

/// An outbound request of a guest granted `[egress]`: one audit line (`egress`), whatever became
/// of it. The line names the request (without its query), the rule and the outcome; never a header.
impl EgressWatch for Dispatcher {
    fn egress(&self, record: &EgressRecord) {
        let Some(audit) = &self.audit else { return };
        let observed = Observed {
            trace_id: record.trace_id.clone(),
            chain: record.chain.clone(),
        };
        let loaded = self.registry.get(&record.agent).ok();
        let rule = record
            .rule
            .as_deref()
            .map_or_else(String::new, |r| format!("rule `{r}`: "));
        let (outcome, detail) = match &record.outcome {
            EgressOutcome::Sent(status) => ("ok", format!("{rule}status {status}")),
            EgressOutcome::Denied(reason) => (ErrorKind::Denied.as_str(), reason.clone()),
            EgressOutcome::Failed(reason) => {
                (ErrorKind::Failed.as_str(), format!("{rule}{reason}"))
            }
        };
        audit.record(AuditRecord {
            outcome,
            duration_us: record.duration.as_micros().min(u128::from(u64::MAX)) as u64,
            detail: Some(detail),
            ..audit_record(
                "egress",
                loaded.as_deref(),
                &record.agent,
                &record.request,
                &observed,
            )
        });
    }
}
