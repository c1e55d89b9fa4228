//! A loaded agent as the runtime serves it: the engine's [`tandem_engine::Agent`] (its info, warm
//! instances and one attempt at a call) with the circuit breaker that protects its callers. Everything
//! of the engine's agent is reached through it.

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::{Arc, Weak};

use tandem_engine::bindings::AgentWorldPre;
use tandem_engine::engine::Tier;
use tandem_engine::sandbox::StoreData;
use tandem_engine::{Control, Delegator, EgressWatch, EventSink, HostInfo, HostLinks};
use wasmtime::Engine;

pub use tandem_engine::agent::{AgentInfo, OperationInfo, Request, Response};

use crate::breaker::Breaker;
use crate::dispatch::Dispatcher;
use crate::error::LoadError;
use crate::sandbox::Policy;

/// A loaded agent version and its breaker.
pub struct Agent {
    loaded: tandem_engine::Agent,
    breaker: Breaker,
    tier: Tier,
}

impl Agent {
    /// Loads the component (see [`tandem_engine::Agent::load`]), compiled for `engine` by `tier`'s
    /// compiler, with `dispatcher` as where its guests' delegations and events go.
    pub(crate) async fn load(
        engine: &Engine,
        pre: AgentWorldPre<StoreData>,
        source: PathBuf,
        content_hash: String,
        policy: Policy,
        tier: Tier,
        dispatcher: &Arc<Dispatcher>,
    ) -> Result<Agent, LoadError> {
        let weak = Arc::downgrade(dispatcher);
        let delegator: Weak<dyn Delegator> = weak.clone();
        let events: Weak<dyn EventSink> = weak.clone();
        let host_info: Weak<dyn HostInfo> = weak.clone();
        let egress: Weak<dyn EgressWatch> = weak.clone();
        let control: Weak<dyn Control> = weak;
        let links = HostLinks {
            delegator,
            events,
            host_info,
            control,
            egress,
            state: dispatcher.state().clone(),
        };
        let loaded =
            tandem_engine::Agent::load(engine, pre, source, content_hash, policy, links).await?;
        let breaker = Breaker::new(loaded.policy().resilience.breaker.clone());
        Ok(Agent {
            loaded,
            breaker,
            tier,
        })
    }

    /// Which compiler made the code it runs: Winch's baseline code for a hot-swapped version's
    /// first calls, until Cranelift's is ready.
    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// The agent's circuit breaker.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }
}

impl Deref for Agent {
    type Target = tandem_engine::Agent;

    fn deref(&self) -> &tandem_engine::Agent {
        &self.loaded
    }
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.loaded.fmt(f)
    }
}
