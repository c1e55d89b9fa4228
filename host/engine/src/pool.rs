//! The instances of one agent: warm ones kept for reuse, and the bound on how many are alive at once.
//!
//! A call takes a [`Lease`] on an instance: a warm one when there is one, a new one when fewer than
//! `limits.max_instances` are alive, otherwise it waits until one is returned or dropped, but only
//! until its deadline, and only when fewer than `limits.max_queue` calls wait already
//! ([`LeaseError`]). Only a lease the caller [`keep`](Lease::keep)s (the call finished without a
//! trap or limit) goes back to the pool; any other, including one whose call was cancelled, is
//! dropped with its instance.
//!
//! A call that was lent directories gets a new instance with them mounted
//! ([`lease`](InstancePool::lease)), counted against the same bound (an idle
//! instance is retired to make room) and never kept: the directories go with the call.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::Notify;
use wasmtime::{Engine, Store};

use crate::bindings::{AgentWorld, AgentWorldPre};
use crate::sandbox::{self, DirGrant, Isolation, Owner, Stdio, StoreData};

/// A live instance of the agent's component in its own store.
pub(crate) struct Instance {
    pub store: Store<StoreData>,
    pub world: AgentWorld,
    /// The instance itself, for exports the world's bindings do not cover (`schemas`).
    pub raw: wasmtime::component::Instance,
}

impl Instance {
    pub async fn new(
        engine: &Engine,
        pre: &AgentWorldPre<StoreData>,
        agent: Arc<str>,
        owner: &Owner,
    ) -> wasmtime::Result<Instance> {
        let mut store = sandbox::new_store(engine, agent, owner)?;
        let raw = pre.instance_pre().instantiate_async(&mut store).await?;
        let world = AgentWorld::new(&mut store, &raw)?;
        Ok(Instance { store, world, raw })
    }
}

struct State {
    idle: Vec<Instance>,
    /// Instances alive: idle ones, leased ones, and ones being created.
    live: usize,
    /// The most that were alive at once.
    peak: usize,
}

pub(crate) struct InstancePool {
    engine: Engine,
    pre: AgentWorldPre<StoreData>,
    agent: Arc<str>,
    owner: Owner,
    state: Mutex<State>,
    /// Signalled when an instance is returned or dropped while a call waits for one.
    available: Notify,
    /// Calls waiting in [`lease`](InstancePool::lease), so that a release only signals when needed.
    waiting: AtomicUsize,
}

impl InstancePool {
    /// A pool that starts with `warm` (the instance used to describe the agent), when isolation
    /// allows keeping it and its stdio is not tagged with a placeholder id.
    pub fn new(
        engine: &Engine,
        pre: AgentWorldPre<StoreData>,
        agent: Arc<str>,
        owner: Owner,
        warm: Instance,
    ) -> InstancePool {
        let policy = &owner.policy;
        let keep =
            policy.limits.isolation == Isolation::Pooled && policy.grants.stdio == Stdio::Discard;
        let idle = if keep { vec![warm] } else { Vec::new() };
        InstancePool {
            engine: engine.clone(),
            pre,
            agent,
            state: Mutex::new(State {
                live: idle.len(),
                peak: idle.len(),
                idle,
            }),
            owner,
            available: Notify::new(),
            waiting: AtomicUsize::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is consistent at every unlock: a panic elsewhere cannot leave it half-updated.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Calls waiting for a free instance now.
    pub fn queued(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Warm instances waiting for a call.
    pub fn idle(&self) -> usize {
        self.state().idle.len()
    }

    /// Instances alive: idle, in use, or being created.
    pub fn live(&self) -> usize {
        self.state().live
    }

    /// The most instances alive at once so far.
    pub fn peak(&self) -> usize {
        self.state().peak
    }

    /// An instance for one call; waits while `max_instances` are in use, until `deadline` at most.
    /// With `lent` directories, a new instance that has them (and is dropped after the call).
    pub async fn lease(
        &self,
        deadline: Instant,
        lent: &[DirGrant],
    ) -> Result<Lease<'_>, LeaseError> {
        let limits = &self.owner.policy.limits;
        let mut waited = false;
        loop {
            {
                let mut state = self.state();
                if let Some(instance) = state.idle.pop() {
                    if lent.is_empty() {
                        return Ok(Lease {
                            pool: self,
                            instance: Some(instance),
                            keep: false,
                            lent: false,
                            waited,
                        });
                    }
                    // Its slot goes to the new instance.
                    drop(instance);
                    break;
                }
                if state.live < limits.max_instances {
                    state.live += 1;
                    state.peak = state.peak.max(state.live);
                    break;
                }
            }
            let waiting = self.waiting.load(Ordering::SeqCst);
            if waiting >= limits.max_queue {
                return Err(LeaseError::QueueFull { waiting });
            }
            if tokio::time::timeout_at(deadline.into(), self.wait_for_release())
                .await
                .is_err()
            {
                return Err(LeaseError::Deadline);
            }
            waited = true;
        }
        // A slot is reserved: create the instance outside the lock. If this fails, the lease's drop
        // gives the slot back.
        let mut lease = Lease {
            pool: self,
            instance: None,
            keep: false,
            lent: !lent.is_empty(),
            waited,
        };
        let lending;
        let owner = if lent.is_empty() {
            &self.owner
        } else {
            lending = self.owner.lending(lent);
            &lending
        };
        lease.instance = Some(
            Instance::new(&self.engine, &self.pre, self.agent.clone(), owner)
                .await
                .map_err(LeaseError::Instantiate)?,
        );
        Ok(lease)
    }
}

/// Why a call got no instance.
#[derive(Debug)]
pub(crate) enum LeaseError {
    /// `max_queue` calls were waiting already.
    QueueFull { waiting: usize },
    /// The call's deadline passed while it waited.
    Deadline,
    /// A new instance could not be created (its start-up trapped, say).
    Instantiate(wasmtime::Error),
}

impl InstancePool {
    /// Waits until a leased instance is released. The count is raised before the state is looked at
    /// again, so a release that happens in between leaves a `notify_one` permit and is not missed.
    async fn wait_for_release(&self) {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        // Counted down however this ends, including when the waiting call is cancelled.
        let _counted = Waiting(&self.waiting);
        let released = {
            let state = self.state();
            !state.idle.is_empty() || state.live < self.owner.policy.limits.max_instances
        };
        if !released {
            self.available.notified().await;
        }
    }
}

struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One instance, lent to one call.
pub(crate) struct Lease<'a> {
    pool: &'a InstancePool,
    instance: Option<Instance>,
    keep: bool,
    /// The instance has directories lent to its call: never kept.
    lent: bool,
    /// The call waited for the instance (so its clock reading from before is stale).
    pub waited: bool,
}

impl Lease<'_> {
    pub fn instance(&mut self) -> &mut Instance {
        self.instance
            .as_mut()
            .expect("a lease holds its instance until dropped")
    }

    /// Returns the instance to the pool for reuse (when the agent's isolation is pooled and the
    /// guest closed the files it opened: one that holds some is retired, and its files closed).
    pub fn keep(mut self) {
        self.keep = !self.lent
            && self
                .instance
                .as_ref()
                .is_some_and(|i| !i.store.data().files.holds_files());
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let pooled = self.pool.owner.policy.limits.isolation == Isolation::Pooled;
        let instance = self.instance.take();
        {
            let mut state = self.pool.state();
            match instance {
                Some(instance) if self.keep && pooled => state.idle.push(instance),
                _ => state.live -= 1,
            }
        }
        if self.pool.waiting.load(Ordering::SeqCst) > 0 {
            self.pool.available.notify_one();
        }
    }
}
