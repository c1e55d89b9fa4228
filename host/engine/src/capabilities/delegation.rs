//! `tandem:agent/delegation`: calls from one agent to another through the host.
//!
//! The engine cannot route a call (the registry, breakers and the scheduler live in the layer above),
//! so this capability hands each one to a [`Delegator`], the trait the runtime's dispatcher
//! implements (as Spin's outbound HTTP hands requests to the trigger). The instance holds it weakly:
//! the dispatcher owns the agents that own these instances. While a guest waits, it holds no OS thread.
//!
//! A caller may lend a callee one of its directories for one call (`delegate-lending` and its
//! fan-out and graph forms): the lends go to the delegator with the caller's own directory grants,
//! and the runtime decides whether they are allowed.
//!
//! The capability owns its context ([`DelegationCtx`]: the delegator, the grants, the caller's
//! figures) and implements the generated `Host` trait on [`DelegationView`].

use std::sync::{Arc, Weak};
use std::time::Instant;

use futures::future::BoxFuture;

use wasmtime::component::{HasData, Linker};

use crate::bindings::delegation::{self, Call, Graph, Host, Lend, NodeResult};
use crate::bindings::types::{CallError as WitCallError, ErrorKind as WitKind};
use crate::kind::ErrorKind;
use crate::sandbox::{CallState, DirGrant, StoreData};
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
    /// The directories it sees (its manifest's, and any lent to its call): what it may lend.
    pub dirs: &'a [DirGrant],
    /// The caller's figures, to count the delegations it makes.
    pub stats: &'a AgentStats,
}

/// How a guest's call to other agents gets back into the host. Defined here, implemented by the
/// runtime's dispatcher, which checks the hop (grant, cycle, depth), routes it through breakers and
/// retries, and reports refusals.
pub trait Delegator: Send + Sync {
    /// Calls `call.agent` for `caller`, lending it `lends` for the call; the callee's output, or
    /// the error the guest sees.
    fn delegate<'a>(
        self: Arc<Self>,
        caller: Caller<'a>,
        call: Call,
        lends: Vec<Lend>,
    ) -> BoxFuture<'a, Result<String, WitCallError>>;

    /// Runs `graph` for `caller` with the scheduler, lending every node `lends`; every node's agent
    /// must be granted.
    fn run_graph<'a>(
        self: Arc<Self>,
        caller: Caller<'a>,
        graph: Graph,
        lends: Vec<Lend>,
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
    /// The figures of the agent version, to count its delegations.
    stats: Arc<AgentStats>,
}

impl DelegationCtx {
    /// Delegation through `delegator`, counted in `stats`.
    pub fn new(delegator: Weak<dyn Delegator>, stats: Arc<AgentStats>) -> DelegationCtx {
        DelegationCtx { delegator, stats }
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

/// What the delegation functions see: the context, the call that delegates, the agents its
/// manifest lets it call and the directories it sees.
pub struct DelegationView<'a> {
    ctx: &'a DelegationCtx,
    call: &'a CallState,
    granted: &'a [String],
    dirs: &'a [DirGrant],
}

struct HasDelegation;

impl HasData for HasDelegation {
    type Data<'a> = DelegationView<'a>;
}

impl StoreData {
    fn delegation_view(&mut self) -> DelegationView<'_> {
        DelegationView {
            ctx: &self.delegation,
            call: &self.call,
            granted: &self.policy.grants.delegate_to,
            dirs: &self.policy.grants.dirs,
        }
    }
}

/// Links `tandem:agent/delegation`.
pub fn add_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    delegation::add_to_linker::<StoreData, HasDelegation>(linker, StoreData::delegation_view)
}

impl DelegationView<'_> {
    /// The caller the current call makes.
    fn caller(&self) -> Caller<'_> {
        Caller {
            agent: &self.call.agent,
            chain: &self.call.chain,
            trace_id: &self.call.trace_id,
            deadline: self.call.deadline,
            granted: self.granted,
            dirs: self.dirs,
            stats: &self.ctx.stats,
        }
    }

    async fn fan_out(
        &mut self,
        calls: Vec<Call>,
        lends: Vec<Lend>,
    ) -> Vec<Result<String, WitCallError>> {
        let Some(call) = calls.first() else {
            return Vec::new();
        };
        let delegator = match self.ctx.delegator(&call.agent, &call.operation) {
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
        let runs = calls.into_iter().map(|call| {
            delegator
                .clone()
                .delegate(self.caller(), call, lends.clone())
        });
        futures::future::join_all(runs).await
    }
}

