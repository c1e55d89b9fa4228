//! The agent's durable key-value store: its own namespace, kept across calls, restarts and new
//! versions of the agent.
//!
//! A call's writes are kept only if the call succeeds, all together and on disk before its result
//! is returned; a call that fails (an error, a panic, a timeout) leaves the state as it was. Reads
//! see one snapshot of the committed state, taken at the call's first state operation, with the
//! call's own writes laid over it. The manifest's `[state]` section sets the quota (keys, bytes); a
//! write past it is refused with [`StateError::QuotaExceeded`] and changes nothing.
//!
//! ```ignore
//! use tandem_sdk::state;
//!
//! // Bytes:
//! state::set("greeting", b"hello")?;
//! // Typed JSON, and an atomic read-modify-write:
//! state::set_json("config", &Config { depth: 3 })?;
//! let count: u64 = state::update_json("count", |n: Option<u64>| n.unwrap_or(0) + 1)?;
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::AgentError;
use crate::bindings::tandem::agent::state as host;

pub use host::StateError;

/// The value stored under `key`, or `None`.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, StateError> {
    host::get(key)
}

/// Stores `value` under `key`.
pub fn set(key: &str, value: &[u8]) -> Result<(), StateError> {
    host::set(key, value)
}

/// Removes `key`; true when it was there.
pub fn delete(key: &str) -> Result<bool, StateError> {
    host::delete(key)
}

/// The keys that start with `prefix` (`""` for all), in byte order.
pub fn keys(prefix: &str) -> Result<Vec<String>, StateError> {
    host::keys(prefix)
}

/// Replaces the value under `key` with `new` (`None` removes it) only if it is `expected` (`None`:
/// absent); returns whether it did. If another call changes the key before this call ends, this call
/// fails as a `conflict` with none of its writes kept, and the host retries it.
pub fn compare_and_swap(
    key: &str,
    expected: Option<&[u8]>,
    new: Option<&[u8]>,
) -> Result<bool, StateError> {
    host::compare_and_swap(key, expected, new)
}

/// The JSON value stored under `key`, decoded; `None` when the key is absent.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, AgentError> {
    match get(key)? {
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            AgentError::failed(format!("state key `{key}` is not the JSON expected: {e}"))
        }),
        None => Ok(None),
    }
}

/// Stores `value` as JSON under `key`.
pub fn set_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<(), AgentError> {
    Ok(set(key, &encode(key, value)?)?)
}

/// Reads the JSON value under `key`, computes its replacement with `update` and stores it with
/// compare-and-swap, so that concurrent calls never lose each other's updates; returns the stored
/// value.
pub fn update_json<T, F>(key: &str, mut update: F) -> Result<T, AgentError>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(Option<T>) -> T,
{
    loop {
        let current = get(key)?;
        let decoded = match &current {
            Some(bytes) => Some(serde_json::from_slice(bytes).map_err(|e| {
                AgentError::failed(format!("state key `{key}` is not the JSON expected: {e}"))
            })?),
            None => None,
        };
        let next = update(decoded);
        let encoded = encode(key, &next)?;
        if compare_and_swap(key, current.as_deref(), Some(&encoded))? {
            return Ok(next);
        }
    }
}

fn encode<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<Vec<u8>, AgentError> {
    serde_json::to_vec(value)
        .map_err(|e| AgentError::failed(format!("cannot encode state key `{key}` as JSON: {e}")))
}

impl StateError {
    /// What went wrong, for people.
    pub fn message(&self) -> &str {
        match self {
            StateError::InvalidKey(m)
            | StateError::QuotaExceeded(m)
            | StateError::Unavailable(m) => m,
        }
    }
}

/// So that `?` passes a state error on as the call's error: an invalid key is `invalid-input`,
/// anything else `failed` (the host reports a call that fails after a refused write as
/// `quota-exceeded`).
impl From<StateError> for AgentError {
    fn from(error: StateError) -> Self {
        match error {
            StateError::InvalidKey(m) => AgentError::InvalidInput(m),
            StateError::QuotaExceeded(m) | StateError::Unavailable(m) => AgentError::Failed(m),
        }
    }
}
