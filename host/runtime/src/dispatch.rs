//! Routing one call to its agent with the resilience every call gets, whoever makes it (the CLI, the
//! HTTP API, another agent, a graph node): the agent's circuit breaker, retries with backoff for the
//! classes that may pass, and the deadline inherited from the caller.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracing::Instrument;

use crate::agent::{Agent, Request, Response};
use crate::audit::{AuditLog, AuditRecord};
use crate::breaker::{BreakerState, Change, counts_against};
use crate::error::{CallError, ErrorKind, LoadError, Site};
use crate::events::{EventBus, EventKind};
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::results::ResultCache;
use crate::retry::{Backoff, RetryPolicy, is_retryable};
use crate::state::StateAccess;
use tandem_engine::Caller;

/// What a call inherits from whoever made it.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The trace the call belongs to; a new one is started when `None`.
    pub trace_id: Option<String>,
    /// The agents that delegated down to this call, outermost first.
    pub chain: Vec<String>,
    /// The caller's deadline: the call must end by then whatever its own timeout.
    pub deadline: Option<Instant>,
    /// Overrides the agent's `max-attempts` (a graph node's own setting).
    pub max_attempts: Option<u32>,
    /// Run the guest even when the result cache has the answer (and do not store this one).
    pub no_cache: bool,
}

/// The registry, the per-process counters behind every call, and where calls are reported: the
/// metrics, the live event stream and the audit log.
pub struct Dispatcher {
    registry: Registry,
    next_task_id: AtomicU64,
    trace_seed: u64,
    metrics: Metrics,
    events: EventBus,
    audit: Option<AuditLog>,
    results: ResultCache,
    state: Arc<StateAccess>,
}

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
struct Observed {
    trace_id: String,
    chain: Vec<String>,
}

impl Dispatcher {
    /// A dispatcher with no agents; every call is recorded in `audit` when given; results of
    /// deterministic operations are kept in `results`; agents keep their state in `state`.
    pub fn new(audit: Option<AuditLog>, results: ResultCache, state: StateAccess) -> Dispatcher {
        let trace_seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ (u64::from(std::process::id()) << 32);
        Dispatcher {
            registry: Registry::default(),
            next_task_id: AtomicU64::new(1),
            trace_seed,
            metrics: Metrics::default(),
            events: EventBus::default(),
            audit,
            results,
            state: Arc::new(state),
        }
    }

    /// The agents' state store.
    pub fn state(&self) -> &Arc<StateAccess> {
        &self.state
    }

    /// The result cache.
    pub fn results(&self) -> &ResultCache {
        &self.results
    }

    /// The loaded agents.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Every agent version's figures.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The live event stream.
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// The audit log, if the host keeps one.
    pub fn audit(&self) -> Option<&AuditLog> {
        self.audit.as_ref()
    }

    /// Calls `operation` of the agent registered as `agent`, retrying what may pass, with the agent's
    /// breaker in front of every attempt.
    pub async fn call(
        &self,
        agent: &str,
        operation: &str,
        input: String,
        origin: Origin,
    ) -> Result<Response, CallError> {
        self.call_counting(agent, operation, input, origin).await.0
    }

