//! Routing one call to its agent with the resilience every call gets, whoever makes it (the CLI, the
//! HTTP API, another agent, a graph node): the agent's circuit breaker, retries with backoff for the
//! classes that may pass, and the deadline inherited from the caller.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::agent::{Agent, Request, Response};
use crate::breaker::counts_against;
use crate::error::{CallError, Site};
use crate::registry::Registry;
use crate::retry::{RetryPolicy, is_retryable};

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
}

/// The registry and the per-process counters behind every call.
pub struct Dispatcher {
    registry: Registry,
    next_task_id: AtomicU64,
    trace_seed: u64,
}

impl Dispatcher {
    pub fn new() -> Dispatcher {
        let trace_seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ (u64::from(std::process::id()) << 32);
        Dispatcher {
            registry: Registry::default(),
            next_task_id: AtomicU64::new(1),
            trace_seed,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
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
    /// was refused before any).
    pub async fn call_counting(
        &self,
        agent: &str,
        operation: &str,
        input: String,
        origin: Origin,
    ) -> (Result<Response, CallError>, u32) {
        let agent: Arc<Agent> = match self.registry.get(agent) {
            Ok(agent) => agent,
            Err(error) => return (Err(error), 0),
        };
        let policy_retry = &agent.policy().resilience.retry;
        let overridden;
        let retry = match origin.max_attempts {
            Some(max_attempts) => {
                overridden = RetryPolicy {
                    max_attempts,
                    ..policy_retry.clone()
                };
                &overridden
            }
            None => policy_retry,
        };
        let mut request = match self.request(&agent, operation, input, origin) {
            Ok(request) => request,
            Err(error) => return (Err(error), 0),
        };
        loop {
            let admission =
                agent
                    .breaker()
                    .admit(agent.id())
                    .map_err(|retry_in| CallError::CircuitOpen {
                        site: Site {
                            agent: agent.id().to_string(),
                            operation: request.operation.clone(),
                        },
                        retry_in,
                    });
            let admission = match admission {
                Ok(admission) => admission,
                Err(error) => return (Err(error), request.attempt - 1),
            };
            let request_attempt = request.attempt;
            let (error, returned) = match agent.attempt(request).await {
                Ok(response) => {
                    agent.breaker().record(agent.id(), admission, false);
                    return (Ok(response), request_attempt);
                }
                Err(failure) => failure,
            };
            agent
                .breaker()
                .record(agent.id(), admission, counts_against(error.kind()));
            request = returned;
            let next = request.attempt + 1;
            let wait = match is_retryable(error.kind())
                .then(|| retry.backoff_before(next, request.deadline))
            {
                Some(Some(wait)) => wait,
                _ => return (Err(error), request.attempt),
            };
            tracing::info!(agent = agent.id(), operation = request.operation, attempt = next, ?wait, error = %error, "retrying");
            tokio::time::sleep(wait).await;
            request.attempt = next;
        }
    }

    /// Checks a call against the agent (the operation exists, the input is JSON) and stamps it with a
    /// task id and its trace.
    pub fn request(
        &self,
        agent: &Agent,
        operation: &str,
        input: String,
        origin: Origin,
    ) -> Result<Request, CallError> {
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
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&input) {
            let site = Site {
                agent: agent.id().to_string(),
                operation: operation.to_string(),
            };
            return Err(CallError::InvalidJson {
                site,
                reason: e.to_string(),
            });
        }
        let task_id = self.next_task_id.fetch_add(1, Ordering::Relaxed);
        Ok(Request {
            task_id,
            operation: operation.to_string(),
            input,
            trace_id: origin
                .trace_id
                .unwrap_or_else(|| trace_id(self.trace_seed, task_id)),
            chain: origin.chain,
            attempt: 1,
            deadline: origin.deadline,
        })
    }
}

impl Default for Dispatcher {
    fn default() -> Self {
        Dispatcher::new()
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
