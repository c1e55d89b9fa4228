//! `tandem:agent/delegation`: calls from one agent to another through the host.
//!
//! The engine cannot route a call (the registry, breakers and the scheduler live in the layer above),
//! so this capability hands each one to a [`Delegator`], the trait the runtime's dispatcher
//! implements (as Spin's outbound HTTP hands requests to the trigger). The instance holds it weakly:
//! the dispatcher owns the agents that own these instances. While a guest waits, it holds no OS thread.

use std::sync::{Arc, Weak};
use std::time::Instant;

use futures::future::BoxFuture;

use crate::bindings::delegation::{Call, Graph, Host, NodeResult};
use crate::bindings::types::{CallError as WitCallError, ErrorKind as WitKind};
use crate::kind::ErrorKind;
use crate::sandbox::StoreData;
use crate::stats::AgentStats;

/// A caller about to delegate: who it is, what its own call carries, and what it was granted.
pub struct Caller<'a> {
    /// The calling agent.
    pub agent: &'a str,
    /// The agents that delegated down to the caller, first one first.
    pub chain: &'a [String],
    /// The trace the caller's call belongs to.
    pub trace_id: &'a str,
    /// The caller's own deadline, which its callees inherit.
    pub deadline: Instant,
    /// The agents its manifest lets it call.
    pub granted: &'a [String],
    /// The caller's figures, to count the delegations it makes.
    pub stats: &'a AgentStats,
}

/// How a guest's call to other agents gets back into the host. Defined here, implemented by the
/// runtime's dispatcher, which checks the hop (grant, cycle, depth), routes it through breakers and
/// retries, and reports refusals.
pub trait Delegator: Send + Sync {
    /// Calls `call.agent` for `caller`; the callee's output, or the error the guest sees.
    fn delegate<'a>(
        self: Arc<Self>,
        caller: Caller<'a>,
        call: Call,
    ) -> BoxFuture<'a, Result<String, WitCallError>>;

    /// Runs `graph` for `caller` with the scheduler; every node's agent must be granted.
    fn run_graph<'a>(
        self: Arc<Self>,
        caller: Caller<'a>,
        graph: Graph,
    ) -> BoxFuture<'a, Result<Vec<NodeResult>, WitCallError>>;
}

/// The WIT error class of an [`ErrorKind`]; classes the 0.1 WIT enum lacks map to the nearest one.
pub fn wit_kind(kind: ErrorKind) -> WitKind {
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

/// One instance's way out to other agents.
pub struct DelegationCtx {
    /// Weak: the delegator owns the agents that own this instance.
    delegator: Weak<dyn Delegator>,
}

impl DelegationCtx {
    /// Delegation through `delegator`.
    pub fn new(delegator: Weak<dyn Delegator>) -> DelegationCtx {
        DelegationCtx { delegator }
    }

    /// The delegator, or the error the guest gets when the host is going away.
    fn delegator(&self, agent: &str, operation: &str) -> Result<Arc<dyn Delegator>, WitCallError> {
        self.delegator.upgrade().ok_or_else(|| WitCallError {
            kind: WitKind::Unavailable,
            agent: agent.to_string(),
            operation: operation.to_string(),
            message: "the host is shutting down".to_string(),
        })
    }
}

impl StoreData {
    /// The caller this instance's current call makes.
    fn caller(&self) -> Caller<'_> {
        Caller {
            agent: &self.call.agent,
            chain: &self.call.chain,
            trace_id: &self.call.trace_id,
            deadline: self.call.deadline,
            granted: &self.policy.grants.delegate_to,
            stats: &self.stats,
        }
    }
}

impl Host for StoreData {
    async fn delegate(&mut self, call: Call) -> Result<String, WitCallError> {
        let delegator = self.delegation.delegator(&call.agent, &call.operation)?;
        delegator.delegate(self.caller(), call).await
    }

    async fn delegate_all(&mut self, calls: Vec<Call>) -> Vec<Result<String, WitCallError>> {
        let Some(call) = calls.first() else {
            return Vec::new();
        };
        let delegator = match self.delegation.delegator(&call.agent, &call.operation) {
            Ok(delegator) => delegator,
            Err(error) => {
                let refuse = |call: &Call| WitCallError {
                    agent: call.agent.clone(),
                    operation: call.operation.clone(),
                    ..error.clone()
                };
                return calls.iter().map(|call| Err(refuse(call))).collect();
            }
        };
        let runs = calls
            .into_iter()
            .map(|call| delegator.clone().delegate(self.caller(), call));
        futures::future::join_all(runs).await
    }

    async fn run_graph(&mut self, graph: Graph) -> Result<Vec<NodeResult>, WitCallError> {
        let delegator = self.delegation.delegator("", "run-graph")?;
        delegator.run_graph(self.caller(), graph).await
    }
}