impl Host for DelegationView<'_> {
    async fn delegate(&mut self, call: Call) -> Result<String, WitCallError> {
        self.delegate_lending(call, Vec::new()).await
    }

    async fn delegate_all(&mut self, calls: Vec<Call>) -> Vec<Result<String, WitCallError>> {
        self.fan_out(calls, Vec::new()).await
    }

    async fn run_graph(&mut self, graph: Graph) -> Result<Vec<NodeResult>, WitCallError> {
        self.run_graph_lending(graph, Vec::new()).await
    }

    async fn delegate_lending(
        &mut self,
        call: Call,
        lends: Vec<Lend>,
    ) -> Result<String, WitCallError> {
        let delegator = self.ctx.delegator(&call.agent, &call.operation)?;
        delegator.delegate(self.caller(), call, lends).await
    }

    async fn delegate_all_lending(
        &mut self,
        calls: Vec<Call>,
        lends: Vec<Lend>,
    ) -> Vec<Result<String, WitCallError>> {
        self.fan_out(calls, lends).await
    }

    async fn run_graph_lending(
        &mut self,
        graph: Graph,
        lends: Vec<Lend>,
    ) -> Result<Vec<NodeResult>, WitCallError> {
        let delegator = self.ctx.delegator("", "run-graph")?;
        delegator.run_graph(self.caller(), graph, lends).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// What a delegation carried: caller, chain, trace, grants.
    type Seen = (String, Vec<String>, String, Vec<String>);

    /// Records what each delegation carried and answers with the callee's name.
    #[derive(Default)]
    struct Recorder {
        seen: Mutex<Vec<Seen>>,
    }

    impl Delegator for Recorder {
        fn delegate<'a>(
            self: Arc<Self>,
            caller: Caller<'a>,
            call: Call,
            _lends: Vec<Lend>,
        ) -> BoxFuture<'a, Result<String, WitCallError>> {
            caller.stats.add_delegation_made();
            self.seen.lock().unwrap().push((
                caller.agent.to_string(),
                caller.chain.to_vec(),
                caller.trace_id.to_string(),
                caller.granted.to_vec(),
            ));
            Box::pin(async move { Ok(call.agent) })
        }

        fn run_graph<'a>(
            self: Arc<Self>,
            _caller: Caller<'a>,
            _graph: Graph,
            _lends: Vec<Lend>,
        ) -> BoxFuture<'a, Result<Vec<NodeResult>, WitCallError>> {
            Box::pin(async { Ok(Vec::new()) })
        }
    }

    fn call_state() -> CallState {
        CallState {
            agent: "director".into(),
            operation: "review".into(),
            trace_id: "t1".into(),
            deadline: Instant::now(),
            chain: vec!["user-agent".into()],
        }
    }

    fn call(agent: &str) -> Call {
        Call {
            agent: agent.into(),
            operation: "lint".into(),
            input: "{}".into(),
        }
    }

    #[tokio::test]
    async fn each_delegation_carries_the_callers_identity_chain_trace_and_grants() {
        let recorder = Arc::new(Recorder::default());
        let delegator: Arc<dyn Delegator> = recorder.clone();
        let stats = Arc::new(AgentStats::default());
        let ctx = DelegationCtx::new(Arc::downgrade(&delegator), stats.clone());
        let (state, granted) = (call_state(), ["linter".to_string()]);
        let mut view = DelegationView {
            ctx: &ctx,
            call: &state,
            granted: &granted,
            dirs: &[],
        };
        let all = view
            .delegate_all(vec![call("linter"), call("security")])
            .await;
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].as_deref().ok(), Some("security"));
        let seen = recorder.seen.lock().unwrap();
        assert_eq!(
            seen[0],
            (
                "director".to_string(),
                vec!["user-agent".to_string()],
                "t1".to_string(),
                vec!["linter".to_string()]
            )
        );
    }

    #[tokio::test]
    async fn with_the_host_gone_every_call_is_unavailable_and_names_its_callee() {
        let delegator: Arc<dyn Delegator> = Arc::new(Recorder::default());
        let ctx = DelegationCtx::new(Arc::downgrade(&delegator), Arc::new(AgentStats::default()));
        drop(delegator);
        let state = call_state();
        let mut view = DelegationView {
            ctx: &ctx,
            call: &state,
            granted: &[],
            dirs: &[],
        };
        let all = view.delegate_all(vec![call("a"), call("b")]).await;
        let refused: Vec<_> = all
            .into_iter()
            .map(|r| {
                let e = r.unwrap_err();
                (e.kind, e.agent)
            })
            .collect();
        assert_eq!(
            refused,
            [
                (WitKind::Unavailable, "a".into()),
                (WitKind::Unavailable, "b".into())
            ]
        );
    }
}
