//! `tandem:agent/state`: the agent's durable key-value store, in its own namespace (its id). Reads
//! see the call's own writes; the writes are kept in the call's [`Changes`](crate::state::Changes)
//! and committed by the host when the call succeeds (see `Agent::attempt`).

use crate::bindings::state::{Host, StateError as WitStateError};
use crate::sandbox::StoreData;
use crate::state::{StateError, StateStore};

fn wit_error(error: StateError) -> WitStateError {
    let message = error.to_string();
    match error {
        StateError::InvalidKey(_) => WitStateError::InvalidKey(message),
        StateError::QuotaExceeded { .. } => WitStateError::QuotaExceeded(message),
        StateError::Conflict { .. } | StateError::Disabled | StateError::Store { .. } => {
            WitStateError::Unavailable(message)
        }
    }
}

impl StoreData {
    /// The store, the calling agent's id, and its state as the call sees it.
    fn with_state<T>(
        &mut self,
        operation: impl FnOnce(&StateStore, &mut crate::sandbox::CallState) -> Result<T, StateError>,
    ) -> Result<T, WitStateError> {
        let store = self.state.store().map_err(wit_error)?;
        operation(store, &mut self.call).map_err(wit_error)
    }
}

impl Host for StoreData {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, WitStateError> {
        self.with_state(|store, call| store.read(&call.agent, &mut call.writes, &key))
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), WitStateError> {
        let quota = self.policy.state_quota;
        self.with_state(|store, call| {
            store
                .write(&call.agent, &mut call.writes, quota, &key, Some(value))
                .map(drop)
        })
    }

    async fn delete(&mut self, key: String) -> Result<bool, WitStateError> {
        let quota = self.policy.state_quota;
        self.with_state(|store, call| store.write(&call.agent, &mut call.writes, quota, &key, None))
    }

    async fn keys(&mut self, prefix: String) -> Result<Vec<String>, WitStateError> {
        self.with_state(|store, call| store.list(&call.agent, &mut call.writes, &prefix))
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    ) -> Result<bool, WitStateError> {
        let quota = self.policy.state_quota;
        self.with_state(|store, call| {
            store.compare_and_swap(&call.agent, &mut call.writes, quota, &key, expected, new)
        })
    }
}
