//! `tandem:agent/delegation`: calls from one agent to another through the host.
//!
//! Delegation is denied unless the caller's grants name the callee. Until delegation is implemented
//! (its own issue), every request is refused with a `denied` error that says so; a granted target
//! gets the same answer rather than a silent success.

use crate::bindings::delegation::{Call, Graph, Host, NodeResult};
use crate::bindings::types::{CallError, ErrorKind};
use crate::sandbox::StoreData;

impl StoreData {
    fn refuse(&self, agent: &str, operation: &str) -> CallError {
        let caller = &*self.call.agent;
        let message = if self.policy.grants.delegate_to.iter().any(|a| a == agent) {
            format!(
                "`{caller}` may delegate to `{agent}`, but this host does not run delegated calls yet"
            )
        } else {
            format!("`{caller}` may not delegate to `{agent}`: not granted in its manifest")
        };
        CallError {
            kind: ErrorKind::Denied,
            agent: agent.to_string(),
            operation: operation.to_string(),
            message,
        }
    }
}

impl Host for StoreData {
    async fn delegate(&mut self, call: Call) -> Result<String, CallError> {
        Err(self.refuse(&call.agent, &call.operation))
    }

    async fn delegate_all(&mut self, calls: Vec<Call>) -> Vec<Result<String, CallError>> {
        calls
            .iter()
            .map(|call| Err(self.refuse(&call.agent, &call.operation)))
            .collect()
    }

    async fn run_graph(&mut self, graph: Graph) -> Result<Vec<NodeResult>, CallError> {
        let first = graph
            .nodes
            .first()
            .map(|n| (n.agent.as_str(), n.operation.as_str()));
        let (agent, operation) = first.unwrap_or(("", ""));
        Err(self.refuse(agent, operation))
    }
}