    /// Like [`call`](Dispatcher::call), also returning how many attempts were made (0 when the call
    /// was refused before any, or answered from the result cache). Every call is counted in the agent's stats, traced in a span, and
    /// reported to the event stream and the audit log when they are on.
    pub async fn call_counting(
        &self,
        agent_id: &str,
        operation: &str,
        input: String,
        origin: Origin,
    ) -> (Result<Response, CallError>, u32) {
        let started = Instant::now();
        // Names are checked before anything is looked up or logged: what reaches the audit log,
        // the event stream and the error messages is bounded.
        if let Err(error) = CallError::check_name("agent id", agent_id)
            .and_then(|()| CallError::check_name("operation name", operation))
        {
            return self.refused(None, "", "", origin, error);
        }
        let agent = match self.registry.get(agent_id) {
            Ok(agent) => agent,
            Err(error) => return self.refused(None, agent_id, operation, origin, error),
        };
        if let Err(error) = Self::check(&agent, operation, &input) {
            agent
                .stats()
                .record_call(Err(error.kind()), started.elapsed());
            return self.refused(Some(&agent), agent_id, operation, origin, error);
        }
        let max_attempts = origin.max_attempts;
        let cacheable = self.results.enabled()
            && !origin.no_cache
            && agent
                .info
                .operation(operation)
                .is_some_and(|op| op.deterministic);
        let (cached, input_kept) = if cacheable {
            let cached = self.results.get(&agent.content_hash, operation, &input);
            let kept = cached.is_none().then(|| input.clone());
            (cached, kept)
        } else {
            (None, None)
        };
        let request = self.request(operation, input, origin);
        if !request.chain.is_empty() {
            agent.stats().add_delegation_received();
        }
        let observed = (self.audit.is_some() || self.events.active()).then(|| Observed {
            trace_id: request.trace_id.clone(),
            chain: request.chain.clone(),
        });
        if let Some(observed) = observed.as_ref().filter(|_| self.events.active()) {
            self.events.publish(EventKind::CallStarted {
                agent: agent.id().to_string(),
                operation: operation.to_string(),
                trace_id: observed.trace_id.clone(),
                chain: observed.chain.clone(),
            });
        }
        let span = tracing::info_span!("call", agent = agent.id(), operation, trace_id = %request.trace_id);
        let mut in_flight = InFlight {
            dispatcher: self,
            agent: &agent,
            operation,
            observed,
            started,
            done: false,
        };
        let (result, attempts) = match cached {
            Some(output) => {
                let response = Response {
                    output,
                    fuel_used: 0,
                    duration: started.elapsed(),
                    logs_dropped: 0,
                    trace_id: request.trace_id,
                    cached: true,
                };
                (Ok(response), 0)
            }
            None => {
                self.attempts(&agent, request, max_attempts, started)
                    .instrument(span)
                    .await
            }
        };
        if let (Some(input), Ok(response)) = (&input_kept, &result) {
            self.results
                .put(&agent.content_hash, operation, input, &response.output);
        }
        in_flight.finish(&result, attempts);
        (result, attempts)
    }

