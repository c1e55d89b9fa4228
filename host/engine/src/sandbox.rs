//! One agent instance's sandbox: its [`Store`] and the [`StoreData`] in it (the capabilities' contexts
//! and the current call), the limiter that holds memory and tables to the agent's [`Limits`], and the
//! deadline checks and fuel that bound every call. How a failure in it is classified is in
//! [`crate::trap`].
//!
//! Everything is denied unless granted (see [`Grants`]): the store is built from the agent's policy
//! and nothing else.

use std::sync::{Arc, Weak};
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub use tandem_manifest::{DirGrant, Grants, Isolation, Limits, Policy, Resilience, Stdio};

use crate::capabilities::control::{Control, ControlCtx};
use crate::capabilities::delegation::{DelegationCtx, Delegator};
use crate::capabilities::egress::{EgressCtx, EgressWatch};
use crate::capabilities::events::{EventSink, EventsCtx};
use crate::capabilities::files::FilesCtx;
use crate::capabilities::host_info::{HostInfo, HostInfoCtx};
use crate::capabilities::log::LogCtx;
use crate::capabilities::state::StateCtx;
use crate::engine::EPOCH_TICK;
use crate::state::StateAccess;
use crate::stats::AgentStats;
use crate::trap::LimitExceeded;

/// What an instance belongs to: its agent's policy and stats, where its delegations and events go
/// (weak, because the layer above owns the agents that own these instances) and the host's state
/// store.
#[derive(Clone)]
pub struct Owner {
    /// The agent's policy.
    pub policy: Arc<Policy>,
    /// The figures of the agent version.
    pub stats: Arc<AgentStats>,
    /// Where its calls to other agents go.
    pub delegator: Weak<dyn Delegator>,
    /// Where its events go.
    pub events: Weak<dyn EventSink>,
    /// What it may read of the host, when granted.
    pub host_info: Weak<dyn HostInfo>,
    /// What it may do to other agents' versions, when granted.
    pub control: Weak<dyn Control>,
    /// Where the outcome of its outbound requests goes, when it is granted egress.
    pub egress: Weak<dyn EgressWatch>,
    /// The host's durable state.
    pub state: Arc<StateAccess>,
}

impl Owner {
    /// The same owner with `lent` directories added to its grants: for an instance that serves
    /// one call they were lent to.
    pub fn lending(&self, lent: &[DirGrant]) -> Owner {
        let mut policy = Policy::clone(&self.policy);
        policy.grants.dirs.extend(lent.iter().cloned());
        Owner {
            policy: Arc::new(policy),
            ..self.clone()
        }
    }
}

/// Who is calling: the call an instance is running, which every capability reads to tag and bound
/// what it does.
#[derive(Debug)]
pub struct CallState {
    /// The agent the instance belongs to.
    pub agent: Arc<str>,
    /// The operation being run.
    pub operation: String,
    /// The call's trace.
    pub trace_id: String,
    /// When the call must end.
    pub deadline: Instant,
    /// The agents that delegated down to this call.
    pub chain: Vec<String>,
}

