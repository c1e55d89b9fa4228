//! `tandem:agent/delegation`: calls from one agent to another through the host.
//!
//! Each hop is checked by [`crate::delegation::Caller::hop`] (grant, cycle, depth) and refused hops
//! are `denied` errors, logged; allowed hops go through the dispatcher like any call (breaker,
//! retries) with the caller's trace, chain and remaining deadline. `delegate-all` runs its calls
//! concurrently; while a guest waits, it holds no OS thread.

use std::sync::Arc;

use crate::bindings::delegation::{Call, Graph, Host, NodeResult};
use crate::bindings::types::{CallError as WitCallError, ErrorKind as WitKind};
use crate::delegation::Caller;
use crate::dispatch::{Dispatcher, Origin};
use crate::error::ErrorKind;
use crate::sandbox::StoreData;

fn wit_kind(kind: ErrorKind) -> WitKind {
    match kind {
        ErrorKind::InvalidInput => WitKind::InvalidInput,
        ErrorKind::Unavailable => WitKind::Unavailable,
        ErrorKind::Failed | ErrorKind::Internal => WitKind::Failed,
        ErrorKind::Retryable => WitKind::Retryable,
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
        let caller = Caller {
            agent: &self.call.agent,
            chain: &self.call.chain,
            trace_id: &self.call.trace_id,
            deadline: self.call.deadline,
            granted: &self.policy.grants.delegate_to,
        };
        let origin = caller.hop(&call.agent).map_err(|reason| {
            tracing::warn!(
                agent = caller.agent,
                callee = call.agent,
                trace_id = caller.trace_id,
                reason,
                "delegation denied"
            );
            wit_error(call, WitKind::Denied, reason)
        })?;
        let dispatcher = self.dispatcher.upgrade().ok_or_else(|| {
            wit_error(
                call,
                WitKind::Unavailable,
                "the host is shutting down".to_string(),
            )
        })?;
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
        let first = graph.nodes.first();
        Err(WitCallError {
            kind: WitKind::Unavailable,
            agent: first.map(|n| n.agent.clone()).unwrap_or_default(),
            operation: first.map(|n| n.operation.clone()).unwrap_or_default(),
            message: "this host has no task-graph scheduler yet".to_string(),
        })
    }
}