    /// A call refused before any attempt (unknown agent or operation, input not JSON): audited.
    fn refused(
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

    /// The attempts at one call: the breaker in front of each, retries for what may pass.
    async fn attempts(
        &self,
        agent: &Agent,
        mut request: Request,
        max_attempts: Option<u32>,
        started: Instant,
    ) -> (Result<Response, CallError>, u32) {
        let policy_retry = &agent.policy().resilience.retry;
        let overridden;
        let retry = match max_attempts {
            Some(max_attempts) => {
                overridden = RetryPolicy {
                    max_attempts,
                    ..policy_retry.clone()
                };
                &overridden
            }
            None => policy_retry,
        };
        loop {
            let admission = match agent.breaker().admit() {
                Ok(admission) => admission,
                Err(retry_in) => {
                    let site = Site {
                        agent: agent.id().to_string(),
                        operation: request.operation.clone(),
                    };
                    let error = CallError::CircuitOpen { site, retry_in };
                    return (Err(error), request.attempt - 1);
                }
            };
            if admission.half_opened {
                self.breaker_changed(
                    agent,
                    Change {
                        to: BreakerState::HalfOpen,
                        reason: "probing whether the agent recovered",
                    },
                );
            }
            let request_attempt = request.attempt;
            let attempt_started = if request_attempt == 1 {
                started
            } else {
                Instant::now()
            };
            let (error, returned) = match agent.attempt(request, attempt_started).await {
                Ok(response) => {
                    if let Some(change) = agent.breaker().record(admission, false) {
                        self.breaker_changed(agent, change);
                    }
                    return (Ok(response), request_attempt);
                }
                Err(failure) => failure,
            };
            if let Some(change) = agent
                .breaker()
                .record(admission, counts_against(error.kind()))
            {
                self.breaker_changed(agent, change);
            }
            request = returned;
            let next = request.attempt + 1;
            let wait = match is_retryable(error.kind())
                .then(|| retry.backoff_before(next, request.deadline))
            {
                Some(Some(wait)) => wait,
                _ => return (Err(error), request.attempt),
            };
            tracing::info!(agent = agent.id(), operation = request.operation, attempt = next, ?wait, error = %error, "retrying");
            agent.stats().add_retry();
            self.events.publish(EventKind::Retry {
                agent: agent.id().to_string(),
                operation: request.operation.clone(),
                trace_id: request.trace_id.clone(),
                attempt: next,
                wait_ms: wait.as_millis() as u64,
                error: error.to_string(),
            });
            tokio::time::sleep(wait).await;
            request.attempt = next;
        }
    }

    fn breaker_changed(&self, agent: &Agent, change: Change) {
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
        if let Some(audit) = &self.audit {
            let agent = self.registry.get(caller.agent).ok();
            let observed = Observed {
                trace_id: caller.trace_id.to_string(),
                chain: caller.chain.to_vec(),
            };
            let target = format!("{callee}.{operation}");
            audit.record(AuditRecord {
                outcome: ErrorKind::Denied.as_str(),
                detail: Some(reason.to_string()),
                ..audit_record(
                    "denied-hop",
                    agent.as_deref(),
                    caller.agent,
                    &target,
                    &observed,
                )
            });
        }
    }

    /// Checks a call against the agent: the operation exists, the input is within the agent's
    /// `max-input` and is JSON.
    fn check(agent: &Agent, operation: &str, input: &str) -> Result<(), CallError> {
        if agent.info.operation(operation).is_none() {
            return Err(CallError::UnknownOperation {
                agent: agent.id().to_string(),
                operation: operation.to_string(),
                offered: agent
                    .info
                    .operations
                    .iter()
                    .map(|o| o.name.clone())
                    .collect(),
            });
        }
        let site = || Site {
            agent: agent.id().to_string(),
            operation: operation.to_string(),
        };
        let limit = agent.policy().limits.max_input_bytes;
        if input.len() > limit {
            return Err(CallError::InputTooLarge {
                site: site(),
                size: input.len(),
                limit,
            });
        }
        if let Err(reason) = crate::json::check(input) {
            return Err(CallError::InvalidJson {
                site: site(),
                reason,
            });
        }
        Ok(())
    }

    /// Stamps a checked call with a task id and its trace.
    fn request(&self, operation: &str, input: String, origin: Origin) -> Request {
        let task_id = self.next_task_id.fetch_add(1, Ordering::Relaxed);
        Request {
            task_id,
            operation: operation.to_string(),
            input,
            trace_id: origin
                .trace_id
                .unwrap_or_else(|| trace_id(self.trace_seed, task_id)),
            chain: origin.chain,
            attempt: 1,
            deadline: origin.deadline,
        }
    }
}

impl Default for Dispatcher {
    fn default() -> Self {
        Dispatcher::new(None, ResultCache::new(0), StateAccess::new(None))
    }
}

/// A call under way. Its end is counted and reported by [`finish`](InFlight::finish), or, when the
/// call's future is dropped first (its caller went away, a graph or the server was stopped), by
/// `drop` as a `cancelled` failure.
struct InFlight<'a> {
    dispatcher: &'a Dispatcher,
    agent: &'a Agent,
    operation: &'a str,
    observed: Option<Observed>,
    started: Instant,
    done: bool,
}

impl InFlight<'_> {
    fn finish(&mut self, result: &Result<Response, CallError>, attempts: u32) {
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
fn audit_record(
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

/// A trace id: 32 hex digits, the host's per-process seed then the task id. Written by hand because
/// `format!` costs more than the rest of a warm call's bookkeeping.
fn trace_id(seed: u64, task_id: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let value = (u128::from(seed) << 64) | u128::from(task_id);
    let mut digits = [0u8; 32];
    for (i, digit) in digits.iter_mut().enumerate() {
        *digit = HEX[((value >> (124 - 4 * i)) & 0xf) as usize];
    }
    String::from_utf8_lossy(&digits).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn trace_ids_are_32_hex_digits() {
        assert_eq!(
            super::trace_id(0xdead_beef, 42),
            "00000000deadbeef000000000000002a"
        );
        assert_eq!(
            super::trace_id(u64::MAX, 0),
            "ffffffffffffffff0000000000000000"
        );
    }
}
