//! Calling other agents through the host. The host checks every call against this agent's manifest,
//! passes the trace id and the remaining deadline down, and refuses cycles.
//!
//! A call may lend the callee some of this agent's directories for its length ([`Lend`],
//! [`delegate_lending`], [`delegate_all_lending`], [`run_graph_lending`]):
//!
//! ```ignore
//! let lend = Lend::read_only("repo/src", "src");
//! let report = delegate_lending("linter", "lint", r#"{"paths": ["src"]}"#, &[lend])?;
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::tandem::agent::delegation as wit;
use crate::bindings::tandem::agent::types::ErrorKind;
use crate::{CallError, Json};

pub use wit::{FailurePolicy, Graph, GraphNode, Lend, NodeOutcome, NodeResult};

impl Lend {
    /// Lends the directory this agent sees at `path` (one of its granted directories or one
    /// below it) to the callee, read-only, at `guest`.
    pub fn read_only(path: &str, guest: &str) -> Lend {
        Lend {
            path: path.to_string(),
            guest: guest.to_string(),
            read_only: true,
        }
    }

    /// The same, writable when this agent may write there (read-only otherwise).
    pub fn read_write(path: &str, guest: &str) -> Lend {
        Lend {
            read_only: false,
            ..Lend::read_only(path, guest)
        }
    }
}

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

/// [`delegate_json`], lending the callee `lends` for the call. Denied when a lend is wider than
/// this agent's own grant or the callee does not accept lent directories.
pub fn delegate_lending(
    agent: &str,
    operation: &str,
    input: &str,
    lends: &[Lend],
) -> Result<Json, CallError> {
    let call = wit::Call {
        agent: agent.to_string(),
        operation: operation.to_string(),
        input: input.to_string(),
    };
    wit::delegate_lending(&call, lends)
}

/// [`delegate_all`], lending every call `lends`.
pub fn delegate_all_lending(calls: &[Call], lends: &[Lend]) -> Vec<Result<Json, CallError>> {
    wit::delegate_all_lending(calls, lends)
}

/// [`run_graph`], lending every node `lends`.
pub fn run_graph_lending(graph: &Graph, lends: &[Lend]) -> Result<Vec<NodeResult>, CallError> {
    wit::run_graph_lending(graph, lends)
}

fn encode(agent: &str, operation: &str, input: &impl Serialize) -> Result<Json, CallError> {
    serde_json::to_string(input).map_err(|e| CallError {
        kind: ErrorKind::InvalidInput,
        agent: agent.to_string(),
        operation: operation.to_string(),
        message: format!("could not encode the input: {e}"),
    })
}
