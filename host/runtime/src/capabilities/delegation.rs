//! `tandem:agent/delegation`: calls from one agent to another through the host.
//!
//! Each hop is checked by [`crate::delegation::Caller::hop`] (grant, cycle, depth). Refused hops are
//! `denied` errors, logged, published as events and audited; allowed hops are counted in both
//! agents' stats and go through the dispatcher like any call (breaker, retries) with the caller's
//! trace, chain and remaining deadline. `delegate-all` runs its calls
//! concurrently; `run-graph` hands a whole graph to the scheduler (every node's agent must be
//! granted). While a guest waits, it holds no OS thread.

use std::sync::Arc;

use crate::bindings::delegation::{Call, FailurePolicy, Graph, Host, NodeOutcome, NodeResult};
use crate::bindings::types::{CallError as WitCallError, ErrorKind as WitKind};
use crate::delegation::Caller;
use crate::dispatch::{Dispatcher, Origin};
use crate::error::ErrorKind;
use crate::sandbox::StoreData;
use crate::scheduler::{self, Outcome};

fn wit_kind(kind: ErrorKind) -> WitKind {
    match kind {
        ErrorKind::InvalidInput => WitKind::InvalidInput,
        // `overloaded` is not in the 0.1 WIT enum: the callee could not take the call.
        ErrorKind::Unavailable | ErrorKind::Overloaded => WitKind::Unavailable,
        // `quota-exceeded` is not in the 0.1 WIT enum; the message names it.
        ErrorKind::Failed | ErrorKind::Internal | ErrorKind::QuotaExceeded => WitKind::Failed,
        // `conflict` is not in the 0.1 WIT enum: it is a retryable failure.
        ErrorKind::Retryable | ErrorKind::Conflict => WitKind::Retryable,
        ErrorKind::Denied => WitKind::Denied,
        ErrorKind::DependencyFailed => WitKind::DependencyFailed,
        ErrorKind::Timeout => WitKind::Timeout,
        ErrorKind::FuelExhausted => WitKind::FuelExhausted,
        ErrorKind::MemoryLimit => WitKind::MemoryLimit,
        ErrorKind::StackOverflow => WitKind::StackOverflow,
        ErrorKind::Trap => WitKind::Trap,
        ErrorKind::CircuitOpen => WitKind::CircuitOpen,
    }
}

fn wit_error(call: &Call, kind: WitKind, message: String) -> WitCallError {
    WitCallError {
        kind,
        agent: call.agent.clone(),
        operation: call.operation.clone(),
        message,
    }
}

impl StoreData {
    /// The dispatcher and origin for `call`, or the error the guest gets instead.
    fn hop(&self, call: &Call) -> Result<(Arc<Dispatcher>, Origin), WitCallError> {
        let dispatcher = self.dispatcher.upgrade().ok_or_else(|| {
            wit_error(
                call,
                WitKind::Unavailable,
                "the host is shutting down".to_string(),
            )
        })?;
        let caller = Caller {
            agent: &self.call.agent,
            chain: &self.call.chain,
            trace_id: &self.call.trace_id,
            deadline: self.call.deadline,
            granted: &self.policy.grants.delegate_to,
        };
        let origin = caller.hop(&call.agent).map_err(|reason| {
            dispatcher.denied_hop(&caller, &call.agent, &call.operation, &reason);
            wit_error(call, WitKind::Denied, reason)
        })?;
        self.stats.add_delegation_made();
        Ok((dispatcher, origin))
    }
}

async fn run(
    hop: Result<(Arc<Dispatcher>, Origin), WitCallError>,
    call: Call,
) -> Result<String, WitCallError> {
    let (dispatcher, origin) = hop?;
    let Call {
        agent,
        operation,
        input,
    } = call;
    match dispatcher.call(&agent, &operation, input, origin).await {
        Ok(response) => Ok(response.output),
        Err(error) => Err(WitCallError {
            kind: wit_kind(error.kind()),
            message: error.to_string(),
            agent,
            operation,
        }),
    }
}

impl Host for StoreData {
    async fn delegate(&mut self, call: Call) -> Result<String, WitCallError> {
        let hop = self.hop(&call);
        run(hop, call).await
    }

    async fn delegate_all(&mut self, calls: Vec<Call>) -> Vec<Result<String, WitCallError>> {
        let runs = calls.into_iter().map(|call| run(self.hop(&call), call));
        futures::future::join_all(runs).await
    }

    async fn run_graph(&mut self, graph: Graph) -> Result<Vec<NodeResult>, WitCallError> {
        let graph_error = |kind, message: String| WitCallError {
            kind,
            agent: String::new(),
            operation: "run-graph".to_string(),
            message,
        };
        // Every node's agent must be one this agent may delegate to.
        let mut origin = None;
        let mut nodes = Vec::with_capacity(graph.nodes.len());
        for node in graph.nodes {
            let call = Call {
                agent: node.agent.clone(),
                operation: node.operation.clone(),
                input: String::new(),
            };
            let (dispatcher, hop) = self.hop(&call)?;
            origin.get_or_insert((dispatcher, hop));
            let input = serde_json::from_str(&node.input).map_err(|e| {
                graph_error(
                    WitKind::InvalidInput,
                    format!("node `{}`: the input is not JSON: {e}", node.id),
                )
            })?;
            nodes.push(scheduler::Node {
                id: node.id,
                agent: node.agent,
                op: node.operation,
                input,
                depends_on: node.depends_on,
                priority: node.priority,
                max_attempts: node.max_attempts,
                timeout: node.timeout_ms.map(|ms| format!("{ms}ms")),
            });
        }
        let Some((dispatcher, origin)) = origin else {
            return Ok(Vec::new());
        };
        let policy = match graph.policy {
            FailurePolicy::FailFast => scheduler::FailurePolicy::FailFast,
            FailurePolicy::ContinueIndependent => scheduler::FailurePolicy::Continue,
        };
        let plan = scheduler::Plan {
            policy,
            nodes,
            ..scheduler::Plan::default()
        };
        let agents: Vec<(String, String)> = plan
            .nodes
            .iter()
            .map(|n| (n.agent.clone(), n.op.clone()))
            .collect();
        let graph = plan
            .validate(&dispatcher)
            .map_err(|e| graph_error(WitKind::InvalidInput, e.to_string()))?;
        let report = graph
            .run(dispatcher.clone(), origin, std::future::pending(), |_| {})
            .await;
        Ok(report
            .nodes
            .into_iter()
            .zip(agents)
            .map(|(node, (agent, operation))| NodeResult {
                outcome: match node.outcome {
                    Outcome::Succeeded { output } => NodeOutcome::Succeeded(output.to_string()),
                    Outcome::Failed { kind, error } => NodeOutcome::Failed(WitCallError {
                        kind: wit_kind(kind),
                        agent,
                        operation,
                        message: error,
                    }),
                    Outcome::Skipped { reason } => NodeOutcome::Skipped(reason),
                    Outcome::Cancelled { reason } => NodeOutcome::Cancelled(reason),
                },
                id: node.id,
                attempts: node.attempts,
                duration_us: node.duration_us,
            })
            .collect())
    }
}
