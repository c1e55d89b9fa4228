//! Calling other agents through the host. The host checks every call against this agent's manifest,
//! passes the trace id and the remaining deadline down, and refuses cycles.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::tandem::agent::delegation as wit;
use crate::bindings::tandem::agent::types::ErrorKind;
use crate::{CallError, Json};

pub use wit::{FailurePolicy, Graph, GraphNode, NodeOutcome, NodeResult};

/// One call for [`delegate_all`]: an agent, an operation and its JSON input.
pub type Call = wit::Call;

impl Call {
    /// A call whose input is encoded from `input`.
    pub fn new(agent: &str, operation: &str, input: &impl Serialize) -> Result<Call, CallError> {
        Ok(Call {
            agent: agent.to_string(),
            operation: operation.to_string(),
            input: encode(agent, operation, input)?,
        })
    }
}

/// Calls `operation` of `agent` with a typed input and decodes its typed output.
pub fn delegate<I: Serialize, O: DeserializeOwned>(
    agent: &str,
    operation: &str,
    input: &I,
) -> Result<O, CallError> {
    let output = delegate_json(agent, operation, &encode(agent, operation, input)?)?;
    serde_json::from_str(&output).map_err(|e| CallError {
        kind: ErrorKind::Failed,
        agent: agent.to_string(),
        operation: operation.to_string(),
        message: format!("could not decode the output: {e}"),
    })
}

/// Calls `operation` of `agent` with JSON text and returns its JSON output.
pub fn delegate_json(agent: &str, operation: &str, input: &str) -> Result<Json, CallError> {
    wit::delegate(&wit::Call {
        agent: agent.to_string(),
        operation: operation.to_string(),
        input: input.to_string(),
    })
}

/// Runs the calls concurrently on the host; the results come back in the same order.
pub fn delegate_all(calls: &[Call]) -> Vec<Result<Json, CallError>> {
    wit::delegate_all(calls)
}

/// Hands a dependency graph to the host's parallel scheduler and returns each node's result.
pub fn run_graph(graph: &Graph) -> Result<Vec<NodeResult>, CallError> {
    wit::run_graph(graph)
}

fn encode(agent: &str, operation: &str, input: &impl Serialize) -> Result<Json, CallError> {
    serde_json::to_string(input).map_err(|e| CallError {
        kind: ErrorKind::InvalidInput,
        agent: agent.to_string(),
        operation: operation.to_string(),
        message: format!("could not encode the input: {e}"),
    })
}
