//! `tandem:agent/state`: the agent's durable key-value store, in its own namespace (its id). Reads
//! see the call's own writes; the writes are kept in the call's [`Changes`] and committed by the
//! engine when the call succeeds (see `Agent::attempt`).
//!
//! The capability owns its context ([`StateCtx`]: the host's store, the agent's quota and the
//! call's writes) and implements the generated `Host` trait on [`StateView`].

use std::sync::Arc;

use tandem_manifest::Quota;
use wasmtime::component::{HasData, Linker};

use crate::bindings::state::{self, Host, StateError as WitStateError};
use crate::sandbox::StoreData;
use crate::state::{Changes, StateAccess, StateError, StateStore};

fn wit_error(error: StateError) -> WitStateError {
    let message = error.to_string();
    match error {
        StateError::InvalidKey(_) => WitStateError::InvalidKey(message),
        StateError::QuotaExceeded { .. } => WitStateError::QuotaExceeded(message),
        StateError::Conflict { .. }
        | StateError::Overtaken
        | StateError::Disabled
        | StateError::Store { .. } => WitStateError::Unavailable(message),
    }
}

/// One instance's state: the host's store, what the agent may keep, and the running call's writes.
pub struct StateCtx {
    access: Arc<StateAccess>,
    quota: Quota,
    writes: Changes,
}

impl StateCtx {
    /// State in `access`, within `quota`.
    pub fn new(access: Arc<StateAccess>, quota: Quota) -> StateCtx {
        StateCtx {
            access,
            quota,
            writes: Changes::default(),
        }
    }

    /// Forgets the last call's writes: for the next call on the same instance.
    pub fn begin_call(&mut self) {
        self.writes.clear();
    }

    /// Takes the call's writes, to commit them; `None` when it did nothing with state.
    pub fn take_writes(&mut self) -> Option<Changes> {
        self.writes.take()
    }
}

/// What the state functions see: the context and the agent whose namespace they use.
pub struct StateView<'a> {
    ctx: &'a mut StateCtx,
    agent: &'a str,
}

struct HasState;

impl HasData for HasState {
    type Data<'a> = StateView<'a>;
}

impl StoreData {
    fn state_view(&mut self) -> StateView<'_> {
        StateView {
            ctx: &mut self.state,
            agent: &self.call.agent,
        }
    }
}

/// Links `tandem:agent/state`.
pub fn add_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    state::add_to_linker::<StoreData, HasState>(linker, StoreData::state_view)
}

impl StateView<'_> {
    /// Runs `operation` on the store with the agent's id, quota and the call's writes (which read
    /// the cluster's shared state first, when the host shares it).
    async fn with_store<T>(
        &mut self,
        operation: impl FnOnce(&StateStore, &str, Quota, &mut Changes) -> Result<T, StateError>,
    ) -> Result<T, WitStateError> {
        let ctx = &mut *self.ctx;
        crate::state::shared::prepare(&ctx.access, self.agent, &mut ctx.writes)
            .await
            .map_err(wit_error)?;
        let store = ctx.access.store().map_err(wit_error)?;
        operation(store, self.agent, ctx.quota, &mut ctx.writes).map_err(wit_error)
    }
}

impl Host for StateView<'_> {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, WitStateError> {
        self.with_store(|store, agent, _, writes| store.read(agent, writes, &key))
            .await
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), WitStateError> {
        self.with_store(|store, agent, quota, writes| {
            store
                .write(agent, writes, quota, &key, Some(value))
                .map(drop)
        })
        .await
    }

    async fn delete(&mut self, key: String) -> Result<bool, WitStateError> {
        self.with_store(|store, agent, quota, writes| store.write(agent, writes, quota, &key, None))
            .await
    }

    async fn keys(&mut self, prefix: String) -> Result<Vec<String>, WitStateError> {
        self.with_store(|store, agent, _, writes| store.list(agent, writes, &prefix))
            .await
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    ) -> Result<bool, WitStateError> {
        self.with_store(|store, agent, quota, writes| {
            store.compare_and_swap(agent, writes, quota, &key, expected, new)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(ctx: &'a mut StateCtx, agent: &'a str) -> StateView<'a> {
        StateView { ctx, agent }
    }

    #[tokio::test]
    async fn a_call_reads_its_own_writes_and_only_its_agents_keys_until_committed() {
        let dir = tempfile::tempdir().unwrap();
        let access = Arc::new(StateAccess::new(Some(dir.path().join("state.redb"))));
        let mut ctx = StateCtx::new(access.clone(), Quota::default());
        let mut a = view(&mut ctx, "a");
        a.set("k".into(), b"v".to_vec()).await.unwrap();
        assert_eq!(a.get("k".into()).await.unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(a.keys(String::new()).await.unwrap(), ["k"]);
        // Nothing is committed yet: another call of another agent sees nothing.
        let mut other = StateCtx::new(access, Quota::default());
        assert_eq!(view(&mut other, "b").get("k".into()).await.unwrap(), None);
        assert!(ctx.take_writes().is_some_and(|w| !w.is_empty()));
        assert!(ctx.take_writes().is_none());
    }

    #[tokio::test]
    async fn quota_and_a_host_without_state_are_errors_the_guest_can_tell_apart() {
        let dir = tempfile::tempdir().unwrap();
        let access = Arc::new(StateAccess::new(Some(dir.path().join("state.redb"))));
        let quota = Quota {
            max_keys: 1,
            max_bytes: 1 << 20,
        };
        let mut ctx = StateCtx::new(access, quota);
        let mut a = view(&mut ctx, "a");
        a.set("one".into(), vec![1]).await.unwrap();
        let over = a.set("two".into(), vec![2]).await.unwrap_err();
        assert!(matches!(over, WitStateError::QuotaExceeded(_)), "{over:?}");
        let mut none = StateCtx::new(Arc::new(StateAccess::new(None)), Quota::default());
        let disabled = view(&mut none, "a").get("k".into()).await.unwrap_err();
        assert!(matches!(disabled, WitStateError::Unavailable(m) if m.contains("no state")));
    }
}