/// The data of one instance's [`Store`]: the call it runs and one context per capability. Each
/// capability implements its host functions on a view of its own context (see `capabilities`).
pub struct StoreData {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    /// The files capability's bounds (see `capabilities::files`).
    pub(crate) files: FilesCtx,
    limiter: Limiter,
    pub(crate) policy: Arc<Policy>,
    pub(crate) call: CallState,
    /// `tandem:agent/log`.
    pub(crate) log: LogCtx,
    /// `tandem:agent/state`.
    pub(crate) state: StateCtx,
    /// `tandem:agent/delegation`.
    pub(crate) delegation: DelegationCtx,
    /// `tandem:agent/events`.
    pub(crate) events: EventsCtx,
    /// `tandem:agent/host-info`.
    pub(crate) host_info: HostInfoCtx,
    /// `tandem:agent/control`.
    pub(crate) control: ControlCtx,
    /// `wasi:http/outgoing-handler`, when granted.
    pub(crate) egress: EgressCtx,
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

struct Limiter {
    max_memory_bytes: usize,
    max_table_elements: usize,
    stats: Arc<AgentStats>,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory_bytes {
            return Err(wasmtime::Error::new(LimitExceeded {
                what: "linear memory",
                requested: desired,
                limit: self.max_memory_bytes,
            }));
        }
        self.stats.memory_grew_to(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_table_elements {
            return Err(wasmtime::Error::new(LimitExceeded {
                what: "table",
                requested: desired,
                limit: self.max_table_elements,
            }));
        }
        Ok(true)
    }
}

/// Handles (streams, pollables, ...) an instance may hold besides its open files.
pub const MAX_HANDLES: usize = 4096;

/// How many ticks a guest runs before it yields to the async executor, so that a long call cannot
/// starve the other tasks of its worker thread.
const YIELD_EVERY_TICKS: u64 = 10;

/// A store for one instance of `agent`, with its limits, grants, deadline checks and fuel.
pub fn new_store(
    engine: &Engine,
    agent: Arc<str>,
    owner: &Owner,
) -> std::io::Result<Store<StoreData>> {
    let policy = owner.policy.clone();
    let mut table = ResourceTable::new();
    // Every handle a guest holds (files, streams, pollables) is an entry: bounded, so that a guest
    // cannot grow the host's memory by making them.
    table.set_max_capacity(MAX_HANDLES + policy.limits.max_open_files);
    let roots = policy.grants.dirs.iter().map(|d| d.host.clone()).collect();
    let egress = EgressCtx::new(
        agent.clone(),
        policy.grants.egress.clone(),
        policy.grants.secrets.clone(),
        owner.stats.clone(),
        owner.egress.clone(),
    );
    let data = StoreData {
        wasi: crate::capabilities::wasi::wasi_ctx(&policy.grants, &agent)?,
        table,
        files: FilesCtx::new(policy.limits.max_open_files, roots),
        limiter: Limiter {
            max_memory_bytes: policy.limits.max_memory_bytes,
            max_table_elements: policy.limits.max_table_elements,
            stats: owner.stats.clone(),
        },
        call: CallState {
            agent,
            operation: String::new(),
            trace_id: String::new(),
            deadline: Instant::now() + policy.limits.timeout,
            chain: Vec::new(),
        },
        log: LogCtx::new(policy.limits.max_log_records),
        state: StateCtx::new(owner.state.clone(), policy.state_quota),
        delegation: DelegationCtx::new(owner.delegator.clone(), owner.stats.clone()),
        events: EventsCtx::new(owner.events.clone()),
        host_info: HostInfoCtx::new(owner.host_info.clone()),
        control: ControlCtx::new(owner.control.clone()),
        egress,
        policy,
    };
    let mut store = Store::new(engine, data);
    store.limiter(|data| &mut data.limiter);
    // Instantiation runs guest code (start functions, static constructors): give it the same budget
    // as a call.
    set_fuel(&mut store).map_err(std::io::Error::other)?;
    store.set_epoch_deadline(YIELD_EVERY_TICKS);
    // Every few ticks: trap when the call's deadline has passed, otherwise yield and carry on.
    store.epoch_deadline_callback(|context| {
        let now = Instant::now();
        let deadline = context.data().call.deadline;
        if now >= deadline {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Yield(ticks_until(now, deadline)))
        }
    });
    Ok(store)
}

/// Epoch ticks until the next deadline check: the time left, but at most [`YIELD_EVERY_TICKS`] so a
/// long call yields regularly, and at least one.
fn ticks_until(now: Instant, deadline: Instant) -> u64 {
    let left = deadline.saturating_duration_since(now).as_micros() / EPOCH_TICK.as_micros();
    (left as u64).clamp(1, YIELD_EVERY_TICKS)
}

/// Arms a store for the next call: its deadline, fuel, log budget and the call's identity.
pub fn begin_call(
    store: &mut Store<StoreData>,
    operation: &str,
    trace_id: &str,
    chain: &[String],
    now: Instant,
    deadline: Instant,
) -> wasmtime::Result<()> {
    set_fuel(store)?;
    store.set_epoch_deadline(ticks_until(now, deadline));
    let data = store.data_mut();
    data.call.operation.clear();
    data.call.operation.push_str(operation);
    data.call.trace_id.clear();
    data.call.trace_id.push_str(trace_id);
    data.call.deadline = deadline;
    data.call.chain.clear();
    data.call.chain.extend_from_slice(chain);
    data.log.reset(data.policy.limits.max_log_records);
    data.state.begin_call();
    data.egress
        .begin_call(&data.call.agent, trace_id, chain, deadline);
    Ok(())
}

/// Fills the store's fuel to the agent's limit, when it has one (and so runs on the metered engine).
fn set_fuel(store: &mut Store<StoreData>) -> wasmtime::Result<()> {
    match store.data().policy.limits.fuel {
        Some(fuel) => store.set_fuel(fuel),
        None => Ok(()),
    }
}

/// Fuel the last call used (0 for an agent that is not metered).
pub fn fuel_used(store: &Store<StoreData>) -> u64 {
    match store.data().policy.limits.fuel {
        Some(fuel) => fuel.saturating_sub(store.get_fuel().unwrap_or(0)),
        None => 0,
    }
}
