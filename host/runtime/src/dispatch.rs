//! Routing one call to its agent with the resilience every call gets, whoever makes it (the CLI, the
//! HTTP API, another agent, a graph node): the agent's circuit breaker, retries with backoff for the
//! classes that may pass, and the deadline inherited from the caller. How each call and change is
//! reported (figures, events, the audit log) is in `report`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tracing::Instrument;

use crate::agent::{Agent, Request, Response};
use crate::audit::AuditLog;
use crate::breaker::{BreakerState, Change, counts_against};
use crate::error::{CallError, Site};
use crate::events::{EventBus, EventKind};
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::results::ResultCache;
use crate::retry::{Backoff, RetryPolicy, is_retryable};
use crate::state::StateAccess;

mod canary;
mod control;
mod host_info;
mod peers;
mod report;

pub use canary::GUARD;
pub use control::StoredComponents;
pub use peers::{AgentCensus, BY_PEER, HostCensus, Peers};
pub use report::AdminChange;
use report::{InFlight, Observed};

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
    /// Directories the caller lends to this call (checked by the delegation rules).
    pub lent: Vec<crate::sandbox::DirGrant>,
    /// Run the call on this host: the cluster handed it here (see [`Peers`]).
    pub here: bool,
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
    /// The most instances the engine's pool holds at once, all agents together.
    instances_bound: u32,
    /// The components the host keeps besides the registry's versions (set once by the host).
    stored: std::sync::OnceLock<std::sync::Weak<dyn StoredComponents>>,
    /// The hosts this one shares the work with, once it joined a cluster.
    peers: std::sync::OnceLock<std::sync::Weak<dyn Peers>>,
}

impl Dispatcher {
    /// A dispatcher with no agents; every call is recorded in `audit` when given; results of
    /// deterministic operations are kept in `results`; agents keep their state in `state`; the
    /// engine's pool holds `instances_bound` instances at most.
    pub fn new(
        audit: Option<AuditLog>,
        results: ResultCache,
        state: StateAccess,
        instances_bound: u32,
    ) -> Dispatcher {
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
            instances_bound,
            stored: std::sync::OnceLock::new(),
            peers: std::sync::OnceLock::new(),
        }
    }

    /// Sets where components the registry does not hold are found (once; the host's loader).
    pub fn keep_stored(&self, stored: std::sync::Weak<dyn StoredComponents>) {
        let _ = self.stored.set(stored);
    }

    /// Shares the work with `peers` from now on (once: a host joins one cluster): every call that
    /// may leave this host goes to them, every version change is told to them.
    pub fn join(&self, peers: std::sync::Weak<dyn Peers>) {
        let _ = self.peers.set(peers);
    }

    /// The hosts this one shares the work with, if it joined a cluster and they are there.
    pub fn peers(&self) -> Option<Arc<dyn Peers>> {
        self.peers.get().and_then(std::sync::Weak::upgrade)
    }

    /// Where components the registry does not hold are found, while the host is there.
    fn stored(&self) -> Option<Arc<dyn StoredComponents>> {
        self.stored.get().and_then(std::sync::Weak::upgrade)
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
        // The trace is known before the version: a canary takes whole traces.
        let mut origin = origin;
        let task_id = self.next_task_id.fetch_add(1, Ordering::Relaxed);
        let trace_id = origin
            .trace_id
            .take()
            .unwrap_or_else(|| trace_id(self.trace_seed, task_id));
        if peers::may_leave(&origin)
            && let Some(peers) = self.peers()
        {
            origin.trace_id = Some(trace_id);
            let call = peers.call(agent_id.to_string(), operation.to_string(), input, origin);
            return (call.await, 1);
        }
        let (agent, canary) = match self.registry.route(agent_id, &trace_id) {
            Ok(routed) => routed,
            Err(error) => {
                origin.trace_id = Some(trace_id);
                return self.refused(None, agent_id, operation, origin, error);
            }
        };
        if let Err(error) = Self::check(&agent, operation, &input) {
            agent
                .stats()
                .record_call(Err(error.kind()), started.elapsed());
            origin.trace_id = Some(trace_id);
            return self.refused(Some(&agent), agent_id, operation, origin, error);
        }
        let max_attempts = origin.max_attempts;
        // A lent directory's content is not part of the key: such calls are never cached.
        let cacheable = self.results.enabled()
            && !origin.no_cache
            && origin.lent.is_empty()
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
        let request = Self::request(task_id, trace_id, operation, input, origin);
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
                    served_by: None,
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
        if let Some(canary) = &canary {
            let outcome = result.as_ref().map(|_| ()).map_err(CallError::kind);
            self.canary_call(canary, outcome, started.elapsed());
        }
        (result, attempts)
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

    /// Stamps a checked call with its task id and trace.
    fn request(
        task_id: u64,
        trace_id: String,
        operation: &str,
        input: String,
        origin: Origin,
    ) -> Request {
        Request {
            task_id,
            operation: operation.to_string(),
            input,
            trace_id,
            chain: origin.chain,
            attempt: 1,
            deadline: origin.deadline,
            lent: origin.lent,
        }
    }
}

impl Default for Dispatcher {
    fn default() -> Self {
        let bound = tandem_manifest::EngineLimits::default().max_instances;
        Dispatcher::new(None, ResultCache::new(0), StateAccess::new(None), bound)
    }
}

/// A trace id: 32 hex digits, the host's per-process seed then the task id. Written by hand because
/// `format!` costs more than the rest of a warm call's bookkeeping.
fn trace_id(seed: u64, task_id: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let value = (u128::from(seed) << 64) | u128::from(task_id);
    let digits = (0..32)
        .map(|i| HEX[((value >> (124 - 4 * i)) & 0xf) as usize])
        .collect();
    String::from_utf8(digits).expect("hex digits are ASCII")
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
