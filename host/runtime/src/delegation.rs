//! One agent calling another through the host: the rules of a hop (the caller's manifest must name
//! the callee, the hop must not close a cycle, the chain must not grow past [`MAX_DEPTH`], and the
//! callee inherits the caller's trace and what is left of its deadline), and the dispatcher's side of
//! the engine's [`Delegator`] trait.
//!
//! Refused hops are `denied` errors, logged, published as events and audited; allowed hops are
//! counted in both agents' stats and go through the dispatcher like any call (breaker, retries).
//! `run-graph` hands a whole graph to the scheduler (every node's agent must be granted).

use std::sync::Arc;

use futures::future::BoxFuture;
use tandem_engine::bindings::delegation::{Call, FailurePolicy, Graph, NodeOutcome, NodeResult};
use tandem_engine::bindings::types::{CallError as WitCallError, ErrorKind as WitKind};
use tandem_engine::capabilities::delegation::wit_kind;
use tandem_engine::{Caller, Delegator};

use crate::dispatch::{Dispatcher, Origin};
use crate::scheduler::{self, Outcome};

/// The longest delegation chain, the user's call included.
pub const MAX_DEPTH: usize = 8;

/// The origin of `caller`'s call to `callee`, or why the hop is refused.
pub fn hop(caller: &Caller<'_>, callee: &str) -> Result<Origin, String> {
    if !caller.granted.iter().any(|granted| granted == callee) {
        return Err(format!(
            "`{}` may not delegate to `{callee}`: not granted in its manifest",
            caller.agent
        ));
    }
    if callee == caller.agent || caller.chain.iter().any(|a| a == callee) {
        let mut cycle: Vec<&str> = caller
            .chain
            .iter()
            .map(String::as_str)
            .skip_while(|a| *a != callee)
            .collect();
        cycle.extend([caller.agent, callee]);
        if cycle.first() != Some(&callee) {
            cycle.insert(0, callee);
        }
        return Err(format!("delegation cycle refused: {}", cycle.join(" -> ")));
    }
    if caller.chain.len() + 2 > MAX_DEPTH {
        return Err(format!(
            "delegation chain too deep: {} agents, at most {MAX_DEPTH}",
            caller.chain.len() + 2
        ));
    }
    let mut chain = caller.chain.to_vec();
    chain.push(caller.agent.to_string());
    Ok(Origin {
        trace_id: Some(caller.trace_id.to_string()),
        chain,
        deadline: Some(caller.deadline),
        max_attempts: None,
        no_cache: false,
    })
}

fn wit_error(agent: &str, operation: &str, kind: WitKind, message: String) -> WitCallError {
    WitCallError {
        kind,
        agent: agent.to_string(),
        operation: operation.to_string(),
        message,
    }
}

impl Dispatcher {
    /// The origin of `caller`'s call to `agent`, counted as a delegation it made; or the `denied`
    /// error the guest gets, reported.
    fn allow_hop(
        &self,
        caller: &Caller<'_>,
        agent: &str,
        operation: &str,
    ) -> Result<Origin, WitCallError> {
        let origin = hop(caller, agent).map_err(|reason| {
            self.denied_hop(caller, agent, operation, &reason);
            wit_error(agent, operation, WitKind::Denied, reason)
        })?;
        caller.stats.add_delegation_made();
        Ok(origin)
    }
}

impl Delegator for Dispatcher {
    fn delegate<'a>(
        self: Arc<Self>,
        caller: Caller<'a>,
        call: Call,
    ) -> BoxFuture<'a, Result<String, WitCallError>> {
        let hop = self.allow_hop(&caller, &call.agent, &call.operation);
        Box::pin(async move {
            let origin = hop?;
            let Call {
                agent,
                operation,
                input,
            } = call;
            match self.call(&agent, &operation, input, origin).await {
                Ok(response) => Ok(response.output),
                Err(error) => Err(WitCallError {
                    kind: wit_kind(error.kind()),
                    message: error.to_string(),
                    agent,
                    operation,
                }),
            }
        })
    }

    fn run_graph<'a>(
        self: Arc<Self>,
        caller: Caller<'a>,
        graph: Graph,
    ) -> BoxFuture<'a, Result<Vec<NodeResult>, WitCallError>> {
        Box::pin(async move {
            let graph_error = |kind, message| wit_error("", "run-graph", kind, message);
            // Every node's agent must be one this agent may delegate to.
            let mut origin = None;
            let mut nodes = Vec::with_capacity(graph.nodes.len());
            for node in graph.nodes {
                let hop = self.allow_hop(&caller, &node.agent, &node.operation)?;
                origin.get_or_insert(hop);
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
            let Some(origin) = origin else {
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
                .validate(&self)
                .map_err(|e| graph_error(WitKind::InvalidInput, e.to_string()))?;
            let report = graph
                .run(self.clone(), origin, std::future::pending(), |_| {})
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
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tandem_engine::stats::AgentStats;

    use super::*;

    static STATS: std::sync::LazyLock<AgentStats> = std::sync::LazyLock::new(AgentStats::default);

    fn caller<'a>(agent: &'a str, chain: &'a [String], granted: &'a [String]) -> Caller<'a> {
        Caller {
            agent,
            chain,
            trace_id: "t",
            deadline: Instant::now(),
            granted,
            stats: &STATS,
        }
    }

    #[test]
    fn a_granted_hop_extends_the_chain_and_keeps_trace_and_deadline() {
        let (chain, granted) = (vec!["a".to_string()], vec!["c".to_string()]);
        let c = caller("b", &chain, &granted);
        let origin = hop(&c, "c").unwrap();
        assert_eq!(origin.chain, ["a", "b"]);
        assert_eq!(origin.trace_id.as_deref(), Some("t"));
        assert_eq!(origin.deadline, Some(c.deadline));
    }

    #[test]
    fn ungranted_cyclic_and_too_deep_hops_are_refused_with_the_reason() {
        let granted = vec!["a".to_string(), "b".to_string(), "z".to_string()];
        assert_eq!(
            hop(&caller("b", &[], &[]), "a").unwrap_err(),
            "`b` may not delegate to `a`: not granted in its manifest"
        );
        let chain = vec!["a".to_string()];
        assert_eq!(
            hop(&caller("b", &chain, &granted), "a").unwrap_err(),
            "delegation cycle refused: a -> b -> a"
        );
        assert_eq!(
            hop(&caller("b", &[], &granted), "b").unwrap_err(),
            "delegation cycle refused: b -> b"
        );
        let deep: Vec<String> = (0..7).map(|i| format!("x{i}")).collect();
        assert!(
            hop(&caller("y", &deep, &granted), "z")
                .unwrap_err()
                .contains("too deep")
        );
    }
}
